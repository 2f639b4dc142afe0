//! The process runtime: tenant bots as child processes, each with its own data directory,
//! for `madar demo` and machines with no Docker engine. Same behaviour as the Docker runtime
//! (secrets as files, restart after a crash unless stopped, logs, stats, events), weaker
//! isolation: no namespaces or resource limits. Children are killed when the runtime is
//! dropped, so a restarted master starts from a clean slate and re-creates them.

use std::collections::{HashMap, VecDeque};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::{broadcast, watch};

use super::{
    check_tenant_id, env, ContainerInfo, ContainerState, EventKind, InstanceSpec, LogLine,
    LogStream, Runtime, RuntimeError, RuntimeEvent, Stats,
};

/// Lines of output kept per instance for `logs`.
const LOG_LINES_KEPT: usize = 1000;

#[derive(Debug, Clone)]
pub struct ProcessSettings {
    /// The tenant-bot executable.
    pub binary: PathBuf,
    /// Each tenant gets `<root>/<tenant id>/data` and `<root>/<tenant id>/secrets`.
    pub root: PathBuf,
    /// How long a bot gets between SIGTERM and SIGKILL.
    pub stop_grace: Duration,
    /// The pause before a crashed bot is started again.
    pub restart_delay: Duration,
}

pub struct ProcessRuntime {
    settings: ProcessSettings,
    instances: Mutex<HashMap<String, Arc<Instance>>>,
    events: broadcast::Sender<RuntimeEvent>,
}

/// One tenant's bot: its spec and the supervisor's view of the process.
struct Instance {
    tenant_id: String,
    spec_hash: String,
    version: String,
    env: Vec<(String, String)>,
    status: Mutex<Status>,
    /// `true` while the instance should run; the supervisor watches it.
    wanted: watch::Sender<bool>,
    logs: Mutex<VecDeque<LogLine>>,
    log_feed: broadcast::Sender<LogLine>,
}

#[derive(Debug, Clone)]
struct Status {
    state: ContainerState,
    pid: Option<u32>,
    restart_count: i64,
    exit_code: Option<i64>,
    supervised: bool,
}

impl ProcessRuntime {
    pub fn new(settings: ProcessSettings) -> ProcessRuntime {
        let (events, _) = broadcast::channel(256);
        ProcessRuntime {
            settings,
            instances: Mutex::new(HashMap::new()),
            events,
        }
    }

    fn tenant_dir(&self, tenant_id: &str) -> PathBuf {
        self.settings.root.join(tenant_id)
    }

    fn get(&self, tenant_id: &str) -> Result<Option<Arc<Instance>>, RuntimeError> {
        check_tenant_id(tenant_id)?;
        Ok(self
            .instances
            .lock()
            .map_err(|_| poisoned())?
            .get(tenant_id)
            .cloned())
    }

    fn require(&self, tenant_id: &str) -> Result<Arc<Instance>, RuntimeError> {
        self.get(tenant_id)?
            .ok_or_else(|| RuntimeError::NotFound(tenant_id.to_string()))
    }

    fn info(instance: &Instance) -> Result<ContainerInfo, RuntimeError> {
        let status = instance.status.lock().map_err(|_| poisoned())?.clone();
        Ok(ContainerInfo {
            tenant_id: instance.tenant_id.clone(),
            id: status.pid.map(|p| p.to_string()).unwrap_or_default(),
            state: status.state,
            spec_hash: Some(instance.spec_hash.clone()),
            version: Some(instance.version.clone()),
            restart_count: status.restart_count,
            exit_code: status.exit_code,
            oom_killed: false,
        })
    }

    /// Writes the secret files (mode 0400) and returns the environment for the bot.
    fn prepare(&self, spec: &InstanceSpec) -> Result<Vec<(String, String)>, RuntimeError> {
        let dir = self.tenant_dir(&spec.tenant_id);
        let data = dir.join("data");
        let secrets = dir.join("secrets");
        for d in [&data, &secrets] {
            std::fs::create_dir_all(d)
                .map_err(|e| RuntimeError::io(format!("create {}", d.display()), e))?;
        }
        let mut vars: Vec<(String, String)> = spec.env.clone().into_iter().collect();
        vars.push((env::TENANT_ID.to_string(), spec.tenant_id.clone()));
        vars.push((
            env::DATABASE_URL.to_string(),
            shared::db::sqlite_url(&data.join("tenant.db")),
        ));
        for secret in &spec.secrets {
            let path = secrets.join(&secret.file_name);
            write_secret(&path, secret.value.expose())?;
            vars.push((secret.env_var.clone(), path.display().to_string()));
        }
        Ok(vars)
    }

    fn emit(&self, tenant_id: &str, kind: EventKind) {
        let _ = self.events.send(RuntimeEvent {
            tenant_id: tenant_id.to_string(),
            kind,
        });
    }
}

fn write_secret(path: &Path, value: &str) -> Result<(), RuntimeError> {
    let context = || format!("write {}", path.display());
    if path.exists() {
        // Read-only from a previous run: make it writable to replace it.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| RuntimeError::io(context(), e))?;
    }
    std::fs::write(path, value).map_err(|e| RuntimeError::io(context(), e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o400))
        .map_err(|e| RuntimeError::io(context(), e))
}

fn poisoned() -> RuntimeError {
    RuntimeError::Engine("the process runtime's state lock was poisoned".to_string())
}

/// Keeps one instance's process running while it is wanted: starts it, restarts it after a
/// crash, and stops it (SIGTERM, then SIGKILL after the grace period) when no longer wanted.
async fn supervise(
    instance: Arc<Instance>,
    binary: PathBuf,
    settings: ProcessSettings,
    events: broadcast::Sender<RuntimeEvent>,
) {
    let mut wanted = instance.wanted.subscribe();
    let set_status = |f: &dyn Fn(&mut Status)| {
        if let Ok(mut s) = instance.status.lock() {
            f(&mut s);
        }
    };
    let emit = |kind: EventKind| {
        let _ = events.send(RuntimeEvent {
            tenant_id: instance.tenant_id.clone(),
            kind,
        });
    };
    while *wanted.borrow() {
        let mut command = Command::new(&binary);
        command
            .env_clear()
            .envs(instance.env.iter().cloned())
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                push_log(
                    &instance,
                    LogStream::Stderr,
                    format!("cannot start {}: {e}", binary.display()),
                );
                set_status(&|s| {
                    s.state = ContainerState::Exited;
                    s.exit_code = Some(127);
                });
                break;
            }
        };
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pump(instance.clone(), LogStream::Stdout, out));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pump(instance.clone(), LogStream::Stderr, err));
        }
        let pid = child.id();
        set_status(&|s| {
            s.state = ContainerState::Running;
            s.pid = pid;
            s.exit_code = None;
        });
        emit(EventKind::Started);
        let exited = tokio::select! {
            status = child.wait() => Some(status),
            _ = wanted.wait_for(|w| !*w) => None,
        };
        let status = match exited {
            Some(status) => status,
            None => {
                if let Some(pid) = pid {
                    // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
                }
                match tokio::time::timeout(settings.stop_grace, child.wait()).await {
                    Ok(status) => status,
                    Err(_) => {
                        let _ = child.kill().await;
                        child.wait().await
                    }
                }
            }
        };
        let code = status.ok().and_then(|s| s.code()).map(i64::from);
        set_status(&|s| {
            s.state = ContainerState::Exited;
            s.pid = None;
            s.exit_code = code.or(Some(137));
        });
        emit(EventKind::Died { exit_code: code });
        if !*wanted.borrow() {
            break;
        }
        // Crashed while wanted: restart, like Docker's unless-stopped.
        set_status(&|s| {
            s.state = ContainerState::Restarting;
            s.restart_count += 1;
        });
        tokio::select! {
            _ = tokio::time::sleep(settings.restart_delay) => {}
            _ = wanted.wait_for(|w| !*w) => {}
        }
    }
    set_status(&|s| {
        if s.state == ContainerState::Restarting {
            s.state = ContainerState::Exited;
        }
        s.supervised = false;
    });
}

async fn pump(instance: Arc<Instance>, stream: LogStream, out: impl AsyncRead + Unpin) {
    let mut lines = BufReader::new(out).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        push_log(&instance, stream, line);
    }
}

fn push_log(instance: &Instance, stream: LogStream, text: String) {
    let line = LogLine { stream, text };
    if let Ok(mut logs) = instance.logs.lock() {
        if logs.len() == LOG_LINES_KEPT {
            logs.pop_front();
        }
        logs.push_back(line.clone());
    }
    let _ = instance.log_feed.send(line);
}

/// Resident memory and CPU time of a process, from /proc.
fn proc_stats(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some((rss_kib * 1024, ticks * 1_000_000_000 / hz))
}

#[async_trait::async_trait]
impl Runtime for ProcessRuntime {
    fn kind(&self) -> &'static str {
        "process"
    }

    async fn create(&self, spec: &InstanceSpec) -> Result<ContainerInfo, RuntimeError> {
        check_tenant_id(&spec.tenant_id)?;
        if let Some(existing) = self.get(&spec.tenant_id)? {
            return Self::info(&existing);
        }
        let env = self.prepare(spec)?;
        let (wanted, _) = watch::channel(false);
        let (log_feed, _) = broadcast::channel(256);
        let instance = Arc::new(Instance {
            tenant_id: spec.tenant_id.clone(),
            spec_hash: spec.spec_hash.clone(),
            version: spec.version.clone(),
            env,
            status: Mutex::new(Status {
                state: ContainerState::Created,
                pid: None,
                restart_count: 0,
                exit_code: None,
                supervised: false,
            }),
            wanted,
            logs: Mutex::new(VecDeque::new()),
            log_feed,
        });
        let info = Self::info(&instance)?;
        self.instances
            .lock()
            .map_err(|_| poisoned())?
            .entry(spec.tenant_id.clone())
            .or_insert(instance);
        Ok(info)
    }

    async fn start(&self, tenant_id: &str) -> Result<(), RuntimeError> {
        let instance = self.require(tenant_id)?;
        instance.wanted.send_replace(true);
        let already = {
            let mut status = instance.status.lock().map_err(|_| poisoned())?;
            let already = status.supervised;
            status.supervised = true;
            if !already {
                status.restart_count = 0;
            }
            already
        };
        if !already {
            tokio::spawn(supervise(
                instance.clone(),
                self.settings.binary.clone(),
                self.settings.clone(),
                self.events.clone(),
            ));
        }
        Ok(())
    }

    async fn stop(&self, tenant_id: &str) -> Result<(), RuntimeError> {
        let Some(instance) = self.get(tenant_id)? else {
            return Ok(());
        };
        instance.wanted.send_replace(false);
        // Wait for the supervisor to see the process out.
        let deadline =
            tokio::time::Instant::now() + self.settings.stop_grace + Duration::from_secs(5);
        loop {
            let supervised = instance.status.lock().map_err(|_| poisoned())?.supervised;
            if !supervised {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(RuntimeError::Engine(format!(
                    "tenant {tenant_id}'s bot did not stop"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn restart(&self, tenant_id: &str) -> Result<(), RuntimeError> {
        self.stop(tenant_id).await?;
        self.start(tenant_id).await
    }

    async fn remove(&self, tenant_id: &str) -> Result<(), RuntimeError> {
        self.stop(tenant_id).await?;
        let removed = self
            .instances
            .lock()
            .map_err(|_| poisoned())?
            .remove(tenant_id);
        if removed.is_some() {
            self.emit(tenant_id, EventKind::Removed);
        }
        Ok(())
    }

    async fn inspect(&self, tenant_id: &str) -> Result<Option<ContainerInfo>, RuntimeError> {
        self.get(tenant_id)?.map(|i| Self::info(&i)).transpose()
    }

    async fn list(&self) -> Result<Vec<ContainerInfo>, RuntimeError> {
        let instances: Vec<Arc<Instance>> = self
            .instances
            .lock()
            .map_err(|_| poisoned())?
            .values()
            .cloned()
            .collect();
        instances.iter().map(|i| Self::info(i)).collect()
    }

    async fn logs(&self, tenant_id: &str, tail: usize) -> Result<Vec<LogLine>, RuntimeError> {
        let instance = self.require(tenant_id)?;
        let logs = instance.logs.lock().map_err(|_| poisoned())?;
        Ok(logs
            .iter()
            .skip(logs.len().saturating_sub(tail))
            .cloned()
            .collect())
    }

    async fn follow_logs(
        &self,
        tenant_id: &str,
    ) -> Result<BoxStream<'static, Result<LogLine, RuntimeError>>, RuntimeError> {
        let instance = self.require(tenant_id)?;
        let feed = tokio_stream_from(instance.log_feed.subscribe());
        Ok(feed.map(Ok).boxed())
    }

    async fn stats(&self, tenant_id: &str) -> Result<Stats, RuntimeError> {
        let instance = self.require(tenant_id)?;
        let pid = instance.status.lock().map_err(|_| poisoned())?.pid;
        let (memory_bytes, cpu_total_ns) = pid.and_then(proc_stats).unwrap_or((0, 0));
        Ok(Stats {
            memory_bytes,
            rss_bytes: memory_bytes,
            memory_limit_bytes: 0,
            cpu_total_ns,
            pids: u64::from(pid.is_some()),
        })
    }

    async fn events(
        &self,
    ) -> Result<BoxStream<'static, Result<RuntimeEvent, RuntimeError>>, RuntimeError> {
        Ok(tokio_stream_from(self.events.subscribe()).map(Ok).boxed())
    }

    async fn list_data(&self) -> Result<Vec<String>, RuntimeError> {
        let entries = match std::fs::read_dir(&self.settings.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(RuntimeError::io("list data directories", e)),
        };
        Ok(entries
            .flatten()
            .filter(|e| e.path().join("data").is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect())
    }

    async fn export_data(&self, tenant_id: &str) -> Result<Vec<u8>, RuntimeError> {
        check_tenant_id(tenant_id)?;
        let data = self.tenant_dir(tenant_id).join("data");
        if !data.is_dir() {
            return Err(RuntimeError::NotFound(tenant_id.to_string()));
        }
        let mut builder = tar::Builder::new(Vec::new());
        builder
            .append_dir_all(".", &data)
            .and_then(|_| builder.into_inner())
            .map_err(|e| RuntimeError::io(format!("archive {}", data.display()), e))
    }

    async fn purge_data(&self, tenant_id: &str) -> Result<(), RuntimeError> {
        if self.get(tenant_id)?.is_some() {
            return Err(RuntimeError::Engine(format!(
                "tenant {tenant_id} still has an instance: remove it before purging its data"
            )));
        }
        match std::fs::remove_dir_all(self.tenant_dir(tenant_id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(RuntimeError::io(format!("purge data of {tenant_id}"), e)),
        }
    }
}

/// A stream of a broadcast receiver's messages; lagged messages are skipped.
fn tokio_stream_from<T: Clone + Send + 'static>(
    receiver: broadcast::Receiver<T>,
) -> BoxStream<'static, T> {
    futures::stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(item) => return Some((item, receiver)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .boxed()
}

impl Drop for ProcessRuntime {
    /// Stops every bot this runtime started (their supervisors send SIGTERM).
    fn drop(&mut self) {
        if let Ok(instances) = self.instances.lock() {
            for instance in instances.values() {
                instance.wanted.send_replace(false);
            }
        }
    }
}
