//! Why billing said no: a value the bot and the web turn into a message in the customer's
//! language. Each names what was wrong and what to do.

use shared::money::Money;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    PackageNotOnSale,
    PeriodNotSold {
        period_months: i64,
    },
    CurrencyNotSold,
    CouponUnknown,
    CouponExpired,
    CouponUsedUp,
    CouponWrongCurrency,
    InvoiceNotPayable,
    NoSubscription,
    SubscriptionNotActive,
    UpgradeNotHigher,
    UpgradeCurrencyDiffers,
    /// A downgrade would leave the tenant above the lower package's limit.
    OverLimit {
        limit: Limit,
        used: i64,
        allowed: i64,
    },
    NotEnoughBalance {
        balance: Money,
        needed: Money,
    },
    NoTrial,
    TrialUsed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Bots,
    EndUsers,
    Panels,
}

impl Limit {
    pub fn key(self) -> &'static str {
        match self {
            Limit::Bots => "bots",
            Limit::EndUsers => "end_users",
            Limit::Panels => "panels",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::PackageNotOnSale => f.write_str("that package is not on sale; pick another"),
            Refusal::PeriodNotSold { period_months } => {
                write!(
                    f,
                    "the package is not sold for {period_months} month(s); pick 1, 3 or 12"
                )
            }
            Refusal::CurrencyNotSold => f.write_str("the package has no price in that currency"),
            Refusal::CouponUnknown => f.write_str("no such coupon code; check the spelling"),
            Refusal::CouponExpired => f.write_str("the coupon has expired"),
            Refusal::CouponUsedUp => f.write_str("the coupon has been used up"),
            Refusal::CouponWrongCurrency => f.write_str("the coupon is for another currency"),
            Refusal::InvoiceNotPayable => {
                f.write_str("the invoice is paid, expired or cancelled; start a new order")
            }
            Refusal::NoSubscription => f.write_str("there is no subscription to renew or change"),
            Refusal::SubscriptionNotActive => f.write_str("the subscription is not active"),
            Refusal::UpgradeNotHigher => f.write_str("an upgrade must be to a bigger package"),
            Refusal::UpgradeCurrencyDiffers => {
                f.write_str("upgrade in the currency the subscription is paid in")
            }
            Refusal::OverLimit {
                limit,
                used,
                allowed,
            } => write!(
                f,
                "you use {used} {}, the smaller package allows {allowed}: remove some first",
                limit.key()
            ),
            Refusal::NoTrial => f.write_str("this package has no free trial"),
            Refusal::TrialUsed => f.write_str("the free trial is for new customers only"),
            Refusal::NotEnoughBalance { balance, needed } => {
                write!(f, "the balance ({balance}) is less than {needed}")
            }
        }
    }
}
