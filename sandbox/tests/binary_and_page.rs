//! The `sandbox serve` binary and the chat page.

mod common;

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn serve_pre_creates_bots_and_answers_the_bot_api() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--bot",
            "madar_master_bot:Madar",
            "--bot",
            "tenant_one_bot:Tenant One",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut tokens = Vec::new();
    let root = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("bot @") {
                tokens.push(rest.split(" token ").nth(1).unwrap().to_string());
            }
            if let Some(rest) = line.strip_prefix("sandbox Bot API root: ") {
                return rest.split_whitespace().next().unwrap().to_string();
            }
        }
        panic!("the binary stopped before printing its address");
    })
    .await
    .unwrap();
    assert_eq!(tokens.len(), 2);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let me: Value = http
        .get(format!("{root}/bot{}/getMe", tokens[0]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["result"]["username"], "madar_master_bot");
    let control = sandbox::client::ControlClient::new(&root);
    let bots = control.bots().await.unwrap();
    assert_eq!(
        bots[0].username, "madar_master_bot",
        "the master bot comes first"
    );
    assert_eq!(bots[1].token, tokens[1]);
    // SIGTERM (as sent by containers) stops it cleanly.
    let pid = child.id().unwrap().to_string();
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(signalled.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the sandbox should stop on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn the_chat_page_is_served_self_contained() {
    let env = common::start().await;
    for path in ["/", "/chat"] {
        let response = env
            .http
            .get(format!("{}{path}", env.sandbox.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(content_type.starts_with("text/html"), "{content_type}");
        let html = response.text().await.unwrap();
        assert!(html.contains("/sandbox/bots"));
        assert!(html.contains("dir=\"auto\""));
        assert!(
            !html.contains("https://"),
            "no CDN or outside links: works offline"
        );
    }
}

#[tokio::test]
async fn shutdown_ends_waiting_long_polls() {
    let env = common::start().await;
    let url = env.method_url(&env.bot.token, "getUpdates");
    let http = env.http.clone();
    let poll = tokio::spawn(async move {
        http.post(url)
            .json(&serde_json::json!({"offset": 1_000_000_000, "timeout": 30}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::time::timeout(Duration::from_secs(5), env.sandbox.shutdown())
        .await
        .expect("shutdown should not wait for the 30 s long poll");
    let _ = poll.await.unwrap();
}

#[tokio::test]
async fn only_loopback_addresses_are_served() {
    let result = sandbox::Sandbox::start(
        "0.0.0.0:0".parse().unwrap(),
        sandbox::SandboxOptions::fast_for_tests(),
    )
    .await;
    assert!(matches!(result, Err(sandbox::SandboxError::NotLoopback(_))));
}
