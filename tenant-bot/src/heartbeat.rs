//! Tells the master, on a timer, that this bot is alive and what it has done.

use std::time::Duration;

use serde::Serialize;
use shared::secret::SecretString;
use tokio_util::sync::CancellationToken;

use crate::handler::TenantBot;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Heartbeat {
    pub tenant_id: String,
    pub version: String,
    pub bot_username: String,
    pub started_at: i64,
    pub updates_handled: u64,
    pub end_users: Option<i64>,
}

pub struct HeartbeatSender {
    pub client: reqwest::Client,
    pub url: url::Url,
    pub api_key: SecretString,
    pub every: Duration,
}

impl HeartbeatSender {
    pub fn new(master_url: &url::Url, api_key: SecretString, every: Duration) -> HeartbeatSender {
        let mut url = master_url.clone();
        url.set_path("/internal/v1/heartbeat");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        HeartbeatSender {
            client,
            url,
            api_key,
            every,
        }
    }

    /// Sends one heartbeat; failures are logged, never fatal: the master may be restarting.
    pub async fn send(&self, beat: &Heartbeat) -> bool {
        let result = self
            .client
            .post(self.url.clone())
            .bearer_auth(self.api_key.expose())
            .json(beat)
            .send()
            .await;
        match result {
            Ok(response) if response.status().is_success() => true,
            Ok(response) => {
                tracing::warn!(status = %response.status(), "the master refused a heartbeat");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "heartbeat not delivered");
                false
            }
        }
    }

    /// Beats at once, then every `every`, until `shutdown`.
    pub async fn run(self, template: Heartbeat, bot: TenantBot, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let beat = Heartbeat {
                updates_handled: bot.updates_handled(),
                end_users: bot.end_users().await,
                ..template.clone()
            };
            self.send(&beat).await;
        }
    }
}
