//! Customers of the platform: people who may buy a package. In the bot they are known by
//! their Telegram id; the web panel will add email sign-in to the same record.

use shared::db::{new_id, now_unix, Db, RowExt};
use shared::i18n::Locale;
use shared::telegram::TelegramId;

use crate::Result;

/// What Telegram tells us about a user with each update.
#[derive(Debug, Clone)]
pub struct TelegramProfile {
    pub id: TelegramId,
    pub first_name: String,
    pub username: Option<String>,
    pub language_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: String,
    /// `None` for customers who only signed up by email.
    pub telegram_id: Option<TelegramId>,
    pub first_name: String,
    pub username: Option<String>,
    /// The language picked in the bot, if any; it wins over Telegram's.
    pub chosen_locale: Option<Locale>,
    pub telegram_locale: Option<String>,
    pub email: Option<String>,
}

impl Customer {
    /// The language to talk in: the customer's choice, else Telegram's, else the default.
    pub fn locale(&self, default: Locale) -> Locale {
        match (&self.chosen_locale, &self.telegram_locale) {
            (Some(chosen), _) => *chosen,
            (None, Some(code)) => telegram_locale(code, default),
            (None, None) => default,
        }
    }
}

/// Telegram's `language_code` ("fa", "en-US", "de"...) as one of our languages, else `default`.
fn telegram_locale(code: &str, default: Locale) -> Locale {
    code.split(['-', '_'])
        .next()
        .and_then(Locale::from_code)
        .unwrap_or(default)
}

const COLUMNS: &str =
    "id, telegram_id, first_name, username, chosen_locale, telegram_locale, email";

fn from_row(row: &shared::db::Row) -> Result<Customer> {
    let chosen: Option<String> = row.try_get("chosen_locale")?;
    Ok(Customer {
        id: row.try_get("id")?,
        telegram_id: row
            .try_get::<Option<i64>, _>("telegram_id")?
            .map(TelegramId::new),
        first_name: row.try_get("first_name")?,
        username: row.try_get("username")?,
        chosen_locale: chosen.as_deref().and_then(Locale::from_code),
        telegram_locale: row.try_get("telegram_locale")?,
        email: row.try_get("email")?,
    })
}

/// Records (or refreshes) a customer from their Telegram profile and returns them.
pub async fn upsert_from_telegram(db: &Db, profile: &TelegramProfile) -> Result<Customer> {
    let now = now_unix();
    let sql = format!(
        "INSERT INTO customers (id, telegram_id, first_name, username, telegram_locale, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (telegram_id) DO UPDATE SET
             first_name = excluded.first_name,
             username = excluded.username,
             telegram_locale = excluded.telegram_locale,
             updated_at = excluded.updated_at
         RETURNING {COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(new_id())
        .bind(profile.id.get())
        .bind(&profile.first_name)
        .bind(&profile.username)
        .bind(&profile.language_code)
        .bind(now)
        .fetch_one(db.pool())
        .await?;
    from_row(&row)
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Customer>> {
    let sql = format!("SELECT {COLUMNS} FROM customers WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn find_by_telegram_id(db: &Db, id: TelegramId) -> Result<Option<Customer>> {
    let sql = format!("SELECT {COLUMNS} FROM customers WHERE telegram_id = $1");
    let row = sqlx::query(&sql)
        .bind(id.get())
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Remembers the language a customer picked.
pub async fn set_locale(db: &Db, id: TelegramId, locale: Locale) -> Result<()> {
    sqlx::query("UPDATE customers SET chosen_locale = $1, updated_at = $2 WHERE telegram_id = $3")
        .bind(locale.as_code())
        .bind(now_unix())
        .bind(id.get())
        .execute(db.pool())
        .await?;
    Ok(())
}
