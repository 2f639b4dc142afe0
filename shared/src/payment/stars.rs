//! Telegram Stars (currency "XTR"): invoices, pre-checkout checks, successful payments and
//! refunds, through teloxide.
//!
//! The flow: the bot sends an invoice (`sendInvoice` with currency XTR, no provider token, one
//! price); Telegram asks the bot with a `pre_checkout_query`, which must be answered within
//! 10 seconds ([`check_pre_checkout`] then [`answer_pre_checkout`]); Telegram then sends a
//! message with `successful_payment` ([`parse_successful_payment`]), whose
//! `telegram_payment_charge_id` is unique per payment and needed for [`refund`].

use teloxide::payloads::{CreateInvoiceLinkSetters, SendInvoiceSetters};
use teloxide::prelude::Requester;
use teloxide::types::{
    ChatId, LabeledPrice, Message, PreCheckoutQuery, SuccessfulPayment, TelegramTransactionId,
    UserId,
};
use teloxide::Bot;

use crate::i18n::Locale;
use crate::money::{Currency, Money};

use super::{Checkout, Gateway, Method, PaymentError, PaymentRequest, PendingPayment, Verdict};

/// The currency code of Telegram Stars.
pub const CURRENCY: &str = "XTR";

/// An invoice in Stars, checked against Telegram's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StarsInvoice {
    /// 1-32 characters.
    pub title: String,
    /// 1-255 characters.
    pub description: String,
    /// Our invoice id, 1-128 bytes; comes back in the pre-checkout query and the payment.
    pub payload: String,
    /// The one price a Stars invoice may have.
    pub price: LabeledPrice,
}

impl StarsInvoice {
    pub fn new(
        title: &str,
        description: &str,
        payload: &str,
        amount: Money,
    ) -> Result<StarsInvoice, PaymentError> {
        let invalid = |problem: &str| PaymentError::InvalidRequest(problem.to_string());
        if amount.currency() != Currency::Xtr {
            return Err(PaymentError::UnsupportedCurrency {
                method: Method::TelegramStars,
                currency: amount.currency(),
            });
        }
        let stars = u32::try_from(amount.minor())
            .ok()
            .filter(|s| *s >= 1)
            .ok_or_else(|| invalid("a Stars invoice must ask for at least one star"))?;
        if !(1..=32).contains(&title.chars().count()) {
            return Err(invalid("the invoice title must have 1 to 32 characters"));
        }
        if !(1..=255).contains(&description.chars().count()) {
            return Err(invalid(
                "the invoice description must have 1 to 255 characters",
            ));
        }
        if !(1..=128).contains(&payload.len()) {
            return Err(invalid("the invoice payload must have 1 to 128 bytes"));
        }
        Ok(StarsInvoice {
            title: title.to_string(),
            description: description.to_string(),
            payload: payload.to_string(),
            price: LabeledPrice::new(title.to_string(), stars),
        })
    }

    /// `sendInvoice` to `chat_id`: currency XTR, no provider token, one price.
    pub async fn send(&self, bot: &Bot, chat_id: ChatId) -> Result<Message, PaymentError> {
        bot.send_invoice(
            chat_id,
            &self.title,
            &self.description,
            &self.payload,
            CURRENCY,
            [self.price.clone()],
        )
        .provider_token("")
        .await
        .map_err(|e| PaymentError::Telegram(e.to_string()))
    }

    /// `createInvoiceLink`: a t.me link to the same invoice.
    pub async fn link(&self, bot: &Bot) -> Result<String, PaymentError> {
        bot.create_invoice_link(
            &self.title,
            &self.description,
            &self.payload,
            CURRENCY,
            [self.price.clone()],
        )
        .provider_token("")
        .await
        .map_err(|e| PaymentError::Telegram(e.to_string()))
    }
}

/// Why a pre-checkout query was refused; [`CheckoutRefusal::message`] is what the buyer sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutRefusal {
    #[error("the invoice is in {got}, not Telegram Stars")]
    WrongCurrency { got: String },
    #[error("the invoice payload {got:?} is not the invoice {expected:?}")]
    WrongPayload { expected: String, got: String },
    #[error("the invoice asks for {got} stars, not {expected}")]
    WrongAmount { expected: i64, got: i64 },
}

impl CheckoutRefusal {
    /// A short message for the buyer (Telegram shows it in the payment form).
    pub fn message(&self, locale: Locale) -> &'static str {
        match (self, locale) {
            (CheckoutRefusal::WrongAmount { .. }, Locale::Fa) => {
                "مبلغ این سفارش تغییر کرده است. لطفاً از ربات صورتحساب تازه بگیرید."
            }
            (CheckoutRefusal::WrongAmount { .. }, Locale::En) => {
                "The price of this order has changed. Please ask the bot for a new invoice."
            }
            (_, Locale::Fa) => "این صورتحساب دیگر معتبر نیست. لطفاً از ربات صورتحساب تازه بگیرید.",
            (_, Locale::En) => "This invoice is no longer valid. Please ask the bot for a new one.",
        }
    }
}

/// Checks a pre-checkout query against billing's invoice: payload, currency and amount.
pub fn check_pre_checkout(
    query: &PreCheckoutQuery,
    expected: &PendingPayment,
) -> Result<(), CheckoutRefusal> {
    if query.currency != CURRENCY {
        return Err(CheckoutRefusal::WrongCurrency {
            got: query.currency.clone(),
        });
    }
    if query.invoice_payload != expected.invoice_id {
        return Err(CheckoutRefusal::WrongPayload {
            expected: expected.invoice_id.clone(),
            got: query.invoice_payload.clone(),
        });
    }
    let got = i64::from(query.total_amount);
    if expected.amount.currency() != Currency::Xtr || expected.amount.minor() != got {
        return Err(CheckoutRefusal::WrongAmount {
            expected: expected.amount.minor(),
            got,
        });
    }
    Ok(())
}

/// `answerPreCheckoutQuery`: ok, or refused with the buyer-facing message. Call it at once:
/// Telegram cancels the payment when no answer comes within 10 seconds.
pub async fn answer_pre_checkout(
    bot: &Bot,
    query: &PreCheckoutQuery,
    check: &Result<(), CheckoutRefusal>,
    locale: Locale,
) -> Result<(), PaymentError> {
    use teloxide::payloads::AnswerPreCheckoutQuerySetters;
    let request = bot.answer_pre_checkout_query(query.id.clone(), check.is_ok());
    let request = match check {
        Ok(()) => request,
        Err(refusal) => request.error_message(refusal.message(locale)),
    };
    request
        .await
        .map(|_| ())
        .map_err(|e| PaymentError::Telegram(e.to_string()))
}

/// A Stars payment as the `successful_payment` message reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StarsPayment {
    /// `telegram_payment_charge_id`: unique per payment; dedupe on it, refund with it.
    pub charge_id: String,
    /// Our invoice id.
    pub payload: String,
    pub amount: Money,
}

impl StarsPayment {
    /// What this payment means for billing's invoice.
    pub fn verdict(&self, expected: &PendingPayment) -> Result<Verdict, PaymentError> {
        if self.payload != expected.invoice_id {
            return Err(PaymentError::WrongInvoice {
                expected: expected.invoice_id.clone(),
                got: self.payload.clone(),
            });
        }
        if self.amount != expected.amount {
            return Ok(Verdict::Mismatch {
                provider_ref: self.charge_id.clone(),
                expected: expected.amount,
                got: Some(self.amount),
            });
        }
        Ok(Verdict::Paid {
            provider_ref: self.charge_id.clone(),
            amount: self.amount,
            already_verified: false,
            reference: Some(self.charge_id.clone()),
        })
    }
}

/// Reads a `successful_payment`; refuses one that is not in Stars.
pub fn parse_successful_payment(payment: &SuccessfulPayment) -> Result<StarsPayment, PaymentError> {
    if payment.currency != CURRENCY {
        return Err(PaymentError::BadCallback(format!(
            "the payment is in {}, not Telegram Stars",
            payment.currency
        )));
    }
    if payment.telegram_payment_charge_id.0.is_empty() {
        return Err(PaymentError::BadCallback(
            "the payment has no telegram_payment_charge_id".into(),
        ));
    }
    Ok(StarsPayment {
        charge_id: payment.telegram_payment_charge_id.0.clone(),
        payload: payment.invoice_payload.clone(),
        amount: Money::stars(i64::from(payment.total_amount)),
    })
}

/// How a refund ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refund {
    Refunded,
    /// Telegram says this charge was refunded before: safe to treat as done.
    AlreadyRefunded,
}

/// `refundStarPayment`. Refunding the same charge twice answers `AlreadyRefunded`, so a retry
/// after a crash is safe.
pub async fn refund(bot: &Bot, user_id: UserId, charge_id: &str) -> Result<Refund, PaymentError> {
    match bot
        .refund_star_payment(user_id, TelegramTransactionId(charge_id.to_string()))
        .await
    {
        Ok(_) => Ok(Refund::Refunded),
        Err(e) if e.to_string().contains("CHARGE_ALREADY_REFUNDED") => Ok(Refund::AlreadyRefunded),
        Err(e) => Err(PaymentError::Telegram(e.to_string())),
    }
}

/// Telegram Stars as a [`Gateway`]: `start` names the invoice to send; the payment itself is
/// confirmed by the `successful_payment` message, so `verify` stays `Pending`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StarsGateway;

#[async_trait::async_trait]
impl Gateway for StarsGateway {
    fn method(&self) -> Method {
        Method::TelegramStars
    }

    async fn start(&self, request: &PaymentRequest) -> Result<Checkout, PaymentError> {
        super::check_request(request)?;
        super::require_currency(Method::TelegramStars, request.amount, Currency::Xtr)?;
        if request.invoice_id.len() > 128 {
            return Err(PaymentError::InvalidRequest(
                "a Stars invoice payload has at most 128 bytes".into(),
            ));
        }
        let price_xtr = u32::try_from(request.amount.minor())
            .map_err(|_| PaymentError::InvalidRequest("too many stars".into()))?;
        Ok(Checkout::TelegramInvoice {
            payload: request.invoice_id.clone(),
            price_xtr,
        })
    }

    async fn verify(&self, _payment: &PendingPayment) -> Result<Verdict, PaymentError> {
        Ok(Verdict::Pending)
    }
}
