//! The values the panel trait speaks in, the same for every panel kind. Sizes are bytes and
//! times are unix seconds everywhere here; each client converts to its panel's units.

use std::fmt;
use std::time::Duration;

use crate::secret::SecretString;

use super::error::PanelError;
use super::network::{NetworkPolicy, PanelUrl};

/// What software a panel runs, as the person entering it chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PanelKind {
    Marzban,
    Xui,
}

/// The API actually found after login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PanelFlavor {
    /// Marzban 0.8.x.
    Marzban,
    /// 3x-UI up to 3.0.x: clients live inside inbounds (`inbounds/addClient`).
    Xui2,
    /// 3x-UI 3.1+: the `clients/*` API.
    Xui3,
}

/// How Madar signs in to a panel.
#[derive(Clone, PartialEq, Eq)]
pub enum PanelCredentials {
    Password {
        username: String,
        password: SecretString,
    },
    /// Marzban: a ready bearer token (not renewed); 3x-UI 3.x: an API token.
    ApiToken(SecretString),
}

impl fmt::Debug for PanelCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PanelCredentials::Password { username, .. } => f
                .debug_struct("Password")
                .field("username", username)
                .field("password", &"[redacted]")
                .finish(),
            PanelCredentials::ApiToken(_) => f.write_str("ApiToken([redacted])"),
        }
    }
}

/// Where the client may connect, timeouts, retries and the 3x-UI subscription address.
#[derive(Debug, Clone)]
pub struct PanelOptions {
    /// Checked at every connection (DNS names are resolved and every address checked).
    /// Default: refuse every non-public address.
    pub network: NetworkPolicy,
    /// Longest time one HTTP request may take, connection included.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// How many times a safe request is tried in all (1 = no retry).
    pub attempts: u32,
    /// Wait before the first retry; doubles for each further one.
    pub retry_backoff: Duration,
    /// 3x-UI only: where its subscription server serves `{base}{subId}`, e.g.
    /// `https://panel.example.com:2096/sub/`. Default: the panel's host, port 2096, `/sub/`.
    pub xui_subscription_base: Option<PanelUrl>,
}

impl Default for PanelOptions {
    fn default() -> Self {
        PanelOptions {
            network: NetworkPolicy::strict(),
            request_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            attempts: 3,
            retry_backoff: Duration::from_millis(300),
            xui_subscription_base: None,
        }
    }
}

/// The result of a successful login and API probe.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PanelHealth {
    pub flavor: PanelFlavor,
    /// How many inbounds (3x-UI) or inbound tags (Marzban) the panel has.
    pub inbounds: usize,
}

/// An inbound (3x-UI) or inbound tag (Marzban) accounts can be put in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Inbound {
    pub key: InboundRef,
    /// vless, vmess, trojan, shadowsocks, ...
    pub protocol: String,
    /// A human name: 3x-UI's remark, or Marzban's tag.
    pub remark: String,
    pub port: Option<u16>,
}

/// How an inbound is named to its panel: Marzban's tag (`VLESS TCP REALITY`) or 3x-UI's
/// numeric inbound id (`3`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct InboundRef(pub String);

impl InboundRef {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new account to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub username: Username,
    /// `None` = unlimited.
    pub data_limit_bytes: Option<u64>,
    /// Unix seconds; `None` = never expires.
    pub expire_at: Option<i64>,
    /// Empty = every inbound of the panel (3x-UI 2.x: exactly one is required).
    pub inbounds: Vec<InboundRef>,
    pub note: String,
    /// Most devices at once (3x-UI `limitIp`); Marzban 0.8 has no such setting and ignores it.
    pub ip_limit: Option<u32>,
}

/// An account name both panels accept: 3 to 32 of `a-z A-Z 0-9 - _ @ .`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Username, PanelError> {
        let ok_len = (3..=32).contains(&raw.len());
        let ok_chars = raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '@' | '.'));
        if ok_len && ok_chars {
            Ok(Username(raw.to_string()))
        } else {
            Err(PanelError::InvalidRequest(format!(
                "\"{raw}\" is not a valid account name: use 3 to 32 letters, digits, -, _, @ or ."
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    Disabled,
    /// Used all its data.
    Limited,
    /// Past its expiry time.
    Expired,
    /// Waiting for first use before its time starts.
    OnHold,
}

/// An account as the panel reports it now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    pub username: String,
    /// Upload + download since the last reset.
    pub used_bytes: u64,
    /// `None` = unlimited.
    pub data_limit_bytes: Option<u64>,
    /// Unix seconds; `None` = never (or, when on hold, not started yet).
    pub expire_at: Option<i64>,
    pub status: AccountStatus,
    /// Last time the account was seen connected, unix seconds.
    pub online_at: Option<i64>,
    /// Absolute subscription URL to give the end user.
    pub subscription_url: String,
    /// Share links (vless://...). May be empty in pages from `list_accounts`.
    pub links: Vec<String>,
}

/// A page of accounts for usage sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub offset: u64,
    pub limit: u32,
}

/// One page: `accounts` may be fewer than asked even before the end; continue from
/// `offset + accounts.len()` until it reaches `total` or a page comes back empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPage {
    pub accounts: Vec<Account>,
    pub total: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_panels_rules() {
        for good in ["abc", "sara_42", "a.b-c@d", &"x".repeat(32)] {
            assert!(Username::parse(good).is_ok(), "{good}");
        }
        for bad in ["ab", "", "has space", "emoji😀", "slash/", &"x".repeat(33)] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }
}
