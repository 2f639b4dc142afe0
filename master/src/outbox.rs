//! The outbox: every message Madar must send, recorded once (by key) where the reason for it
//! happens, and delivered by a sender that retries until it gets through.

use serde_json::{Map, Value};
use shared::db::{new_id, Db, RowExt};

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Telegram,
    Email,
    Staff,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Telegram => "telegram",
            Channel::Email => "email",
            Channel::Staff => "staff",
        }
    }

    fn parse(s: &str) -> Result<Channel> {
        Ok(match s {
            "telegram" => Channel::Telegram,
            "email" => Channel::Email,
            "staff" => Channel::Staff,
            other => return Err(Error::Corrupt(format!("outbox channel {other}"))),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: String,
    pub key: String,
    pub channel: Channel,
    pub recipient: String,
    pub template: String,
    pub args: Map<String, Value>,
    pub attempts: i64,
}

#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub key: String,
    pub channel: Channel,
    pub recipient: &'a str,
    pub template: &'a str,
    pub args: Map<String, Value>,
}

/// Records a message unless one with the same key exists. Returns whether it was new.
pub async fn enqueue<'e, E>(executor: E, message: &NewMessage<'_>, now: i64) -> Result<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let args = serde_json::to_string(&message.args)
        .map_err(|e| Error::Corrupt(format!("outbox args: {e}")))?;
    let done = sqlx::query(
        "INSERT INTO outbox (id, key, channel, recipient, template, args, created_at, send_after)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         ON CONFLICT (key) DO NOTHING",
    )
    .bind(new_id())
    .bind(&message.key)
    .bind(message.channel.as_str())
    .bind(message.recipient)
    .bind(message.template)
    .bind(args)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Messages due now, oldest first.
pub async fn due(db: &Db, now: i64, limit: i64) -> Result<Vec<Message>> {
    let rows = sqlx::query(
        "SELECT id, key, channel, recipient, template, args, attempts FROM outbox
         WHERE sent_at IS NULL AND send_after <= $1 ORDER BY created_at, id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let args: String = row.try_get("args")?;
            let args: Value = serde_json::from_str(&args)
                .map_err(|e| Error::Corrupt(format!("outbox args: {e}")))?;
            Ok(Message {
                id: row.try_get("id")?,
                key: row.try_get("key")?,
                channel: Channel::parse(&row.try_get::<String, _>("channel")?)?,
                recipient: row.try_get("recipient")?,
                template: row.try_get("template")?,
                args: args.as_object().cloned().unwrap_or_default(),
                attempts: row.try_get("attempts")?,
            })
        })
        .collect()
}

pub async fn mark_sent(db: &Db, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE outbox SET sent_at = $1 WHERE id = $2 AND sent_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// A failed try: wait longer each time (1, 2, 4 ... minutes, at most an hour).
pub async fn mark_failed(db: &Db, message: &Message, error: &str, now: i64) -> Result<()> {
    let wait = 60i64 << message.attempts.clamp(0, 6);
    sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $1, send_after = $2
         WHERE id = $3 AND sent_at IS NULL",
    )
    .bind(error)
    .bind(now + wait.min(3600))
    .bind(&message.id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Messages ever recorded under keys starting with `prefix` (for tests and the staff panel).
pub async fn keys_with_prefix(db: &Db, prefix: &str) -> Result<Vec<String>> {
    let pattern = format!("{}%", prefix.replace('%', "\\%").replace('_', "\\_"));
    let keys =
        sqlx::query_scalar("SELECT key FROM outbox WHERE key LIKE $1 ESCAPE '\\' ORDER BY key")
            .bind(pattern)
            .fetch_all(db.pool())
            .await?;
    Ok(keys)
}

/// Builds an argument map from pairs.
pub fn args<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}
