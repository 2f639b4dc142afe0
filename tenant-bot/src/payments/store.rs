//! The `payments` table: rows in, rows out, and the small guarded updates that move a payment
//! between states without ever touching one that was applied.

use shared::db::{new_id, Db, RowExt};
use shared::money::{Currency, Money};
use shared::payment::Method;

use crate::wallet::{Tx, CURRENCY};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    /// A card-to-card receipt waits for an admin.
    InReview,
    Paid,
    Failed,
    Rejected,
    /// Another (or a partial) amount arrived: not applied, admins alerted.
    Mismatch,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::InReview => "in_review",
            Status::Paid => "paid",
            Status::Failed => "failed",
            Status::Rejected => "rejected",
            Status::Mismatch => "mismatch",
        }
    }

    fn parse(s: &str) -> Result<Status> {
        Ok(match s {
            "pending" => Status::Pending,
            "in_review" => Status::InReview,
            "paid" => Status::Paid,
            "failed" => Status::Failed,
            "rejected" => Status::Rejected,
            "mismatch" => Status::Mismatch,
            other => return Err(Error::Corrupt(format!("payment status {other}"))),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: String,
    pub telegram_id: i64,
    /// The order this payment pays, once in the wallet; `None` = a top-up.
    pub order_id: Option<String>,
    pub method: Method,
    /// What the buyer pays, in the gateway's currency.
    pub amount: Money,
    /// What the wallet is credited, in Toman.
    pub credit: Money,
    pub status: Status,
    /// Zarinpal: the authority; NowPayments: the payment id (from an IPN); Stars: the charge id.
    pub provider_ref: Option<String>,
    /// Where the buyer pays (Zarinpal StartPay, NowPayments invoice page).
    pub pay_url: Option<String>,
    pub detail: Option<String>,
    pub card_number: Option<String>,
    pub receipt_file_id: Option<String>,
    pub submitted_at: Option<i64>,
    pub decided_by: Option<i64>,
    pub applied_at: Option<i64>,
    pub created_at: i64,
}

/// What `checkout` (JSON) keeps of a gateway's answer to start.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Stored {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// NowPayments: the invoice the buyer pays (its payments have their own ids).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<String>,
}

const COLUMNS: &str = "id, telegram_id, order_id, method, currency, amount_minor, credit_minor, \
    status, provider_ref, checkout, detail, card_number, receipt_file_id, submitted_at, \
    decided_by, applied_at, created_at";

fn from_row(row: &shared::db::Row) -> Result<Payment> {
    let code: String = row.try_get("currency")?;
    let currency = Currency::from_code(&code)?;
    let method: String = row.try_get("method")?;
    let checkout: Option<String> = row.try_get("checkout")?;
    let stored: Stored = match checkout {
        None => Stored::default(),
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| Error::Corrupt(format!("payment checkout: {e}")))?,
    };
    Ok(Payment {
        id: row.try_get("id")?,
        telegram_id: row.try_get("telegram_id")?,
        order_id: row.try_get("order_id")?,
        method: Method::from_code(&method)
            .ok_or_else(|| Error::Corrupt(format!("payment method {method}")))?,
        amount: Money::new(row.try_get("amount_minor")?, currency),
        credit: Money::new(row.try_get("credit_minor")?, CURRENCY),
        status: Status::parse(&row.try_get::<String, _>("status")?)?,
        provider_ref: row.try_get("provider_ref")?,
        pay_url: stored.url,
        detail: row.try_get("detail")?,
        card_number: row.try_get("card_number")?,
        receipt_file_id: row.try_get("receipt_file_id")?,
        submitted_at: row.try_get("submitted_at")?,
        decided_by: row.try_get("decided_by")?,
        applied_at: row.try_get("applied_at")?,
        created_at: row.try_get("created_at")?,
    })
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Payment>> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

pub(super) async fn get_tx(tx: &mut Tx<'_>, id: &str) -> Result<Option<Payment>> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut **tx).await?;
    row.as_ref().map(from_row).transpose()
}

/// Payments of `method` in `status`, created at or after `since`, oldest first.
pub(super) async fn with_status(
    db: &Db,
    method: Method,
    status: Status,
    since: i64,
) -> Result<Vec<Payment>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM payments WHERE method = $1 AND status = $2 AND created_at >= $3
         AND applied_at IS NULL ORDER BY created_at, id"
    );
    let rows = sqlx::query(&sql)
        .bind(method.as_code())
        .bind(status.as_str())
        .bind(since)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// Card receipts in review that were sent at or before `submitted_before`.
pub(super) async fn receipts_sent_before(db: &Db, submitted_before: i64) -> Result<Vec<Payment>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM payments WHERE method = $1 AND status = 'in_review'
         AND applied_at IS NULL AND submitted_at <= $2 ORDER BY submitted_at, id"
    );
    let rows = sqlx::query(&sql)
        .bind(Method::CardToCard.as_code())
        .bind(submitted_before)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

pub(super) struct NewPayment<'a> {
    pub telegram_id: i64,
    pub order_id: Option<&'a str>,
    pub method: Method,
    pub amount: Money,
    pub credit: Money,
}

pub(super) async fn insert(db: &Db, new: &NewPayment<'_>, now: i64) -> Result<Payment> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO payments (id, telegram_id, order_id, method, currency, amount_minor,
             credit_minor, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $8)",
    )
    .bind(&id)
    .bind(new.telegram_id)
    .bind(new.order_id)
    .bind(new.method.as_code())
    .bind(new.amount.currency().as_code())
    .bind(new.amount.minor())
    .bind(new.credit.minor())
    .bind(now)
    .execute(db.pool())
    .await?;
    get(db, &id)
        .await?
        .ok_or_else(|| Error::Corrupt("a payment vanished after insert".into()))
}

/// Remembers what the gateway answered to start.
pub(super) async fn set_started(
    db: &Db,
    id: &str,
    provider_ref: Option<&str>,
    stored: &Stored,
    card_number: Option<&str>,
    now: i64,
) -> Result<()> {
    let json =
        serde_json::to_string(stored).map_err(|e| Error::Corrupt(format!("checkout: {e}")))?;
    sqlx::query(
        "UPDATE payments SET provider_ref = $2, checkout = $3, card_number = $4, updated_at = $5
         WHERE id = $1",
    )
    .bind(id)
    .bind(provider_ref)
    .bind(json)
    .bind(card_number)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Remembers the provider's id of the money once it is known (NowPayments' payment id, the
/// Stars charge id); an id set before is kept.
pub(super) async fn remember_provider_ref(
    tx: &mut Tx<'_>,
    id: &str,
    provider_ref: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE payments SET provider_ref = $2, updated_at = $3
         WHERE id = $1 AND provider_ref IS NULL",
    )
    .bind(id)
    .bind(provider_ref)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Closes an unapplied payment in `from` states with `to` and a reason. False when it was not
/// in one of those states (applied, or decided before).
pub(super) async fn close_tx(
    tx: &mut Tx<'_>,
    id: &str,
    from: &[Status],
    to: Status,
    detail: &str,
    decided_by: Option<i64>,
    now: i64,
) -> Result<bool> {
    let mut moved = 0;
    // One state at a time keeps the SQL portable without building IN lists.
    for status in from {
        moved += sqlx::query(
            "UPDATE payments SET status = $3, detail = $4, decided_by = COALESCE($5, decided_by),
                 updated_at = $6
             WHERE id = $1 AND applied_at IS NULL AND status = $2",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(to.as_str())
        .bind(detail)
        .bind(decided_by)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if moved > 0 {
            break;
        }
    }
    Ok(moved > 0)
}

pub(super) async fn close(
    db: &Db,
    id: &str,
    from: &[Status],
    to: Status,
    detail: &str,
    now: i64,
) -> Result<bool> {
    let mut tx = db.begin().await?;
    let closed = close_tx(&mut tx, id, from, to, detail, None, now).await?;
    tx.commit().await?;
    Ok(closed)
}

/// Pending payments of gateways that decide on their own, created before `before`: they were
/// never paid. Marks them failed; a late "paid" still applies them.
pub(super) async fn expire_before(db: &Db, before: i64, now: i64) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE payments SET status = 'failed', detail = 'not paid within a day', updated_at = $2
         WHERE status = 'pending' AND applied_at IS NULL AND method <> $3 AND created_at < $1",
    )
    .bind(before)
    .bind(now)
    .bind(Method::CardToCard.as_code())
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected())
}
