//! Fake payment gateways: Zarinpal (v4) and NowPayments, served on loopback with the real
//! routes and answers, payments kept in memory, plus control routes under `/_sandbox/...`
//! through which tests and the demo play the buyer: pay, fail, replay callbacks, send IPNs
//! out of order or badly signed, pay a wrong amount.
//!
//! The fakes share no code with Madar's gateway clients (`shared::payment`): they are written
//! from the providers' documentation, so a test that passes says the client speaks the API.
//! Callbacks and IPNs are only ever sent to loopback URLs.

pub mod nowpayments;
pub mod zarinpal;

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("a fake gateway may only listen on a loopback address, not {0}")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// An error from a control client.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the fake gateway cannot be reached: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the fake gateway answered {status}: {message}")]
    Status { status: u16, message: String },
}

/// One callback or IPN the fake sent (or refused to send).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The full URL called (Zarinpal: with `Authority` and `Status` in the query).
    pub url: String,
    /// The HTTP status our server answered, when it answered.
    pub http_status: Option<u16>,
    /// Why nothing was delivered (not loopback, connection refused, timeout).
    pub error: Option<String>,
}

/// A running fake server.
pub(crate) struct Running {
    pub(crate) local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    pub(crate) async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
    }
}

/// Binds `addr` (loopback only; port 0 picks one).
pub(crate) async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, GatewayError> {
    if !addr.ip().is_loopback() {
        return Err(GatewayError::NotLoopback(addr));
    }
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| GatewayError::Bind { addr, source })
}

/// Serves `app` on `listener` until shut down.
pub(crate) fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    name: &'static str,
) -> Result<Running, GatewayError> {
    let local_addr = listener.local_addr().map_err(|source| GatewayError::Bind {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        source,
    })?;
    let (stop, mut stop_rx) = watch::channel(false);
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop_rx.wait_for(|stopped| *stopped).await;
        };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(%error, name, "fake gateway stopped");
        }
    });
    tracing::info!(%local_addr, name, "fake gateway listening");
    Ok(Running {
        local_addr,
        stop,
        server,
    })
}

/// True for http(s) URLs whose host is 127.0.0.0/8, ::1 or localhost.
pub(crate) fn is_loopback_url(raw: &str) -> bool {
    let Ok(url) = url::Url::parse(raw) else {
        return false;
    };
    if !matches!(url.scheme(), "http" | "https") {
        return false;
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

/// The client the fakes call our servers with: loopback only, no proxies, no redirects.
pub(crate) fn outbound_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default()
}

/// Sends one request to a loopback URL and records what happened.
pub(crate) async fn deliver(url: &str, request: reqwest::RequestBuilder) -> Delivery {
    if !is_loopback_url(url) {
        return Delivery {
            url: url.to_string(),
            http_status: None,
            error: Some("not sent: the fake gateways only call loopback URLs".into()),
        };
    }
    match request.send().await {
        Ok(response) => Delivery {
            url: url.to_string(),
            http_status: Some(response.status().as_u16()),
            error: None,
        },
        Err(e) => Delivery {
            url: url.to_string(),
            http_status: None,
            error: Some(e.to_string()),
        },
    }
}

/// A control route error: `{"error": "..."}` with a 4xx status.
#[derive(Debug)]
pub(crate) struct ControlFailure {
    status: StatusCode,
    message: String,
}

impl ControlFailure {
    pub(crate) fn not_found(message: impl Into<String>) -> ControlFailure {
        ControlFailure {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    pub(crate) fn conflict(message: impl Into<String>) -> ControlFailure {
        ControlFailure {
            status: StatusCode::CONFLICT,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ControlFailure {
        ControlFailure {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl IntoResponse for ControlFailure {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.message}))).into_response()
    }
}

/// A typed client's request: JSON in, JSON out, `{"error"}` turned into [`ControlError`].
pub(crate) async fn control_call<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
) -> Result<T, ControlError> {
    let response = request.send().await?;
    let status = response.status();
    if !status.is_success() {
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        return Err(ControlError::Status {
            status: status.as_u16(),
            message: body["error"].as_str().unwrap_or("").to_string(),
        });
    }
    Ok(response.json().await?)
}

/// A client for control routes (no proxies: the fakes are on loopback).
pub(crate) fn control_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

/// Escapes text for the tiny HTML pages.
pub(crate) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
