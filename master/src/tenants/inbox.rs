//! Each tenant's inbox at the master. Tenant bots have no public address, but NowPayments only
//! tells about a payment by POSTing an IPN to one. So the master takes the IPN at
//! `/ipn/nowpayments/{tenant_id}`, keeps the body and signature exactly as received, and the
//! tenant's bot fetches them over the internal API with its own key and acks what it handled.
//!
//! The master does not check the signature: only the tenant's bot knows its IPN secret. A
//! flood cannot fill the disk: a tenant has at most [`MAX_PENDING`] undelivered items (more are
//! refused, and the gateway sends them again later), bodies are at most [`MAX_BODY_BYTES`], and
//! delivered items are purged after [`KEEP_DELIVERED`].

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use provisioner::store;
use shared::clock::{Clock, DAY};
use shared::db::{new_id, Db, RowExt};
use shared::tenant_link::{
    Inbox, InboxAck, InboxAcked, InboxItem, InboxKind, INBOX_ACK_PATH, INBOX_PAGE, INBOX_PATH,
};

use super::internal_api::bearer;
use crate::{Error, Result};

/// The public route NowPayments posts a tenant's IPNs to.
pub const NOWPAYMENTS_IPN_ROUTE: &str = "/ipn/nowpayments/{tenant_id}";
/// The largest body kept; NowPayments' IPNs are about 1 KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Undelivered items kept per tenant; more are refused until the bot catches up.
pub const MAX_PENDING: i64 = 1_000;
/// How long a delivered item is kept (to look into a payment), in seconds.
pub const KEEP_DELIVERED: i64 = 7 * DAY;

/// Where NowPayments should post `tenant_id`'s IPNs, on the master's public address.
pub fn nowpayments_ipn_url(public_url: &url::Url, tenant_id: &str) -> String {
    let mut url = public_url.clone();
    url.set_path(&NOWPAYMENTS_IPN_ROUTE.replace("{tenant_id}", tenant_id));
    url.set_query(None);
    url.to_string()
}

/// What became of a received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Kept for the bot, under this id.
    Stored(String),
    /// No tenant has this id.
    UnknownTenant,
    /// The tenant already has [`MAX_PENDING`] undelivered items.
    Full,
}

/// Keeps a message for `tenant_id`'s bot, as received.
pub async fn receive(
    db: &Db,
    tenant_id: &str,
    kind: InboxKind,
    body: &str,
    signature: Option<&str>,
    now: i64,
) -> Result<Received> {
    let known: Option<String> = sqlx::query_scalar("SELECT id FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_optional(db.pool())
        .await?;
    if known.is_none() {
        return Ok(Received::UnknownTenant);
    }
    // Two messages arriving together may both pass; the cap only has to bound the table.
    if pending_count(db, tenant_id).await? >= MAX_PENDING {
        return Ok(Received::Full);
    }
    let id = new_id();
    sqlx::query(
        "INSERT INTO tenant_inbox (id, tenant_id, kind, body, signature, received_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(tenant_id)
    .bind(kind.as_str())
    .bind(body)
    .bind(signature)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(Received::Stored(id))
}

/// How many items wait for `tenant_id`'s bot.
pub async fn pending_count(db: &Db, tenant_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM tenant_inbox WHERE tenant_id = $1 AND delivered_at IS NULL",
    )
    .bind(tenant_id)
    .fetch_one(db.pool())
    .await?)
}

/// Up to `limit` undelivered items of `tenant_id`, oldest first.
pub async fn pending(db: &Db, tenant_id: &str, limit: usize) -> Result<Vec<InboxItem>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = sqlx::query(
        "SELECT id, kind, body, signature, received_at FROM tenant_inbox
         WHERE tenant_id = $1 AND delivered_at IS NULL
         ORDER BY received_at, id LIMIT $2",
    )
    .bind(tenant_id)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(item_from_row).collect()
}

fn item_from_row(row: &shared::db::Row) -> Result<InboxItem> {
    let kind: String = row.try_get("kind")?;
    let kind = match kind.as_str() {
        "nowpayments" => InboxKind::NowPayments,
        other => return Err(Error::Corrupt(format!("inbox item kind {other:?}"))),
    };
    Ok(InboxItem {
        id: row.try_get("id")?,
        kind,
        body: row.try_get("body")?,
        signature: row.try_get("signature")?,
        received_at: row.try_get("received_at")?,
    })
}

/// Marks `ids` delivered, only among `tenant_id`'s own items, and purges the tenant's items
/// delivered more than [`KEEP_DELIVERED`] ago. Returns how many were marked now.
pub async fn ack(db: &Db, tenant_id: &str, ids: &[String], now: i64) -> Result<u64> {
    let mut acked = 0;
    for id in ids {
        let done = sqlx::query(
            "UPDATE tenant_inbox SET delivered_at = $3
             WHERE id = $1 AND tenant_id = $2 AND delivered_at IS NULL",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(now)
        .execute(db.pool())
        .await?;
        acked += done.rows_affected();
    }
    sqlx::query("DELETE FROM tenant_inbox WHERE tenant_id = $1 AND delivered_at < $2")
        .bind(tenant_id)
        .bind(now - KEEP_DELIVERED)
        .execute(db.pool())
        .await?;
    Ok(acked)
}

#[derive(Clone)]
struct InboxState {
    db: Db,
    clock: Arc<dyn Clock>,
}

/// The public IPN route and the bots' internal inbox routes.
pub fn router(db: Db, clock: Arc<dyn Clock>) -> Router {
    Router::new()
        .route(
            NOWPAYMENTS_IPN_ROUTE,
            post(nowpayments_ipn).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .route(INBOX_PATH, get(fetch))
        .route(INBOX_ACK_PATH, post(acknowledge))
        .with_state(InboxState { db, clock })
}

/// 200 once stored; 404 for an unknown tenant; 400 for a body that is not text; 413 (by the
/// body limit) for one too large; 503 when full or failing, so NowPayments sends it again.
async fn nowpayments_ipn(
    State(state): State<InboxState>,
    Path(tenant_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let Ok(body) = std::str::from_utf8(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let signature = headers
        .get(shared::payment::nowpayments::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let now = state.clock.now();
    match receive(
        &state.db,
        &tenant_id,
        InboxKind::NowPayments,
        body,
        signature,
        now,
    )
    .await
    {
        Ok(Received::Stored(_)) => StatusCode::OK,
        Ok(Received::UnknownTenant) => StatusCode::NOT_FOUND,
        Ok(Received::Full) => {
            tracing::warn!(tenant = %tenant_id, "a tenant's inbox is full; an IPN was refused");
            StatusCode::SERVICE_UNAVAILABLE
        }
        Err(e) => {
            tracing::error!(tenant = %tenant_id, error = %e, "cannot keep a NowPayments IPN");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

/// The tenant whose bot holds the request's API key, or the answer to give instead.
async fn asker(db: &Db, headers: &HeaderMap) -> std::result::Result<String, Response> {
    let Some(key) = bearer(headers) else {
        return Err(StatusCode::UNAUTHORIZED.into_response());
    };
    match store::tenant_of_api_key(db, key).await {
        Ok(Some(tenant_id)) => Ok(tenant_id),
        Ok(None) => {
            tracing::warn!("inbox asked with a key no instance holds");
            Err(StatusCode::UNAUTHORIZED.into_response())
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot look up a tenant bot's key");
            Err(StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
    }
}

async fn fetch(State(state): State<InboxState>, headers: HeaderMap) -> Response {
    let tenant_id = match asker(&state.db, &headers).await {
        Ok(tenant_id) => tenant_id,
        Err(refused) => return refused,
    };
    match pending(&state.db, &tenant_id, INBOX_PAGE).await {
        Ok(items) => Json(Inbox { items }).into_response(),
        Err(e) => {
            tracing::error!(tenant = %tenant_id, error = %e, "cannot read a tenant's inbox");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// 200 with how many were marked; 400 for more ids than one page.
async fn acknowledge(
    State(state): State<InboxState>,
    headers: HeaderMap,
    Json(request): Json<InboxAck>,
) -> Response {
    let tenant_id = match asker(&state.db, &headers).await {
        Ok(tenant_id) => tenant_id,
        Err(refused) => return refused,
    };
    if request.ids.len() > INBOX_PAGE {
        return (
            StatusCode::BAD_REQUEST,
            format!("ack at most {INBOX_PAGE} items at a time"),
        )
            .into_response();
    }
    match ack(&state.db, &tenant_id, &request.ids, state.clock.now()).await {
        Ok(acked) => Json(InboxAcked { acked }).into_response(),
        Err(e) => {
            tracing::error!(tenant = %tenant_id, error = %e, "cannot ack a tenant's inbox");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ipn_url_is_on_the_public_address() {
        let public = url::Url::parse("https://madar.example.com/").unwrap();
        assert_eq!(
            nowpayments_ipn_url(&public, "0193abc"),
            "https://madar.example.com/ipn/nowpayments/0193abc"
        );
    }
}
