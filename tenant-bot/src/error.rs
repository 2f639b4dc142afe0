//! The one error type of the tenant bot.

use crate::refusal::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] shared::config::ConfigError),
    #[error(transparent)]
    Db(#[from] shared::db::DbError),
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("bot texts are broken: {0}")]
    Texts(#[from] shared::i18n::I18nError),
    #[error("Telegram request failed: {0}")]
    Telegram(#[from] teloxide::RequestError),
    #[error(
        "Telegram refused this bot's token (401 Unauthorized): the tenant must give a new token"
    )]
    TokenRefused,
    #[error("{0}")]
    Polling(shared::telegram::polling::PollingError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("panel: {0}")]
    Panel(#[from] shared::panel::PanelError),
    #[error("secret: {0}")]
    Secret(#[from] shared::secret::SecretError),
    #[error("payment: {0}")]
    Payment(#[from] shared::payment::PaymentError),
    /// Stored data that does not parse: a bug or a hand edit; never shown to end users.
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    /// The master did not answer, or refused this bot's API key; asked again later.
    #[error("the master: {0}")]
    Master(String),
    /// The shop said no; the bot turns this into a message in the user's language.
    #[error("refused: {0:?}")]
    Refused(Refusal),
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Self {
        Error::Refused(r)
    }
}

impl From<shared::money::MoneyError> for Error {
    fn from(e: shared::money::MoneyError) -> Self {
        Error::Corrupt(format!("money: {e}"))
    }
}

impl From<shared::telegram::polling::PollingError> for Error {
    fn from(e: shared::telegram::polling::PollingError) -> Self {
        use shared::telegram::polling::PollingError;
        match e {
            PollingError::TokenRefused => Error::TokenRefused,
            PollingError::Telegram(e) => Error::Telegram(e),
            PollingError::Db(e) => Error::Db(e),
            other => Error::Polling(other),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
