//! The tenant's panels: stored rows (credentials encrypted with the bot's data key), the live
//! clients built from them, where a new account goes, and their health.

pub mod health;
pub mod placement;
pub mod registry;

use serde::{Deserialize, Serialize};
use shared::db::{new_id, Db, RowExt};
use shared::panel::{InboundRef, PanelCredentials, PanelKind};
use shared::secret::{Keyring, SecretString};

use crate::{Error, Result};

pub use registry::Registry;

/// Where a panel came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Entered when the bot was set up, kept in step with the master.
    Master,
    /// Added by the tenant's admins in the bot.
    Bot,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Master => "master",
            Source::Bot => "bot",
        }
    }

    fn parse(s: &str) -> Result<Source> {
        match s {
            "master" => Ok(Source::Master),
            "bot" => Ok(Source::Bot),
            other => Err(Error::Corrupt(format!("panel source {other}"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelRow {
    pub id: String,
    pub name: String,
    pub kind: PanelKind,
    pub url: String,
    /// 3x-UI: where its subscription server serves links (default: port 2096, `/sub/`).
    pub subscription_base: Option<String>,
    pub source: Source,
    pub source_ref: Option<String>,
    pub weight: i64,
    pub capacity: Option<i64>,
    pub location: Option<String>,
    pub inbounds: Vec<InboundRef>,
    pub enabled: bool,
    pub healthy: bool,
    pub health_error: Option<String>,
    pub checked_at: Option<i64>,
    pub updated_at: i64,
}

/// A panel to add or to bring in step with the master.
#[derive(Debug, Clone)]
pub struct PanelInput {
    pub name: String,
    pub kind: PanelKind,
    pub url: String,
    pub subscription_base: Option<String>,
    pub credentials: PanelCredentials,
    pub weight: i64,
    pub capacity: Option<i64>,
    pub location: Option<String>,
    pub inbounds: Vec<InboundRef>,
}

/// Credentials as stored (inside the encryption).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoredCredentials {
    Password { username: String, password: String },
    ApiToken { token: String },
}

fn context(panel_id: &str) -> String {
    format!("tenant-panel:{panel_id}")
}

pub fn encrypt_credentials(
    keyring: &Keyring,
    panel_id: &str,
    credentials: &PanelCredentials,
) -> Result<String> {
    let stored = match credentials {
        PanelCredentials::Password { username, password } => StoredCredentials::Password {
            username: username.clone(),
            password: password.expose().to_string(),
        },
        PanelCredentials::ApiToken(token) => StoredCredentials::ApiToken {
            token: token.expose().to_string(),
        },
    };
    let json = serde_json::to_string(&stored)
        .map_err(|e| Error::Corrupt(format!("panel credentials: {e}")))?;
    Ok(keyring.encrypt(&json, &context(panel_id))?)
}

pub fn decrypt_credentials(
    keyring: &Keyring,
    panel_id: &str,
    stored: &str,
) -> Result<PanelCredentials> {
    let json = keyring.decrypt(stored, &context(panel_id))?;
    let parsed: StoredCredentials = serde_json::from_str(json.expose())
        .map_err(|e| Error::Corrupt(format!("panel credentials: {e}")))?;
    Ok(match parsed {
        StoredCredentials::Password { username, password } => PanelCredentials::Password {
            username,
            password: SecretString::new(password),
        },
        StoredCredentials::ApiToken { token } => {
            PanelCredentials::ApiToken(SecretString::new(token))
        }
    })
}

fn kind_str(kind: PanelKind) -> &'static str {
    match kind {
        PanelKind::Marzban => "marzban",
        PanelKind::Xui => "xui",
    }
}

fn parse_kind(s: &str) -> Result<PanelKind> {
    match s {
        "marzban" => Ok(PanelKind::Marzban),
        "xui" => Ok(PanelKind::Xui),
        other => Err(Error::Corrupt(format!("panel kind {other}"))),
    }
}

const COLUMNS: &str =
    "id, name, kind, url, subscription_base, source, source_ref, weight, capacity, location, \
    inbounds, enabled, healthy, health_error, checked_at, updated_at";

fn from_row(row: &shared::db::Row) -> Result<PanelRow> {
    let inbounds: String = row.try_get("inbounds")?;
    Ok(PanelRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: parse_kind(&row.try_get::<String, _>("kind")?)?,
        url: row.try_get("url")?,
        subscription_base: row.try_get("subscription_base")?,
        source: Source::parse(&row.try_get::<String, _>("source")?)?,
        source_ref: row.try_get("source_ref")?,
        weight: row.try_get("weight")?,
        capacity: row.try_get("capacity")?,
        location: row.try_get("location")?,
        inbounds: serde_json::from_str(&inbounds)
            .map_err(|e| Error::Corrupt(format!("panel inbounds: {e}")))?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        healthy: row.try_get::<i64, _>("healthy")? != 0,
        health_error: row.try_get("health_error")?,
        checked_at: row.try_get("checked_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn all(db: &Db) -> Result<Vec<PanelRow>> {
    let sql = format!("SELECT {COLUMNS} FROM panels ORDER BY created_at, id");
    let rows = sqlx::query(&sql).fetch_all(db.pool()).await?;
    rows.iter().map(from_row).collect()
}

pub async fn get(db: &Db, id: &str) -> Result<Option<PanelRow>> {
    let sql = format!("SELECT {COLUMNS} FROM panels WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn count(db: &Db) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM panels")
        .fetch_one(db.pool())
        .await?)
}

/// Stores a new panel. The caller has validated it with a real login and checked the
/// package's panel limit.
pub async fn insert(
    db: &Db,
    keyring: &Keyring,
    input: &PanelInput,
    source: Source,
    source_ref: Option<&str>,
    now: i64,
) -> Result<String> {
    let id = new_id();
    let inbounds = serde_json::to_string(&input.inbounds)
        .map_err(|e| Error::Corrupt(format!("panel inbounds: {e}")))?;
    sqlx::query(
        "INSERT INTO panels (id, name, kind, url, credentials_enc, source, source_ref, weight,
             capacity, location, inbounds, enabled, healthy, created_at, updated_at,
             subscription_base)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, 1, $12, $12, $13)",
    )
    .bind(&id)
    .bind(&input.name)
    .bind(kind_str(input.kind))
    .bind(&input.url)
    .bind(encrypt_credentials(keyring, &id, &input.credentials)?)
    .bind(source.as_str())
    .bind(source_ref)
    .bind(input.weight.max(1))
    .bind(input.capacity)
    .bind(&input.location)
    .bind(inbounds)
    .bind(now)
    .bind(&input.subscription_base)
    .execute(db.pool())
    .await?;
    Ok(id)
}

/// Replaces a panel's address and credentials (a panel kept in step with the master).
pub async fn update_connection(
    db: &Db,
    keyring: &Keyring,
    id: &str,
    input: &PanelInput,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE panels SET name = $2, kind = $3, url = $4, credentials_enc = $5, updated_at = $6,
             subscription_base = $7
         WHERE id = $1",
    )
    .bind(id)
    .bind(&input.name)
    .bind(kind_str(input.kind))
    .bind(&input.url)
    .bind(encrypt_credentials(keyring, id, &input.credentials)?)
    .bind(now)
    .bind(&input.subscription_base)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Takes a panel out of rotation (no new accounts) or puts it back.
pub async fn set_enabled(db: &Db, id: &str, enabled: bool, now: i64) -> Result<()> {
    sqlx::query("UPDATE panels SET enabled = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(enabled as i64)
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// How new accounts are spread: weight (share) and capacity (most live accounts).
pub async fn set_placement(
    db: &Db,
    id: &str,
    weight: i64,
    capacity: Option<i64>,
    location: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE panels SET weight = $2, capacity = $3, location = $4, updated_at = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(weight.max(1))
    .bind(capacity)
    .bind(location)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The inbounds new accounts on this panel go into ([] = every inbound).
pub async fn set_inbounds(db: &Db, id: &str, inbounds: &[InboundRef], now: i64) -> Result<()> {
    let json = serde_json::to_string(inbounds)
        .map_err(|e| Error::Corrupt(format!("panel inbounds: {e}")))?;
    sqlx::query("UPDATE panels SET inbounds = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(json)
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(())
}

pub async fn record_health(db: &Db, id: &str, error: Option<&str>, now: i64) -> Result<()> {
    sqlx::query("UPDATE panels SET healthy = $2, health_error = $3, checked_at = $4 WHERE id = $1")
        .bind(id)
        .bind(error.is_none() as i64)
        .bind(error)
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(())
}

pub async fn credentials(db: &Db, keyring: &Keyring, id: &str) -> Result<PanelCredentials> {
    let stored: String = sqlx::query_scalar("SELECT credentials_enc FROM panels WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::Corrupt(format!("panel {id} is gone")))?;
    decrypt_credentials(keyring, id, &stored)
}
