//! A typed client of a fake panel's `/_sandbox/...` control routes, for tests and benchmarks.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::common::{FailRule, FakeAccount, SeedRequest};

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("fake panel control request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("fake panel control answered {status}: {message}")]
    Status { status: u16, message: String },
}

/// Talks to one fake panel's control routes.
#[derive(Debug, Clone)]
pub struct PanelControl {
    root: String,
    http: reqwest::Client,
}

impl PanelControl {
    /// `root` is the fake's root URL (for 3x-UI, not its base path), e.g. `http://127.0.0.1:4000/`.
    pub fn new(root: &str) -> PanelControl {
        PanelControl {
            root: root.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap_or_else(|_| reqwest::Client::new()),
        }
    }

    async fn post(
        &self,
        route: &str,
        body: &impl Serialize,
    ) -> Result<serde_json::Value, ControlError> {
        let response = self
            .http
            .post(format!("{}/_sandbox/{route}", self.root))
            .json(body)
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(ControlError::Status {
                status: status.as_u16(),
                message: response.text().await.unwrap_or_default(),
            });
        }
        Ok(response.json().await?)
    }

    /// Adds `bytes` of used traffic to an account and marks it online.
    pub async fn add_traffic(&self, username: &str, bytes: u64) -> Result<(), ControlError> {
        self.post("traffic", &json!({ "username": username, "bytes": bytes }))
            .await
            .map(drop)
    }

    /// Takes the panel down (every panel call answers 503) or brings it back.
    pub async fn set_down(&self, down: bool) -> Result<(), ControlError> {
        self.post("down", &json!({ "down": down })).await.map(drop)
    }

    /// Delays every panel call by `delay` (zero: no delay).
    pub async fn set_delay(&self, delay: Duration) -> Result<(), ControlError> {
        let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.post("slow", &json!({ "delay_ms": delay_ms }))
            .await
            .map(drop)
    }

    /// Makes the next `count` calls of `path` (full path, e.g. `/api/user`; and `method`,
    /// when given) answer `status`.
    pub async fn fail_next(
        &self,
        method: Option<&str>,
        path: &str,
        status: u16,
        count: u32,
    ) -> Result<(), ControlError> {
        let rule = FailRule {
            path: path.to_string(),
            method: method.map(str::to_string),
            status,
            count,
        };
        self.post("fail", &rule).await.map(drop)
    }

    /// Every account the panel holds, in its own units.
    pub async fn accounts(&self) -> Result<Vec<FakeAccount>, ControlError> {
        let response = self
            .http
            .get(format!("{}/_sandbox/accounts", self.root))
            .send()
            .await?;
        Ok(response.error_for_status()?.json().await?)
    }

    /// Invalidates every token or session, as token expiry or a panel restart would.
    pub async fn expire_sessions(&self) -> Result<(), ControlError> {
        self.post("expire-sessions", &json!({})).await.map(drop)
    }

    /// Creates `count` accounts named `{prefix}{n}` directly in the panel's store.
    pub async fn seed(&self, request: &SeedRequest) -> Result<u32, ControlError> {
        let reply = self.post("seed", request).await?;
        Ok(reply
            .get("created")
            .and_then(serde_json::Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or_default())
    }
}
