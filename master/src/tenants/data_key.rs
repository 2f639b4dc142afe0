//! Each tenant's data key: the key its bot encrypts secrets with in its own database (panel
//! credentials...). Made once, the first time the tenant's instance is described, and kept
//! encrypted with the master's keys, so every container the tenant ever gets has the same one.

use shared::db::Db;
use shared::secret::{Keyring, SecretString};

use crate::{Error, Result};

/// The key id inside the tenant bot's keyring.
const KEY_ID: &str = "d1";

fn context(tenant_id: &str) -> String {
    format!("tenant:{tenant_id}:data_key")
}

/// The tenant's data key, made and stored on the first call.
pub async fn ensure(db: &Db, keyring: &Keyring, tenant_id: &str) -> Result<SecretString> {
    if let Some(key) = stored(db, keyring, tenant_id).await? {
        return Ok(key);
    }
    let fresh = Keyring::generate_key_line(KEY_ID);
    let encrypted = keyring
        .encrypt(fresh.expose(), &context(tenant_id))
        .map_err(|e| Error::Corrupt(format!("tenant {tenant_id} data key: {e}")))?;
    // Only the first writer wins: two syncs at once still agree on one key.
    sqlx::query("UPDATE tenants SET data_key_enc = $1 WHERE id = $2 AND data_key_enc IS NULL")
        .bind(encrypted)
        .bind(tenant_id)
        .execute(db.pool())
        .await?;
    stored(db, keyring, tenant_id)
        .await?
        .ok_or_else(|| Error::Corrupt(format!("tenant {tenant_id} is gone")))
}

async fn stored(db: &Db, keyring: &Keyring, tenant_id: &str) -> Result<Option<SecretString>> {
    let row: Option<Option<String>> =
        sqlx::query_scalar("SELECT data_key_enc FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .fetch_optional(db.pool())
            .await?;
    row.flatten()
        .map(|enc| keyring.decrypt(&enc, &context(tenant_id)))
        .transpose()
        .map_err(|e| Error::Corrupt(format!("tenant {tenant_id} data key: {e}")))
}
