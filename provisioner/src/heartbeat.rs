//! The receiving side of tenant-bot heartbeats: `POST /internal/v1/heartbeat` with
//! `Authorization: Bearer <instance API key>` and a JSON [`Heartbeat`] body. The master mounts
//! this router in its HTTP server.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use shared::db::Db;

pub use crate::store::Heartbeat;

pub const PATH: &str = "/internal/v1/heartbeat";

pub fn router(db: Db) -> Router {
    Router::new().route(PATH, post(receive)).with_state(db)
}

async fn receive(
    State(db): State<Db>,
    headers: HeaderMap,
    Json(beat): Json<Heartbeat>,
) -> StatusCode {
    let Some(key) = bearer(&headers) else {
        return StatusCode::UNAUTHORIZED;
    };
    match crate::store::record_heartbeat(&db, key, &beat).await {
        Ok(true) => StatusCode::NO_CONTENT,
        Ok(false) => {
            tracing::warn!(tenant_id = %beat.tenant_id, "heartbeat with a key that is not this tenant's");
            StatusCode::UNAUTHORIZED
        }
        Err(e) => {
            tracing::error!(tenant_id = %beat.tenant_id, error = %e, "cannot record a heartbeat");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let key = value.strip_prefix("Bearer ")?.trim();
    (!key.is_empty()).then_some(key)
}
