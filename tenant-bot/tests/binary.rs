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
