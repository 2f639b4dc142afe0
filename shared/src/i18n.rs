//! Bot texts in Persian and English: locales, message catalogs with named placeholders, and
//! the formatting of numbers, money and dates for each locale.
//!
//! Persian text gets Persian digits, Jalali dates and Toman with the Arabic thousands
//! separator; English gets ASCII digits and Gregorian dates. Nothing here inserts invisible
//! bidi marks: links and codes ([`Arg::Code`]) are written verbatim so they stay copyable.

mod catalog;
mod template;

pub use catalog::{Catalog, I18nError};
pub use template::{parse_placeholders, TemplateError};

use std::fmt;
use std::str::FromStr;

use crate::jalali;
use crate::money::{self, Money};

/// A language the bots speak.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    Fa,
    En,
}

impl Locale {
    /// The locale used when a text is missing or the user's language is unknown.
    pub const DEFAULT: Locale = Locale::Fa;
    pub const ALL: [Locale; 2] = [Locale::Fa, Locale::En];

    /// The locale for Telegram's `User.language_code` ("fa", "fa-IR", "en-US", ...).
    /// Anything that is not Persian or English, or no code at all, gives [`Locale::DEFAULT`].
    pub fn from_telegram(language_code: Option<&str>) -> Locale {
        language_code
            .and_then(|code| code.split(['-', '_']).next())
            .and_then(Locale::from_code)
            .unwrap_or(Locale::DEFAULT)
    }

    /// "fa" or "en" in any letter case; `None` for anything else.
    pub fn from_code(code: &str) -> Option<Locale> {
        Locale::ALL
            .into_iter()
            .find(|l| l.as_code().eq_ignore_ascii_case(code.trim()))
    }

    /// "fa" or "en".
    pub fn as_code(self) -> &'static str {
        match self {
            Locale::Fa => "fa",
            Locale::En => "en",
        }
    }

    /// Whether the language is written right to left.
    pub fn is_rtl(self) -> bool {
        matches!(self, Locale::Fa)
    }
}

impl Default for Locale {
    fn default() -> Self {
        Locale::DEFAULT
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_code())
    }
}

/// A locale code that is neither "fa" nor "en".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language \"{0}\": use \"fa\" (Persian) or \"en\" (English)")]
pub struct ParseLocaleError(String);

impl FromStr for Locale {
    type Err = ParseLocaleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Locale::from_code(s).ok_or_else(|| ParseLocaleError(s.to_string()))
    }
}

/// A value for a named placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg<'a> {
    /// Text as given, for example a user's name. Bidi control characters are removed so a
    /// name cannot flip the text around it; nothing is added.
    Text(&'a str),
    /// A quantity, grouped by thousands: "1,234" / "۱٬۲۳۴". Use `Code` for ids and years.
    Number(i64),
    /// An amount, see [`Money::format`].
    Money(Money),
    /// A day, from a Unix timestamp in seconds, at the catalog's UTC offset (Iran by default):
    /// "۳۰ آبان ۱۴۰۵" / "21 Nov 2026".
    Date(i64),
    /// A day and time, from a Unix timestamp in seconds: "۳۰ آبان ۱۴۰۵، ۱۴:۰۵" /
    /// "21 Nov 2026, 14:05".
    DateTime(i64),
    /// Links, codes, tokens, usernames: verbatim, never digit-converted; invisible bidi and
    /// zero-width characters are removed so the value copies and opens as it should.
    Code(&'a str),
}

/// Replaces ASCII digits 0-9 with Persian digits ۰-۹; everything else stays.
pub fn persian_digits(s: &str) -> String {
    s.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) if c.is_ascii_digit() => PERSIAN_DIGITS[d as usize],
            _ => c,
        })
        .collect()
}

const PERSIAN_DIGITS: [char; 10] = ['۰', '۱', '۲', '۳', '۴', '۵', '۶', '۷', '۸', '۹'];

const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A whole number for people: en "1,234", fa "۱٬۲۳۴".
pub fn format_number(n: i64, locale: Locale) -> String {
    let sign = if n < 0 { "-" } else { "" };
    let digits = match locale {
        Locale::Fa => money::group_fa(n.unsigned_abs()),
        Locale::En => money::group_en(n.unsigned_abs()),
    };
    format!("{sign}{digits}")
}

/// The day of a Unix timestamp seen at `utc_offset_seconds`: fa Jalali "۳۰ آبان ۱۴۰۵",
/// en Gregorian "21 Nov 2026".
pub fn format_date(ts: i64, utc_offset_seconds: i32, locale: Locale) -> String {
    match locale {
        Locale::Fa => {
            let date = jalali::from_unix(ts, utc_offset_seconds);
            persian_digits(&format!(
                "{} {} {}",
                date.day,
                date.month_name_fa(),
                date.year
            ))
        }
        Locale::En => {
            let (year, month, day) = jalali::gregorian_from_unix(ts, utc_offset_seconds);
            let month = MONTHS_EN
                .get(usize::from(month).saturating_sub(1))
                .copied()
                .unwrap_or("");
            format!("{day} {month} {year}")
        }
    }
}

/// Day and 24-hour time: fa "۳۰ آبان ۱۴۰۵، ۱۴:۰۵", en "21 Nov 2026, 14:05".
pub fn format_date_time(ts: i64, utc_offset_seconds: i32, locale: Locale) -> String {
    let local = ts.saturating_add(i64::from(utc_offset_seconds));
    let minutes_of_day = local.rem_euclid(86_400) / 60;
    let time = format!("{:02}:{:02}", minutes_of_day / 60, minutes_of_day % 60);
    let date = format_date(ts, utc_offset_seconds, locale);
    match locale {
        Locale::Fa => format!("{date}، {}", persian_digits(&time)),
        Locale::En => format!("{date}, {time}"),
    }
}

/// Bidi embedding, override and isolate controls, and the directional marks: invisible
/// characters that can reorder the text around them.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    )
}

/// Zero-width characters. ZWNJ (U+200C) is part of correct Persian spelling inside words.
fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// A user-provided text made safe to embed: bidi controls removed everywhere, zero-width
/// characters removed at the ends.
pub fn clean_text(s: &str) -> String {
    let without_bidi: String = s.chars().filter(|&c| !is_bidi_control(c)).collect();
    without_bidi.trim_matches(is_zero_width).to_string()
}

/// A link or code made safe to embed: every bidi control and zero-width character removed.
pub fn clean_code(s: &str) -> String {
    s.chars()
        .filter(|&c| !is_bidi_control(c) && !is_zero_width(c))
        .collect()
}

/// Escapes `&`, `<`, `>` and `"` for Telegram's HTML parse mode (text and attribute values,
/// such as a link in `<a href="{link}">`).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

impl Arg<'_> {
    /// The text this value shows in `locale`, with dates at `utc_offset_seconds`.
    pub fn render(&self, locale: Locale, utc_offset_seconds: i32) -> String {
        match *self {
            Arg::Text(s) => clean_text(s),
            Arg::Number(n) => format_number(n, locale),
            Arg::Money(m) => m.format(locale),
            Arg::Date(ts) => format_date(ts, utc_offset_seconds, locale),
            Arg::DateTime(ts) => format_date_time(ts, utc_offset_seconds, locale),
            Arg::Code(s) => clean_code(s),
        }
    }
}

/// A catalog from a Persian and an English TOML source, checked so both languages have the
/// same keys and placeholders (the way every built-in catalog is made).
pub fn fa_en_catalog(fa: &str, en: &str) -> Result<Catalog, I18nError> {
    let catalog = Catalog::from_sources(&[(Locale::Fa, fa), (Locale::En, en)])?;
    catalog.check_consistency()?;
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jalali::IRAN_UTC_OFFSET_SECONDS;

    /// 2026-11-21 00:00:00 UTC.
    const NOV_21_2026: i64 = 1_795_219_200;

    #[test]
    fn locale_from_telegram() {
        for (code, expected) in [
            (Some("fa"), Locale::Fa),
            (Some("fa-IR"), Locale::Fa),
            (Some("FA"), Locale::Fa),
            (Some("en"), Locale::En),
            (Some("en-US"), Locale::En),
            (Some("en_GB"), Locale::En),
            (Some("ru"), Locale::DEFAULT),
            (Some(""), Locale::DEFAULT),
            (Some("english"), Locale::DEFAULT),
            (None, Locale::DEFAULT),
        ] {
            assert_eq!(Locale::from_telegram(code), expected, "{code:?}");
        }
        assert_eq!(Locale::DEFAULT, Locale::Fa);
        assert_eq!(Locale::Fa.as_code(), "fa");
        assert!(Locale::Fa.is_rtl());
        assert!(!Locale::En.is_rtl());
        assert_eq!("EN".parse::<Locale>(), Ok(Locale::En));
        assert!("de".parse::<Locale>().is_err());
        assert_eq!(serde_json::to_string(&Locale::Fa).expect("json"), "\"fa\"");
    }

    #[test]
    fn digits() {
        assert_eq!(persian_digits("0123456789"), "۰۱۲۳۴۵۶۷۸۹");
        assert_eq!(persian_digits("ساعت 14:05 - v2"), "ساعت ۱۴:۰۵ - v۲");
        // Digits of other scripts stay as they are.
        assert_eq!(persian_digits("٣"), "٣");
        assert_eq!(format_number(1234567, Locale::En), "1,234,567");
        assert_eq!(format_number(1234567, Locale::Fa), "۱٬۲۳۴٬۵۶۷");
        assert_eq!(format_number(-42, Locale::Fa), "-۴۲");
    }

    #[test]
    fn dates() {
        assert_eq!(
            format_date(NOV_21_2026, IRAN_UTC_OFFSET_SECONDS, Locale::Fa),
            "۳۰ آبان ۱۴۰۵"
        );
        assert_eq!(
            format_date(NOV_21_2026, IRAN_UTC_OFFSET_SECONDS, Locale::En),
            "21 Nov 2026"
        );
        let afternoon = NOV_21_2026 + 10 * 3600 + 35 * 60; // 14:05 in Tehran
        assert_eq!(
            format_date_time(afternoon, IRAN_UTC_OFFSET_SECONDS, Locale::Fa),
            "۳۰ آبان ۱۴۰۵، ۱۴:۰۵"
        );
        assert_eq!(
            format_date_time(afternoon, IRAN_UTC_OFFSET_SECONDS, Locale::En),
            "21 Nov 2026, 14:05"
        );
        // 21:00 UTC is already the next day in Tehran.
        let late = NOV_21_2026 + 21 * 3600;
        assert_eq!(
            format_date(late, IRAN_UTC_OFFSET_SECONDS, Locale::Fa),
            "۱ آذر ۱۴۰۵"
        );
        assert_eq!(format_date(late, 0, Locale::En), "21 Nov 2026");
        assert_eq!(format_date(0, 0, Locale::En), "1 Jan 1970");
    }

    #[test]
    fn text_args_lose_bidi_controls_but_keep_persian_spelling() {
        // U+202E (right-to-left override) would flip the rest of the line.
        assert_eq!(clean_text("\u{202E}evil\u{202C} name"), "evil name");
        assert_eq!(clean_text("\u{2067}isolated\u{2069}"), "isolated");
        assert_eq!(clean_text("\u{200F}علی\u{200E}"), "علی");
        // ZWNJ inside a Persian word is kept, at the ends it goes.
        assert_eq!(
            clean_text("\u{200C}می\u{200C}خواهم\u{200D}"),
            "می\u{200C}خواهم"
        );
        assert_eq!(clean_text("Ali 123"), "Ali 123");
    }

    #[test]
    fn code_args_are_verbatim_without_invisible_marks() {
        let link = "https://example.com/sub/abc123?x=1";
        assert_eq!(Arg::Code(link).render(Locale::Fa, 0), link);
        let dirty = "\u{200F}https://exa\u{200B}mple.com/\u{202B}sub/42\u{202C}\u{FEFF}";
        assert_eq!(
            Arg::Code(dirty).render(Locale::Fa, 0),
            "https://example.com/sub/42"
        );
        assert_eq!(Arg::Code("ORDER-2026").render(Locale::Fa, 0), "ORDER-2026");
    }

    #[test]
    fn args_render_per_locale() {
        assert_eq!(Arg::Number(12000).render(Locale::Fa, 0), "۱۲٬۰۰۰");
        assert_eq!(Arg::Number(12000).render(Locale::En, 0), "12,000");
        assert_eq!(
            Arg::Money(Money::toman(120_000)).render(Locale::Fa, 0),
            "۱۲۰٬۰۰۰ تومان"
        );
        assert_eq!(Arg::Text("Ali 2").render(Locale::Fa, 0), "Ali 2");
        assert_eq!(Arg::Date(NOV_21_2026).render(Locale::En, 0), "21 Nov 2026");
    }

    #[test]
    fn html_escaping() {
        assert_eq!(escape_html("<b>A & B</b>"), "&lt;b&gt;A &amp; B&lt;/b&gt;");
        assert_eq!(escape_html("x\" onclick=\"y"), "x&quot; onclick=&quot;y");
        assert_eq!(escape_html("سلام ۱۲۳ 'ok'"), "سلام ۱۲۳ 'ok'");
    }
}
