//! What a tenant bot asks the master about itself: `GET /internal/v1/config` with its own API
//! key (the one its heartbeats carry). The answer is its owner, channel, package limits and
//! panels with their passwords, so only the instance holding the key may read it.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use provisioner::store;
use shared::db::Db;
use shared::panel::PanelKind;
use shared::secret::Keyring;
use shared::tenant_link::{LinkedPanel, TenantLimits, TenantLinkConfig, CONFIG_PATH};

use crate::billing::subscriptions;
use crate::{Error, Result};

/// The configuration of the tenant whose instance holds `api_key`; `None` when no instance
/// does. Paused and deleted tenants still get theirs: the bot may be shutting down.
/// `public_url` is the master's public address, for the tenant's IPN address.
pub async fn config_for_key(
    db: &Db,
    keyring: &Keyring,
    api_key: &str,
    public_url: Option<&url::Url>,
) -> Result<Option<TenantLinkConfig>> {
    let tenant_id = store::tenant_of_api_key(db, api_key)
        .await
        .map_err(|e| Error::Provisioner(e.to_string()))?;
    let Some(tenant_id) = tenant_id else {
        return Ok(None);
    };
    config_of(db, keyring, &tenant_id, public_url)
        .await
        .map(Some)
}

/// The configuration of one tenant, passwords decrypted.
pub async fn config_of(
    db: &Db,
    keyring: &Keyring,
    tenant_id: &str,
    public_url: Option<&url::Url>,
) -> Result<TenantLinkConfig> {
    let tenant = super::get(db, tenant_id)
        .await?
        .ok_or_else(|| Error::Corrupt(format!("instance of tenant {tenant_id} has no tenant")))?;
    let subscription = subscriptions::get(db, &tenant.subscription_id)
        .await?
        .ok_or_else(|| {
            Error::Corrupt(format!(
                "tenant {tenant_id} has no subscription {}",
                tenant.subscription_id
            ))
        })?;
    let mut panels = Vec::new();
    for panel in super::panels(db, tenant_id).await? {
        panels.push(LinkedPanel {
            kind: parse_kind(&panel.kind)?,
            password: panel.password(keyring)?,
            id: panel.id,
            url: panel.url,
            username: panel.username,
        });
    }
    Ok(TenantLinkConfig {
        nowpayments_ipn_url: public_url
            .map(|url| super::inbox::nowpayments_ipn_url(url, &tenant.id)),
        tenant_id: tenant.id,
        owner_telegram_id: tenant.admin_telegram_id,
        channel: tenant.channel,
        limits: TenantLimits {
            max_end_users: subscription.terms.max_end_users,
            max_panels: subscription.terms.max_panels,
        },
        panels,
    })
}

fn parse_kind(kind: &str) -> Result<PanelKind> {
    match kind {
        "marzban" => Ok(PanelKind::Marzban),
        "xui" => Ok(PanelKind::Xui),
        other => Err(Error::Corrupt(format!("panel kind {other:?}"))),
    }
}

#[derive(Clone)]
struct LinkState {
    db: Db,
    /// `None` when the master has no secret keys (then it runs no tenant bots either).
    keyring: Option<Keyring>,
    /// Where gateways reach this master; `None` = nowhere, so no IPN address to give.
    public_url: Option<url::Url>,
}

pub fn router(db: Db, keyring: Option<Keyring>, public_url: Option<url::Url>) -> Router {
    Router::new()
        .route(CONFIG_PATH, get(config))
        .with_state(LinkState {
            db,
            keyring,
            public_url,
        })
}

/// 200 with the JSON; 401 with no body for a missing or unknown key; 503 when the master
/// cannot answer now (the bot asks again later).
async fn config(State(state): State<LinkState>, headers: HeaderMap) -> Response {
    let Some(key) = bearer(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Some(keyring) = &state.keyring else {
        tracing::error!("a tenant bot asked for its configuration, but no secret keys are set");
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    match config_for_key(&state.db, keyring, key, state.public_url.as_ref()).await {
        Ok(Some(config)) => Json(config).into_response(),
        Ok(None) => {
            tracing::warn!("configuration asked with a key no instance holds");
            StatusCode::UNAUTHORIZED.into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot build a tenant bot's configuration");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let key = value.strip_prefix("Bearer ")?.trim();
    (!key.is_empty()).then_some(key)
}
