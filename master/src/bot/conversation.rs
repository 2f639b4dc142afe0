//! What the bot waits for from a person between messages (a coupon code, a receipt photo, a
//! rejection reason), kept in the database so a restart loses nothing (`shared::conversation`).

use serde::{Deserialize, Serialize};
use shared::conversation::ConversationError;
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

impl shared::conversation::Conversation for Waiting {
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

fn from_shared(e: ConversationError) -> Error {
    match e {
        ConversationError::Query(e) => Error::Query(e),
        ConversationError::Corrupt(e) => Error::Corrupt(format!("conversation: {e}")),
    }
}

pub async fn get(db: &Db, telegram_id: i64) -> Result<Option<Waiting>> {
    shared::conversation::get(db, telegram_id)
        .await
        .map_err(from_shared)
}

pub async fn set(db: &Db, telegram_id: i64, waiting: &Waiting, now: i64) -> Result<()> {
    shared::conversation::set(db, telegram_id, waiting, now)
        .await
        .map_err(from_shared)
}

pub async fn clear(db: &Db, telegram_id: i64) -> Result<()> {
    shared::conversation::clear(db, telegram_id)
        .await
        .map_err(from_shared)
}
