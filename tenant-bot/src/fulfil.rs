//! Moves paid orders to delivered, or refunds them: the worker behind "never lose an order".
//!
//! - An order is worked on by one worker at a time (a lease in the row), so the inline call
//!   after a payment and the timer never race.
//! - Before the first panel call the order's panel and targets are written down; every retry
//!   acts on the same account (its name comes from the order) and first looks at what the
//!   panel already has, so nothing is created, extended or topped up twice.
//! - Transient panel errors and timeouts are retried with backoff. After the last try, an
//!   account that exists after all is delivered; otherwise the money goes back to the wallet,
//!   the user is told and the admins are alerted. When the panel could not even be asked, the
//!   order is marked for cleanup so an account made in the dark is deleted later.

use std::sync::Arc;

use shared::clock::{Clock, DAY};
use shared::db::Db;
use shared::panel::{Account, NewAccount, Panel, PanelError, PanelFlavor, Username};

use crate::notices::{self, Notice};
use crate::orders::{self, Kind, Order, State};
use crate::panels::placement::{self, Want};
use crate::panels::Registry;
use crate::services::{self, NewService};
use crate::settings::{self, Delivery};
use crate::wallet::{self, Reason};
use crate::{Error, Result};

/// How long one worker holds an order: longer than the slowest panel call with its retries.
const LEASE_SECONDS: i64 = 120;
/// The panel's clock and ours differ a little; an expiry this close to the target is applied.
const EXPIRY_SLACK_SECONDS: i64 = 300;

/// What one [`Fulfilment::advance`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Delivered {
        service_id: String,
    },
    /// A try failed; the next one is due at this time.
    WillRetry {
        at: i64,
        error: String,
    },
    Refunded {
        error: String,
    },
    /// Nothing to do: the order is finished, not paid, or another worker holds it.
    Idle,
}

#[derive(Clone)]
pub struct Fulfilment {
    db: Db,
    registry: Registry,
    clock: Arc<dyn Clock>,
}

/// Why a try failed, and whether another may succeed.
struct Failure {
    error: String,
    transient: bool,
    /// The panel answered (so we know whether the account exists).
    panel_answered: bool,
}

impl From<PanelError> for Failure {
    fn from(e: PanelError) -> Self {
        let answered = !matches!(
            e,
            PanelError::Unreachable(_) | PanelError::Timeout | PanelError::BadTls(_)
        );
        Failure {
            transient: e.is_transient(),
            panel_answered: answered,
            error: e.to_string(),
        }
    }
}

impl Fulfilment {
    pub fn new(db: Db, registry: Registry, clock: Arc<dyn Clock>) -> Fulfilment {
        Fulfilment {
            db,
            registry,
            clock,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Works on every order that is due; returns how many it moved on.
    pub async fn resume_due(&self) -> Result<usize> {
        let now = self.clock.now();
        let mut moved = 0;
        for order in orders::due(&self.db, now, 100).await? {
            match self.advance(&order.id).await {
                Ok(Progress::Idle) => {}
                Ok(_) => moved += 1,
                Err(e) => tracing::error!(order = %order.id, error = %e, "cannot work on an order"),
            }
        }
        Ok(moved)
    }

    /// Takes one order one step as far as it can go now.
    pub async fn advance(&self, order_id: &str) -> Result<Progress> {
        let now = self.clock.now();
        if !self.take_lease(order_id, now).await? {
            return Ok(Progress::Idle);
        }
        let result = self.advance_leased(order_id, now).await;
        self.release_lease(order_id).await?;
        result
    }

    async fn advance_leased(&self, order_id: &str, now: i64) -> Result<Progress> {
        let Some(mut order) = orders::get(&self.db, order_id).await? else {
            return Ok(Progress::Idle);
        };
        if !order.state.is_unfinished() {
            return Ok(Progress::Idle);
        }
        let delivery: Delivery = settings::get(&self.db).await?;
        if order.state == State::Paid {
            match self.prepare(&order, now).await {
                Ok(prepared) => order = prepared,
                Err(failure) => return self.failed(&order, failure, &delivery, now).await,
            }
        }
        match self.apply_on_panel(&order).await {
            Ok(account) => self.delivered(&order, &account, now).await,
            Err(failure) => self.failed(&order, failure, &delivery, now).await,
        }
    }

    /// paid -> provisioning: fixes the panel (new accounts) and what the account must show
    /// afterwards (renewals, added data), before any change is made on a panel.
    async fn prepare(&self, order: &Order, now: i64) -> Result<Order, Failure> {
        let (panel_id, target_expire, target_data) = if order.kind.creates_account() {
            let want = self.want_for(order).await.map_err(internal)?;
            let candidates = placement::candidates(&self.db).await.map_err(internal)?;
            let Some(chosen) = placement::choose(&candidates, &want) else {
                return Err(Failure {
                    error: "no panel in rotation can take a new account now".into(),
                    transient: true,
                    panel_answered: true,
                });
            };
            let expire = (order.days > 0).then_some(now + order.days * DAY);
            (chosen.panel.id.clone(), expire, order.data_bytes)
        } else {
            let panel_id = order
                .panel_id
                .clone()
                .ok_or_else(|| internal(Error::Corrupt("a renewal without its panel".into())))?;
            let client = self
                .registry
                .client_by_id(&panel_id)
                .await
                .map_err(internal)?;
            let account = client
                .account(&order.username)
                .await?
                .ok_or_else(|| Failure::from(PanelError::NotFound))?;
            let expire = match order.kind {
                Kind::Renew => account.expire_at.map(|at| at.max(now) + order.days * DAY),
                _ => account.expire_at,
            };
            let data = match (order.kind, account.data_limit_bytes, order.data_bytes) {
                (Kind::AddData, Some(limit), Some(extra)) => Some(
                    i64::try_from(limit)
                        .unwrap_or(i64::MAX)
                        .saturating_add(extra),
                ),
                _ => None,
            };
            (panel_id, expire, data)
        };
        let moved = sqlx::query(
            "UPDATE orders SET state = 'provisioning', panel_id = $2, target_expire_at = $3,
                 target_data_bytes = $4, updated_at = $5
             WHERE id = $1 AND state = 'paid'",
        )
        .bind(&order.id)
        .bind(&panel_id)
        .bind(target_expire)
        .bind(target_data)
        .bind(now)
        .execute(self.db.pool())
        .await
        .map_err(|e| internal(e.into()))?;
        if moved.rows_affected() != 1 {
            return Err(internal(Error::Corrupt("order moved while leased".into())));
        }
        orders::get(&self.db, &order.id)
            .await
            .map_err(internal)?
            .ok_or_else(|| internal(Error::Corrupt("order vanished".into())))
    }

    async fn want_for(&self, order: &Order) -> Result<Want> {
        if order.kind == Kind::Trial {
            let trial: settings::Trial = settings::get(&self.db).await?;
            return Ok(Want {
                panel_id: None,
                location: trial.location,
            });
        }
        let plan = match &order.plan_id {
            Some(id) => crate::plans::get(&self.db, id).await?,
            None => None,
        };
        Ok(Want {
            panel_id: plan.as_ref().and_then(|p| p.panel_id.clone()),
            location: plan.and_then(|p| p.location),
        })
    }

    /// The panel step, safe to repeat: it looks before it acts.
    async fn apply_on_panel(&self, order: &Order) -> Result<Account, Failure> {
        let panel_id = order
            .panel_id
            .as_deref()
            .ok_or_else(|| internal(Error::Corrupt("provisioning without a panel".into())))?;
        let row = crate::panels::get(&self.db, panel_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| internal(Error::Corrupt(format!("panel {panel_id} is gone"))))?;
        let client = self.registry.client(&row).await.map_err(internal)?;
        match order.kind {
            Kind::New | Kind::Trial => {
                if let Some(existing) = client.account(&order.username).await? {
                    return Ok(existing);
                }
                let request = NewAccount {
                    username: Username::parse(&order.username)?,
                    data_limit_bytes: order.data_bytes.map(|b| b.max(0) as u64),
                    expire_at: order.target_expire_at,
                    inbounds: self.inbounds_for(&row, client.as_ref()).await?,
                    note: format!("madar order {} for {}", order.id, order.telegram_id),
                    ip_limit: order.ip_limit.map(|n| n.clamp(0, u32::MAX as i64) as u32),
                };
                match client.create_account(&request).await {
                    Ok(account) => Ok(account),
                    Err(PanelError::AlreadyExists) => client
                        .account(&order.username)
                        .await?
                        .ok_or_else(|| Failure::from(PanelError::NotFound)),
                    Err(e) => Err(e.into()),
                }
            }
            Kind::Renew => self.renew(client.as_ref(), order).await,
            Kind::AddData => self.add_data(client.as_ref(), order).await,
        }
    }

    /// The inbounds a new account goes in: the panel's chosen ones; none chosen means all,
    /// except on 3x-UI 2.x, where an account lives in exactly one: then the first inbound,
    /// remembered for the panel.
    async fn inbounds_for(
        &self,
        row: &crate::panels::PanelRow,
        client: &dyn Panel,
    ) -> Result<Vec<shared::panel::InboundRef>, Failure> {
        if !row.inbounds.is_empty() || row.kind != shared::panel::PanelKind::Xui {
            return Ok(row.inbounds.clone());
        }
        if client.health().await?.flavor != PanelFlavor::Xui2 {
            return Ok(Vec::new());
        }
        let Some(first) = client.inbounds().await?.into_iter().next() else {
            return Err(PanelError::InvalidRequest("the panel has no inbounds".into()).into());
        };
        let chosen = vec![first.key];
        crate::panels::set_inbounds(&self.db, &row.id, &chosen, self.clock.now())
            .await
            .map_err(internal)?;
        Ok(chosen)
    }

    async fn renew(&self, client: &dyn Panel, order: &Order) -> Result<Account, Failure> {
        let account = client
            .account(&order.username)
            .await?
            .ok_or_else(|| Failure::from(PanelError::NotFound))?;
        let extended = match (order.target_expire_at, account.expire_at) {
            (Some(target), Some(at)) => at >= target - EXPIRY_SLACK_SECONDS,
            // An account that never expires needs no more days.
            (_, None) => true,
            (None, Some(_)) => true,
        };
        let account = if extended {
            account
        } else {
            client
                .extend(&order.username, order.days.clamp(0, u32::MAX as i64) as u32)
                .await?
        };
        if account.used_bytes == 0 {
            return Ok(account);
        }
        Ok(client.reset_traffic(&order.username).await?)
    }

    async fn add_data(&self, client: &dyn Panel, order: &Order) -> Result<Account, Failure> {
        let account = client
            .account(&order.username)
            .await?
            .ok_or_else(|| Failure::from(PanelError::NotFound))?;
        let (Some(target), Some(limit), Some(extra)) = (
            order.target_data_bytes,
            account.data_limit_bytes,
            order.data_bytes,
        ) else {
            // Unlimited: nothing to add.
            return Ok(account);
        };
        if i64::try_from(limit).unwrap_or(i64::MAX) >= target {
            return Ok(account);
        }
        Ok(client
            .add_data(&order.username, extra.max(0) as u64)
            .await?)
    }

    /// provisioning -> delivered, with the service and the user's notice, in one transaction.
    async fn delivered(&self, order: &Order, account: &Account, now: i64) -> Result<Progress> {
        let mut tx = self.db.begin().await?;
        let service_id = match (&order.service_id, order.kind.creates_account()) {
            (Some(id), false) => {
                services::update_from_account_tx(&mut tx, id, account, true, now).await?;
                id.clone()
            }
            _ => {
                let panel_id = order.panel_id.as_deref().unwrap_or_default();
                let id = order.service_id.clone().unwrap_or_else(shared::db::new_id);
                services::insert_tx(
                    &mut tx,
                    &NewService {
                        id: &id,
                        telegram_id: order.telegram_id,
                        panel_id,
                        plan_id: order.plan_id.as_deref(),
                        is_trial: order.kind == Kind::Trial,
                        account,
                    },
                    now,
                )
                .await?;
                // The (panel, username) row may have existed: deliver the one that is there.
                sqlx::query_scalar::<_, String>(
                    "SELECT id FROM services WHERE panel_id = $1 AND username = $2",
                )
                .bind(panel_id)
                .bind(&account.username)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        let moved = sqlx::query(
            "UPDATE orders SET state = 'delivered', service_id = $2, delivered_at = $3,
                 last_error = NULL, next_attempt_at = NULL, updated_at = $3
             WHERE id = $1 AND state = 'provisioning'",
        )
        .bind(&order.id)
        .bind(&service_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(Progress::Idle);
        }
        let notice = if order.kind.creates_account() {
            Notice::Delivered {
                order_id: order.id.clone(),
                service_id: service_id.clone(),
            }
        } else {
            Notice::Applied {
                order_id: order.id.clone(),
                service_id: service_id.clone(),
            }
        };
        let key = notices::done_key(&order.id);
        notices::push_tx(&mut tx, order.telegram_id, &notice, &key, now).await?;
        tx.commit().await?;
        tracing::info!(order = %order.id, kind = order.kind.as_str(), "order delivered");
        Ok(Progress::Delivered { service_id })
    }

    async fn failed(
        &self,
        order: &Order,
        failure: Failure,
        delivery: &Delivery,
        now: i64,
    ) -> Result<Progress> {
        let attempts = order.attempts + 1;
        tracing::warn!(order = %order.id, attempts, error = %failure.error, "an order's panel step failed");
        if failure.transient && attempts < delivery.attempts {
            let at = now + delivery.backoff_after(attempts);
            sqlx::query(
                "UPDATE orders SET attempts = $2, next_attempt_at = $3, last_error = $4,
                     updated_at = $5
                 WHERE id = $1",
            )
            .bind(&order.id)
            .bind(attempts)
            .bind(at)
            .bind(&failure.error)
            .bind(now)
            .execute(self.db.pool())
            .await?;
            return Ok(Progress::WillRetry {
                at,
                error: failure.error,
            });
        }
        // The last try. An account that exists after all is delivered, not refunded.
        if order.state == State::Provisioning && order.kind.creates_account() {
            if let Some(account) = self.look_for_account(order).await {
                return self.delivered(order, &account, now).await;
            }
        }
        let unsure = order.kind.creates_account()
            && order.state == State::Provisioning
            && !failure.panel_answered;
        self.refund(order, attempts, &failure.error, unsure, now)
            .await
    }

    /// The order's account, when its panel answers and has it.
    async fn look_for_account(&self, order: &Order) -> Option<Account> {
        let panel_id = order.panel_id.as_deref()?;
        let client = self.registry.client_by_id(panel_id).await.ok()?;
        client.account(&order.username).await.ok().flatten()
    }

    /// paid/provisioning -> refunded: money back, the user told, the admins alerted.
    async fn refund(
        &self,
        order: &Order,
        attempts: i64,
        error: &str,
        cleanup: bool,
        now: i64,
    ) -> Result<Progress> {
        let mut tx = self.db.begin().await?;
        let moved = sqlx::query(
            "UPDATE orders SET state = 'refunded', attempts = $2, last_error = $3,
                 cleanup_pending = $4, closed_at = $5, next_attempt_at = NULL, updated_at = $5
             WHERE id = $1 AND state IN ('paid', 'provisioning')",
        )
        .bind(&order.id)
        .bind(attempts)
        .bind(error)
        .bind(cleanup as i64)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(Progress::Idle);
        }
        if order.price.minor() > 0 {
            wallet::record(
                &mut tx,
                order.telegram_id,
                order.price,
                Reason::Refund,
                &format!("refund:{}", order.id),
                now,
            )
            .await?;
        }
        if order.kind == Kind::Trial {
            // The trial did not happen: the user may try again.
            sqlx::query("DELETE FROM trials WHERE telegram_id = $1 AND order_id = $2")
                .bind(order.telegram_id)
                .bind(&order.id)
                .execute(&mut *tx)
                .await?;
        }
        let refunded = Notice::Refunded {
            order_id: order.id.clone(),
            amount_minor: order.price.minor(),
            currency: order.price.currency().as_code().to_string(),
        };
        let key = format!("order:{}:refunded", order.id);
        notices::push_tx(&mut tx, order.telegram_id, &refunded, &key, now).await?;
        let alert = Notice::OrderFailed {
            order_id: order.id.clone(),
            telegram_id: order.telegram_id,
            error: error.to_string(),
        };
        notices::to_admins_tx(&mut tx, &alert, &key, now).await?;
        tx.commit().await?;
        tracing::error!(order = %order.id, error, "order refunded after its last try");
        Ok(Progress::Refunded {
            error: error.to_string(),
        })
    }

    /// Deletes accounts that refunded orders may have made on panels that could not be asked
    /// at the time. Returns how many orders are clean now.
    pub async fn clean_up(&self) -> Result<usize> {
        let mut cleaned = 0;
        for order in orders::needing_cleanup(&self.db, 100).await? {
            let Some(panel_id) = order.panel_id.as_deref() else {
                continue;
            };
            let client = match self.registry.client_by_id(panel_id).await {
                Ok(client) => client,
                Err(e) => {
                    tracing::warn!(order = %order.id, error = %e, "cannot clean up yet");
                    continue;
                }
            };
            match client.delete_account(&order.username).await {
                Ok(()) => {
                    sqlx::query("UPDATE orders SET cleanup_pending = 0 WHERE id = $1")
                        .bind(&order.id)
                        .execute(self.db.pool())
                        .await?;
                    cleaned += 1;
                }
                Err(e) => tracing::warn!(order = %order.id, error = %e, "cannot clean up yet"),
            }
        }
        Ok(cleaned)
    }

    async fn take_lease(&self, order_id: &str, now: i64) -> Result<bool> {
        let taken = sqlx::query(
            "UPDATE orders SET lease_until = $2
             WHERE id = $1 AND state IN ('paid', 'provisioning')
               AND (lease_until IS NULL OR lease_until < $3)",
        )
        .bind(order_id)
        .bind(now + LEASE_SECONDS)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    async fn release_lease(&self, order_id: &str) -> Result<()> {
        sqlx::query("UPDATE orders SET lease_until = NULL WHERE id = $1")
            .bind(order_id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }
}

/// A failure of ours (database, stored data), not the panel's: retried like a transient one.
fn internal(e: Error) -> Failure {
    Failure {
        error: e.to_string(),
        transient: true,
        panel_answered: false,
    }
}
