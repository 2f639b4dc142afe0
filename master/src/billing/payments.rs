//! Payments, applied exactly once. Whatever a gateway's callbacks do (replays, duplicates,
//! out of order, a crash between steps), [`confirm`] moves money once: the payment's
//! `applied_at` is set by a guarded update in the same transaction that pays the invoice and
//! puts the order into effect, or credits the wallet when the invoice can no longer be paid.

use shared::db::{new_id, Db, RowExt};
use shared::money::{Currency, Money};

use super::orders::{self, InvoiceStatus};
use super::subscriptions;
use super::wallet::{self, Tx};
use super::Refusal;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Card,
    Zarinpal,
    NowPayments,
    Stars,
    Wallet,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Card => "card",
            Method::Zarinpal => "zarinpal",
            Method::NowPayments => "nowpayments",
            Method::Stars => "stars",
            Method::Wallet => "wallet",
        }
    }

    pub fn parse(s: &str) -> Result<Method> {
        Ok(match s {
            "card" => Method::Card,
            "zarinpal" => Method::Zarinpal,
            "nowpayments" => Method::NowPayments,
            "stars" => Method::Stars,
            "wallet" => Method::Wallet,
            other => return Err(Error::Corrupt(format!("payment method {other}"))),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    Pending,
    /// A card-to-card receipt waits for staff.
    InReview,
    Paid,
    Failed,
    Rejected,
    /// The provider reported a different amount or currency: not applied, staff alerted.
    Mismatch,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::InReview => "in_review",
            PaymentStatus::Paid => "paid",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Rejected => "rejected",
            PaymentStatus::Mismatch => "mismatch",
        }
    }

    fn parse(s: &str) -> Result<PaymentStatus> {
        Ok(match s {
            "pending" => PaymentStatus::Pending,
            "in_review" => PaymentStatus::InReview,
            "paid" => PaymentStatus::Paid,
            "failed" => PaymentStatus::Failed,
            "rejected" => PaymentStatus::Rejected,
            "mismatch" => PaymentStatus::Mismatch,
            other => return Err(Error::Corrupt(format!("payment status {other}"))),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: String,
    pub invoice_id: String,
    pub customer_id: String,
    pub method: Method,
    pub provider_ref: Option<String>,
    pub amount: Money,
    pub status: PaymentStatus,
    pub detail: Option<String>,
    pub card_id: Option<String>,
    pub receipt_file_id: Option<String>,
    pub applied_at: Option<i64>,
}

/// What [`confirm`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Money moved now: the invoice was paid (and the order put into effect), or, when the
    /// invoice could no longer be paid, the amount went to the customer's wallet.
    Applied {
        invoice_paid: bool,
        credited_to_wallet: bool,
        subscription_id: Option<String>,
    },
    /// It had been applied before: nothing moved again.
    AlreadyApplied,
    /// The provider reports another amount or currency: nothing applied.
    Mismatch { expected: Money, got: Money },
    /// The payment was failed or rejected before; a late confirmation is for staff to look at.
    Closed { status: PaymentStatus },
}

const COLUMNS: &str = "id, invoice_id, customer_id, method, provider_ref, currency, amount_minor, \
    status, detail, card_id, receipt_file_id, applied_at";

fn from_row(row: &shared::db::Row) -> Result<Payment> {
    let code: String = row.try_get("currency")?;
    let currency =
        Currency::from_code(&code).map_err(|e| Error::Corrupt(format!("payment: {e}")))?;
    Ok(Payment {
        id: row.try_get("id")?,
        invoice_id: row.try_get("invoice_id")?,
        customer_id: row.try_get("customer_id")?,
        method: Method::parse(&row.try_get::<String, _>("method")?)?,
        provider_ref: row.try_get("provider_ref")?,
        amount: Money::new(row.try_get("amount_minor")?, currency),
        status: PaymentStatus::parse(&row.try_get::<String, _>("status")?)?,
        detail: row.try_get("detail")?,
        card_id: row.try_get("card_id")?,
        receipt_file_id: row.try_get("receipt_file_id")?,
        applied_at: row.try_get("applied_at")?,
    })
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Payment>> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn by_provider_ref(
    db: &Db,
    method: Method,
    provider_ref: &str,
) -> Result<Option<Payment>> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE method = $1 AND provider_ref = $2");
    let row = sqlx::query(&sql)
        .bind(method.as_str())
        .bind(provider_ref)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn of_invoice(db: &Db, invoice_id: &str) -> Result<Vec<Payment>> {
    let sql =
        format!("SELECT {COLUMNS} FROM payments WHERE invoice_id = $1 ORDER BY created_at, id");
    let rows = sqlx::query(&sql)
        .bind(invoice_id)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// Payments in a status, oldest first (e.g. receipts waiting for review).
pub async fn with_status(db: &Db, status: PaymentStatus) -> Result<Vec<Payment>> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE status = $1 ORDER BY created_at, id");
    let rows = sqlx::query(&sql)
        .bind(status.as_str())
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// Starts paying an open invoice with a method. The amount is the invoice's.
pub async fn open(db: &Db, now: i64, invoice_id: &str, method: Method) -> Result<Payment> {
    let invoice = orders::invoice(db, invoice_id)
        .await?
        .ok_or(Refusal::InvoiceNotPayable)?;
    if invoice.status != InvoiceStatus::Open || invoice.expires_at <= now {
        return Err(Refusal::InvoiceNotPayable.into());
    }
    let id = new_id();
    sqlx::query(
        "INSERT INTO payments (id, invoice_id, customer_id, method, currency, amount_minor, status,
             created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7)",
    )
    .bind(&id)
    .bind(&invoice.id)
    .bind(&invoice.customer_id)
    .bind(method.as_str())
    .bind(invoice.amount.currency().as_code())
    .bind(invoice.amount.minor())
    .bind(now)
    .execute(db.pool())
    .await?;
    get(db, &id)
        .await?
        .ok_or_else(|| Error::Corrupt("a payment vanished after insert".into()))
}

/// Remembers the provider's id for a payment (Zarinpal's authority, NowPayments' invoice id...).
pub async fn set_provider_ref(db: &Db, now: i64, id: &str, provider_ref: &str) -> Result<()> {
    sqlx::query("UPDATE payments SET provider_ref = $1, updated_at = $2 WHERE id = $3")
        .bind(provider_ref)
        .bind(now)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// A card-to-card receipt arrived: the payment waits for staff.
pub async fn attach_receipt(
    db: &Db,
    now: i64,
    id: &str,
    receipt_file_id: &str,
    card_id: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE payments SET receipt_file_id = $1, card_id = $2, status = 'in_review', updated_at = $3
         WHERE id = $4 AND applied_at IS NULL AND status IN ('pending', 'in_review')",
    )
    .bind(receipt_file_id)
    .bind(card_id)
    .bind(now)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks a payment failed or rejected, with a reason. Never touches an applied payment.
pub async fn close(
    db: &Db,
    now: i64,
    id: &str,
    status: PaymentStatus,
    detail: &str,
    reviewed_by: Option<&str>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE payments SET status = $1, detail = $2, reviewed_by = $3, updated_at = $4
         WHERE id = $5 AND applied_at IS NULL AND status IN ('pending', 'in_review')",
    )
    .bind(status.as_str())
    .bind(detail)
    .bind(reviewed_by)
    .bind(now)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The provider (or staff, for a card receipt) says the payment was made with `received`.
/// Applies it exactly once; see the module's documentation.
pub async fn confirm(
    db: &Db,
    now: i64,
    id: &str,
    received: Money,
    reviewed_by: Option<&str>,
) -> Result<Outcome> {
    let mut tx = db.begin().await?;
    // The guard: only the first confirmation of the right amount gets past this update.
    let claimed = sqlx::query(
        "UPDATE payments SET status = 'paid', applied_at = $1, reviewed_by = $2, updated_at = $1
         WHERE id = $3 AND applied_at IS NULL AND status IN ('pending', 'in_review')
           AND currency = $4 AND amount_minor = $5",
    )
    .bind(now)
    .bind(reviewed_by)
    .bind(id)
    .bind(received.currency().as_code())
    .bind(received.minor())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !claimed {
        tx.rollback().await?;
        return not_claimed(db, now, id, received).await;
    }
    let payment = get_tx(&mut tx, id).await?;
    let outcome = settle(&mut tx, now, &payment).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Why a confirmation did not get past the guard.
async fn not_claimed(db: &Db, now: i64, id: &str, received: Money) -> Result<Outcome> {
    let payment = get(db, id)
        .await?
        .ok_or_else(|| Error::Corrupt(format!("confirmation of unknown payment {id}")))?;
    if payment.applied_at.is_some() {
        return Ok(Outcome::AlreadyApplied);
    }
    if matches!(
        payment.status,
        PaymentStatus::Pending | PaymentStatus::InReview
    ) {
        let detail = format!(
            "expected {}, provider reported {}",
            payment.amount, received
        );
        sqlx::query(
            "UPDATE payments SET status = 'mismatch', detail = $1, updated_at = $2
             WHERE id = $3 AND applied_at IS NULL",
        )
        .bind(&detail)
        .bind(now)
        .bind(id)
        .execute(db.pool())
        .await?;
        return Ok(Outcome::Mismatch {
            expected: payment.amount,
            got: received,
        });
    }
    if payment.status == PaymentStatus::Mismatch {
        return Ok(Outcome::Mismatch {
            expected: payment.amount,
            got: received,
        });
    }
    Ok(Outcome::Closed {
        status: payment.status,
    })
}

async fn get_tx(tx: &mut Tx<'_>, id: &str) -> Result<Payment> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_one(&mut **tx).await?;
    from_row(&row)
}

/// Pays the invoice with an applied payment, or credits the wallet when the invoice is no
/// longer open (expired, cancelled, or paid by another payment).
async fn settle(tx: &mut Tx<'_>, now: i64, payment: &Payment) -> Result<Outcome> {
    let paid_now = sqlx::query(
        "UPDATE invoices SET status = 'paid', paid_at = $1, updated_at = $1
         WHERE id = $2 AND status = 'open'",
    )
    .bind(now)
    .bind(&payment.invoice_id)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if paid_now {
        let invoice = orders::invoice_tx(tx, &payment.invoice_id)
            .await?
            .ok_or_else(|| Error::Corrupt("a paid invoice vanished".into()))?;
        let order = orders::order_tx(tx, &invoice.order_id)
            .await?
            .ok_or_else(|| Error::Corrupt("an invoice without its order".into()))?;
        let subscription_id = subscriptions::fulfil(tx, &order, now).await?;
        return Ok(Outcome::Applied {
            invoice_paid: true,
            credited_to_wallet: false,
            subscription_id: Some(subscription_id),
        });
    }
    if !payment.amount.is_zero() {
        wallet::record(
            tx,
            &payment.customer_id,
            payment.amount,
            "payment for a closed invoice",
            &format!("payment:{}", payment.id),
            now,
        )
        .await?;
    }
    Ok(Outcome::Applied {
        invoice_paid: false,
        credited_to_wallet: !payment.amount.is_zero(),
        subscription_id: None,
    })
}

/// Records that the provider reports money that does not match, without an amount.
pub async fn flag_mismatch(db: &Db, now: i64, id: &str, detail: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE payments SET status = 'mismatch', detail = $1, updated_at = $2
         WHERE id = $3 AND applied_at IS NULL AND status IN ('pending', 'in_review')",
    )
    .bind(detail)
    .bind(now)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// When a payment went into review (its receipt arrived): the clock for auto-approval.
pub async fn reviewed_since(db: &Db, id: &str) -> Result<i64> {
    let at: Option<i64> = sqlx::query_scalar("SELECT updated_at FROM payments WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(at.unwrap_or(i64::MAX))
}

/// Money received per card (by card number) from applied card payments.
pub async fn card_totals(db: &Db) -> Result<Vec<(String, Money)>> {
    let rows = sqlx::query(
        "SELECT card_id, currency, CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS total
         FROM payments WHERE method = 'card' AND applied_at IS NOT NULL AND card_id IS NOT NULL
         GROUP BY card_id, currency ORDER BY card_id",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let code: String = row.try_get("currency")?;
            let currency =
                Currency::from_code(&code).map_err(|e| Error::Corrupt(format!("payment: {e}")))?;
            Ok((
                row.try_get("card_id")?,
                Money::new(row.try_get("total")?, currency),
            ))
        })
        .collect()
}

/// Pays an open invoice from the customer's wallet, once.
pub async fn pay_from_wallet(db: &Db, now: i64, invoice_id: &str) -> Result<Outcome> {
    let mut tx = db.begin().await?;
    let invoice = orders::invoice_tx(&mut tx, invoice_id)
        .await?
        .ok_or(Refusal::InvoiceNotPayable)?;
    wallet::lock_customer(&mut tx, &invoice.customer_id).await?;
    // One wallet payment per invoice: a second try finds it and stops.
    let reference = format!("invoice:{}", invoice.id);
    let existing: Option<String> =
        sqlx::query_scalar("SELECT id FROM payments WHERE method = 'wallet' AND provider_ref = $1")
            .bind(&reference)
            .fetch_optional(&mut *tx)
            .await?;
    if existing.is_some() {
        tx.rollback().await?;
        return Ok(Outcome::AlreadyApplied);
    }
    if invoice.status != InvoiceStatus::Open || invoice.expires_at <= now {
        tx.rollback().await?;
        return Err(Refusal::InvoiceNotPayable.into());
    }
    let balance =
        wallet::balance_tx(&mut tx, &invoice.customer_id, invoice.amount.currency()).await?;
    if balance.minor() < invoice.amount.minor() {
        tx.rollback().await?;
        return Err(Refusal::NotEnoughBalance {
            balance,
            needed: invoice.amount,
        }
        .into());
    }
    let id = new_id();
    sqlx::query(
        "INSERT INTO payments (id, invoice_id, customer_id, method, provider_ref, currency, amount_minor,
             status, applied_at, created_at, updated_at)
         VALUES ($1, $2, $3, 'wallet', $4, $5, $6, 'paid', $7, $7, $7)",
    )
    .bind(&id)
    .bind(&invoice.id)
    .bind(&invoice.customer_id)
    .bind(&reference)
    .bind(invoice.amount.currency().as_code())
    .bind(invoice.amount.minor())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let debit = Money::new(-invoice.amount.minor(), invoice.amount.currency());
    wallet::record(
        &mut tx,
        &invoice.customer_id,
        debit,
        "invoice paid from the wallet",
        &reference,
        now,
    )
    .await?;
    let payment = get_tx(&mut tx, &id).await?;
    let outcome = settle(&mut tx, now, &payment).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Settles an invoice that costs nothing (a full coupon, an upgrade covered by credit).
pub(super) async fn settle_free(db: &Db, now: i64, invoice_id: &str) -> Result<Outcome> {
    pay_from_wallet(db, now, invoice_id).await
}
