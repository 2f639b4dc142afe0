//! What an inline button asks for, encoded in its callback data (at most 64 bytes). Ids are
//! 32 hex characters, so every encoding stays well under Telegram's limit. Anything that does
//! not decode (an old button, forged data) is `None`: the bot says the button is stale.

use shared::i18n::Locale;
use shared::payment::Method;
use shared::telegram::callback::{self, is_id, number_in, Fields};
use shared::telegram::screen::CallbackData;

use super::setup_actions::SetupAction;

/// A screen the bot can show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    Home,
    /// Every plan on sale.
    Plans,
    Plan(String),
    Services,
    Service(String),
    /// Renewing a service with its plan: the price and the button to pay.
    Renew(String),
    /// Data packs for a service.
    AddData(String),
    /// "Are you sure?" before the link of a service is revoked.
    Revoke(String),
    /// How to import a service's link, with client downloads per platform.
    Tips(String),
    Wallet,
    Language,
    /// Amounts to top the wallet up with.
    TopUp,
    /// The ways to pay for a top-up of this many Toman.
    TopUpMethods(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Show(Page),
    /// Switch language, then show `Page` again in the new language.
    SetLocale(Locale, Page),
    /// Buy a plan, paying from the wallet.
    BuyWithWallet(String),
    /// Renew a service with its plan, paying from the wallet.
    RenewWithWallet(String),
    /// Add this many GB to a service, paying from the wallet.
    AddDataWithWallet(String, i64),
    /// Start the free trial.
    Trial,
    /// Send a service's link and QR code again.
    SendLink(String),
    /// Revoke a service's link (already confirmed).
    RevokeNow(String),
    /// Read a service's usage from its panel now.
    Refresh(String),
    /// "I've joined": check the channel membership again.
    CheckJoined,
    /// Top the wallet up with this many Toman, paying with a gateway.
    TopUpWith(i64, Method),
    /// "Another amount": the next message is the amount to top up with.
    CustomTopUp,
    /// Buy a plan, paying with a gateway.
    PayPlanWith(String, Method),
    /// "I've paid": ask the gateway about a payment now.
    CheckPayment(String),
    /// (Admins) approve or reject a card-to-card receipt.
    Approve(String),
    Reject(String),
    /// (Admins) a shop with no plans gets the starter plans.
    AddStarterPlans,
    /// (Admins) the payment setup.
    Setup(SetupAction),
}

/// Telegram's limit on callback data.
pub use shared::telegram::callback::MAX_DATA_BYTES;

fn method_code(method: Method) -> &'static str {
    match method {
        Method::CardToCard => "c",
        Method::Zarinpal => "z",
        Method::NowPayments => "n",
        Method::TelegramStars => "s",
    }
}

fn method_of(code: &str) -> Option<Method> {
    Some(match code {
        "c" => Method::CardToCard,
        "z" => Method::Zarinpal,
        "n" => Method::NowPayments,
        "s" => Method::TelegramStars,
        _ => return None,
    })
}

/// A top-up amount in Toman: at least 1 and at most a billion.
fn toman(text: &str) -> Option<i64> {
    number_in(text, 1..=1_000_000_000)
}

fn gigabytes(text: &str) -> Option<i64> {
    number_in(text, 1..=10_000)
}

impl Page {
    fn encode(&self) -> String {
        match self {
            Page::Home => "h".into(),
            Page::Plans => "pl".into(),
            Page::Plan(id) => format!("p:{id}"),
            Page::Services => "sv".into(),
            Page::Service(id) => format!("s:{id}"),
            Page::Renew(id) => format!("rn:{id}"),
            Page::AddData(id) => format!("ad:{id}"),
            Page::Revoke(id) => format!("rv:{id}"),
            Page::Tips(id) => format!("tp:{id}"),
            Page::Wallet => "w".into(),
            Page::Language => "lg".into(),
            Page::TopUp => "tu".into(),
            Page::TopUpMethods(amount) => format!("tm:{amount}"),
        }
    }

    fn decode(data: &str) -> Option<Page> {
        let parts: Vec<&str> = data.split(':').collect();
        Some(match parts.as_slice() {
            ["h"] => Page::Home,
            ["pl"] => Page::Plans,
            ["p", id] if is_id(id) => Page::Plan(id.to_string()),
            ["sv"] => Page::Services,
            ["s", id] if is_id(id) => Page::Service(id.to_string()),
            ["rn", id] if is_id(id) => Page::Renew(id.to_string()),
            ["ad", id] if is_id(id) => Page::AddData(id.to_string()),
            ["rv", id] if is_id(id) => Page::Revoke(id.to_string()),
            ["tp", id] if is_id(id) => Page::Tips(id.to_string()),
            ["w"] => Page::Wallet,
            ["lg"] => Page::Language,
            ["tu"] => Page::TopUp,
            ["tm", amount] => Page::TopUpMethods(toman(amount)?),
            _ => return None,
        })
    }
}

impl CallbackData for Action {
    fn encode(&self) -> String {
        match self {
            Action::Show(page) => page.encode(),
            Action::SetLocale(locale, page) => callback::set_locale(*locale, &page.encode()),
            Action::BuyWithWallet(plan) => format!("bw:{plan}"),
            Action::RenewWithWallet(service) => format!("rw:{service}"),
            Action::AddDataWithWallet(service, gb) => format!("aw:{service}:{gb}"),
            Action::Trial => "tr".into(),
            Action::SendLink(service) => format!("ln:{service}"),
            Action::RevokeNow(service) => format!("rk:{service}"),
            Action::Refresh(service) => format!("rf:{service}"),
            Action::CheckJoined => "jn".into(),
            Action::TopUpWith(amount, method) => format!("tw:{amount}:{}", method_code(*method)),
            Action::CustomTopUp => "ct".into(),
            Action::PayPlanWith(plan, method) => format!("pp:{plan}:{}", method_code(*method)),
            Action::CheckPayment(id) => format!("ck:{id}"),
            Action::Approve(id) => format!("ap:{id}"),
            Action::Reject(id) => format!("rj:{id}"),
            Action::AddStarterPlans => "sp".into(),
            Action::Setup(setup) => setup.encode(),
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
            ["bw", id] if is_id(id) => Action::BuyWithWallet(id.to_string()),
            ["rw", id] if is_id(id) => Action::RenewWithWallet(id.to_string()),
            ["aw", id, gb] if is_id(id) => {
                Action::AddDataWithWallet(id.to_string(), gigabytes(gb)?)
            }
            ["tr"] => Action::Trial,
            ["ln", id] if is_id(id) => Action::SendLink(id.to_string()),
            ["rk", id] if is_id(id) => Action::RevokeNow(id.to_string()),
            ["rf", id] if is_id(id) => Action::Refresh(id.to_string()),
            ["jn"] => Action::CheckJoined,
            ["tw", amount, method] => Action::TopUpWith(toman(amount)?, method_of(method)?),
            ["ct"] => Action::CustomTopUp,
            ["pp", id, method] if is_id(id) => {
                Action::PayPlanWith(id.to_string(), method_of(method)?)
            }
            ["ck", id] if is_id(id) => Action::CheckPayment(id.to_string()),
            ["ap", id] if is_id(id) => Action::Approve(id.to_string()),
            ["rj", id] if is_id(id) => Action::Reject(id.to_string()),
            ["sp"] => Action::AddStarterPlans,
            [super::setup_actions::PREFIX, rest @ ..] => Action::Setup(SetupAction::decode(rest)?),
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
            Action::Show(Page::Plans),
            Action::Show(Page::Plan(ID.into())),
            Action::Show(Page::Services),
            Action::Show(Page::Service(ID.into())),
            Action::Show(Page::Renew(ID.into())),
            Action::Show(Page::AddData(ID.into())),
            Action::Show(Page::Revoke(ID.into())),
            Action::Show(Page::Tips(ID.into())),
            Action::Show(Page::Wallet),
            Action::Show(Page::Language),
            Action::SetLocale(Locale::En, Page::Home),
            Action::SetLocale(Locale::Fa, Page::Service(ID.into())),
            Action::BuyWithWallet(ID.into()),
            Action::RenewWithWallet(ID.into()),
            Action::AddDataWithWallet(ID.into(), 50),
            Action::Trial,
            Action::SendLink(ID.into()),
            Action::RevokeNow(ID.into()),
            Action::Refresh(ID.into()),
            Action::CheckJoined,
            Action::Show(Page::TopUp),
            Action::Show(Page::TopUpMethods(150_000)),
            Action::TopUpWith(1_000_000_000, Method::NowPayments),
            Action::CustomTopUp,
            Action::PayPlanWith(ID.into(), Method::CardToCard),
            Action::PayPlanWith(ID.into(), Method::TelegramStars),
            Action::CheckPayment(ID.into()),
            Action::Approve(ID.into()),
            Action::Reject(ID.into()),
            Action::AddStarterPlans,
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
            "buy:x",
            "lang:de:h",
            "lang:en",
            "p:",
            "p:a b",
            "s:../etc",
            "h:x",
            "aw:abc:0",
            "aw:abc:-5",
            "aw:abc:lots",
            "tm:0",
            "tw:100:x",
            "pp:abc:zz",
            "ck:",
            &format!("p:{}", "a".repeat(70)),
        ] {
            assert_eq!(Action::decode(data), None, "{data}");
        }
    }
}
