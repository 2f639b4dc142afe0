//! The one error type of the tenant bot.

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
