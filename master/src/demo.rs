//! `madar demo`: the whole story on one machine with no configuration. It starts the Telegram
//! sandbox in-process, creates a master bot there, and runs Madar on a fresh SQLite database.

use std::net::SocketAddr;
use std::path::PathBuf;

use sandbox::client::{BotInfo, ControlClient};
use sandbox::{Sandbox, SandboxOptions};
use shared::config::{MasterConfig, UpdateMode};
use shared::i18n::Locale;
use shared::secret::{Keyring, SecretString};
use shared::telemetry::LogFormat;

use crate::app::{self, RunningApp};
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub http_listen: SocketAddr,
    pub sandbox_listen: SocketAddr,
    pub data_dir: PathBuf,
}

pub struct RunningDemo {
    pub sandbox: Sandbox,
    pub app: RunningApp,
    pub master_bot: BotInfo,
    /// Where a person talks to the bots as a Telegram user.
    pub chat_url: String,
}

pub async fn start(options: &DemoOptions) -> Result<RunningDemo> {
    // Every demo starts from scratch: the sandbox forgets its users when it stops.
    let db_path = options.data_dir.join("madar.db");
    for leftover in ["madar.db", "madar.db-wal", "madar.db-shm"] {
        let path = options.data_dir.join(leftover);
        if path.exists() {
            std::fs::remove_file(&path)?;
        }
    }
    std::fs::create_dir_all(&options.data_dir)?;

    let sandbox = Sandbox::start(options.sandbox_listen, SandboxOptions::default())
        .await
        .map_err(|e| {
            Error::Sandbox(format!(
                "cannot start the Telegram sandbox on {}: {e} (choose another port with --sandbox-listen)",
                options.sandbox_listen
            ))
        })?;
    let control = ControlClient::new(&sandbox.url());
    let sandbox_err = |e: sandbox::client::ClientError| Error::Sandbox(e.to_string());
    let master_bot = control
        .create_bot("madar_demo_bot", "Madar")
        .await
        .map_err(sandbox_err)?;
    control
        .create_user("Sara", Some("sara"), Some("fa"))
        .await
        .map_err(sandbox_err)?;
    control
        .create_user("Alex", Some("alex"), Some("en"))
        .await
        .map_err(sandbox_err)?;

    let config = MasterConfig {
        data_dir: options.data_dir.clone(),
        database_url: SecretString::new(shared::db::sqlite_url(&db_path)),
        default_locale: Locale::Fa,
        http_listen: options.http_listen,
        bot_token: Some(SecretString::new(master_bot.token.clone())),
        telegram_api_url: url::Url::parse(&sandbox.url())
            .map_err(|e| Error::Sandbox(format!("the sandbox URL does not parse: {e}")))?,
        update_mode: UpdateMode::LongPolling,
        log_format: LogFormat::Human,
        log_filter: "info".into(),
        secret_keys: vec![Keyring::generate_key_line("demo")],
        staff_chat_id: None,
        smtp: None,
        public_url: url::Url::parse("http://127.0.0.1/").expect("a constant URL"),
        payments: shared::config::PaymentsConfig::default(),
    };
    let app = app::start(&config).await?;
    let chat_url = format!("{}/", sandbox.url());
    Ok(RunningDemo {
        sandbox,
        app,
        master_bot,
        chat_url,
    })
}

impl RunningDemo {
    /// What the operator reads first.
    pub fn banner(&self) -> String {
        format!(
            "Madar demo is running.\n\n\
             \u{2022} Chat with the master bot @{bot} as a Telegram user: {chat}\n\
             \u{2022} Health of the master: http://{http}/healthz\n\n\
             Pick a user (Sara speaks Persian, Alex English), send /start, and browse the packages.\n\
             Press Ctrl+C to stop.",
            bot = self.master_bot.username,
            chat = self.chat_url,
            http = self.app.http_addr,
        )
    }

    pub async fn shutdown(self) -> Result<()> {
        let result = self.app.shutdown().await;
        self.sandbox.shutdown().await;
        result
    }
}
