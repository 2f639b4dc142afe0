//! The world a master test runs in: the Telegram sandbox, a fresh database on the chosen
//! engine, and the real master application started on a free port.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use master::app::{self, RunningApp};
use sandbox::client::{BotInfo, ChatMessage, ControlClient, Sender};
use sandbox::{Sandbox, SandboxOptions};
use shared::config::{MasterConfig, UpdateMode};
use shared::db::{Engine, Schema};
use shared::i18n::Locale;
use shared::secret::SecretString;
use shared::telemetry::LogFormat;
use shared::testdb::TestDb;

pub const WAIT: Duration = Duration::from_secs(15);

pub struct World {
    pub sandbox: Sandbox,
    pub control: ControlClient,
    pub master_bot: BotInfo,
    pub app: Option<RunningApp>,
    pub config: MasterConfig,
    pub test_db: TestDb,
    pub extras: MakeExtras,
}

/// A running master against the sandbox, or `None` when the engine is not available here
/// (PostgreSQL outside CI; under CI that is a failure inside `TestDb::fresh`).
pub async fn world(engine: Engine) -> Option<World> {
    world_with(engine, |_| {}).await
}

pub async fn world_with(engine: Engine, adjust: impl FnOnce(&mut MasterConfig)) -> Option<World> {
    world_full(engine, adjust, |_: &str| app::Extras::default()).await
}

/// Makes the app's extras for every (re)start, given the sandbox's URL.
pub type MakeExtras = Arc<dyn Fn(&str) -> app::Extras + Send + Sync>;

/// A world with everything adjustable; `extras` is called for every (re)start of the app.
pub async fn world_full(
    engine: Engine,
    adjust: impl FnOnce(&mut MasterConfig),
    extras: impl Fn(&str) -> app::Extras + Send + Sync + 'static,
) -> Option<World> {
    let extras: MakeExtras = Arc::new(extras);
    let test_db = TestDb::fresh(engine, Schema::Master).await?;
    let sandbox = Sandbox::start(local(0), SandboxOptions::fast_for_tests())
        .await
        .unwrap();
    let control = ControlClient::new(&sandbox.url());
    let master_bot = control.create_bot("madar_test_bot", "Madar").await.unwrap();
    let mut config = MasterConfig {
        data_dir: PathBuf::from("unused"),
        database_url: SecretString::new(test_db.url.clone()),
        default_locale: Locale::Fa,
        http_listen: local(0),
        bot_token: Some(SecretString::new(master_bot.token.clone())),
        telegram_api_url: url::Url::parse(&sandbox.url()).unwrap(),
        update_mode: UpdateMode::LongPolling,
        log_format: LogFormat::Human,
        log_filter: "warn".into(),
        secret_keys: Vec::new(),
        staff_chat_id: None,
        smtp: None,
        public_url: url::Url::parse("http://127.0.0.1/").expect("a constant URL"),
        payments: shared::config::PaymentsConfig::default(),
        runtime: shared::config::RuntimeConfig {
            kind: shared::config::RuntimeKind::None,
            docker_host: None,
            tenant_master_url: url::Url::parse("http://127.0.0.1/").expect("a constant URL"),
            tenant_telegram_api_url: url::Url::parse("http://127.0.0.1/").expect("a constant URL"),
        },
    };
    adjust(&mut config);
    let app = app::start_with(&config, extras(&sandbox.url()))
        .await
        .unwrap();
    Some(World {
        sandbox,
        control,
        master_bot,
        app: Some(app),
        config,
        test_db,
        extras,
    })
}

pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl World {
    pub fn app(&self) -> &RunningApp {
        self.app.as_ref().expect("the app is running")
    }

    pub async fn user(&self, first_name: &str, language: &str) -> i64 {
        self.control
            .create_user(first_name, None, Some(language))
            .await
            .unwrap()
    }

    /// Sends `text` as `user` and returns the bot's first answer to it.
    pub async fn say(&self, user: i64, text: &str) -> ChatMessage {
        let sent = self
            .control
            .send(&self.master_bot.token, user, text)
            .await
            .unwrap();
        self.next_answer(user, sent.message_id).await
    }

    /// The first bot message after `after`.
    pub async fn next_answer(&self, user: i64, after: i64) -> ChatMessage {
        self.control
            .wait_for_bot_message(&self.master_bot.token, user, after, |_| true, WAIT)
            .await
            .unwrap()
    }

    /// Presses the first inline button whose label contains `label` on `message`.
    pub async fn press_label(&self, user: i64, message: &ChatMessage, label: &str) {
        let data = message
            .button_data(label)
            .unwrap_or_else(|| panic!("no button {label:?} on {message:#?}"));
        self.control
            .press(&self.master_bot.token, user, message.message_id, &data)
            .await
            .unwrap();
    }

    /// Waits for a bot message (new or edited) whose text contains `needle`.
    pub async fn wait_for_text(&self, user: i64, needle: &str) -> ChatMessage {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let chat = self.chat(user).await;
            if let Some(m) = chat
                .iter()
                .rev()
                .find(|m| m.from == Sender::Bot && m.body().contains(needle))
            {
                return m.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no bot message with {needle:?}; chat: {chat:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Presses an inline button and waits until the message it is on is edited to satisfy `done`.
    pub async fn press_until(
        &self,
        user: i64,
        message_id: i64,
        data: &str,
        done: impl Fn(&ChatMessage) -> bool,
    ) -> ChatMessage {
        self.control
            .press(&self.master_bot.token, user, message_id, data)
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let chat = self.chat(user).await;
            if let Some(m) = chat.iter().find(|m| m.message_id == message_id && done(m)) {
                return m.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "message {message_id} never became what was expected; chat: {chat:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn chat(&self, user: i64) -> Vec<ChatMessage> {
        self.control
            .chat(&self.master_bot.token, user)
            .await
            .unwrap()
    }

    pub async fn bot_messages(&self, user: i64) -> Vec<ChatMessage> {
        self.chat(user)
            .await
            .into_iter()
            .filter(|m| m.from == Sender::Bot)
            .collect()
    }

    /// Restarts the master on the same database and sandbox.
    pub async fn restart(&mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await.unwrap();
        }
        let extras = (self.extras)(&self.sandbox.url());
        self.app = Some(app::start_with(&self.config, extras).await.unwrap());
    }

    pub async fn stop(mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await.unwrap();
        }
        self.sandbox.shutdown().await;
        self.test_db.cleanup().await.unwrap();
    }
}
