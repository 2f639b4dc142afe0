//! The shop's owner sets up, from the bot, how customers pay: a card for card to card,
//! Telegram Stars with a rate, the Zarinpal merchant id and the NowPayments keys. Customers
//! see the change at their next payment; customers cannot reach the setup at all; secrets are
//! stored sealed and their messages vanish from the chat. On SQLite and PostgreSQL.

mod shop_support;

use sandbox::gateways::zarinpal::{FakeZarinpal, ZarinpalOptions};
use shared::db::Engine;
use shop_support::{now, world, world_with, World, WAIT};
use tenant_bot::payments::{GatewayUrls, PaymentSetup};
use tenant_bot::settings;

const MELLI: &str = "6037991234567810";
const MERCHANT: &str = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
const API_KEY: &str = "NPKEY01-7QWERTY-ASDFGH2-ZXCVBN3";
const IPN_SECRET: &str = "ipn-Secret-5e1f9a7c3b";

async fn owner_of(w: &World) -> i64 {
    let owner = w.user("Owner", "en").await;
    tenant_bot::admins::set_owner(&w.db, owner, now())
        .await
        .unwrap();
    owner
}

/// The stored payment setup, as the database row holds it.
async fn stored_setup_row(w: &World) -> String {
    sqlx::query_scalar("SELECT value FROM settings WHERE name = 'payments'")
        .fetch_one(w.db.pool())
        .await
        .unwrap()
}

/// Sends `text` as `user`, waits for a bot message after it that contains `needle`, and
/// returns it with the id of the message sent.
async fn say_and_wait(w: &World, user: i64, text: &str, needle: &str) -> (i64, String) {
    let sent = w.control.send(&w.token, user, text).await.unwrap();
    let answer = w
        .wait_for(user, |m| {
            m.message_id > sent.message_id && m.body().contains(needle)
        })
        .await;
    (sent.message_id, answer.body().to_string())
}

async fn the_owner_adds_a_card_and_stars_and_a_customer_pays_to_that_card(engine: Engine) {
    let Some(w) = world(engine).await else {
        return;
    };
    let owner = owner_of(&w).await;
    let home = w.say(owner, "/start").await;
    let setup = w
        .press(owner, &home, "Payment setup", "Payment setup")
        .await;
    assert!(setup.body().contains("No cards"), "{}", setup.body());

    // A mistyped number first: the owner is told what is wrong and asked again.
    let ask = w
        .press(owner, &setup, "Add a card", "16-digit number")
        .await;
    assert!(ask.body().contains("/cancel"), "{}", ask.body());
    let wrong = w.say(owner, "6037-9912-3456-1234").await;
    assert!(wrong.body().contains("mistyped"), "{}", wrong.body());
    let short = w.say(owner, "6037 9912").await;
    assert!(
        short.body().contains("16 digits; that one has 8"),
        "{}",
        short.body()
    );
    // Then the right one, in Persian digits as a phone keyboard may type it.
    let holder = w.say(owner, "۶۰۳۷ ۹۹۱۲ ۳۴۵۶ ۷۸۱۰").await;
    assert!(holder.body().contains("holder's name"), "{}", holder.body());
    assert!(holder.body().contains("6037 99** **** 7810"));
    let bank = w.say(owner, "Sara Ahmadi").await;
    assert!(bank.body().contains("bank's name"), "{}", bank.body());
    let added = w.say(owner, "Melli").await;
    assert!(added.body().contains("Card added"), "{}", added.body());
    assert!(
        added
            .body()
            .contains("6037 99** **** 7810 · Sara Ahmadi · Melli"),
        "{}",
        added.body()
    );

    // Stars: a rate (in Persian digits), then on.
    w.press(owner, &added, "Toman per star", "Telegram Star worth")
        .await;
    let bad = w.say(owner, "a lot").await;
    assert!(bad.body().contains("whole number"), "{}", bad.body());
    let rated = w.say(owner, "۱٬۰۰۰").await;
    assert!(rated.body().contains("Star rate saved"), "{}", rated.body());
    let on = w
        .press(owner, &rated, "Turn Stars on", "Telegram Stars is on")
        .await;
    assert!(on.body().contains("1 ⭐ = 1,000 Toman"), "{}", on.body());

    // A customer tops up: both ways are offered, and card to card shows the new card.
    let kate = w.user("Kate", "en").await;
    let wallet = w.say(kate, "/wallet").await;
    let amounts = w.press(kate, &wallet, "Top up", "Choose an amount").await;
    let methods = w
        .press(kate, &amounts, "50,000 Toman", "Choose how to pay")
        .await;
    assert!(
        methods.button_data("Telegram Stars · 50 ⭐").is_some(),
        "{methods:#?}"
    );
    let card = w
        .press(
            kate,
            &methods,
            "Card to card · 50,000 Toman",
            "Transfer exactly",
        )
        .await;
    assert!(card.body().contains(MELLI), "{}", card.body());
    assert!(
        card.body().contains("Sara Ahmadi · Melli"),
        "{}",
        card.body()
    );

    // Kate sends the receipt; the owner approves it; the wallet is credited.
    let receipt = tenant_bot::bot::qr::png("a receipt").unwrap();
    w.control
        .send_photo(&w.token, kate, &receipt, None)
        .await
        .unwrap();
    w.wait_for_text(kate, "Receipt received").await;
    let review = w.wait_for_text(owner, "Receipt to review").await;
    w.press(owner, &review, "Approve", "Approved").await;
    w.wait_for_text(kate, "was added to your wallet").await;
    assert_eq!(w.balance(kate).await, 50_000);

    // The owner removes the card (after confirming): card to card is off for the next payment.
    let setup = w.say(owner, "/setup").await;
    let confirm = w
        .press(owner, &setup, "Remove card …7810", "Remove this card?")
        .await;
    let removed = w
        .press(owner, &confirm, "Yes, remove it", "Card removed")
        .await;
    assert!(removed.body().contains("No cards"), "{}", removed.body());
    let wallet = w.say(kate, "/wallet").await;
    let amounts = w.press(kate, &wallet, "Top up", "Choose an amount").await;
    let methods = w
        .press(kate, &amounts, "50,000 Toman", "Choose how to pay")
        .await;
    assert!(
        methods.button_data("Card to card").is_none(),
        "{methods:#?}"
    );
    w.stop().await;
}

async fn people_who_are_not_admins_get_nothing_from_the_setup(engine: Engine) {
    let Some(w) = world(engine).await else {
        return;
    };
    let owner = owner_of(&w).await;

    // A customer sees no setup, and /setup is a command the bot does not know.
    let omid = w.user("Omid", "en").await;
    let home = w.say(omid, "/start").await;
    assert!(home.button_data("Payment setup").is_none(), "{home:#?}");
    let refused = w.say(omid, "/setup").await;
    assert!(
        refused.body().contains("I don't know that command"),
        "{}",
        refused.body()
    );

    // Kate was an admin: she opened the setup and was asked for the dollar rate. Then she was
    // removed from the staff. Her old buttons are stale to her, and nothing changes.
    let kate = w.user("Kate", "en").await;
    tenant_bot::admins::add(&w.db, kate, tenant_bot::admins::Role::Admin, now())
        .await
        .unwrap();
    let setup = w.say(kate, "/setup").await;
    assert!(setup.body().contains("Payment setup"), "{}", setup.body());
    let again = w.say(kate, "/setup").await;
    let question = w
        .press(kate, &again, "Toman per dollar", "one US dollar")
        .await;
    sqlx::query("DELETE FROM admins WHERE telegram_id = $1")
        .bind(kate)
        .execute(w.db.pool())
        .await
        .unwrap();
    let answer = w.say(kate, "60000").await;
    assert!(
        answer.body().contains("use the buttons"),
        "{}",
        answer.body()
    );
    for label in ["Add a card", "Turn Stars on", "Set Zarinpal merchant id"] {
        let data = setup.button_data(label).unwrap();
        let last = w.last_message_id(kate).await;
        let pressed = w
            .control
            .press(&w.token, kate, setup.message_id, &data)
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        let answer = loop {
            let answer = w
                .control
                .callback_answer(&w.token, &pressed.callback_query_id)
                .await
                .unwrap();
            if answer.answered {
                break answer;
            }
            assert!(tokio::time::Instant::now() < deadline, "never answered");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert_eq!(
            answer.text.as_deref(),
            Some("This button is no longer valid. Send /start for a fresh menu."),
            "{label}"
        );
        assert_eq!(w.last_message_id(kate).await, last, "no screen for {label}");
    }
    let chat = w.chat(kate).await;
    let shown = chat.iter().find(|m| m.message_id == question.message_id);
    assert_eq!(shown, Some(&question), "her last screen is left as it was");
    let waiting: Option<String> =
        sqlx::query_scalar("SELECT kind FROM conversations WHERE telegram_id = $1")
            .bind(kate)
            .fetch_optional(w.db.pool())
            .await
            .unwrap();
    assert_eq!(waiting, None, "the bot waits for nothing from Kate");
    let stored: PaymentSetup = settings::get(&w.db).await.unwrap();
    assert_eq!(stored, PaymentSetup::default(), "nothing was set up");

    // The owner leaves a question with /cancel: the next number is not taken as a rate.
    let setup = w.say(owner, "/setup").await;
    w.press(owner, &setup, "Toman per dollar", "one US dollar")
        .await;
    let home = w.say(owner, "/cancel").await;
    assert!(home.button_data("Payment setup").is_some(), "{home:#?}");
    let answer = w.say(owner, "60000").await;
    assert!(
        answer.body().contains("use the buttons"),
        "{}",
        answer.body()
    );
    let stored: PaymentSetup = settings::get(&w.db).await.unwrap();
    assert_eq!(stored.rates.toman_per_usd, None);
    w.stop().await;
}

async fn gateway_keys_are_stored_sealed_and_their_messages_deleted(engine: Engine) {
    let options = ZarinpalOptions {
        merchant_id: MERCHANT.into(),
    };
    let zarinpal = FakeZarinpal::start("127.0.0.1:0".parse().unwrap(), options)
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
    let owner = owner_of(&w).await;
    let setup = w.say(owner, "/setup").await;

    // Zarinpal: a wrong id is explained (and removed too: it may be a mistyped secret).
    w.press(owner, &setup, "Set Zarinpal merchant id", "36-character")
        .await;
    let (sent, answer) = say_and_wait(&w, owner, "12345", "not a Zarinpal merchant id").await;
    assert!(answer.contains("8-4-4-4-12"), "{answer}");
    let (sent_id, saved) = say_and_wait(&w, owner, MERCHANT, "merchant id saved").await;
    assert!(saved.contains("Zarinpal: ✅ on"), "{saved}");
    let chat = w.chat(owner).await;
    for id in [sent, sent_id] {
        assert!(
            chat.iter().all(|m| m.message_id != id),
            "message {id} is deleted"
        );
    }
    assert!(chat.iter().all(|m| !m.body().contains(MERCHANT)));
    let row = stored_setup_row(&w).await;
    assert!(row.contains("zarinpal"), "{row}");
    assert!(!row.contains(MERCHANT), "the merchant id is sealed: {row}");

    // NowPayments: the key, then the IPN secret; the key waits sealed between the two.
    let setup = w.say(owner, "/setup").await;
    w.press(owner, &setup, "Set NowPayments keys", "Step 1 of 2")
        .await;
    let (key_id, _) = say_and_wait(&w, owner, API_KEY, "Step 2 of 2").await;
    let waiting: String =
        sqlx::query_scalar("SELECT data FROM conversations WHERE telegram_id = $1")
            .bind(owner)
            .fetch_one(w.db.pool())
            .await
            .unwrap();
    assert!(
        !waiting.contains(API_KEY),
        "the pending key is sealed: {waiting}"
    );
    let (secret_id, saved) = say_and_wait(&w, owner, IPN_SECRET, "NowPayments keys saved").await;
    assert!(saved.contains("set the dollar rate"), "{saved}");
    let chat = w.chat(owner).await;
    for id in [key_id, secret_id] {
        assert!(chat.iter().all(|m| m.message_id != id), "{id} is deleted");
    }
    let row = stored_setup_row(&w).await;
    for secret in [MERCHANT, API_KEY, IPN_SECRET] {
        assert!(
            !row.contains(secret),
            "{secret} is stored in the clear: {row}"
        );
    }

    // The next payment uses the merchant id the owner gave.
    let omid = w.user("Omid", "en").await;
    let wallet = w.say(omid, "/wallet").await;
    let amounts = w.press(omid, &wallet, "Top up", "Choose an amount").await;
    let methods = w
        .press(omid, &amounts, "100,000 Toman", "Choose how to pay")
        .await;
    w.press(
        omid,
        &methods,
        "Zarinpal · 100,000 Toman",
        "When you have paid",
    )
    .await;
    assert_eq!(zarinpal.payments().len(), 1, "Zarinpal took the request");

    // Turned off, it is not offered any more.
    let setup = w.say(owner, "/setup").await;
    w.press(owner, &setup, "Turn Zarinpal off", "Zarinpal is off")
        .await;
    // Nothing else is offered (NowPayments waits for a dollar rate): no top-up at all.
    let wallet = w.say(omid, "/wallet").await;
    assert!(wallet.button_data("Top up").is_none(), "{wallet:#?}");
    assert!(
        wallet.body().contains("takes no online payments"),
        "{}",
        wallet.body()
    );
    w.stop().await;
}

shared::on_both_engines!(
    the_owner_adds_a_card_and_stars_and_a_customer_pays_to_that_card,
    people_who_are_not_admins_get_nothing_from_the_setup,
    gateway_keys_are_stored_sealed_and_their_messages_deleted,
);
