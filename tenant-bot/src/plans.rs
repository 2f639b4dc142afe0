//! What the tenant sells: plans of data and days at a price, optionally bound to a location or
//! one panel.

use shared::db::{new_id, Db, RowExt};
use shared::i18n::Locale;
use shared::money::{Currency, Money};

use crate::wallet::CURRENCY;
use crate::{Error, Result};

pub const GIB: i64 = 1024 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub id: String,
    pub name_fa: String,
    pub name_en: String,
    /// `None` = unlimited data.
    pub data_bytes: Option<i64>,
    pub days: i64,
    pub price: Money,
    /// Most devices at once.
    pub ip_limit: Option<i64>,
    pub location: Option<String>,
    pub panel_id: Option<String>,
    pub hidden: bool,
    pub sort_order: i64,
}

impl Plan {
    pub fn name(&self, locale: Locale) -> &str {
        match locale {
            Locale::Fa => &self.name_fa,
            Locale::En => &self.name_en,
        }
    }
}

/// A plan as an admin enters it; checked by [`PlanDraft::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanDraft {
    pub name_fa: String,
    pub name_en: String,
    pub data_bytes: Option<i64>,
    pub days: i64,
    pub price: Money,
    pub ip_limit: Option<i64>,
    pub location: Option<String>,
    pub panel_id: Option<String>,
    pub sort_order: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the plan needs a name in both languages (1 to 64 characters)")]
    Name,
    #[error("days must be between 1 and 3650")]
    Days,
    #[error("the data must be more than 0 bytes (or unlimited)")]
    Data,
    #[error("the price must be 0 or more, in Toman")]
    Price,
    #[error("the device limit must be between 1 and 100 (or none)")]
    IpLimit,
}

impl PlanDraft {
    pub fn check(&self) -> Result<(), PlanError> {
        let name_ok = |n: &str| !n.trim().is_empty() && n.chars().count() <= 64;
        if !name_ok(&self.name_fa) || !name_ok(&self.name_en) {
            return Err(PlanError::Name);
        }
        if !(1..=3650).contains(&self.days) {
            return Err(PlanError::Days);
        }
        if matches!(self.data_bytes, Some(b) if b <= 0) {
            return Err(PlanError::Data);
        }
        if self.price.is_negative() || self.price.currency() != CURRENCY {
            return Err(PlanError::Price);
        }
        if matches!(self.ip_limit, Some(n) if !(1..=100).contains(&n)) {
            return Err(PlanError::IpLimit);
        }
        Ok(())
    }
}

const COLUMNS: &str = "id, name_fa, name_en, data_bytes, days, currency, price_minor, ip_limit, \
    location, panel_id, hidden, sort_order";

fn from_row(row: &shared::db::Row) -> Result<Plan> {
    let code: String = row.try_get("currency")?;
    let currency = Currency::from_code(&code)?;
    Ok(Plan {
        id: row.try_get("id")?,
        name_fa: row.try_get("name_fa")?,
        name_en: row.try_get("name_en")?,
        data_bytes: row.try_get("data_bytes")?,
        days: row.try_get("days")?,
        price: Money::new(row.try_get("price_minor")?, currency),
        ip_limit: row.try_get("ip_limit")?,
        location: row.try_get("location")?,
        panel_id: row.try_get("panel_id")?,
        hidden: row.try_get::<i64, _>("hidden")? != 0,
        sort_order: row.try_get("sort_order")?,
    })
}

pub async fn create(db: &Db, draft: &PlanDraft, now: i64) -> Result<Plan> {
    draft
        .check()
        .map_err(|e| Error::Corrupt(format!("plan draft: {e}")))?;
    let id = new_id();
    sqlx::query(
        "INSERT INTO plans (id, name_fa, name_en, data_bytes, days, currency, price_minor, ip_limit,
             location, panel_id, hidden, sort_order, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $12, $12)",
    )
    .bind(&id)
    .bind(draft.name_fa.trim())
    .bind(draft.name_en.trim())
    .bind(draft.data_bytes)
    .bind(draft.days)
    .bind(draft.price.currency().as_code())
    .bind(draft.price.minor())
    .bind(draft.ip_limit)
    .bind(&draft.location)
    .bind(&draft.panel_id)
    .bind(draft.sort_order)
    .bind(now)
    .execute(db.pool())
    .await?;
    get(db, &id)
        .await?
        .ok_or_else(|| Error::Corrupt("a plan vanished after insert".into()))
}

pub async fn set_hidden(db: &Db, id: &str, hidden: bool, now: i64) -> Result<()> {
    sqlx::query("UPDATE plans SET hidden = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(hidden as i64)
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Plan>> {
    let sql = format!("SELECT {COLUMNS} FROM plans WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

/// Plans on sale, in the tenant's order.
pub async fn on_sale(db: &Db) -> Result<Vec<Plan>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM plans WHERE hidden = 0 ORDER BY sort_order, price_minor, id"
    );
    let rows = sqlx::query(&sql).fetch_all(db.pool()).await?;
    rows.iter().map(from_row).collect()
}

/// A first set of plans an owner can start selling with and change later: common sizes at
/// common prices in Toman.
pub fn starter_drafts() -> Vec<PlanDraft> {
    let plan = |fa: &str, en: &str, gib: i64, days: i64, toman: i64, order: i64| PlanDraft {
        name_fa: fa.to_string(),
        name_en: en.to_string(),
        data_bytes: Some(gib * GIB),
        days,
        price: Money::toman(toman),
        ip_limit: Some(2),
        location: None,
        panel_id: None,
        sort_order: order,
    };
    vec![
        plan("یک ماهه ۲۰ گیگ", "1 month, 20 GB", 20, 30, 90_000, 1),
        plan("یک ماهه ۵۰ گیگ", "1 month, 50 GB", 50, 30, 180_000, 2),
        plan("سه ماهه ۱۵۰ گیگ", "3 months, 150 GB", 150, 90, 480_000, 3),
    ]
}

/// Adds the starter plans when the shop has no plans at all (hidden ones count). Returns how
/// many were added: 0 when there were plans already, so pressing twice adds nothing twice.
pub async fn add_starter_plans(db: &Db, now: i64) -> Result<usize> {
    let mut tx = db.begin().await?;
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM plans")
        .fetch_one(&mut *tx)
        .await?;
    if existing > 0 {
        tx.rollback().await?;
        return Ok(0);
    }
    let drafts = starter_drafts();
    for draft in &drafts {
        sqlx::query(
            "INSERT INTO plans (id, name_fa, name_en, data_bytes, days, currency, price_minor,
                 ip_limit, location, panel_id, hidden, sort_order, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, 0, $9, $10, $10)",
        )
        .bind(new_id())
        .bind(&draft.name_fa)
        .bind(&draft.name_en)
        .bind(draft.data_bytes)
        .bind(draft.days)
        .bind(draft.price.currency().as_code())
        .bind(draft.price.minor())
        .bind(draft.ip_limit)
        .bind(draft.sort_order)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(drafts.len())
}
