//! What the bot waits for from a person between messages (a coupon code, a receipt photo, a
//! rejection reason), kept in the database so a restart loses nothing.

use serde::{Deserialize, Serialize};
use shared::db::Db;

use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Waiting {
    /// The next text is a coupon code for this package and period.
    CouponCode { package: String, months: i64 },
    /// A coupon checked and ready for the next payment of this package and period.
    CouponReady {
        package: String,
        months: i64,
        code: String,
    },
    /// The next photo is the receipt of this card payment.
    Receipt { payment_id: String },
    /// (Staff) the next text is why this receipt is rejected.
    RejectReason { payment_id: String },
    /// The next text is a message to support.
    SupportMessage,
    /// (Staff) the next text answers this ticket.
    TicketAnswer { ticket_id: String },
}

impl Waiting {
    fn kind(&self) -> &'static str {
        match self {
            Waiting::CouponCode { .. } => "coupon_code",
            Waiting::CouponReady { .. } => "coupon_ready",
            Waiting::Receipt { .. } => "receipt",
            Waiting::RejectReason { .. } => "reject_reason",
            Waiting::SupportMessage => "support_message",
            Waiting::TicketAnswer { .. } => "ticket_answer",
        }
    }
}

pub async fn get(db: &Db, telegram_id: i64) -> Result<Option<Waiting>> {
    let data: Option<String> =
        sqlx::query_scalar("SELECT data FROM conversations WHERE telegram_id = $1")
            .bind(telegram_id)
            .fetch_optional(db.pool())
            .await?;
    data.map(|d| serde_json::from_str(&d).map_err(|e| Error::Corrupt(format!("conversation: {e}"))))
        .transpose()
}

pub async fn set(db: &Db, telegram_id: i64, waiting: &Waiting, now: i64) -> Result<()> {
    let data =
        serde_json::to_string(waiting).map_err(|e| Error::Corrupt(format!("conversation: {e}")))?;
    sqlx::query(
        "INSERT INTO conversations (telegram_id, kind, data, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (telegram_id) DO UPDATE SET kind = excluded.kind, data = excluded.data,
             updated_at = excluded.updated_at",
    )
    .bind(telegram_id)
    .bind(waiting.kind())
    .bind(data)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

pub async fn clear(db: &Db, telegram_id: i64) -> Result<()> {
    sqlx::query("DELETE FROM conversations WHERE telegram_id = $1")
        .bind(telegram_id)
        .execute(db.pool())
        .await?;
    Ok(())
}
