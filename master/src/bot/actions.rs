//! What an inline button asks for, encoded in its callback data (at most 64 bytes).

use shared::i18n::Locale;

/// A screen the bot can show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    Home,
    Package(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Show(Page),
    /// Switch language, then show `Page` again in the new language.
    SetLocale(Locale, Page),
}

/// Telegram's limit on callback data.
pub const MAX_DATA_BYTES: usize = 64;

impl Page {
    fn encode(&self) -> String {
        match self {
            Page::Home => "home".to_string(),
            Page::Package(code) => format!("pkg:{code}"),
        }
    }

    fn decode(data: &str) -> Option<Page> {
        match data.split_once(':') {
            None if data == "home" => Some(Page::Home),
            Some(("pkg", code)) if is_code(code) => Some(Page::Package(code.to_string())),
            _ => None,
        }
    }
}

fn is_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 40
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Action {
    pub fn encode(&self) -> String {
        match self {
            Action::Show(page) => page.encode(),
            Action::SetLocale(locale, page) => {
                format!("lang:{}:{}", locale.as_code(), page.encode())
            }
        }
    }

    /// Parses callback data; anything unknown or stale is `None`.
    pub fn decode(data: &str) -> Option<Action> {
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
            return Some(Action::SetLocale(locale, Page::decode(page)?));
        }
        Page::decode(data).map(Action::Show)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_through_callback_data() {
        for action in [
            Action::Show(Page::Home),
            Action::Show(Page::Package("starter".into())),
            Action::SetLocale(Locale::En, Page::Home),
            Action::SetLocale(Locale::Fa, Page::Package("enterprise".into())),
        ] {
            let data = action.encode();
            assert!(data.len() <= MAX_DATA_BYTES);
            assert_eq!(Action::decode(&data), Some(action));
        }
    }

    #[test]
    fn stale_or_forged_data_is_not_an_action() {
        for data in [
            "",
            "buy:starter",
            "lang:de:home",
            "pkg:",
            "pkg:a b",
            "lang:en",
            "home:x",
        ] {
            assert_eq!(Action::decode(data), None, "{data}");
        }
    }
}
