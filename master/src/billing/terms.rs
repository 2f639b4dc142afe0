//! What a customer bought, frozen at the time of purchase.

use serde::{Deserialize, Serialize};
use shared::money::{Currency, Money};

use super::packages::{Limit, Package};
use super::Refusal;
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    pub package_code: String,
    pub name_fa: String,
    pub name_en: String,
    pub max_bots: Limit,
    pub max_end_users: Limit,
    pub max_panels: Limit,
    pub bot_memory_mb: i64,
    pub bot_cpu_millis: i64,
    pub period_months: i64,
    pub price_minor: i64,
    pub currency: String,
}

impl Terms {
    /// The package's terms for a period and currency, or why they cannot be had.
    pub fn of(package: &Package, period_months: i64, currency: Currency) -> Result<Terms, Refusal> {
        let sold_for_period = package
            .prices
            .iter()
            .any(|p| p.period_months == period_months);
        if !sold_for_period {
            return Err(Refusal::PeriodNotSold { period_months });
        }
        let price = package
            .price(period_months, currency)
            .ok_or(Refusal::CurrencyNotSold)?;
        Ok(Terms {
            package_code: package.code.clone(),
            name_fa: package.name_fa.clone(),
            name_en: package.name_en.clone(),
            max_bots: package.max_bots,
            max_end_users: package.max_end_users,
            max_panels: package.max_panels,
            bot_memory_mb: package.bot_memory_mb,
            bot_cpu_millis: package.bot_cpu_millis,
            period_months,
            price_minor: price.minor(),
            currency: currency.as_code().to_string(),
        })
    }

    pub fn price(&self) -> Result<Money> {
        let currency = Currency::from_code(&self.currency)
            .map_err(|e| Error::Corrupt(format!("terms: {e}")))?;
        Ok(Money::new(self.price_minor, currency))
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Corrupt(format!("terms: {e}")))
    }

    pub fn from_json(text: &str) -> Result<Terms> {
        serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("terms: {e}")))
    }

    /// A rough size used to tell upgrades from downgrades: unlimited counts as more than any number.
    pub fn rank(&self) -> (i64, i64, i64) {
        let size = |l: Limit| l.unwrap_or(i64::MAX);
        (
            size(self.max_bots),
            size(self.max_end_users),
            size(self.max_panels),
        )
    }
}
