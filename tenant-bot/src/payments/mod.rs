//! Money coming in through a gateway (card-to-card receipts, Zarinpal, NowPayments, Telegram
//! Stars), applied exactly once.
//!
//! The rule of the house: every paid order is paid from the wallet. A payment first credits
//! its user's wallet (reference `payment:{id}`), then, when it was made for an order, pays
//! that order from the wallet in the same transaction. An order that cannot be paid any more
//! (cancelled, paid another way) leaves the money in the wallet. Every path ends in
//! [`confirm`], whose guarded update lets one confirmation through, whatever callbacks,
//! replays, crashes or double taps do.
//!
//! ```text
//! start --> pending --(receipt)--> in_review --approve--> paid
//!              |                       \--reject--> rejected
//!              |--(gateway says paid)--> paid
//!              |--(gateway says failed / a day passed)--> failed
//!              \--(wrong or partial amount)--> mismatch (admins alerted)
//! ```
//!
//! A gateway that says "paid" later still wins over failed, rejected or mismatch: money that
//! arrived is never left out of the wallet.

mod check;
mod confirm;
mod receipts;
pub mod setup;
mod start;
mod store;

pub use check::{check, nowpayments_ipn, poll_pending, pre_checkout, stars_paid};
pub use confirm::{Confirmed, OrderResult};
pub use receipts::{
    approve, auto_approve_due, reject, submit_receipt, Approval, Receipt, Rejection,
};
pub use setup::{load_gateways, GatewayUrls, Gateways, PaymentSetup};
pub use start::{start, Checkout, Purpose};
pub use store::{get, Payment, Status};

use shared::money::Money;

use crate::Error;

/// What the buyer's /start payload looks like when they come back from a gateway.
pub const START_PREFIX: &str = "pay_";

/// The payment a /start payload names (`pay_<id>`), if it names one.
pub fn payment_id_from_start(payload: &str) -> Option<&str> {
    payload
        .strip_prefix(START_PREFIX)
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// What a check, a callback or a decision did with a payment; the bot renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied now: the wallet was credited and, for an order, the order paid if it could be.
    Credited(Confirmed),
    /// It had been applied before: nothing moved again.
    AlreadyApplied,
    /// The gateway has no decision yet (not paid, waiting for confirmations or an admin).
    Pending,
    /// The gateway says it failed (cancelled, expired, refunded).
    Failed { reason: String },
    /// Less than asked arrived: not credited; admins were alerted.
    PartiallyPaid {
        expected: Money,
        paid: Option<Money>,
    },
    /// Another amount or currency than asked: not credited; admins were alerted.
    Mismatch { expected: Money, got: Option<Money> },
    /// An admin rejected the receipt.
    Rejected { reason: String },
    /// No such payment (or not one of this gateway's).
    Unknown,
}

/// Why a payment step said no. The bot shows `refusal.payment.<key>` in the user's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentRefusal {
    /// The method is not set up (or has no conversion rate) in this shop now.
    MethodOff,
    /// The amount to top up must be more than zero.
    BadAmount,
    /// The payment is not this user's, or does not exist.
    NoSuchPayment,
    /// Only the shop's admins may decide receipts.
    NotAnAdmin,
    /// This payment takes no receipt now (not card-to-card, or decided already).
    ReceiptNotExpected,
    /// The receipt was approved: it cannot be rejected any more.
    AlreadyApproved,
    /// A rejection must say why, so the user can fix it.
    ReasonRequired,
}

impl PaymentRefusal {
    pub fn key(&self) -> &'static str {
        match self {
            PaymentRefusal::MethodOff => "refusal.payment.method_off",
            PaymentRefusal::BadAmount => "refusal.payment.bad_amount",
            PaymentRefusal::NoSuchPayment => "refusal.payment.no_such_payment",
            PaymentRefusal::NotAnAdmin => "refusal.payment.not_an_admin",
            PaymentRefusal::ReceiptNotExpected => "refusal.payment.receipt_not_expected",
            PaymentRefusal::AlreadyApproved => "refusal.payment.already_approved",
            PaymentRefusal::ReasonRequired => "refusal.payment.reason_required",
        }
    }
}

impl From<PaymentRefusal> for Error {
    fn from(r: PaymentRefusal) -> Self {
        Error::Refused(crate::refusal::Refusal::Payment(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_payload_names_a_payment_only_when_well_formed() {
        assert_eq!(payment_id_from_start("pay_0193abc"), Some("0193abc"));
        assert_eq!(payment_id_from_start("pay_"), None);
        assert_eq!(payment_id_from_start("pay_x;drop"), None);
        assert_eq!(payment_id_from_start("ref_123"), None);
    }
}
