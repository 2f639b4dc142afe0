//! The tenant's settings: one JSON value per name in `settings`. Each setting is a typed
//! struct with defaults, so a missing row means "as shipped".

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use shared::db::Db;

use crate::{Error, Result};

/// A setting stored under a fixed name.
pub trait Setting: Serialize + DeserializeOwned + Default {
    const NAME: &'static str;
}

pub async fn get<S: Setting>(db: &Db) -> Result<S> {
    let value: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
        .bind(S::NAME)
        .fetch_optional(db.pool())
        .await?;
    match value {
        None => Ok(S::default()),
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| Error::Corrupt(format!("setting {}: {e}", S::NAME))),
    }
}

pub async fn set<S: Setting>(db: &Db, value: &S, now: i64) -> Result<()> {
    let text = serde_json::to_string(value)
        .map_err(|e| Error::Corrupt(format!("setting {}: {e}", S::NAME)))?;
    sqlx::query(
        "INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(S::NAME)
    .bind(text)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The free trial: once per Telegram user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Trial {
    pub enabled: bool,
    /// `None` = unlimited data (not advised for a trial).
    pub data_bytes: Option<i64>,
    pub days: i64,
    /// Bind trials to one location (any panel there); `None` = any panel.
    pub location: Option<String>,
}

impl Default for Trial {
    fn default() -> Self {
        Trial {
            enabled: true,
            data_bytes: Some(1024 * 1024 * 1024),
            days: 1,
            location: None,
        }
    }
}

impl Setting for Trial {
    const NAME: &'static str = "trial";
}

/// When end users are reminded about a service running out. Each reminder goes once per
/// period of the service (a renewal or added data starts a new one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Reminders {
    pub enabled: bool,
    /// Remind when this many days or fewer are left (the larger one first).
    pub days_before: Vec<i64>,
    /// Remind when less than this percentage of the data is left.
    pub data_percent_left: i64,
}

impl Default for Reminders {
    fn default() -> Self {
        Reminders {
            enabled: true,
            days_before: vec![3, 1],
            data_percent_left: 10,
        }
    }
}

impl Setting for Reminders {
    const NAME: &'static str = "reminders";
}

/// The channel end users must join before using the bot (`@name` or a numeric chat id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Channel {
    pub chat: Option<String>,
    /// The link shown on the "join" button (`https://t.me/name`), when the chat is private.
    pub invite_link: Option<String>,
}

impl Setting for Channel {
    const NAME: &'static str = "channel";
}

/// The tenant's package limits, as the master last told them. `None` = no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    pub max_end_users: Option<i64>,
    pub max_panels: Option<i64>,
}

impl Setting for Limits {
    const NAME: &'static str = "limits";
}

/// How many times an order's panel step is tried, and how long to wait between tries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Delivery {
    pub attempts: i64,
    /// Seconds before the first retry; doubles each time, at most `max_backoff_seconds`.
    pub backoff_seconds: i64,
    pub max_backoff_seconds: i64,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            attempts: 6,
            backoff_seconds: 10,
            max_backoff_seconds: 300,
        }
    }
}

impl Setting for Delivery {
    const NAME: &'static str = "delivery";
}

impl Delivery {
    /// The wait after the `attempt`-th failed try (1-based).
    pub fn backoff_after(&self, attempt: i64) -> i64 {
        let shift = (attempt - 1).clamp(0, 20) as u32;
        self.backoff_seconds
            .saturating_mul(1_i64 << shift)
            .min(self.max_backoff_seconds)
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let d = Delivery::default();
        let waits: Vec<i64> = (1..=7).map(|a| d.backoff_after(a)).collect();
        assert_eq!(waits, vec![10, 20, 40, 80, 160, 300, 300]);
    }
}
