//! getUpdates: offsets, limits, long polling, conflicts and allowed_updates.

mod common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use teloxide::types::UpdateKind;

fn ids(updates: &Value) -> Vec<i64> {
    updates
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["update_id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn offsets_confirm_updates_and_limit_caps_the_batch() {
    let env = common::start().await;
    let mut sent = Vec::new();
    for n in 0..4 {
        sent.push(
            env.control
                .send(&env.bot.token, env.user, &format!("m{n}"))
                .await
                .unwrap()
                .update_id,
        );
    }
    let all = env.ok("getUpdates", json!({})).await;
    let all_ids = ids(&all);
    assert_eq!(all_ids.len(), 5, "the /start plus four messages");
    assert!(all_ids.windows(2).all(|w| w[0] < w[1]), "ids increase");
    assert_eq!(&all_ids[1..], sent.as_slice());

    // Unconfirmed updates come back again.
    assert_eq!(ids(&env.ok("getUpdates", json!({})).await), all_ids);
    // limit
    assert_eq!(
        ids(&env.ok("getUpdates", json!({"limit": 2})).await),
        &all_ids[..2]
    );
    // offset confirms everything below it.
    let from_third = env.ok("getUpdates", json!({"offset": all_ids[2]})).await;
    assert_eq!(ids(&from_third), &all_ids[2..]);
    assert_eq!(ids(&env.ok("getUpdates", json!({})).await), &all_ids[2..]);
    // negative offset: the last N, forgetting the rest.
    assert_eq!(
        ids(&env.ok("getUpdates", json!({"offset": -1})).await),
        &all_ids[4..]
    );
    assert_eq!(ids(&env.ok("getUpdates", json!({})).await), &all_ids[4..]);
    // Confirming past the end empties the queue.
    let after_last = all_ids[4] + 1;
    assert_eq!(
        env.ok("getUpdates", json!({"offset": after_last})).await,
        json!([])
    );
    let updates = common::updates(&env.ok("getUpdates", json!({})).await);
    assert!(updates.is_empty());
}

#[tokio::test]
async fn updates_parse_as_teloxide_updates() {
    let env = common::start().await;
    let result = env.ok("getUpdates", json!({})).await;
    let updates = common::updates(&result);
    let UpdateKind::Message(message) = &updates[0].kind else {
        panic!("expected a message, got {:?}", updates[0].kind);
    };
    assert_eq!(message.text(), Some("/start"));
    assert_eq!(message.chat.id.0, env.user);
}

#[tokio::test]
async fn long_poll_returns_as_soon_as_an_update_arrives() {
    let env = common::start().await;
    let start_id = ids(&env.ok("getUpdates", json!({})).await)[0];
    let offset = start_id + 1;
    let control = env.control.clone();
    let token = env.bot.token.clone();
    let user = env.user;
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        control.send(&token, user, "late").await.unwrap()
    });
    let began = Instant::now();
    let result = env
        .ok("getUpdates", json!({"offset": offset, "timeout": 10}))
        .await;
    let waited = began.elapsed();
    let sent = writer.await.unwrap();
    assert_eq!(ids(&result), [sent.update_id]);
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

#[tokio::test]
async fn long_poll_times_out_with_an_empty_list() {
    let env = common::start().await;
    let start_id = ids(&env.ok("getUpdates", json!({})).await)[0];
    let began = Instant::now();
    let result = env
        .ok("getUpdates", json!({"offset": start_id + 1, "timeout": 1}))
        .await;
    assert_eq!(result, json!([]));
    let waited = began.elapsed();
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
}

#[tokio::test]
async fn a_second_long_poll_terminates_the_first() {
    let env = common::start().await;
    let start_id = ids(&env.ok("getUpdates", json!({})).await)[0];
    let first_url = env.method_url(&env.bot.token, "getUpdates");
    let http = env.http.clone();
    let first = tokio::spawn(async move {
        let response = http
            .post(first_url)
            .json(&json!({"offset": start_id + 1, "timeout": 10}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = env
        .ok("getUpdates", json!({"offset": start_id + 1, "timeout": 0}))
        .await;
    assert_eq!(second, json!([]));
    let (status, body) = first.await.unwrap();
    assert_eq!(status, 409);
    assert_eq!(
        body["description"],
        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
    );
}

#[tokio::test]
async fn allowed_updates_filters_and_is_remembered() {
    let env = common::start().await;
    let start_id = ids(&env.ok("getUpdates", json!({})).await)[0];
    // Only callback queries from now on (form-encoded JSON text, like many libraries send).
    let form: Value = env
        .http
        .post(env.method_url(&env.bot.token, "getUpdates"))
        .form(&[
            ("offset", (start_id + 1).to_string()),
            ("allowed_updates", r#"["callback_query"]"#.to_string()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(form["result"], json!([]));
    env.control
        .send(&env.bot.token, env.user, "ignored")
        .await
        .unwrap();
    let menu = env
        .ok(
            "sendMessage",
            json!({"chat_id": env.user, "text": "menu", "reply_markup": {"inline_keyboard": [[{"text": "x", "callback_data": "x"}]]}}),
        )
        .await;
    let pressed = env
        .control
        .press(
            &env.bot.token,
            env.user,
            menu["message_id"].as_i64().unwrap(),
            "x",
        )
        .await
        .unwrap();
    // No allowed_updates this time: the earlier list still applies.
    let result = env.ok("getUpdates", json!({})).await;
    assert_eq!(ids(&result), [pressed.update_id]);
    // An empty list means "all the default kinds" again.
    env.ok(
        "getUpdates",
        json!({"offset": pressed.update_id + 1, "allowed_updates": []}),
    )
    .await;
    let message = env
        .control
        .send(&env.bot.token, env.user, "seen")
        .await
        .unwrap();
    assert_eq!(
        ids(&env.ok("getUpdates", json!({})).await),
        [message.update_id]
    );
}

#[tokio::test]
async fn getting_updates_with_a_bad_parameter_is_400() {
    let env = common::start().await;
    let (code, description) = env.err("getUpdates", json!({"offset": "abc"})).await;
    assert_eq!(code, 400);
    assert_eq!(description, "Bad Request: invalid offset specified");
}
