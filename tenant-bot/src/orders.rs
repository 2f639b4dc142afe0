//! Orders: a persisted state machine.
//!
//! ```text
//! created --pay--> paid --(panel chosen, targets fixed)--> provisioning --> delivered
//!    |                                  \--(last try failed)--> refunded (money to wallet)
//!    \--cancel--> cancelled
//! ```
//!
//! Every paid order is paid from the wallet (a gateway payment first credits the wallet), by a
//! wallet movement whose reference is the order: an order is never charged twice. The panel
//! account's username is derived from the order, so a retry finds the account it made before.
//! [`crate::fulfil`] moves paid orders on.

use shared::db::{new_id, Db, RowExt};
use shared::money::{Currency, Money};

use crate::plans::Plan;
use crate::refusal::Refusal;
use crate::services::Service;
use crate::settings::Trial;
use crate::wallet::{self, Reason, Tx};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A new account from a plan.
    New,
    /// The same plan again on an existing account: more days, traffic reset.
    Renew,
    /// More data on an existing account.
    AddData,
    /// The free trial.
    Trial,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::New => "new",
            Kind::Renew => "renew",
            Kind::AddData => "add_data",
            Kind::Trial => "trial",
        }
    }

    fn parse(s: &str) -> Result<Kind> {
        Ok(match s {
            "new" => Kind::New,
            "renew" => Kind::Renew,
            "add_data" => Kind::AddData,
            "trial" => Kind::Trial,
            other => return Err(Error::Corrupt(format!("order kind {other}"))),
        })
    }

    /// Whether the order makes a new panel account (rather than changing one).
    pub fn creates_account(self) -> bool {
        matches!(self, Kind::New | Kind::Trial)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Created,
    Paid,
    Provisioning,
    Delivered,
    Refunded,
    Cancelled,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Paid => "paid",
            State::Provisioning => "provisioning",
            State::Delivered => "delivered",
            State::Refunded => "refunded",
            State::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Result<State> {
        Ok(match s {
            "created" => State::Created,
            "paid" => State::Paid,
            "provisioning" => State::Provisioning,
            "delivered" => State::Delivered,
            "refunded" => State::Refunded,
            "cancelled" => State::Cancelled,
            other => return Err(Error::Corrupt(format!("order state {other}"))),
        })
    }

    /// Paid and not finished: the fulfilment worker owes this order a result.
    pub fn is_unfinished(self) -> bool {
        matches!(self, State::Paid | State::Provisioning)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub telegram_id: i64,
    pub kind: Kind,
    pub plan_id: Option<String>,
    pub service_id: Option<String>,
    pub state: State,
    pub price: Money,
    pub data_bytes: Option<i64>,
    pub days: i64,
    pub ip_limit: Option<i64>,
    pub panel_id: Option<String>,
    pub username: String,
    pub target_expire_at: Option<i64>,
    pub target_data_bytes: Option<i64>,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub cleanup_pending: bool,
    pub created_at: i64,
    pub paid_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub closed_at: Option<i64>,
}

const COLUMNS: &str = "id, telegram_id, kind, plan_id, service_id, state, currency, price_minor, \
    data_bytes, days, ip_limit, panel_id, username, target_expire_at, target_data_bytes, \
    attempts, next_attempt_at, last_error, cleanup_pending, created_at, paid_at, delivered_at, \
    closed_at";

fn from_row(row: &shared::db::Row) -> Result<Order> {
    let code: String = row.try_get("currency")?;
    let currency = Currency::from_code(&code)?;
    Ok(Order {
        id: row.try_get("id")?,
        telegram_id: row.try_get("telegram_id")?,
        kind: Kind::parse(&row.try_get::<String, _>("kind")?)?,
        plan_id: row.try_get("plan_id")?,
        service_id: row.try_get("service_id")?,
        state: State::parse(&row.try_get::<String, _>("state")?)?,
        price: Money::new(row.try_get("price_minor")?, currency),
        data_bytes: row.try_get("data_bytes")?,
        days: row.try_get("days")?,
        ip_limit: row.try_get("ip_limit")?,
        panel_id: row.try_get("panel_id")?,
        username: row.try_get("username")?,
        target_expire_at: row.try_get("target_expire_at")?,
        target_data_bytes: row.try_get("target_data_bytes")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        cleanup_pending: row.try_get::<i64, _>("cleanup_pending")? != 0,
        created_at: row.try_get("created_at")?,
        paid_at: row.try_get("paid_at")?,
        delivered_at: row.try_get("delivered_at")?,
        closed_at: row.try_get("closed_at")?,
    })
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Order>> {
    let sql = format!("SELECT {COLUMNS} FROM orders WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn get_tx(tx: &mut Tx<'_>, id: &str) -> Result<Option<Order>> {
    let sql = format!("SELECT {COLUMNS} FROM orders WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut **tx).await?;
    row.as_ref().map(from_row).transpose()
}

/// The user's own order, or `None` when it is not theirs.
pub async fn of_user(db: &Db, telegram_id: i64, id: &str) -> Result<Option<Order>> {
    Ok(get(db, id).await?.filter(|o| o.telegram_id == telegram_id))
}

/// Orders the worker owes a result, due now (or never tried).
pub async fn due(db: &Db, now: i64, limit: i64) -> Result<Vec<Order>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM orders
         WHERE state IN ('paid', 'provisioning') AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
         ORDER BY created_at, id LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(now)
        .bind(limit)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// Refunded orders whose account may still exist on a panel that could not be asked.
pub async fn needing_cleanup(db: &Db, limit: i64) -> Result<Vec<Order>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM orders WHERE cleanup_pending = 1 ORDER BY created_at LIMIT $1"
    );
    let rows = sqlx::query(&sql).bind(limit).fetch_all(db.pool()).await?;
    rows.iter().map(from_row).collect()
}

/// The panel account name for an order: the user and a part of the order id, so a retry of
/// the same order always means the same account.
pub fn username_for(telegram_id: i64, order_id: &str) -> String {
    let tail: String = order_id
        .chars()
        .rev()
        .take(10)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("u{telegram_id}_{tail}")
}

struct Draft<'a> {
    telegram_id: i64,
    kind: Kind,
    plan_id: Option<&'a str>,
    service_id: Option<&'a str>,
    price: Money,
    data_bytes: Option<i64>,
    days: i64,
    ip_limit: Option<i64>,
    /// For renew / add_data: the account's name; new orders derive theirs.
    username: Option<&'a str>,
    /// Fixed at creation (the service's panel); new orders choose theirs when paid.
    panel_id: Option<&'a str>,
}

async fn insert(tx: &mut Tx<'_>, d: &Draft<'_>, state: State, now: i64) -> Result<String> {
    let id = new_id();
    let username = d
        .username
        .map(str::to_string)
        .unwrap_or_else(|| username_for(d.telegram_id, &id));
    let paid_at = (state == State::Paid).then_some(now);
    sqlx::query(
        "INSERT INTO orders (id, telegram_id, kind, plan_id, service_id, state, currency,
             price_minor, data_bytes, days, ip_limit, panel_id, username, attempts,
             cleanup_pending, created_at, paid_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, 0, $14, $15, $14)",
    )
    .bind(&id)
    .bind(d.telegram_id)
    .bind(d.kind.as_str())
    .bind(d.plan_id)
    .bind(d.service_id)
    .bind(state.as_str())
    .bind(d.price.currency().as_code())
    .bind(d.price.minor())
    .bind(d.data_bytes)
    .bind(d.days)
    .bind(d.ip_limit)
    .bind(d.panel_id)
    .bind(username)
    .bind(now)
    .bind(paid_at)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

async fn create(db: &Db, draft: &Draft<'_>, now: i64) -> Result<Order> {
    let mut tx = db.begin().await?;
    let id = insert(&mut tx, draft, State::Created, now).await?;
    let order = get_tx(&mut tx, &id)
        .await?
        .ok_or_else(|| Error::Corrupt("an order vanished after insert".into()))?;
    tx.commit().await?;
    Ok(order)
}

/// An order for a new account from `plan`, waiting for payment.
pub async fn create_new(db: &Db, telegram_id: i64, plan: &Plan, now: i64) -> Result<Order> {
    if plan.hidden {
        return Err(Refusal::PlanNotOnSale.into());
    }
    let draft = Draft {
        telegram_id,
        kind: Kind::New,
        plan_id: Some(&plan.id),
        service_id: None,
        price: plan.price,
        data_bytes: plan.data_bytes,
        days: plan.days,
        ip_limit: plan.ip_limit,
        username: None,
        panel_id: None,
    };
    create(db, &draft, now).await
}

/// An order renewing `service` with `plan` (its own plan, usually): more days, traffic reset.
pub async fn create_renew(db: &Db, service: &Service, plan: &Plan, now: i64) -> Result<Order> {
    if plan.hidden {
        return Err(Refusal::PlanNotOnSale.into());
    }
    if service.is_trial {
        return Err(Refusal::NoSuchService.into());
    }
    let draft = Draft {
        telegram_id: service.telegram_id,
        kind: Kind::Renew,
        plan_id: Some(&plan.id),
        service_id: Some(&service.id),
        price: plan.price,
        data_bytes: plan.data_bytes,
        days: plan.days,
        ip_limit: plan.ip_limit,
        username: Some(&service.username),
        panel_id: Some(&service.panel_id),
    };
    create(db, &draft, now).await
}

/// An order adding `bytes` of data to `service` for `price`.
pub async fn create_add_data(
    db: &Db,
    service: &Service,
    bytes: i64,
    price: Money,
    now: i64,
) -> Result<Order> {
    if service.is_trial || service.data_limit_bytes.is_none() {
        return Err(Refusal::NoSuchService.into());
    }
    let draft = Draft {
        telegram_id: service.telegram_id,
        kind: Kind::AddData,
        plan_id: service.plan_id.as_deref(),
        service_id: Some(&service.id),
        price,
        data_bytes: Some(bytes),
        days: 0,
        ip_limit: None,
        username: Some(&service.username),
        panel_id: Some(&service.panel_id),
    };
    create(db, &draft, now).await
}

/// The free trial: once per Telegram user, paid (free) at once.
pub async fn start_trial(db: &Db, telegram_id: i64, trial: &Trial, now: i64) -> Result<Order> {
    if !trial.enabled {
        return Err(Refusal::TrialOff.into());
    }
    let mut tx = db.begin().await?;
    let draft = Draft {
        telegram_id,
        kind: Kind::Trial,
        plan_id: None,
        service_id: None,
        price: Money::zero(wallet::CURRENCY),
        data_bytes: trial.data_bytes,
        days: trial.days,
        ip_limit: Some(1),
        username: None,
        panel_id: None,
    };
    let id = insert(&mut tx, &draft, State::Paid, now).await?;
    // The primary key makes this the once-per-user gate, even for two taps at once.
    let claimed = sqlx::query(
        "INSERT INTO trials (telegram_id, order_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (telegram_id) DO NOTHING",
    )
    .bind(telegram_id)
    .bind(&id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if claimed.rows_affected() == 0 {
        tx.rollback().await?;
        return Err(Refusal::TrialUsed.into());
    }
    let order = get_tx(&mut tx, &id)
        .await?
        .ok_or_else(|| Error::Corrupt("an order vanished after insert".into()))?;
    tx.commit().await?;
    Ok(order)
}

/// Whether this user has had their trial.
pub async fn trial_used(db: &Db, telegram_id: i64) -> Result<bool> {
    let found: Option<String> =
        sqlx::query_scalar("SELECT order_id FROM trials WHERE telegram_id = $1")
            .bind(telegram_id)
            .fetch_optional(db.pool())
            .await?;
    Ok(found.is_some())
}

/// What [`pay_from_wallet_tx`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paid {
    /// Paid now.
    Now,
    /// It had been paid before (a replay): nothing moved.
    Before,
    /// Not enough in the wallet: nothing moved.
    NotEnough { balance: Money, needed: Money },
    /// Cancelled or finished: nothing moved.
    NotPayable,
}

/// Pays a created order from its owner's wallet, inside the caller's transaction.
pub async fn pay_from_wallet_tx(tx: &mut Tx<'_>, order_id: &str, now: i64) -> Result<Paid> {
    let order = get_tx(tx, order_id)
        .await?
        .ok_or_else(|| Error::Corrupt(format!("order {order_id} is gone")))?;
    match order.state {
        State::Created => {}
        State::Paid | State::Provisioning | State::Delivered => return Ok(Paid::Before),
        State::Refunded | State::Cancelled => return Ok(Paid::NotPayable),
    }
    let balance = wallet::balance_tx(tx, order.telegram_id).await?;
    if balance.minor() < order.price.minor() {
        return Ok(Paid::NotEnough {
            balance,
            needed: order.price,
        });
    }
    let debit = Money::new(-order.price.minor(), order.price.currency());
    let reference = format!("order:{}", order.id);
    if !wallet::record(tx, order.telegram_id, debit, Reason::Order, &reference, now).await? {
        return Ok(Paid::Before);
    }
    // Guarded: only a created order becomes paid, so two payers cannot both pass.
    let moved = sqlx::query(
        "UPDATE orders SET state = 'paid', paid_at = $2, updated_at = $2
         WHERE id = $1 AND state = 'created'",
    )
    .bind(&order.id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    if moved.rows_affected() != 1 {
        return Err(Error::Corrupt(format!(
            "order {} changed while being paid",
            order.id
        )));
    }
    Ok(Paid::Now)
}

/// Pays a created order from the wallet, or says why not.
pub async fn pay_from_wallet(db: &Db, telegram_id: i64, order_id: &str, now: i64) -> Result<Order> {
    let mut tx = db.begin().await?;
    let order = get_tx(&mut tx, order_id)
        .await?
        .filter(|o| o.telegram_id == telegram_id)
        .ok_or(Refusal::OrderNotPayable)?;
    match pay_from_wallet_tx(&mut tx, &order.id, now).await? {
        Paid::Now | Paid::Before => {}
        Paid::NotEnough { balance, needed } => {
            return Err(Refusal::NotEnoughBalance { balance, needed }.into())
        }
        Paid::NotPayable => return Err(Refusal::OrderNotPayable.into()),
    }
    let order = get_tx(&mut tx, order_id)
        .await?
        .ok_or_else(|| Error::Corrupt("an order vanished".into()))?;
    tx.commit().await?;
    Ok(order)
}

/// Gives up an order that was not paid.
pub async fn cancel(db: &Db, telegram_id: i64, order_id: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE orders SET state = 'cancelled', closed_at = $3, updated_at = $3
         WHERE id = $1 AND telegram_id = $2 AND state = 'created'",
    )
    .bind(order_id)
    .bind(telegram_id)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A user's orders, newest first.
pub async fn list_of_user(db: &Db, telegram_id: i64, limit: i64) -> Result<Vec<Order>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM orders WHERE telegram_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(telegram_id)
        .bind(limit)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_username_is_the_same_for_the_same_order_and_valid_on_both_panels() {
        let id = "0193a5b2c3d47e8f9a0b1c2d3e4f5a6b";
        let name = username_for(9_876_543_210_123, id);
        assert_eq!(name, username_for(9_876_543_210_123, id));
        assert_eq!(name, "u9876543210123_2d3e4f5a6b");
        assert!(shared::panel::Username::parse(&name).is_ok());
    }
}
