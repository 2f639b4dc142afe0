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

/// What staff give to create or change a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageDraft {
    pub code: String,
    pub name_fa: String,
    pub name_en: String,
    pub max_bots: Limit,
    pub max_end_users: Limit,
    pub max_panels: Limit,
    pub bot_memory_mb: i64,
    pub bot_cpu_millis: i64,
    pub trial_days: i64,
    pub sort_order: i64,
}

/// Why staff's package was refused.
fn check(draft: &PackageDraft) -> Result<()> {
    let code_ok = !draft.code.is_empty()
        && draft.code.len() <= 24
        && draft
            .code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let limits_ok = [draft.max_bots, draft.max_end_users, draft.max_panels]
        .iter()
        .all(|l| l.is_none_or(|n| n >= 1));
    let problem = if !code_ok {
        Some("the code must be 1-24 of a-z, 0-9 and -")
    } else if draft.name_fa.trim().is_empty() || draft.name_en.trim().is_empty() {
        Some("both names (fa and en) are needed")
    } else if !limits_ok {
        Some("a limit must be at least 1, or unlimited")
    } else if !(32..=4096).contains(&draft.bot_memory_mb) {
        Some("memory per bot must be 32-4096 MB")
    } else if !(50..=4000).contains(&draft.bot_cpu_millis) {
        Some("CPU per bot must be 50-4000 millicores")
    } else if !(0..=90).contains(&draft.trial_days) {
        Some("trial days must be 0-90")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(Error::Invalid(problem.to_string())),
        None => Ok(()),
    }
}

/// Creates a package (hidden until it has prices and is shown).
pub async fn create(db: &Db, draft: &PackageDraft, now: i64) -> Result<String> {
    check(draft)?;
    let id = shared::db::new_id();
    let inserted = sqlx::query(
        "INSERT INTO packages (id, code, name_fa, name_en, max_bots, max_end_users, max_panels,
             bot_memory_mb, bot_cpu_millis, trial_days, active, sort_order, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $12, $12)",
    )
    .bind(&id)
    .bind(&draft.code)
    .bind(draft.name_fa.trim())
    .bind(draft.name_en.trim())
    .bind(draft.max_bots)
    .bind(draft.max_end_users)
    .bind(draft.max_panels)
    .bind(draft.bot_memory_mb)
    .bind(draft.bot_cpu_millis)
    .bind(draft.trial_days)
    .bind(draft.sort_order)
    .bind(now)
    .execute(db.pool())
    .await;
    match inserted {
        Ok(_) => Ok(id),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(Error::Invalid(format!(
            "a package with the code {} exists already",
            draft.code
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Changes a package. What customers already bought is unaffected: their subscriptions keep
/// the terms they bought. Returns false when no package has this code.
pub async fn update(db: &Db, draft: &PackageDraft, now: i64) -> Result<bool> {
    check(draft)?;
    let done = sqlx::query(
        "UPDATE packages SET name_fa = $1, name_en = $2, max_bots = $3, max_end_users = $4,
             max_panels = $5, bot_memory_mb = $6, bot_cpu_millis = $7, trial_days = $8,
             sort_order = $9, updated_at = $10
         WHERE code = $11",
    )
    .bind(draft.name_fa.trim())
    .bind(draft.name_en.trim())
    .bind(draft.max_bots)
    .bind(draft.max_end_users)
    .bind(draft.max_panels)
    .bind(draft.bot_memory_mb)
    .bind(draft.bot_cpu_millis)
    .bind(draft.trial_days)
    .bind(draft.sort_order)
    .bind(now)
    .bind(&draft.code)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}
