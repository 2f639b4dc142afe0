//! Usage sync and reminders. Sync reads every panel's accounts in pages (never one call per
//! user) and updates every service; reminders go out once per service and period.

use std::collections::HashMap;

use shared::db::Db;
use shared::panel::{Account, PageRequest};

use crate::notices::{self, Notice};
use crate::panels::Registry;
use crate::services::{self, Service, Status};
use crate::settings::{self, Reminders};
use crate::Result;

/// Accounts asked for per page.
pub const PAGE_SIZE: u32 = 500;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub panels: usize,
    pub pages: usize,
    pub updated: usize,
    /// Services whose account is gone from its panel.
    pub gone: usize,
    /// Panels that could not be read this time (kept as they were).
    pub failed_panels: usize,
}

/// Reads every panel and brings every service up to date.
pub async fn sync_all(db: &Db, registry: &Registry, now: i64) -> Result<SyncReport> {
    let mut report = SyncReport::default();
    for panel in crate::panels::all(db).await? {
        let services = services::on_panel(db, &panel.id).await?;
        if services.is_empty() {
            continue;
        }
        report.panels += 1;
        match sync_panel(db, registry, &panel, services, now, &mut report).await {
            Ok(()) => {}
            Err(e) => {
                report.failed_panels += 1;
                tracing::warn!(panel = %panel.name, error = %e, "usage sync of a panel failed");
            }
        }
    }
    Ok(report)
}

async fn sync_panel(
    db: &Db,
    registry: &Registry,
    panel: &crate::panels::PanelRow,
    services: Vec<Service>,
    now: i64,
    report: &mut SyncReport,
) -> Result<()> {
    let client = registry.client(panel).await?;
    let mut unseen: HashMap<String, Service> = services
        .into_iter()
        .map(|s| (s.username.clone(), s))
        .collect();
    let mut offset = 0u64;
    loop {
        let page = client
            .list_accounts(PageRequest {
                offset,
                limit: PAGE_SIZE,
            })
            .await?;
        report.pages += 1;
        if page.accounts.is_empty() {
            break;
        }
        offset += page.accounts.len() as u64;
        let mut tx = db.begin().await?;
        for account in &page.accounts {
            if let Some(service) = unseen.remove(&account.username) {
                if changed(&service, account) {
                    services::update_from_account_tx(&mut tx, &service.id, account, false, now)
                        .await?;
                    report.updated += 1;
                }
            }
        }
        tx.commit().await?;
        if offset >= page.total {
            break;
        }
    }
    // Accounts not listed may have been deleted on the panel: ask for each to be sure.
    for service in unseen.into_values() {
        if client.account(&service.username).await?.is_none() {
            services::mark_deleted(db, &service.id, now).await?;
            report.gone += 1;
        }
    }
    Ok(())
}

fn changed(service: &Service, a: &Account) -> bool {
    let limit = a
        .data_limit_bytes
        .map(|b| i64::try_from(b).unwrap_or(i64::MAX));
    let used = i64::try_from(a.used_bytes).unwrap_or(i64::MAX);
    service.used_bytes != used
        || service.data_limit_bytes != limit
        || service.expire_at != a.expire_at
        || service.status != Status::from(a.status)
        || service.online_at != a.online_at
        || service.subscription_url != a.subscription_url
}

/// Sends (stores) the reminders that are due. Returns how many.
pub async fn remind(db: &Db, now: i64) -> Result<usize> {
    let setup: Reminders = settings::get(db).await?;
    if !setup.enabled {
        return Ok(0);
    }
    let mut thresholds = setup.days_before.clone();
    thresholds.sort_unstable_by(|a, b| b.cmp(a));
    thresholds.dedup();
    let rows = sqlx::query_as::<
        _,
        (
            String,
            i64,
            Option<i64>,
            i64,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
        ),
    >(
        "SELECT id, telegram_id, expire_at, used_bytes, data_limit_bytes,
                reminded_days3_at, reminded_days1_at, reminded_data_at
         FROM services WHERE status = 'active'",
    )
    .fetch_all(db.pool())
    .await?;
    let mut sent = 0;
    for (id, telegram_id, expire_at, used, limit, first_at, second_at, data_at) in rows {
        // Time: the first threshold uses one column, every smaller one the other.
        if let Some(expire) = expire_at.filter(|at| *at > now) {
            let days_left = (expire - now + shared::clock::DAY - 1) / shared::clock::DAY;
            let due: Vec<i64> = thresholds
                .iter()
                .copied()
                .filter(|d| days_left <= *d)
                .collect();
            if let Some(&smallest) = due.last() {
                let is_first = thresholds.first() == Some(&smallest);
                let already = if is_first { first_at } else { second_at };
                if already.is_none() {
                    // Both columns are set when the smaller reminder goes: the larger is moot.
                    let set = if is_first {
                        "reminded_days3_at = $2"
                    } else {
                        "reminded_days3_at = COALESCE(reminded_days3_at, $2), reminded_days1_at = $2"
                    };
                    let column = if is_first {
                        "reminded_days3_at"
                    } else {
                        "reminded_days1_at"
                    };
                    let notice = Notice::ExpiryReminder {
                        service_id: id.clone(),
                        days: smallest,
                    };
                    let key = format!("remind:{id}:days{smallest}:{expire}");
                    if claim_and_push(db, &id, set, column, telegram_id, &notice, &key, now).await?
                    {
                        sent += 1;
                    }
                }
            }
        }
        // Data.
        if let Some(limit) = limit.filter(|l| *l > 0) {
            let left = (limit - used).max(0) as i128;
            let percent = (left * 100 / limit as i128) as i64;
            if percent < setup.data_percent_left && data_at.is_none() {
                let notice = Notice::DataReminder {
                    service_id: id.clone(),
                    percent: setup.data_percent_left,
                };
                let key = format!("remind:{id}:data:{limit}");
                if claim_and_push(
                    db,
                    &id,
                    "reminded_data_at = $2",
                    "reminded_data_at",
                    telegram_id,
                    &notice,
                    &key,
                    now,
                )
                .await?
                {
                    sent += 1;
                }
            }
        }
    }
    Ok(sent)
}

/// Marks the reminder as sent and stores its notice in one transaction; false when another
/// run got there first.
#[allow(clippy::too_many_arguments)]
async fn claim_and_push(
    db: &Db,
    service_id: &str,
    set: &str,
    guard_column: &str,
    telegram_id: i64,
    notice: &Notice,
    key: &str,
    now: i64,
) -> Result<bool> {
    let mut tx = db.begin().await?;
    let sql = format!("UPDATE services SET {set} WHERE id = $1 AND {guard_column} IS NULL");
    let claimed = sqlx::query(&sql)
        .bind(service_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    if claimed.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    notices::push_tx(&mut tx, telegram_id, notice, key, now).await?;
    tx.commit().await?;
    Ok(true)
}
