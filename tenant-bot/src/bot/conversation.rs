//! What the bot waits for from a person between messages, kept in the database
//! (`shared::conversation`) so a restart loses nothing.

use serde::{Deserialize, Serialize};
use shared::conversation::{self, Conversation, ConversationError};
use shared::db::Db;

use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Waiting {
    /// The next text is an amount to top the wallet up with.
    TopUpAmount,
    /// The next photo is the receipt of this card-to-card payment.
    Receipt { payment_id: String },
    /// (Admins) the next text is why this receipt is rejected.
    RejectReason { payment_id: String },
    /// (Admins) the next text answers a question of the payment setup.
    Setup { step: super::setup_input::SetupStep },
}

impl Conversation for Waiting {
    fn kind(&self) -> &'static str {
        match self {
            Waiting::TopUpAmount => "top_up_amount",
            Waiting::Receipt { .. } => "receipt",
            Waiting::RejectReason { .. } => "reject_reason",
            Waiting::Setup { .. } => "setup",
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
    conversation::get(db, telegram_id)
        .await
        .map_err(from_shared)
}

pub async fn set(db: &Db, telegram_id: i64, waiting: &Waiting, now: i64) -> Result<()> {
    conversation::set(db, telegram_id, waiting, now)
        .await
        .map_err(from_shared)
}

pub async fn clear(db: &Db, telegram_id: i64) -> Result<()> {
    conversation::clear(db, telegram_id)
        .await
        .map_err(from_shared)
}
