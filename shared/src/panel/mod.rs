//! VPN panels: one trait for what a selling bot needs, with clients for Marzban 0.8.x and
//! 3x-UI 2.x / 3.x, and the network policy that keeps customer-entered panel addresses away
//! from the platform's internals.
//!
//! The trait uses the `async_trait` crate: it turns each method into a boxed `Send` future,
//! which is what makes `Arc<dyn Panel>` possible (native `async fn` in traits is not
//! dyn-compatible), and it reads like plain `async fn`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), shared::panel::PanelError> {
//! use shared::panel::*;
//! use shared::secret::SecretString;
//! let policy = NetworkPolicy::strict();
//! let url = PanelUrl::parse("https://panel.example.com:8000/", &policy)?;
//! let credentials = PanelCredentials::Password {
//!     username: "admin".into(),
//!     password: SecretString::new("secret"),
//! };
//! let options = PanelOptions { network: policy, ..PanelOptions::default() };
//! let panel = connect(PanelKind::Marzban, url, credentials, options).await?;
//! let account = panel.account("sara_42").await?;
//! # Ok(()) }
//! ```

mod error;
mod http;
mod marzban;
mod network;
mod types;
mod xui;

use std::sync::Arc;

pub use error::PanelError;
pub use marzban::MarzbanPanel;
pub use network::{NetRule, NetworkPolicy, PanelUrl};
pub use types::{
    Account, AccountPage, AccountStatus, Inbound, InboundRef, NewAccount, PageRequest,
    PanelCredentials, PanelFlavor, PanelHealth, PanelKind, PanelOptions, Username,
};
pub use xui::XuiPanel;

/// What a selling bot does with a panel. Every method logs in first if needed and again
/// once if the panel forgot the session; reads are retried a bounded number of times.
#[async_trait::async_trait]
pub trait Panel: Send + Sync {
    /// Logs in (if needed) and probes the API; for 3x-UI this detects the generation.
    async fn health(&self) -> Result<PanelHealth, PanelError>;

    async fn inbounds(&self) -> Result<Vec<Inbound>, PanelError>;

    /// Creates the account. If the username already exists this returns
    /// [`PanelError::AlreadyExists`] and creates nothing: the caller then reads it.
    async fn create_account(&self, request: &NewAccount) -> Result<Account, PanelError>;

    /// The account now, or `None` when there is no account of that name.
    async fn account(&self, username: &str) -> Result<Option<Account>, PanelError>;

    /// Moves the expiry `days` days past the later of now and the current expiry (an account
    /// on hold gets a longer duration; one that never expires is left as it is).
    async fn extend(&self, username: &str, days: u32) -> Result<Account, PanelError>;

    /// Raises the data limit by `bytes` (an unlimited account stays unlimited).
    async fn add_data(&self, username: &str, bytes: u64) -> Result<Account, PanelError>;

    /// Sets the used traffic back to zero.
    async fn reset_traffic(&self, username: &str) -> Result<Account, PanelError>;

    /// Issues a new subscription URL; the old one stops working.
    async fn revoke_subscription(&self, username: &str) -> Result<Account, PanelError>;

    async fn set_enabled(&self, username: &str, enabled: bool) -> Result<Account, PanelError>;

    /// Deletes the account; deleting one that does not exist succeeds.
    async fn delete_account(&self, username: &str) -> Result<(), PanelError>;

    /// One page of accounts with their usage, for sync.
    async fn list_accounts(&self, page: PageRequest) -> Result<AccountPage, PanelError>;
}

/// Builds the client for `kind` and validates it with a real login ([`Panel::health`]);
/// connections go only to addresses `options.network` allows.
/// wrong password, unreachable host, bad TLS and wrong base path each give their own error.
pub async fn connect(
    kind: PanelKind,
    url: PanelUrl,
    credentials: PanelCredentials,
    options: PanelOptions,
) -> Result<Arc<dyn Panel>, PanelError> {
    url.check_resolved(&options.network).await?;
    let panel: Arc<dyn Panel> = match kind {
        PanelKind::Marzban => Arc::new(MarzbanPanel::new(url, credentials, options)?),
        PanelKind::Xui => Arc::new(XuiPanel::new(url, credentials, options)?),
    };
    panel.health().await?;
    Ok(panel)
}
