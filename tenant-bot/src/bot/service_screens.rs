//! What the bot shows about bought services: the list, one service with its usage and
//! controls, renewing, adding data, revoking the link, and the link's caption.

use shared::i18n::{Arg, Catalog, Locale};
use shared::money::Money;

use super::actions::{Action, Page};
use super::format;
use super::screen::{Button, Screen};
use super::shop_screens::{button, home_button};
use crate::plans::Plan;
use crate::services::{Service, Status};

/// A service with the name to show for it.
pub struct Named<'a> {
    pub service: &'a Service,
    pub name: String,
}

/// What can be done to a service besides looking at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Controls {
    /// Its plan is still on sale (and it is not a trial).
    pub renew: bool,
    /// The tenant sells data packs and the service has a data limit.
    pub add_data: bool,
}

pub fn list(t: &Catalog, locale: Locale, services: &[Named<'_>], now: i64) -> Screen {
    let mut text = t.text(locale, "services_title", &[]);
    text.push_str("\n\n");
    if services.is_empty() {
        text.push_str(&t.text(locale, "no_services", &[]));
        return Screen::text(text).with_row(vec![
            button(t, locale, "button_buy", Page::Plans),
            home_button(t, locale),
        ]);
    }
    text.push_str(&t.text(locale, "services_choose", &[]));
    let mut keyboard: Vec<Vec<Button>> = services
        .iter()
        .map(|named| {
            let status = format::status(t, locale, named.service.status);
            let left = days_left_short(t, locale, named.service, now);
            vec![Button::action(
                t.text(
                    locale,
                    "service_button",
                    &[
                        ("name", Arg::Text(&named.name)),
                        ("status", Arg::Text(&status)),
                        ("left", Arg::Text(&left)),
                    ],
                ),
                Action::Show(Page::Service(named.service.id.clone())),
            )]
        })
        .collect();
    keyboard.push(vec![home_button(t, locale)]);
    Screen { text, keyboard }
}

fn days_left_short(t: &Catalog, locale: Locale, service: &Service, now: i64) -> String {
    match service.days_left(now) {
        Some(days) => t.text(locale, "days_left_short", &[("days", Arg::Number(days))]),
        None => t.text(locale, "no_expiry_short", &[]),
    }
}

/// The usage lines: "used of total" with a bar, or the usage of an unlimited service.
fn usage(t: &Catalog, locale: Locale, s: &Service) -> String {
    let used = format::size(t, locale, s.used_bytes);
    match s.data_limit_bytes.filter(|l| *l > 0) {
        Some(limit) => {
            let total = format::size(t, locale, limit);
            let bar = format::usage_bar(s.used_bytes, limit);
            let left = s.percent_left().unwrap_or(0);
            t.text_html(
                locale,
                "service_usage",
                &[
                    ("used", Arg::Text(&used)),
                    ("total", Arg::Text(&total)),
                    ("bar", Arg::Text(&bar)),
                    ("percent", Arg::Number(left)),
                ],
            )
        }
        None => t.text_html(
            locale,
            "service_usage_unlimited",
            &[("used", Arg::Text(&used))],
        ),
    }
}

fn expiry(t: &Catalog, locale: Locale, s: &Service, now: i64) -> String {
    match (s.expire_at, s.days_left(now)) {
        (Some(at), Some(days)) if at > now => t.text_html(
            locale,
            "service_expiry",
            &[("days", Arg::Number(days)), ("date", Arg::Date(at))],
        ),
        (Some(at), _) => t.text_html(locale, "service_expired_on", &[("date", Arg::Date(at))]),
        (None, _) => t.text(locale, "service_no_expiry", &[]),
    }
}

/// One service: usage, days left, expiry, status, and its controls.
pub fn detail(
    t: &Catalog,
    locale: Locale,
    named: &Named<'_>,
    controls: Controls,
    now: i64,
) -> Screen {
    let s = named.service;
    let status = format::status(t, locale, s.status);
    let mut lines = vec![
        t.text_html(locale, "service_title", &[("name", Arg::Text(&named.name))]),
        String::new(),
        usage(t, locale, s),
        expiry(t, locale, s, now),
        t.text_html(locale, "service_status", &[("status", Arg::Text(&status))]),
    ];
    if let Some(at) = s.synced_at {
        lines.push(t.text_html(locale, "service_synced", &[("time", Arg::DateTime(at))]));
    }
    let id = &s.id;
    let mut keyboard = vec![vec![
        Button::action(
            t.text(locale, "button_link", &[]),
            Action::SendLink(id.clone()),
        ),
        button(t, locale, "button_tips", Page::Tips(id.clone())),
    ]];
    let mut buy_row = Vec::new();
    if controls.renew {
        buy_row.push(button(t, locale, "button_renew", Page::Renew(id.clone())));
    }
    if controls.add_data {
        buy_row.push(button(
            t,
            locale,
            "button_add_data",
            Page::AddData(id.clone()),
        ));
    }
    if !buy_row.is_empty() {
        keyboard.push(buy_row);
    }
    if s.status != Status::Deleted {
        keyboard.push(vec![
            button(t, locale, "button_revoke", Page::Revoke(id.clone())),
            Button::action(
                t.text(locale, "button_refresh", &[]),
                Action::Refresh(id.clone()),
            ),
        ]);
    }
    keyboard.push(vec![button(t, locale, "button_back", Page::Services)]);
    Screen {
        text: lines.join("\n"),
        keyboard,
    }
}

/// Renewing with the same plan: what it gives, for how much, and the button to pay.
pub fn renew(
    t: &Catalog,
    locale: Locale,
    named: &Named<'_>,
    plan: &Plan,
    balance: Money,
) -> Screen {
    let data = format::data(t, locale, plan.data_bytes);
    let text = t.text_html(
        locale,
        "renew_confirm",
        &[
            ("name", Arg::Text(&named.name)),
            ("days", Arg::Number(plan.days)),
            ("data", Arg::Text(&data)),
            ("price", Arg::Money(plan.price)),
            ("balance", Arg::Money(balance)),
        ],
    );
    let id = named.service.id.clone();
    Screen {
        text,
        keyboard: vec![
            vec![Button::action(
                t.text(
                    locale,
                    "button_pay_wallet",
                    &[("price", Arg::Money(plan.price))],
                ),
                Action::RenewWithWallet(id.clone()),
            )],
            vec![button(t, locale, "button_back", Page::Service(id))],
        ],
    }
}

/// Data packs for a service, each a button that pays from the wallet.
pub fn add_data(
    t: &Catalog,
    locale: Locale,
    named: &Named<'_>,
    packs: &[(i64, Money)],
    price_per_gb: Money,
    balance: Money,
) -> Screen {
    let text = t.text_html(
        locale,
        "add_data_title",
        &[
            ("name", Arg::Text(&named.name)),
            ("price_per_gb", Arg::Money(price_per_gb)),
            ("balance", Arg::Money(balance)),
        ],
    );
    let id = named.service.id.clone();
    let mut keyboard: Vec<Vec<Button>> = packs
        .chunks(2)
        .map(|pair| {
            pair.iter()
                .map(|(gb, price)| {
                    let size = format::size(t, locale, gb.saturating_mul(crate::plans::GIB));
                    Button::action(
                        t.text(
                            locale,
                            "data_pack_button",
                            &[("size", Arg::Text(&size)), ("price", Arg::Money(*price))],
                        ),
                        Action::AddDataWithWallet(id.clone(), *gb),
                    )
                })
                .collect()
        })
        .collect();
    keyboard.push(vec![button(t, locale, "button_back", Page::Service(id))]);
    Screen { text, keyboard }
}

/// "Are you sure?" before revoking a link.
pub fn revoke(t: &Catalog, locale: Locale, named: &Named<'_>) -> Screen {
    let id = named.service.id.clone();
    Screen {
        text: t.text_html(
            locale,
            "revoke_confirm",
            &[("name", Arg::Text(&named.name))],
        ),
        keyboard: vec![
            vec![Button::action(
                t.text(locale, "button_revoke_yes", &[]),
                Action::RevokeNow(id.clone()),
            )],
            vec![button(t, locale, "button_back", Page::Service(id))],
        ],
    }
}

/// The caption under a link's QR code: a title line (already rendered) and the link.
pub fn link_caption(t: &Catalog, locale: Locale, title_key: &str, name: &str, url: &str) -> String {
    let mut caption = t.text_html(locale, title_key, &[("name", Arg::Text(name))]);
    caption.push_str("\n\n");
    caption.push_str(&t.text_html(locale, "link_caption", &[("link", Arg::Code(url))]));
    caption
}

/// The buttons under a link's QR code.
pub fn link_buttons(t: &Catalog, locale: Locale, service_id: &str) -> Vec<Vec<Button>> {
    vec![vec![
        button(t, locale, "button_tips", Page::Tips(service_id.to_string())),
        button(t, locale, "button_services", Page::Services),
    ]]
}
