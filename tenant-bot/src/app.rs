//! Starting and stopping the tenant bot: database, Telegram, the order worker and timers, the
//! notice sender, the link to the master (configuration and inbox) and heartbeats.

use std::sync::Arc;
use std::time::Duration;

use shared::clock::{Clock, SystemClock};
use shared::db::{now_unix, Db, Schema};
use shared::panel::PanelOptions;
use shared::service::Service;
use shared::telegram::polling;
use teloxide::types::AllowedUpdate;
use tokio_util::sync::CancellationToken;

use crate::config::TenantConfig;
use crate::fulfil::Fulfilment;
use crate::handler::{Parts, TenantBot};
use crate::heartbeat::{Heartbeat, HeartbeatSender};
use crate::inbox::{self, InboxPuller, MasterInbox};
use crate::jobs::{Jobs, Schedule};
use crate::master_link::{self, MasterLink};
use crate::panels::Registry;
use crate::payments::GatewayUrls;
use crate::{texts, Result};

/// The command menu: (command, text key).
const COMMANDS: &[(&str, &str)] = &[
    ("start", "command_start"),
    ("buy", "command_buy"),
    ("services", "command_services"),
    ("wallet", "command_wallet"),
    ("language", "command_language"),
    ("help", "command_help"),
];

pub struct RunningTenantBot {
    pub bot_username: String,
    pub db: Db,
    pub bot: TenantBot,
    service: Service<crate::Error>,
}

/// What tests (and the demo) may change; production uses `Extras::default()`.
pub struct Extras {
    pub clock: Arc<dyn Clock>,
    /// Panel timeouts and retries; the network policy always comes from the configuration.
    pub panel_options: PanelOptions,
    pub schedule: Schedule,
    /// The notice sender's timer (it is also woken whenever something is stored for it).
    pub notices_every: Duration,
    /// Where the payment gateways are; `None` = the providers' production addresses.
    pub gateway_urls: Option<GatewayUrls>,
}

impl Default for Extras {
    fn default() -> Self {
        Extras {
            clock: Arc::new(SystemClock),
            panel_options: PanelOptions::default(),
            schedule: Schedule::default(),
            notices_every: Duration::from_secs(5),
            gateway_urls: None,
        }
    }
}

pub async fn start(config: &TenantConfig) -> Result<RunningTenantBot> {
    start_with(config, Extras::default()).await
}

pub async fn start_with(config: &TenantConfig, extras: Extras) -> Result<RunningTenantBot> {
    let db = Db::open(&config.database_url, Schema::Tenant).await?;
    let texts = texts::catalog()?;
    let telegram = polling::bot(config.bot_token.expose(), config.telegram_api_url.clone())?;
    let me = polling::identify(&telegram).await?;
    let bot_username = me.username().to_string();

    let panel_options = PanelOptions {
        network: config.panel_network.clone(),
        ..extras.panel_options
    };
    let registry = Registry::new(db.clone(), config.data_key.clone(), panel_options);
    let fulfilment = Fulfilment::new(db.clone(), registry.clone(), extras.clock.clone());
    let gateway_urls = extras
        .gateway_urls
        .unwrap_or_else(|| GatewayUrls::production(&bot_username));
    let gateway_urls_for_jobs = gateway_urls.clone();
    let bot = TenantBot::new(Parts {
        telegram,
        db: db.clone(),
        texts,
        bot_name: me.first_name.clone(),
        fulfilment: fulfilment.clone(),
        clock: extras.clock.clone(),
        keyring: config.data_key.clone(),
        gateway_urls,
    });

    // The command menu; a Telegram hiccup here must not keep the shop closed.
    if let Err(e) = shared::telegram::command::publish(bot.telegram(), bot.texts(), COMMANDS).await
    {
        tracing::warn!(error = %e, "the command menu was not published");
    }

    let mut tasks = Service::new(|e| crate::Error::Io(std::io::Error::other(e)));
    let shutdown = tasks.token();
    {
        let (bot, db, token) = (bot.clone(), db.clone(), shutdown.clone());
        tasks.spawn(async move {
            let allowed = vec![
                AllowedUpdate::Message,
                AllowedUpdate::CallbackQuery,
                AllowedUpdate::PreCheckoutQuery,
            ];
            polling::poll(bot.telegram().clone(), db, allowed, bot, token).await?;
            Ok(())
        });
    }
    {
        let (bot, token, every) = (bot.clone(), shutdown.clone(), extras.notices_every);
        tasks.spawn(async move {
            bot.run_notice_sender(every, token).await;
            Ok(())
        });
    }
    {
        let puller = InboxPuller {
            inbox: MasterInbox::new(&config.master_url, config.api_key.clone()),
            db: db.clone(),
            keyring: config.data_key.clone(),
            gateway_urls: gateway_urls_for_jobs.clone(),
            fulfilment: fulfilment.clone(),
            clock: extras.clock.clone(),
            notices_ready: bot.notices_ready(),
        };
        let token = shutdown.clone();
        tasks.spawn(async move {
            puller.run(inbox::EVERY, token).await;
            Ok(())
        });
    }
    {
        let jobs = Jobs {
            db: db.clone(),
            registry,
            fulfilment,
            clock: extras.clock.clone(),
            schedule: extras.schedule,
            notices_ready: bot.notices_ready(),
            keyring: config.data_key.clone(),
            gateway_urls: gateway_urls_for_jobs,
        };
        let token = shutdown.clone();
        tasks.spawn(async move {
            jobs.run(token).await;
            Ok(())
        });
    }
    {
        let link = MasterLink::new(&config.master_url, config.api_key.clone());
        let (db, keyring, every, token) = (
            db.clone(),
            config.data_key.clone(),
            config.config_every,
            shutdown.clone(),
        );
        tasks.spawn(async move {
            master_link::run(link, db, keyring, every, token).await;
            Ok(())
        });
    }
    {
        let sender = HeartbeatSender::new(
            &config.master_url,
            config.api_key.clone(),
            config.heartbeat_every,
        );
        let template = Heartbeat {
            tenant_id: config.tenant_id.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            bot_username: bot_username.clone(),
            started_at: now_unix(),
            updates_handled: 0,
            end_users: None,
        };
        let (bot, token) = (bot.clone(), shutdown.clone());
        tasks.spawn(async move {
            sender.run(template, bot, token).await;
            Ok(())
        });
    }
    tracing::info!(tenant = %config.tenant_id, bot = %bot_username, "tenant bot is running");
    Ok(RunningTenantBot {
        bot_username,
        db,
        bot,
        service: tasks,
    })
}

impl RunningTenantBot {
    pub fn shutdown_token(&self) -> CancellationToken {
        self.service.token()
    }

    /// Runs until shutdown is asked for or a part fails; then stops the rest.
    pub async fn wait(self) -> Result<()> {
        let result = self.service.wait().await;
        self.db.close().await;
        result
    }

    pub async fn shutdown(self) -> Result<()> {
        let result = self.service.shutdown().await;
        self.db.close().await;
        result
    }
}
