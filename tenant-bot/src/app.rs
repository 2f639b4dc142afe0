//! Starting and stopping the tenant bot: database, Telegram, heartbeats.

use shared::db::{now_unix, Db, Schema};
use shared::service::Service;
use shared::telegram::polling;
use teloxide::types::AllowedUpdate;
use tokio_util::sync::CancellationToken;

use crate::config::TenantConfig;
use crate::handler::TenantBot;
use crate::heartbeat::{Heartbeat, HeartbeatSender};
use crate::{texts, Result};

pub struct RunningTenantBot {
    pub bot_username: String,
    pub db: Db,
    service: Service<crate::Error>,
}

pub async fn start(config: &TenantConfig) -> Result<RunningTenantBot> {
    let db = Db::open(&config.database_url, Schema::Tenant).await?;
    let texts = texts::catalog()?;
    let telegram = polling::bot(config.bot_token.expose(), config.telegram_api_url.clone())?;
    let me = polling::identify(&telegram).await?;
    let bot_username = me.username().to_string();
    let bot = TenantBot::new(telegram, db.clone(), texts, me.first_name.clone());

    let mut tasks = Service::new(|e| crate::Error::Io(std::io::Error::other(e)));
    let shutdown = tasks.token();
    {
        let (bot, db, token) = (bot.clone(), db.clone(), shutdown.clone());
        tasks.spawn(async move {
            let allowed = vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery];
            polling::poll(bot.telegram().clone(), db, allowed, bot, token).await?;
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
