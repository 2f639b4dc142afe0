//! What an admin types into the payment setup, and how each answer is checked. Pure: a
//! wrong answer becomes an [`InputProblem`] that the screens turn into "what was wrong and
//! what to send instead".

use serde::{Deserialize, Serialize};
use shared::money::{Currency, Money};
use shared::payment::card::{CardError, CardNumber};

/// The question the setup waits for an answer to (kept in the conversation store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum SetupStep {
    CardNumber,
    /// The number was good; the holder's name comes next.
    CardHolder {
        number: String,
    },
    CardBank {
        number: String,
        holder: String,
    },
    ZarinpalMerchant,
    NowPaymentsKey,
    /// The API key was given; it waits here sealed with the bot's data key (never in the
    /// clear) until the IPN secret arrives.
    NowPaymentsSecret {
        sealed_key: String,
    },
    TomanPerStar,
    TomanPerUsd,
    AutoApproveMinutes,
}

impl SetupStep {
    /// Answers that are secrets: their messages are deleted from the chat.
    pub fn takes_secret(&self) -> bool {
        matches!(
            self,
            SetupStep::ZarinpalMerchant
                | SetupStep::NowPaymentsKey
                | SetupStep::NowPaymentsSecret { .. }
        )
    }
}

/// Why an answer was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputProblem {
    CardLength(usize),
    CardNotADigit,
    CardCheckDigit,
    CardOnListAlready,
    /// A holder or bank name: one line, 1 to [`MAX_NAME_CHARS`] characters.
    Name,
    MerchantId,
    /// A NowPayments API key or IPN secret of the wrong shape.
    GatewayKey,
    /// A whole number in this range was wanted.
    Number {
        min: i64,
        max: i64,
    },
}

pub const MAX_NAME_CHARS: usize = 64;
const MIN_KEY_CHARS: usize = 8;
const MAX_KEY_CHARS: usize = 200;

/// Most Toman one star may be worth.
pub const MAX_TOMAN_PER_STAR: i64 = 10_000_000;
/// Most Toman one US dollar may be worth.
pub const MAX_TOMAN_PER_USD: i64 = 100_000_000;
/// Longest wait before receipts are approved on their own: a week.
pub const MAX_AUTO_APPROVE_MINUTES: i64 = 7 * 24 * 60;

/// A card number: 16 digits passing the Luhn check (Persian/Arabic digits, spaces and dashes
/// accepted). Returns the 16 ASCII digits.
pub fn card_number(text: &str) -> Result<String, InputProblem> {
    match CardNumber::parse(text) {
        Ok(number) => Ok(number.digits().to_string()),
        Err(CardError::WrongLength(n)) => Err(InputProblem::CardLength(n)),
        Err(CardError::NotADigit(_)) => Err(InputProblem::CardNotADigit),
        Err(_) => Err(InputProblem::CardCheckDigit),
    }
}

/// A holder's or bank's name: one line, trimmed, not empty, not too long.
pub fn name(text: &str) -> Result<String, InputProblem> {
    let name = shared::i18n::clean_text(text.trim());
    let fits = !name.is_empty() && name.chars().count() <= MAX_NAME_CHARS;
    if fits && !name.contains(['\n', '\r']) {
        Ok(name)
    } else {
        Err(InputProblem::Name)
    }
}

/// A Zarinpal merchant id: a UUID, 36 characters (8-4-4-4-12 hex digits).
pub fn merchant_id(text: &str) -> Result<String, InputProblem> {
    let id = text.trim();
    let groups: Vec<&str> = id.split('-').collect();
    let shaped = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()));
    if shaped {
        Ok(id.to_string())
    } else {
        Err(InputProblem::MerchantId)
    }
}

/// A NowPayments API key or IPN secret: one word of printable ASCII.
pub fn gateway_key(text: &str) -> Result<String, InputProblem> {
    let key = text.trim();
    let shaped = (MIN_KEY_CHARS..=MAX_KEY_CHARS).contains(&key.len())
        && key.chars().all(|c| c.is_ascii_graphic());
    if shaped {
        Ok(key.to_string())
    } else {
        Err(InputProblem::GatewayKey)
    }
}

/// A positive whole number up to `max`, typed with ASCII, Persian or Arabic digits and
/// optional thousands separators.
pub fn whole_number(text: &str, max: i64) -> Result<i64, InputProblem> {
    let problem = InputProblem::Number { min: 1, max };
    match Money::parse(text, Currency::Toman) {
        Ok(n) if (1..=max).contains(&n.minor()) => Ok(n.minor()),
        _ => Err(problem),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_are_checked_and_normalised() {
        assert_eq!(
            card_number("۶۰۳۷-۹۹۱۲ ۳۴۵۶ ۷۸۱۰"),
            Ok("6037991234567810".into())
        );
        assert_eq!(
            card_number("6037 9912 3456 1234"),
            Err(InputProblem::CardCheckDigit)
        );
        assert_eq!(card_number("6037 9912"), Err(InputProblem::CardLength(8)));
        assert_eq!(
            card_number("6037x99123456781"),
            Err(InputProblem::CardNotADigit)
        );
    }

    #[test]
    fn names_are_one_short_line() {
        assert_eq!(name("  Sara Ahmadi "), Ok("Sara Ahmadi".into()));
        assert_eq!(name("   "), Err(InputProblem::Name));
        assert_eq!(name("Sara\nAhmadi"), Err(InputProblem::Name));
        assert_eq!(name(&"a".repeat(65)), Err(InputProblem::Name));
    }

    #[test]
    fn a_merchant_id_is_a_uuid() {
        let id = "1a2b3c4d-1a2b-1a2b-1a2b-1a2b3c4d5e6f";
        assert_eq!(merchant_id(&format!(" {id}\n")), Ok(id.into()));
        for bad in [
            "short",
            "1a2b3c4d1a2b1a2b1a2b1a2b3c4d5e6f1234",
            "1a2b3c4d-1a2b-1a2b-1a2b-1a2b3c4d5e6g",
            "1a2b3c4d-1a2b-1a2b-1a2b1-a2b3c4d5e6f",
        ] {
            assert_eq!(merchant_id(bad), Err(InputProblem::MerchantId), "{bad}");
        }
    }

    #[test]
    fn gateway_keys_are_one_word() {
        assert_eq!(
            gateway_key(" ABCD123-EFGH456 "),
            Ok("ABCD123-EFGH456".into())
        );
        assert_eq!(gateway_key("short"), Err(InputProblem::GatewayKey));
        assert_eq!(gateway_key("two words here"), Err(InputProblem::GatewayKey));
    }

    #[test]
    fn rates_are_positive_whole_numbers_in_any_digits() {
        assert_eq!(whole_number("۱٬۵۰۰", 10_000), Ok(1_500));
        assert_eq!(whole_number("60,000", 100_000), Ok(60_000));
        let problem = Err(InputProblem::Number { min: 1, max: 100 });
        for bad in ["0", "-5", "1.5", "lots", "", "101"] {
            assert_eq!(whole_number(bad, 100), problem, "{bad}");
        }
    }

    #[test]
    fn only_gateway_answers_are_secret() {
        assert!(SetupStep::ZarinpalMerchant.takes_secret());
        assert!(SetupStep::NowPaymentsSecret {
            sealed_key: "v1:x".into()
        }
        .takes_secret());
        assert!(!SetupStep::CardNumber.takes_secret());
        assert!(!SetupStep::TomanPerUsd.takes_secret());
    }
}
