//! The tenant's end users as the bot remembers them: language, who referred them, what they
//! started with, when they were last seen in the channel, whether they blocked the bot. New
//! users are let in only while the tenant's package allows more.

use shared::db::{Db, RowExt};
use shared::i18n::Locale;

use crate::Result;

/// What Telegram tells about a person with each update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub telegram_id: i64,
    pub first_name: String,
    pub username: Option<String>,
    pub language_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndUser {
    pub telegram_id: i64,
    pub first_name: String,
    /// The language they chose in the bot, if they did.
    pub locale: Option<Locale>,
    pub telegram_locale: Option<String>,
    pub referred_by: Option<i64>,
    pub start_payload: Option<String>,
    pub joined_channel_at: Option<i64>,
    pub created_at: i64,
}

impl EndUser {
    /// The language to speak: their choice, else their Telegram app's language.
    pub fn locale(&self) -> Locale {
        self.locale
            .unwrap_or_else(|| Locale::from_telegram(self.telegram_locale.as_deref()))
    }
}

/// The outcome of [`admit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Known before (their profile is refreshed).
    Known(EndUser),
    /// Remembered now for the first time.
    New(EndUser),
    /// A new person the package has no room for; nothing was stored.
    Refused,
}

/// A `/start` payload: where the person came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// `ref_<telegram id>`: invited by another user.
    Referral(i64),
    /// `pay_<payment id>`: back from a payment page.
    Payment(String),
    Other(String),
}

impl Payload {
    pub fn parse(raw: &str) -> Option<Payload> {
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        if let Some(id) = raw.strip_prefix("ref_") {
            if let Ok(id) = id.parse::<i64>() {
                if id > 0 {
                    return Some(Payload::Referral(id));
                }
            }
        }
        if let Some(id) = raw.strip_prefix("pay_") {
            let id_ok = !id.is_empty()
                && id.len() <= 40
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if id_ok {
                return Some(Payload::Payment(id.to_string()));
            }
        }
        // Deep-link payloads are at most 64 characters; anything longer is not one of ours.
        Some(Payload::Other(raw.chars().take(64).collect()))
    }
}

const COLUMNS: &str =
    "telegram_id, first_name, locale, telegram_locale, referred_by, start_payload, \
    joined_channel_at, created_at";

fn from_row(row: &shared::db::Row) -> Result<EndUser> {
    let locale: Option<String> = row.try_get("locale")?;
    Ok(EndUser {
        telegram_id: row.try_get("telegram_id")?,
        first_name: row.try_get("first_name")?,
        locale: locale.as_deref().and_then(Locale::from_code),
        telegram_locale: row.try_get("telegram_locale")?,
        referred_by: row.try_get("referred_by")?,
        start_payload: row.try_get("start_payload")?,
        joined_channel_at: row.try_get("joined_channel_at")?,
        created_at: row.try_get("created_at")?,
    })
}

pub async fn get(db: &Db, telegram_id: i64) -> Result<Option<EndUser>> {
    let sql = format!("SELECT {COLUMNS} FROM end_users WHERE telegram_id = $1");
    let row = sqlx::query(&sql)
        .bind(telegram_id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn count(db: &Db) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM end_users")
        .fetch_one(db.pool())
        .await?)
}

/// Remembers the person behind an update. A known person's profile is refreshed (and a
/// person who had blocked the bot and writes again is reachable again). A new person is
/// stored only while `max_end_users` allows (admins always are), with their start payload
/// and, for a `ref_` payload naming another known user, who referred them.
pub async fn admit(
    db: &Db,
    profile: &Profile,
    payload: Option<&Payload>,
    max_end_users: Option<i64>,
    is_admin: bool,
    now: i64,
) -> Result<Admission> {
    let updated = sqlx::query(
        "UPDATE end_users SET first_name = $2, username = $3, telegram_locale = $4, blocked = 0,
             updated_at = $5
         WHERE telegram_id = $1",
    )
    .bind(profile.telegram_id)
    .bind(&profile.first_name)
    .bind(&profile.username)
    .bind(&profile.language_code)
    .bind(now)
    .execute(db.pool())
    .await?;
    if updated.rows_affected() == 1 {
        return known(db, profile.telegram_id).await.map(Admission::Known);
    }
    if let Some(limit) = max_end_users {
        // Two new people at the same moment may both get in: the limit is a commercial
        // one, and one extra user is better than a lock on every first message.
        if !is_admin && count(db).await? >= limit {
            return Ok(Admission::Refused);
        }
    }
    let referred_by = match payload {
        Some(Payload::Referral(id)) if *id != profile.telegram_id => {
            get(db, *id).await?.map(|referrer| referrer.telegram_id)
        }
        _ => None,
    };
    let start_payload = payload.map(|p| match p {
        Payload::Referral(id) => format!("ref_{id}"),
        Payload::Payment(id) => format!("pay_{id}"),
        Payload::Other(raw) => raw.clone(),
    });
    let inserted = sqlx::query(
        "INSERT INTO end_users (telegram_id, first_name, username, telegram_locale, referred_by,
             start_payload, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         ON CONFLICT (telegram_id) DO NOTHING",
    )
    .bind(profile.telegram_id)
    .bind(&profile.first_name)
    .bind(&profile.username)
    .bind(&profile.language_code)
    .bind(referred_by)
    .bind(start_payload)
    .bind(now)
    .execute(db.pool())
    .await?;
    let user = known(db, profile.telegram_id).await?;
    Ok(if inserted.rows_affected() == 1 {
        Admission::New(user)
    } else {
        Admission::Known(user)
    })
}

async fn known(db: &Db, telegram_id: i64) -> Result<EndUser> {
    get(db, telegram_id).await?.ok_or_else(|| {
        crate::Error::Corrupt(format!(
            "end user {telegram_id} vanished after being stored"
        ))
    })
}

pub async fn set_locale(db: &Db, telegram_id: i64, locale: Locale, now: i64) -> Result<()> {
    sqlx::query("UPDATE end_users SET locale = $2, updated_at = $3 WHERE telegram_id = $1")
        .bind(telegram_id)
        .bind(locale.as_code())
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// When the person was last seen as a member of the tenant's channel; `None` = not a member.
pub async fn set_joined_channel(db: &Db, telegram_id: i64, at: Option<i64>) -> Result<()> {
    sqlx::query("UPDATE end_users SET joined_channel_at = $2 WHERE telegram_id = $1")
        .bind(telegram_id)
        .bind(at)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// The person blocked the bot (or deleted their account): they get no more notices.
pub async fn set_blocked(db: &Db, telegram_id: i64, now: i64) -> Result<()> {
    sqlx::query("UPDATE end_users SET blocked = 1, updated_at = $2 WHERE telegram_id = $1")
        .bind(telegram_id)
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// The language to speak to someone who may not be an end user (an admin who never wrote).
pub async fn locale_of(db: &Db, telegram_id: i64) -> Result<Locale> {
    Ok(get(db, telegram_id)
        .await?
        .map(|u| u.locale())
        .unwrap_or(Locale::DEFAULT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_payloads_are_recognised() {
        assert_eq!(Payload::parse("ref_42"), Some(Payload::Referral(42)));
        assert_eq!(
            Payload::parse("pay_0192abc"),
            Some(Payload::Payment("0192abc".into()))
        );
        assert_eq!(
            Payload::parse("ref_-3"),
            Some(Payload::Other("ref_-3".into()))
        );
        assert_eq!(
            Payload::parse("pay_a b"),
            Some(Payload::Other("pay_a b".into()))
        );
        assert_eq!(Payload::parse("  "), None);
    }
}
