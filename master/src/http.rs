//! The HTTP server: health and readiness for operators and orchestrators, the Telegram
//! webhook when the master bot runs in webhook mode, and tenant bots' internal API.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use shared::db::Db;
use shared::secret::{Keyring, SecretString};
use teloxide::types::Update;

use crate::bot::MasterBot;
use crate::checkout::{self, CallbackResult, Gateways};
use shared::clock::Clock;

/// Telegram's header carrying the webhook secret.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
pub const WEBHOOK_PATH: &str = "/telegram/webhook";

#[derive(Clone)]
pub struct HttpState {
    pub db: Db,
    pub gateways: Arc<Gateways>,
    pub clock: Arc<dyn Clock>,
    /// Set once the master bot has identified itself to Telegram.
    pub telegram_ready: Arc<AtomicBool>,
    pub webhook: Option<Webhook>,
    /// Decrypts tenants' panel passwords for their bots; `None` when no secret keys are set.
    pub keyring: Option<Keyring>,
}

#[derive(Clone)]
pub struct Webhook {
    pub bot: MasterBot,
    pub secret: SecretString,
}

pub fn router(state: HttpState) -> Router {
    let heartbeats = provisioner::heartbeat::router(state.db.clone());
    let public_url = Some(state.gateways.public_url.clone());
    let tenant_link =
        crate::tenants::internal_api::router(state.db.clone(), state.keyring.clone(), public_url);
    let inbox = crate::tenants::inbox::router(state.db.clone(), state.clock.clone());
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(WEBHOOK_PATH, post(webhook))
        .route(checkout::ZARINPAL_CALLBACK_PATH, get(zarinpal_callback))
        .route(checkout::NOWPAYMENTS_IPN_PATH, post(nowpayments_ipn))
        .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
        .merge(heartbeats)
        .merge(tenant_link)
        .merge(inbox)
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

/// The buyer's browser returns from Zarinpal: verify, apply once, and say what happened.
async fn zarinpal_callback(
    State(state): State<HttpState>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> impl IntoResponse {
    let query = query.unwrap_or_default();
    let result =
        checkout::zarinpal_callback(&state.db, &state.gateways, state.clock.now(), &query).await;
    let (status, result) = match result {
        Ok(result) => (StatusCode::OK, result),
        Err(e) => {
            tracing::error!(error = %e, "Zarinpal callback failed");
            (StatusCode::SERVICE_UNAVAILABLE, CallbackResult::Pending)
        }
    };
    (status, axum::response::Html(payment_page(&result)))
}

/// NowPayments notifies a payment's progress. A refused signature gets 401; a failure on our
/// side 503, so NowPayments sends it again.
async fn nowpayments_ipn(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let signature = headers
        .get(shared::payment::nowpayments::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    match checkout::nowpayments_ipn(
        &state.db,
        &state.gateways,
        state.clock.now(),
        &body,
        signature,
    )
    .await
    {
        Ok(Some(_)) => StatusCode::OK,
        Ok(None) => StatusCode::UNAUTHORIZED,
        Err(e) => {
            tracing::error!(error = %e, "NowPayments IPN failed");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

/// A small bilingual page for the browser that comes back from a gateway.
fn payment_page(result: &CallbackResult) -> String {
    let (fa, en) = match result {
        CallbackResult::Paid | CallbackResult::AlreadyPaid => (
            "پرداخت شما انجام شد. به ربات برگردید.",
            "Your payment is done. Go back to the bot.",
        ),
        CallbackResult::Failed => (
            "پرداخت انجام نشد. در ربات دوباره امتحان کنید.",
            "The payment did not go through. Try again in the bot.",
        ),
        CallbackResult::Mismatch => (
            "مبلغ پرداخت با صورتحساب یکی نیست؛ پشتیبانی بررسی می‌کند.",
            "The amount paid does not match the invoice; support will look into it.",
        ),
        CallbackResult::Pending | CallbackResult::Unknown => (
            "پرداخت هنوز تأیید نشده است؛ نتیجه در ربات اعلام می‌شود.",
            "The payment is not confirmed yet; the bot will tell you the result.",
        ),
    };
    format!(
        "<!doctype html><html lang=\"fa\" dir=\"rtl\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Madar</title></head>\
         <body style=\"font-family:sans-serif;max-width:32rem;margin:4rem auto;text-align:center\">\
         <p>{fa}</p><p dir=\"ltr\">{en}</p></body></html>"
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
