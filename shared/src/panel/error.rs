//! What can go wrong when Madar talks to a panel. Every message says what is wrong and what to
//! do about it, and never contains a password, token or cookie.

/// One error type for every panel client. `Display` is meant for the operator or tenant who
/// entered the panel's details; details for engineers go to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PanelError {
    #[error(
        "the panel refused the username and password (or API token): check them and try again"
    )]
    WrongCredentials,
    #[error("the panel could not be reached ({0}): check the address and port, and that the panel is running")]
    Unreachable(String),
    #[error("the panel's TLS certificate was not accepted ({0}): use a valid certificate (for example from Let's Encrypt) or check the address")]
    BadTls(String),
    #[error("there is no panel API at this address: check the URL, including the panel's secret path (for 3x-UI, the full address of its login page)")]
    WrongBasePath,
    #[error(
        "the panel did not answer in time: it may be overloaded or too far away; try again later"
    )]
    Timeout,
    #[error("the panel is limiting our requests: wait a minute and try again")]
    RateLimited,
    #[error("an account with this username already exists on the panel: read it instead of creating it again")]
    AlreadyExists,
    #[error("the account was not found on the panel: it may have been deleted there")]
    NotFound,
    #[error("the panel is temporarily unavailable (HTTP {status}): try again later")]
    Unavailable { status: u16 },
    #[error("the panel refused the request (HTTP {status}): {message}; check the values sent and the panel's log")]
    Rejected { status: u16, message: String },
    #[error("the panel gave an answer Madar does not understand ({0}): check that it is a supported version (Marzban 0.8, 3x-UI 2.x or 3.x)")]
    Unexpected(String),
    #[error("the panel address {host} is not allowed ({reason}): use the panel's public address, or ask the platform operator to allow-list it")]
    RefusedAddress { host: String, reason: String },
    #[error("the panel address is not valid: {0}")]
    InvalidUrl(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl PanelError {
    /// A stable key for this kind of error, for translated messages (`panel.wrong_credentials`).
    pub fn key(&self) -> &'static str {
        match self {
            PanelError::WrongCredentials => "panel.wrong_credentials",
            PanelError::Unreachable(_) => "panel.unreachable",
            PanelError::BadTls(_) => "panel.bad_tls",
            PanelError::WrongBasePath => "panel.wrong_base_path",
            PanelError::Timeout => "panel.timeout",
            PanelError::RateLimited => "panel.rate_limited",
            PanelError::AlreadyExists => "panel.already_exists",
            PanelError::NotFound => "panel.not_found",
            PanelError::Unavailable { .. } => "panel.unavailable",
            PanelError::Rejected { .. } => "panel.rejected",
            PanelError::Unexpected(_) => "panel.unexpected",
            PanelError::RefusedAddress { .. } => "panel.refused_address",
            PanelError::InvalidUrl(_) => "panel.invalid_url",
            PanelError::InvalidRequest(_) => "panel.invalid_request",
        }
    }

    /// Whether trying the same request again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            PanelError::Unreachable(_)
                | PanelError::Timeout
                | PanelError::RateLimited
                | PanelError::Unavailable { .. }
                | PanelError::Rejected {
                    status: 500..=599,
                    ..
                }
        )
    }
}
