//! The reconcile loop: compares each instance's desired state with what the runtime actually
//! runs, and takes the next idempotent step. It runs on a timer, on runtime events (a crash,
//! a container removed by hand) and when woken by the master, so every difference converges,
//! including after the master itself restarted half-way through provisioning.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use rand::RngCore;
use shared::db::{now_unix, Db};
use shared::secret::{Keyring, SecretString};
use shared::telegram::BotToken;
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

use crate::runtime::{env, ContainerInfo, InstanceSpec, Limits, Runtime, RuntimeError, SecretFile};
use crate::store::{self, Desired, Instance, Lifecycle, StoreError};

#[derive(Debug, Clone)]
pub struct ReconcilerSettings {
    /// The Bot API root the provisioner uses to validate tokens (getMe).
    pub telegram_api_url: String,
    /// The Bot API root as seen from inside an instance.
    pub tenant_telegram_api_url: String,
    /// The master's base URL as seen from inside an instance (for heartbeats).
    pub tenant_master_url: String,
    pub heartbeat_seconds: u64,
    /// An instance with no heartbeat for this long is marked unhealthy.
    pub heartbeat_timeout: Duration,
    /// How often the loop looks even when nothing woke it.
    pub interval: Duration,
    /// `crash_loop_restarts` crashes within `crash_loop_window` make a crash loop.
    pub crash_loop_restarts: usize,
    pub crash_loop_window: Duration,
    /// How long a deleted tenant's data is kept before it is purged.
    pub retention: Duration,
    /// How many instances are worked on at once.
    pub parallelism: usize,
    pub log_format: String,
    pub log_filter: String,
    /// Panel addresses tenant bots may call although they are not public (the operator's
    /// allow-list, `NetRule::parse` syntax); empty = only public addresses.
    pub tenant_panel_allow: Vec<String>,
}

impl ReconcilerSettings {
    /// Defaults for production, with the given Bot API and master URLs used both by the
    /// provisioner and from inside instances.
    pub fn new(telegram_api_url: &str, master_url: &str) -> ReconcilerSettings {
        ReconcilerSettings {
            telegram_api_url: telegram_api_url.trim_end_matches('/').to_string(),
            tenant_telegram_api_url: telegram_api_url.trim_end_matches('/').to_string(),
            tenant_master_url: master_url.trim_end_matches('/').to_string(),
            heartbeat_seconds: 30,
            heartbeat_timeout: Duration::from_secs(120),
            interval: Duration::from_secs(10),
            crash_loop_restarts: 3,
            crash_loop_window: Duration::from_secs(300),
            retention: Duration::from_secs(30 * 24 * 3600),
            parallelism: 10,
            log_format: "json".to_string(),
            log_filter: "info".to_string(),
            tenant_panel_allow: Vec::new(),
        }
    }
}

/// Something platform staff should know about an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffNotice {
    pub tenant_id: String,
    pub kind: NoticeKind,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeKind {
    Failed,
    CrashLooping,
    Unhealthy,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("the Telegram Bot API could not be asked about the token: {0}")]
    Telegram(String),
    #[error("the reconciler is shutting down")]
    ShuttingDown,
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    pub instances: usize,
    /// Tenants whose step failed this pass (they are retried on the next one).
    pub errors: Vec<(String, String)>,
    /// Containers removed because no instance wants them.
    pub orphans_removed: usize,
}

#[derive(Clone)]
pub struct Reconciler {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    runtime: Arc<dyn Runtime>,
    keyring: Keyring,
    settings: ReconcilerSettings,
    http: reqwest::Client,
    wake: Notify,
    notices: broadcast::Sender<StaffNotice>,
    /// Bounds how many instances are worked on at once, across passes.
    steps: tokio::sync::Semaphore,
    /// Tenants a step is working on: a pass skips them (passes may overlap, so a slow
    /// instance does not hold up a new one).
    in_flight: Mutex<HashSet<String>>,
    /// Tenants already reported unhealthy (reported once until they recover).
    unhealthy: Mutex<HashSet<String>>,
}

/// The outcome of asking Telegram about a token.
enum TokenCheck {
    Valid { username: String },
    Rejected,
}

impl Reconciler {
    pub fn new(
        db: Db,
        runtime: Arc<dyn Runtime>,
        keyring: Keyring,
        settings: ReconcilerSettings,
    ) -> Reconciler {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let (notices, _) = broadcast::channel(256);
        let parallelism = settings.parallelism.max(1);
        Reconciler {
            inner: Arc::new(Inner {
                db,
                runtime,
                keyring,
                settings,
                http,
                wake: Notify::new(),
                notices,
                steps: tokio::sync::Semaphore::new(parallelism),
                in_flight: Mutex::new(HashSet::new()),
                unhealthy: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// Asks the loop to look now (call after `store::set_desired`).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Notices for platform staff (crash loops, failures, missing heartbeats).
    pub fn subscribe(&self) -> broadcast::Receiver<StaffNotice> {
        self.inner.notices.subscribe()
    }

    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.inner.runtime
    }

    /// Runs passes until `shutdown`: on the timer, on runtime events and on [`Self::wake`].
    /// A new pass does not wait for a slow one (they skip each other's instances), so an
    /// instance written while others are being created starts at once.
    pub async fn run(&self, shutdown: CancellationToken) {
        let events = tokio::spawn(forward_events(self.clone(), shutdown.clone()));
        let mut passes = tokio::task::JoinSet::new();
        loop {
            while let Some(done) = passes.try_join_next() {
                log_pass(done);
            }
            if passes.len() >= MAX_OVERLAPPING_PASSES {
                if let Some(done) = passes.join_next().await {
                    log_pass(done);
                }
            }
            let me = self.clone();
            passes.spawn(async move { me.reconcile_once().await });
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.inner.settings.interval) => {}
                _ = self.inner.wake.notified() => {}
            }
        }
        // Steps cut short here are finished by the next start: every step is idempotent.
        passes.abort_all();
        events.abort();
    }

    /// One full pass over every instance and every managed container.
    pub async fn reconcile_once(&self) -> Result<PassReport, ReconcileError> {
        let instances = store::list(&self.inner.db).await?;
        let containers: HashMap<String, ContainerInfo> = self
            .inner
            .runtime
            .list()
            .await?
            .into_iter()
            .map(|c| (c.tenant_id.clone(), c))
            .collect();
        // Bots claimed by live instances: a token used by two tenants is refused.
        let mut bot_owners: HashMap<i64, Vec<String>> = HashMap::new();
        for inst in instances.iter().filter(|i| i.desired != Desired::Deleted) {
            bot_owners
                .entry(inst.bot_id)
                .or_default()
                .push(inst.tenant_id.clone());
        }
        let mut report = PassReport {
            instances: instances.len(),
            ..PassReport::default()
        };
        let known: HashSet<String> = instances.iter().map(|i| i.tenant_id.clone()).collect();
        let steps = instances.into_iter().map(|inst| {
            let shared_bot = bot_owners
                .get(&inst.bot_id)
                .map(|owners| owners.len() > 1 && owners[0] != inst.tenant_id)
                .unwrap_or(false);
            async move {
                let result = self.claimed_step(&inst.tenant_id, shared_bot).await;
                (inst.tenant_id, result)
            }
        });
        let results: Vec<_> = futures::future::join_all(steps).await;
        for (tenant_id, result) in results {
            if let Err(e) = result {
                report.errors.push((tenant_id, e.to_string()));
            }
        }
        for tenant_id in containers.keys().filter(|t| !known.contains(*t)) {
            // The instance may have been written after this pass listed them.
            if store::get(&self.inner.db, tenant_id).await?.is_some() {
                continue;
            }
            tracing::info!(%tenant_id, "removing a container no instance wants");
            match self.inner.runtime.remove(tenant_id).await {
                Ok(()) => report.orphans_removed += 1,
                Err(e) => report.errors.push((tenant_id.clone(), e.to_string())),
            }
        }
        Ok(report)
    }

    /// Takes the next step for one instance unless another pass is already on it. The
    /// instance and its container are read afresh once claimed: the pass's lists may be
    /// older than a step another pass just finished.
    async fn claimed_step(&self, tenant_id: &str, shared_bot: bool) -> Result<(), ReconcileError> {
        let _permit =
            self.inner.steps.acquire().await.map_err(|_| {
                ReconcileError::Telegram("the reconciler is shutting down".to_string())
            })?;
        let Some(_claim) = Claim::new(&self.inner.in_flight, tenant_id) else {
            return Ok(());
        };
        let Some(inst) = store::get(&self.inner.db, tenant_id).await? else {
            return Ok(());
        };
        let actual = self.inner.runtime.inspect(tenant_id).await?;
        self.step(inst, actual, shared_bot).await
    }

    /// The next step for one instance.
    async fn step(
        &self,
        inst: Instance,
        actual: Option<ContainerInfo>,
        shared_bot: bool,
    ) -> Result<(), ReconcileError> {
        match inst.desired {
            Desired::Running => self.converge_running(inst, actual, shared_bot).await,
            Desired::Stopped => self.converge_stopped(inst, actual).await,
            Desired::Deleted => self.converge_deleted(inst, actual).await,
        }
    }

    async fn converge_running(
        &self,
        inst: Instance,
        actual: Option<ContainerInfo>,
        shared_bot: bool,
    ) -> Result<(), ReconcileError> {
        let runtime = &self.inner.runtime;
        match inst.state {
            // Waits for a new spec (set_desired moves it back to pending).
            Lifecycle::Failed => return Ok(()),
            Lifecycle::CrashLooping => {
                if actual.as_ref().is_some_and(|c| c.state.is_running()) {
                    runtime.stop(&inst.tenant_id).await?;
                }
                return Ok(());
            }
            _ => {}
        }
        if shared_bot {
            return self
                .fail(
                    &inst,
                    "This bot token is already used by another tenant's bot. Create a new bot \
                     with @BotFather and send its token.",
                )
                .await;
        }
        let Some(container) = actual else {
            return self.provision(&inst).await;
        };
        if inst.state == Lifecycle::Creating {
            // Provisioning was cut short (the master stopped mid-way): the container may
            // lack its secrets. Start over with a fresh one and a fresh key.
            runtime.remove(&inst.tenant_id).await?;
            return self.provision(&inst).await;
        }
        if container.spec_hash.as_deref() != Some(inst.spec_hash.as_str()) {
            // Stop (gracefully) and remove the old container before the new one starts
            // polling: two pollers on one token conflict.
            self.transition(&inst, Lifecycle::Stopping, None).await?;
            runtime.remove(&inst.tenant_id).await?;
            return self.provision(&inst).await;
        }
        if container.state.is_running() {
            if self.crash_looping(&inst, &container).await? {
                runtime.stop(&inst.tenant_id).await?;
                let reason = format!(
                    "The bot crashed {} times within {} minutes and was stopped. Platform staff \
                     have been told.",
                    self.inner.settings.crash_loop_restarts,
                    self.inner.settings.crash_loop_window.as_secs() / 60
                );
                self.transition(&inst, Lifecycle::CrashLooping, Some(&reason))
                    .await?;
                self.notify(&inst.tenant_id, NoticeKind::CrashLooping, reason);
                return Ok(());
            }
            self.transition(&inst, Lifecycle::Running, None).await?;
            self.check_heartbeat(&inst).await?;
            return Ok(());
        }
        // Created or exited (stopped by hand, or killed): start it again.
        self.transition(&inst, Lifecycle::Starting, None).await?;
        runtime.start(&inst.tenant_id).await?;
        self.transition(&inst, Lifecycle::Running, None).await
    }

    async fn converge_stopped(
        &self,
        inst: Instance,
        actual: Option<ContainerInfo>,
    ) -> Result<(), ReconcileError> {
        if actual.as_ref().is_some_and(|c| c.state.is_running()) {
            self.transition(&inst, Lifecycle::Stopping, None).await?;
            self.inner.runtime.stop(&inst.tenant_id).await?;
        }
        self.forget_health(&inst.tenant_id);
        store::set_healthy(&self.inner.db, &inst.tenant_id, false).await?;
        self.transition(&inst, Lifecycle::Stopped, None).await
    }

    async fn converge_deleted(
        &self,
        inst: Instance,
        actual: Option<ContainerInfo>,
    ) -> Result<(), ReconcileError> {
        if actual.is_some() {
            self.transition(&inst, Lifecycle::Deleting, None).await?;
            self.inner.runtime.remove(&inst.tenant_id).await?;
        }
        if inst.state != Lifecycle::Deleted || inst.deleted_at.is_none() {
            let purge_after = now_unix() + self.inner.settings.retention.as_secs() as i64;
            store::mark_deleted(&self.inner.db, &inst.tenant_id, Some(purge_after)).await?;
            self.forget_health(&inst.tenant_id);
            self.transition(&inst, Lifecycle::Deleted, None).await?;
        }
        let due = inst.purge_after.is_some_and(|at| at <= now_unix());
        if due && inst.purged_at.is_none() {
            tracing::info!(tenant_id = %inst.tenant_id, "purging a deleted tenant's data");
            self.inner.runtime.purge_data(&inst.tenant_id).await?;
            store::mark_purged(&self.inner.db, &inst.tenant_id).await?;
        }
        Ok(())
    }

    /// Validates the token, then creates and starts a fresh instance with a new API key.
    async fn provision(&self, inst: &Instance) -> Result<(), ReconcileError> {
        self.transition(inst, Lifecycle::Creating, None).await?;
        let token = inst.bot_token(&self.inner.keyring)?;
        // Read before anything is made: without its data key the bot cannot start.
        let data_key = inst.data_key(&self.inner.keyring)?;
        let username = match self.check_token(&token).await? {
            TokenCheck::Valid { username } => username,
            TokenCheck::Rejected => {
                return self
                    .fail(
                        inst,
                        "Telegram rejected the bot token: it is wrong or was revoked. Get the \
                         current token from @BotFather and send it again.",
                    )
                    .await
            }
        };
        let api_key = new_api_key();
        // The hash is stored before the container exists, so a master that restarts here
        // simply makes a new key and a new container next pass.
        store::set_credentials(&self.inner.db, &inst.tenant_id, &api_key, &username).await?;
        let spec = self.instance_spec(inst, &token, api_key, data_key);
        let created = self.inner.runtime.create(&spec).await?;
        store::set_restarts(&self.inner.db, &inst.tenant_id, &[], created.restart_count).await?;
        self.transition(inst, Lifecycle::Starting, None).await?;
        self.inner.runtime.start(&inst.tenant_id).await?;
        self.transition(inst, Lifecycle::Running, None).await
    }

    fn instance_spec(
        &self,
        inst: &Instance,
        token: &BotToken,
        api_key: SecretString,
        data_key: SecretString,
    ) -> InstanceSpec {
        let s = &self.inner.settings;
        let env = [
            (env::TELEGRAM_API_URL, s.tenant_telegram_api_url.clone()),
            (env::MASTER_URL, s.tenant_master_url.clone()),
            (env::HEARTBEAT_SECONDS, s.heartbeat_seconds.to_string()),
            (env::LOG_FORMAT, s.log_format.clone()),
            (env::LOG_FILTER, s.log_filter.clone()),
            (env::PANEL_ALLOW, s.tenant_panel_allow.join(",")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        InstanceSpec {
            tenant_id: inst.tenant_id.clone(),
            image: crate::image::image_tag(&inst.spec.image_version),
            version: inst.spec.image_version.clone(),
            spec_hash: inst.spec_hash.clone(),
            env,
            secrets: vec![
                SecretFile {
                    env_var: env::BOT_TOKEN_FILE.to_string(),
                    file_name: "bot_token".to_string(),
                    value: SecretString::new(token.expose()),
                },
                SecretFile {
                    env_var: env::API_KEY_FILE.to_string(),
                    file_name: "api_key".to_string(),
                    value: api_key,
                },
                SecretFile {
                    env_var: env::DATA_KEY_FILE.to_string(),
                    file_name: "data_key".to_string(),
                    value: data_key,
                },
            ],
            limits: Limits {
                memory_mb: inst.spec.limits.memory_mb,
                cpu_millis: inst.spec.limits.cpu_millis,
                pids: inst.spec.limits.pids,
            },
        }
    }

    /// getMe: 401/404 means the token is wrong or revoked; anything else unexpected is a
    /// temporary problem and is retried.
    async fn check_token(&self, token: &BotToken) -> Result<TokenCheck, ReconcileError> {
        #[derive(serde::Deserialize)]
        struct Me {
            username: Option<String>,
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            ok: bool,
            result: Option<Me>,
            description: Option<String>,
        }
        let url = format!(
            "{}/bot{}/getMe",
            self.inner.settings.telegram_api_url,
            token.expose()
        );
        let response = self
            .inner
            .http
            .post(url)
            .send()
            .await
            .map_err(|e| ReconcileError::Telegram(e.without_url().to_string()))?;
        let status = response.status();
        if status.as_u16() == 401 || status.as_u16() == 404 {
            return Ok(TokenCheck::Rejected);
        }
        let answer: Answer = response
            .json()
            .await
            .map_err(|e| ReconcileError::Telegram(e.without_url().to_string()))?;
        match (answer.ok, answer.result) {
            (true, Some(me)) => Ok(TokenCheck::Valid {
                username: me.username.unwrap_or_default(),
            }),
            _ => Err(ReconcileError::Telegram(format!(
                "HTTP {status}: {}",
                answer.description.unwrap_or_default()
            ))),
        }
    }

    /// Counts new restarts seen on the container; true when they make a crash loop.
    async fn crash_looping(
        &self,
        inst: &Instance,
        container: &ContainerInfo,
    ) -> Result<bool, ReconcileError> {
        let now = now_unix();
        let window = self.inner.settings.crash_loop_window.as_secs() as i64;
        let mut restarts: Vec<i64> = inst
            .restarts
            .iter()
            .copied()
            .filter(|at| now - at < window)
            .collect();
        let new = container.restart_count - inst.restart_count_seen;
        if new > 0 {
            restarts.extend(std::iter::repeat_n(now, new.min(100) as usize));
        }
        if new != 0 || restarts.len() != inst.restarts.len() {
            store::set_restarts(
                &self.inner.db,
                &inst.tenant_id,
                &restarts,
                container.restart_count,
            )
            .await?;
        }
        Ok(restarts.len() >= self.inner.settings.crash_loop_restarts)
    }

    /// Marks a running instance unhealthy (and tells staff once) when heartbeats stop.
    async fn check_heartbeat(&self, inst: &Instance) -> Result<(), ReconcileError> {
        let timeout = self.inner.settings.heartbeat_timeout.as_secs() as i64;
        let since = inst
            .last_heartbeat_at
            .unwrap_or(0)
            .max(inst.state_changed_at);
        let now = now_unix();
        if now - since <= timeout || inst.state != Lifecycle::Running {
            self.forget_health(&inst.tenant_id);
            return Ok(());
        }
        if inst.healthy {
            store::set_healthy(&self.inner.db, &inst.tenant_id, false).await?;
        }
        let first_report = self
            .inner
            .unhealthy
            .lock()
            .map(|mut set| set.insert(inst.tenant_id.clone()))
            .unwrap_or(false);
        if first_report {
            let message = match inst.last_heartbeat_at {
                Some(at) => format!("no heartbeat for {} seconds", now - at),
                None => format!("no heartbeat since it started {} seconds ago", now - since),
            };
            self.notify(&inst.tenant_id, NoticeKind::Unhealthy, message);
        }
        Ok(())
    }

    fn forget_health(&self, tenant_id: &str) {
        if let Ok(mut set) = self.inner.unhealthy.lock() {
            set.remove(tenant_id);
        }
    }

    async fn fail(&self, inst: &Instance, reason: &str) -> Result<(), ReconcileError> {
        self.transition(inst, Lifecycle::Failed, Some(reason))
            .await?;
        self.notify(&inst.tenant_id, NoticeKind::Failed, reason.to_string());
        Ok(())
    }

    async fn transition(
        &self,
        inst: &Instance,
        state: Lifecycle,
        reason: Option<&str>,
    ) -> Result<(), ReconcileError> {
        store::transition(&self.inner.db, &inst.tenant_id, state, reason).await?;
        Ok(())
    }

    fn notify(&self, tenant_id: &str, kind: NoticeKind, message: String) {
        tracing::warn!(%tenant_id, ?kind, %message, "instance needs attention");
        // No subscriber is fine: the state and reason are stored either way.
        let _ = self.inner.notices.send(StaffNotice {
            tenant_id: tenant_id.to_string(),
            kind,
            message,
        });
    }
}

/// How many passes may run at once (each skips the instances the others work on).
const MAX_OVERLAPPING_PASSES: usize = 4;

fn log_pass(done: Result<Result<PassReport, ReconcileError>, tokio::task::JoinError>) {
    match done {
        Ok(Ok(report)) => {
            for (tenant_id, error) in &report.errors {
                tracing::warn!(%tenant_id, %error, "instance step failed; retrying next pass");
            }
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "reconcile pass failed; retrying"),
        Err(e) if e.is_cancelled() => {}
        Err(e) => tracing::error!(error = %e, "reconcile pass panicked"),
    }
}

/// A tenant marked as being worked on; unmarked when dropped (also when the step is cut
/// short by cancellation).
struct Claim<'a> {
    set: &'a Mutex<HashSet<String>>,
    tenant_id: String,
}

impl<'a> Claim<'a> {
    fn new(set: &'a Mutex<HashSet<String>>, tenant_id: &str) -> Option<Claim<'a>> {
        let inserted = set
            .lock()
            .map(|mut s| s.insert(tenant_id.to_string()))
            .unwrap_or(false);
        inserted.then(|| Claim {
            set,
            tenant_id: tenant_id.to_string(),
        })
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.set.lock() {
            set.remove(&self.tenant_id);
        }
    }
}

/// Wakes the loop on every runtime event; re-subscribes when the event stream breaks.
async fn forward_events(reconciler: Reconciler, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        match reconciler.inner.runtime.events().await {
            Ok(mut events) => {
                while let Some(event) = events.next().await {
                    match event {
                        Ok(event) => {
                            tracing::debug!(tenant_id = %event.tenant_id, kind = ?event.kind, "runtime event");
                            reconciler.wake();
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "runtime event stream failed");
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot subscribe to runtime events"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// A random 32-byte key, hex encoded.
fn new_api_key() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    SecretString::new(hex::encode(bytes))
}
