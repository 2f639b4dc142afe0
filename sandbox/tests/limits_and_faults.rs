//! 429 flood limits with retry_after, and faults injected through the control API.

mod common;

use std::time::{Duration, Instant};

use sandbox::client::Fault;
use sandbox::{RateLimits, SandboxOptions};
use serde_json::json;

fn strict(limits: RateLimits) -> SandboxOptions {
    SandboxOptions {
        limits,
        ..SandboxOptions::fast_for_tests()
    }
}

#[tokio::test]
async fn private_chat_limit_answers_429_with_retry_after() {
    let env = common::start_with(strict(RateLimits::default())).await;
    let send = json!({"chat_id": env.user, "text": "hi"});
    // A short burst is allowed, then Telegram asks to wait.
    for _ in 0..3 {
        env.ok("sendMessage", send.clone()).await;
    }
    let (status, body) = env.call("sendMessage", send.clone()).await;
    assert_eq!(status, 429);
    assert_eq!(body["error_code"], 429);
    assert_eq!(body["description"], "Too Many Requests: retry after 1");
    assert_eq!(body["parameters"]["retry_after"], 1);
    // Non-sending methods do not count.
    env.ok("getMe", json!({})).await;
    env.ok(
        "sendChatAction",
        json!({"chat_id": env.user, "action": "typing"}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    env.ok("sendMessage", send).await;
}

#[tokio::test]
async fn overall_limit_spans_all_chats_of_a_bot() {
    let env = common::start_with(strict(RateLimits {
        per_bot_per_second: 5,
        per_private_chat_per_second: 100,
        per_group_per_minute: 100,
    }))
    .await;
    let mut users = Vec::new();
    for n in 0..6 {
        let user = env
            .control
            .create_user(&format!("u{n}"), None, None)
            .await
            .unwrap();
        env.control
            .send(&env.bot.token, user, "/start")
            .await
            .unwrap();
        users.push(user);
    }
    for user in &users[..5] {
        env.ok("sendMessage", json!({"chat_id": user, "text": "x"}))
            .await;
    }
    let (code, description) = env
        .err("sendMessage", json!({"chat_id": users[5], "text": "x"}))
        .await;
    assert_eq!(
        (code, description.as_str()),
        (429, "Too Many Requests: retry after 1")
    );
    // Another bot has its own budget.
    let other = env.control.create_bot("other_bot", "Other").await.unwrap();
    env.control
        .send(&other.token, users[5], "/start")
        .await
        .unwrap();
    let (status, _) = env
        .call_as(
            &other.token,
            "sendMessage",
            json!({"chat_id": users[5], "text": "x"}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn injected_errors_apply_the_given_number_of_times() {
    let env = common::start().await;
    env.control
        .fault(Fault::error(&env.bot.token, "sendMessage", 502, "Bad Gateway").times(2))
        .await
        .unwrap();
    let send = json!({"chat_id": env.user, "text": "hi"});
    for _ in 0..2 {
        assert_eq!(
            env.err("SendMessage", send.clone()).await,
            (502, "Bad Gateway".to_string())
        );
    }
    env.ok("sendMessage", send.clone()).await;

    env.control
        .fault(Fault::too_many_requests(&env.bot.token, "sendmessage", 7))
        .await
        .unwrap();
    let (status, body) = env.call("sendMessage", send.clone()).await;
    assert_eq!(status, 429);
    assert_eq!(body["parameters"]["retry_after"], 7);
    assert_eq!(body["description"], "Too Many Requests: retry after 7");
    env.ok("sendMessage", send).await;

    // Faults for one method leave the others alone; "*" matches every method.
    env.control
        .fault(Fault::error(
            &env.bot.token,
            "*",
            500,
            "Internal Server Error",
        ))
        .await
        .unwrap();
    assert_eq!(env.err("getMe", json!({})).await.0, 500);
    env.ok("getMe", json!({})).await;
}

#[tokio::test]
async fn injected_delays_slow_a_call_down() {
    let env = common::start().await;
    env.control
        .fault(Fault::delay(&env.bot.token, "getMe", 400))
        .await
        .unwrap();
    let began = Instant::now();
    env.ok("getMe", json!({})).await;
    assert!(began.elapsed() >= Duration::from_millis(380));
    let began = Instant::now();
    env.ok("getMe", json!({})).await;
    assert!(began.elapsed() < Duration::from_millis(380));
}

#[tokio::test]
async fn faults_for_unknown_bots_are_refused() {
    let env = common::start().await;
    let result = env
        .control
        .fault(Fault::error("1:nope", "getMe", 500, "x"))
        .await;
    assert!(result.is_err());
    env.control.clear_faults().await.unwrap();
}
