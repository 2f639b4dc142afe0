//! What the master bot shows, rendered from the catalog of texts: HTML text plus buttons. The
//! screen types are the tenant bot's too (`shared::telegram::screen`), here with this bot's
//! actions.

use shared::i18n::{escape_html, Arg, Catalog, Locale};
use shared::money::Currency;
use shared::telegram::screen::{self, CallbackData};

use super::actions::{Action, OnboardingChoice, Page};
use crate::billing::packages::{Limit, Package};
use crate::billing::payments::Method;
use crate::billing::Refusal;
use crate::tenants::onboarding::{Choice, Prompt};
use shared::money::Money;

pub type Button = screen::Button<Action>;
/// What pressing a button does: a callback to the bot, or opening a link.
pub type Target = screen::Target<Action>;
/// A message the bot sends or edits: Telegram HTML and rows of inline buttons.
pub type Screen = screen::Screen<Action>;

fn other(locale: Locale) -> Locale {
    match locale {
        Locale::Fa => Locale::En,
        Locale::En => Locale::Fa,
    }
}

fn language_button(t: &Catalog, locale: Locale, page: Page) -> Button {
    Button::action(
        t.text(locale, "button_language", &[]),
        Action::SetLocale(other(locale), page),
    )
}

fn limit(t: &Catalog, locale: Locale, value: Limit, counted: &str, unlimited: &str) -> String {
    match value {
        Some(count) => t.text(locale, counted, &[("count", Arg::Number(count))]),
        None => t.text(locale, unlimited, &[]),
    }
}

struct Limits {
    bots: String,
    users: String,
    panels: String,
}

fn limits(t: &Catalog, locale: Locale, p: &Package) -> Limits {
    Limits {
        bots: limit(t, locale, p.max_bots, "limit_bots", "unlimited_bots"),
        users: limit(t, locale, p.max_end_users, "limit_users", "unlimited_users"),
        panels: limit(t, locale, p.max_panels, "limit_panels", "unlimited_panels"),
    }
}

/// The monthly price as shown in a list: Toman, with dollars beside it when sold in USD too.
fn monthly_price(t: &Catalog, locale: Locale, p: &Package) -> String {
    let toman = p.price(1, Currency::Toman);
    let usd = p.price(1, Currency::Usd);
    match (toman, usd) {
        (Some(toman), Some(usd)) => t.text(
            locale,
            "package_price_usd",
            &[("price", Arg::Money(toman)), ("usd", Arg::Money(usd))],
        ),
        (Some(only), None) | (None, Some(only)) => only.format(locale),
        (None, None) => "—".to_string(),
    }
}

/// The greeting with every package on sale.
pub fn home(
    t: &Catalog,
    locale: Locale,
    first_name: &str,
    packages: &[Package],
    has_bots: bool,
) -> Screen {
    let name = escape_html(first_name);
    let mut text = t.text(locale, "greeting", &[("name", Arg::Text(&name))]);
    text.push_str("\n\n");
    text.push_str(&t.text(locale, "packages_title", &[]));
    if packages.is_empty() {
        text.push_str("\n\n");
        text.push_str(&t.text(locale, "no_packages", &[]));
    }
    let mut keyboard = Vec::new();
    for p in packages {
        let package_name = escape_html(p.name(locale));
        let l = limits(t, locale, p);
        let limits_text = t.text(
            locale,
            "limits",
            &[
                ("bots", Arg::Text(&l.bots)),
                ("users", Arg::Text(&l.users)),
                ("panels", Arg::Text(&l.panels)),
            ],
        );
        let price = monthly_price(t, locale, p);
        text.push_str("\n\n");
        text.push_str(&t.text(
            locale,
            "package_line",
            &[
                ("name", Arg::Text(&package_name)),
                ("limits", Arg::Text(&limits_text)),
                ("price", Arg::Text(&price)),
            ],
        ));
        keyboard.push(vec![Button::action(
            t.text(
                locale,
                "button_package",
                &[("name", Arg::Text(p.name(locale)))],
            ),
            Action::Show(Page::Package(p.code.clone())),
        )]);
    }
    if has_bots {
        keyboard.push(vec![Button::action(
            t.text(locale, "button_my_bots", &[]),
            Action::Show(Page::MyBots),
        )]);
    }
    keyboard.push(vec![language_button(t, locale, Page::Home)]);
    Screen { text, keyboard }
}

/// One package in full.
pub fn package(t: &Catalog, locale: Locale, p: &Package) -> Screen {
    let name = escape_html(p.name(locale));
    let l = limits(t, locale, p);
    let price = p
        .price(1, Currency::Toman)
        .or_else(|| p.price(1, Currency::Usd))
        .map(|m| m.format(locale))
        .unwrap_or_else(|| "—".to_string());
    let mut text = t.text(
        locale,
        "package_detail",
        &[
            ("name", Arg::Text(&name)),
            ("bots", Arg::Text(&l.bots)),
            ("users", Arg::Text(&l.users)),
            ("panels", Arg::Text(&l.panels)),
            ("memory", Arg::Number(p.bot_memory_mb)),
            ("cpu", Arg::Number(p.bot_cpu_millis / 10)),
            ("price", Arg::Text(&price)),
        ],
    );
    if let (Some(_), Some(usd)) = (p.price(1, Currency::Toman), p.price(1, Currency::Usd)) {
        text.push('\n');
        text.push_str(&t.text(locale, "package_detail_usd", &[("usd", Arg::Money(usd))]));
    }
    if p.trial_days > 0 {
        text.push('\n');
        text.push_str(&t.text(locale, "trial", &[("days", Arg::Number(p.trial_days))]));
    }
    let page = Page::Package(p.code.clone());
    Screen {
        text,
        keyboard: vec![
            {
                let mut row = vec![Button::action(
                    t.text(locale, "button_buy", &[]),
                    Action::Show(Page::Periods(p.code.clone())),
                )];
                if p.trial_days > 0 {
                    row.push(Button::action(
                        t.text(
                            locale,
                            "button_trial",
                            &[("days", Arg::Number(p.trial_days))],
                        ),
                        Action::Trial(p.code.clone()),
                    ));
                }
                row
            },
            vec![Button::action(
                t.text(locale, "button_back", &[]),
                Action::Show(Page::Home),
            )],
            vec![language_button(t, locale, page)],
        ],
    }
}

/// A plain message with no buttons.
pub fn notice(t: &Catalog, locale: Locale, key: &str) -> Screen {
    Screen {
        text: t.text(locale, key, &[]),
        keyboard: Vec::new(),
    }
}

/// A plain message with arguments and no buttons.
pub fn notice_with(t: &Catalog, locale: Locale, key: &str, args: &[(&str, Arg)]) -> Screen {
    Screen {
        text: t.text(locale, key, args),
        keyboard: Vec::new(),
    }
}

/// Both languages to choose from.
pub fn choose_language(t: &Catalog, locale: Locale) -> Screen {
    Screen {
        text: t.text(locale, "choose_language", &[]),
        keyboard: vec![vec![
            Button::action(
                "🇮🇷 فارسی".to_string(),
                Action::SetLocale(Locale::Fa, Page::Home),
            ),
            Button::action(
                "🇬🇧 English".to_string(),
                Action::SetLocale(Locale::En, Page::Home),
            ),
        ]],
    }
}

/// Where a purchase screen leads: a new package, or renewing a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buying<'a> {
    New {
        package: &'a str,
    },
    Renew {
        subscription: &'a str,
    },
    Upgrade {
        subscription: &'a str,
        package: &'a str,
    },
}

impl Buying<'_> {
    fn methods_page(&self, months: i64) -> Page {
        match self {
            Buying::New { package } => Page::Methods(package.to_string(), months),
            Buying::Renew { subscription } => Page::RenewMethods(subscription.to_string(), months),
            Buying::Upgrade {
                subscription,
                package,
            } => Page::UpgradeMethods(subscription.to_string(), package.to_string()),
        }
    }

    fn pay(&self, months: i64, method: Method) -> Action {
        match self {
            Buying::New { package } => Action::Pay(package.to_string(), months, method),
            Buying::Renew { subscription } => {
                Action::RenewPay(subscription.to_string(), months, method)
            }
            Buying::Upgrade {
                subscription,
                package,
            } => Action::UpgradePay(subscription.to_string(), package.to_string(), method),
        }
    }

    fn back(&self) -> Page {
        match self {
            Buying::New { package } => Page::Package(package.to_string()),
            Buying::Renew { .. } | Buying::Upgrade { .. } => Page::MyBots,
        }
    }
}

fn back_button(t: &Catalog, locale: Locale, page: Page) -> Button {
    Button::action(t.text(locale, "button_back", &[]), Action::Show(page))
}

/// How long to buy for, with the price of each period.
pub fn periods(
    t: &Catalog,
    locale: Locale,
    name: &str,
    choices: &[(i64, Money)],
    buying: Buying,
) -> Screen {
    let name = escape_html(name);
    let mut keyboard: Vec<Vec<Button>> = choices
        .iter()
        .map(|(months, price)| {
            vec![Button::action(
                t.text(
                    locale,
                    "period_button",
                    &[
                        ("months", Arg::Number(*months)),
                        ("price", Arg::Money(*price)),
                    ],
                ),
                Action::Show(buying.methods_page(*months)),
            )]
        })
        .collect();
    keyboard.push(vec![back_button(t, locale, buying.back())]);
    Screen {
        text: t.text(locale, "choose_period", &[("name", Arg::Text(&name))]),
        keyboard,
    }
}

/// How to pay, with the price in each method's currency.
pub fn methods(
    t: &Catalog,
    locale: Locale,
    name: &str,
    months: i64,
    priced: &[(Method, Money)],
    coupon: Option<&str>,
    buying: Buying,
) -> Screen {
    let name = escape_html(name);
    let mut text = t.text(
        locale,
        "choose_method",
        &[("name", Arg::Text(&name)), ("months", Arg::Number(months))],
    );
    if let Some(code) = coupon {
        text.push('\n');
        text.push_str(&t.text(locale, "coupon_line", &[("code", Arg::Code(code))]));
    }
    if priced.is_empty() {
        text.push_str("\n\n");
        text.push_str(&t.text(locale, "no_methods", &[]));
    }
    let mut keyboard: Vec<Vec<Button>> = priced
        .iter()
        .map(|(method, price)| {
            let key = match method {
                Method::Card => "method_card",
                Method::Zarinpal => "method_zarinpal",
                Method::NowPayments => "method_nowpayments",
                Method::Stars => "method_stars",
                Method::Wallet => "method_wallet",
            };
            vec![Button::action(
                t.text(locale, key, &[("price", Arg::Money(*price))]),
                buying.pay(months, *method),
            )]
        })
        .collect();
    if let Buying::New { package } = buying {
        keyboard.push(vec![Button::action(
            t.text(locale, "button_coupon", &[]),
            Action::Coupon(package.to_string(), months),
        )]);
    }
    keyboard.push(vec![back_button(t, locale, buying_periods(buying))]);
    Screen { text, keyboard }
}

fn buying_periods(buying: Buying) -> Page {
    match buying {
        Buying::New { package } => Page::Periods(package.to_string()),
        Buying::Renew { subscription } => Page::RenewPeriods(subscription.to_string()),
        Buying::Upgrade { subscription, .. } => Page::Upgrade(subscription.to_string()),
    }
}

fn cancel_button(t: &Catalog, locale: Locale, payment_id: &str) -> Button {
    Button::action(
        t.text(locale, "button_cancel", &[]),
        Action::CancelPayment(payment_id.to_string()),
    )
}

/// Card to card: the card to pay to, and a request for the receipt photo.
pub fn checkout_card(
    t: &Catalog,
    locale: Locale,
    payment_id: &str,
    card: &shared::payment::CardAccount,
    amount: Money,
) -> Screen {
    let number = card.number.format(locale);
    let owner = escape_html(&card.owner);
    let bank = escape_html(&card.bank);
    Screen {
        text: t.text(
            locale,
            "checkout_card",
            &[
                ("amount", Arg::Money(amount)),
                ("card", Arg::Code(&number)),
                ("owner", Arg::Text(&owner)),
                ("bank", Arg::Text(&bank)),
            ],
        ),
        keyboard: vec![vec![cancel_button(t, locale, payment_id)]],
    }
}

/// A gateway's payment page, opened by a link button.
pub fn checkout_redirect(t: &Catalog, locale: Locale, url: &str, amount: Money) -> Screen {
    Screen {
        text: t.text(
            locale,
            "checkout_redirect",
            &[("amount", Arg::Money(amount))],
        ),
        keyboard: vec![vec![Button::url(
            t.text(locale, "button_pay", &[("price", Arg::Money(amount))]),
            url.to_string(),
        )]],
    }
}

/// The text key naming a subscription's status.
pub fn status_key(status: crate::billing::subscriptions::Status) -> &'static str {
    use crate::billing::subscriptions::Status;
    match status {
        Status::Trial => "subscription_status_trial",
        Status::Active => "subscription_status_active",
        Status::Grace => "subscription_status_grace",
        Status::Suspended => "subscription_status_suspended",
        Status::Cancelled => "subscription_status_cancelled",
        Status::Deleted => "subscription_status_deleted",
    }
}

/// One subscription in "My bots".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotRow {
    pub subscription_id: String,
    /// `@username`, or `None` while it is being set up.
    pub bot: Option<String>,
    pub package: String,
    pub status_key: &'static str,
    pub ends_at: i64,
    pub renewable: bool,
}

pub fn my_bots(t: &Catalog, locale: Locale, rows: &[BotRow]) -> Screen {
    let mut text = t.text(locale, "my_bots_title", &[]);
    let mut keyboard = Vec::new();
    if rows.is_empty() {
        text.push_str("\n\n");
        text.push_str(&t.text(locale, "my_bots_empty", &[]));
    }
    for row in rows {
        let bot = row
            .bot
            .clone()
            .unwrap_or_else(|| t.text(locale, "bot_setting_up", &[]));
        let package = escape_html(&row.package);
        let status = t.text(locale, row.status_key, &[]);
        text.push_str("\n\n");
        text.push_str(&t.text(
            locale,
            "my_bot_line",
            &[
                ("bot", Arg::Text(&bot)),
                ("package", Arg::Text(&package)),
                ("status", Arg::Text(&status)),
                ("date", Arg::Date(row.ends_at)),
            ],
        ));
        let mut buttons = vec![Button::action(
            t.text(locale, "button_manage", &[("bot", Arg::Text(&bot))]),
            Action::Show(Page::Bot(row.subscription_id.clone())),
        )];
        if row.renewable {
            buttons.push(Button::action(
                t.text(locale, "button_renew", &[("bot", Arg::Text(&bot))]),
                Action::Show(Page::RenewPeriods(row.subscription_id.clone())),
            ));
        }
        keyboard.push(buttons);
    }
    keyboard.push(vec![
        Button::action(
            t.text(locale, "button_invoices", &[]),
            Action::Show(Page::Invoices),
        ),
        Button::action(t.text(locale, "button_support", &[]), Action::Support),
    ]);
    keyboard.push(vec![back_button(t, locale, Page::Home)]);
    Screen { text, keyboard }
}

/// One bot in full, with its controls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotDetail {
    pub subscription_id: String,
    pub bot: Option<String>,
    pub package: String,
    pub status_key: &'static str,
    pub ends_at: i64,
    /// The instance's state as the provisioner reports it (`running`, `failed`...).
    pub state: Option<String>,
    pub reason: Option<String>,
    pub up_since: Option<i64>,
    pub version: Option<String>,
    pub updates_handled: Option<i64>,
    /// End users the bot reports, and the package's limit (`None` = unlimited).
    pub end_users: Option<(i64, Option<i64>)>,
    pub limits: String,
    pub paused: bool,
    pub controllable: bool,
    pub cancel_at_period_end: bool,
}

pub fn bot_detail(t: &Catalog, locale: Locale, d: &BotDetail) -> Screen {
    let bot = d
        .bot
        .clone()
        .unwrap_or_else(|| t.text(locale, "bot_setting_up", &[]));
    let status = t.text(locale, d.status_key, &[]);
    let package = escape_html(&d.package);
    let state = match (&d.state, d.paused) {
        (_, true) => t.text(locale, "instance_paused", &[]),
        (Some(state), false) => state.clone(),
        (None, false) => t.text(locale, "bot_setting_up", &[]),
    };
    let mut text = t.text(
        locale,
        "bot_detail",
        &[
            ("bot", Arg::Text(&bot)),
            ("package", Arg::Text(&package)),
            ("status", Arg::Text(&status)),
            ("date", Arg::Date(d.ends_at)),
            ("state", Arg::Code(&state)),
            ("limits", Arg::Text(&d.limits)),
        ],
    );
    if let Some(since) = d.up_since {
        text.push('\n');
        text.push_str(&t.text(locale, "bot_up_since", &[("date", Arg::DateTime(since))]));
    }
    if let Some(version) = &d.version {
        text.push('\n');
        text.push_str(&t.text(locale, "bot_version", &[("version", Arg::Code(version))]));
    }
    if let Some((count, limit)) = d.end_users {
        text.push('\n');
        let line = match limit {
            Some(limit) => t.text(
                locale,
                "bot_end_users",
                &[("count", Arg::Number(count)), ("limit", Arg::Number(limit))],
            ),
            None => t.text(
                locale,
                "bot_end_users_unlimited",
                &[("count", Arg::Number(count))],
            ),
        };
        text.push_str(&line);
    }
    if let Some(updates) = d.updates_handled {
        text.push('\n');
        text.push_str(&t.text(locale, "bot_updates", &[("count", Arg::Number(updates))]));
    }
    if let Some(reason) = &d.reason {
        text.push('\n');
        let reason = escape_html(reason);
        text.push_str(&t.text(locale, "bot_problem", &[("reason", Arg::Text(&reason))]));
    }
    let sub = d.subscription_id.clone();
    let mut keyboard = Vec::new();
    if d.controllable {
        let (label, action) = if d.paused {
            ("button_start_bot", Action::ResumeBot(sub.clone()))
        } else {
            ("button_stop_bot", Action::PauseBot(sub.clone()))
        };
        keyboard.push(vec![
            Button::action(t.text(locale, label, &[]), action),
            Button::action(
                t.text(locale, "button_restart_bot", &[]),
                Action::RestartBot(sub.clone()),
            ),
        ]);
        keyboard.push(vec![
            Button::action(
                t.text(locale, "button_change_token", &[]),
                Action::ChangeToken(sub.clone()),
            ),
            Button::action(
                t.text(locale, "button_add_panel", &[]),
                Action::AddPanel(sub.clone()),
            ),
        ]);
    }
    keyboard.push(vec![
        Button::action(
            t.text(locale, "button_renew", &[("bot", Arg::Text(&bot))]),
            Action::Show(Page::RenewPeriods(sub.clone())),
        ),
        Button::action(
            t.text(locale, "button_refresh", &[]),
            Action::Show(Page::Bot(sub)),
        ),
    ]);
    if d.controllable {
        let (label, cancel) = if d.cancel_at_period_end {
            ("button_keep_subscription", false)
        } else {
            ("button_cancel_at_end", true)
        };
        keyboard.push(vec![
            Button::action(
                t.text(locale, "button_upgrade", &[]),
                Action::Show(Page::Upgrade(d.subscription_id.clone())),
            ),
            Button::action(
                t.text(locale, label, &[]),
                Action::CancelAtEnd(d.subscription_id.clone(), cancel),
            ),
        ]);
    }
    keyboard.push(vec![back_button(t, locale, Page::MyBots)]);
    Screen { text, keyboard }
}

/// Bigger packages to move up to, with the prorated price of each.
pub fn upgrades(
    t: &Catalog,
    locale: Locale,
    subscription: &str,
    choices: &[(String, String)],
) -> Screen {
    let mut keyboard: Vec<Vec<Button>> = choices
        .iter()
        .map(|(code, name)| {
            vec![Button::action(
                t.text(locale, "button_package", &[("name", Arg::Text(name))]),
                Action::Show(Page::UpgradeMethods(subscription.to_string(), code.clone())),
            )]
        })
        .filter(|row| {
            row.iter().all(|b| match &b.target {
                Target::Action(a) => a.encode().len() <= super::actions::MAX_DATA_BYTES,
                Target::Url(_) => true,
            })
        })
        .collect();
    let key = if keyboard.is_empty() {
        "upgrade_none"
    } else {
        "upgrade_choose"
    };
    keyboard.push(vec![back_button(
        t,
        locale,
        Page::Bot(subscription.to_string()),
    )]);
    Screen {
        text: t.text(locale, key, &[]),
        keyboard,
    }
}

/// One line per invoice, newest first.
pub fn invoices(t: &Catalog, locale: Locale, rows: &[(i64, Money, &'static str)]) -> Screen {
    let mut text = t.text(locale, "invoices_title", &[]);
    if rows.is_empty() {
        text.push_str("\n\n");
        text.push_str(&t.text(locale, "invoices_empty", &[]));
    }
    for (at, amount, status_key) in rows {
        let status = t.text(locale, status_key, &[]);
        text.push('\n');
        text.push_str(&t.text(
            locale,
            "invoice_line",
            &[
                ("date", Arg::Date(*at)),
                ("amount", Arg::Money(*amount)),
                ("status", Arg::Text(&status)),
            ],
        ));
    }
    Screen {
        text,
        keyboard: vec![vec![back_button(t, locale, Page::MyBots)]],
    }
}

/// The onboarding dialogue's next question.
pub fn onboarding(t: &Catalog, locale: Locale, prompt: &Prompt) -> Screen {
    let args: Vec<(&str, Arg)> = prompt
        .args
        .iter()
        .map(|(k, v)| (*k, Arg::Text(v.as_str())))
        .collect();
    let text = t.text_html(locale, prompt.key, &args);
    let buttons = prompt
        .choices
        .iter()
        .map(|choice| {
            let (key, choice) = match choice {
                Choice::ItsMe => ("button_its_me", OnboardingChoice::ItsMe),
                Choice::Skip => ("button_skip", OnboardingChoice::Skip),
                Choice::Marzban => ("button_marzban", OnboardingChoice::Marzban),
                Choice::Xui => ("button_xui", OnboardingChoice::Xui),
            };
            Button::action(t.text(locale, key, &[]), Action::Onboarding(choice))
        })
        .collect::<Vec<_>>();
    Screen {
        text,
        keyboard: if buttons.is_empty() {
            Vec::new()
        } else {
            vec![buttons]
        },
    }
}

/// Why billing said no, in the customer's language.
pub fn refusal(t: &Catalog, locale: Locale, refusal: &Refusal) -> Screen {
    let key = match refusal {
        Refusal::PackageNotOnSale => "refusal_package",
        Refusal::PeriodNotSold { .. } => "refusal_period",
        Refusal::CurrencyNotSold => "refusal_currency",
        Refusal::CouponUnknown => "refusal_coupon_unknown",
        Refusal::CouponExpired => "refusal_coupon_expired",
        Refusal::CouponUsedUp => "refusal_coupon_used_up",
        Refusal::CouponWrongCurrency => "refusal_coupon_currency",
        Refusal::InvoiceNotPayable => "refusal_invoice",
        Refusal::NoSubscription => "refusal_subscription",
        Refusal::SubscriptionNotActive => "refusal_not_active",
        Refusal::NoTrial => "refusal_no_trial",
        Refusal::OverLimit {
            limit,
            used,
            allowed,
        } => {
            let what = t.text(locale, &format!("limit_name_{}", limit.key()), &[]);
            return Screen {
                text: t.text(
                    locale,
                    "refusal_over_limit",
                    &[
                        ("limit", Arg::Text(&what)),
                        ("used", Arg::Number(*used)),
                        ("allowed", Arg::Number(*allowed)),
                    ],
                ),
                keyboard: Vec::new(),
            };
        }
        Refusal::TrialUsed => "refusal_trial_used",
        Refusal::NotEnoughBalance { balance, needed } => {
            return Screen {
                text: t.text(
                    locale,
                    "refusal_balance",
                    &[
                        ("balance", Arg::Money(*balance)),
                        ("needed", Arg::Money(*needed)),
                    ],
                ),
                keyboard: Vec::new(),
            }
        }
        _ => "refusal_other",
    };
    notice(t, locale, key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::money::Money;

    fn starter() -> Package {
        Package {
            id: "pkg-starter".into(),
            code: "starter".into(),
            name_fa: "استارتر".into(),
            name_en: "Starter".into(),
            max_bots: Some(1),
            max_end_users: Some(100),
            max_panels: Some(1),
            bot_memory_mb: 64,
            bot_cpu_millis: 250,
            trial_days: 0,
            prices: vec![
                crate::billing::packages::Price {
                    period_months: 1,
                    amount: Money::toman(290_000),
                },
                crate::billing::packages::Price {
                    period_months: 1,
                    amount: Money::usd_cents(499),
                },
            ],
        }
    }

    #[test]
    fn the_english_home_lists_a_package_with_its_limits_and_prices() {
        let t = crate::texts::catalog().unwrap();
        let s = home(&t, Locale::En, "Sara <3", &[starter()], false);
        assert!(s.text.contains("Hello Sara &lt;3"), "{}", s.text);
        assert!(s.text.contains("Starter"));
        assert!(s.text.contains("100 end users"));
        assert!(s.text.contains("290,000 Toman"), "{}", s.text);
        assert!(s.text.contains("$4.99"), "{}", s.text);
        assert_eq!(s.keyboard.len(), 2);
        assert_eq!(
            s.keyboard[1][0].target,
            Target::Action(Action::SetLocale(Locale::Fa, Page::Home))
        );
    }

    #[test]
    fn the_persian_home_uses_persian_digits() {
        let t = crate::texts::catalog().unwrap();
        let s = home(&t, Locale::Fa, "سارا", &[starter()], false);
        assert!(s.text.contains("۱۰۰ کاربر"), "{}", s.text);
        assert!(s.text.contains("۲۹۰٬۰۰۰ تومان"), "{}", s.text);
    }

    #[test]
    fn unlimited_limits_say_so() {
        let t = crate::texts::catalog().unwrap();
        let mut p = starter();
        p.max_bots = None;
        let s = package(&t, Locale::En, &p);
        assert!(s.text.contains("unlimited bots"), "{}", s.text);
        assert!(s.text.contains("25% CPU"), "{}", s.text);
    }
}
