//! Amounts of money: an integer count of a currency's smallest unit, never a float.
//!
//! Toman has no minor unit here (1 = one Toman), US dollars count cents, Telegram Stars
//! (XTR) count single stars. Stored as two columns: `minor` (integer) and the currency code.

use std::fmt;
use std::str::FromStr;

use crate::i18n::{self, Locale};

/// The currencies Madar sells in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Currency {
    /// Iranian Toman (10 rials), code "IRT"; whole Toman only.
    Toman,
    /// US dollar, code "USD", counted in cents.
    Usd,
    /// Telegram Stars, code "XTR", counted in stars.
    Xtr,
}

impl Currency {
    pub const ALL: [Currency; 3] = [Currency::Toman, Currency::Usd, Currency::Xtr];

    /// "IRT", "USD" or "XTR".
    pub fn as_code(self) -> &'static str {
        match self {
            Currency::Toman => "IRT",
            Currency::Usd => "USD",
            Currency::Xtr => "XTR",
        }
    }

    /// The currency for a code, in any letter case.
    pub fn from_code(code: &str) -> Result<Currency, MoneyError> {
        let code = code.trim();
        Currency::ALL
            .into_iter()
            .find(|c| c.as_code().eq_ignore_ascii_case(code))
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_string()))
    }

    /// How many decimal places the minor unit has: 2 for USD, 0 for the others.
    pub fn decimals(self) -> u32 {
        match self {
            Currency::Usd => 2,
            Currency::Toman | Currency::Xtr => 0,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::from_code(s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency code \"{0}\": use IRT (Toman), USD or XTR (Telegram Stars)")]
    UnknownCurrency(String),
    #[error(
        "cannot combine {0} with {1}: amounts in different currencies must be converted first"
    )]
    CurrencyMismatch(Currency, Currency),
    #[error("the amount is too large")]
    Overflow,
    #[error("\"{input}\" is not an amount in {currency}: {problem}")]
    BadAmount {
        input: String,
        currency: Currency,
        problem: &'static str,
    },
}

/// An amount in one currency, as an integer number of its minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// Whole Toman.
    pub fn toman(toman: i64) -> Money {
        Money::new(toman, Currency::Toman)
    }

    pub fn usd_cents(cents: i64) -> Money {
        Money::new(cents, Currency::Usd)
    }

    pub fn stars(stars: i64) -> Money {
        Money::new(stars, Currency::Xtr)
    }

    pub fn zero(currency: Currency) -> Money {
        Money::new(0, currency)
    }

    /// The amount in the currency's minor unit (Toman, cents, stars).
    pub fn minor(&self) -> i64 {
        self.minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn is_zero(&self) -> bool {
        self.minor == 0
    }

    pub fn is_negative(&self) -> bool {
        self.minor < 0
    }

    /// The sum, or an error for different currencies or overflow.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        self.minor
            .checked_add(other.minor)
            .map(|minor| Money::new(minor, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// The difference, or an error for different currencies or overflow.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        self.minor
            .checked_sub(other.minor)
            .map(|minor| Money::new(minor, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// The amount times a whole number (for example a price times a quantity).
    pub fn checked_mul(self, factor: i64) -> Result<Money, MoneyError> {
        self.minor
            .checked_mul(factor)
            .map(|minor| Money::new(minor, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// Parses an amount typed by a person: ASCII, Persian (۰-۹) or Arabic-Indic (٠-٩) digits,
    /// with optional thousands separators ("," "٬" "،" or spaces) and, for USD only, up to two
    /// decimals after "." or "٫". A trailing currency word is not accepted; the currency is
    /// given. Negative amounts are refused (people never type them).
    pub fn parse(input: &str, currency: Currency) -> Result<Money, MoneyError> {
        let bad = |problem| MoneyError::BadAmount {
            input: input.to_string(),
            currency,
            problem,
        };
        let mut whole = String::new();
        let mut fraction: Option<String> = None;
        for c in input.trim().chars() {
            let digit = ascii_digit(c);
            match (digit, &mut fraction) {
                (Some(d), None) => whole.push(d),
                (Some(d), Some(f)) => f.push(d),
                (None, None) if matches!(c, ',' | '٬' | '،' | ' ' | '\u{a0}') => {}
                (None, None) if matches!(c, '.' | '٫') => fraction = Some(String::new()),
                (None, _) if c == '-' => return Err(bad("it must not be negative")),
                (None, _) => return Err(bad("use digits only, for example 120000")),
            }
        }
        if whole.is_empty() && fraction.as_deref().is_none_or(str::is_empty) {
            return Err(bad("there are no digits"));
        }
        let decimals = currency.decimals() as usize;
        let fraction = fraction.unwrap_or_default();
        if fraction.len() > decimals {
            return Err(if decimals == 0 {
                bad("it must be a whole number")
            } else {
                bad("use at most two digits after the decimal point")
            });
        }
        let mut digits = if whole.is_empty() { "0".into() } else { whole };
        digits.push_str(&fraction);
        digits.extend(std::iter::repeat_n('0', decimals - fraction.len()));
        digits
            .parse::<i64>()
            .map(|minor| Money::new(minor, currency))
            .map_err(|_| bad("it is too large"))
    }

    /// The amount for people: fa "۱۲۰٬۰۰۰ تومان", "۴٫۹۹ دلار", "۵۰ ⭐";
    /// en "120,000 Toman", "$4.99", "50 ⭐".
    pub fn format(&self, locale: Locale) -> String {
        let sign = if self.minor < 0 { "-" } else { "" };
        let magnitude = self.minor.unsigned_abs();
        match (self.currency, locale) {
            (Currency::Toman, Locale::Fa) => format!("{sign}{} تومان", group_fa(magnitude)),
            (Currency::Toman, Locale::En) => format!("{sign}{} Toman", group_en(magnitude)),
            (Currency::Usd, Locale::Fa) => {
                let (dollars, cents) = (magnitude / 100, magnitude % 100);
                let cents = i18n::persian_digits(&format!("{cents:02}"));
                format!("{sign}{}٫{cents} دلار", group_fa(dollars))
            }
            (Currency::Usd, Locale::En) => {
                let (dollars, cents) = (magnitude / 100, magnitude % 100);
                format!("{sign}${}.{cents:02}", group_en(dollars))
            }
            (Currency::Xtr, Locale::Fa) => format!("{sign}{} ⭐", group_fa(magnitude)),
            (Currency::Xtr, Locale::En) => format!("{sign}{} ⭐", group_en(magnitude)),
        }
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }
}

/// "120000 IRT", "499 USD" (minor units): for logs and debugging, not for people.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.minor, self.currency)
    }
}

/// Digits in groups of three: "1,234,567".
pub(crate) fn group_en(n: u64) -> String {
    group_thousands(&n.to_string(), ',')
}

/// Persian digits in groups of three with the Arabic thousands separator: "۱٬۲۳۴٬۵۶۷".
pub(crate) fn group_fa(n: u64) -> String {
    i18n::persian_digits(&group_thousands(&n.to_string(), '\u{066C}'))
}

fn group_thousands(digits: &str, separator: char) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 * 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(separator);
        }
        out.push(c);
    }
    out
}

fn ascii_digit(c: char) -> Option<char> {
    match c {
        '0'..='9' => Some(c),
        '۰'..='۹' => char::from_digit(c as u32 - '۰' as u32, 10),
        '٠'..='٩' => char::from_digit(c as u32 - '٠' as u32, 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_examples() {
        assert_eq!(Money::toman(120_000).format(Locale::Fa), "۱۲۰٬۰۰۰ تومان");
        assert_eq!(Money::toman(120_000).format(Locale::En), "120,000 Toman");
        assert_eq!(Money::usd_cents(499).format(Locale::Fa), "۴٫۹۹ دلار");
        assert_eq!(Money::usd_cents(499).format(Locale::En), "$4.99");
        assert_eq!(Money::stars(50).format(Locale::En), "50 ⭐");
        assert_eq!(Money::stars(50).format(Locale::Fa), "۵۰ ⭐");
    }

    #[test]
    fn formats_edges() {
        assert_eq!(Money::toman(0).format(Locale::En), "0 Toman");
        assert_eq!(Money::toman(999).format(Locale::Fa), "۹۹۹ تومان");
        assert_eq!(Money::toman(1_000).format(Locale::En), "1,000 Toman");
        assert_eq!(
            Money::toman(1_234_567).format(Locale::En),
            "1,234,567 Toman"
        );
        assert_eq!(Money::toman(-25_000).format(Locale::En), "-25,000 Toman");
        assert_eq!(Money::usd_cents(5).format(Locale::En), "$0.05");
        assert_eq!(
            Money::usd_cents(123_456_789).format(Locale::En),
            "$1,234,567.89"
        );
        assert_eq!(
            Money::usd_cents(123_456_789).format(Locale::Fa),
            "۱٬۲۳۴٬۵۶۷٫۸۹ دلار"
        );
        assert_eq!(Money::usd_cents(-150).format(Locale::En), "-$1.50");
        assert_eq!(
            Money::toman(i64::MIN).format(Locale::En),
            "-9,223,372,036,854,775,808 Toman"
        );
        // The separator is U+066C, not a comma.
        assert!(Money::toman(1_000).format(Locale::Fa).contains('\u{066C}'));
    }

    #[test]
    fn codes_round_trip() {
        for c in Currency::ALL {
            assert_eq!(Currency::from_code(c.as_code()), Ok(c));
            assert_eq!(c.to_string().parse::<Currency>(), Ok(c));
        }
        assert_eq!(Currency::from_code("usd"), Ok(Currency::Usd));
        assert_eq!(
            Currency::from_code("EUR"),
            Err(MoneyError::UnknownCurrency("EUR".into()))
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        let a = Money::toman(100_000);
        assert_eq!(
            a.checked_add(Money::toman(20_000)),
            Ok(Money::toman(120_000))
        );
        assert_eq!(
            a.checked_sub(Money::toman(120_000)),
            Ok(Money::toman(-20_000))
        );
        assert_eq!(a.checked_mul(3), Ok(Money::toman(300_000)));
        assert_eq!(
            a.checked_add(Money::usd_cents(1)),
            Err(MoneyError::CurrencyMismatch(Currency::Toman, Currency::Usd))
        );
        assert_eq!(
            Money::toman(i64::MAX).checked_add(Money::toman(1)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::toman(i64::MIN).checked_sub(Money::toman(1)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::toman(i64::MAX).checked_mul(2),
            Err(MoneyError::Overflow)
        );
        assert_eq!(Money::usd_cents(499).to_string(), "499 USD");
    }

    #[test]
    fn parses_typed_amounts() {
        let toman = |s| Money::parse(s, Currency::Toman);
        let usd = |s| Money::parse(s, Currency::Usd);
        assert_eq!(toman("120000"), Ok(Money::toman(120_000)));
        assert_eq!(toman("120,000"), Ok(Money::toman(120_000)));
        assert_eq!(toman("۱۲۰٬۰۰۰"), Ok(Money::toman(120_000)));
        assert_eq!(toman(" ١٢٠ ٠٠٠ "), Ok(Money::toman(120_000)));
        assert_eq!(usd("4.99"), Ok(Money::usd_cents(499)));
        assert_eq!(usd("۴٫۹"), Ok(Money::usd_cents(490)));
        assert_eq!(usd("12"), Ok(Money::usd_cents(1200)));
        assert_eq!(usd(".5"), Ok(Money::usd_cents(50)));
        assert_eq!(Money::parse("50", Currency::Xtr), Ok(Money::stars(50)));
        for bad in ["", "  ", ".", "12.5", "-5", "12abc", "99999999999999999999"] {
            assert!(toman(bad).is_err(), "{bad:?}");
        }
        assert!(usd("4.999").is_err());
        let message = toman("12.5").expect_err("fraction").to_string();
        assert!(message.contains("whole number"), "{message}");
    }
}
