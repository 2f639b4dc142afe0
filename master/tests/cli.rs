//! The `madar` binary as an operator meets it: clear refusals, the demo, clean stops.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sandbox::client::ControlClient;
use sandbox::{Sandbox, SandboxOptions};

fn madar() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_madar"));
    // The operator's environment must not leak into these runs.
    for (key, _) in std::env::vars() {
        if key.starts_with("MADAR_") {
            command.env_remove(key);
        }
    }
    command
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_with_deadline(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("madar did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_without_a_token_says_which_variable_to_set_and_exits_with_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = madar()
        .arg("serve")
        .env("MADAR_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("MADAR_TELEGRAM_BOT_TOKEN"), "{stderr}");
    assert!(stderr.contains("madar demo"), "{stderr}");
}

#[test]
fn a_bad_setting_in_the_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("madar.toml");
    std::fs::write(&file, "[http]\nlisten = \"nowhere\"\n").unwrap();
    let output = madar()
        .args(["--config", file.to_str().unwrap(), "migrate"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("MADAR_HTTP_LISTEN"), "{stderr}");
    assert!(stderr.contains("http.listen"), "{stderr}");
}

#[test]
fn migrate_creates_the_sqlite_database_under_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let output = madar()
        .arg("migrate")
        .env("MADAR_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(dir.path().join("madar.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_telegram_and_stops_cleanly_on_sigterm() {
    let sandbox = Sandbox::start(
        "127.0.0.1:0".parse().unwrap(),
        SandboxOptions::fast_for_tests(),
    )
    .await
    .unwrap();
    let control = ControlClient::new(&sandbox.url());
    let bot = control.create_bot("madar_cli_bot", "Madar").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut child = madar()
        .arg("serve")
        .env("MADAR_DATA_DIR", dir.path())
        .env("MADAR_TELEGRAM_BOT_TOKEN", &bot.token)
        .env("MADAR_TELEGRAM_API_URL", sandbox.url())
        .env("MADAR_HTTP_LISTEN", "127.0.0.1:0")
        .env("MADAR_RUNTIME", "none")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let alex = control.create_user("Alex", None, Some("en")).await.unwrap();
    let sent = control.send(&bot.token, alex, "/start").await.unwrap();
    let answer = control
        .wait_for_bot_message(
            &bot.token,
            alex,
            sent.message_id,
            |_| true,
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert!(answer.text.unwrap_or_default().contains("Hello Alex"));

    terminate(&child);
    let status = tokio::task::spawn_blocking(move || {
        wait_with_deadline(&mut child, Duration::from_secs(15))
    })
    .await
    .unwrap();
    assert!(status.success(), "SIGTERM is a clean stop: {status:?}");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_needs_no_configuration_and_its_bot_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = madar()
        .args([
            "demo",
            "--http-listen",
            "127.0.0.1:0",
            "--sandbox-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Read the whole output (like a terminal would) and pick out the chat page's address.
    let stdout = child.stdout.take().unwrap();
    let (found, url) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if let Some(at) = line.find("http://") {
                if line.contains("Chat with the master bot") {
                    let _ = found.send(line[at..].trim().to_string());
                }
            }
        }
    });
    let chat_url = tokio::task::spawn_blocking(move || {
        url.recv_timeout(Duration::from_secs(60))
            .expect("the demo never printed its chat page URL")
    })
    .await
    .unwrap();

    let page = reqwest::get(&chat_url).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<html"));

    let control = ControlClient::new(chat_url.trim_end_matches('/'));
    let bots = control.bots().await.unwrap();
    let master = &bots[0];
    let user = control.create_user("Mina", None, Some("fa")).await.unwrap();
    let sent = control.send(&master.token, user, "/start").await.unwrap();
    let answer = control
        .wait_for_bot_message(
            &master.token,
            user,
            sent.message_id,
            |_| true,
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert!(answer.text.unwrap_or_default().contains("سلام Mina"));

    terminate(&child);
    let status = tokio::task::spawn_blocking(move || {
        wait_with_deadline(&mut child, Duration::from_secs(15))
    })
    .await
    .unwrap();
    assert!(status.success(), "{status:?}");
}
