//! What a bot waits for from a person between messages (a coupon code, a receipt photo, an
//! amount...), kept in the bot's `conversations` table so a restart loses nothing. Each bot
//! has its own enum of things it waits for; this module stores any of them, one per person.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::db::Db;

/// Something a bot waits for. `kind` is a short name stored beside the JSON, for people
/// reading the table.
pub trait Conversation: Serialize + DeserializeOwned {
    fn kind(&self) -> &'static str;
}

#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A stored value that no longer parses (an older version of the bot, or a hand edit).
    #[error("a stored conversation is not valid: {0}")]
    Corrupt(String),
}

/// What the bot waits for from `telegram_id`, if anything.
pub async fn get<C: Conversation>(
    db: &Db,
    telegram_id: i64,
) -> Result<Option<C>, ConversationError> {
    let data: Option<String> =
        sqlx::query_scalar("SELECT data FROM conversations WHERE telegram_id = $1")
            .bind(telegram_id)
            .fetch_optional(db.pool())
            .await?;
    data.map(|d| serde_json::from_str(&d).map_err(|e| ConversationError::Corrupt(e.to_string())))
        .transpose()
}

/// Replaces whatever the bot waited for from `telegram_id`.
pub async fn set<C: Conversation>(
    db: &Db,
    telegram_id: i64,
    waiting: &C,
    now: i64,
) -> Result<(), ConversationError> {
    let data =
        serde_json::to_string(waiting).map_err(|e| ConversationError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO conversations (telegram_id, kind, data, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (telegram_id) DO UPDATE SET kind = excluded.kind, data = excluded.data,
             updated_at = excluded.updated_at",
    )
    .bind(telegram_id)
    .bind(waiting.kind())
    .bind(data)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The bot waits for nothing from `telegram_id` any more.
pub async fn clear(db: &Db, telegram_id: i64) -> Result<(), ConversationError> {
    sqlx::query("DELETE FROM conversations WHERE telegram_id = $1")
        .bind(telegram_id)
        .execute(db.pool())
        .await?;
    Ok(())
}
