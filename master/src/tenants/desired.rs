//! The master is the only writer of desired state: this sync derives each tenant's desired
//! instance from its subscription and onboarding, and writes it through the provisioner's
//! store only when it changed. It also tells customers when their bot went live or failed.

use provisioner::store::{self, Desired, DesiredSpec, Lifecycle, PackageLimits, PanelRef};
use serde_json::json;
use shared::db::Db;
use shared::secret::Keyring;
use shared::telegram::BotToken;

use super::Tenant;
use crate::billing::subscriptions::{self, Status};
use crate::outbox::{self, args, Channel, NewMessage};
use crate::{Error, Result};

/// Processes a tenant bot may run; a fork bomb stops here.
const PIDS_LIMIT: i64 = 256;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub written: usize,
    pub told_live: usize,
    pub told_failed: usize,
}

fn desired_for(status: Status) -> Desired {
    match status {
        Status::Trial | Status::Active | Status::Grace => Desired::Running,
        Status::Suspended | Status::Cancelled => Desired::Stopped,
        Status::Deleted => Desired::Deleted,
    }
}

async fn spec_for(
    db: &Db,
    keyring: &Keyring,
    tenant: &Tenant,
    memory_mb: i64,
    cpu_millis: i64,
    image_version: &str,
) -> Result<Option<DesiredSpec>> {
    let Some(token) = tenant.bot_token(keyring)? else {
        return Ok(None);
    };
    let bot_token = BotToken::parse(token.expose())
        .map_err(|_| Error::Corrupt(format!("tenant {} has a malformed token", tenant.id)))?;
    let panels = super::panels(db, &tenant.id)
        .await?
        .into_iter()
        .map(|p| PanelRef {
            kind: p.kind,
            url: p.url,
        })
        .collect();
    let data_key = super::data_key::ensure(db, keyring, &tenant.id).await?;
    Ok(Some(DesiredSpec {
        bot_token,
        data_key,
        limits: PackageLimits {
            memory_mb,
            cpu_millis,
            pids: PIDS_LIMIT,
        },
        panels,
        image_version: image_version.to_string(),
    }))
}

/// One pass over every onboarded tenant. Safe to run twice and to interrupt.
pub async fn sync(db: &Db, keyring: &Keyring, image_version: &str, now: i64) -> Result<SyncReport> {
    let mut report = SyncReport::default();
    for tenant in super::all(db).await? {
        if !tenant.is_onboarded() {
            continue;
        }
        let Some(sub) = subscriptions::get(db, &tenant.subscription_id).await? else {
            continue;
        };
        let desired = match desired_for(sub.status) {
            Desired::Running if tenant.paused => Desired::Stopped,
            other => other,
        };
        let Some(spec) = spec_for(
            db,
            keyring,
            &tenant,
            sub.terms.bot_memory_mb,
            sub.terms.bot_cpu_millis,
            image_version,
        )
        .await?
        else {
            continue;
        };
        let existing = store::get(db, &tenant.id).await.map_err(store_error)?;
        let changed = match &existing {
            None => desired != Desired::Deleted,
            Some(instance) => {
                instance.desired != desired || instance.spec_hash != store::spec_hash(&spec)
            }
        };
        if changed {
            store::set_desired(db, &tenant.id, desired, &spec, keyring)
                .await
                .map_err(store_error)?;
            report.written += 1;
            if desired == Desired::Running {
                // A new start: the customer hears how it went.
                super::set_live_notified(db, &tenant.id, None).await?;
            }
            continue;
        }
        if let Some(instance) = existing {
            tell_outcome(db, &tenant, &instance, now, &mut report).await?;
        }
    }
    Ok(report)
}

async fn tell_outcome(
    db: &Db,
    tenant: &Tenant,
    instance: &store::Instance,
    now: i64,
    report: &mut SyncReport,
) -> Result<()> {
    if tenant.live_notified_at.is_some() || instance.desired != Desired::Running {
        return Ok(());
    }
    let bot = tenant.bot_username.clone().unwrap_or_default();
    let (template, reason) = match instance.state {
        Lifecycle::Running if instance.last_heartbeat_at.is_some() => ("bot_live", None),
        Lifecycle::Failed | Lifecycle::CrashLooping => (
            "bot_failed",
            Some(instance.reason.clone().unwrap_or_default()),
        ),
        _ => return Ok(()),
    };
    let message = NewMessage {
        key: format!(
            "telegram:{template}:{}:{}",
            tenant.id, instance.state_changed_at
        ),
        channel: Channel::Telegram,
        recipient: &tenant.customer_id,
        template,
        args: args([
            ("bot", json!(bot)),
            ("reason", json!(reason.unwrap_or_default())),
        ]),
    };
    outbox::enqueue(db.pool(), &message, now).await?;
    super::set_live_notified(db, &tenant.id, Some(now)).await?;
    if template == "bot_live" {
        report.told_live += 1;
    } else {
        report.told_failed += 1;
    }
    Ok(())
}

fn store_error(e: store::StoreError) -> Error {
    Error::Provisioner(e.to_string())
}
