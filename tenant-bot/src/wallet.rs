//! End users' balances: a ledger of movements, each with a unique reference so that it
//! happens once whatever is retried. The shop sells in Toman; the wallet holds Toman.

use shared::db::{new_id, Db, RowExt};
use shared::money::{Currency, Money};

use crate::{Error, Result};

pub type Tx<'c> = sqlx::Transaction<'c, sqlx::Any>;

/// The one currency of a tenant's shop and its wallets.
pub const CURRENCY: Currency = Currency::Toman;

/// Why money moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Money in through a gateway or an approved receipt.
    TopUp,
    /// Paid for an order.
    Order,
    /// An order that could not be delivered, paid back.
    Refund,
    /// Set by an admin by hand.
    Admin,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TopUp => "topup",
            Reason::Order => "order",
            Reason::Refund => "refund",
            Reason::Admin => "admin",
        }
    }

    fn parse(s: &str) -> Result<Reason> {
        Ok(match s {
            "topup" => Reason::TopUp,
            "order" => Reason::Order,
            "refund" => Reason::Refund,
            "admin" => Reason::Admin,
            other => return Err(Error::Corrupt(format!("wallet reason {other}"))),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub amount: Money,
    pub reason: Reason,
    pub reference: String,
    pub created_at: i64,
}

const BALANCE_SQL: &str =
    "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM wallet_entries
     WHERE telegram_id = $1 AND currency = $2";

pub async fn balance(db: &Db, telegram_id: i64) -> Result<Money> {
    let minor: Option<i64> = sqlx::query_scalar(BALANCE_SQL)
        .bind(telegram_id)
        .bind(CURRENCY.as_code())
        .fetch_one(db.pool())
        .await?;
    Ok(Money::new(minor.unwrap_or(0), CURRENCY))
}

pub async fn balance_tx(tx: &mut Tx<'_>, telegram_id: i64) -> Result<Money> {
    let minor: Option<i64> = sqlx::query_scalar(BALANCE_SQL)
        .bind(telegram_id)
        .bind(CURRENCY.as_code())
        .fetch_one(&mut **tx)
        .await?;
    Ok(Money::new(minor.unwrap_or(0), CURRENCY))
}

/// Adds a movement (positive credit, negative debit). Returns false when a movement with the
/// same reference exists already: it happened before and is not repeated.
pub async fn record(
    tx: &mut Tx<'_>,
    telegram_id: i64,
    amount: Money,
    reason: Reason,
    reference: &str,
    now: i64,
) -> Result<bool> {
    if amount.currency() != CURRENCY {
        return Err(Error::Corrupt(format!(
            "a wallet movement in {} (wallets hold {})",
            amount.currency().as_code(),
            CURRENCY.as_code()
        )));
    }
    let done = sqlx::query(
        "INSERT INTO wallet_entries (id, telegram_id, currency, amount_minor, reason, reference, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (reference) DO NOTHING",
    )
    .bind(new_id())
    .bind(telegram_id)
    .bind(amount.currency().as_code())
    .bind(amount.minor())
    .bind(reason.as_str())
    .bind(reference)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether a movement with this reference exists.
pub async fn has_reference(tx: &mut Tx<'_>, reference: &str) -> Result<bool> {
    let found: Option<String> =
        sqlx::query_scalar("SELECT id FROM wallet_entries WHERE reference = $1")
            .bind(reference)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(found.is_some())
}

/// The latest movements, newest first.
pub async fn history(db: &Db, telegram_id: i64, limit: i64) -> Result<Vec<Entry>> {
    let rows = sqlx::query(
        "SELECT currency, amount_minor, reason, reference, created_at FROM wallet_entries
         WHERE telegram_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(telegram_id)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let code: String = row.try_get("currency")?;
            let currency = Currency::from_code(&code)?;
            Ok(Entry {
                amount: Money::new(row.try_get("amount_minor")?, currency),
                reason: Reason::parse(&row.try_get::<String, _>("reason")?)?,
                reference: row.try_get("reference")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}
