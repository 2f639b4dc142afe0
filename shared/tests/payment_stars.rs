//! Telegram Stars through a real teloxide `Bot` against the Telegram sandbox: invoice,
//! pre-checkout check, successful payment, refund.

mod payment_common;

use std::time::Duration;

use sandbox::client::ControlClient;
use sandbox::{Sandbox, SandboxOptions};
use shared::i18n::Locale;
use shared::money::Money;
use shared::payment::stars::{self, CheckoutRefusal, Refund, StarsGateway, StarsInvoice};
use shared::payment::{Checkout, Gateway, PaymentError, PaymentRequest, PendingPayment, Verdict};
use teloxide::prelude::*;
use teloxide::types::{PreCheckoutQuery, SuccessfulPayment, Update, UpdateKind};

struct Env {
    sandbox: Sandbox,
    control: ControlClient,
    bot: Bot,
    token: String,
    user: i64,
}

async fn start() -> Env {
    let sandbox = Sandbox::start(payment_common::loopback(), SandboxOptions::fast_for_tests())
        .await
        .unwrap();
    let control = ControlClient::new(&sandbox.url());
    let info = control
        .create_bot("stars_shop_bot", "Stars Shop")
        .await
        .unwrap();
    let user = control
        .create_user("Sara", Some("sara"), Some("fa"))
        .await
        .unwrap();
    control.send(&info.token, user, "/start").await.unwrap();
    let bot = Bot::new(&info.token).set_api_url(reqwest::Url::parse(&sandbox.url()).unwrap());
    // Skip the /start update.
    let first = bot.get_updates().await.unwrap();
    let offset = first.last().map(|u| u.id.0 as i32 + 1).unwrap_or(0);
    bot.get_updates().offset(offset).await.unwrap();
    Env {
        sandbox,
        control,
        bot,
        token: info.token,
        user,
    }
}

fn expected(invoice_id: &str, stars: i64) -> PendingPayment {
    PendingPayment {
        invoice_id: invoice_id.into(),
        amount: Money::stars(stars),
        provider_ref: None,
    }
}

/// Polls getUpdates until `pick` finds something.
async fn next_update<T>(bot: &Bot, pick: impl Fn(&Update) -> Option<T>) -> T {
    for _ in 0..200 {
        for update in bot.get_updates().await.unwrap() {
            // Confirm it so the next poll does not see it again.
            bot.get_updates()
                .offset(update.id.0 as i32 + 1)
                .await
                .unwrap();
            if let Some(found) = pick(&update) {
                return found;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the expected update never came");
}

fn pre_checkout(update: &Update) -> Option<PreCheckoutQuery> {
    match &update.kind {
        UpdateKind::PreCheckoutQuery(query) => Some(query.clone()),
        _ => None,
    }
}

fn successful_payment(update: &Update) -> Option<SuccessfulPayment> {
    match &update.kind {
        UpdateKind::Message(message) => message.successful_payment().cloned(),
        _ => None,
    }
}

#[tokio::test]
async fn a_stars_payment_is_checked_paid_and_refunded_once() {
    let env = start().await;
    // The gateway names the invoice; the bot sends it.
    let checkout = StarsGateway
        .start(&PaymentRequest::new(
            "inv-s1",
            Money::stars(150),
            "1 month VPN",
        ))
        .await
        .unwrap();
    let Checkout::TelegramInvoice { payload, price_xtr } = checkout else {
        panic!("expected a Telegram invoice, got {checkout:?}");
    };
    assert_eq!((payload.as_str(), price_xtr), ("inv-s1", 150));
    let invoice =
        StarsInvoice::new("1 month VPN", "30 days, 50 GB", &payload, Money::stars(150)).unwrap();
    let message = invoice.send(&env.bot, ChatId(env.user)).await.unwrap();
    assert_eq!(message.invoice().map(|i| i.total_amount), Some(150));

    let control = env.control.clone();
    let (token, user, message_id) = (env.token.clone(), env.user, message.id.0 as i64);
    let payer = tokio::spawn(async move { control.pay(&token, user, message_id).await.unwrap() });

    let query = next_update(&env.bot, pre_checkout).await;
    let check = stars::check_pre_checkout(&query, &expected("inv-s1", 150));
    assert_eq!(check, Ok(()));
    stars::answer_pre_checkout(&env.bot, &query, &check, Locale::Fa)
        .await
        .unwrap();
    let paid = payer.await.unwrap();
    assert_eq!(paid.status, "paid");

    let success = next_update(&env.bot, successful_payment).await;
    let payment = stars::parse_successful_payment(&success).unwrap();
    assert_eq!(
        Some(payment.charge_id.clone()),
        paid.telegram_payment_charge_id
    );
    assert_eq!(payment.payload, "inv-s1");
    assert_eq!(payment.amount, Money::stars(150));
    assert_eq!(
        payment.verdict(&expected("inv-s1", 150)).unwrap(),
        Verdict::Paid {
            provider_ref: payment.charge_id.clone(),
            amount: Money::stars(150),
            already_verified: false,
            reference: Some(payment.charge_id.clone()),
        }
    );
    assert_eq!(env.control.stars(env.user).await.unwrap()["spent"], 150);

    let user_id = UserId(env.user as u64);
    assert_eq!(
        stars::refund(&env.bot, user_id, &payment.charge_id)
            .await
            .unwrap(),
        Refund::Refunded
    );
    // A retry after a crash finds it already refunded, which is fine.
    assert_eq!(
        stars::refund(&env.bot, user_id, &payment.charge_id)
            .await
            .unwrap(),
        Refund::AlreadyRefunded
    );
    assert_eq!(env.control.stars(env.user).await.unwrap()["spent"], 0);
    // An unknown charge is an error.
    assert!(matches!(
        stars::refund(&env.bot, user_id, "no-such-charge").await,
        Err(PaymentError::Telegram(_))
    ));
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_pre_checkout_for_the_wrong_amount_is_refused_with_a_reason() {
    let env = start().await;
    // An old invoice for 100 stars; the order now costs 150.
    let invoice = StarsInvoice::new("VPN", "30 days", "inv-s2", Money::stars(100)).unwrap();
    let link = invoice.link(&env.bot).await.unwrap();
    let control = env.control.clone();
    let (token, user) = (env.token.clone(), env.user);
    let payer = tokio::spawn(async move { control.pay_link(&token, user, &link).await.unwrap() });

    let query = next_update(&env.bot, pre_checkout).await;
    let check = stars::check_pre_checkout(&query, &expected("inv-s2", 150));
    assert_eq!(
        check,
        Err(CheckoutRefusal::WrongAmount {
            expected: 150,
            got: 100
        })
    );
    stars::answer_pre_checkout(&env.bot, &query, &check, Locale::En)
        .await
        .unwrap();
    let result = payer.await.unwrap();
    assert_eq!(result.status, "declined");
    let shown = result.error_message.unwrap();
    assert!(shown.contains("price of this order has changed"), "{shown}");
    assert_eq!(env.control.stars(env.user).await.unwrap()["spent"], 0);

    // The wrong payload is refused too.
    assert!(matches!(
        stars::check_pre_checkout(&query, &expected("inv-other", 100)),
        Err(CheckoutRefusal::WrongPayload { .. })
    ));
    env.sandbox.shutdown().await;
}

#[test]
fn invoices_respect_telegram_limits() {
    let ok = StarsInvoice::new("VPN", "30 days", "inv-1", Money::stars(1)).unwrap();
    assert_eq!(ok.price.amount, 1);
    for (title, description, payload, amount) in [
        ("", "d", "p", Money::stars(5)),
        (&"x".repeat(33)[..], "d", "p", Money::stars(5)),
        ("t", "", "p", Money::stars(5)),
        ("t", "d", "", Money::stars(5)),
        ("t", "d", &"p".repeat(129)[..], Money::stars(5)),
        ("t", "d", "p", Money::stars(0)),
        ("t", "d", "p", Money::stars(-3)),
    ] {
        assert!(
            matches!(
                StarsInvoice::new(title, description, payload, amount),
                Err(PaymentError::InvalidRequest(_))
            ),
            "{title:?} {description:?} {payload:?} {amount}"
        );
    }
    assert!(matches!(
        StarsInvoice::new("t", "d", "p", Money::toman(5)),
        Err(PaymentError::UnsupportedCurrency { .. })
    ));
}

#[test]
fn successful_payments_in_other_currencies_are_refused() {
    let payment: SuccessfulPayment = serde_json::from_value(serde_json::json!({
        "currency": "USD",
        "total_amount": 499,
        "invoice_payload": "inv-1",
        "telegram_payment_charge_id": "tg-1",
        "provider_payment_charge_id": "p-1",
    }))
    .unwrap();
    assert!(matches!(
        stars::parse_successful_payment(&payment),
        Err(PaymentError::BadCallback(_))
    ));
}
