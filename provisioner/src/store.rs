//! The `instances` table: each tenant's desired state and spec (written by the master), and
//! the lifecycle state machine, restart history and heartbeat (written by the provisioner).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::db::{new_id, now_unix, Db, Row, RowExt};
use shared::secret::{Keyring, SecretError, SecretString};
use shared::telegram::BotToken;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("this bot token is already used by another tenant's bot; each tenant needs its own bot from @BotFather")]
    TokenInUse,
    #[error("tenant {0} has no instance")]
    NotFound(String),
    #[error("the instance's secret cannot be read: {0}")]
    Secret(#[from] SecretError),
    #[error("the stored bot token is not a valid token")]
    BadStoredToken,
    #[error(
        "the instance has no data key yet: the master writes one with its next desired-state sync"
    )]
    NoDataKey,
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("corrupt instance row for tenant {tenant_id}: {problem}")]
    Corrupt { tenant_id: String, problem: String },
}

/// What the master wants for a tenant's bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Desired {
    Running,
    Stopped,
    Deleted,
}

/// Where an instance is in its life. Written by the reconcile loop only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Pending,
    Creating,
    Starting,
    Running,
    Stopping,
    Stopped,
    CrashLooping,
    Failed,
    Deleting,
    Deleted,
}

macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s { $($text => Ok($ty::$variant),)+ other => Err(format!("unknown {} {other:?}", stringify!($ty))) }
            }
        }
    };
}

text_enum!(Desired { Running => "running", Stopped => "stopped", Deleted => "deleted" });
text_enum!(Lifecycle {
    Pending => "pending",
    Creating => "creating",
    Starting => "starting",
    Running => "running",
    Stopping => "stopping",
    Stopped => "stopped",
    CrashLooping => "crash_looping",
    Failed => "failed",
    Deleting => "deleting",
    Deleted => "deleted",
});

/// Resource limits from the tenant's package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageLimits {
    pub memory_mb: i64,
    pub cpu_millis: i64,
    pub pids: i64,
}

/// A panel the tenant bot will sell accounts on (credentials travel separately, encrypted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PanelRef {
    pub kind: String,
    pub url: String,
}

/// The spec the master writes with the desired state.
#[derive(Debug, Clone)]
pub struct DesiredSpec {
    pub bot_token: BotToken,
    /// The tenant's data key (a key line for `Keyring::from_config`): the bot encrypts secrets
    /// in its own database with it. Made once per tenant; it must never change.
    pub data_key: SecretString,
    pub limits: PackageLimits,
    pub panels: Vec<PanelRef>,
    /// The tenant-bot image version, e.g. "0.1.0".
    pub image_version: String,
}

/// The non-secret part of the spec, stored as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSpec {
    pub limits: PackageLimits,
    pub panels: Vec<PanelRef>,
    pub image_version: String,
}

/// One row of `instances`.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub tenant_id: String,
    pub desired: Desired,
    pub state: Lifecycle,
    pub reason: Option<String>,
    pub state_changed_at: i64,
    pub bot_id: i64,
    pub bot_username: Option<String>,
    pub spec: StoredSpec,
    pub spec_hash: String,
    pub api_key_hash: Option<String>,
    /// Unix times of recent crash restarts.
    pub restarts: Vec<i64>,
    pub restart_count_seen: i64,
    pub last_heartbeat_at: Option<i64>,
    pub heartbeat_version: Option<String>,
    pub bot_started_at: Option<i64>,
    pub updates_handled: Option<i64>,
    pub end_users: Option<i64>,
    pub healthy: bool,
    pub deleted_at: Option<i64>,
    pub purge_after: Option<i64>,
    pub purged_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    bot_token_enc: String,
    data_key_enc: Option<String>,
}

impl Instance {
    /// The bot token, decrypted.
    pub fn bot_token(&self, keyring: &Keyring) -> Result<BotToken, StoreError> {
        let plain = keyring.decrypt(&self.bot_token_enc, &token_context(&self.tenant_id))?;
        BotToken::parse(plain.expose()).map_err(|_| StoreError::BadStoredToken)
    }

    /// The tenant's data key, decrypted. Rows written before data keys existed have none.
    pub fn data_key(&self, keyring: &Keyring) -> Result<SecretString, StoreError> {
        let stored = self.data_key_enc.as_deref().ok_or(StoreError::NoDataKey)?;
        Ok(keyring.decrypt(stored, &data_key_context(&self.tenant_id))?)
    }
}

/// One lifecycle transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: String,
    pub to: String,
    pub reason: Option<String>,
    pub at: i64,
}

fn token_context(tenant_id: &str) -> String {
    format!("instance:{tenant_id}:bot_token")
}

fn data_key_context(tenant_id: &str) -> String {
    format!("instance:{tenant_id}:data_key")
}

/// Hash of everything that shapes the container: a different hash means "recreate".
pub fn spec_hash(spec: &DesiredSpec) -> String {
    let mut hasher = Sha256::new();
    hasher.update(spec.bot_token.expose().as_bytes());
    hasher.update([0]);
    hasher.update(spec.data_key.expose().as_bytes());
    hasher.update([0]);
    hasher.update(
        serde_json::to_string(&stored_spec(spec))
            .unwrap_or_default()
            .as_bytes(),
    );
    hex::encode(&hasher.finalize()[..16])
}

fn stored_spec(spec: &DesiredSpec) -> StoredSpec {
    StoredSpec {
        limits: spec.limits,
        panels: spec.panels.clone(),
        image_version: spec.image_version.clone(),
    }
}

/// Hash of an instance API key, as stored.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Records what the master wants for `tenant_id`. Refuses a bot already used by another
/// tenant. A new spec or a failed instance goes back to `pending`, so the loop acts again.
pub async fn set_desired(
    db: &Db,
    tenant_id: &str,
    desired: Desired,
    spec: &DesiredSpec,
    keyring: &Keyring,
) -> Result<Instance, StoreError> {
    let now = now_unix();
    let bot_id = spec.bot_token.bot_id();
    let hash = spec_hash(spec);
    let spec_json = serde_json::to_string(&stored_spec(spec)).map_err(|e| StoreError::Corrupt {
        tenant_id: tenant_id.to_string(),
        problem: e.to_string(),
    })?;
    let token_enc = keyring.encrypt(spec.bot_token.expose(), &token_context(tenant_id))?;
    let data_key_enc = keyring.encrypt(spec.data_key.expose(), &data_key_context(tenant_id))?;
    let mut tx = db.begin().await?;
    take_write_lock(&mut tx, tenant_id).await?;
    let other: Option<Row> = sqlx::query(
        "SELECT tenant_id FROM instances WHERE bot_id = $1 AND tenant_id <> $2 AND desired <> 'deleted'",
    )
    .bind(bot_id)
    .bind(tenant_id)
    .fetch_optional(&mut *tx)
    .await?;
    if other.is_some() {
        return Err(StoreError::TokenInUse);
    }
    let existing: Option<Row> =
        sqlx::query("SELECT spec_hash, state FROM instances WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_optional(&mut *tx)
            .await?;
    match existing {
        None => {
            sqlx::query(
                "INSERT INTO instances (tenant_id, desired, bot_token_enc, bot_id, spec_json, spec_hash, \
                 state, state_changed_at, created_at, updated_at, data_key_enc) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7, $7, $8)",
            )
            .bind(tenant_id)
            .bind(desired.as_str())
            .bind(&token_enc)
            .bind(bot_id)
            .bind(&spec_json)
            .bind(&hash)
            .bind(now)
            .bind(&data_key_enc)
            .execute(&mut *tx)
            .await?;
        }
        Some(row) => {
            let old_hash: String = row.try_get("spec_hash")?;
            let state: String = row.try_get("state")?;
            // A failed instance (bad token...) or a new spec deserves a fresh attempt.
            let retry = old_hash != hash || needs_fresh_attempt(&state);
            sqlx::query(
                "UPDATE instances SET desired = $2, bot_token_enc = $3, bot_id = $4, spec_json = $5, \
                 spec_hash = $6, updated_at = $7, data_key_enc = $8, \
                 deleted_at = CASE WHEN $2 = 'deleted' THEN deleted_at ELSE NULL END, \
                 purge_after = CASE WHEN $2 = 'deleted' THEN purge_after ELSE NULL END \
                 WHERE tenant_id = $1",
            )
            .bind(tenant_id)
            .bind(desired.as_str())
            .bind(&token_enc)
            .bind(bot_id)
            .bind(&spec_json)
            .bind(&hash)
            .bind(now)
            .bind(&data_key_enc)
            .execute(&mut *tx)
            .await?;
            if retry && state != Lifecycle::Pending.as_str() && desired != Desired::Deleted {
                record_transition(&mut tx, tenant_id, &state, Lifecycle::Pending, None, now)
                    .await?;
            }
        }
    }
    tx.commit().await?;
    get(db, tenant_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(tenant_id.to_string()))
}

/// Changes only the desired state (e.g. suspend an unpaid tenant: `Stopped`; data is kept).
pub async fn set_desired_state(
    db: &Db,
    tenant_id: &str,
    desired: Desired,
) -> Result<Instance, StoreError> {
    let done = sqlx::query(
        "UPDATE instances SET desired = $2, updated_at = $3, \
         deleted_at = CASE WHEN $2 = 'deleted' THEN deleted_at ELSE NULL END, \
         purge_after = CASE WHEN $2 = 'deleted' THEN purge_after ELSE NULL END \
         WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .bind(desired.as_str())
    .bind(now_unix())
    .execute(db.pool())
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(tenant_id.to_string()));
    }
    let instance = get(db, tenant_id)
        .await?
        .ok_or_else(|| StoreError::NotFound(tenant_id.to_string()))?;
    if desired == Desired::Running && needs_fresh_attempt(instance.state.as_str()) {
        transition(db, tenant_id, Lifecycle::Pending, None).await?;
        return get(db, tenant_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(tenant_id.to_string()));
    }
    Ok(instance)
}

/// Failed and crash-looping instances wait for the master to ask again.
fn needs_fresh_attempt(state: &str) -> bool {
    state == Lifecycle::Failed.as_str() || state == Lifecycle::CrashLooping.as_str()
}

/// Asks for a deleted tenant's data to be purged at the next pass instead of after the
/// retention period. Export it first with the runtime's `export_data` if it is wanted.
pub async fn purge_now(db: &Db, tenant_id: &str) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE instances SET purge_after = $2, updated_at = $2 WHERE tenant_id = $1 AND desired = 'deleted'",
    )
    .bind(tenant_id)
    .bind(now_unix())
    .execute(db.pool())
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(tenant_id.to_string()));
    }
    Ok(())
}

pub async fn get(db: &Db, tenant_id: &str) -> Result<Option<Instance>, StoreError> {
    let row = sqlx::query("SELECT * FROM instances WHERE tenant_id = $1")
        .bind(tenant_id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(db: &Db) -> Result<Vec<Instance>, StoreError> {
    let rows = sqlx::query("SELECT * FROM instances ORDER BY created_at, tenant_id")
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// The lifecycle history of one instance, oldest first.
pub async fn transitions(db: &Db, tenant_id: &str) -> Result<Vec<Transition>, StoreError> {
    let rows = sqlx::query(
        "SELECT from_state, to_state, reason, at FROM instance_transitions WHERE tenant_id = $1 ORDER BY at, id",
    )
    .bind(tenant_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Transition {
                from: r.try_get("from_state")?,
                to: r.try_get("to_state")?,
                reason: r.try_get("reason")?,
                at: r.try_get("at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

/// Moves the instance to `state` (recording the transition when it changes).
pub(crate) async fn transition(
    db: &Db,
    tenant_id: &str,
    state: Lifecycle,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    let now = now_unix();
    let mut tx = db.begin().await?;
    take_write_lock(&mut tx, tenant_id).await?;
    let row: Option<Row> = sqlx::query("SELECT state, reason FROM instances WHERE tenant_id = $1")
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else {
        return Err(StoreError::NotFound(tenant_id.to_string()));
    };
    let from: String = row.try_get("state")?;
    let old_reason: Option<String> = row.try_get("reason")?;
    if from == state.as_str() && old_reason.as_deref() == reason {
        return Ok(());
    }
    sqlx::query(
        "UPDATE instances SET state = $2, reason = $3, \
         state_changed_at = CASE WHEN state = $2 THEN state_changed_at ELSE $4 END, updated_at = $4 \
         WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .bind(state.as_str())
    .bind(reason)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    record_transition(&mut tx, tenant_id, &from, state, reason, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Writes first, so the transaction holds the write lock before it reads: on SQLite a
/// transaction that reads, then writes after another connection wrote, fails at once with
/// SQLITE_BUSY_SNAPSHOT instead of waiting; on PostgreSQL this locks the instance's row.
async fn take_write_lock(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE instances SET updated_at = updated_at WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn record_transition(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant_id: &str,
    from: &str,
    to: Lifecycle,
    reason: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO instance_transitions (id, tenant_id, from_state, to_state, reason, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_id())
    .bind(tenant_id)
    .bind(from)
    .bind(to.as_str())
    .bind(reason)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    if to == Lifecycle::Pending {
        // A fresh attempt starts with a clean crash history.
        sqlx::query("UPDATE instances SET restarts_json = '[]' WHERE tenant_id = $1")
            .bind(tenant_id)
            .execute(&mut **tx)
            .await?;
    }
    if from != to.as_str() {
        sqlx::query("UPDATE instances SET state = $2, state_changed_at = $3 WHERE tenant_id = $1")
            .bind(tenant_id)
            .bind(to.as_str())
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Stores the hash of a freshly generated API key and the bot's username (from getMe).
pub(crate) async fn set_credentials(
    db: &Db,
    tenant_id: &str,
    api_key: &SecretString,
    bot_username: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE instances SET api_key_hash = $2, bot_username = $3, healthy = 0, updated_at = $4 \
         WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .bind(hash_api_key(api_key.expose()))
    .bind(bot_username)
    .bind(now_unix())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Saves the restart history after looking at the runtime's restart counter.
pub(crate) async fn set_restarts(
    db: &Db,
    tenant_id: &str,
    restarts: &[i64],
    restart_count_seen: i64,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(restarts).unwrap_or_else(|_| "[]".to_string());
    sqlx::query(
        "UPDATE instances SET restarts_json = $2, restart_count_seen = $3 WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .bind(json)
    .bind(restart_count_seen)
    .execute(db.pool())
    .await?;
    Ok(())
}

pub(crate) async fn set_healthy(db: &Db, tenant_id: &str, healthy: bool) -> Result<(), StoreError> {
    sqlx::query("UPDATE instances SET healthy = $2 WHERE tenant_id = $1")
        .bind(tenant_id)
        .bind(i64::from(healthy))
        .execute(db.pool())
        .await?;
    Ok(())
}

pub(crate) async fn mark_deleted(
    db: &Db,
    tenant_id: &str,
    purge_after: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE instances SET deleted_at = COALESCE(deleted_at, $2), \
         purge_after = COALESCE(purge_after, $3), healthy = 0 WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .bind(now_unix())
    .bind(purge_after)
    .execute(db.pool())
    .await?;
    Ok(())
}

pub(crate) async fn mark_purged(db: &Db, tenant_id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE instances SET purged_at = $2 WHERE tenant_id = $1")
        .bind(tenant_id)
        .bind(now_unix())
        .execute(db.pool())
        .await?;
    Ok(())
}

/// A heartbeat from a tenant bot.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Heartbeat {
    pub tenant_id: String,
    pub version: String,
    pub bot_username: String,
    pub started_at: i64,
    pub updates_handled: i64,
    /// End users in the bot's database; older bots do not send it.
    #[serde(default)]
    pub end_users: Option<i64>,
}

/// The tenant whose instance holds `api_key` as its current key, if any. Paused, stopped and
/// deleted instances are found too: the key alone says who is asking.
pub async fn tenant_of_api_key(db: &Db, api_key: &str) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT tenant_id FROM instances WHERE api_key_hash = $1")
            .bind(hash_api_key(api_key))
            .fetch_optional(db.pool())
            .await?,
    )
}

/// Records a heartbeat when `api_key` is the tenant's current key. Returns false otherwise.
pub(crate) async fn record_heartbeat(
    db: &Db,
    api_key: &str,
    beat: &Heartbeat,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE instances SET last_heartbeat_at = $3, heartbeat_version = $4, bot_username = $5, \
         bot_started_at = $6, updates_handled = $7, end_users = COALESCE($8, end_users), healthy = 1 \
         WHERE tenant_id = $1 AND api_key_hash = $2 AND desired <> 'deleted'",
    )
    .bind(&beat.tenant_id)
    .bind(hash_api_key(api_key))
    .bind(now_unix())
    .bind(&beat.version)
    .bind(&beat.bot_username)
    .bind(beat.started_at)
    .bind(beat.updates_handled)
    .bind(beat.end_users)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

fn from_row(row: &Row) -> Result<Instance, StoreError> {
    let tenant_id: String = row.try_get("tenant_id")?;
    let corrupt = |problem: String| StoreError::Corrupt {
        tenant_id: tenant_id.clone(),
        problem,
    };
    let desired: String = row.try_get("desired")?;
    let state: String = row.try_get("state")?;
    let spec_json: String = row.try_get("spec_json")?;
    let restarts_json: String = row.try_get("restarts_json")?;
    let healthy: i64 = row.try_get("healthy")?;
    Ok(Instance {
        desired: desired.parse().map_err(corrupt)?,
        state: state.parse().map_err(corrupt)?,
        spec: serde_json::from_str(&spec_json).map_err(|e| corrupt(e.to_string()))?,
        restarts: serde_json::from_str(&restarts_json).map_err(|e| corrupt(e.to_string()))?,
        reason: row.try_get("reason")?,
        state_changed_at: row.try_get("state_changed_at")?,
        bot_id: row.try_get("bot_id")?,
        bot_username: row.try_get("bot_username")?,
        spec_hash: row.try_get("spec_hash")?,
        api_key_hash: row.try_get("api_key_hash")?,
        restart_count_seen: row.try_get("restart_count_seen")?,
        last_heartbeat_at: row.try_get("last_heartbeat_at")?,
        heartbeat_version: row.try_get("heartbeat_version")?,
        bot_started_at: row.try_get("bot_started_at")?,
        updates_handled: row.try_get("updates_handled")?,
        end_users: row.try_get("end_users")?,
        healthy: healthy != 0,
        deleted_at: row.try_get("deleted_at")?,
        purge_after: row.try_get("purge_after")?,
        purged_at: row.try_get("purged_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        bot_token_enc: row.try_get("bot_token_enc")?,
        data_key_enc: row.try_get("data_key_enc")?,
        tenant_id,
    })
}
