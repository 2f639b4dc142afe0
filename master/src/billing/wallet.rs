//! Customers' balances: a ledger of movements, each with a unique reference so it happens once.

use shared::db::{new_id, Db, RowExt};
use shared::money::{Currency, Money};

use crate::Result;

pub type Tx<'c> = sqlx::Transaction<'c, sqlx::Any>;

/// The balance of one currency.
pub async fn balance(db: &Db, customer_id: &str, currency: Currency) -> Result<Money> {
    let minor: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM wallet_entries
         WHERE customer_id = $1 AND currency = $2",
    )
    .bind(customer_id)
    .bind(currency.as_code())
    .fetch_one(db.pool())
    .await?;
    Ok(Money::new(minor.unwrap_or(0), currency))
}

pub async fn balance_tx(tx: &mut Tx<'_>, customer_id: &str, currency: Currency) -> Result<Money> {
    let minor: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM wallet_entries
         WHERE customer_id = $1 AND currency = $2",
    )
    .bind(customer_id)
    .bind(currency.as_code())
    .fetch_one(&mut **tx)
    .await?;
    Ok(Money::new(minor.unwrap_or(0), currency))
}

/// Adds a movement (positive credit, negative debit). Returns false when a movement with the
/// same reference exists already: it has happened before and is not repeated.
pub async fn record(
    tx: &mut Tx<'_>,
    customer_id: &str,
    amount: Money,
    reason: &str,
    reference: &str,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO wallet_entries (id, customer_id, currency, amount_minor, reason, reference, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (reference) DO NOTHING",
    )
    .bind(new_id())
    .bind(customer_id)
    .bind(amount.currency().as_code())
    .bind(amount.minor())
    .bind(reason)
    .bind(reference)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Serialises money movements of one customer: both engines hold this row's write lock until
/// the transaction ends, so two spends cannot both see the same balance.
pub async fn lock_customer(tx: &mut Tx<'_>, customer_id: &str) -> Result<()> {
    sqlx::query("UPDATE customers SET updated_at = updated_at WHERE id = $1")
        .bind(customer_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub amount: Money,
    pub reason: String,
    pub reference: String,
    pub created_at: i64,
}

/// A customer's movements, newest first.
pub async fn history(db: &Db, customer_id: &str) -> Result<Vec<Entry>> {
    let rows = sqlx::query(
        "SELECT currency, amount_minor, reason, reference, created_at FROM wallet_entries
         WHERE customer_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(customer_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let code: String = row.try_get("currency")?;
            let currency = Currency::from_code(&code)
                .map_err(|e| crate::Error::Corrupt(format!("wallet: {e}")))?;
            Ok(Entry {
                amount: Money::new(row.try_get("amount_minor")?, currency),
                reason: row.try_get("reason")?,
                reference: row.try_get("reference")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}
