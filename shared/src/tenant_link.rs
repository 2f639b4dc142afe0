//! What the master tells a tenant bot about itself: owner, channel, package limits and panels.
//! The master serves it at [`CONFIG_PATH`] to the instance's own API key; the tenant bot
//! fetches it on a timer and brings its database in step. One definition for both sides.

use serde::{Deserialize, Serialize, Serializer};

use crate::panel::PanelKind;
use crate::secret::SecretString;

/// `GET` with `Authorization: Bearer <the instance's API key>`.
pub const CONFIG_PATH: &str = "/internal/v1/config";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantLinkConfig {
    pub tenant_id: String,
    /// The Telegram id of the business owner who runs the shop; `None` until onboarding sets it.
    pub owner_telegram_id: Option<i64>,
    /// The channel end users must join (`@name`), if the tenant has one.
    pub channel: Option<String>,
    pub limits: TenantLimits,
    pub panels: Vec<LinkedPanel>,
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
        };
        let json = serde_json::to_string(&config).unwrap();
        assert!(json.contains("\"password\":\"s3cret-pass\""), "{json}");
        assert!(json.contains("\"kind\":\"xui\""), "{json}");
        assert!(json.contains("\"max_panels\":null"), "{json}");
        let back: TenantLinkConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, config);
        assert!(!format!("{config:?}").contains("s3cret"));
    }
}
