//! The `tenant-bot` binary as the provisioner runs it: configured by variables and secret
//! files, stopped by SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox::client::ControlClient;
use sandbox::{Sandbox, SandboxOptions};
use shared::secret::Keyring;

fn tenant_bot() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tenant-bot"));
    for (key, _) in std::env::vars() {
        if key.starts_with("MADAR_") {
            command.env_remove(key);
        }
    }
    command
}

#[test]
fn without_configuration_it_names_what_is_missing() {
    let output = tenant_bot().output().unwrap();
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("MADAR_TENANT_ID"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_answers_from_secret_files_and_stops_cleanly_on_sigterm() {
    let sandbox = Sandbox::start(
        "127.0.0.1:0".parse().unwrap(),
        SandboxOptions::fast_for_tests(),
    )
    .await
    .unwrap();
    let control = ControlClient::new(&sandbox.url());
    let bot = control.create_bot("aurora_bot", "Aurora").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("bot_token");
    std::fs::write(&token_file, &bot.token).unwrap();
    let key_file = dir.path().join("api_key");
    std::fs::write(&key_file, "k").unwrap();

    let mut child = tenant_bot()
        .env("MADAR_TENANT_ID", "t-aurora")
        .env("MADAR_TENANT_BOT_TOKEN_FILE", &token_file)
        .env("MADAR_TENANT_API_KEY_FILE", &key_file)
        .env(
            "MADAR_TENANT_DATA_KEY",
            Keyring::generate_key_line("d1").expose(),
        )
        .env("MADAR_TENANT_TELEGRAM_API_URL", sandbox.url())
        // Nothing listens there: heartbeats fail quietly and the bot keeps working.
        .env("MADAR_TENANT_MASTER_URL", "http://127.0.0.1:9")
        .env(
            "MADAR_TENANT_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("tenant.db").display()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let user = control.create_user("Ali", None, Some("en")).await.unwrap();
    let sent = control.send(&bot.token, user, "/start").await.unwrap();
    let answer = control
        .wait_for_bot_message(
            &bot.token,
            user,
            sent.message_id,
            |_| true,
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert!(
        answer.body().contains("Welcome to Aurora"),
        "{}",
        answer.body()
    );
    assert!(dir.path().join("tenant.db").exists());

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "tenant-bot ignored SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    sandbox.shutdown().await;
}

/// The bot is killed (SIGKILL) right after a customer paid and before the panel account was
/// made; started again, it finishes the order by itself: one account, and the customer gets
/// their link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_killed_after_payment_delivers_the_order_when_it_starts_again() {
    use sandbox::panels::{FakeMarzban, FakeMarzbanOptions};
    use shared::db::{Db, Schema};
    use shared::money::Money;
    use shared::panel::{PanelCredentials, PanelKind};
    use shared::secret::SecretString;
    use tenant_bot::panels::{self, PanelInput, Source};
    use tenant_bot::plans::{self, PlanDraft, GIB};
    use tenant_bot::{orders, wallet};

    let sandbox = Sandbox::start(
        "127.0.0.1:0".parse().unwrap(),
        SandboxOptions::fast_for_tests(),
    )
    .await
    .unwrap();
    let control = ControlClient::new(&sandbox.url());
    let bot = control.create_bot("phoenix_bot", "Phoenix").await.unwrap();
    let marzban = FakeMarzban::start(
        "127.0.0.1:0".parse().unwrap(),
        FakeMarzbanOptions::default(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("bot_token");
    std::fs::write(&token_file, &bot.token).unwrap();
    let data_key = Keyring::generate_key_line("d1");
    let database_url = format!("sqlite://{}", dir.path().join("tenant.db").display());
    let start = || {
        tenant_bot()
            .env("MADAR_TENANT_ID", "t-phoenix")
            .env("MADAR_TENANT_BOT_TOKEN_FILE", &token_file)
            .env("MADAR_TENANT_API_KEY", "k")
            .env("MADAR_TENANT_DATA_KEY", data_key.expose())
            .env("MADAR_TENANT_PANEL_ALLOW", "127.0.0.1")
            .env("MADAR_TENANT_TELEGRAM_API_URL", sandbox.url())
            .env("MADAR_TENANT_MASTER_URL", "http://127.0.0.1:9")
            .env("MADAR_TENANT_DATABASE_URL", &database_url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };

    // Nima talks to the bot; then the bot dies hard.
    let mut first = start();
    let nima = control.create_user("Nima", None, Some("en")).await.unwrap();
    let sent = control.send(&bot.token, nima, "/start").await.unwrap();
    control
        .wait_for_bot_message(
            &bot.token,
            nima,
            sent.message_id,
            |_| true,
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    first.kill().unwrap();
    first.wait().unwrap();

    // What the dead bot had written: the shop, and Nima's order, paid from his wallet.
    let db = Db::open(&database_url, Schema::Tenant).await.unwrap();
    let keyring = Keyring::from_config(std::slice::from_ref(&data_key)).unwrap();
    let input = PanelInput {
        name: "marzban".into(),
        kind: PanelKind::Marzban,
        url: marzban.url(),
        subscription_base: None,
        credentials: PanelCredentials::Password {
            username: "admin".into(),
            password: SecretString::new("admin-password"),
        },
        weight: 1,
        capacity: None,
        location: None,
        inbounds: vec![],
    };
    let now = shared::db::now_unix();
    panels::insert(&db, &keyring, &input, Source::Bot, None, now)
        .await
        .unwrap();
    let plan = plans::create(
        &db,
        &PlanDraft {
            name_fa: "ماهانه".into(),
            name_en: "Monthly".into(),
            data_bytes: Some(20 * GIB),
            days: 30,
            price: Money::toman(120_000),
            ip_limit: None,
            location: None,
            panel_id: None,
            sort_order: 0,
        },
        now,
    )
    .await
    .unwrap();
    let mut tx = db.begin().await.unwrap();
    wallet::record(
        &mut tx,
        nima,
        Money::toman(120_000),
        wallet::Reason::TopUp,
        "topup:1",
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let order = orders::create_new(&db, nima, &plan, now).await.unwrap();
    orders::pay_from_wallet(&db, nima, &order.id, now)
        .await
        .unwrap();
    db.close().await;

    // Started again, the bot delivers without anyone asking.
    let mut second = start();
    let deadline = Instant::now() + Duration::from_secs(30);
    let link = loop {
        let chat = control.chat(&bot.token, nima).await.unwrap();
        if let Some(photo) = chat.iter().find(|m| m.body().contains("/sub/")) {
            break photo.body().to_string();
        }
        assert!(Instant::now() < deadline, "no delivery after the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let accounts = marzban.accounts();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].username, order.username);
    assert!(link.contains(&accounts[0].sub_id), "{link}");
    second.kill().unwrap();
    second.wait().unwrap();
    sandbox.shutdown().await;
}
