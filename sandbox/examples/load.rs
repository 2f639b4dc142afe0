//! A small load program: many bots and thousands of users talking at once.
//! Prints figures; it asserts nothing (`cargo run --release -p sandbox --example load`).

use std::net::SocketAddr;
use std::time::Instant;

use sandbox::client::ControlClient;
use sandbox::{RateLimits, Sandbox, SandboxOptions};
use serde_json::{json, Value};

const BOTS: usize = 20;
const USERS: usize = 2_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = SandboxOptions {
        limits: RateLimits::generous(),
        ..SandboxOptions::default()
    };
    let sandbox = Sandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), options).await?;
    let control = ControlClient::new(&sandbox.url());
    let http = reqwest::Client::builder().no_proxy().build()?;

    let began = Instant::now();
    let mut bots = Vec::new();
    for n in 0..BOTS {
        bots.push(control.create_bot(&format!("load_{n}_bot"), "Load").await?);
    }
    let mut users = Vec::new();
    for n in 0..USERS {
        users.push(
            control
                .create_user(&format!("user {n}"), None, Some("fa"))
                .await?,
        );
    }
    println!(
        "created {BOTS} bots and {USERS} users in {:?}",
        began.elapsed()
    );

    // Every user writes /start to one bot, all at once.
    let began = Instant::now();
    let mut writers = Vec::new();
    for (n, user) in users.iter().enumerate() {
        let control = control.clone();
        let token = bots[n % BOTS].token.clone();
        let user = *user;
        writers.push(tokio::spawn(async move {
            control.send(&token, user, "/start").await
        }));
    }
    for writer in writers {
        writer.await??;
    }
    let elapsed = began.elapsed();
    println!(
        "{USERS} user messages in {elapsed:?} ({:.0}/s)",
        USERS as f64 / elapsed.as_secs_f64()
    );

    // Each bot fetches its updates and answers every user.
    let began = Instant::now();
    let mut answered = 0usize;
    let mut tasks = Vec::new();
    for bot in &bots {
        let http = http.clone();
        let base = format!("{}/bot{}", sandbox.url(), bot.token);
        tasks.push(tokio::spawn(async move {
            let updates: Value = http
                .post(format!("{base}/getUpdates"))
                .json(&json!({"timeout": 0}))
                .send()
                .await?
                .json()
                .await?;
            let mut count = 0usize;
            for update in updates["result"].as_array().cloned().unwrap_or_default() {
                let chat = update["message"]["chat"]["id"].clone();
                let response = http
                    .post(format!("{base}/sendMessage"))
                    .json(&json!({"chat_id": chat, "text": "<b>سلام!</b> خوش آمدید", "parse_mode": "HTML"}))
                    .send()
                    .await?;
                if response.status().is_success() {
                    count += 1;
                }
            }
            anyhow::Ok(count)
        }));
    }
    for task in tasks {
        answered += task.await??;
    }
    let elapsed = began.elapsed();
    println!(
        "{answered} bot replies in {elapsed:?} ({:.0}/s)",
        answered as f64 / elapsed.as_secs_f64()
    );
    sandbox.shutdown().await;
    Ok(())
}
