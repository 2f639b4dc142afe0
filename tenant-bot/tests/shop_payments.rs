//! Paying through the shop's gateways, as an end user and the shop's admin live it: a plan
//! paid card to card (a receipt photo the admin approves in the bot, then the link arrives),
//! and a wallet top-up at Zarinpal checked with «I've paid». On SQLite and PostgreSQL.

mod shop_support;

use sandbox::gateways::zarinpal::{FakeZarinpal, ZarinpalOptions};
use shared::db::Engine;
use shared::secret::SecretString;
use shop_support::{link_in, now, start_marzban, world, world_with};
use tenant_bot::payments::setup::{Card, Rates, ZarinpalSetup};
use tenant_bot::payments::{GatewayUrls, PaymentSetup};
use tenant_bot::settings;

const MELLI: &str = "6037991234567810";

async fn a_plan_paid_card_to_card_is_delivered_once_the_admin_approves(engine: Engine) {
    let marzban = start_marzban().await;
    let Some(w) = world(engine).await else {
        return;
    };
    w.add_marzban(&marzban).await;
    w.add_plan("Silver", 10, 30, 50_000).await;
    let setup = PaymentSetup {
        cards: vec![Card::new(MELLI, "Sara Ahmadi", "Melli").unwrap()],
        ..PaymentSetup::default()
    };
    settings::set(&w.db, &setup, now()).await.unwrap();
    let owner = w.user("Owner", "en").await;
    tenant_bot::admins::set_owner(&w.db, owner, now())
        .await
        .unwrap();
    w.say(owner, "/start").await;

    let kate = w.user("Kate", "en").await;
    let home = w.say(kate, "/start").await;
    let plans = w.press(kate, &home, "Buy", "Choose a plan").await;
    let silver = w.press(kate, &plans, "Silver", "Duration").await;
    let card = w
        .press(
            kate,
            &silver,
            "Card to card · 50,000 Toman",
            "Transfer exactly",
        )
        .await;
    assert!(card.body().contains(MELLI), "{}", card.body());

    // Kate sends the receipt; the owner gets it with Approve and Reject.
    let receipt = tenant_bot::bot::qr::png("a receipt").unwrap();
    w.control
        .send_photo(&w.token, kate, &receipt, None)
        .await
        .unwrap();
    w.wait_for_text(kate, "Receipt received").await;
    let review = w.wait_for_text(owner, "Receipt to review").await;
    assert!(
        review.photo_file_id.is_some(),
        "the receipt itself is shown"
    );
    assert!(review.body().contains("50,000 Toman"), "{}", review.body());
    assert!(marzban.accounts().is_empty(), "nothing before the approval");

    let before = w.last_message_id(kate).await;
    w.press(owner, &review, "Approve", "Approved").await;
    let photo = w.wait_for_photo(kate, before).await;
    let link = link_in(photo.body());
    let accounts = marzban.accounts();
    assert_eq!(accounts.len(), 1, "one account for one payment");
    assert!(link.contains(&accounts[0].sub_id));
    assert_eq!(
        w.balance(kate).await,
        0,
        "credited, then paid for the order"
    );

    // A second tap on Approve changes nothing.
    w.press(owner, &review, "Approve", "decided already").await;
    assert_eq!(marzban.accounts().len(), 1);
    w.stop().await;
}

async fn a_wallet_top_up_at_zarinpal_is_credited_once(engine: Engine) {
    let zarinpal = FakeZarinpal::start("127.0.0.1:0".parse().unwrap(), ZarinpalOptions::default())
        .await
        .unwrap();
    let urls = GatewayUrls {
        zarinpal: zarinpal.url(),
        nowpayments: "http://127.0.0.1:9".into(),
        nowpayments_ipn: None,
        bot_username: "nimbus_vpn_bot".into(),
    };
    let Some(w) = world_with(engine, Some(urls)).await else {
        return;
    };
    let keyring = w.keyring.clone();
    let merchant = SecretString::new(ZarinpalOptions::default().merchant_id);
    let setup = PaymentSetup {
        zarinpal: Some(ZarinpalSetup::new(&keyring, &merchant).unwrap()),
        ..PaymentSetup::default()
    };
    settings::set(&w.db, &setup, now()).await.unwrap();

    let omid = w.user("Omid", "en").await;
    let wallet = w.say(omid, "/wallet").await;
    let amounts = w.press(omid, &wallet, "Top up", "Choose an amount").await;
    let methods = w
        .press(omid, &amounts, "100,000 Toman", "Choose how to pay")
        .await;
    let checkout = w
        .press(
            omid,
            &methods,
            "Zarinpal · 100,000 Toman",
            "When you have paid",
        )
        .await;
    let authority = zarinpal.payments().last().unwrap().authority.clone();

    // Omid pays at Zarinpal, comes back and presses «I've paid».
    zarinpal
        .control()
        .complete_silently(&authority)
        .await
        .unwrap();
    w.press(omid, &checkout, "I've paid", "100,000 Toman was added")
        .await;
    assert_eq!(w.balance(omid).await, 100_000);

    // Coming back from the gateway afterwards credits nothing twice.
    let payment: String = sqlx::query_scalar("SELECT id FROM payments")
        .fetch_one(w.db.pool())
        .await
        .unwrap();
    let back = w.say(omid, &format!("/start pay_{payment}")).await;
    assert!(back.body().contains("received already"), "{}", back.body());
    assert_eq!(w.balance(omid).await, 100_000);
    w.stop().await;
}

async fn a_wallet_top_up_with_telegram_stars_is_credited(engine: Engine) {
    let Some(w) = world(engine).await else {
        return;
    };
    let setup = PaymentSetup {
        stars: true,
        rates: Rates {
            toman_per_usd: None,
            toman_per_star: Some(1_000),
        },
        ..PaymentSetup::default()
    };
    settings::set(&w.db, &setup, now()).await.unwrap();
    let nika = w.user("Nika", "en").await;
    let wallet = w.say(nika, "/wallet").await;
    let amounts = w.press(nika, &wallet, "Top up", "Choose an amount").await;
    let methods = w
        .press(nika, &amounts, "50,000 Toman", "Choose how to pay")
        .await;
    let before = w.last_message_id(nika).await;
    w.press(
        nika,
        &methods,
        "Telegram Stars · 50 ⭐",
        "Pay the invoice below",
    )
    .await;
    let invoice = w
        .wait_for(nika, |m| m.message_id > before && m.invoice.is_some())
        .await;
    let paid = w
        .control
        .pay(&w.token, nika, invoice.message_id)
        .await
        .unwrap();
    assert_eq!(paid.status, "paid", "{paid:?}");
    w.wait_for_text(nika, "50,000 Toman was added").await;
    assert_eq!(w.balance(nika).await, 50_000);
    w.stop().await;
}

shared::on_both_engines!(
    a_plan_paid_card_to_card_is_delivered_once_the_admin_approves,
    a_wallet_top_up_at_zarinpal_is_credited_once,
    a_wallet_top_up_with_telegram_stars_is_credited,
);
