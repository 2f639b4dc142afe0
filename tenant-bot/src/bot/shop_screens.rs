//! What the bot shows around buying: the home menu, languages, plans, the wallet, the
//! channel to join, and every refusal. Pure functions from data to a [`Screen`].

use shared::i18n::{format_number, Arg, Catalog, Locale};
use shared::money::Money;

use super::actions::{Action, Page};
use super::format;
use super::pay_screens::{method_label, Priced};
use super::screen::{Button, Screen};
use crate::plans::Plan;
use crate::refusal::Refusal;
use crate::wallet::{Entry, Reason};

fn other(locale: Locale) -> Locale {
    match locale {
        Locale::Fa => Locale::En,
        Locale::En => Locale::Fa,
    }
}

pub fn button(t: &Catalog, locale: Locale, key: &str, page: Page) -> Button {
    Button::action(t.text(locale, key, &[]), Action::Show(page))
}

pub fn home_button(t: &Catalog, locale: Locale) -> Button {
    button(t, locale, "button_home", Page::Home)
}

/// The main menu. `offer_trial`: the trial is on and this person has not had it;
/// `is_admin`: one of the shop's admins, who also gets the payment setup.
pub fn home(
    t: &Catalog,
    locale: Locale,
    first_name: &str,
    bot_name: &str,
    offer_trial: bool,
    is_admin: bool,
) -> Screen {
    let mut text = t.text_html(
        locale,
        "welcome",
        &[
            ("name", Arg::Text(first_name)),
            ("bot_name", Arg::Text(bot_name)),
        ],
    );
    text.push_str("\n\n");
    text.push_str(&t.text(locale, "home_prompt", &[]));
    let mut keyboard = vec![vec![
        button(t, locale, "button_buy", Page::Plans),
        button(t, locale, "button_services", Page::Services),
    ]];
    if offer_trial {
        keyboard.push(vec![Button::action(
            t.text(locale, "button_trial", &[]),
            Action::Trial,
        )]);
    }
    keyboard.push(vec![
        button(t, locale, "button_wallet", Page::Wallet),
        Button::action(
            t.text(locale, "button_language", &[]),
            Action::SetLocale(other(locale), Page::Home),
        ),
    ]);
    if is_admin {
        keyboard.push(vec![super::setup_screens::entry_button(t, locale)]);
    }
    Screen { text, keyboard }
}

/// Both languages to choose from (`/language`).
pub fn language(t: &Catalog, locale: Locale) -> Screen {
    Screen::text(t.text(locale, "choose_language", &[])).with_row(vec![
        Button::action("🇮🇷 فارسی".into(), Action::SetLocale(Locale::Fa, Page::Home)),
        Button::action(
            "🇬🇧 English".into(),
            Action::SetLocale(Locale::En, Page::Home),
        ),
    ])
}

/// The plans on sale. An admin of a shop with none is offered the starter plans.
pub fn plans(t: &Catalog, locale: Locale, plans: &[Plan], is_admin: bool) -> Screen {
    let mut text = t.text(locale, "plans_title", &[]);
    let offer_starter = plans.is_empty() && is_admin;
    if plans.is_empty() {
        text.push_str("\n\n");
        let key = if offer_starter {
            "no_plans_admin"
        } else {
            "no_plans"
        };
        text.push_str(&t.text(locale, key, &[]));
    }
    let mut keyboard: Vec<Vec<Button>> = plans
        .iter()
        .map(|plan| {
            let data = format::data(t, locale, plan.data_bytes);
            let price = plan.price.format(locale);
            vec![Button::action(
                t.text(
                    locale,
                    "plan_button",
                    &[
                        ("name", Arg::Text(plan.name(locale))),
                        ("data", Arg::Text(&data)),
                        ("days", Arg::Number(plan.days)),
                        ("price", Arg::Text(&price)),
                    ],
                ),
                Action::Show(Page::Plan(plan.id.clone())),
            )]
        })
        .collect();
    if offer_starter {
        keyboard.push(vec![Button::action(
            t.text(locale, "button_starter_plans", &[]),
            Action::AddStarterPlans,
        )]);
    }
    keyboard.push(vec![home_button(t, locale)]);
    Screen { text, keyboard }
}

/// One plan in full, with the ways to pay for it: the wallet, and each gateway on offer.
pub fn plan(
    t: &Catalog,
    locale: Locale,
    plan: &Plan,
    balance: Money,
    gateways: &[Priced],
) -> Screen {
    let data = format::data(t, locale, plan.data_bytes);
    let devices = match plan.ip_limit {
        Some(n) => format_number(n, locale),
        None => t.text(locale, "devices_unlimited", &[]),
    };
    let mut text = t.text_html(
        locale,
        "plan_detail",
        &[
            ("name", Arg::Text(plan.name(locale))),
            ("data", Arg::Text(&data)),
            ("days", Arg::Number(plan.days)),
            ("devices", Arg::Text(&devices)),
            ("price", Arg::Money(plan.price)),
            ("balance", Arg::Money(balance)),
        ],
    );
    if let Some(location) = &plan.location {
        text.push('\n');
        text.push_str(&t.text_html(
            locale,
            "plan_location",
            &[("location", Arg::Text(location))],
        ));
    }
    let pay = Button::action(
        t.text(
            locale,
            "button_pay_wallet",
            &[("price", Arg::Money(plan.price))],
        ),
        Action::BuyWithWallet(plan.id.clone()),
    );
    let mut keyboard = vec![vec![pay]];
    for (method, price) in gateways {
        keyboard.push(vec![Button::action(
            method_label(t, locale, *method, *price),
            Action::PayPlanWith(plan.id.clone(), *method),
        )]);
    }
    keyboard.push(vec![button(t, locale, "button_back", Page::Plans)]);
    Screen { text, keyboard }
}

/// Not enough in the wallet: what there is, what is missing, and a way to top up.
pub fn not_enough(
    t: &Catalog,
    locale: Locale,
    balance: Money,
    needed: Money,
    back: Page,
    can_top_up: bool,
) -> Screen {
    let mut text = refusal_text(t, locale, &Refusal::NotEnoughBalance { balance, needed });
    let missing = needed.checked_sub(balance).unwrap_or(needed);
    let mut keyboard = Vec::new();
    if can_top_up && missing.minor() > 0 {
        keyboard.push(vec![Button::action(
            t.text(
                locale,
                "button_top_up_missing",
                &[("amount", Arg::Money(missing))],
            ),
            Action::Show(Page::TopUpMethods(missing.minor())),
        )]);
    } else {
        text.push_str("\n\n");
        text.push_str(&t.text(locale, "wallet_top_up_hint", &[]));
    }
    keyboard.push(vec![
        button(t, locale, "button_wallet", Page::Wallet),
        button(t, locale, "button_back", back),
    ]);
    Screen { text, keyboard }
}

fn reason(t: &Catalog, locale: Locale, reason: Reason) -> String {
    let key = match reason {
        Reason::TopUp => "reason.topup",
        Reason::Order => "reason.order",
        Reason::Refund => "reason.refund",
        Reason::Admin => "reason.admin",
    };
    t.text(locale, key, &[])
}

/// The balance and the latest movements, and a way to top up when the shop takes money.
pub fn wallet(
    t: &Catalog,
    locale: Locale,
    balance: Money,
    history: &[Entry],
    can_top_up: bool,
) -> Screen {
    let mut text = t.text_html(locale, "wallet_title", &[("balance", Arg::Money(balance))]);
    text.push_str("\n\n");
    if history.is_empty() {
        text.push_str(&t.text(locale, "wallet_no_history", &[]));
    } else {
        text.push_str(&t.text(locale, "wallet_history", &[]));
        for entry in history {
            let why = reason(t, locale, entry.reason);
            text.push('\n');
            text.push_str(&t.text_html(
                locale,
                "wallet_entry",
                &[
                    ("date", Arg::DateTime(entry.created_at)),
                    ("amount", Arg::Money(entry.amount)),
                    ("reason", Arg::Text(&why)),
                ],
            ));
        }
    }
    let mut keyboard = Vec::new();
    if can_top_up {
        keyboard.push(vec![button(t, locale, "button_top_up", Page::TopUp)]);
    } else {
        text.push_str("\n\n");
        text.push_str(&t.text(locale, "wallet_top_up_hint", &[]));
    }
    keyboard.push(vec![home_button(t, locale)]);
    Screen { text, keyboard }
}

/// "Join the channel first."
pub fn join(t: &Catalog, locale: Locale, url: Option<&str>) -> Screen {
    let mut keyboard = Vec::new();
    if let Some(url) = url {
        keyboard.push(vec![Button::url(
            t.text(locale, "button_join", &[]),
            url.to_string(),
        )]);
    }
    keyboard.push(vec![Button::action(
        t.text(locale, "button_joined", &[]),
        Action::CheckJoined,
    )]);
    Screen {
        text: t.text(locale, "join_channel", &[]),
        keyboard,
    }
}

/// The message for a refusal, in the user's language.
pub fn refusal_text(t: &Catalog, locale: Locale, refusal: &Refusal) -> String {
    match refusal {
        Refusal::NotEnoughBalance { balance, needed } => {
            let missing = needed.checked_sub(*balance).unwrap_or(*needed);
            t.text_html(
                locale,
                refusal.key(),
                &[
                    ("balance", Arg::Money(*balance)),
                    ("needed", Arg::Money(*needed)),
                    ("missing", Arg::Money(missing)),
                ],
            )
        }
        Refusal::PanelLimit { allowed } => {
            t.text_html(locale, refusal.key(), &[("allowed", Arg::Number(*allowed))])
        }
        _ => t.text_html(locale, refusal.key(), &[]),
    }
}

pub fn refusal(t: &Catalog, locale: Locale, refusal: &Refusal) -> Screen {
    Screen::text(refusal_text(t, locale, refusal)).with_row(vec![home_button(t, locale)])
}

/// A short message with a way home.
pub fn notice(t: &Catalog, locale: Locale, key: &str) -> Screen {
    Screen::text(t.text(locale, key, &[])).with_row(vec![home_button(t, locale)])
}
