//! `madar demo`: the whole story on one machine with no configuration. It starts the Telegram
//! sandbox in-process with a master bot, a staff group and a spare bot to hand over, a fake
//! Marzban panel and a fake Zarinpal gateway, and runs Madar on a fresh SQLite database.

use std::net::SocketAddr;
use std::path::PathBuf;

use sandbox::client::{BotInfo, ControlClient};
use sandbox::gateways::zarinpal::{FakeZarinpal, ZarinpalOptions};
use sandbox::panels::{FakeMarzban, FakeMarzbanOptions};
use sandbox::{Sandbox, SandboxOptions};
use shared::config::{MasterConfig, UpdateMode};
use shared::i18n::Locale;
use shared::panel::{NetRule, NetworkPolicy};
use shared::secret::{Keyring, SecretString};
use shared::telemetry::LogFormat;

use crate::app::{self, RunningApp};
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub http_listen: SocketAddr,
    pub sandbox_listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The tenant-bot program; `None` looks next to this executable.
    pub tenant_bot: Option<PathBuf>,
}

pub struct RunningDemo {
    pub sandbox: Sandbox,
    pub app: RunningApp,
    pub master_bot: BotInfo,
    /// A bot a customer can hand over during onboarding.
    pub shop_bot: BotInfo,
    pub marzban: FakeMarzban,
    pub zarinpal: FakeZarinpal,
    /// Where a person talks to the bots as a Telegram user.
    pub chat_url: String,
    /// Whether bought bots really start (the tenant-bot program was found next to `madar`).
    pub runs_tenant_bots: bool,
}

/// A port to listen on: the given one, or a free one when it is 0 (the address must be known
/// before the server starts, for the payment gateway's callback URL).
fn concrete(addr: SocketAddr) -> Result<SocketAddr> {
    if addr.port() != 0 {
        return Ok(addr);
    }
    let probe = std::net::TcpListener::bind(addr)?;
    Ok(probe.local_addr()?)
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
    let shop_bot = control
        .create_bot("my_vpn_shop_bot", "My VPN Shop")
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
    // The staff group, with the master bot and a staff member in it.
    let staff_group = control
        .create_chat("supergroup", Some("madar_staff"), "Madar staff")
        .await
        .map_err(sandbox_err)?;
    control
        .set_member(staff_group, master_bot.id, "administrator")
        .await
        .map_err(sandbox_err)?;
    let staff = control
        .create_user("Staff", Some("madar_staff_member"), Some("fa"))
        .await
        .map_err(sandbox_err)?;
    control
        .set_member(staff_group, staff, "member")
        .await
        .map_err(sandbox_err)?;

    let local = SocketAddr::from(([127, 0, 0, 1], 0));
    let marzban = FakeMarzban::start(local, FakeMarzbanOptions::default())
        .await
        .map_err(|e| Error::Sandbox(format!("the demo panel did not start: {e}")))?;
    let zarinpal = FakeZarinpal::start(local, ZarinpalOptions::default())
        .await
        .map_err(|e| Error::Sandbox(format!("the demo gateway did not start: {e}")))?;
    let http_listen = concrete(options.http_listen)?;
    let card = shared::payment::CardAccount::new("6037991234567810", "Madar Demo", "Demo Bank")
        .map_err(|e| Error::Sandbox(e.to_string()))?;

    let config = MasterConfig {
        data_dir: options.data_dir.clone(),
        database_url: SecretString::new(shared::db::sqlite_url(&db_path)),
        default_locale: Locale::Fa,
        http_listen,
        bot_token: Some(SecretString::new(master_bot.token.clone())),
        telegram_api_url: url::Url::parse(&sandbox.url())
            .map_err(|e| Error::Sandbox(format!("the sandbox URL does not parse: {e}")))?,
        update_mode: UpdateMode::LongPolling,
        log_format: LogFormat::Human,
        log_filter: "info".into(),
        secret_keys: vec![Keyring::generate_key_line("demo")],
        staff_chat_id: Some(staff_group),
        smtp: None,
        public_url: url::Url::parse(&format!("http://{http_listen}"))
            .map_err(|e| Error::Sandbox(e.to_string()))?,
        payments: shared::config::PaymentsConfig {
            cards: vec![card],
            card_auto_approve_minutes: None,
            zarinpal: Some((
                SecretString::new(ZarinpalOptions::default().merchant_id),
                zarinpal.url(),
            )),
            nowpayments: None,
            stars: true,
        },
        runtime: shared::config::RuntimeConfig {
            kind: shared::config::RuntimeKind::None,
            docker_host: None,
            tenant_master_url: url::Url::parse("http://127.0.0.1/").expect("a constant URL"),
            tenant_telegram_api_url: url::Url::parse("http://127.0.0.1/").expect("a constant URL"),
        },
    };
    // Tenant bots run as child processes: the tenant-bot program next to this one.
    let tenant_bot = options
        .tenant_bot
        .clone()
        .or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(|dir| dir.join("tenant-bot")))
        })
        .filter(|path| path.exists());
    let runtime = tenant_bot.as_ref().map(|binary| {
        let runtime: std::sync::Arc<dyn provisioner::runtime::Runtime> = std::sync::Arc::new(
            crate::provisioning::process_runtime(&options.data_dir, binary),
        );
        let mut settings = provisioner::reconcile::ReconcilerSettings::new(
            &sandbox.url(),
            &format!("http://{http_listen}"),
        );
        settings.heartbeat_seconds = 5;
        settings.interval = std::time::Duration::from_secs(2);
        (runtime, settings)
    });
    let extras = app::Extras {
        runtime,
        // The demo panel runs on this machine; a real operator would not allow loopback.
        panel_policy: NetworkPolicy::strict()
            .allow(NetRule::parse("127.0.0.1").map_err(|e| Error::Sandbox(e.to_string()))?),
        image_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        ..app::Extras::default()
    };
    let app = app::start_with(&config, extras).await?;
    let chat_url = format!("{}/", sandbox.url());
    let runs_tenant_bots = tenant_bot.is_some();
    Ok(RunningDemo {
        sandbox,
        app,
        master_bot,
        shop_bot,
        marzban,
        zarinpal,
        chat_url,
        runs_tenant_bots,
    })
}

impl RunningDemo {
    /// What the operator reads first.
    pub fn banner(&self) -> String {
        let panel = FakeMarzbanOptions::default();
        format!(
            "Madar demo is running.\n\n\
             \u{2022} Chat with the master bot @{bot} as a Telegram user: {chat}\n\
             \u{2022} Health of the master: http://{http}/healthz\n\n\
             Pick a user (Sara speaks Persian, Alex English), send /start, and buy a package:\n\
             \u{2022} pay by card (then approve the receipt as \"Staff\" in the group \"Madar staff\"),\n\
             \u{2022} or with Zarinpal (a demo payment page opens: press Pay), or with Telegram Stars.\n\
             Then set up your bot with:\n\
             \u{2022} bot token: {token}\n\
             \u{2022} Marzban panel: {panel_url}  user {user}  password {password}\n\
             {runtime}\n\n\
             Press Ctrl+C to stop.",
            runtime = if self.runs_tenant_bots {
                "When it is set up, the bot starts and @my_vpn_shop_bot answers /start in the chat page."
            } else {
                "(Tenant bots do not start: build them too with `cargo build --release -p tenant-bot`.)"
            },
            bot = self.master_bot.username,
            chat = self.chat_url,
            http = self.app.http_addr,
            token = self.shop_bot.token,
            panel_url = self.marzban.url(),
            user = panel.admin_user,
            password = panel.admin_password,
        )
    }

    pub async fn shutdown(self) -> Result<()> {
        let result = self.app.shutdown().await;
        self.sandbox.shutdown().await;
        self.marzban.shutdown().await;
        self.zarinpal.shutdown().await;
        result
    }
}
