//! What the master tells a tenant bot about itself: owner, channel, package limits and panels.
//! The master serves it at [`CONFIG_PATH`] to the instance's own API key; the tenant bot
//! fetches it on a timer and brings its database in step. One definition for both sides.
//!
//! The master also keeps an inbox per tenant: gateways' notifications (NowPayments IPNs) sent
//! to the master's public address for a bot that has none. The bot fetches it at
//! [`INBOX_PATH`] and acks what it handled at [`INBOX_ACK_PATH`], with the same API key.

use serde::{Deserialize, Serialize, Serializer};

use crate::panel::PanelKind;
use crate::secret::SecretString;

/// `GET` with `Authorization: Bearer <the instance's API key>`.
pub const CONFIG_PATH: &str = "/internal/v1/config";
/// `GET`: the bot's undelivered inbox items, oldest first ([`Inbox`]).
pub const INBOX_PATH: &str = "/internal/v1/inbox";
/// `POST` an [`InboxAck`]: those items are delivered and not sent again ([`InboxAcked`]).
pub const INBOX_ACK_PATH: &str = "/internal/v1/inbox/ack";
/// The most items one inbox answer (and one ack) carries.
pub const INBOX_PAGE: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantLinkConfig {
    pub tenant_id: String,
    /// The Telegram id of the business owner who runs the shop; `None` until onboarding sets it.
    pub owner_telegram_id: Option<i64>,
    /// The channel end users must join (`@name`), if the tenant has one.
    pub channel: Option<String>,
    pub limits: TenantLimits,
    pub panels: Vec<LinkedPanel>,
    /// Where NowPayments should send this tenant's IPNs: the master's public address, which
    /// keeps them in the inbox. `None` when the master has no public address.
    #[serde(default)]
    pub nowpayments_ipn_url: Option<String>,
}

/// The package's limits; `None` = no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantLimits {
    pub max_end_users: Option<i64>,
    pub max_panels: Option<i64>,
}

/// A panel the tenant handed to the master, with its credentials in the clear: this only
/// travels from the master to the tenant's own instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedPanel {
    /// The master's id for the panel; the tenant bot keeps it to recognise the panel later.
    pub id: String,
    pub kind: PanelKind,
    pub url: String,
    pub username: String,
    #[serde(serialize_with = "expose")]
    pub password: SecretString,
}

/// What kind of message an inbox item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InboxKind {
    /// A NowPayments IPN: `body` as posted, `signature` from `x-nowpayments-sig`.
    NowPayments,
    /// A kind this build does not know (a newer master); left in the inbox.
    #[serde(other)]
    Unknown,
}

impl InboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InboxKind::NowPayments => "nowpayments",
            InboxKind::Unknown => "unknown",
        }
    }
}

/// One message the master received for the tenant, exactly as it came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxItem {
    pub id: String,
    pub kind: InboxKind,
    pub body: String,
    pub signature: Option<String>,
    pub received_at: i64,
}

/// The answer to `GET` [`INBOX_PATH`]: at most [`INBOX_PAGE`] items, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbox {
    pub items: Vec<InboxItem>,
}

/// The body of `POST` [`INBOX_ACK_PATH`]: the items the bot is done with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxAck {
    pub ids: Vec<String>,
}

/// The answer to an ack: how many items it marked delivered now (others were already, or
/// are not this tenant's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxAcked {
    pub acked: u64,
}

/// `SecretString` is deliberately not `Serialize`; this one field is sent on purpose.
fn expose<S: Serializer>(secret: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_travels_in_json_but_never_shows_in_debug() {
        let config = TenantLinkConfig {
            tenant_id: "t1".into(),
            owner_telegram_id: Some(42),
            channel: Some("@nimbus".into()),
            limits: TenantLimits {
                max_end_users: Some(100),
                max_panels: None,
            },
            panels: vec![LinkedPanel {
                id: "p1".into(),
                kind: PanelKind::Xui,
                url: "https://panel.example.com:2053/".into(),
                username: "admin".into(),
                password: SecretString::new("s3cret-pass"),
            }],
            nowpayments_ipn_url: Some("https://madar.example.com/ipn/nowpayments/t1".into()),
        };
        let json = serde_json::to_string(&config).unwrap();
        assert!(json.contains("\"password\":\"s3cret-pass\""), "{json}");
        assert!(json.contains("\"kind\":\"xui\""), "{json}");
        assert!(json.contains("\"max_panels\":null"), "{json}");
        let back: TenantLinkConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, config);
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn a_config_from_an_older_master_has_no_ipn_url() {
        let json = r#"{"tenant_id":"t1","owner_telegram_id":null,"channel":null,
            "limits":{"max_end_users":null,"max_panels":null},"panels":[]}"#;
        let config: TenantLinkConfig = serde_json::from_str(json).unwrap();
        assert_eq!(config.nowpayments_ipn_url, None);
    }

    #[test]
    fn inbox_kinds_travel_by_name_and_unknown_ones_still_parse() {
        let item: InboxItem = serde_json::from_str(
            r#"{"id":"i1","kind":"nowpayments","body":"{}","signature":"ab","received_at":5}"#,
        )
        .unwrap();
        assert_eq!(item.kind, InboxKind::NowPayments);
        let later: InboxItem = serde_json::from_str(
            r#"{"id":"i2","kind":"cryptomus","body":"{}","signature":null,"received_at":6}"#,
        )
        .unwrap();
        assert_eq!(later.kind, InboxKind::Unknown);
        assert_eq!(
            serde_json::to_string(&InboxKind::NowPayments).unwrap(),
            "\"nowpayments\""
        );
    }
}
