//! getMe, getUpdates (long polling) and the webhook methods.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::{ApiError, ApiResult, Params};
use crate::state::{now_unix, AppState, Bot, Webhook};
use crate::webhook;

pub fn get_me(state: &AppState, token: &str) -> ApiResult {
    let world = state.world();
    let bot = world.bot(token).ok_or_else(ApiError::unauthorized)?;
    let mut me = bot.user_json();
    me["can_join_groups"] = json!(true);
    me["can_read_all_group_messages"] = json!(false);
    me["supports_inline_queries"] = json!(false);
    me["can_connect_to_business"] = json!(false);
    me["has_main_web_app"] = json!(false);
    Ok(me)
}

fn conflict_webhook() -> ApiError {
    ApiError::new(
        409,
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
    )
}

fn conflict_terminated() -> ApiError {
    ApiError::new(
        409,
        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    )
}

/// Drops the updates the offset confirms: below a positive offset, or all but the
/// last |offset| for a negative one.
fn confirm(bot: &mut Bot, offset: i64) {
    bot.drop_expired();
    if offset > 0 {
        while bot.queue.front().is_some_and(|q| q.update_id() < offset) {
            bot.queue.pop_front();
        }
    } else if offset < 0 {
        let keep = offset.unsigned_abs() as usize;
        while bot.queue.len() > keep {
            bot.queue.pop_front();
        }
    }
}

fn batch(bot: &Bot, limit: usize) -> Vec<Value> {
    bot.queue
        .iter()
        .take(limit)
        .map(|q| q.update.clone())
        .collect()
}

fn allowed_updates(p: &Params) -> Result<Option<Vec<String>>, ApiError> {
    let Some(value) = p.json("allowed_updates")? else {
        return Ok(None);
    };
    let list = value
        .as_array()
        .ok_or_else(|| ApiError::bad_request("can't parse allowed_updates JSON object"))?;
    Ok(Some(
        list.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
    ))
}

pub async fn get_updates(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let offset = p.i64("offset")?.unwrap_or(0);
    let limit = p.i64("limit")?.unwrap_or(100).clamp(1, 100) as usize;
    let timeout = Duration::from_secs(p.i64("timeout")?.unwrap_or(0).max(0) as u64)
        .min(state.options.max_poll_timeout);
    let allowed = allowed_updates(p)?;
    let deadline = Instant::now() + timeout;

    let (generation, mut wake) = {
        let mut world = state.world();
        let bot = world.bot_mut(token).ok_or_else(ApiError::unauthorized)?;
        if bot.webhook.is_some() {
            return Err(conflict_webhook());
        }
        if let Some(allowed) = allowed {
            bot.allowed_updates = Some(allowed);
        }
        confirm(bot, offset);
        // A newer call ends any long poll still waiting on this token.
        bot.poll_generation += 1;
        bot.wake_waiters();
        let found = batch(bot, limit);
        if !found.is_empty() || timeout.is_zero() {
            return Ok(Value::Array(found));
        }
        (bot.poll_generation, bot.subscribe())
    };

    let mut shutdown = state.shutdown_signal();
    loop {
        tokio::select! {
            changed = wake.changed() => {
                if changed.is_err() {
                    return Ok(json!([]));
                }
            }
            _ = tokio::time::sleep_until(deadline) => return Ok(json!([])),
            _ = shutdown.wait_for(|stopping| *stopping) => return Ok(json!([])),
        }
        let world = state.world();
        let bot = world.bot(token).ok_or_else(ApiError::unauthorized)?;
        if bot.poll_generation != generation {
            return Err(conflict_terminated());
        }
        if bot.webhook.is_some() {
            return Err(conflict_webhook());
        }
        let found = batch(bot, limit);
        if !found.is_empty() {
            return Ok(Value::Array(found));
        }
    }
}

/// Checks a webhook URL: HTTP(S) to a loopback host only, so nothing leaves the machine.
fn check_webhook_url(raw: &str) -> Result<String, ApiError> {
    let parsed = url::Url::parse(raw).map_err(|_| {
        ApiError::bad_request("bad webhook: Failed to resolve host: Name or service not known")
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ApiError::bad_request(
            "bad webhook: An HTTPS URL must be provided for webhook",
        ));
    }
    let loopback = match parsed.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if !loopback {
        return Err(ApiError::bad_request(
            "bad webhook: the sandbox delivers webhooks only to loopback hosts (127.0.0.1, ::1, localhost)",
        ));
    }
    Ok(parsed.to_string())
}

fn check_secret(secret: &str) -> Result<(), ApiError> {
    let allowed = secret
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if secret.len() > 256 || !allowed {
        return Err(ApiError::bad_request(
            "secret token contains unallowed characters",
        ));
    }
    Ok(())
}

pub fn set_webhook(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let raw_url = p.str("url").unwrap_or_default();
    if raw_url.trim().is_empty() {
        return delete_webhook(state, token, p);
    }
    let url = check_webhook_url(raw_url.trim())?;
    let secret_token = p.str("secret_token").filter(|s| !s.is_empty());
    if let Some(secret) = &secret_token {
        check_secret(secret)?;
    }
    let max_connections = p.i64("max_connections")?.unwrap_or(40);
    if !(1..=100).contains(&max_connections) {
        return Err(ApiError::bad_request("invalid max_connections specified"));
    }
    let allowed = allowed_updates(p)?;
    let epoch = {
        let mut world = state.world();
        let bot = world.bot_mut(token).ok_or_else(ApiError::unauthorized)?;
        if p.bool("drop_pending_updates") {
            bot.queue.clear();
        }
        if let Some(allowed) = allowed {
            bot.allowed_updates = Some(allowed);
        }
        bot.webhook_epoch += 1;
        bot.webhook = Some(Webhook {
            url,
            secret_token,
            max_connections: max_connections as u32,
            last_error_date: None,
            last_error_message: None,
            epoch: bot.webhook_epoch,
        });
        bot.wake_waiters();
        bot.webhook_epoch
    };
    tokio::spawn(webhook::deliver(state.clone(), token.to_string(), epoch));
    Ok(json!(true))
}

pub fn delete_webhook(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let mut world = state.world();
    let bot = world.bot_mut(token).ok_or_else(ApiError::unauthorized)?;
    if p.bool("drop_pending_updates") {
        bot.queue.clear();
    }
    if bot.webhook.take().is_some() {
        bot.webhook_epoch += 1;
        bot.wake_waiters();
    }
    Ok(json!(true))
}

pub fn get_webhook_info(state: &AppState, token: &str) -> ApiResult {
    let world = state.world();
    let bot = world.bot(token).ok_or_else(ApiError::unauthorized)?;
    let mut info = json!({
        "url": "",
        "has_custom_certificate": false,
        "pending_update_count": bot.queue.len(),
    });
    if let Some(hook) = &bot.webhook {
        info["url"] = json!(hook.url);
        info["max_connections"] = json!(hook.max_connections);
        info["ip_address"] = json!("127.0.0.1");
        if let Some(date) = hook.last_error_date {
            info["last_error_date"] = json!(date.min(now_unix()));
        }
        if let Some(message) = &hook.last_error_message {
            info["last_error_message"] = json!(message);
        }
        if let Some(allowed) = &bot.allowed_updates {
            info["allowed_updates"] = json!(allowed);
        }
    }
    Ok(info)
}
