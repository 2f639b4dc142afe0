//! Card-to-card payments: the buyer transfers to one of our bank cards and sends a photo of
//! the receipt; staff approve or reject it (optionally approved automatically after a while).
//!
//! This module holds the value types and the [`CardToCardGateway`] that picks the card to show;
//! receipts, decisions and per-card totals are stored by billing.

use std::fmt;

use crate::i18n::{self, Locale};
use crate::money::Currency;

use super::{Checkout, Gateway, Method, PaymentError, PaymentRequest, PendingPayment, Verdict};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("a card number has 16 digits; this one has {0}")]
    WrongLength(usize),
    #[error("the card number has a character that is not a digit: {0:?}")]
    NotADigit(char),
    #[error("the card number is mistyped: its check digit does not match (Luhn check)")]
    BadCheckDigit,
    #[error("the card owner's name is empty")]
    NoOwner,
    #[error("no card is configured to receive card-to-card payments")]
    NoCards,
}

/// A 16-digit bank card number that passed the Luhn check. `Debug` and `Display` mask it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CardNumber(String);

impl CardNumber {
    /// Accepts ASCII, Persian or Arabic-Indic digits with spaces or dashes between them.
    pub fn parse(input: &str) -> Result<CardNumber, CardError> {
        let mut digits = String::with_capacity(16);
        for c in input.trim().chars() {
            match ascii_digit(c) {
                Some(d) => digits.push(d),
                None if matches!(c, ' ' | '-' | '\u{a0}' | '\u{200c}') => {}
                None => return Err(CardError::NotADigit(c)),
            }
        }
        if digits.len() != 16 {
            return Err(CardError::WrongLength(digits.len()));
        }
        if !luhn_ok(&digits) {
            return Err(CardError::BadCheckDigit);
        }
        Ok(CardNumber(digits))
    }

    /// The 16 ASCII digits, for the one place that must show the full number.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// The first six digits (the bank's BIN) and the last four, for logs: "6037-99**-****-1234".
    pub fn masked(&self) -> String {
        let d = &self.0;
        format!("{}-{}**-****-{}", &d[0..4], &d[4..6], &d[12..16])
    }

    /// The full number in groups of four for the buyer to copy: "6037-9912-3456-1234", with
    /// Persian digits for `Locale::Fa`.
    pub fn format(&self, locale: Locale) -> String {
        let d = &self.0;
        let grouped = format!("{}-{}-{}-{}", &d[0..4], &d[4..8], &d[8..12], &d[12..16]);
        match locale {
            Locale::Fa => i18n::persian_digits(&grouped),
            Locale::En => grouped,
        }
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber({})", self.masked())
    }
}

impl fmt::Display for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// A card that receives payments: its number, the owner's name as the bank shows it, the bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardAccount {
    pub number: CardNumber,
    pub owner: String,
    pub bank: String,
}

impl CardAccount {
    pub fn new(number: &str, owner: &str, bank: &str) -> Result<CardAccount, CardError> {
        let owner = owner.trim();
        if owner.is_empty() {
            return Err(CardError::NoOwner);
        }
        Ok(CardAccount {
            number: CardNumber::parse(number)?,
            owner: owner.to_string(),
            bank: bank.trim().to_string(),
        })
    }
}

/// What staff decide about a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptDecision {
    Approve,
    /// The reason is shown to the buyer.
    Reject {
        reason: String,
    },
}

impl ReceiptDecision {
    /// The verdict for `payment` once staff decided; `receipt_id` (billing's id for the
    /// receipt) becomes the provider ref, so one receipt is credited once.
    pub fn verdict(&self, payment: &PendingPayment, receipt_id: &str) -> Verdict {
        match self {
            ReceiptDecision::Approve => Verdict::Paid {
                provider_ref: receipt_id.to_string(),
                amount: payment.amount,
                already_verified: false,
                reference: None,
            },
            ReceiptDecision::Reject { reason } => Verdict::Failed {
                reason: reason.clone(),
            },
        }
    }
}

/// Whether receipts nobody has looked at are approved on their own after a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoApprove {
    /// Staff must decide every receipt.
    #[default]
    Off,
    /// Approve a receipt still undecided `minutes` after it was sent.
    After { minutes: u32 },
}

impl AutoApprove {
    /// True when a receipt sent at `submitted_at` (unix seconds) should be approved at `now`.
    pub fn is_due(self, submitted_at: i64, now: i64) -> bool {
        match self {
            AutoApprove::Off => false,
            AutoApprove::After { minutes } => {
                now.saturating_sub(submitted_at) >= i64::from(minutes) * 60
            }
        }
    }
}

/// Shows the buyer one of our cards. The same invoice always gets the same card, so a buyer
/// who asks twice is never told two different numbers; invoices spread across the cards.
#[derive(Debug, Clone)]
pub struct CardToCardGateway {
    cards: Vec<CardAccount>,
}

impl CardToCardGateway {
    pub fn new(cards: Vec<CardAccount>) -> Result<CardToCardGateway, CardError> {
        if cards.is_empty() {
            return Err(CardError::NoCards);
        }
        Ok(CardToCardGateway { cards })
    }

    pub fn cards(&self) -> &[CardAccount] {
        &self.cards
    }

    /// The card shown for `invoice_id`.
    pub fn card_for(&self, invoice_id: &str) -> &CardAccount {
        // FNV-1a: stable across Rust versions, unlike the standard hasher.
        let hash = invoice_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let index = (hash % self.cards.len() as u64) as usize;
        &self.cards[index]
    }
}

#[async_trait::async_trait]
impl Gateway for CardToCardGateway {
    fn method(&self) -> Method {
        Method::CardToCard
    }

    async fn start(&self, request: &PaymentRequest) -> Result<Checkout, PaymentError> {
        super::check_request(request)?;
        // Iranian bank cards move Toman (Rial) only.
        super::require_currency(Method::CardToCard, request.amount, Currency::Toman)?;
        Ok(Checkout::CardToCard {
            card: self.card_for(&request.invoice_id).clone(),
            amount: request.amount,
        })
    }

    /// Card-to-card payments are decided by staff ([`ReceiptDecision::verdict`]), never by
    /// asking a provider, so this is always `Pending`.
    async fn verify(&self, _payment: &PendingPayment) -> Result<Verdict, PaymentError> {
        Ok(Verdict::Pending)
    }
}

/// The Luhn check: double every second digit from the right, the sum ends in 0.
fn luhn_ok(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn ascii_digit(c: char) -> Option<char> {
    match c {
        '0'..='9' => Some(c),
        '۰'..='۹' => char::from_digit(c as u32 - '۰' as u32, 10),
        '٠'..='٩' => char::from_digit(c as u32 - '٠' as u32, 10),
        _ => None,
    }
}
