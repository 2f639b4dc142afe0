//! Payments: one [`Gateway`] trait and the gateways Madar speaks (card-to-card, Zarinpal,
//! NowPayments, Telegram Stars).
//!
//! This layer is pure: no database, no side effects beyond the provider's own API. Billing
//! (the exactly-once ledger) sits on top of it and calls:
//! - [`Gateway::start`] to turn an invoice into something the buyer can pay;
//! - the callback parsers ([`zarinpal::parse_callback`], [`nowpayments::verify_ipn`],
//!   [`stars::parse_successful_payment`]) to authenticate what arrives, without acting on it;
//! - [`Gateway::verify`] (or the parsed callback's `verdict`) to learn whether the invoice is
//!   paid, in full, in the right currency.
//!
//! Every [`Verdict::Paid`] names a `provider_ref` that is unique per payment at the provider,
//! so billing can apply a payment once whatever the callbacks do (replays, duplicates, order).

mod canonical_json;
pub mod card;
mod http;
pub mod nowpayments;
pub mod stars;
pub mod zarinpal;

use std::fmt;

use crate::money::{Currency, Money};

/// How a buyer pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Bank card to bank card, proven by a receipt photo that staff approve.
    CardToCard,
    /// Zarinpal, the Iranian card gateway.
    Zarinpal,
    /// NowPayments crypto invoices.
    NowPayments,
    /// Telegram Stars (XTR) inside the bot.
    TelegramStars,
}

impl Method {
    pub const ALL: [Method; 4] = [
        Method::CardToCard,
        Method::Zarinpal,
        Method::NowPayments,
        Method::TelegramStars,
    ];

    /// A stable code for storage: "card_to_card", "zarinpal", "nowpayments", "telegram_stars".
    pub fn as_code(self) -> &'static str {
        match self {
            Method::CardToCard => "card_to_card",
            Method::Zarinpal => "zarinpal",
            Method::NowPayments => "nowpayments",
            Method::TelegramStars => "telegram_stars",
        }
    }

    pub fn from_code(code: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_code() == code)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_code())
    }
}

/// What billing asks a gateway to collect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    /// Our invoice id: the idempotency key, sent to the provider as the order id.
    pub invoice_id: String,
    pub amount: Money,
    /// Shown to the buyer by the provider (Zarinpal: at most 500 characters).
    pub description: String,
    /// Our customer (for example "tg:123456"), for the provider's records where it has a field.
    pub customer_ref: Option<String>,
    /// The buyer's mobile number, when known (Zarinpal metadata).
    pub mobile: Option<String>,
    /// The buyer's e-mail, when known (Zarinpal metadata).
    pub email: Option<String>,
    /// Where the buyer's browser comes back to. Zarinpal: its `callback_url` (required);
    /// NowPayments: `success_url` and `cancel_url`.
    pub return_url: Option<String>,
    /// Where the provider posts server-to-server notifications (NowPayments `ipn_callback_url`).
    pub notify_url: Option<String>,
}

impl PaymentRequest {
    /// A request with only the required fields; set the others with struct update syntax.
    pub fn new(
        invoice_id: impl Into<String>,
        amount: Money,
        description: impl Into<String>,
    ) -> Self {
        PaymentRequest {
            invoice_id: invoice_id.into(),
            amount,
            description: description.into(),
            customer_ref: None,
            mobile: None,
            email: None,
            return_url: None,
            notify_url: None,
        }
    }
}

/// A bank card that receives card-to-card payments.
pub use card::CardAccount;

/// What the buyer is shown to pay an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkout {
    /// Send the buyer's browser to `url`. `provider_ref` identifies this payment attempt at the
    /// provider (Zarinpal: the authority; NowPayments: the invoice id); store it with the invoice.
    Redirect { url: String, provider_ref: String },
    /// Show the card number and owner; the buyer transfers `amount` and sends a receipt photo.
    CardToCard { card: CardAccount, amount: Money },
    /// Send a Telegram Stars invoice with this payload and price (see [`stars`]).
    TelegramInvoice { payload: String, price_xtr: u32 },
}

/// What billing knows about an invoice it asks a gateway to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPayment {
    pub invoice_id: String,
    /// The amount the invoice asks for.
    pub amount: Money,
    /// Zarinpal: the authority; NowPayments: the `payment_id` from an IPN (None before one
    /// arrived); card-to-card: the receipt id; Stars: the telegram_payment_charge_id.
    pub provider_ref: Option<String>,
}

/// What a provider says about a payment. Only `Paid` may be credited as payment of the invoice;
/// `PartiallyPaid` and `Mismatch` are money that arrived but does not settle the invoice
/// (billing credits it to the customer's balance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Paid in full. `provider_ref` is unique per payment (dedupe on it); `already_verified`
    /// is true when the provider says it had already confirmed this payment (Zarinpal 101).
    /// `reference` is the number to show people (Zarinpal ref_id, Stars charge id).
    Paid {
        provider_ref: String,
        amount: Money,
        already_verified: bool,
        reference: Option<String>,
    },
    /// Not decided yet (waiting for the buyer, the blockchain or staff).
    Pending,
    /// Less than the invoice arrived; `paid` is its value in the invoice currency when known.
    PartiallyPaid {
        provider_ref: String,
        expected: Money,
        paid: Option<Money>,
    },
    /// The payment failed, was cancelled, expired, was refunded or was rejected by staff.
    Failed { reason: String },
    /// A payment exists but not for the amount or currency asked; `got` when the provider says.
    Mismatch {
        provider_ref: String,
        expected: Money,
        got: Option<Money>,
    },
}

impl Verdict {
    pub fn is_paid(&self) -> bool {
        matches!(self, Verdict::Paid { .. })
    }

    /// The provider's id of the payment, when money arrived (Paid, PartiallyPaid, Mismatch):
    /// the key to record it under so it is applied or credited once.
    pub fn provider_ref(&self) -> Option<&str> {
        match self {
            Verdict::Paid { provider_ref, .. }
            | Verdict::PartiallyPaid { provider_ref, .. }
            | Verdict::Mismatch { provider_ref, .. } => Some(provider_ref),
            Verdict::Pending | Verdict::Failed { .. } => None,
        }
    }

    /// The money that arrived, when the provider says how much: what billing credits to the
    /// customer's balance when it cannot settle the invoice (expired, cancelled, partial).
    pub fn received(&self) -> Option<Money> {
        match self {
            Verdict::Paid { amount, .. } => Some(*amount),
            Verdict::PartiallyPaid { paid, .. } => *paid,
            Verdict::Mismatch { got, .. } => *got,
            Verdict::Pending | Verdict::Failed { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    #[error("{method} cannot take payments in {currency}")]
    UnsupportedCurrency { method: Method, currency: Currency },
    #[error("the payment request is not valid: {0}")]
    InvalidRequest(String),
    #[error("the gateway is not configured correctly: {0}")]
    Config(String),
    #[error("{provider} could not be reached: {detail}; try again later")]
    Unreachable {
        provider: &'static str,
        detail: String,
    },
    #[error("{provider} refused: code {code}: {message}")]
    Provider {
        provider: &'static str,
        code: i64,
        message: String,
    },
    #[error("{provider} sent an answer we cannot read: {detail}")]
    BadResponse {
        provider: &'static str,
        detail: String,
    },
    #[error("the callback is not valid: {0}")]
    BadCallback(String),
    #[error("the callback carries no signature")]
    MissingSignature,
    #[error("the callback's signature does not match")]
    BadSignature,
    #[error("the callback is for invoice {got}, not {expected}")]
    WrongInvoice { expected: String, got: String },
    #[error(transparent)]
    Card(#[from] card::CardError),
    #[error("Telegram refused: {0}")]
    Telegram(String),
}

/// A way to collect money. Implementations call the provider but change nothing of ours.
#[async_trait::async_trait]
pub trait Gateway: Send + Sync {
    fn method(&self) -> Method;

    /// Opens a payment at the provider (or picks the card to pay to) for one invoice.
    async fn start(&self, request: &PaymentRequest) -> Result<Checkout, PaymentError>;

    /// Asks the provider whether `payment` is paid. Safe to call any number of times.
    async fn verify(&self, payment: &PendingPayment) -> Result<Verdict, PaymentError>;
}

/// Checks the parts of a request every gateway needs.
fn check_request(request: &PaymentRequest) -> Result<(), PaymentError> {
    if request.invoice_id.trim().is_empty() {
        return Err(PaymentError::InvalidRequest(
            "the invoice id is empty".into(),
        ));
    }
    if request.amount.minor() <= 0 {
        return Err(PaymentError::InvalidRequest(format!(
            "the amount must be positive, not {}",
            request.amount
        )));
    }
    Ok(())
}

/// Checks that `amount` is in `currency`, or says that `method` cannot take it.
fn require_currency(method: Method, amount: Money, currency: Currency) -> Result<(), PaymentError> {
    if amount.currency() == currency {
        Ok(())
    } else {
        Err(PaymentError::UnsupportedCurrency {
            method,
            currency: amount.currency(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_name_the_money_that_arrived() {
        let paid = Verdict::Paid {
            provider_ref: "p1".into(),
            amount: Money::toman(10_000),
            already_verified: true,
            reference: None,
        };
        assert_eq!(paid.provider_ref(), Some("p1"));
        assert_eq!(paid.received(), Some(Money::toman(10_000)));
        let partial = Verdict::PartiallyPaid {
            provider_ref: "p2".into(),
            expected: Money::usd_cents(1000),
            paid: Some(Money::usd_cents(400)),
        };
        assert_eq!(partial.provider_ref(), Some("p2"));
        assert_eq!(partial.received(), Some(Money::usd_cents(400)));
        assert!(!partial.is_paid());
        let mismatch = Verdict::Mismatch {
            provider_ref: "p3".into(),
            expected: Money::toman(5),
            got: None,
        };
        assert_eq!(mismatch.provider_ref(), Some("p3"));
        assert_eq!(mismatch.received(), None);
        assert_eq!(Verdict::Pending.provider_ref(), None);
        assert_eq!(Verdict::Failed { reason: "x".into() }.received(), None);
    }

    #[test]
    fn requests_need_an_invoice_and_a_positive_amount() {
        assert!(check_request(&PaymentRequest::new("inv", Money::toman(1), "d")).is_ok());
        assert!(check_request(&PaymentRequest::new(" ", Money::toman(1), "d")).is_err());
        assert!(check_request(&PaymentRequest::new("inv", Money::toman(-1), "d")).is_err());
    }
}
