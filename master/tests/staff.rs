//! Card-to-card payments decided by staff in the staff group, and support tickets answered
//! there, told as the customer and the staff live them. On SQLite and PostgreSQL.

mod support;

use std::time::Duration;

use master::app::Extras;
use master::billing::subscriptions;
use master::customers;
use sandbox::client::{ChatMessage, Sender};
use shared::db::Engine;
use shared::payment::CardAccount;
use shared::secret::Keyring;
use shared::telegram::TelegramId;
use support::{world_full, World};

/// A master that sells by card to card, with a staff group holding the bot and one staff member.
async fn with_staff(engine: Engine) -> Option<(World, i64, i64)> {
    let w = world_full(
        engine,
        |c| {
            c.secret_keys = vec![Keyring::generate_key_line("k1")];
            // The staff group reads the default language.
            c.default_locale = shared::i18n::Locale::En;
            c.payments.cards =
                vec![CardAccount::new("6037991234567810", "Reza Tehrani", "Bank Melli").unwrap()];
        },
        |_: &str| Extras::default(),
    )
    .await?;
    let group = w
        .control
        .create_chat("supergroup", None, "Madar staff")
        .await
        .unwrap();
    w.control
        .set_member(group, w.master_bot.id, "administrator")
        .await
        .unwrap();
    let staff = w
        .control
        .create_user("Nika", Some("nika_staff"), Some("en"))
        .await
        .unwrap();
    w.control.set_member(group, staff, "member").await.unwrap();
    // The group exists only once the sandbox does: restart the master with it configured.
    let mut w = w;
    w.config.staff_chat_id = Some(group);
    w.restart().await;
    Some((w, group, staff))
}

async fn group_messages(w: &World, group: i64) -> Vec<ChatMessage> {
    w.control.channel_messages(group).await.unwrap()
}

/// Waits for a bot message in the group whose text or caption contains `needle`.
async fn in_group(w: &World, group: i64, needle: &str) -> ChatMessage {
    let deadline = tokio::time::Instant::now() + support::WAIT;
    loop {
        let messages = group_messages(w, group).await;
        if let Some(m) = messages
            .iter()
            .rev()
            .find(|m| m.from == Sender::Bot && m.body().contains(needle))
        {
            return m.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no group message with {needle:?}: {messages:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn buy_by_card(w: &World, user: i64) {
    let home = w.say(user, "/start").await;
    w.press_label(user, &home, "Starter").await;
    let detail = w.wait_for_text(user, "Monthly price").await;
    w.press_label(user, &detail, "Buy").await;
    let periods = w.wait_for_text(user, "Choose how long").await;
    w.press_label(user, &periods, "1 month").await;
    let methods = w.wait_for_text(user, "Choose how to pay").await;
    w.press_label(user, &methods, "Card to card").await;
    let checkout = w.wait_for_text(user, "Transfer").await;
    assert!(
        checkout.body().contains("6037-9912-3456-7810"),
        "{}",
        checkout.body()
    );
    assert!(
        checkout.body().contains("Reza Tehrani"),
        "{}",
        checkout.body()
    );
    assert!(
        checkout.body().contains("290,000 Toman"),
        "{}",
        checkout.body()
    );
    let receipt = w
        .control
        .send_photo(
            &w.master_bot.token,
            user,
            sandbox::files::TINY_PNG,
            Some("paid"),
        )
        .await
        .unwrap();
    w.next_answer(user, receipt.message_id).await;
    w.wait_for_text(user, "Receipt received").await;
}

async fn staff_approve_a_card_receipt_and_reject_another_with_a_reason(engine: Engine) {
    let Some((w, group, staff)) = with_staff(engine).await else {
        return;
    };
    let token = w.master_bot.token.clone();

    let sara = w.user("Sara", "en").await;
    buy_by_card(&w, sara).await;
    let receipt = in_group(&w, group, "Customer: Sara").await;
    assert!(
        receipt.photo_file_id.is_some(),
        "staff see the receipt photo"
    );
    assert!(receipt.body().contains("Sara"), "{}", receipt.body());
    let approve = receipt.button_data("✅").unwrap();

    w.control
        .press_in_group(group, &token, staff, receipt.message_id, &approve)
        .await
        .unwrap();
    in_group(&w, group, "Approved by @nika_staff").await;
    w.wait_for_text(sara, "Your payment").await;
    w.wait_for_text(sara, "Setting up your bot").await;
    let customer = customers::find_by_telegram_id(&w.app().db, TelegramId::new(sara))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        subscriptions::for_customer(&w.app().db, &customer.id)
            .await
            .unwrap()
            .len(),
        1
    );

    // The decided receipt loses its buttons; a decision replayed anyway applies nothing twice.
    assert!(
        w.control
            .press_in_group(group, &token, staff, receipt.message_id, &approve)
            .await
            .is_err(),
        "the buttons are gone once decided"
    );
    let payment_id = approve.trim_start_matches("sa:");
    let again = master::checkout::approve_receipt(&w.app().db, 0, payment_id, "@nika_staff")
        .await
        .unwrap();
    assert_eq!(again, master::billing::payments::Outcome::AlreadyApplied);
    assert_eq!(
        subscriptions::for_customer(&w.app().db, &customer.id)
            .await
            .unwrap()
            .len(),
        1
    );

    // Omid's receipt is rejected, with the reason staff type in the group.
    let omid = w.user("Omid", "en").await;
    buy_by_card(&w, omid).await;
    let receipt = in_group(&w, group, "Customer: Omid").await;
    let reject = receipt.button_data("❌").unwrap();
    w.control
        .press_in_group(group, &token, staff, receipt.message_id, &reject)
        .await
        .unwrap();
    in_group(&w, group, "reason for rejecting").await;
    w.control
        .send_to_group(group, staff, "The amount on the receipt is 29,000")
        .await
        .unwrap();
    in_group(&w, group, "Rejected by @nika_staff").await;
    let told = w.wait_for_text(omid, "was rejected").await;
    assert!(told.body().contains("29,000"), "{}", told.body());
    let omid_customer = customers::find_by_telegram_id(&w.app().db, TelegramId::new(omid))
        .await
        .unwrap()
        .unwrap();
    assert!(subscriptions::for_customer(&w.app().db, &omid_customer.id)
        .await
        .unwrap()
        .is_empty());
    w.stop().await;
}

async fn a_support_ticket_is_answered_from_the_staff_group(engine: Engine) {
    let Some((w, group, staff)) = with_staff(engine).await else {
        return;
    };
    let token = w.master_bot.token.clone();
    let mina = w.user("Mina", "en").await;
    let asked = w.say(mina, "/support").await;
    assert!(
        asked.body().contains("Write your message"),
        "{}",
        asked.body()
    );
    let sent = w.say(mina, "My bot does not answer, please help").await;
    assert!(sent.body().contains("reached support"), "{}", sent.body());
    let ticket = in_group(&w, group, "My bot does not answer").await;
    let reply = ticket.button_data("✍️").unwrap();
    w.control
        .press_in_group(group, &token, staff, ticket.message_id, &reply)
        .await
        .unwrap();
    in_group(&w, group, "Write the answer").await;
    w.control
        .send_to_group(group, staff, "Restart it from My bots; it is fixed now")
        .await
        .unwrap();
    in_group(&w, group, "answer was sent").await;
    let answer = w.wait_for_text(mina, "Support answers").await;
    assert!(
        answer.body().contains("Restart it from My bots"),
        "{}",
        answer.body()
    );
    w.stop().await;
}

/// Telegram Stars: the invoice in the chat, the pre-checkout check, the payment applied once.
async fn a_customer_pays_in_telegram_stars(engine: Engine) {
    let Some(w) = world_full(
        engine,
        |c| {
            c.secret_keys = vec![Keyring::generate_key_line("k1")];
            c.payments.stars = true;
        },
        |_: &str| Extras::default(),
    )
    .await
    else {
        return;
    };
    let token = w.master_bot.token.clone();
    let leila = w.user("Leila", "en").await;
    let home = w.say(leila, "/start").await;
    w.press_label(leila, &home, "Starter").await;
    let detail = w.wait_for_text(leila, "Monthly price").await;
    w.press_label(leila, &detail, "Buy").await;
    let periods = w.wait_for_text(leila, "Choose how long").await;
    w.press_label(leila, &periods, "1 month").await;
    let methods = w.wait_for_text(leila, "Choose how to pay").await;
    w.press_label(leila, &methods, "Telegram Stars").await;
    let deadline = tokio::time::Instant::now() + support::WAIT;
    let invoice = loop {
        let chat = w.chat(leila).await;
        if let Some(m) = chat.iter().rev().find(|m| m.invoice.is_some()) {
            break m.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no invoice: {chat:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(invoice.invoice.as_ref().unwrap()["total_amount"], 400);
    let paid = w
        .control
        .pay(&token, leila, invoice.message_id)
        .await
        .unwrap();
    assert_eq!(paid.status, "paid", "{paid:?}");
    w.wait_for_text(leila, "Your payment").await;
    let customer = customers::find_by_telegram_id(&w.app().db, TelegramId::new(leila))
        .await
        .unwrap()
        .unwrap();
    let subs = subscriptions::for_customer(&w.app().db, &customer.id)
        .await
        .unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].currency, shared::money::Currency::Xtr);
    // Paying the same invoice again is refused at the pre-checkout step.
    let again = w
        .control
        .pay(&token, leila, invoice.message_id)
        .await
        .unwrap();
    assert_ne!(again.status, "paid", "{again:?}");
    assert_eq!(
        subscriptions::for_customer(&w.app().db, &customer.id)
            .await
            .unwrap()
            .len(),
        1
    );
    w.stop().await;
}

/// Receipts nobody decided are approved after the configured time.
async fn an_undecided_receipt_is_approved_after_the_set_time(engine: Engine) {
    let Some((w, _, _)) = with_staff(engine).await else {
        return;
    };
    let sara = w.user("Sara", "en").await;
    buy_by_card(&w, sara).await;
    let db = &w.app().db;
    let mut gateways = master::checkout::Gateways::from_config(&w.config).unwrap();
    gateways.auto_approve = shared::payment::card::AutoApprove::After { minutes: 30 };
    let now = shared::db::now_unix();
    assert_eq!(
        master::checkout::auto_approve_due(db, &gateways, now + 60)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        master::checkout::auto_approve_due(db, &gateways, now + 31 * 60)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        master::checkout::auto_approve_due(db, &gateways, now + 32 * 60)
            .await
            .unwrap(),
        0
    );
    // Sara is told; the message waits in the outbox for the moved clock's time.
    let told = master::outbox::keys_with_prefix(db, "telegram:paid:")
        .await
        .unwrap();
    assert_eq!(told.len(), 1, "{told:?}");
    let totals = master::billing::payments::card_totals(db).await.unwrap();
    assert_eq!(
        totals,
        vec![(
            "6037991234567810".to_string(),
            shared::money::Money::toman(290_000)
        )]
    );
    w.stop().await;
}

shared::on_both_engines!(
    a_customer_pays_in_telegram_stars,
    an_undecided_receipt_is_approved_after_the_set_time,
    staff_approve_a_card_receipt_and_reject_another_with_a_reason,
    a_support_ticket_is_answered_from_the_staff_group,
);
