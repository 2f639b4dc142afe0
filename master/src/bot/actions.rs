//! What an inline button asks for, encoded in its callback data (at most 64 bytes).
//! Ids are 32 hex characters, so every encoding stays well under the limit.

use shared::i18n::Locale;
use shared::telegram::callback::{self, is_id, number_in, Fields};
use shared::telegram::screen::CallbackData;

use crate::billing::payments::Method;

/// A screen the bot can show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    Home,
    Package(String),
    /// Periods of a package to buy.
    Periods(String),
    /// Payment methods for a package and period.
    Methods(String, i64),
    MyBots,
    /// Periods to renew a subscription for.
    RenewPeriods(String),
    /// Payment methods to renew a subscription.
    RenewMethods(String, i64),
    /// One bot (by its subscription) with its controls.
    Bot(String),
    /// Bigger packages a subscription can move up to.
    Upgrade(String),
    /// Payment methods to upgrade a subscription to a package.
    UpgradeMethods(String, String),
    Invoices,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnboardingChoice {
    ItsMe,
    Skip,
    Marzban,
    Xui,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Show(Page),
    /// Switch language, then show `Page` again in the new language.
    SetLocale(Locale, Page),
    /// Buy a package for some months with a method.
    Pay(String, i64, Method),
    /// Renew a subscription for some months with a method.
    RenewPay(String, i64, Method),
    /// Ask for a coupon code before paying for a package.
    Coupon(String, i64),
    /// Give up a payment that has not gone through.
    CancelPayment(String),
    Onboarding(OnboardingChoice),
    /// Upgrade a subscription to a package, paying the prorated difference.
    UpgradePay(String, String, Method),
    /// Move a subscription to a smaller package from the next period.
    Downgrade(String, String),
    /// End (or keep) a subscription at the end of its period.
    CancelAtEnd(String, bool),
    /// The customer's controls of their bot (by subscription).
    PauseBot(String),
    ResumeBot(String),
    RestartBot(String),
    ChangeToken(String),
    AddPanel(String),
    /// Write to platform support.
    Support,
    /// Start the free trial of a package.
    Trial(String),
    /// Staff in the staff group: answer a ticket.
    StaffAnswer(String),
    /// Staff in the staff group: approve or reject a card receipt.
    StaffApprove(String),
    StaffReject(String),
}

/// Telegram's limit on callback data.
pub use shared::telegram::callback::MAX_DATA_BYTES;

fn method_code(method: Method) -> &'static str {
    match method {
        Method::Card => "c",
        Method::Zarinpal => "z",
        Method::NowPayments => "n",
        Method::Stars => "s",
        Method::Wallet => "w",
    }
}

fn method_of(code: &str) -> Option<Method> {
    Some(match code {
        "c" => Method::Card,
        "z" => Method::Zarinpal,
        "n" => Method::NowPayments,
        "s" => Method::Stars,
        "w" => Method::Wallet,
        _ => return None,
    })
}

fn months(text: &str) -> Option<i64> {
    number_in(text, 1..=36)
}

impl Page {
    fn encode(&self) -> String {
        match self {
            Page::Home => "home".to_string(),
            Page::Package(code) => format!("pkg:{code}"),
            Page::Periods(code) => format!("per:{code}"),
            Page::Methods(code, m) => format!("mth:{code}:{m}"),
            Page::MyBots => "bots".to_string(),
            Page::RenewPeriods(sub) => format!("rn:{sub}"),
            Page::RenewMethods(sub, m) => format!("rnm:{sub}:{m}"),
            Page::Bot(sub) => format!("bot:{sub}"),
            Page::Upgrade(sub) => format!("up:{sub}"),
            Page::UpgradeMethods(sub, code) => format!("upm:{sub}:{code}"),
            Page::Invoices => "inv".to_string(),
        }
    }

    fn decode(data: &str) -> Option<Page> {
        let parts: Vec<&str> = data.split(':').collect();
        Some(match parts.as_slice() {
            ["home"] => Page::Home,
            ["bots"] => Page::MyBots,
            ["pkg", code] if is_id(code) => Page::Package(code.to_string()),
            ["per", code] if is_id(code) => Page::Periods(code.to_string()),
            ["mth", code, m] if is_id(code) => Page::Methods(code.to_string(), months(m)?),
            ["rn", sub] if is_id(sub) => Page::RenewPeriods(sub.to_string()),
            ["rnm", sub, m] if is_id(sub) => Page::RenewMethods(sub.to_string(), months(m)?),
            ["bot", sub] if is_id(sub) => Page::Bot(sub.to_string()),
            ["up", sub] if is_id(sub) => Page::Upgrade(sub.to_string()),
            ["upm", sub, code] if is_id(sub) && is_id(code) => {
                Page::UpgradeMethods(sub.to_string(), code.to_string())
            }
            ["inv"] => Page::Invoices,
            _ => return None,
        })
    }
}

impl CallbackData for Action {
    fn encode(&self) -> String {
        match self {
            Action::Show(page) => page.encode(),
            Action::SetLocale(locale, page) => callback::set_locale(*locale, &page.encode()),
            Action::Pay(code, m, method) => format!("pay:{code}:{m}:{}", method_code(*method)),
            Action::RenewPay(sub, m, method) => format!("rnp:{sub}:{m}:{}", method_code(*method)),
            Action::Coupon(code, m) => format!("cpn:{code}:{m}"),
            Action::CancelPayment(id) => format!("cxl:{id}"),
            Action::Onboarding(choice) => match choice {
                OnboardingChoice::ItsMe => "ob:me".into(),
                OnboardingChoice::Skip => "ob:skip".into(),
                OnboardingChoice::Marzban => "ob:mz".into(),
                OnboardingChoice::Xui => "ob:xui".into(),
            },
            Action::UpgradePay(sub, code, method) => {
                format!("upp:{sub}:{code}:{}", method_code(*method))
            }
            Action::CancelAtEnd(sub, cancel) => format!("ce:{sub}:{}", u8::from(*cancel)),
            Action::Downgrade(sub, code) => format!("dn:{sub}:{code}"),
            Action::PauseBot(sub) => format!("bp:{sub}"),
            Action::ResumeBot(sub) => format!("bs:{sub}"),
            Action::RestartBot(sub) => format!("bx:{sub}"),
            Action::ChangeToken(sub) => format!("bt:{sub}"),
            Action::AddPanel(sub) => format!("pa:{sub}"),
            Action::Support => "sup".to_string(),
            Action::Trial(code) => format!("tri:{code}"),
            Action::StaffAnswer(id) => format!("tr:{id}"),
            Action::StaffApprove(id) => format!("sa:{id}"),
            Action::StaffReject(id) => format!("sr:{id}"),
        }
    }
}

impl Action {
    /// Parses callback data; anything unknown or stale is `None`.
    pub fn decode(data: &str) -> Option<Action> {
        let parts = match callback::fields(data)? {
            Fields::SetLocale { locale, page } => {
                return Some(Action::SetLocale(locale, Page::decode(page)?))
            }
            Fields::Parts(parts) => parts,
        };
        let action = match parts.as_slice() {
            ["pay", code, m, method] if is_id(code) => {
                Action::Pay(code.to_string(), months(m)?, method_of(method)?)
            }
            ["rnp", sub, m, method] if is_id(sub) => {
                Action::RenewPay(sub.to_string(), months(m)?, method_of(method)?)
            }
            ["cpn", code, m] if is_id(code) => Action::Coupon(code.to_string(), months(m)?),
            ["cxl", id] if is_id(id) => Action::CancelPayment(id.to_string()),
            ["ob", "me"] => Action::Onboarding(OnboardingChoice::ItsMe),
            ["ob", "skip"] => Action::Onboarding(OnboardingChoice::Skip),
            ["ob", "mz"] => Action::Onboarding(OnboardingChoice::Marzban),
            ["ob", "xui"] => Action::Onboarding(OnboardingChoice::Xui),
            ["upp", sub, code, method] if is_id(sub) && is_id(code) => {
                Action::UpgradePay(sub.to_string(), code.to_string(), method_of(method)?)
            }
            ["dn", sub, code] if is_id(sub) && is_id(code) => {
                Action::Downgrade(sub.to_string(), code.to_string())
            }
            ["ce", sub, "1"] if is_id(sub) => Action::CancelAtEnd(sub.to_string(), true),
            ["ce", sub, "0"] if is_id(sub) => Action::CancelAtEnd(sub.to_string(), false),
            ["bp", sub] if is_id(sub) => Action::PauseBot(sub.to_string()),
            ["bs", sub] if is_id(sub) => Action::ResumeBot(sub.to_string()),
            ["bx", sub] if is_id(sub) => Action::RestartBot(sub.to_string()),
            ["bt", sub] if is_id(sub) => Action::ChangeToken(sub.to_string()),
            ["pa", sub] if is_id(sub) => Action::AddPanel(sub.to_string()),
            ["sup"] => Action::Support,
            ["tri", code] if is_id(code) => Action::Trial(code.to_string()),
            ["tr", id] if is_id(id) => Action::StaffAnswer(id.to_string()),
            ["sa", id] if is_id(id) => Action::StaffApprove(id.to_string()),
            ["sr", id] if is_id(id) => Action::StaffReject(id.to_string()),
            _ => return Page::decode(data).map(Action::Show),
        };
        Some(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0192f3c4a5b6c7d8e9f0a1b2c3d4e5f6";

    #[test]
    fn actions_round_trip_through_callback_data_within_telegrams_limit() {
        for action in [
            Action::Show(Page::Home),
            Action::Show(Page::Package("starter".into())),
            Action::Show(Page::Periods("starter".into())),
            Action::Show(Page::Methods("professional".into(), 12)),
            Action::Show(Page::MyBots),
            Action::Show(Page::RenewPeriods(ID.into())),
            Action::Show(Page::RenewMethods(ID.into(), 3)),
            Action::SetLocale(Locale::En, Page::Home),
            Action::SetLocale(Locale::Fa, Page::Methods("enterprise".into(), 1)),
            Action::Pay("starter".into(), 1, Method::Card),
            Action::RenewPay(ID.into(), 12, Method::Stars),
            Action::Coupon("starter".into(), 3),
            Action::CancelPayment(ID.into()),
            Action::Onboarding(OnboardingChoice::Xui),
            Action::Show(Page::Bot(ID.into())),
            Action::PauseBot(ID.into()),
            Action::Show(Page::Upgrade(ID.into())),
            Action::Show(Page::UpgradeMethods(ID.into(), "enterprise".into())),
            Action::Show(Page::Invoices),
            Action::UpgradePay(ID.into(), "enterprise".into(), Method::Card),
            Action::CancelAtEnd(ID.into(), true),
            Action::Downgrade(ID.into(), "starter".into()),
            Action::CancelAtEnd(ID.into(), false),
            Action::ResumeBot(ID.into()),
            Action::RestartBot(ID.into()),
            Action::ChangeToken(ID.into()),
            Action::AddPanel(ID.into()),
            Action::Support,
            Action::Trial("starter".into()),
            Action::StaffAnswer(ID.into()),
            Action::StaffApprove(ID.into()),
            Action::StaffReject(ID.into()),
        ] {
            let data = action.encode();
            assert!(data.len() <= MAX_DATA_BYTES, "{data}");
            assert_eq!(Action::decode(&data), Some(action));
        }
    }

    #[test]
    fn stale_or_forged_data_is_not_an_action() {
        for data in [
            "",
            "buy:starter",
            "lang:de:home",
            "pkg:",
            "pkg:a b",
            "lang:en",
            "home:x",
            "pay:starter:1:x",
            "pay:starter:99:c",
            "mth:starter:zero",
            "sa:",
        ] {
            assert_eq!(Action::decode(data), None, "{data}");
        }
    }
}
