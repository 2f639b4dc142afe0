//! The whole story on one machine, as `madar demo` runs it: a customer buys Starter with
//! Zarinpal, sets up their bot, and minutes later (seconds, here) the bot is live as a real
//! process and answers /start. Tenant bots run as child processes (the process runtime).

use std::path::PathBuf;
use std::time::Duration;

use master::demo::{self, DemoOptions};
use sandbox::client::{ChatMessage, ControlClient, Sender};
use sandbox::panels::FakeMarzbanOptions;

const WAIT: Duration = Duration::from_secs(30);

/// The tenant-bot program, built beside `madar` by `cargo test --workspace`.
fn tenant_bot() -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_madar")).with_file_name("tenant-bot");
    if path.exists() {
        return Some(path);
    }
    if shared::testdb::running_in_ci() {
        panic!(
            "CI=true but {} is missing: build the workspace first",
            path.display()
        );
    }
    eprintln!("NOTE: demo story skipped: {} is not built", path.display());
    None
}

async fn wait_for(control: &ControlClient, token: &str, user: i64, needle: &str) -> ChatMessage {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let chat = control.chat(token, user).await.unwrap();
        if let Some(m) = chat
            .iter()
            .rev()
            .find(|m| m.from == Sender::Bot && m.body().contains(needle))
        {
            return m.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {needle:?} in {chat:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn press(
    control: &ControlClient,
    token: &str,
    user: i64,
    message: &ChatMessage,
    label: &str,
) {
    let data = message
        .button_data(label)
        .unwrap_or_else(|| panic!("no {label:?} on {message:#?}"));
    control
        .press(token, user, message.message_id, &data)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_buys_starter_and_their_bot_answers_start() {
    let Some(tenant_bot) = tenant_bot() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let running = demo::start(&DemoOptions {
        http_listen: "127.0.0.1:0".parse().unwrap(),
        sandbox_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        tenant_bot: Some(tenant_bot),
    })
    .await
    .unwrap();
    assert!(running.runs_tenant_bots);
    let control = ControlClient::new(&running.sandbox.url());
    let master = running.master_bot.token.clone();
    let tara = control.create_user("Tara", None, Some("en")).await.unwrap();

    control.send(&master, tara, "/start").await.unwrap();
    let home = wait_for(&control, &master, tara, "Hello Tara").await;
    press(&control, &master, tara, &home, "Starter").await;
    let detail = wait_for(&control, &master, tara, "Monthly price").await;
    press(&control, &master, tara, &detail, "Buy").await;
    let periods = wait_for(&control, &master, tara, "Choose how long").await;
    press(&control, &master, tara, &periods, "1 month").await;
    let methods = wait_for(&control, &master, tara, "Choose how to pay").await;
    press(&control, &master, tara, &methods, "Zarinpal").await;
    wait_for(&control, &master, tara, "Amount to pay").await;
    let authority = running
        .zarinpal
        .payments()
        .last()
        .unwrap()
        .authority
        .clone();
    running
        .zarinpal
        .control()
        .complete(&authority)
        .await
        .unwrap();

    wait_for(&control, &master, tara, "Setting up your bot").await;
    control
        .send(&master, tara, &running.shop_bot.token)
        .await
        .unwrap();
    let found = wait_for(&control, &master, tara, "Found your bot").await;
    press(&control, &master, tara, &found, "It's me").await;
    let channel = wait_for(&control, &master, tara, "If you have a channel").await;
    press(&control, &master, tara, &channel, "Skip").await;
    let kind = wait_for(&control, &master, tara, "Which panel").await;
    press(&control, &master, tara, &kind, "Marzban").await;
    wait_for(&control, &master, tara, "Marzban panel's address").await;
    control
        .send(&master, tara, &running.marzban.url())
        .await
        .unwrap();
    wait_for(&control, &master, tara, "admin's username").await;
    let panel = FakeMarzbanOptions::default();
    control
        .send(&master, tara, &panel.admin_user)
        .await
        .unwrap();
    wait_for(&control, &master, tara, "admin's password").await;
    control
        .send(&master, tara, &panel.admin_password)
        .await
        .unwrap();
    wait_for(&control, &master, tara, "All set").await;

    // The provisioner starts the bot; its heartbeat arrives; Tara hears it is live.
    wait_for(&control, &master, tara, "is live").await;
    let shop = running.shop_bot.token.clone();
    let customer = control
        .create_user("Bahar", None, Some("en"))
        .await
        .unwrap();
    control.send(&shop, customer, "/start").await.unwrap();
    let welcome = wait_for(&control, &shop, customer, "Welcome to").await;
    assert!(welcome.body().contains("My VPN Shop"), "{}", welcome.body());

    // Tara sees her bot in "My bots": running, with the end user its heartbeat reported.
    control.send(&master, tara, "/mybots").await.unwrap();
    let bots = wait_for(&control, &master, tara, "My bots").await;
    press(&control, &master, tara, &bots, "⚙️").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let page = wait_for(&control, &master, tara, "Bot state").await;
        if page.body().contains("End users: 1 of 100") && page.body().contains("running") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", page.body());
        tokio::time::sleep(Duration::from_millis(500)).await;
        press(&control, &master, tara, &page, "Refresh").await;
    }

    running.shutdown().await.unwrap();
}
