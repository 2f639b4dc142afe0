//! Coupon codes: a percent or a fixed amount off, with an expiry and a maximum number of uses.
//! A use is reserved when an order is placed and given back if its invoice lapses.

use shared::db::{new_id, Db, RowExt};
use shared::money::{Currency, Money};

use super::Refusal;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    /// 1-100 percent.
    Percent(i64),
    Fixed(Money),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coupon {
    pub id: String,
    pub code: String,
    pub discount: Discount,
    pub expires_at: Option<i64>,
    pub max_uses: Option<i64>,
    pub uses: i64,
}

impl Discount {
    /// The amount taken off `price` (never more than the price).
    pub fn off(&self, price: Money) -> Result<Money, Refusal> {
        let minor = match self {
            Discount::Percent(p) => price.minor().saturating_mul(*p) / 100,
            Discount::Fixed(m) if m.currency() == price.currency() => m.minor(),
            Discount::Fixed(_) => return Err(Refusal::CouponWrongCurrency),
        };
        Ok(Money::new(minor.clamp(0, price.minor()), price.currency()))
    }
}

/// Codes are matched without regard to case or surrounding spaces.
pub fn normalize(code: &str) -> String {
    code.trim().to_uppercase()
}

pub async fn create(
    db: &Db,
    code: &str,
    discount: Discount,
    expires_at: Option<i64>,
    max_uses: Option<i64>,
    now: i64,
) -> Result<Coupon> {
    let (kind, value, currency) = match discount {
        Discount::Percent(p) => ("percent", p.clamp(1, 100), None),
        Discount::Fixed(m) => ("fixed", m.minor(), Some(m.currency().as_code())),
    };
    let id = new_id();
    sqlx::query(
        "INSERT INTO coupons (id, code, kind, value, currency, expires_at, max_uses, uses, active, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 1, $8)",
    )
    .bind(&id)
    .bind(normalize(code))
    .bind(kind)
    .bind(value)
    .bind(currency)
    .bind(expires_at)
    .bind(max_uses)
    .bind(now)
    .execute(db.pool())
    .await?;
    find(db, code)
        .await?
        .ok_or_else(|| Error::Corrupt("a coupon vanished after insert".into()))
}

pub async fn find(db: &Db, code: &str) -> Result<Option<Coupon>> {
    let row = sqlx::query(
        "SELECT id, code, kind, value, currency, expires_at, max_uses, uses FROM coupons
         WHERE code = $1 AND active = 1",
    )
    .bind(normalize(code))
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let kind: String = row.try_get("kind")?;
    let value: i64 = row.try_get("value")?;
    let discount = match kind.as_str() {
        "percent" => Discount::Percent(value),
        "fixed" => {
            let code: Option<String> = row.try_get("currency")?;
            let currency = Currency::from_code(code.as_deref().unwrap_or_default())
                .map_err(|e| Error::Corrupt(format!("coupon: {e}")))?;
            Discount::Fixed(Money::new(value, currency))
        }
        other => return Err(Error::Corrupt(format!("coupon of unknown kind {other}"))),
    };
    Ok(Some(Coupon {
        id: row.try_get("id")?,
        code: row.try_get("code")?,
        discount,
        expires_at: row.try_get("expires_at")?,
        max_uses: row.try_get("max_uses")?,
        uses: row.try_get("uses")?,
    }))
}

/// Checks a code and reserves one use of it. The reservation is atomic: two orders racing for
/// the last use cannot both get it.
pub async fn reserve<'c>(
    tx: &mut sqlx::Transaction<'c, sqlx::Any>,
    coupon: &Coupon,
    now: i64,
) -> Result<(), ReserveError> {
    if coupon.expires_at.is_some_and(|at| at <= now) {
        return Err(ReserveError::Refused(Refusal::CouponExpired));
    }
    let reserved = sqlx::query(
        "UPDATE coupons SET uses = uses + 1
         WHERE id = $1 AND active = 1 AND (max_uses IS NULL OR uses < max_uses)",
    )
    .bind(&coupon.id)
    .execute(&mut **tx)
    .await
    .map_err(|e| ReserveError::Failed(e.into()))?;
    if reserved.rows_affected() == 0 {
        return Err(ReserveError::Refused(Refusal::CouponUsedUp));
    }
    Ok(())
}

/// Gives back a use reserved by an order whose invoice lapsed.
pub async fn release<'c>(tx: &mut sqlx::Transaction<'c, sqlx::Any>, coupon_id: &str) -> Result<()> {
    sqlx::query("UPDATE coupons SET uses = uses - 1 WHERE id = $1 AND uses > 0")
        .bind(coupon_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[derive(Debug)]
pub enum ReserveError {
    Refused(Refusal),
    Failed(Error),
}

impl From<ReserveError> for Error {
    fn from(e: ReserveError) -> Self {
        match e {
            ReserveError::Refused(r) => Error::Refused(r),
            ReserveError::Failed(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discounts_never_exceed_the_price_and_respect_currency() {
        let price = Money::toman(290_000);
        assert_eq!(
            Discount::Percent(10).off(price).unwrap(),
            Money::toman(29_000)
        );
        assert_eq!(Discount::Percent(100).off(price).unwrap(), price);
        assert_eq!(
            Discount::Fixed(Money::toman(500_000)).off(price).unwrap(),
            price
        );
        assert_eq!(
            Discount::Fixed(Money::usd_cents(100)).off(price),
            Err(Refusal::CouponWrongCurrency)
        );
    }

    #[test]
    fn codes_ignore_case_and_spaces() {
        assert_eq!(normalize("  nowruz1405 "), "NOWRUZ1405");
    }
}
