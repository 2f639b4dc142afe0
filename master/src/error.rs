//! The one error type of the master crate.

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
    #[error("Telegram refused the master bot's token (401 Unauthorized): check MADAR_TELEGRAM_BOT_TOKEN, or create a new token with @BotFather")]
    TokenRefused,
    #[error("Telegram request failed: {0}")]
    Telegram(#[from] teloxide::RequestError),
    #[error("{0}")]
    Polling(shared::telegram::polling::PollingError),
    #[error("cannot listen on {addr}: {source} (is another program using that port? change MADAR_HTTP_LISTEN)")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Account(crate::accounts::AccountRefusal),
    /// Staff gave something that cannot be stored; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    #[error("payment gateway: {0}")]
    Payment(String),
    #[error("the provisioner failed: {0}")]
    Provisioner(String),
    #[error("the sandbox failed: {0}")]
    Sandbox(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("a stored value is invalid: {0}")]
    Corrupt(String),
    /// The customer asked for something billing does not allow; shown to them, translated.
    #[error("refused: {0}")]
    Refused(crate::billing::Refusal),
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

impl From<crate::billing::Refusal> for Error {
    fn from(r: crate::billing::Refusal) -> Self {
        Error::Refused(r)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
