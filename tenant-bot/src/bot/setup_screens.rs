//! What the payment setup shows an admin: the setup as it stands (secrets only as on/off,
//! cards masked), the questions, and what was wrong with an answer. Pure functions.

use shared::i18n::{Arg, Catalog, Locale};
use shared::money::Money;

use super::actions::Action;
use super::screen::{Button, Screen};
use super::setup_actions::SetupAction;
use super::setup_input::{InputProblem, SetupStep};
use super::shop_screens::home_button;
use crate::payments::setup::Card;
use crate::payments::PaymentSetup;

/// The most cards a shop keeps; customers are shown one of them per payment.
pub const MAX_CARDS: usize = 10;

fn action(t: &Catalog, locale: Locale, key: &str, setup: SetupAction) -> Button {
    Button::action(t.text(locale, key, &[]), Action::Setup(setup))
}

/// The home menu's entry, for admins only.
pub fn entry_button(t: &Catalog, locale: Locale) -> Button {
    action(t, locale, "setup.button", SetupAction::Show)
}

/// "6037 99** **** 1234": enough to tell cards apart, not enough to copy one.
pub fn masked(digits: &str) -> String {
    match (digits.get(0..4), digits.get(4..6), digits.get(12..16)) {
        (Some(a), Some(b), Some(d)) if digits.len() == 16 => format!("{a} {b}** **** {d}"),
        _ => "****".to_string(),
    }
}

/// A card in `key`'s words: its masked number, holder and bank.
fn card_text(t: &Catalog, locale: Locale, key: &str, card: &Card) -> String {
    let number = masked(&card.number);
    t.text_html(
        locale,
        key,
        &[
            ("number", Arg::Code(&number)),
            ("owner", Arg::Text(&card.owner)),
            ("bank", Arg::Text(&card.bank)),
        ],
    )
}

/// The setup as it stands, with a note on top about what just changed.
pub fn setup(t: &Catalog, locale: Locale, setup: &PaymentSetup, note: Option<&str>) -> Screen {
    let mut lines = Vec::new();
    if let Some(note) = note {
        lines.push(note.to_string());
        lines.push(String::new());
    }
    lines.push(t.text(locale, "setup.title", &[]));
    lines.push(String::new());
    lines.push(t.text(locale, "setup.cards_title", &[]));
    if setup.cards.is_empty() {
        lines.push(t.text(locale, "setup.no_cards", &[]));
    }
    lines.extend(
        setup
            .cards
            .iter()
            .map(|card| card_text(t, locale, "setup.card_line", card)),
    );
    lines.push(match setup.card_auto_approve_minutes {
        Some(minutes) if minutes > 0 => t.text(
            locale,
            "setup.auto_approve_after",
            &[("minutes", Arg::Number(i64::from(minutes)))],
        ),
        _ => t.text(locale, "setup.auto_approve_off", &[]),
    });
    lines.push(String::new());
    let usd = setup.rates.toman_per_usd.filter(|r| *r > 0);
    let star = setup.rates.toman_per_star.filter(|r| *r > 0);
    let key = if setup.zarinpal.is_some() {
        "setup.zarinpal_on"
    } else {
        "setup.zarinpal_off"
    };
    lines.push(t.text(locale, key, &[]));
    let key = match (&setup.nowpayments, usd) {
        (Some(_), Some(_)) => "setup.nowpayments_on",
        (Some(_), None) => "setup.nowpayments_on_no_rate",
        (None, _) => "setup.nowpayments_off",
    };
    lines.push(t.text(locale, key, &[]));
    lines.push(match (setup.stars, star) {
        (true, Some(rate)) => t.text(
            locale,
            "setup.stars_on",
            &[("rate", Arg::Money(Money::toman(rate)))],
        ),
        (true, None) => t.text(locale, "setup.stars_on_no_rate", &[]),
        (false, Some(rate)) => t.text(
            locale,
            "setup.stars_off_rate",
            &[("rate", Arg::Money(Money::toman(rate)))],
        ),
        (false, None) => t.text(locale, "setup.stars_off", &[]),
    });
    lines.push(match usd {
        Some(rate) => t.text(
            locale,
            "setup.usd_rate",
            &[("rate", Arg::Money(Money::toman(rate)))],
        ),
        None => t.text(locale, "setup.usd_rate_unset", &[]),
    });
    Screen {
        text: lines.join("\n"),
        keyboard: setup_keyboard(t, locale, setup),
    }
}

fn setup_keyboard(t: &Catalog, locale: Locale, setup: &PaymentSetup) -> Vec<Vec<Button>> {
    let mut keyboard = Vec::new();
    if setup.cards.len() < MAX_CARDS {
        keyboard.push(vec![action(
            t,
            locale,
            "setup.button_add_card",
            SetupAction::AddCard,
        )]);
    }
    for card in &setup.cards {
        let last4 = card.number.get(12..).unwrap_or_default();
        keyboard.push(vec![Button::action(
            t.text(
                locale,
                "setup.button_remove_card",
                &[("last4", Arg::Code(last4))],
            ),
            Action::Setup(SetupAction::AskRemoveCard(card.number.clone())),
        )]);
    }
    keyboard.push(match setup.card_auto_approve_minutes {
        Some(minutes) if minutes > 0 => vec![
            action(
                t,
                locale,
                "setup.button_auto_approve",
                SetupAction::SetAutoApprove,
            ),
            action(
                t,
                locale,
                "setup.button_auto_approve_off",
                SetupAction::AutoApproveOff,
            ),
        ],
        _ => vec![action(
            t,
            locale,
            "setup.button_auto_approve",
            SetupAction::SetAutoApprove,
        )],
    });
    keyboard.push(match setup.zarinpal {
        Some(_) => vec![
            action(
                t,
                locale,
                "setup.button_zarinpal_change",
                SetupAction::SetZarinpal,
            ),
            action(
                t,
                locale,
                "setup.button_zarinpal_clear",
                SetupAction::ClearZarinpal,
            ),
        ],
        None => vec![action(
            t,
            locale,
            "setup.button_zarinpal_set",
            SetupAction::SetZarinpal,
        )],
    });
    keyboard.push(match setup.nowpayments {
        Some(_) => vec![
            action(
                t,
                locale,
                "setup.button_nowpayments_change",
                SetupAction::SetNowPayments,
            ),
            action(
                t,
                locale,
                "setup.button_nowpayments_clear",
                SetupAction::ClearNowPayments,
            ),
        ],
        None => vec![action(
            t,
            locale,
            "setup.button_nowpayments_set",
            SetupAction::SetNowPayments,
        )],
    });
    let stars = if setup.stars {
        action(
            t,
            locale,
            "setup.button_stars_off",
            SetupAction::Stars(false),
        )
    } else {
        action(t, locale, "setup.button_stars_on", SetupAction::Stars(true))
    };
    keyboard.push(vec![
        stars,
        action(
            t,
            locale,
            "setup.button_star_rate",
            SetupAction::SetStarRate,
        ),
    ]);
    keyboard.push(vec![action(
        t,
        locale,
        "setup.button_usd_rate",
        SetupAction::SetUsdRate,
    )]);
    keyboard.push(vec![home_button(t, locale)]);
    keyboard
}

/// "Remove this card?"
pub fn confirm_remove(t: &Catalog, locale: Locale, card: &Card) -> Screen {
    Screen {
        text: card_text(t, locale, "setup.confirm_remove", card),
        keyboard: vec![vec![
            action(
                t,
                locale,
                "setup.button_remove_yes",
                SetupAction::RemoveCard(card.number.clone()),
            ),
            action(t, locale, "button_back", SetupAction::Show),
        ]],
    }
}

/// The question asked at `step`, with a way back to the setup.
pub fn question(t: &Catalog, locale: Locale, step: &SetupStep) -> Screen {
    Screen::text(question_text(t, locale, step)).with_row(vec![action(
        t,
        locale,
        "button_back",
        SetupAction::Show,
    )])
}

/// What was wrong with an answer, then the question again.
pub fn retry(t: &Catalog, locale: Locale, problem: &InputProblem, step: &SetupStep) -> Screen {
    let mut screen = question(t, locale, step);
    screen.text = format!("{}\n\n{}", problem_text(t, locale, problem), screen.text);
    screen
}

fn question_text(t: &Catalog, locale: Locale, step: &SetupStep) -> String {
    match step {
        SetupStep::CardNumber => t.text(locale, "setup.ask_card_number", &[]),
        SetupStep::CardHolder { number } => {
            let number = masked(number);
            t.text_html(
                locale,
                "setup.ask_card_holder",
                &[("number", Arg::Code(&number))],
            )
        }
        SetupStep::CardBank { holder, .. } => t.text_html(
            locale,
            "setup.ask_card_bank",
            &[("holder", Arg::Text(holder))],
        ),
        SetupStep::ZarinpalMerchant => t.text(locale, "setup.ask_zarinpal", &[]),
        SetupStep::NowPaymentsKey => t.text(locale, "setup.ask_nowpayments_key", &[]),
        SetupStep::NowPaymentsSecret { .. } => t.text(locale, "setup.ask_nowpayments_ipn", &[]),
        SetupStep::TomanPerStar => t.text(locale, "setup.ask_star_rate", &[]),
        SetupStep::TomanPerUsd => t.text(locale, "setup.ask_usd_rate", &[]),
        SetupStep::AutoApproveMinutes => t.text(
            locale,
            "setup.ask_auto_approve",
            &[(
                "max",
                Arg::Number(super::setup_input::MAX_AUTO_APPROVE_MINUTES),
            )],
        ),
    }
}

pub fn problem_text(t: &Catalog, locale: Locale, problem: &InputProblem) -> String {
    match problem {
        InputProblem::CardLength(count) => t.text(
            locale,
            "setup.problem.card_length",
            &[("count", Arg::Number(*count as i64))],
        ),
        InputProblem::CardNotADigit => t.text(locale, "setup.problem.card_not_digit", &[]),
        InputProblem::CardCheckDigit => t.text(locale, "setup.problem.card_check_digit", &[]),
        InputProblem::CardOnListAlready => t.text(locale, "setup.problem.card_duplicate", &[]),
        InputProblem::Name => t.text(
            locale,
            "setup.problem.name",
            &[(
                "max",
                Arg::Number(super::setup_input::MAX_NAME_CHARS as i64),
            )],
        ),
        InputProblem::MerchantId => t.text(locale, "setup.problem.merchant_id", &[]),
        InputProblem::GatewayKey => t.text(locale, "setup.problem.gateway_key", &[]),
        InputProblem::Number { min, max } => t.text(
            locale,
            "setup.problem.number",
            &[("min", Arg::Number(*min)), ("max", Arg::Number(*max))],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::setup::Rates;

    fn texts() -> Catalog {
        crate::texts::catalog().unwrap()
    }

    #[test]
    fn cards_are_masked_and_secrets_shown_only_as_on_or_off() {
        let t = texts();
        let setup = PaymentSetup {
            cards: vec![Card::new("6037991234567810", "Sara <b>", "Melli").unwrap()],
            card_auto_approve_minutes: Some(30),
            stars: true,
            rates: Rates {
                toman_per_usd: None,
                toman_per_star: Some(1_500),
            },
            ..PaymentSetup::default()
        };
        let en = super::setup(&t, Locale::En, &setup, None);
        assert!(en.text.contains("6037 99** **** 7810"), "{}", en.text);
        assert!(!en.text.contains("6037991234567810"), "{}", en.text);
        assert!(en.text.contains("Sara &lt;b&gt;"), "{}", en.text);
        assert!(en.text.contains("1,500 Toman"), "{}", en.text);
        assert!(en.text.contains("30"), "{}", en.text);
        let fa = super::setup(&t, Locale::Fa, &setup, None);
        assert!(fa.text.contains("۱٬۵۰۰ تومان"), "{}", fa.text);
    }

    #[test]
    fn an_empty_setup_says_what_is_off() {
        let t = texts();
        let screen = super::setup(&t, Locale::En, &PaymentSetup::default(), None);
        assert!(screen.text.contains("No cards"), "{}", screen.text);
        assert_eq!(masked("123"), "****");
    }
}
