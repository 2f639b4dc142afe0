//! Webhook delivery: one task per webhook POSTs queued updates in order, with the
//! secret-token header, retrying failures with exponential backoff.

use std::time::Duration;

use serde_json::Value;

use crate::state::{now_unix, AppState};

/// Telegram's header carrying the secret given to setWebhook.
pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

/// Backoff grows to this many times the base wait.
const MAX_BACKOFF_FACTOR: u32 = 32;

struct Next {
    update: Option<Value>,
    url: String,
    secret: Option<String>,
    wake: tokio::sync::watch::Receiver<u64>,
}

/// Delivers `token`'s updates while its webhook stays at `epoch`.
pub async fn deliver(state: AppState, token: String, epoch: u64) {
    let mut failures: u32 = 0;
    let mut shutdown = state.shutdown_signal();
    loop {
        if state.is_shutting_down() {
            return;
        }
        let Some(mut next) = next_update(&state, &token, epoch) else {
            return;
        };
        let Some(update) = next.update.take() else {
            tokio::select! {
                _ = next.wake.changed() => continue,
                _ = shutdown.wait_for(|stopping| *stopping) => return,
            }
        };
        let error = post(&state, &next.url, next.secret.as_deref(), &update).await;
        {
            let mut world = state.world();
            let Some(bot) = world.bot_mut(&token) else {
                return;
            };
            let Some(hook) = bot.webhook.as_mut().filter(|h| h.epoch == epoch) else {
                return;
            };
            match &error {
                None => {
                    failures = 0;
                    let delivered = update["update_id"].as_i64();
                    if bot.queue.front().map(|q| q.update_id()) == delivered {
                        bot.queue.pop_front();
                    }
                }
                Some(message) => {
                    failures = failures.saturating_add(1);
                    hook.last_error_date = Some(now_unix());
                    hook.last_error_message = Some(message.clone());
                }
            }
        }
        if let Some(message) = error {
            tracing::debug!(%message, failures, "webhook delivery failed; will retry");
            let wait = backoff(state.options.webhook_retry_base, failures);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|stopping| *stopping) => return,
            }
        }
    }
}

fn next_update(state: &AppState, token: &str, epoch: u64) -> Option<Next> {
    let mut world = state.world();
    let bot = world.bot_mut(token)?;
    bot.drop_expired();
    let hook = bot.webhook.as_ref().filter(|h| h.epoch == epoch)?;
    Some(Next {
        update: bot.queue.front().map(|q| q.update.clone()),
        url: hook.url.clone(),
        secret: hook.secret_token.clone(),
        wake: bot.subscribe(),
    })
}

/// POSTs one update; `Some(error text)` when it was not accepted.
async fn post(state: &AppState, url: &str, secret: Option<&str>, update: &Value) -> Option<String> {
    let mut request = state
        .http
        .post(url)
        .timeout(state.options.webhook_timeout)
        .json(update);
    if let Some(secret) = secret {
        request = request.header(SECRET_HEADER, secret);
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => None,
        Ok(response) => {
            let status = response.status();
            Some(format!(
                "Wrong response from the webhook: {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ))
        }
        Err(error) if error.is_timeout() => Some("Read timeout expired".to_string()),
        Err(error) if error.is_connect() => Some("Connection refused".to_string()),
        Err(error) => Some(format!("Failed to deliver the update: {error}")),
    }
}

/// Wait before retrying after `failures` failures in a row.
pub fn backoff(base: Duration, failures: u32) -> Duration {
    base.saturating_mul(
        2u32.saturating_pow(failures.saturating_sub(1))
            .min(MAX_BACKOFF_FACTOR),
    )
}
