//! Orders and their invoices: what the customer asked for, what it costs after coupon and
//! credit, and the invoice to pay within [`INVOICE_TTL`].

use shared::db::{new_id, Db, RowExt};
use shared::money::{Currency, Money};

use super::coupons::{self, Coupon};
use super::packages::{self, Package};
use super::payments;
use super::subscriptions::{self, Status, Subscription};
use super::terms::Terms;
use super::wallet::Tx;
use super::{Refusal, INVOICE_TTL};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderKind {
    New,
    Renew,
    Upgrade,
}

impl OrderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderKind::New => "new",
            OrderKind::Renew => "renew",
            OrderKind::Upgrade => "upgrade",
        }
    }

    fn parse(s: &str) -> Result<OrderKind> {
        Ok(match s {
            "new" => OrderKind::New,
            "renew" => OrderKind::Renew,
            "upgrade" => OrderKind::Upgrade,
            other => return Err(Error::Corrupt(format!("order kind {other}"))),
        })
    }
}

#[derive(Debug, Clone)]
pub struct OrderRequest {
    pub customer_id: String,
    pub kind: OrderKind,
    pub package_code: String,
    pub period_months: i64,
    pub currency: Currency,
    pub coupon: Option<String>,
    /// The subscription renewed or upgraded.
    pub subscription_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub customer_id: String,
    pub kind: OrderKind,
    pub package_id: String,
    pub terms: Terms,
    pub period_months: i64,
    pub subscription_id: Option<String>,
    pub subtotal: Money,
    pub discount: Money,
    pub credit: Money,
    pub total: Money,
    pub coupon_id: Option<String>,
}

impl Order {
    pub(super) fn subscription_id(&self) -> Result<&str> {
        self.subscription_id
            .as_deref()
            .ok_or_else(|| Error::Corrupt(format!("order {} has no subscription", self.id)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceStatus {
    Open,
    Paid,
    Expired,
    Cancelled,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Expired => "expired",
            InvoiceStatus::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Result<InvoiceStatus> {
        Ok(match s {
            "open" => InvoiceStatus::Open,
            "paid" => InvoiceStatus::Paid,
            "expired" => InvoiceStatus::Expired,
            "cancelled" => InvoiceStatus::Cancelled,
            other => return Err(Error::Corrupt(format!("invoice status {other}"))),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub id: String,
    pub order_id: String,
    pub customer_id: String,
    pub amount: Money,
    pub status: InvoiceStatus,
    pub expires_at: i64,
    pub paid_at: Option<i64>,
}

/// The price of what is asked for, before it is written down.
struct Quote {
    package: Package,
    terms: Terms,
    subtotal: Money,
    discount: Money,
    credit: Money,
    coupon: Option<Coupon>,
}

/// Places an order and opens its invoice. An order that costs nothing (a full coupon, or an
/// upgrade covered by credit) is settled at once.
pub async fn place(db: &Db, now: i64, request: &OrderRequest) -> Result<(Order, Invoice)> {
    let subscription = match &request.subscription_id {
        Some(id) => Some(owned_subscription(db, id, &request.customer_id).await?),
        None => None,
    };
    let quote = quote(db, now, request, subscription.as_ref()).await?;
    let total = Money::new(
        quote.subtotal.minor() - quote.discount.minor() - quote.credit.minor(),
        quote.subtotal.currency(),
    );
    let total = if total.is_negative() {
        Money::zero(total.currency())
    } else {
        total
    };

    let mut tx = db.begin().await?;
    if let Some(coupon) = &quote.coupon {
        coupons::reserve(&mut tx, coupon, now).await?;
    }
    let order = Order {
        id: new_id(),
        customer_id: request.customer_id.clone(),
        kind: request.kind,
        package_id: quote.package.id.clone(),
        terms: quote.terms,
        period_months: request.period_months,
        subscription_id: request.subscription_id.clone(),
        subtotal: quote.subtotal,
        discount: quote.discount,
        credit: quote.credit,
        total,
        coupon_id: quote.coupon.map(|c| c.id),
    };
    sqlx::query(
        "INSERT INTO orders (id, customer_id, kind, package_id, terms, period_months, subscription_id,
             currency, subtotal_minor, discount_minor, credit_minor, total_minor, coupon_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&order.id)
    .bind(&order.customer_id)
    .bind(order.kind.as_str())
    .bind(&order.package_id)
    .bind(order.terms.to_json()?)
    .bind(order.period_months)
    .bind(&order.subscription_id)
    .bind(total.currency().as_code())
    .bind(order.subtotal.minor())
    .bind(order.discount.minor())
    .bind(order.credit.minor())
    .bind(total.minor())
    .bind(&order.coupon_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let invoice = Invoice {
        id: new_id(),
        order_id: order.id.clone(),
        customer_id: order.customer_id.clone(),
        amount: total,
        status: InvoiceStatus::Open,
        expires_at: now + INVOICE_TTL,
        paid_at: None,
    };
    sqlx::query(
        "INSERT INTO invoices (id, order_id, customer_id, currency, amount_minor, status, expires_at,
             created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $7)",
    )
    .bind(&invoice.id)
    .bind(&invoice.order_id)
    .bind(&invoice.customer_id)
    .bind(total.currency().as_code())
    .bind(total.minor())
    .bind(invoice.expires_at)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    if total.is_zero() {
        payments::settle_free(db, now, &invoice.id).await?;
        let settled = self::invoice(db, &invoice.id)
            .await?
            .ok_or_else(|| Error::Corrupt("a settled invoice vanished".into()))?;
        return Ok((order, settled));
    }
    Ok((order, invoice))
}

/// What an order would cost now, without placing it (for showing prices before paying).
pub async fn price(db: &Db, now: i64, request: &OrderRequest) -> Result<Money> {
    let subscription = match &request.subscription_id {
        Some(id) => Some(owned_subscription(db, id, &request.customer_id).await?),
        None => None,
    };
    let quote = quote(db, now, request, subscription.as_ref()).await?;
    let total = quote.subtotal.minor() - quote.discount.minor() - quote.credit.minor();
    Ok(Money::new(total.max(0), quote.subtotal.currency()))
}

async fn owned_subscription(db: &Db, id: &str, customer_id: &str) -> Result<Subscription> {
    match subscriptions::get(db, id).await? {
        Some(s) if s.customer_id == customer_id => Ok(s),
        _ => Err(Refusal::NoSubscription.into()),
    }
}

async fn on_sale(db: &Db, code: &str) -> Result<Package> {
    Ok(packages::on_sale_by_code(db, code)
        .await?
        .ok_or(Refusal::PackageNotOnSale)?)
}

async fn quote(
    db: &Db,
    now: i64,
    request: &OrderRequest,
    subscription: Option<&Subscription>,
) -> Result<Quote> {
    let (package, terms, subtotal, credit) = match (request.kind, subscription) {
        (OrderKind::New, _) => {
            let package = on_sale(db, &request.package_code).await?;
            let terms = Terms::of(&package, request.period_months, request.currency)?;
            let price = terms.price()?;
            (package, terms, price, Money::zero(price.currency()))
        }
        (OrderKind::Renew, Some(sub)) => {
            if matches!(sub.status, Status::Cancelled | Status::Deleted) {
                return Err(Refusal::SubscriptionNotActive.into());
            }
            // A renewal is of the package the customer has (even if no longer on sale), or of
            // the smaller one they scheduled; what was bought keeps its price.
            let current = sub.next_terms.as_ref().unwrap_or(&sub.terms);
            let package = packages::by_code(db, &current.package_code)
                .await?
                .ok_or(Refusal::PackageNotOnSale)?;
            let terms = if current.period_months == request.period_months {
                current.clone()
            } else {
                Terms::of(&package, request.period_months, sub.currency)?
            };
            let price = terms.price()?;
            (package, terms, price, Money::zero(price.currency()))
        }
        (OrderKind::Upgrade, Some(sub)) => {
            let package = on_sale(db, &request.package_code).await?;
            let (terms, cost, credit) = upgrade_quote(&package, sub, request, now)?;
            (package, terms, cost, credit)
        }
        (OrderKind::Renew | OrderKind::Upgrade, None) => return Err(Refusal::NoSubscription.into()),
    };
    let (coupon, discount) = match &request.coupon {
        Some(code) => {
            let coupon = coupons::find(db, code)
                .await?
                .ok_or(Refusal::CouponUnknown)?;
            if coupon.expires_at.is_some_and(|at| at <= now) {
                return Err(Refusal::CouponExpired.into());
            }
            if coupon.max_uses.is_some_and(|max| coupon.uses >= max) {
                return Err(Refusal::CouponUsedUp.into());
            }
            let payable = Money::new(subtotal.minor() - credit.minor(), subtotal.currency());
            let discount = coupon.discount.off(payable.max_zero())?;
            (Some(coupon), discount)
        }
        None => (None, Money::zero(subtotal.currency())),
    };
    Ok(Quote {
        package,
        terms,
        subtotal,
        discount,
        credit,
        coupon,
    })
}

/// An upgrade keeps the period's end. It costs the new package's price for the time left,
/// less what is left of the old package's price (both per second of the period).
fn upgrade_quote(
    package: &Package,
    sub: &Subscription,
    request: &OrderRequest,
    now: i64,
) -> Result<(Terms, Money, Money)> {
    if !matches!(sub.status, Status::Active | Status::Trial) {
        return Err(Refusal::SubscriptionNotActive.into());
    }
    if request.currency != sub.currency {
        return Err(Refusal::UpgradeCurrencyDiffers.into());
    }
    let terms = Terms::of(package, sub.period_months, sub.currency)?;
    if terms.rank() <= sub.terms.rank() || terms.package_code == sub.terms.package_code {
        return Err(Refusal::UpgradeNotHigher.into());
    }
    let period = (sub.period_months * super::MONTH).max(1);
    let left = (sub.current_period_end - now).clamp(0, i64::MAX);
    let prorate = |price_minor: i64| -> i64 {
        // i128: a price times seconds can pass i64 for long periods in Rial-sized numbers.
        ((price_minor as i128 * left as i128) / period as i128) as i64
    };
    let currency = sub.currency;
    let cost = Money::new(prorate(terms.price_minor), currency);
    let credit = Money::new(prorate(sub.terms.price_minor).min(cost.minor()), currency);
    Ok((terms, cost, credit))
}

trait MaxZero {
    fn max_zero(self) -> Self;
}

impl MaxZero for Money {
    fn max_zero(self) -> Money {
        if self.is_negative() {
            Money::zero(self.currency())
        } else {
            self
        }
    }
}

const ORDER_COLUMNS: &str =
    "id, customer_id, kind, package_id, terms, period_months, subscription_id, \
    currency, subtotal_minor, discount_minor, credit_minor, total_minor, coupon_id";

fn order_from_row(row: &shared::db::Row) -> Result<Order> {
    let code: String = row.try_get("currency")?;
    let currency = Currency::from_code(&code).map_err(|e| Error::Corrupt(format!("order: {e}")))?;
    let money = |column: &str| -> Result<Money> {
        Ok(Money::new(row.try_get::<i64, _>(column)?, currency))
    };
    Ok(Order {
        id: row.try_get("id")?,
        customer_id: row.try_get("customer_id")?,
        kind: OrderKind::parse(&row.try_get::<String, _>("kind")?)?,
        package_id: row.try_get("package_id")?,
        terms: Terms::from_json(&row.try_get::<String, _>("terms")?)?,
        period_months: row.try_get("period_months")?,
        subscription_id: row.try_get("subscription_id")?,
        subtotal: money("subtotal_minor")?,
        discount: money("discount_minor")?,
        credit: money("credit_minor")?,
        total: money("total_minor")?,
        coupon_id: row.try_get("coupon_id")?,
    })
}

pub async fn order_tx(tx: &mut Tx<'_>, id: &str) -> Result<Option<Order>> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut **tx).await?;
    row.as_ref().map(order_from_row).transpose()
}

pub async fn order(db: &Db, id: &str) -> Result<Option<Order>> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(order_from_row).transpose()
}

const INVOICE_COLUMNS: &str =
    "id, order_id, customer_id, currency, amount_minor, status, expires_at, paid_at";

fn invoice_from_row(row: &shared::db::Row) -> Result<Invoice> {
    let code: String = row.try_get("currency")?;
    let currency =
        Currency::from_code(&code).map_err(|e| Error::Corrupt(format!("invoice: {e}")))?;
    Ok(Invoice {
        id: row.try_get("id")?,
        order_id: row.try_get("order_id")?,
        customer_id: row.try_get("customer_id")?,
        amount: Money::new(row.try_get("amount_minor")?, currency),
        status: InvoiceStatus::parse(&row.try_get::<String, _>("status")?)?,
        expires_at: row.try_get("expires_at")?,
        paid_at: row.try_get("paid_at")?,
    })
}

pub async fn invoice(db: &Db, id: &str) -> Result<Option<Invoice>> {
    let sql = format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(invoice_from_row).transpose()
}

pub async fn invoice_tx(tx: &mut Tx<'_>, id: &str) -> Result<Option<Invoice>> {
    let sql = format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut **tx).await?;
    row.as_ref().map(invoice_from_row).transpose()
}

pub async fn invoices_of(db: &Db, customer_id: &str) -> Result<Vec<Invoice>> {
    let sql = format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices WHERE customer_id = $1 ORDER BY created_at DESC, id DESC"
    );
    let rows = sqlx::query(&sql)
        .bind(customer_id)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(invoice_from_row).collect()
}

/// Closes an open invoice as expired or cancelled and gives its coupon use back.
/// False when it was not open (paid meanwhile, or closed already).
async fn close(db: &Db, id: &str, to: InvoiceStatus, now: i64) -> Result<bool> {
    let mut tx = db.begin().await?;
    let closed = sqlx::query(
        "UPDATE invoices SET status = $1, updated_at = $2 WHERE id = $3 AND status = 'open'",
    )
    .bind(to.as_str())
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if closed {
        let coupon: Option<String> = sqlx::query_scalar(
            "SELECT o.coupon_id FROM orders o JOIN invoices i ON i.order_id = o.id WHERE i.id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(coupon) = coupon {
            coupons::release(&mut tx, &coupon).await?;
        }
    }
    tx.commit().await?;
    Ok(closed)
}

/// The customer gives up an unpaid invoice.
pub async fn cancel(db: &Db, id: &str, customer_id: &str, now: i64) -> Result<bool> {
    match invoice(db, id).await? {
        Some(i) if i.customer_id == customer_id => {
            close(db, id, InvoiceStatus::Cancelled, now).await
        }
        _ => Ok(false),
    }
}

/// Expires every open invoice past its time. Safe to run twice. Returns how many expired.
pub async fn expire_lapsed(db: &Db, now: i64) -> Result<usize> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM invoices WHERE status = 'open' AND expires_at <= $1")
            .bind(now)
            .fetch_all(db.pool())
            .await?;
    let mut expired = 0;
    for id in ids {
        if close(db, &id, InvoiceStatus::Expired, now).await? {
            expired += 1;
        }
    }
    Ok(expired)
}
