//! The world an end-user story runs in: the Telegram sandbox, a fresh tenant database on the
//! chosen engine, the real tenant bot started against them, and helpers to act as a person in
//! the chat and to set the shop up (panels, plans, money) the way its admins would.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use sandbox::client::{ChatMessage, ControlClient, Sender};
use sandbox::panels::{FakeMarzban, FakeMarzbanOptions, FakeXui, FakeXuiOptions, XuiGeneration};
use sandbox::{Sandbox, SandboxOptions};
use shared::clock::SystemClock;
use shared::db::{Db, Engine, Schema};
use shared::money::Money;
use shared::panel::{
    InboundRef, NetRule, NetworkPolicy, PanelCredentials, PanelKind, PanelOptions,
};
use shared::secret::{Keyring, SecretString};
use shared::telegram::BotToken;
use shared::telemetry::LogFormat;
use shared::testdb::TestDb;
use tenant_bot::app::{self, Extras, RunningTenantBot};
use tenant_bot::config::TenantConfig;
use tenant_bot::jobs::Schedule;
use tenant_bot::panels::{self, PanelInput, Source};
use tenant_bot::payments::GatewayUrls;
use tenant_bot::plans::{self, Plan, PlanDraft, GIB};
use tenant_bot::wallet::{self, Reason};

pub const WAIT: Duration = Duration::from_secs(20);

pub fn now() -> i64 {
    shared::db::now_unix()
}

pub struct World {
    pub sandbox: Sandbox,
    pub control: ControlClient,
    pub token: String,
    pub bot_id: i64,
    pub app: RunningTenantBot,
    pub db: Db,
    pub test_db: TestDb,
    pub keyring: Keyring,
}

/// A running tenant bot against the sandbox, or `None` when the engine is not available here.
pub async fn world(engine: Engine) -> Option<World> {
    world_with(engine, None).await
}

/// A world whose payment gateways are at `gateway_urls` (the sandbox's fakes).
pub async fn world_with(engine: Engine, gateway_urls: Option<GatewayUrls>) -> Option<World> {
    let test_db = TestDb::fresh(engine, Schema::Tenant).await?;
    let sandbox = Sandbox::start(
        "127.0.0.1:0".parse().unwrap(),
        SandboxOptions::fast_for_tests(),
    )
    .await
    .unwrap();
    let control = ControlClient::new(&sandbox.url());
    let bot = control
        .create_bot("nimbus_vpn_bot", "Nimbus VPN")
        .await
        .unwrap();
    let keyring = Keyring::from_config(&[Keyring::generate_key_line("t1")]).unwrap();
    let config = TenantConfig {
        tenant_id: "tenant-7".into(),
        bot_token: BotToken::parse(&bot.token).unwrap(),
        api_key: SecretString::new("key-of-tenant-7"),
        data_key: keyring.clone(),
        // The fake panels live on this machine; an operator would allow-list them like this.
        panel_network: NetworkPolicy::strict().allow(NetRule::parse("127.0.0.0/8").unwrap()),
        telegram_api_url: url::Url::parse(&sandbox.url()).unwrap(),
        // Nothing listens there: heartbeats and the master link fail quietly.
        master_url: url::Url::parse("http://127.0.0.1:9").unwrap(),
        database_url: test_db.url.clone(),
        heartbeat_every: Duration::from_secs(60),
        config_every: Duration::from_secs(600),
        log_format: LogFormat::Human,
        log_filter: "warn".into(),
    };
    let extras = Extras {
        clock: Arc::new(SystemClock),
        panel_options: PanelOptions {
            request_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(1),
            attempts: 2,
            retry_backoff: Duration::from_millis(20),
            ..PanelOptions::default()
        },
        schedule: Schedule::default(),
        notices_every: Duration::from_secs(30),
        gateway_urls,
    };
    let app = app::start_with(&config, extras).await.unwrap();
    let db = app.db.clone();
    Some(World {
        sandbox,
        control,
        token: bot.token,
        bot_id: bot.id,
        app,
        db,
        test_db,
        keyring,
    })
}

impl World {
    pub async fn user(&self, first_name: &str, language: &str) -> i64 {
        self.control
            .create_user(first_name, None, Some(language))
            .await
            .unwrap()
    }

    /// Sends `text` as `user` and returns the bot's first answer to it.
    pub async fn say(&self, user: i64, text: &str) -> ChatMessage {
        let sent = self.control.send(&self.token, user, text).await.unwrap();
        self.control
            .wait_for_bot_message(&self.token, user, sent.message_id, |_| true, WAIT)
            .await
            .unwrap()
    }

    /// Presses the first inline button whose label contains `label`, then waits for a bot
    /// message (that one edited, or a new one) whose text contains `needle`.
    pub async fn press(
        &self,
        user: i64,
        message: &ChatMessage,
        label: &str,
        needle: &str,
    ) -> ChatMessage {
        let data = message
            .button_data(label)
            .unwrap_or_else(|| panic!("no button {label:?} on {message:#?}"));
        let last = self.last_message_id(user).await;
        self.control
            .press(&self.token, user, message.message_id, &data)
            .await
            .unwrap();
        let id = message.message_id;
        self.wait_for(user, |m| {
            (m.message_id == id || m.message_id > last) && m.body().contains(needle)
        })
        .await
    }

    /// Waits for a bot message that satisfies `wanted`, newest first.
    pub async fn wait_for(&self, user: i64, wanted: impl Fn(&ChatMessage) -> bool) -> ChatMessage {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let chat = self.chat(user).await;
            if let Some(m) = chat
                .iter()
                .rev()
                .find(|m| m.from == Sender::Bot && wanted(m))
            {
                return m.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no such bot message; chat: {chat:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for a bot message whose text or caption contains `needle`.
    pub async fn wait_for_text(&self, user: i64, needle: &str) -> ChatMessage {
        self.wait_for(user, |m| m.body().contains(needle)).await
    }

    /// Waits for a photo from the bot newer than message `after`.
    pub async fn wait_for_photo(&self, user: i64, after: i64) -> ChatMessage {
        self.wait_for(user, |m| m.message_id > after && m.photo_file_id.is_some())
            .await
    }

    /// Waits for a delivery: the photo with the link, then the import tips that end it (so
    /// they cannot answer a later message of the story). Returns the photo.
    pub async fn wait_for_delivery(&self, user: i64, after: i64) -> ChatMessage {
        let photo = self.wait_for_photo(user, after).await;
        let id = photo.message_id;
        self.wait_for(user, |m| {
            m.message_id > id && m.body().contains("How to connect")
        })
        .await;
        photo
    }

    pub async fn last_message_id(&self, user: i64) -> i64 {
        self.chat(user)
            .await
            .iter()
            .map(|m| m.message_id)
            .max()
            .unwrap_or(0)
    }

    pub async fn chat(&self, user: i64) -> Vec<ChatMessage> {
        self.control.chat(&self.token, user).await.unwrap()
    }

    /// Money into a user's wallet, as an admin would put it there.
    pub async fn credit(&self, user: i64, toman: i64) {
        let mut tx = self.db.begin().await.unwrap();
        let reference = format!("test-credit:{}", shared::db::new_id());
        wallet::record(
            &mut tx,
            user,
            Money::toman(toman),
            Reason::Admin,
            &reference,
            now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    pub async fn balance(&self, user: i64) -> i64 {
        wallet::balance(&self.db, user).await.unwrap().minor()
    }

    pub async fn add_plan(&self, name: &str, gb: i64, days: i64, toman: i64) -> Plan {
        let draft = PlanDraft {
            name_fa: format!("{name} فا"),
            name_en: name.to_string(),
            data_bytes: Some(gb * GIB),
            days,
            price: Money::toman(toman),
            ip_limit: Some(2),
            location: None,
            panel_id: None,
            sort_order: 0,
        };
        plans::create(&self.db, &draft, now()).await.unwrap()
    }

    pub async fn add_marzban(&self, fake: &FakeMarzban) -> String {
        let defaults = FakeMarzbanOptions::default();
        let input = PanelInput {
            name: "Marzban DE".into(),
            kind: PanelKind::Marzban,
            url: fake.url(),
            subscription_base: None,
            credentials: PanelCredentials::Password {
                username: defaults.admin_user,
                password: SecretString::new(defaults.admin_password),
            },
            weight: 1,
            capacity: None,
            location: None,
            inbounds: Vec::new(),
        };
        panels::insert(&self.db, &self.keyring, &input, Source::Bot, None, now())
            .await
            .unwrap()
    }

    pub async fn add_xui(&self, fake: &FakeXui, generation: XuiGeneration) -> String {
        let options = FakeXuiOptions::new(generation);
        let input = PanelInput {
            name: "3x-UI NL".into(),
            kind: PanelKind::Xui,
            url: fake.url(),
            subscription_base: Some(fake.subscription_base()),
            credentials: PanelCredentials::Password {
                username: options.username,
                password: SecretString::new(options.password),
            },
            weight: 1,
            capacity: None,
            location: None,
            // 3x-UI 2.x keeps an account in exactly one inbound.
            inbounds: vec![InboundRef("1".into())],
        };
        panels::insert(&self.db, &self.keyring, &input, Source::Bot, None, now())
            .await
            .unwrap()
    }

    pub async fn stop(self) {
        self.app.shutdown().await.unwrap();
        self.sandbox.shutdown().await;
        self.test_db.cleanup().await.unwrap();
    }
}

pub async fn start_marzban() -> FakeMarzban {
    FakeMarzban::start(
        "127.0.0.1:0".parse().unwrap(),
        FakeMarzbanOptions::default(),
    )
    .await
    .unwrap()
}

pub async fn start_xui(generation: XuiGeneration) -> FakeXui {
    FakeXui::start(
        "127.0.0.1:0".parse().unwrap(),
        FakeXuiOptions::new(generation),
    )
    .await
    .unwrap()
}

/// Reads the QR code in a PNG back to its text.
pub fn decode_qr(png_bytes: &[u8]) -> String {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(info.color_type, png::ColorType::Grayscale, "a greyscale QR");
    let (w, h) = (info.width as usize, info.height as usize);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the picture");
    grids[0].decode().unwrap().1
}

/// The status code of a GET of `url` (a subscription link).
pub async fn status_of(url: &str) -> u16 {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The subscription link in a caption: the line that starts with http.
pub fn link_in(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("http://") || l.starts_with("https://"))
        .unwrap_or_else(|| panic!("no link in {text:?}"))
        .to_string()
}
