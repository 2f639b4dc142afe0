//! Building and running the whole master: database, bot, HTTP server. `start` returns once
//! everything listens, so tests can start the real application on port 0 and talk to it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use shared::config::{MasterConfig, UpdateMode};
use shared::db::{Db, Schema};
use shared::telegram::polling;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::bot::{runner, MasterBot};
use crate::http::{self, HttpState, Webhook};
use crate::{texts, Error, Result};

/// The master, running. Dropping it does not stop it: call [`RunningApp::shutdown`].
pub struct RunningApp {
    pub http_addr: SocketAddr,
    pub bot_username: String,
    pub db: Db,
    shutdown: CancellationToken,
    tasks: JoinSet<Result<()>>,
}

pub async fn start(config: &MasterConfig) -> Result<RunningApp> {
    let db = Db::open(config.database_url.expose(), Schema::Master).await?;
    let texts = texts::catalog()?;
    let token = config.bot_token.as_ref().ok_or_else(|| {
        Error::Config(shared::config::ConfigError::Invalid {
            key: shared::config::keys::TELEGRAM_BOT_TOKEN.key,
            env: shared::config::keys::TELEGRAM_BOT_TOKEN.env,
            problem: "is not set".into(),
        })
    })?;
    let telegram = polling::bot(token.expose(), config.telegram_api_url.clone())?;
    let me = polling::identify(&telegram).await?;
    let bot_username = me.username().to_string();
    let telegram_ready = Arc::new(AtomicBool::new(true));
    let bot = MasterBot::new(telegram, db.clone(), texts, config.default_locale);
    if let Err(e) = runner::publish_commands(&bot).await {
        tracing::warn!(error = %e, "could not publish the command menu");
    }

    let listener = tokio::net::TcpListener::bind(config.http_listen)
        .await
        .map_err(|source| Error::Listen {
            addr: config.http_listen,
            source,
        })?;
    let http_addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();

    let webhook = match &config.update_mode {
        UpdateMode::LongPolling => {
            let (bot, token) = (bot.clone(), shutdown.clone());
            let db = db.clone();
            tasks.spawn(async move {
                polling::poll(
                    bot.telegram().clone(),
                    db,
                    runner::allowed_updates(),
                    bot,
                    token,
                )
                .await?;
                Ok(())
            });
            None
        }
        UpdateMode::Webhook { url, secret } => {
            runner::register_webhook(bot.telegram(), url.clone(), secret.expose()).await?;
            Some(Webhook {
                bot: bot.clone(),
                secret: secret.clone(),
            })
        }
    };

    let router = http::router(HttpState {
        db: db.clone(),
        telegram_ready: telegram_ready.clone(),
        webhook,
    });
    let token = shutdown.clone();
    tasks.spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(token.cancelled_owned())
            .await?;
        Ok(())
    });

    tracing::info!(%http_addr, bot = %bot_username, mode = ?mode_name(&config.update_mode), "master is running");
    telegram_ready.store(true, Ordering::Relaxed);
    Ok(RunningApp {
        http_addr,
        bot_username,
        db,
        shutdown,
        tasks,
    })
}

fn mode_name(mode: &UpdateMode) -> &'static str {
    match mode {
        UpdateMode::LongPolling => "long polling",
        UpdateMode::Webhook { .. } => "webhook",
    }
}

impl RunningApp {
    /// A token that stops the app when cancelled (e.g. from a signal handler).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs until shutdown is asked for or a part of the app fails; then stops the rest.
    pub async fn wait(mut self) -> Result<()> {
        let first = tokio::select! {
            _ = self.shutdown.cancelled() => Ok(()),
            Some(joined) = self.tasks.join_next() => flatten(joined),
        };
        self.shutdown.cancel();
        let rest = self.finish().await;
        first.and(rest)
    }

    /// Stops receiving updates and serving HTTP, and waits for both to finish.
    pub async fn shutdown(mut self) -> Result<()> {
        self.shutdown.cancel();
        self.finish().await
    }

    async fn finish(&mut self) -> Result<()> {
        let mut result = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            if let Err(e) = flatten(joined) {
                tracing::error!(error = %e, "a part of the master failed while stopping");
                result = Err(e);
            }
        }
        self.db.close().await;
        result
    }
}

fn flatten(joined: std::result::Result<Result<()>, tokio::task::JoinError>) -> Result<()> {
    match joined {
        Ok(result) => result,
        Err(e) => Err(Error::Io(std::io::Error::other(e))),
    }
}
