//! What the bot shows around paying through a gateway: top-up amounts, the ways to pay, each
//! kind of checkout, what a payment came to, and the receipt an admin decides.

use shared::i18n::{Arg, Catalog, Locale};
use shared::money::Money;
use shared::payment::Method;

use super::actions::{Action, Page};
use super::screen::{Button, Screen};
use super::shop_screens::{button, home_button};
use crate::payments::{Outcome, Payment};

/// Amounts offered on the top-up screen, in Toman.
pub const TOP_UP_AMOUNTS: [i64; 4] = [50_000, 100_000, 200_000, 500_000];

/// A method and what the buyer pays with it.
pub type Priced = (Method, Money);

fn method_key(method: Method) -> &'static str {
    match method {
        Method::CardToCard => "pay.method.card",
        Method::Zarinpal => "pay.method.zarinpal",
        Method::NowPayments => "pay.method.nowpayments",
        Method::TelegramStars => "pay.method.stars",
    }
}

/// "💳 Card to card · 50,000 Toman".
pub fn method_label(t: &Catalog, locale: Locale, method: Method, price: Money) -> String {
    t.text(locale, method_key(method), &[("price", Arg::Money(price))])
}

pub fn top_up(t: &Catalog, locale: Locale) -> Screen {
    let mut keyboard: Vec<Vec<Button>> = TOP_UP_AMOUNTS
        .chunks(2)
        .map(|pair| {
            pair.iter()
                .map(|toman| {
                    Button::action(
                        Money::toman(*toman).format(locale),
                        Action::Show(Page::TopUpMethods(*toman)),
                    )
                })
                .collect()
        })
        .collect();
    keyboard.push(vec![Button::action(
        t.text(locale, "pay.button_other_amount", &[]),
        Action::CustomTopUp,
    )]);
    keyboard.push(vec![button(t, locale, "button_back", Page::Wallet)]);
    Screen {
        text: t.text(locale, "pay.top_up_title", &[]),
        keyboard,
    }
}

/// The ways to pay for a top-up of `amount`.
pub fn top_up_methods(t: &Catalog, locale: Locale, amount: Money, offered: &[Priced]) -> Screen {
    if offered.is_empty() {
        return Screen::text(t.text(locale, "pay.no_methods", &[])).with_row(vec![button(
            t,
            locale,
            "button_back",
            Page::Wallet,
        )]);
    }
    let mut keyboard: Vec<Vec<Button>> = offered
        .iter()
        .map(|(method, price)| {
            vec![Button::action(
                method_label(t, locale, *method, *price),
                Action::TopUpWith(amount.minor(), *method),
            )]
        })
        .collect();
    keyboard.push(vec![button(t, locale, "button_back", Page::TopUp)]);
    Screen {
        text: t.text_html(
            locale,
            "pay.choose_method",
            &[("amount", Arg::Money(amount))],
        ),
        keyboard,
    }
}

/// Card to card: where to send the money, and to send the receipt's photo here.
pub fn card(
    t: &Catalog,
    locale: Locale,
    amount: Money,
    number: &str,
    owner: &str,
    bank: &str,
) -> Screen {
    Screen::text(t.text_html(
        locale,
        "pay.card",
        &[
            ("amount", Arg::Money(amount)),
            ("number", Arg::Code(number)),
            ("owner", Arg::Text(owner)),
            ("bank", Arg::Text(bank)),
        ],
    ))
    .with_row(vec![home_button(t, locale)])
}

/// A gateway page to pay at, and a button to check once paid.
pub fn redirect(
    t: &Catalog,
    locale: Locale,
    method: Method,
    url: &str,
    amount: Money,
    payment_id: &str,
) -> Screen {
    let label = method_label(t, locale, method, amount);
    Screen {
        text: t.text_html(locale, "pay.redirect", &[("amount", Arg::Money(amount))]),
        keyboard: vec![
            vec![Button::url(label, url.to_string())],
            vec![Button::action(
                t.text(locale, "pay.button_check", &[]),
                Action::CheckPayment(payment_id.to_string()),
            )],
        ],
    }
}

/// What a payment came to, for its buyer. `delivery`: a text key saying where the order it
/// paid stands, when it paid one.
pub fn outcome(
    t: &Catalog,
    locale: Locale,
    outcome: &Outcome,
    payment_id: &str,
    delivery: Option<&str>,
) -> Screen {
    let mut text = match outcome {
        Outcome::Credited(confirmed) => t.text_html(
            locale,
            "pay.credited",
            &[("amount", Arg::Money(confirmed.credited))],
        ),
        Outcome::AlreadyApplied => t.text(locale, "pay.already_applied", &[]),
        Outcome::Pending => t.text(locale, "pay.pending", &[]),
        Outcome::Failed { .. } => t.text(locale, "pay.failed", &[]),
        Outcome::PartiallyPaid { .. } | Outcome::Mismatch { .. } => {
            t.text(locale, "pay.mismatch", &[])
        }
        Outcome::Rejected { reason } => {
            t.text_html(locale, "pay.rejected", &[("reason", Arg::Text(reason))])
        }
        Outcome::Unknown => t.text(locale, "refusal.payment.no_such_payment", &[]),
    };
    if let Some(key) = delivery {
        text.push_str("\n\n");
        text.push_str(&t.text(locale, key, &[]));
    }
    let mut keyboard = Vec::new();
    if *outcome == Outcome::Pending {
        keyboard.push(vec![Button::action(
            t.text(locale, "pay.button_check", &[]),
            Action::CheckPayment(payment_id.to_string()),
        )]);
    }
    keyboard.push(vec![
        button(t, locale, "button_services", Page::Services),
        button(t, locale, "button_wallet", Page::Wallet),
    ]);
    Screen { text, keyboard }
}

/// The caption of a receipt for the shop's admins, with its decision buttons.
pub fn receipt(t: &Catalog, locale: Locale, payment: &Payment) -> Screen {
    let card = payment.card_number.clone().unwrap_or_default();
    let purpose = match &payment.order_id {
        Some(_) => t.text(locale, "pay.receipt_for_order", &[]),
        None => t.text(locale, "pay.receipt_for_top_up", &[]),
    };
    Screen {
        text: t.text_html(
            locale,
            "pay.receipt",
            &[
                ("user", Arg::Code(&payment.telegram_id.to_string())),
                ("amount", Arg::Money(payment.amount)),
                ("card", Arg::Code(&card)),
                ("purpose", Arg::Text(&purpose)),
                ("payment", Arg::Code(&payment.id)),
            ],
        ),
        keyboard: vec![vec![
            Button::action(
                t.text(locale, "pay.button_approve", &[]),
                Action::Approve(payment.id.clone()),
            ),
            Button::action(
                t.text(locale, "pay.button_reject", &[]),
                Action::Reject(payment.id.clone()),
            ),
        ]],
    }
}
