//! Gateway notifications that reach this bot through the master. The bot has no public
//! address, so NowPayments posts its IPNs to the master, which keeps them in this tenant's
//! inbox as received. Every few seconds the bot fetches the inbox with its API key, applies
//! each IPN exactly as if NowPayments had posted it here (the signature is checked here, with
//! the tenant's IPN secret), fulfils the orders they paid, and acks them.
//!
//! What is acked: everything handled, and IPNs that can never be applied (a bad signature, a
//! body that is not an IPN): they are logged. What is not: items that failed on our side (the
//! database), so they come again next time; applying an IPN twice changes nothing.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shared::clock::Clock;
use shared::db::Db;
use shared::payment::PaymentError;
use shared::secret::{Keyring, SecretString};
use shared::tenant_link::{
    Inbox, InboxAck, InboxAcked, InboxItem, InboxKind, INBOX_ACK_PATH, INBOX_PATH,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::fulfil::Fulfilment;
use crate::master_api::MasterApi;
use crate::payments::{self, Confirmed, GatewayUrls, Gateways, Outcome};
use crate::settings::{self, Setting};
use crate::{Error, Result};

/// How often the inbox is fetched.
pub const EVERY: Duration = Duration::from_secs(10);

/// Where gateways reach this bot through the master, as the master last said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Relay {
    pub nowpayments_ipn_url: Option<String>,
}

impl Setting for Relay {
    const NAME: &'static str = "master_relay";
}

impl Relay {
    /// `urls` with the master's addresses where it gives one.
    pub fn apply_to(&self, urls: &GatewayUrls) -> GatewayUrls {
        let mut urls = urls.clone();
        if let Some(url) = &self.nowpayments_ipn_url {
            urls.nowpayments_ipn = Some(url.clone());
        }
        urls
    }
}

/// Stores the master's IPN address when it changed. Returns whether it did.
pub async fn remember_relay(db: &Db, nowpayments_ipn_url: Option<&str>, now: i64) -> Result<bool> {
    let relay = Relay {
        nowpayments_ipn_url: nowpayments_ipn_url.map(str::to_string),
    };
    if settings::get::<Relay>(db).await? == relay {
        return Ok(false);
    }
    settings::set(db, &relay, now).await?;
    Ok(true)
}

/// The master's inbox routes, asked with this bot's API key.
pub struct MasterInbox {
    api: MasterApi,
}

impl MasterInbox {
    pub fn new(master_url: &url::Url, api_key: SecretString) -> MasterInbox {
        MasterInbox {
            api: MasterApi::new(master_url, api_key),
        }
    }

    /// The undelivered items, oldest first.
    pub async fn fetch(&self) -> Result<Vec<InboxItem>> {
        let inbox: Inbox = self.api.get(INBOX_PATH, "the inbox").await?;
        Ok(inbox.items)
    }

    /// Marks `ids` delivered; returns how many the master marked now.
    pub async fn ack(&self, ids: &[String]) -> Result<u64> {
        let body = InboxAck { ids: ids.to_vec() };
        let acked: InboxAcked = self
            .api
            .post(INBOX_ACK_PATH, &body, "the inbox ack")
            .await?;
        Ok(acked.acked)
    }
}

/// What handling a batch of items did.
#[derive(Debug, Default)]
pub struct Handled {
    /// Items done with (applied, or never applicable): to ack.
    pub done: Vec<String>,
    /// Payments credited now; their orders are to fulfil.
    pub confirmed: Vec<Confirmed>,
    /// Items refused for good (a bad signature...), among `done`.
    pub refused: usize,
    /// Items left for next time (a failure on our side, or a kind this build does not know).
    pub left: usize,
}

/// Applies each item as its gateway's notification. Never stops at one item's failure.
pub async fn handle(db: &Db, gateways: &Gateways, items: &[InboxItem], now: i64) -> Handled {
    let mut handled = Handled::default();
    for item in items {
        if item.kind != InboxKind::NowPayments {
            // A newer master's kind: left in the inbox for a newer bot.
            tracing::warn!(item = %item.id, "inbox item of an unknown kind left as it is");
            handled.left += 1;
            continue;
        }
        let signature = item.signature.as_deref();
        match payments::nowpayments_ipn(db, gateways, item.body.as_bytes(), signature, now).await {
            Ok(outcome) => {
                match outcome {
                    Outcome::Credited(confirmed) => handled.confirmed.push(confirmed),
                    // No payment of this bot, or NowPayments is not set up any more.
                    Outcome::Unknown => {
                        tracing::warn!(item = %item.id, "NowPayments IPN for no payment dropped");
                    }
                    _ => {}
                }
                handled.done.push(item.id.clone());
            }
            Err(Error::Payment(error)) if never_applies(&error) => {
                tracing::warn!(item = %item.id, %error, "a NowPayments IPN was refused; dropped");
                handled.refused += 1;
                handled.done.push(item.id.clone());
            }
            Err(error) => {
                tracing::error!(item = %item.id, %error, "NowPayments IPN not applied; next time");
                handled.left += 1;
            }
        }
    }
    handled
}

/// An IPN refused for what it is (signature, content), which no retry changes.
fn never_applies(error: &PaymentError) -> bool {
    !matches!(error, PaymentError::Unreachable { .. })
}

/// What one pull did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PullReport {
    pub fetched: usize,
    pub credited: usize,
    pub refused: usize,
    pub acked: usize,
    pub left: usize,
}

/// Fetches the inbox, applies it and acks: the inbox's worker.
pub struct InboxPuller {
    pub inbox: MasterInbox,
    pub db: Db,
    pub keyring: Keyring,
    pub gateway_urls: GatewayUrls,
    pub fulfilment: Fulfilment,
    pub clock: Arc<dyn Clock>,
    /// Woken when payments were credited, so their notices go out at once.
    pub notices_ready: Arc<Notify>,
}

impl InboxPuller {
    /// One round: fetch, apply, fulfil paid orders, ack.
    pub async fn pull_once(&self) -> Result<PullReport> {
        let items = self.inbox.fetch().await?;
        if items.is_empty() {
            return Ok(PullReport::default());
        }
        let gateways = payments::load_gateways(&self.db, &self.keyring, &self.gateway_urls).await?;
        let handled = handle(&self.db, &gateways, &items, self.clock.now()).await;
        for payment in &handled.confirmed {
            if let Some(order_id) = payment.order_to_fulfil() {
                // The order timer resumes it if this fails.
                if let Err(e) = self.fulfilment.advance(order_id).await {
                    tracing::error!(order = %order_id, error = %e, "cannot fulfil a paid order");
                }
            }
        }
        if !handled.confirmed.is_empty() {
            self.notices_ready.notify_one();
        }
        if !handled.done.is_empty() {
            self.inbox.ack(&handled.done).await?;
        }
        Ok(PullReport {
            fetched: items.len(),
            credited: handled.confirmed.len(),
            refused: handled.refused,
            acked: handled.done.len(),
            left: handled.left,
        })
    }

    /// Pulls every `every` until `shutdown`. Failures are logged and tried again next time.
    pub async fn run(self, every: Duration, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let result = tokio::select! {
                _ = shutdown.cancelled() => return,
                result = self.pull_once() => result,
            };
            match result {
                Ok(report) if report.fetched > 0 => {
                    tracing::info!(?report, "inbox from the master handled");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "inbox from the master not handled"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_masters_ipn_address_wins_when_it_gives_one() {
        let urls = GatewayUrls::production("shop_bot");
        assert_eq!(Relay::default().apply_to(&urls), urls);
        let relay = Relay {
            nowpayments_ipn_url: Some("https://madar.example.com/ipn/nowpayments/t1".into()),
        };
        assert_eq!(
            relay.apply_to(&urls).nowpayments_ipn.as_deref(),
            Some("https://madar.example.com/ipn/nowpayments/t1")
        );
    }
}
