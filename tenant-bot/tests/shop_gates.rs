//! Who gets in, and on what terms: the free trial once per person, the tenant's channel that
//! must be joined first, the package's end-user limit (with one message to the admin), and a
//! referral remembered from the start link. On SQLite and PostgreSQL.

mod shop_support;

use std::time::Duration;

use shared::db::Engine;
use shop_support::{now, start_marzban, world, World};
use tenant_bot::bot::users;
use tenant_bot::plans::GIB;
use tenant_bot::settings::{self, Channel, Limits};

/// Waits until the bot has answered a button press, and returns the answer's text.
async fn answer_of(w: &World, callback_query_id: &str) -> String {
    let deadline = tokio::time::Instant::now() + shop_support::WAIT;
    loop {
        let answer = w
            .control
            .callback_answer(&w.token, callback_query_id)
            .await
            .unwrap();
        if answer.answered {
            return answer.text.unwrap_or_default();
        }
        assert!(tokio::time::Instant::now() < deadline, "never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn the_free_trial_works_once(engine: Engine) {
    let marzban = start_marzban().await;
    let Some(w) = world(engine).await else {
        return;
    };
    w.add_marzban(&marzban).await;
    let ali = w.user("Ali", "en").await;
    let old_menu = w.say(ali, "/start").await;
    let home = w.say(ali, "/start").await;
    let before = w.last_message_id(ali).await;
    w.press(ali, &home, "Free trial", "Done!").await;
    let photo = w.wait_for_delivery(ali, before).await;
    assert!(photo.body().contains("Free trial"), "{}", photo.body());
    let accounts = marzban.accounts();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].limit_bytes, GIB as u64, "the trial's 1 GB");

    // Once only: the menu stops offering it, and an old button is refused politely.
    let again = w.say(ali, "/start").await;
    assert!(again.button_data("Free trial").is_none());
    w.press(ali, &old_menu, "Free trial", "already had your free trial")
        .await;
    assert_eq!(marzban.accounts().len(), 1, "no second trial account");
    w.stop().await;
}

async fn the_channel_must_be_joined_first(engine: Engine) {
    let Some(w) = world(engine).await else {
        return;
    };
    let channel = w
        .control
        .create_channel(Some("nimbus_news"), "Nimbus News")
        .await
        .unwrap();
    w.control
        .set_member(channel, w.bot_id, "administrator")
        .await
        .unwrap();
    let chat = Channel {
        chat: Some("@nimbus_news".into()),
        invite_link: None,
    };
    settings::set(&w.db, &chat, now()).await.unwrap();

    let mina = w.user("Mina", "en").await;
    let gate = w.say(mina, "/start").await;
    assert!(gate.body().contains("join our channel"), "{}", gate.body());
    let link = gate.reply_markup.as_ref().unwrap()["inline_keyboard"][0][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(link, "https://t.me/nimbus_news");

    // "I've joined" before joining: still closed.
    let data = gate.button_data("I've joined").unwrap();
    let pressed = w
        .control
        .press(&w.token, mina, gate.message_id, &data)
        .await
        .unwrap();
    assert!(answer_of(&w, &pressed.callback_query_id)
        .await
        .contains("not joined the channel yet"));
    let other = w.say(mina, "/wallet").await;
    assert!(
        other.body().contains("join our channel"),
        "{}",
        other.body()
    );

    // After joining, the same button opens the shop, and it stays open.
    w.control.set_member(channel, mina, "member").await.unwrap();
    w.press(mina, &gate, "I've joined", "Welcome to").await;
    let wallet = w.say(mina, "/wallet").await;
    assert!(wallet.body().contains("Balance"), "{}", wallet.body());
    let user = users::get(&w.db, mina).await.unwrap().unwrap();
    assert!(user.joined_channel_at.is_some());
    w.stop().await;
}

async fn the_end_user_limit_turns_new_people_away_and_tells_the_admin_once(engine: Engine) {
    let Some(w) = world(engine).await else {
        return;
    };
    let owner = w.user("Owner", "en").await;
    tenant_bot::admins::set_owner(&w.db, owner, now())
        .await
        .unwrap();
    w.say(owner, "/start").await;
    let limits = Limits {
        max_end_users: Some(2),
        max_panels: None,
    };
    settings::set(&w.db, &limits, now()).await.unwrap();

    let first = w.user("First", "en").await;
    assert!(w.say(first, "/start").await.body().contains("Welcome to"));
    let second = w.user("Second", "en").await;
    let refused = w.say(second, "/start").await;
    assert!(
        refused.body().contains("not taking new users"),
        "{}",
        refused.body()
    );
    let alert = w.wait_for_text(owner, "limit of 2 users").await;
    assert!(
        alert.body().contains("Upgrade your package"),
        "{}",
        alert.body()
    );

    // Another newcomer is turned away too, without a second alert; the known user is fine.
    let third = w.user("Third", "fa").await;
    assert!(w
        .say(third, "/start")
        .await
        .body()
        .contains("کاربر جدید نمی‌پذیرد"));
    assert!(w.say(first, "/start").await.body().contains("Welcome to"));
    let alerts = w
        .chat(owner)
        .await
        .into_iter()
        .filter(|m| m.body().contains("limit of 2 users"))
        .count();
    assert_eq!(alerts, 1, "the admin hears once a day");
    assert_eq!(users::count(&w.db).await.unwrap(), 2);
    w.stop().await;
}

async fn a_referral_is_remembered_once(engine: Engine) {
    let Some(w) = world(engine).await else {
        return;
    };
    let parisa = w.user("Parisa", "fa").await;
    w.say(parisa, "/start").await;
    let omid = w.user("Omid", "fa").await;
    w.say(omid, &format!("/start ref_{parisa}")).await;
    let remembered = users::get(&w.db, omid).await.unwrap().unwrap();
    assert_eq!(remembered.referred_by, Some(parisa));
    assert_eq!(
        remembered.start_payload.as_deref(),
        Some(&*format!("ref_{parisa}"))
    );

    // Only the first start counts, and nobody refers themselves.
    w.say(omid, "/start ref_12345").await;
    let still = users::get(&w.db, omid).await.unwrap().unwrap();
    assert_eq!(still.referred_by, Some(parisa));
    let self_made = w.user("Self", "en").await;
    w.say(self_made, &format!("/start ref_{self_made}")).await;
    let alone = users::get(&w.db, self_made).await.unwrap().unwrap();
    assert_eq!(alone.referred_by, None);
    w.stop().await;
}

shared::on_both_engines!(
    the_free_trial_works_once,
    the_channel_must_be_joined_first,
    the_end_user_limit_turns_new_people_away_and_tells_the_admin_once,
    a_referral_is_remembered_once,
);
