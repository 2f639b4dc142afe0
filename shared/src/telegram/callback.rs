//! The pieces of callback data every bot of ours reads the same way: the size limit, ids,
//! bounded numbers and "switch language, then show a page" (`lang:<fa|en>:<page>`). Each bot
//! keeps its own actions and their short codes.

use std::ops::RangeInclusive;

use crate::i18n::Locale;

/// Telegram's limit on callback data.
pub const MAX_DATA_BYTES: usize = 64;

/// Callback data split up for a bot to match on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fields<'a> {
    /// `lang:<code>:<page>`: switch to `locale`, then show the page encoded in `page`.
    SetLocale { locale: Locale, page: &'a str },
    /// Anything else, split at `:`.
    Parts(Vec<&'a str>),
}

/// Splits callback data; `None` when it is too long or names a language we do not speak.
pub fn fields(data: &str) -> Option<Fields<'_>> {
    if data.len() > MAX_DATA_BYTES {
        return None;
    }
    if let Some(rest) = data.strip_prefix("lang:") {
        let (code, page) = rest.split_once(':')?;
        let locale = match code {
            "fa" => Locale::Fa,
            "en" => Locale::En,
            _ => return None,
        };
        return Some(Fields::SetLocale { locale, page });
    }
    Some(Fields::Parts(data.split(':').collect()))
}

/// The data of "switch to `locale`, then show the page encoded as `page`".
pub fn set_locale(locale: Locale, page: &str) -> String {
    format!("lang:{}:{page}", locale.as_code())
}

/// An id or code inside callback data: 1 to 40 ASCII letters, digits, `-` or `_`.
pub fn is_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 40
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A whole number inside callback data, only when it is within `range`.
pub fn number_in(text: &str, range: RangeInclusive<i64>) -> Option<i64> {
    text.parse::<i64>().ok().filter(|n| range.contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_language_switch_carries_its_page() {
        let data = set_locale(Locale::En, "pkg:starter");
        assert_eq!(data, "lang:en:pkg:starter");
        assert_eq!(
            fields(&data),
            Some(Fields::SetLocale {
                locale: Locale::En,
                page: "pkg:starter"
            })
        );
    }

    #[test]
    fn other_data_is_split_at_colons() {
        assert_eq!(
            fields("pay:x:1"),
            Some(Fields::Parts(vec!["pay", "x", "1"]))
        );
        assert_eq!(fields(""), Some(Fields::Parts(vec![""])));
    }

    #[test]
    fn too_long_data_and_unknown_languages_are_refused() {
        assert_eq!(fields(&"a".repeat(MAX_DATA_BYTES + 1)), None);
        assert_eq!(fields("lang:de:home"), None);
        assert_eq!(fields("lang:en"), None);
    }

    #[test]
    fn ids_and_numbers_are_checked() {
        assert!(is_id("0192f3c4a5b6c7d8e9f0a1b2c3d4e5f6"));
        assert!(is_id("starter_plus-1"));
        for bad in ["", "a b", "../etc", &"a".repeat(41)] {
            assert!(!is_id(bad), "{bad}");
        }
        assert_eq!(number_in("12", 1..=36), Some(12));
        assert_eq!(number_in("0", 1..=36), None);
        assert_eq!(number_in("-5", 1..=36), None);
        assert_eq!(number_in("lots", 1..=36), None);
    }
}
