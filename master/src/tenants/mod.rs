//! Tenants: a customer's white-label bot. Created when a subscription is bought, set up in the
//! onboarding dialogue, then run by the provisioner.

pub mod checks;
pub mod data_key;
pub mod desired;
pub mod inbox;
pub mod internal_api;
pub mod onboarding;

use shared::db::{new_id, Db, RowExt};
use shared::secret::{Keyring, SecretString};

use crate::billing::wallet::Tx;
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: String,
    pub customer_id: String,
    pub subscription_id: String,
    pub onboarding_step: onboarding::Step,
    pub draft: onboarding::Draft,
    pub bot_id: Option<i64>,
    pub bot_username: Option<String>,
    pub admin_telegram_id: Option<i64>,
    pub channel: Option<String>,
    pub onboarded_at: Option<i64>,
    pub live_notified_at: Option<i64>,
    /// The customer stopped the bot themselves.
    pub paused: bool,
    bot_token_enc: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantPanel {
    pub id: String,
    pub tenant_id: String,
    pub kind: String,
    pub url: String,
    pub username: String,
    password_enc: String,
}

/// The encryption context of a tenant's bot token: a ciphertext moved to another row fails.
pub fn token_context(tenant_id: &str) -> String {
    format!("tenant:{tenant_id}:bot_token")
}

fn panel_password_context(tenant_id: &str, panel_id: &str) -> String {
    format!("tenant:{tenant_id}:panel:{panel_id}:password")
}

impl Tenant {
    pub fn bot_token(&self, keyring: &Keyring) -> Result<Option<SecretString>> {
        self.bot_token_enc
            .as_deref()
            .map(|enc| keyring.decrypt(enc, &token_context(&self.id)))
            .transpose()
            .map_err(|e| Error::Corrupt(format!("tenant {} token: {e}", self.id)))
    }

    pub fn is_onboarded(&self) -> bool {
        self.onboarding_step == onboarding::Step::Done
    }
}

impl TenantPanel {
    pub fn password(&self, keyring: &Keyring) -> Result<SecretString> {
        keyring
            .decrypt(
                &self.password_enc,
                &panel_password_context(&self.tenant_id, &self.id),
            )
            .map_err(|e| Error::Corrupt(format!("panel {} password: {e}", self.id)))
    }
}

const COLUMNS: &str =
    "id, customer_id, subscription_id, onboarding_step, onboarding_draft, bot_id, \
    bot_username, bot_token_enc, admin_telegram_id, channel, onboarded_at, live_notified_at, paused";

fn from_row(row: &shared::db::Row) -> Result<Tenant> {
    let step: String = row.try_get("onboarding_step")?;
    let draft: String = row.try_get("onboarding_draft")?;
    Ok(Tenant {
        id: row.try_get("id")?,
        customer_id: row.try_get("customer_id")?,
        subscription_id: row.try_get("subscription_id")?,
        onboarding_step: onboarding::Step::parse(&step)?,
        draft: serde_json::from_str(&draft)
            .map_err(|e| Error::Corrupt(format!("onboarding draft: {e}")))?,
        bot_id: row.try_get("bot_id")?,
        bot_username: row.try_get("bot_username")?,
        bot_token_enc: row.try_get("bot_token_enc")?,
        admin_telegram_id: row.try_get("admin_telegram_id")?,
        channel: row.try_get("channel")?,
        onboarded_at: row.try_get("onboarded_at")?,
        live_notified_at: row.try_get("live_notified_at")?,
        paused: row.try_get::<i64, _>("paused")? != 0,
    })
}

/// A new tenant for a new subscription, waiting for onboarding. Runs inside the payment's
/// transaction, so a paid subscription always has its tenant.
pub(crate) async fn create_tx(
    tx: &mut Tx<'_>,
    customer_id: &str,
    subscription_id: &str,
    now: i64,
) -> Result<String> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO tenants (id, customer_id, subscription_id, onboarding_step, created_at, updated_at)
         VALUES ($1, $2, $3, 'token', $4, $4)",
    )
    .bind(&id)
    .bind(customer_id)
    .bind(subscription_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Tenant>> {
    let sql = format!("SELECT {COLUMNS} FROM tenants WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn of_customer(db: &Db, customer_id: &str) -> Result<Vec<Tenant>> {
    let sql =
        format!("SELECT {COLUMNS} FROM tenants WHERE customer_id = $1 ORDER BY created_at, id");
    let rows = sqlx::query(&sql)
        .bind(customer_id)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

pub async fn all(db: &Db) -> Result<Vec<Tenant>> {
    let sql = format!("SELECT {COLUMNS} FROM tenants ORDER BY created_at, id");
    let rows = sqlx::query(&sql).fetch_all(db.pool()).await?;
    rows.iter().map(from_row).collect()
}

/// The tenant (if any) whose bot has this Telegram id.
pub async fn by_bot_id(db: &Db, bot_id: i64) -> Result<Option<Tenant>> {
    let sql = format!("SELECT {COLUMNS} FROM tenants WHERE bot_id = $1");
    let row = sqlx::query(&sql)
        .bind(bot_id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn panels(db: &Db, tenant_id: &str) -> Result<Vec<TenantPanel>> {
    let rows = sqlx::query(
        "SELECT id, tenant_id, kind, url, username, password_enc FROM tenant_panels
         WHERE tenant_id = $1 ORDER BY created_at, id",
    )
    .bind(tenant_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(TenantPanel {
                id: row.try_get("id")?,
                tenant_id: row.try_get("tenant_id")?,
                kind: row.try_get("kind")?,
                url: row.try_get("url")?,
                username: row.try_get("username")?,
                password_enc: row.try_get("password_enc")?,
            })
        })
        .collect()
}

pub async fn by_subscription(db: &Db, subscription_id: &str) -> Result<Vec<Tenant>> {
    let sql =
        format!("SELECT {COLUMNS} FROM tenants WHERE subscription_id = $1 ORDER BY created_at, id");
    let rows = sqlx::query(&sql)
        .bind(subscription_id)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// The customer stops (or starts again) their bot; the desired-state sync follows.
pub async fn set_paused(db: &Db, id: &str, paused: bool, now: i64) -> Result<()> {
    sqlx::query("UPDATE tenants SET paused = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(paused))
        .bind(now)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Starts a token change: the dialogue asks for the new token, then returns to done.
pub async fn begin_token_change(db: &Db, id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE tenants SET onboarding_step = 'token', onboarding_draft = $1, updated_at = $2
         WHERE id = $3 AND onboarding_step = 'done'",
    )
    .bind(r#"{"changing_token":true}"#)
    .bind(now)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Asks the dialogue for another panel; it returns to done once the panel logs in.
pub async fn begin_adding_panel(db: &Db, id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE tenants SET onboarding_step = 'panel_kind', onboarding_draft = '{}', updated_at = $1
         WHERE id = $2 AND onboarding_step = 'done'",
    )
    .bind(now)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Records that the customer was told about the current start (or clears it for a new one).
pub async fn set_live_notified(db: &Db, id: &str, at: Option<i64>) -> Result<()> {
    sqlx::query("UPDATE tenants SET live_notified_at = $1 WHERE id = $2")
        .bind(at)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}
