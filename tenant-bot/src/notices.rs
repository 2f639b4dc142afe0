//! Messages to send, stored in the same transaction as the change they tell about, so a crash
//! never loses one; the bot's sender delivers them and retries. Each has a dedupe key: the
//! same notice is never stored (or sent) twice.

use serde::{Deserialize, Serialize};
use shared::db::{new_id, Db, RowExt};

use crate::wallet::Tx;
use crate::{Error, Result};

/// What to tell someone. The bot renders each in the reader's language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// (User) a new account (or trial) is ready: link, QR and import tips.
    Delivered {
        order_id: String,
        service_id: String,
    },
    /// (User) a renewal or added data went through.
    Applied {
        order_id: String,
        service_id: String,
    },
    /// (User) an order could not be delivered; its money is back in the wallet.
    Refunded {
        order_id: String,
        amount_minor: i64,
        currency: String,
    },
    /// (Admins) an order failed after every try and was refunded.
    OrderFailed {
        order_id: String,
        telegram_id: i64,
        error: String,
    },
    /// (User) a service has this many days (or fewer) left.
    ExpiryReminder { service_id: String, days: i64 },
    /// (User) less than this percentage of a service's data is left.
    DataReminder { service_id: String, percent: i64 },
    /// (Admins) a panel failed its health check; it gets no new accounts.
    PanelDown { panel: String, reason: String },
    /// (Admins) a panel passes its health check again.
    PanelUp { panel: String },
    /// (Admins) a new end user was turned away: the package's end-user limit is reached.
    EndUserLimitReached { limit: i64 },
    /// (Admins) the master's panels are more than the package allows; the rest are not used.
    PanelLimitReached { limit: i64 },
    /// (Admins) a card-to-card receipt waits for review.
    ReceiptToReview { payment_id: String },
    /// (User) a payment was added to the wallet (and paid its order, if it had one).
    PaymentCredited {
        payment_id: String,
        amount_minor: i64,
        currency: String,
    },
    /// (User) a card-to-card receipt was rejected.
    PaymentRejected { payment_id: String, reason: String },
    /// (Admins) money arrived that does not settle its payment (another or a partial amount,
    /// a second payment): not credited; an admin sorts it out.
    PaymentMismatch {
        payment_id: String,
        telegram_id: i64,
        detail: String,
    },
}

impl Notice {
    pub fn kind(&self) -> &'static str {
        match self {
            Notice::Delivered { .. } => "delivered",
            Notice::Applied { .. } => "applied",
            Notice::Refunded { .. } => "refunded",
            Notice::OrderFailed { .. } => "order_failed",
            Notice::ExpiryReminder { .. } => "expiry_reminder",
            Notice::DataReminder { .. } => "data_reminder",
            Notice::PanelDown { .. } => "panel_down",
            Notice::PanelUp { .. } => "panel_up",
            Notice::EndUserLimitReached { .. } => "end_user_limit_reached",
            Notice::PanelLimitReached { .. } => "panel_limit_reached",
            Notice::ReceiptToReview { .. } => "receipt_to_review",
            Notice::PaymentCredited { .. } => "payment_credited",
            Notice::PaymentRejected { .. } => "payment_rejected",
            Notice::PaymentMismatch { .. } => "payment_mismatch",
        }
    }
}

/// A stored notice waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub id: String,
    pub telegram_id: i64,
    pub notice: Notice,
    pub attempts: i64,
}

fn encode(notice: &Notice) -> Result<String> {
    serde_json::to_string(notice).map_err(|e| Error::Corrupt(format!("notice: {e}")))
}

/// Stores a notice through `executor` (the pool, or a transaction's connection). Returns false
/// if one with this key exists.
async fn insert<'e, E>(
    executor: E,
    telegram_id: i64,
    notice: &Notice,
    dedupe_key: &str,
    now: i64,
) -> Result<bool>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let done = sqlx::query(
        "INSERT INTO notices (id, telegram_id, kind, data, dedupe_key, attempts,
             next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, 0, $6, $6)
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(new_id())
    .bind(telegram_id)
    .bind(notice.kind())
    .bind(encode(notice)?)
    .bind(dedupe_key)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores a notice inside the caller's transaction. Returns false if one with this key exists.
pub async fn push_tx(
    tx: &mut Tx<'_>,
    telegram_id: i64,
    notice: &Notice,
    dedupe_key: &str,
    now: i64,
) -> Result<bool> {
    insert(&mut **tx, telegram_id, notice, dedupe_key, now).await
}

pub async fn push(
    db: &Db,
    telegram_id: i64,
    notice: &Notice,
    dedupe_key: &str,
    now: i64,
) -> Result<bool> {
    insert(db.pool(), telegram_id, notice, dedupe_key, now).await
}

/// Stores the notice for every admin (owner first), each once for `dedupe_key`.
pub async fn to_admins(db: &Db, notice: &Notice, dedupe_key: &str, now: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    to_admins_tx(&mut tx, notice, dedupe_key, now).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn to_admins_tx(
    tx: &mut Tx<'_>,
    notice: &Notice,
    dedupe_key: &str,
    now: i64,
) -> Result<()> {
    for admin in crate::admins::ids_with(&mut **tx).await? {
        push_tx(tx, admin, notice, &format!("{dedupe_key}:{admin}"), now).await?;
    }
    Ok(())
}

/// Notices due to be sent now, oldest first.
pub async fn due(db: &Db, now: i64, limit: i64) -> Result<Vec<Pending>> {
    let rows = sqlx::query(
        "SELECT id, telegram_id, data, attempts FROM notices
         WHERE sent_at IS NULL AND dropped_at IS NULL AND next_attempt_at <= $1
         ORDER BY created_at, id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let data: String = row.try_get("data")?;
            Ok(Pending {
                id: row.try_get("id")?,
                telegram_id: row.try_get("telegram_id")?,
                notice: serde_json::from_str(&data)
                    .map_err(|e| Error::Corrupt(format!("notice: {e}")))?,
                attempts: row.try_get("attempts")?,
            })
        })
        .collect()
}

pub async fn mark_sent(db: &Db, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE notices SET sent_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Marks the notice with this key sent without sending it: the person saw the news on the
/// screen they were looking at. False when it had been sent (or was never stored).
pub async fn mark_told(db: &Db, dedupe_key: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE notices SET sent_at = $2 WHERE dedupe_key = $1 AND sent_at IS NULL AND dropped_at IS NULL",
    )
    .bind(dedupe_key)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The dedupe key of the notice an order stores when it is done.
pub fn done_key(order_id: &str) -> String {
    format!("order:{order_id}:done")
}

/// A failed send: try again later, or give up after `max_attempts`.
pub async fn mark_failed(
    db: &Db,
    id: &str,
    attempts: i64,
    max_attempts: i64,
    now: i64,
) -> Result<()> {
    let next = attempts + 1;
    if next >= max_attempts {
        sqlx::query("UPDATE notices SET attempts = $2, dropped_at = $3 WHERE id = $1")
            .bind(id)
            .bind(next)
            .bind(now)
            .execute(db.pool())
            .await?;
    } else {
        let wait = 30_i64.saturating_mul(1 << next.clamp(0, 10));
        sqlx::query("UPDATE notices SET attempts = $2, next_attempt_at = $3 WHERE id = $1")
            .bind(id)
            .bind(next)
            .bind(now + wait)
            .execute(db.pool())
            .await?;
    }
    Ok(())
}

/// The person cannot be reached (blocked the bot): never try again.
pub async fn mark_dropped(db: &Db, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE notices SET dropped_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(())
}
