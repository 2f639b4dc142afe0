//! Subscriptions: the package a customer pays for, period by period, and its life:
//! trial/active -> grace -> suspended -> deleted, or cancelled at the end of a period.

use shared::db::{new_id, Db, RowExt};
use shared::money::Currency;

use super::orders::{Order, OrderKind};
use super::packages::Package;
use super::refusal::Limit;
use super::terms::Terms;
use super::wallet::Tx;
use super::{Refusal, MONTH};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Trial,
    Active,
    /// The period ended unpaid; the bot still runs for a few days.
    Grace,
    /// Unpaid after the grace period: the bot is stopped, its data kept.
    Suspended,
    /// Ended at the customer's request.
    Cancelled,
    /// Gone after the retention period: the bot and its data are removed.
    Deleted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Trial => "trial",
            Status::Active => "active",
            Status::Grace => "grace",
            Status::Suspended => "suspended",
            Status::Cancelled => "cancelled",
            Status::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Result<Status> {
        Ok(match s {
            "trial" => Status::Trial,
            "active" => Status::Active,
            "grace" => Status::Grace,
            "suspended" => Status::Suspended,
            "cancelled" => Status::Cancelled,
            "deleted" => Status::Deleted,
            other => return Err(Error::Corrupt(format!("subscription status {other}"))),
        })
    }

    /// Whether the tenant's bot should be running.
    pub fn keeps_bot_running(self) -> bool {
        matches!(self, Status::Trial | Status::Active | Status::Grace)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub customer_id: String,
    pub package_id: String,
    pub terms: Terms,
    pub period_months: i64,
    pub currency: Currency,
    pub status: Status,
    pub current_period_start: i64,
    pub current_period_end: i64,
    pub cancel_at_period_end: bool,
    pub next_package_id: Option<String>,
    pub next_terms: Option<Terms>,
}

const COLUMNS: &str = "id, customer_id, package_id, terms, period_months, currency, status, \
    current_period_start, current_period_end, cancel_at_period_end, next_package_id, next_terms";

fn from_row(row: &shared::db::Row) -> Result<Subscription> {
    let currency: String = row.try_get("currency")?;
    let status: String = row.try_get("status")?;
    let next_terms: Option<String> = row.try_get("next_terms")?;
    let cancel: i64 = row.try_get("cancel_at_period_end")?;
    Ok(Subscription {
        id: row.try_get("id")?,
        customer_id: row.try_get("customer_id")?,
        package_id: row.try_get("package_id")?,
        terms: Terms::from_json(&row.try_get::<String, _>("terms")?)?,
        period_months: row.try_get("period_months")?,
        currency: Currency::from_code(&currency)
            .map_err(|e| Error::Corrupt(format!("subscription: {e}")))?,
        status: Status::parse(&status)?,
        current_period_start: row.try_get("current_period_start")?,
        current_period_end: row.try_get("current_period_end")?,
        cancel_at_period_end: cancel != 0,
        next_package_id: row.try_get("next_package_id")?,
        next_terms: next_terms.as_deref().map(Terms::from_json).transpose()?,
    })
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Subscription>> {
    let sql = format!("SELECT {COLUMNS} FROM subscriptions WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

/// A subscription, only if it belongs to `customer_id` (ids in buttons can be forged).
pub async fn owned(db: &Db, id: &str, customer_id: &str) -> Result<Option<Subscription>> {
    Ok(get(db, id).await?.filter(|s| s.customer_id == customer_id))
}

pub async fn get_tx(tx: &mut Tx<'_>, id: &str) -> Result<Option<Subscription>> {
    let sql = format!("SELECT {COLUMNS} FROM subscriptions WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut **tx).await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn for_customer(db: &Db, customer_id: &str) -> Result<Vec<Subscription>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE customer_id = $1 ORDER BY created_at, id"
    );
    let rows = sqlx::query(&sql)
        .bind(customer_id)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// Subscriptions in any of `statuses` whose period ends before `before`.
pub async fn ending_before(db: &Db, statuses: &[Status], before: i64) -> Result<Vec<Subscription>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE current_period_end < $1 ORDER BY current_period_end"
    );
    let rows = sqlx::query(&sql).bind(before).fetch_all(db.pool()).await?;
    let all = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    Ok(all
        .into_iter()
        .filter(|s| statuses.contains(&s.status))
        .collect())
}

/// Moves a subscription from one of `from` to `to`; false when it was not in `from` (someone
/// else moved it first, or it is there already).
pub async fn transition(db: &Db, id: &str, from: &[Status], to: Status, now: i64) -> Result<bool> {
    let mut tx = db.begin().await?;
    let moved = transition_tx(&mut tx, id, from, to, now).await?;
    tx.commit().await?;
    Ok(moved)
}

pub async fn transition_tx(
    tx: &mut Tx<'_>,
    id: &str,
    from: &[Status],
    to: Status,
    now: i64,
) -> Result<bool> {
    // `from` is a short fixed list; spell it out so the statement stays portable.
    let placeholders = (0..from.len())
        .map(|i| format!("${}", i + 4))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "UPDATE subscriptions SET status = $1, updated_at = $2 WHERE id = $3 AND status IN ({placeholders})"
    );
    let mut query = sqlx::query(&sql).bind(to.as_str()).bind(now).bind(id);
    for status in from {
        query = query.bind(status.as_str());
    }
    Ok(query.execute(&mut **tx).await?.rows_affected() == 1)
}

/// Puts a paid order into effect, inside the transaction that marked its invoice paid.
/// Returns the subscription's id.
pub(super) async fn fulfil(tx: &mut Tx<'_>, order: &Order, now: i64) -> Result<String> {
    let terms_json = order.terms.to_json()?;
    match order.kind {
        OrderKind::New => {
            let id = new_id();
            sqlx::query(
                "INSERT INTO subscriptions (id, customer_id, package_id, terms, period_months, currency,
                     status, current_period_start, current_period_end, cancel_at_period_end,
                     created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, 0, $7, $7)",
            )
            .bind(&id)
            .bind(&order.customer_id)
            .bind(&order.package_id)
            .bind(&terms_json)
            .bind(order.period_months)
            .bind(order.total.currency().as_code())
            .bind(now)
            .bind(now + order.period_months * MONTH)
            .execute(&mut **tx)
            .await?;
            // A paid subscription always comes with its (first) bot to set up.
            crate::tenants::create_tx(tx, &order.customer_id, &id, now).await?;
            Ok(id)
        }
        OrderKind::Renew => {
            let id = order.subscription_id()?;
            let sub = get_tx(tx, id)
                .await?
                .ok_or_else(|| Error::Corrupt(format!("renewal of missing subscription {id}")))?;
            // A renewal paid early adds to the end; paid late it starts a new period now.
            let (start, end) = if now < sub.current_period_end {
                (
                    sub.current_period_start,
                    sub.current_period_end + order.period_months * MONTH,
                )
            } else {
                (now, now + order.period_months * MONTH)
            };
            sqlx::query(
                "UPDATE subscriptions SET package_id = $1, terms = $2, period_months = $3,
                     status = 'active', current_period_start = $4, current_period_end = $5,
                     next_package_id = NULL, next_terms = NULL, cancel_at_period_end = 0, updated_at = $6
                 WHERE id = $7",
            )
            .bind(&order.package_id)
            .bind(&terms_json)
            .bind(order.period_months)
            .bind(start)
            .bind(end)
            .bind(now)
            .bind(id)
            .execute(&mut **tx)
            .await?;
            Ok(id.to_string())
        }
        OrderKind::Upgrade => {
            let id = order.subscription_id()?;
            sqlx::query(
                "UPDATE subscriptions SET package_id = $1, terms = $2, next_package_id = NULL,
                     next_terms = NULL, updated_at = $3
                 WHERE id = $4",
            )
            .bind(&order.package_id)
            .bind(&terms_json)
            .bind(now)
            .bind(id)
            .execute(&mut **tx)
            .await?;
            Ok(id.to_string())
        }
    }
}

/// Starts a free trial of a package that offers one. Once per customer: anyone who has had a
/// subscription before (trial or paid) is refused.
pub async fn start_trial(
    db: &Db,
    now: i64,
    customer_id: &str,
    package: &Package,
) -> Result<String> {
    if package.trial_days <= 0 {
        return Err(Refusal::NoTrial.into());
    }
    let mut tx = db.begin().await?;
    super::wallet::lock_customer(&mut tx, customer_id).await?;
    let before: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM subscriptions WHERE customer_id = $1")
            .bind(customer_id)
            .fetch_one(&mut *tx)
            .await?;
    if before > 0 {
        return Err(Refusal::TrialUsed.into());
    }
    // The trial's terms: the package's limits, monthly period, price nothing.
    let currency = Currency::Toman;
    let mut terms = match Terms::of(package, 1, currency) {
        Ok(terms) => terms,
        Err(_) => Terms::of(package, 1, Currency::Usd)?,
    };
    terms.price_minor = 0;
    let id = new_id();
    sqlx::query(
        "INSERT INTO subscriptions (id, customer_id, package_id, terms, period_months, currency,
             status, current_period_start, current_period_end, cancel_at_period_end,
             created_at, updated_at)
         VALUES ($1, $2, $3, $4, 1, $5, 'trial', $6, $7, 0, $6, $6)",
    )
    .bind(&id)
    .bind(customer_id)
    .bind(&package.id)
    .bind(terms.to_json()?)
    .bind(&terms.currency)
    .bind(now)
    .bind(now + package.trial_days * shared::clock::DAY)
    .execute(&mut *tx)
    .await?;
    crate::tenants::create_tx(&mut tx, customer_id, &id, now).await?;
    tx.commit().await?;
    Ok(id)
}

/// What a tenant uses now, to check a downgrade against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub bots: i64,
    pub end_users: i64,
    pub panels: i64,
}

/// Schedules a smaller package for the next period; refused, naming the limit, while the tenant
/// uses more than the smaller package allows.
pub async fn schedule_downgrade(
    db: &Db,
    subscription: &Subscription,
    package: &Package,
    usage: Usage,
    now: i64,
) -> Result<Terms> {
    if !matches!(subscription.status, Status::Active | Status::Trial) {
        return Err(Refusal::SubscriptionNotActive.into());
    }
    let terms = Terms::of(package, subscription.period_months, subscription.currency)?;
    for (limit, used, allowed) in [
        (Limit::Bots, usage.bots, terms.max_bots),
        (Limit::EndUsers, usage.end_users, terms.max_end_users),
        (Limit::Panels, usage.panels, terms.max_panels),
    ] {
        if let Some(allowed) = allowed {
            if used > allowed {
                return Err(Refusal::OverLimit {
                    limit,
                    used,
                    allowed,
                }
                .into());
            }
        }
    }
    sqlx::query(
        "UPDATE subscriptions SET next_package_id = $1, next_terms = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(&package.id)
    .bind(terms.to_json()?)
    .bind(now)
    .bind(&subscription.id)
    .execute(db.pool())
    .await?;
    Ok(terms)
}

/// Ends the subscription when the paid period is over, instead of asking for renewal.
pub async fn cancel_at_period_end(db: &Db, id: &str, cancel: bool, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE subscriptions SET cancel_at_period_end = $1, updated_at = $2
         WHERE id = $3 AND status IN ('trial', 'active', 'grace')",
    )
    .bind(i64::from(cancel))
    .bind(now)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}
