//! The tenant bot's timers: resume unfinished orders, clean up after refunds, check panel
//! health, sync usage and send reminders. Each job is safe to run twice and to interrupt:
//! the state it works from is in the database.

use std::sync::Arc;
use std::time::Duration;

use shared::clock::Clock;
use shared::db::Db;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use shared::secret::Keyring;

use crate::fulfil::Fulfilment;
use crate::panels::{health, Registry};
use crate::payments::{self, Confirmed, GatewayUrls};
use crate::usage;

/// How often each job runs.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Unfinished orders and clean-ups (also right at start-up).
    pub orders_every: Duration,
    pub health_every: Duration,
    /// Usage sync, followed by the reminders.
    pub usage_every: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            orders_every: Duration::from_secs(15),
            health_every: Duration::from_secs(60),
            usage_every: Duration::from_secs(600),
        }
    }
}

pub struct Jobs {
    pub db: Db,
    pub registry: Registry,
    pub fulfilment: Fulfilment,
    pub clock: Arc<dyn Clock>,
    pub schedule: Schedule,
    /// Woken after jobs store notices, so the sender does not wait for its own timer.
    pub notices_ready: Arc<Notify>,
    /// For the payment gateways, built from the tenant's setup at each run.
    pub keyring: Keyring,
    pub gateway_urls: GatewayUrls,
}

impl Jobs {
    /// Runs until `shutdown`. A failing job is logged and tried again next time.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut orders = tokio::time::interval(self.schedule.orders_every);
        let mut health = tokio::time::interval(self.schedule.health_every);
        let mut usage = tokio::time::interval(self.schedule.usage_every);
        for timer in [&mut orders, &mut health, &mut usage] {
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = orders.tick() => {
                    self.payments().await;
                    self.orders().await;
                }
                _ = health.tick() => self.health().await,
                _ = usage.tick() => self.usage().await,
            }
            self.notices_ready.notify_one();
        }
    }

    pub async fn orders(&self) {
        match self.fulfilment.resume_due().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(orders = n, "resumed unfinished orders"),
            Err(e) => tracing::error!(error = %e, "cannot resume orders"),
        }
        if let Err(e) = self.fulfilment.clean_up().await {
            tracing::error!(error = %e, "cannot clean up after refunded orders");
        }
    }

    /// Pending gateway payments and receipts due for auto-approval; the orders they pay are
    /// fulfilled at once.
    pub async fn payments(&self) {
        let gateways =
            match payments::load_gateways(&self.db, &self.keyring, &self.gateway_urls).await {
                Ok(gateways) => gateways,
                Err(e) => {
                    tracing::error!(error = %e, "the payment setup cannot be read");
                    return;
                }
            };
        let now = self.clock.now();
        let mut confirmed: Vec<Confirmed> = Vec::new();
        match payments::poll_pending(&self.db, &gateways, now).await {
            Ok(list) => confirmed.extend(list),
            Err(e) => tracing::error!(error = %e, "cannot check pending payments"),
        }
        match payments::auto_approve_due(&self.db, &gateways, now).await {
            Ok(list) => confirmed.extend(list),
            Err(e) => tracing::error!(error = %e, "cannot auto-approve receipts"),
        }
        for payment in &confirmed {
            if let Some(order_id) = payment.order_to_fulfil() {
                if let Err(e) = self.fulfilment.advance(order_id).await {
                    tracing::error!(order = %order_id, error = %e, "cannot fulfil a paid order");
                }
            }
        }
    }

    pub async fn health(&self) {
        if let Err(e) = health::check_all(&self.db, &self.registry, self.clock.now()).await {
            tracing::error!(error = %e, "cannot check the panels' health");
        }
    }

    pub async fn usage(&self) {
        match usage::sync_all(&self.db, &self.registry, self.clock.now()).await {
            Ok(report) => tracing::debug!(?report, "usage synced"),
            Err(e) => tracing::error!(error = %e, "cannot sync usage"),
        }
        if let Err(e) = usage::remind(&self.db, self.clock.now()).await {
            tracing::error!(error = %e, "cannot send reminders");
        }
    }
}
