//! What the master bot shows, rendered from the catalog of texts: HTML text plus buttons.

use shared::i18n::{escape_html, Arg, Catalog, Locale};
use shared::money::Currency;

use super::actions::{Action, Page};
use crate::billing::packages::{Limit, Package};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub label: String,
    pub action: Action,
}

/// A message the bot sends or edits: Telegram HTML and rows of inline buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screen {
    pub text: String,
    pub keyboard: Vec<Vec<Button>>,
}

fn other(locale: Locale) -> Locale {
    match locale {
        Locale::Fa => Locale::En,
        Locale::En => Locale::Fa,
    }
}

fn language_button(t: &Catalog, locale: Locale, page: Page) -> Button {
    Button {
        label: t.text(locale, "button_language", &[]),
        action: Action::SetLocale(other(locale), page),
    }
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
pub fn home(t: &Catalog, locale: Locale, first_name: &str, packages: &[Package]) -> Screen {
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
        keyboard.push(vec![Button {
            label: t.text(
                locale,
                "button_package",
                &[("name", Arg::Text(p.name(locale)))],
            ),
            action: Action::Show(Page::Package(p.code.clone())),
        }]);
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
            vec![Button {
                label: t.text(locale, "button_back", &[]),
                action: Action::Show(Page::Home),
            }],
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

/// Both languages to choose from.
pub fn choose_language(t: &Catalog, locale: Locale) -> Screen {
    Screen {
        text: t.text(locale, "choose_language", &[]),
        keyboard: vec![vec![
            Button {
                label: "🇮🇷 فارسی".to_string(),
                action: Action::SetLocale(Locale::Fa, Page::Home),
            },
            Button {
                label: "🇬🇧 English".to_string(),
                action: Action::SetLocale(Locale::En, Page::Home),
            },
        ]],
    }
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
        let s = home(&t, Locale::En, "Sara <3", &[starter()]);
        assert!(s.text.contains("Hello Sara &lt;3"), "{}", s.text);
        assert!(s.text.contains("Starter"));
        assert!(s.text.contains("100 end users"));
        assert!(s.text.contains("290,000 Toman"), "{}", s.text);
        assert!(s.text.contains("$4.99"), "{}", s.text);
        assert_eq!(s.keyboard.len(), 2);
        assert_eq!(
            s.keyboard[1][0].action,
            Action::SetLocale(Locale::Fa, Page::Home)
        );
    }

    #[test]
    fn the_persian_home_uses_persian_digits() {
        let t = crate::texts::catalog().unwrap();
        let s = home(&t, Locale::Fa, "سارا", &[starter()]);
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
