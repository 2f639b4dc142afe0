//! Webhooks: delivery with the secret header, retries in order, getWebhookInfo, 409.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Json;
use serde_json::{json, Value};
use teloxide::types::WebhookInfo;

/// The secret header (if any) and the update of one accepted delivery.
type Delivery = (Option<String>, Value);

#[derive(Clone, Default)]
struct Receiver {
    /// (secret header, update) per accepted delivery.
    accepted: Arc<Mutex<Vec<Delivery>>>,
    attempts: Arc<Mutex<u32>>,
    /// This many first attempts answer 500.
    fail_first: u32,
}

impl Receiver {
    async fn start(fail_first: u32) -> (Receiver, String) {
        let receiver = Receiver {
            fail_first,
            ..Receiver::default()
        };
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, Json(update): Json<Value>| {
                let state = state.clone();
                async move {
                    let attempt = {
                        let mut attempts = state.attempts.lock().unwrap();
                        *attempts += 1;
                        *attempts
                    };
                    if attempt <= state.fail_first {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    let secret = headers
                        .get("x-telegram-bot-api-secret-token")
                        .map(|v| v.to_str().unwrap().to_string());
                    state.accepted.lock().unwrap().push((secret, update));
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    async fn wait_for(&self, count: usize) -> Vec<Delivery> {
        for _ in 0..200 {
            let accepted = self.accepted.lock().unwrap().clone();
            if accepted.len() >= count {
                return accepted;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("webhook deliveries did not arrive");
    }
}

#[tokio::test]
async fn deliveries_carry_the_secret_and_updates_in_order() {
    let env = common::start().await;
    let (receiver, url) = Receiver::start(0).await;
    env.ok(
        "setWebhook",
        json!({"url": url, "secret_token": "s3cr3t_-x", "drop_pending_updates": true}),
    )
    .await;
    let first = env
        .control
        .send(&env.bot.token, env.user, "one")
        .await
        .unwrap();
    let second = env
        .control
        .send(&env.bot.token, env.user, "two")
        .await
        .unwrap();
    let accepted = receiver.wait_for(2).await;
    assert_eq!(accepted.len(), 2, "the dropped /start is not delivered");
    assert_eq!(accepted[0].0.as_deref(), Some("s3cr3t_-x"));
    assert_eq!(accepted[0].1["update_id"], first.update_id);
    assert_eq!(accepted[1].1["update_id"], second.update_id);
    assert_eq!(common::update(&accepted[1].1).id.0 as i64, second.update_id);

    let info: WebhookInfo =
        serde_json::from_value(env.ok("getWebhookInfo", json!({})).await).unwrap();
    assert_eq!(info.url.unwrap().as_str(), url);
    assert_eq!(info.pending_update_count, 0);
    assert!(!info.has_custom_certificate);
}

#[tokio::test]
async fn failed_deliveries_are_retried_and_reported() {
    let env = common::start().await;
    let (receiver, url) = Receiver::start(3).await;
    env.ok("setWebhook", json!({"url": url})).await;
    let accepted = receiver.wait_for(1).await;
    assert_eq!(accepted[0].1["message"]["text"], "/start");
    assert_eq!(accepted[0].0, None, "no secret was set");
    assert_eq!(*receiver.attempts.lock().unwrap(), 4);
    let info = env.ok("getWebhookInfo", json!({})).await;
    assert_eq!(
        info["last_error_message"],
        "Wrong response from the webhook: 500 Internal Server Error"
    );
    let parsed: WebhookInfo = serde_json::from_value(info).unwrap();
    assert!(parsed.last_error_date.is_some());
}

#[tokio::test]
async fn pending_updates_wait_while_the_receiver_is_down() {
    let env = common::start().await;
    // Nothing listens on this port.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    env.ok("setWebhook", json!({"url": url, "max_connections": 5}))
        .await;
    env.control
        .send(&env.bot.token, env.user, "queued")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let info = env.ok("getWebhookInfo", json!({})).await;
    assert_eq!(info["pending_update_count"], 2);
    assert_eq!(info["max_connections"], 5);
    assert_eq!(info["last_error_message"], "Connection refused");
}

#[tokio::test]
async fn get_updates_conflicts_with_a_webhook_until_it_is_deleted() {
    let env = common::start().await;
    let (_receiver, url) = Receiver::start(1000).await;
    env.ok("setWebhook", json!({"url": url})).await;
    assert_eq!(
        env.err("getUpdates", json!({})).await,
        (
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first".to_string()
        )
    );
    env.ok("deleteWebhook", json!({})).await;
    let updates = env.ok("getUpdates", json!({})).await;
    assert_eq!(
        updates[0]["message"]["text"], "/start",
        "undelivered updates stay queued"
    );
    let info: WebhookInfo =
        serde_json::from_value(env.ok("getWebhookInfo", json!({})).await).unwrap();
    assert!(info.url.is_none());
}

#[tokio::test]
async fn only_loopback_webhooks_are_accepted() {
    let env = common::start().await;
    for url in [
        "https://example.com/hook",
        "http://10.1.2.3/hook",
        "http://8.8.8.8/hook",
    ] {
        let (code, description) = env.err("setWebhook", json!({"url": url})).await;
        assert_eq!(code, 400);
        assert!(
            description.starts_with("Bad Request: bad webhook: "),
            "{description}"
        );
    }
    assert_eq!(
        env.err("setWebhook", json!({"url": "ftp://127.0.0.1/x"}))
            .await
            .1,
        "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
    );
    assert_eq!(
        env.err(
            "setWebhook",
            json!({"url": "http://127.0.0.1:1/x", "secret_token": "no spaces"})
        )
        .await
        .1,
        "Bad Request: secret token contains unallowed characters"
    );
    // An empty URL removes the webhook, like Telegram.
    env.ok("setWebhook", json!({"url": ""})).await;
}
