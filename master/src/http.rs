//! The HTTP server: health and readiness for operators and orchestrators, and the Telegram
//! webhook when the master bot runs in webhook mode.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use shared::db::Db;
use shared::secret::SecretString;
use teloxide::types::Update;

use crate::bot::MasterBot;

/// Telegram's header carrying the webhook secret.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
pub const WEBHOOK_PATH: &str = "/telegram/webhook";

#[derive(Clone)]
pub struct HttpState {
    pub db: Db,
    /// Set once the master bot has identified itself to Telegram.
    pub telegram_ready: Arc<AtomicBool>,
    pub webhook: Option<Webhook>,
}

#[derive(Clone)]
pub struct Webhook {
    pub bot: MasterBot,
    pub secret: SecretString,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(WEBHOOK_PATH, post(webhook))
        .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Alive: the process answers.
async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

/// Ready: the database answers and the bot has reached Telegram.
async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    let database = state.db.ping().await.is_ok();
    let telegram = state.telegram_ready.load(Ordering::Relaxed);
    let status = if database && telegram {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    (
        status,
        Json(serde_json::json!({
            "status": word(database && telegram),
            "database": word(database),
            "telegram": word(telegram),
        })),
    )
}

/// Compares secrets in time that does not depend on where they differ.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn webhook(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let Some(webhook) = state.webhook else {
        return StatusCode::NOT_FOUND;
    };
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !same_secret(given, webhook.secret.expose().as_bytes()) {
        tracing::warn!("webhook call without the right secret refused");
        return StatusCode::UNAUTHORIZED;
    }
    let update: Update = match serde_json::from_slice(&body) {
        Ok(update) => update,
        Err(e) => {
            // Telegram would retry a failure forever; a body we cannot read is dropped and logged.
            tracing::warn!(error = %e, "webhook body is not an update");
            return StatusCode::OK;
        }
    };
    let id = update.id.0;
    match webhook.bot.handle(update).await {
        Ok(()) => StatusCode::OK,
        Err(e) => {
            // A failure (database down, Telegram unreachable) asks Telegram to deliver again.
            tracing::error!(update_id = id, error = %e, "webhook update failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_compare_whole() {
        assert!(super::same_secret(b"abc", b"abc"));
        assert!(!super::same_secret(b"abd", b"abc"));
        assert!(!super::same_secret(b"ab", b"abc"));
        assert!(!super::same_secret(b"", b"abc"));
    }
}
