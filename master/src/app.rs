//! Building and running the whole master: database, bot, HTTP server. `start` returns once
//! everything listens, so tests can start the real application on port 0 and talk to it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use shared::clock::{Clock, SystemClock};
use shared::config::{MasterConfig, UpdateMode};
use shared::db::{Db, Schema};
use shared::service::Service;
use shared::telegram::polling;
use tokio_util::sync::CancellationToken;

use crate::bot::{runner, MasterBot, Services};
use crate::checkout::{self, Gateways};
use crate::http::{self, HttpState, Webhook};
use crate::jobs::{lifecycle, scheduler};
use crate::mail::Mailer;
use crate::notify::Notifier;
use crate::outbox::{self, args, Channel, NewMessage};
use crate::tenants::{self, checks::LiveChecks};
use crate::{texts, Error, Result};
use provisioner::reconcile::{Reconciler, ReconcilerSettings};
use provisioner::runtime::Runtime;
use serde_json::json;
use shared::panel::NetworkPolicy;
use shared::secret::Keyring;

/// The master, running. Dropping it does not stop it: call [`RunningApp::shutdown`].
pub struct RunningApp {
    pub http_addr: SocketAddr,
    pub bot_username: String,
    pub db: Db,
    service: Service<Error>,
}

/// What a caller may set besides the configuration: the clock (tests move it), the panel
/// address policy, and the reconcile loop when this master runs tenant bots.
pub struct Extras {
    pub clock: Arc<dyn Clock>,
    pub panel_policy: NetworkPolicy,
    /// Where tenant bots run, and how the reconcile loop reaches them; `None` = this master
    /// runs no tenant bots.
    pub runtime: Option<(Arc<dyn Runtime>, ReconcilerSettings)>,
    /// The tenant-bot image version new instances get.
    pub image_version: Option<String>,
    pub lifecycle: lifecycle::Policy,
}

impl Default for Extras {
    fn default() -> Self {
        Extras {
            clock: Arc::new(SystemClock),
            panel_policy: NetworkPolicy::strict(),
            runtime: None,
            image_version: None,
            lifecycle: lifecycle::Policy::default(),
        }
    }
}

pub async fn start(config: &MasterConfig) -> Result<RunningApp> {
    start_with(config, Extras::default()).await
}

pub async fn start_with(config: &MasterConfig, extras: Extras) -> Result<RunningApp> {
    let db = Db::open(config.database_url.expose(), Schema::Master).await?;
    let clock = extras.clock.clone();
    let gateways = Arc::new(Gateways::from_config(config)?);
    let keyring = if config.secret_keys.is_empty() {
        None
    } else {
        Some(
            Keyring::from_config(&config.secret_keys)
                .map_err(|e| Error::Corrupt(format!("secret keys: {e}")))?,
        )
    };
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
    let services = Services {
        gateways: gateways.clone(),
        keyring: keyring.clone(),
        checks: Arc::new(LiveChecks {
            telegram_api_url: config.telegram_api_url.clone(),
            policy: extras.panel_policy.clone(),
        }),
        policy: extras.panel_policy.clone(),
        staff_chat: config.staff_chat_id,
        clock: clock.clone(),
        image_version: extras.image_version.clone(),
        runtime: extras.runtime.as_ref().map(|(runtime, _)| runtime.clone()),
    };
    let notifier = Notifier {
        db: db.clone(),
        telegram: Some(telegram.clone()),
        texts: Arc::new(texts::catalog()?),
        mailer: match &config.smtp {
            Some(smtp) => Some(Mailer::new(smtp).map_err(|e| Error::Corrupt(e.to_string()))?),
            None => None,
        },
        staff_chat: config.staff_chat_id,
        default_locale: config.default_locale,
    };
    let bot = MasterBot::new(telegram, db.clone(), texts, config.default_locale, services);
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
    let mut tasks = Service::new(|e| Error::Io(std::io::Error::other(e)));
    let shutdown = tasks.token();

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

    {
        let token = shutdown.clone();
        let clock = clock.clone();
        tasks.spawn(async move {
            notifier.run(clock, token).await;
            Ok(())
        });
    }
    spawn_jobs(
        &mut tasks,
        &db,
        &gateways,
        keyring.clone(),
        &extras,
        &shutdown,
    )?;
    let reconciler = match (&extras.runtime, &keyring) {
        (Some((runtime, settings)), Some(keyring)) => {
            // Tenant bots check their panels' addresses as this master does.
            let mut settings = settings.clone();
            settings.tenant_panel_allow = extras
                .panel_policy
                .allowed()
                .iter()
                .map(|rule| rule.to_string())
                .collect();
            Some(Reconciler::new(
                db.clone(),
                runtime.clone(),
                keyring.clone(),
                settings,
            ))
        }
        (Some(_), None) => {
            return Err(Error::Config(shared::config::ConfigError::Invalid {
                key: shared::config::keys::SECRET_KEYS.key,
                env: shared::config::keys::SECRET_KEYS.env,
                problem: "is not set: tenant bots' tokens are stored encrypted with it".into(),
            }))
        }
        (None, _) => None,
    };
    if let Some(reconciler) = reconciler {
        tasks.spawn(forward_notices(
            db.clone(),
            reconciler.clone(),
            clock.clone(),
            shutdown.clone(),
        ));
        let token = shutdown.clone();
        tasks.spawn(async move {
            reconciler.run(token).await;
            Ok(())
        });
    }

    let router = http::router(HttpState {
        db: db.clone(),
        gateways: gateways.clone(),
        clock: clock.clone(),
        telegram_ready: telegram_ready.clone(),
        webhook,
        keyring: keyring.clone(),
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
        service: tasks,
    })
}

/// The time-based jobs: lifecycle every five minutes; desired state and card auto-approval
/// every fifteen seconds.
fn spawn_jobs(
    tasks: &mut Service<Error>,
    db: &Db,
    gateways: &Arc<Gateways>,
    keyring: Option<Keyring>,
    extras: &Extras,
    shutdown: &CancellationToken,
) -> Result<()> {
    let every_five_minutes = scheduler::parse("0 */5 * * * *").map_err(Error::Corrupt)?;
    let every_fifteen_seconds = scheduler::parse("*/15 * * * * *").map_err(Error::Corrupt)?;
    {
        let (db, policy) = (db.clone(), extras.lifecycle.clone());
        let (clock, token) = (extras.clock.clone(), shutdown.clone());
        tasks.spawn(async move {
            scheduler::every("lifecycle", every_five_minutes, clock, token, |now| {
                let (db, policy) = (db.clone(), policy.clone());
                async move { lifecycle::run_once(&db, now, &policy).await.map(|_| ()) }
            })
            .await;
            Ok(())
        });
    }
    {
        let (db, gateways, image) = (db.clone(), gateways.clone(), extras.image_version.clone());
        let (clock, token) = (extras.clock.clone(), shutdown.clone());
        tasks.spawn(async move {
            scheduler::every(
                "desired-state",
                every_fifteen_seconds,
                clock,
                token,
                |now| {
                    let (db, gateways, keyring, image) =
                        (db.clone(), gateways.clone(), keyring.clone(), image.clone());
                    async move {
                        checkout::auto_approve_due(&db, &gateways, now).await?;
                        if let (Some(keyring), Some(image)) = (keyring, image) {
                            tenants::desired::sync(&db, &keyring, &image, now).await?;
                        }
                        Ok(())
                    }
                },
            )
            .await;
            Ok(())
        });
    }
    Ok(())
}

/// Crash loops and failures the provisioner sees go to the staff group.
async fn forward_notices(
    db: Db,
    reconciler: Reconciler,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> Result<()> {
    let mut notices = reconciler.subscribe();
    loop {
        let notice = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            notice = notices.recv() => notice,
        };
        let notice = match notice {
            Ok(notice) => notice,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
        };
        let now = clock.now();
        let message = NewMessage {
            key: format!(
                "staff:instance:{}:{:?}:{now}",
                notice.tenant_id, notice.kind
            ),
            channel: Channel::Staff,
            recipient: "",
            template: "staff_instance_problem",
            args: args([
                ("tenant", json!(notice.tenant_id)),
                ("problem", json!(notice.message)),
            ]),
        };
        outbox::enqueue(db.pool(), &message, now).await?;
    }
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
        self.service.token()
    }

    /// Runs until shutdown is asked for or a part of the app fails; then stops the rest.
    pub async fn wait(self) -> Result<()> {
        let result = self.service.wait().await;
        self.db.close().await;
        result
    }

    /// Stops receiving updates, serving HTTP and running jobs, and waits for them.
    pub async fn shutdown(self) -> Result<()> {
        let result = self.service.shutdown().await;
        self.db.close().await;
        result
    }
}
