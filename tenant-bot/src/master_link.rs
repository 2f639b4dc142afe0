//! Keeps this bot in step with what the master knows about its tenant: the owner, the channel,
//! the package's limits and the panels handed over in the master. Fetched at start and on a
//! timer; each apply only writes what changed, so running it again does nothing.
//!
//! Panels from the master are matched by the master's id (`source_ref`). A panel the master no
//! longer lists, and panels beyond the package's panel limit, are taken out of rotation (never
//! deleted: services point at them). The link remembers which panels it took out, so it puts
//! them back when they return or the limit grows, and leaves panels an admin took out alone.

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shared::db::{now_unix, Db};
use shared::panel::PanelCredentials;
use shared::secret::{Keyring, SecretString};
use shared::tenant_link::{LinkedPanel, TenantLinkConfig, CONFIG_PATH};
use tokio_util::sync::CancellationToken;

use crate::master_api::MasterApi;
use crate::notices::{self, Notice};
use crate::panels::{self, PanelInput, PanelRow, Source};
use crate::settings::{self, Channel, Limits, Setting};
use crate::{admins, Result};

/// Asks the master for this bot's configuration with the bot's API key.
pub struct MasterLink {
    api: MasterApi,
}

impl MasterLink {
    pub fn new(master_url: &url::Url, api_key: SecretString) -> MasterLink {
        MasterLink {
            api: MasterApi::new(master_url, api_key),
        }
    }

    pub async fn fetch(&self) -> Result<TenantLinkConfig> {
        self.api.get(CONFIG_PATH, "the configuration").await
    }
}

/// What one apply changed (panel ids are this bot's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    pub owner_changed: bool,
    pub channel_changed: bool,
    pub limits_changed: bool,
    pub panels_added: Vec<String>,
    pub panels_updated: Vec<String>,
    pub taken_out_of_rotation: Vec<String>,
    pub back_in_rotation: Vec<String>,
    /// More panels than the package allows: the rest are out of rotation, admins are told.
    pub over_panel_limit: bool,
}

impl ApplyReport {
    pub fn changed_anything(&self) -> bool {
        self.owner_changed
            || self.channel_changed
            || self.limits_changed
            || !self.panels_added.is_empty()
            || !self.panels_updated.is_empty()
            || !self.taken_out_of_rotation.is_empty()
            || !self.back_in_rotation.is_empty()
    }
}

/// What the link itself did, so it can tell its own choices from the admins'.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct LinkState {
    /// Panels the link took out of rotation (gone from the master, or over the limit).
    taken_out: Vec<String>,
    /// The channel the master last gave: an admin's later change in the bot stands until
    /// the master's value changes.
    channel_applied: bool,
    channel: Option<String>,
}

impl Setting for LinkState {
    const NAME: &'static str = "master_link";
}

/// Brings the database in step with `config`. Safe to run again and to interrupt.
pub async fn apply(
    db: &Db,
    keyring: &Keyring,
    config: &TenantLinkConfig,
    now: i64,
) -> Result<ApplyReport> {
    let mut report = ApplyReport::default();
    let mut state: LinkState = settings::get(db).await?;

    if let Some(owner) = config.owner_telegram_id {
        if current_owner(db).await? != Some(owner) {
            admins::set_owner(db, owner, now).await?;
            report.owner_changed = true;
        }
    }

    if !state.channel_applied || state.channel != config.channel {
        let current: Channel = settings::get(db).await?;
        if current.chat != config.channel {
            let channel = Channel {
                chat: config.channel.clone(),
                invite_link: None,
            };
            settings::set(db, &channel, now).await?;
            report.channel_changed = true;
        }
        state.channel_applied = true;
        state.channel = config.channel.clone();
        settings::set(db, &state, now).await?;
    }

    let limits = Limits {
        max_end_users: config.limits.max_end_users,
        max_panels: config.limits.max_panels,
    };
    if settings::get::<Limits>(db).await? != limits {
        settings::set(db, &limits, now).await?;
        report.limits_changed = true;
    }

    // Where NowPayments reaches this bot: the master keeps its IPNs (see `crate::inbox`).
    crate::inbox::remember_relay(db, config.nowpayments_ipn_url.as_deref(), now).await?;

    upsert_panels(db, keyring, &config.panels, now, &mut report).await?;
    rotate(db, &mut state, config, now, &mut report).await?;
    Ok(report)
}

async fn current_owner(db: &Db) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT telegram_id FROM admins WHERE role = 'owner' LIMIT 1")
            .fetch_optional(db.pool())
            .await?,
    )
}

/// Adds the master's new panels and rewrites the ones whose address or login changed.
async fn upsert_panels(
    db: &Db,
    keyring: &Keyring,
    linked: &[LinkedPanel],
    now: i64,
    report: &mut ApplyReport,
) -> Result<()> {
    let stored = panels::all(db).await?;
    for panel in linked {
        let existing = stored
            .iter()
            .find(|row| row.source_ref.as_deref() == Some(panel.id.as_str()));
        match existing {
            None => {
                let input = new_input(panel);
                let id = panels::insert(db, keyring, &input, Source::Master, Some(&panel.id), now)
                    .await?;
                report.panels_added.push(id);
            }
            Some(row) => {
                // An unchanged row is not written: its updated_at rebuilds the live client.
                if row.url == panel.url
                    && row.kind == panel.kind
                    && same_login(db, keyring, row, panel).await
                {
                    continue;
                }
                panels::update_connection(db, keyring, &row.id, &kept_input(row, panel), now)
                    .await?;
                report.panels_updated.push(row.id.clone());
            }
        }
    }
    Ok(())
}

fn credentials(panel: &LinkedPanel) -> PanelCredentials {
    PanelCredentials::Password {
        username: panel.username.clone(),
        password: panel.password.clone(),
    }
}

/// A new panel from the master: named after its host, an equal share of new accounts.
fn new_input(panel: &LinkedPanel) -> PanelInput {
    PanelInput {
        name: host_of(&panel.url),
        kind: panel.kind,
        url: panel.url.clone(),
        subscription_base: None,
        credentials: credentials(panel),
        weight: 1,
        capacity: None,
        location: None,
        inbounds: Vec::new(),
    }
}

/// The master's address and login; the name and placement the admins chose are kept.
fn kept_input(row: &PanelRow, panel: &LinkedPanel) -> PanelInput {
    PanelInput {
        name: row.name.clone(),
        kind: panel.kind,
        url: panel.url.clone(),
        subscription_base: row.subscription_base.clone(),
        credentials: credentials(panel),
        weight: row.weight,
        capacity: row.capacity,
        location: row.location.clone(),
        inbounds: row.inbounds.clone(),
    }
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| url.to_string())
}

/// Whether the stored login is the master's. One that cannot be read (a lost data key) is
/// rewritten from the master's.
async fn same_login(db: &Db, keyring: &Keyring, row: &PanelRow, panel: &LinkedPanel) -> bool {
    match panels::credentials(db, keyring, &row.id).await {
        Ok(PanelCredentials::Password { username, password }) => {
            username == panel.username && password.expose() == panel.password.expose()
        }
        Ok(PanelCredentials::ApiToken(_)) => false,
        Err(e) => {
            tracing::warn!(panel = %row.id, error = %e, "stored panel login unreadable; rewriting it from the master");
            false
        }
    }
}

/// Which panels are in rotation: not those gone from the master, and no more than the
/// package allows (the oldest stay). Panels an admin took out are left as they are.
async fn rotate(
    db: &Db,
    state: &mut LinkState,
    config: &TenantLinkConfig,
    now: i64,
    report: &mut ApplyReport,
) -> Result<()> {
    let listed: HashSet<&str> = config.panels.iter().map(|p| p.id.as_str()).collect();
    let limit = config.limits.max_panels.map(|m| m.max(0));
    let ours: HashSet<String> = state.taken_out.iter().cloned().collect();
    let mut keep: Vec<PanelRow> = Vec::new();
    let mut take_out: Vec<PanelRow> = Vec::new();
    let mut in_rotation = 0_i64;
    for row in panels::all(db).await? {
        if !row.enabled && !ours.contains(&row.id) {
            continue;
        }
        let gone = row.source == Source::Master
            && row
                .source_ref
                .as_deref()
                .is_some_and(|r| !listed.contains(r));
        if gone {
            take_out.push(row);
            continue;
        }
        in_rotation += 1;
        if limit.is_some_and(|max| in_rotation > max) {
            report.over_panel_limit = true;
            take_out.push(row);
        } else {
            keep.push(row);
        }
    }

    let now_ours: Vec<String> = take_out.iter().map(|row| row.id.clone()).collect();
    // Remember first, act second: an interrupted apply never forgets a panel it took out.
    let mut remembered: Vec<String> = state.taken_out.clone();
    remembered.extend(now_ours.iter().filter(|id| !ours.contains(*id)).cloned());
    if remembered != state.taken_out {
        state.taken_out = remembered;
        settings::set(db, &*state, now).await?;
    }
    for row in take_out.iter().filter(|row| row.enabled) {
        panels::set_enabled(db, &row.id, false, now).await?;
        report.taken_out_of_rotation.push(row.id.clone());
    }
    for row in keep.iter().filter(|row| !row.enabled) {
        panels::set_enabled(db, &row.id, true, now).await?;
        report.back_in_rotation.push(row.id.clone());
    }
    if state.taken_out != now_ours {
        state.taken_out = now_ours;
        settings::set(db, &*state, now).await?;
    }

    if let (true, Some(max)) = (report.over_panel_limit, limit) {
        let notice = Notice::PanelLimitReached { limit: max };
        notices::to_admins(db, &notice, &format!("panel_limit_reached:{max}"), now).await?;
    }
    Ok(())
}

/// Fetches and applies once.
pub async fn sync_once(link: &MasterLink, db: &Db, keyring: &Keyring) -> Result<ApplyReport> {
    let config = link.fetch().await?;
    apply(db, keyring, &config, now_unix()).await
}

/// Fetches and applies at once, then every `every`, until `shutdown`. Failures are logged
/// and tried again at the next tick: the master may be restarting.
pub async fn run(
    link: MasterLink,
    db: Db,
    keyring: Keyring,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let result = tokio::select! {
            _ = shutdown.cancelled() => return,
            result = sync_once(&link, &db, &keyring) => result,
        };
        match result {
            Ok(report) if report.changed_anything() => {
                tracing::info!(?report, "configuration from the master applied");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "configuration from the master not applied"),
        }
    }
}
