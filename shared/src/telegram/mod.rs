//! Telegram: identifiers as types (the only way into the core is through a parse), and what
//! every bot of ours shares: the long-polling loop, screens and their keyboards, callback data,
//! sending and editing, commands.

use std::fmt;

use crate::secret::SecretString;

pub mod callback;
pub mod command;
pub mod polling;
pub mod screen;
pub mod send;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(
        "is not a bot token: a token from @BotFather looks like 123456789:AAE... \
         (the bot's number, a colon, then 30 or more letters, digits, _ or -)"
    )]
    Malformed,
}

/// A bot token as @BotFather issues it: `<bot id>:<secret>`.
/// `Debug` shows only the bot id, so the token can be logged by accident without leaking.
#[derive(Clone, PartialEq, Eq)]
pub struct BotToken {
    bot_id: i64,
    full: SecretString,
}

impl BotToken {
    pub fn parse(raw: &str) -> Result<BotToken, TokenError> {
        let raw = raw.trim();
        let (id, secret) = raw.split_once(':').ok_or(TokenError::Malformed)?;
        let bot_id: i64 = id.parse().map_err(|_| TokenError::Malformed)?;
        let secret_ok = secret.len() >= 30
            && secret.len() <= 100
            && secret
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if bot_id <= 0 || !secret_ok {
            return Err(TokenError::Malformed);
        }
        Ok(BotToken {
            bot_id,
            full: SecretString::new(raw),
        })
    }

    /// The bot's own Telegram id: the part before the colon, not secret.
    pub fn bot_id(&self) -> i64 {
        self.bot_id
    }

    pub fn expose(&self) -> &str {
        self.full.expose()
    }
}

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BotToken({}:[redacted])", self.bot_id)
    }
}

/// A Telegram user (or chat) id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TelegramId(i64);

impl TelegramId {
    pub fn new(id: i64) -> TelegramId {
        TelegramId(id)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for TelegramId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_botfather_token_parses_and_hides_its_secret() {
        let t = BotToken::parse("123456789:AAEhBP0av28MchQMDxWRaDcSDHHCMG5Rwrs").unwrap();
        assert_eq!(t.bot_id(), 123456789);
        let shown = format!("{t:?}");
        assert!(shown.contains("123456789"));
        assert!(!shown.contains("AAEh"));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in [
            "",
            "abc",
            "123456789",
            "x:AAEhBP0av28MchQMDxWRaDcSDHHCMG5Rwrs",
            "123:short",
            "123:AAEhBP0av28MchQMDxWRaDcSDHHCMG5R w",
            "-5:AAEhBP0av28MchQMDxWRaDcSDHHCMG5Rwrs",
        ] {
            assert!(BotToken::parse(bad).is_err(), "{bad}");
        }
    }
}
