//! Receiving updates by long polling, shared by the master bot and the tenant bots.
//!
//! The offset of the next update is kept in the bot's database (`bot_state`), so a restart
//! neither answers old updates again nor skips new ones. Updates from one chat are handled in
//! order; different chats at once, so one slow conversation does not hold up the others.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use teloxide::payloads::GetUpdatesSetters;
use teloxide::requests::{Request, Requester};
use teloxide::types::{AllowedUpdate, Me, Update};
use teloxide::{ApiError, Bot, RequestError};
use tokio_util::sync::CancellationToken;

use crate::db::{now_unix, Db, DbError};

/// Seconds a getUpdates call waits for news before returning empty.
pub const POLL_TIMEOUT_SECS: u32 = 25;
/// The offset is kept per bot: a new token for another bot starts from that bot's own updates.
fn offset_key(bot: &Bot) -> String {
    let bot_id = bot.token().split(':').next().unwrap_or_default();
    format!("telegram.next_update_id:{bot_id}")
}
/// How many times a request that hit Telegram's rate limit is tried again.
/// Enough tries to ride out a busy minute: a bot at Telegram's 30 messages/s with many chats
/// waiting gets 429 again and again, and an answer late by seconds beats an error.
const RATE_LIMIT_RETRIES: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum PollingError {
    #[error("Telegram refused the bot token (401 Unauthorized)")]
    TokenRefused,
    #[error("Telegram request failed: {0}")]
    Telegram(#[from] RequestError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

impl From<sqlx::Error> for PollingError {
    fn from(e: sqlx::Error) -> Self {
        PollingError::Db(DbError::Query(e))
    }
}

/// Something that answers updates. Cheap to clone: one clone runs per chat.
pub trait UpdateHandler: Clone + Send + Sync + 'static {
    type Error: std::fmt::Display + Send;
    fn handle(&self, update: Update) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// A Bot API client whose HTTP timeout outlasts a long poll.
pub fn bot(token: &str, api_url: url::Url) -> Result<Bot, PollingError> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(u64::from(POLL_TIMEOUT_SECS) + 35))
        .build()
        .map_err(|e| PollingError::Client(e.to_string()))?;
    Ok(Bot::with_client(token, client).set_api_url(api_url))
}

/// Checks the token with getMe, trying again a few times when Telegram cannot be reached.
pub async fn identify(bot: &Bot) -> Result<Me, PollingError> {
    let mut delay = Duration::from_millis(500);
    let mut tries = 0;
    loop {
        match bot.get_me().await {
            Ok(me) => return Ok(me),
            Err(RequestError::Api(ApiError::InvalidToken)) => {
                return Err(PollingError::TokenRefused)
            }
            Err(e) if tries < 4 => {
                tries += 1;
                tracing::warn!(error = %e, "getMe failed; trying again");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Long-polls until `shutdown`, handing every update to `handler`.
pub async fn poll<H: UpdateHandler>(
    bot: Bot,
    db: Db,
    allowed: Vec<AllowedUpdate>,
    handler: H,
    shutdown: CancellationToken,
) -> Result<(), PollingError> {
    // A webhook left over from an earlier configuration would make getUpdates fail with 409.
    bot.delete_webhook().await?;
    let key = offset_key(&bot);
    let mut offset = load_offset(&db, &key).await?;
    let mut backoff = Duration::from_millis(250);
    loop {
        let request = bot
            .get_updates()
            .offset(offset)
            .timeout(POLL_TIMEOUT_SECS)
            .allowed_updates(allowed.clone());
        let result = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            result = request.send() => result,
        };
        match result {
            Ok(updates) => {
                backoff = Duration::from_millis(250);
                let Some(last) = updates.iter().map(|u| u.id.0).max() else {
                    continue;
                };
                handle_batch(&handler, updates).await;
                offset = next_offset(last);
                save_offset(&db, &key, offset).await?;
            }
            Err(RequestError::RetryAfter(after)) => {
                tokio::time::sleep(after.duration()).await;
            }
            Err(RequestError::Api(ApiError::InvalidToken)) => {
                return Err(PollingError::TokenRefused)
            }
            Err(e) => {
                if matches!(e, RequestError::Api(ApiError::TerminatedByOtherGetUpdates)) {
                    tracing::error!("another program is polling with this bot's token");
                } else {
                    tracing::warn!(error = %e, ?backoff, "getUpdates failed; trying again");
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

fn next_offset(last: u32) -> i32 {
    i32::try_from(last).unwrap_or(i32::MAX).saturating_add(1)
}

/// Handles a batch: one task per chat, in order within the chat; returns when all are done.
pub async fn handle_batch<H: UpdateHandler>(handler: &H, updates: Vec<Update>) {
    let mut by_chat: BTreeMap<i64, Vec<Update>> = BTreeMap::new();
    for update in updates {
        let chat = update.chat().map(|c| c.id.0).unwrap_or_default();
        by_chat.entry(chat).or_default().push(update);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (_, updates) in by_chat {
        let handler = handler.clone();
        tasks.spawn(async move {
            for update in updates {
                let id = update.id.0;
                if let Err(e) = handler.handle(update).await {
                    tracing::error!(update_id = id, error = %e, "update failed");
                }
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined {
            tracing::error!(error = %e, "an update handler panicked");
        }
    }
}

async fn load_offset(db: &Db, key: &str) -> Result<i32, PollingError> {
    let value: Option<String> = sqlx::query_scalar("SELECT value FROM bot_state WHERE name = $1")
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
    Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0))
}

async fn save_offset(db: &Db, key: &str, offset: i32) -> Result<(), PollingError> {
    sqlx::query(
        "INSERT INTO bot_state (name, value, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(offset.to_string())
    .bind(now_unix())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Runs a request, waiting and trying again when Telegram answers 429 with `retry_after`.
pub async fn with_rate_limit_retry<T, F, Fut>(mut request: F) -> Result<T, RequestError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RequestError>>,
{
    let mut tries = 0;
    loop {
        match request().await {
            Err(RequestError::RetryAfter(after)) if tries < RATE_LIMIT_RETRIES => {
                tries += 1;
                // A little jitter, so the chats told to wait together do not all come back
                // in the same instant and collide again.
                let jitter =
                    Duration::from_millis(rand::Rng::gen_range(&mut rand::thread_rng(), 0..250));
                let wait = after.duration().min(Duration::from_secs(60)) + jitter;
                tracing::debug!(?wait, "rate limited by Telegram; waiting");
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

/// A user who blocked the bot, deleted their account or never existed cannot be answered;
/// for a bot that is not an error.
pub fn is_unreachable_user(e: &RequestError) -> bool {
    matches!(
        e,
        RequestError::Api(
            ApiError::BotBlocked | ApiError::UserDeactivated | ApiError::ChatNotFound
        )
    )
}
