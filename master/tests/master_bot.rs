//! The master bot's first flow, told as the customer lives it, on SQLite and PostgreSQL.

mod support;

use std::time::Duration;

use master::billing::packages;
use sandbox::client::Sender;
use shared::db::Engine;
use shared::money::Money;
use support::{world, world_with};

async fn a_persian_speaker_sees_the_packages_in_persian(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    let sara = w.user("سارا", "fa").await;

    let answer = w.say(sara, "/start").await;
    let body = answer.body();
    assert!(body.contains("سلام سارا"), "{body}");
    assert!(body.contains("استارتر"), "{body}");
    assert!(body.contains("حرفه‌ای"), "{body}");
    assert!(body.contains("سازمانی"), "{body}");
    assert!(body.contains("۲۹۰٬۰۰۰ تومان"), "{body}");
    assert!(body.contains("۱۰۰ کاربر"), "{body}");
    assert!(body.contains("کاربر نامحدود"), "{body}");
    let labels: Vec<_> = answer
        .inline_buttons()
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    assert_eq!(
        labels.len(),
        4,
        "three packages and the language switch: {labels:?}"
    );
    assert!(labels[3].contains("English"));
    w.stop().await;
}

async fn an_english_speaker_sees_the_packages_in_english(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    let alex = w.user("Alex", "en-US").await;

    let answer = w.say(alex, "/start").await;
    let body = answer.body();
    assert!(body.contains("Hello Alex"), "{body}");
    for expected in [
        "Starter",
        "Professional",
        "Enterprise",
        "1 bot(s) · 100 end users · 1 panel(s)",
        "3 bot(s) · 500 end users · 5 panel(s)",
        "unlimited bots · unlimited end users · unlimited panels",
        "290,000 Toman ($4.99) per month",
        "690,000 Toman ($11.99) per month",
        "1,490,000 Toman ($24.99) per month",
    ] {
        assert!(body.contains(expected), "missing {expected:?} in {body}");
    }
    w.stop().await;
}

async fn a_user_with_another_language_gets_the_default_persian(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    let hans = w.user("Hans", "de").await;
    let answer = w.say(hans, "/start").await;
    assert!(answer.body().contains("سلام Hans"), "{}", answer.body());
    w.stop().await;
}

async fn switching_the_language_is_remembered(engine: Engine) {
    let Some(mut w) = world(engine).await else {
        return;
    };
    let sara = w.user("Sara", "fa").await;
    let home = w.say(sara, "/start").await;
    let (_, switch) = home.inline_buttons().pop().unwrap();

    let edited = w
        .press_until(sara, home.message_id, &switch, |m| {
            m.body().contains("Hello Sara")
        })
        .await;
    assert!(edited.edited, "the same message is edited in place");
    assert!(edited.body().contains("290,000 Toman"));

    // The choice survives a new /start and even a restart of the master.
    let again = w.say(sara, "/start").await;
    assert!(again.body().contains("Hello Sara"), "{}", again.body());
    w.restart().await;
    let after_restart = w.say(sara, "/start").await;
    assert!(after_restart.body().contains("Hello Sara"));

    // And back to Persian with /language.
    let chooser = w.say(sara, "/language").await;
    let (_, persian) = chooser
        .inline_buttons()
        .into_iter()
        .find(|(label, _)| label.contains("فارسی"))
        .unwrap();
    w.press_until(sara, chooser.message_id, &persian, |m| {
        m.body().contains("سلام")
    })
    .await;
    let persian_home = w.say(sara, "/start").await;
    assert!(persian_home.body().contains("سلام Sara"));
    w.stop().await;
}

async fn a_package_opens_in_full_and_goes_back(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    let alex = w.user("Alex", "en").await;
    let home = w.say(alex, "/start").await;
    let (_, starter) = home
        .inline_buttons()
        .into_iter()
        .find(|(label, _)| label.contains("Starter"))
        .unwrap();

    let detail = w
        .press_until(alex, home.message_id, &starter, |m| {
            m.body().contains("Monthly price")
        })
        .await;
    let body = detail.body();
    assert!(body.contains("64 MB memory, 25% CPU"), "{body}");
    assert!(body.contains("or $4.99 per month"), "{body}");

    let (_, back) = detail
        .inline_buttons()
        .into_iter()
        .find(|(label, _)| label.contains("Back"))
        .unwrap();
    w.press_until(alex, home.message_id, &back, |m| {
        m.body().contains("Hello Alex")
    })
    .await;
    w.stop().await;
}

async fn the_list_follows_what_staff_put_on_sale(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    let db = &w.app().db;
    assert!(packages::set_active(db, "enterprise", false).await.unwrap());
    assert!(packages::set_price(db, "starter", 1, Money::toman(350_000))
        .await
        .unwrap());
    assert!(!packages::set_active(db, "no-such-package", false)
        .await
        .unwrap());

    let alex = w.user("Alex", "en").await;
    let body = w.say(alex, "/start").await.body().to_string();
    assert!(!body.contains("Enterprise"), "{body}");
    assert!(body.contains("350,000 Toman"), "{body}");
    w.stop().await;
}

async fn odd_input_gets_a_polite_answer_and_nothing_breaks(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    let alex = w.user("Alex", "en").await;
    let token = w.master_bot.token.clone();

    let unknown = w.say(alex, "/frobnicate").await;
    assert!(unknown.body().contains("don't know that command"));

    let chatter = w.say(alex, "hello there").await;
    assert!(chatter.body().contains("use the buttons"));

    let long = w.say(alex, &"x".repeat(4000)).await;
    assert!(long.body().contains("too long"));

    let sticker = w.control.send_sticker(&token, alex, None).await.unwrap();
    let answer = w.next_answer(alex, sticker.message_id).await;
    assert!(answer.body().contains("can't read this kind of message"));

    // An edited message is ignored: the next answer is the one to /help.
    let greeting = w.control.send(&token, alex, "hi").await.unwrap();
    w.next_answer(alex, greeting.message_id).await;
    w.control
        .edit(&token, alex, greeting.message_id, "hi again")
        .await
        .unwrap();
    let help = w.say(alex, "/help").await;
    assert!(help.body().contains("Send /start"), "{}", help.body());
    let chat = w.chat(alex).await;
    let after_greeting: Vec<_> = chat
        .iter()
        .filter(|m| m.from == Sender::Bot && m.message_id > greeting.message_id)
        .collect();
    assert_eq!(
        after_greeting.len(),
        2,
        "one answer to hi, one to /help: {chat:#?}"
    );

    // Still alive and well.
    assert!(w.say(alex, "/start").await.body().contains("Hello Alex"));
    w.stop().await;
}

async fn a_restart_answers_nothing_twice(engine: Engine) {
    let Some(mut w) = world(engine).await else {
        return;
    };
    let alex = w.user("Alex", "en").await;
    w.say(alex, "/start").await;
    w.restart().await;
    let help = w.say(alex, "/help").await;
    assert!(help.body().contains("Send /start"));
    // Give a duplicate answer time to show up, if there were one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.bot_messages(alex).await.len(), 2);
    w.stop().await;
}

async fn the_bot_works_by_webhook_and_refuses_forged_calls(engine: Engine) {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let Some(w) = world_with(engine, |c| {
        c.http_listen = support::local(port);
        c.update_mode = shared::config::UpdateMode::Webhook {
            url: url::Url::parse(&format!("http://127.0.0.1:{port}/telegram/webhook")).unwrap(),
            secret: shared::secret::SecretString::new("webhook_secret-42"),
        };
    })
    .await
    else {
        return;
    };
    let alex = w.user("Alex", "en").await;
    assert!(w.say(alex, "/start").await.body().contains("Hello Alex"));

    let client = reqwest::Client::new();
    let url = format!("http://{}/telegram/webhook", w.app().http_addr);
    let forged = serde_json::json!({"update_id": 1, "message": {"message_id": 1, "date": 0,
        "chat": {"id": alex, "type": "private", "first_name": "Alex"},
        "from": {"id": alex, "is_bot": false, "first_name": "Alex"}, "text": "/start"}});
    let no_secret = client.post(&url).json(&forged).send().await.unwrap();
    assert_eq!(no_secret.status(), 401);
    let wrong_secret = client
        .post(&url)
        .header("X-Telegram-Bot-Api-Secret-Token", "guess")
        .json(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_secret.status(), 401);
    assert_eq!(w.bot_messages(alex).await.len(), 1);
    w.stop().await;
}

async fn health_and_readiness_are_reported(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    let base = format!("http://{}", w.app().http_addr);
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    assert_eq!(body["telegram"], "ok");
    w.stop().await;
}

async fn a_failure_on_our_side_tells_the_user_to_try_again(engine: Engine) {
    let Some(w) = world(engine).await else { return };
    let alex = w.user("Alex", "en").await;
    // Telegram refuses the first answer with a server error: the update fails, and the user
    // is told to try again instead of hearing nothing.
    let fault = sandbox::client::Fault::error(
        &w.master_bot.token,
        "sendMessage",
        500,
        "Internal Server Error",
    )
    .times(1);
    w.control.fault(fault).await.unwrap();
    let answer = w.say(alex, "/start").await;
    assert!(answer.body().contains("try again"), "{}", answer.body());
    // And the next try works.
    assert!(w.say(alex, "/start").await.body().contains("Hello Alex"));
    w.stop().await;
}

shared::on_both_engines!(
    a_failure_on_our_side_tells_the_user_to_try_again,
    a_persian_speaker_sees_the_packages_in_persian,
    an_english_speaker_sees_the_packages_in_english,
    a_user_with_another_language_gets_the_default_persian,
    switching_the_language_is_remembered,
    a_package_opens_in_full_and_goes_back,
    the_list_follows_what_staff_put_on_sale,
    odd_input_gets_a_polite_answer_and_nothing_breaks,
    a_restart_answers_nothing_twice,
    the_bot_works_by_webhook_and_refuses_forged_calls,
    health_and_readiness_are_reported,
);
