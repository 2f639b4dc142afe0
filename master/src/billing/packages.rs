//! Packages for sale to VPN business owners, with their limits and prices.

use shared::db::{now_unix, Db, RowExt};
use shared::i18n::Locale;
use shared::money::{Currency, Money};

use crate::{Error, Result};

/// A limit on what a tenant may have; `None` means unlimited.
pub type Limit = Option<i64>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub id: String,
    pub code: String,
    pub name_fa: String,
    pub name_en: String,
    pub max_bots: Limit,
    pub max_end_users: Limit,
    pub max_panels: Limit,
    pub bot_memory_mb: i64,
    pub bot_cpu_millis: i64,
    pub trial_days: i64,
    pub prices: Vec<Price>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    pub period_months: i64,
    pub amount: Money,
}

impl Package {
    pub fn name(&self, locale: Locale) -> &str {
        match locale {
            Locale::Fa => &self.name_fa,
            Locale::En => &self.name_en,
        }
    }

    /// The price of `period_months` in `currency`, if the package is sold that way.
    pub fn price(&self, period_months: i64, currency: Currency) -> Option<Money> {
        self.prices
            .iter()
            .find(|p| p.period_months == period_months && p.amount.currency() == currency)
            .map(|p| p.amount)
    }
}

const COLUMNS: &str = "id, code, name_fa, name_en, max_bots, max_end_users, max_panels, \
                       bot_memory_mb, bot_cpu_millis, trial_days";

fn from_row(row: &shared::db::Row) -> Result<Package> {
    Ok(Package {
        id: row.try_get("id")?,
        code: row.try_get("code")?,
        name_fa: row.try_get("name_fa")?,
        name_en: row.try_get("name_en")?,
        max_bots: row.try_get("max_bots")?,
        max_end_users: row.try_get("max_end_users")?,
        max_panels: row.try_get("max_panels")?,
        bot_memory_mb: row.try_get("bot_memory_mb")?,
        bot_cpu_millis: row.try_get("bot_cpu_millis")?,
        trial_days: row.try_get("trial_days")?,
        prices: Vec::new(),
    })
}

/// The packages a customer can buy now, in display order, with their prices.
pub async fn on_sale(db: &Db) -> Result<Vec<Package>> {
    let sql = format!("SELECT {COLUMNS} FROM packages WHERE active = 1 ORDER BY sort_order, code");
    let rows = sqlx::query(&sql).fetch_all(db.pool()).await?;
    let mut packages = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    let price_rows = sqlx::query(
        "SELECT pp.package_id, pp.period_months, pp.currency, pp.amount_minor
         FROM package_prices pp JOIN packages p ON p.id = pp.package_id
         WHERE p.active = 1
         ORDER BY pp.period_months, pp.currency",
    )
    .fetch_all(db.pool())
    .await?;
    for row in &price_rows {
        let package_id: String = row.try_get("package_id")?;
        let price = price_from_row(row)?;
        if let Some(p) = packages.iter_mut().find(|p| p.id == package_id) {
            p.prices.push(price);
        }
    }
    Ok(packages)
}

/// A package by its code whether on sale or not (for renewing what a customer already has).
pub async fn by_code(db: &Db, code: &str) -> Result<Option<Package>> {
    let sql = format!("SELECT {COLUMNS} FROM packages WHERE code = $1");
    let row = sqlx::query(&sql)
        .bind(code)
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else { return Ok(None) };
    let mut package = from_row(&row)?;
    let price_rows = sqlx::query(
        "SELECT period_months, currency, amount_minor FROM package_prices WHERE package_id = $1
         ORDER BY period_months, currency",
    )
    .bind(&package.id)
    .fetch_all(db.pool())
    .await?;
    for row in &price_rows {
        package.prices.push(price_from_row(row)?);
    }
    Ok(Some(package))
}

/// One package on sale, by its code (e.g. `starter`).
pub async fn on_sale_by_code(db: &Db, code: &str) -> Result<Option<Package>> {
    Ok(on_sale(db).await?.into_iter().find(|p| p.code == code))
}

fn price_from_row(row: &shared::db::Row) -> Result<Price> {
    let code: String = row.try_get("currency")?;
    let currency =
        Currency::from_code(&code).map_err(|e| Error::Corrupt(format!("package price: {e}")))?;
    Ok(Price {
        period_months: row.try_get("period_months")?,
        amount: Money::new(row.try_get("amount_minor")?, currency),
    })
}

/// Shows or hides a package from the sale list. Returns false when no such package exists.
pub async fn set_active(db: &Db, code: &str, active: bool) -> Result<bool> {
    let done = sqlx::query("UPDATE packages SET active = $1, updated_at = $2 WHERE code = $3")
        .bind(i64::from(active))
        .bind(now_unix())
        .bind(code)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Sets (or adds) the price of a period. Returns false when no such package exists.
pub async fn set_price(db: &Db, code: &str, period_months: i64, amount: Money) -> Result<bool> {
    let id: Option<String> = sqlx::query_scalar("SELECT id FROM packages WHERE code = $1")
        .bind(code)
        .fetch_optional(db.pool())
        .await?;
    let Some(id) = id else { return Ok(false) };
    sqlx::query(
        "INSERT INTO package_prices (package_id, period_months, currency, amount_minor)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (package_id, period_months, currency) DO UPDATE SET amount_minor = excluded.amount_minor",
    )
    .bind(&id)
    .bind(period_months)
    .bind(amount.currency().as_code())
    .bind(amount.minor())
    .execute(db.pool())
    .await?;
    Ok(true)
}
