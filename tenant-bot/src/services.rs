//! What end users have bought: one account on one panel, with its usage as last synced.

use shared::db::{Db, RowExt};
use shared::panel::{Account, AccountStatus};

use crate::wallet::Tx;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Disabled,
    Limited,
    Expired,
    OnHold,
    /// Gone from the panel.
    Deleted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Disabled => "disabled",
            Status::Limited => "limited",
            Status::Expired => "expired",
            Status::OnHold => "on_hold",
            Status::Deleted => "deleted",
        }
    }

    fn parse(s: &str) -> Result<Status> {
        Ok(match s {
            "active" => Status::Active,
            "disabled" => Status::Disabled,
            "limited" => Status::Limited,
            "expired" => Status::Expired,
            "on_hold" => Status::OnHold,
            "deleted" => Status::Deleted,
            other => return Err(Error::Corrupt(format!("service status {other}"))),
        })
    }
}

impl From<AccountStatus> for Status {
    fn from(s: AccountStatus) -> Self {
        match s {
            AccountStatus::Active => Status::Active,
            AccountStatus::Disabled => Status::Disabled,
            AccountStatus::Limited => Status::Limited,
            AccountStatus::Expired => Status::Expired,
            AccountStatus::OnHold => Status::OnHold,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub id: String,
    pub telegram_id: i64,
    pub panel_id: String,
    pub username: String,
    pub plan_id: Option<String>,
    pub is_trial: bool,
    pub data_limit_bytes: Option<i64>,
    pub used_bytes: i64,
    pub expire_at: Option<i64>,
    pub status: Status,
    pub online_at: Option<i64>,
    pub subscription_url: String,
    pub synced_at: Option<i64>,
    pub created_at: i64,
}

impl Service {
    /// Whole days left (rounded up), or `None` when it never expires.
    pub fn days_left(&self, now: i64) -> Option<i64> {
        self.expire_at
            .map(|at| ((at - now).max(0) + shared::clock::DAY - 1) / shared::clock::DAY)
    }

    /// Percentage of the data left, or `None` when unlimited.
    pub fn percent_left(&self) -> Option<i64> {
        self.data_limit_bytes.filter(|l| *l > 0).map(|limit| {
            let left = (limit - self.used_bytes).max(0) as i128;
            (left * 100 / limit as i128) as i64
        })
    }
}

const COLUMNS: &str = "id, telegram_id, panel_id, username, plan_id, is_trial, data_limit_bytes, \
    used_bytes, expire_at, status, online_at, subscription_url, synced_at, created_at";

fn from_row(row: &shared::db::Row) -> Result<Service> {
    Ok(Service {
        id: row.try_get("id")?,
        telegram_id: row.try_get("telegram_id")?,
        panel_id: row.try_get("panel_id")?,
        username: row.try_get("username")?,
        plan_id: row.try_get("plan_id")?,
        is_trial: row.try_get::<i64, _>("is_trial")? != 0,
        data_limit_bytes: row.try_get("data_limit_bytes")?,
        used_bytes: row.try_get("used_bytes")?,
        expire_at: row.try_get("expire_at")?,
        status: Status::parse(&row.try_get::<String, _>("status")?)?,
        online_at: row.try_get("online_at")?,
        subscription_url: row.try_get("subscription_url")?,
        synced_at: row.try_get("synced_at")?,
        created_at: row.try_get("created_at")?,
    })
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Service>> {
    let sql = format!("SELECT {COLUMNS} FROM services WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

/// The user's own service, or `None` when it is not theirs.
pub async fn of_user(db: &Db, telegram_id: i64, id: &str) -> Result<Option<Service>> {
    Ok(get(db, id).await?.filter(|s| s.telegram_id == telegram_id))
}

/// A user's services, newest first (deleted ones left out).
pub async fn list_of_user(db: &Db, telegram_id: i64) -> Result<Vec<Service>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM services WHERE telegram_id = $1 AND status <> 'deleted'
         ORDER BY created_at DESC, id DESC"
    );
    let rows = sqlx::query(&sql)
        .bind(telegram_id)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// All services of a panel that are not deleted, for sync.
pub async fn on_panel(db: &Db, panel_id: &str) -> Result<Vec<Service>> {
    let sql = format!("SELECT {COLUMNS} FROM services WHERE panel_id = $1 AND status <> 'deleted'");
    let rows = sqlx::query(&sql)
        .bind(panel_id)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// What an order delivers into `services`.
pub struct NewService<'a> {
    pub id: &'a str,
    pub telegram_id: i64,
    pub panel_id: &'a str,
    pub plan_id: Option<&'a str>,
    pub is_trial: bool,
    pub account: &'a Account,
}

/// Records a delivered account. The (panel, username) pair is unique: delivering the same
/// account twice updates the one row.
pub async fn insert_tx(tx: &mut Tx<'_>, new: &NewService<'_>, now: i64) -> Result<()> {
    let a = new.account;
    sqlx::query(
        "INSERT INTO services (id, telegram_id, panel_id, username, plan_id, is_trial,
             data_limit_bytes, used_bytes, expire_at, status, online_at, subscription_url,
             synced_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $13)
         ON CONFLICT (panel_id, username) DO UPDATE SET
             data_limit_bytes = excluded.data_limit_bytes, used_bytes = excluded.used_bytes,
             expire_at = excluded.expire_at, status = excluded.status,
             subscription_url = excluded.subscription_url, synced_at = excluded.synced_at,
             updated_at = excluded.updated_at",
    )
    .bind(new.id)
    .bind(new.telegram_id)
    .bind(new.panel_id)
    .bind(&a.username)
    .bind(new.plan_id)
    .bind(new.is_trial as i64)
    .bind(a.data_limit_bytes.map(clamp))
    .bind(clamp(a.used_bytes))
    .bind(a.expire_at)
    .bind(Status::from(a.status).as_str())
    .bind(a.online_at)
    .bind(&a.subscription_url)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn clamp(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

/// Takes in what the panel reports now. `new_period` clears the reminders (a renewal or
/// added data starts a new period).
pub async fn update_from_account_tx(
    tx: &mut Tx<'_>,
    id: &str,
    a: &Account,
    new_period: bool,
    now: i64,
) -> Result<()> {
    let reminders = if new_period {
        ", reminded_days3_at = NULL, reminded_days1_at = NULL, reminded_data_at = NULL"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE services SET data_limit_bytes = $2, used_bytes = $3, expire_at = $4, status = $5,
             online_at = $6, subscription_url = $7, synced_at = $8, updated_at = $8{reminders}
         WHERE id = $1"
    );
    sqlx::query(&sql)
        .bind(id)
        .bind(a.data_limit_bytes.map(clamp))
        .bind(clamp(a.used_bytes))
        .bind(a.expire_at)
        .bind(Status::from(a.status).as_str())
        .bind(a.online_at)
        .bind(&a.subscription_url)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn update_from_account(
    db: &Db,
    id: &str,
    a: &Account,
    new_period: bool,
    now: i64,
) -> Result<()> {
    let mut tx = db.begin().await?;
    update_from_account_tx(&mut tx, id, a, new_period, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The account is gone from its panel.
pub async fn mark_deleted(db: &Db, id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE services SET status = 'deleted', synced_at = $2, updated_at = $2 WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}
