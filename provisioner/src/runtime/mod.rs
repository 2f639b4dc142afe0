//! Where tenant bots run. One trait, [`Runtime`], with two implementations:
//! [`docker::DockerRuntime`] (the real engine, strong isolation) and
//! [`process::ProcessRuntime`] (child processes, for `madar demo` and machines without Docker).
//!
//! Instances are addressed by tenant id; a runtime keeps at most one instance per tenant.

pub mod docker;
pub mod process;

use std::collections::BTreeMap;

use futures::stream::BoxStream;
use shared::secret::SecretString;

/// Labels on every resource the Docker runtime creates.
pub const LABEL_MANAGED: &str = "madar.managed";
pub const LABEL_TENANT: &str = "madar.tenant";
pub const LABEL_VERSION: &str = "madar.version";
pub const LABEL_SPEC_HASH: &str = "madar.spec-hash";

/// Environment variables of the tenant-bot contract.
pub mod env {
    pub const TENANT_ID: &str = "MADAR_TENANT_ID";
    pub const BOT_TOKEN_FILE: &str = "MADAR_TENANT_BOT_TOKEN_FILE";
    pub const API_KEY_FILE: &str = "MADAR_TENANT_API_KEY_FILE";
    pub const DATA_KEY_FILE: &str = "MADAR_TENANT_DATA_KEY_FILE";
    pub const PANEL_ALLOW: &str = "MADAR_TENANT_PANEL_ALLOW";
    pub const TELEGRAM_API_URL: &str = "MADAR_TENANT_TELEGRAM_API_URL";
    pub const MASTER_URL: &str = "MADAR_TENANT_MASTER_URL";
    pub const DATABASE_URL: &str = "MADAR_TENANT_DATABASE_URL";
    pub const HEARTBEAT_SECONDS: &str = "MADAR_TENANT_HEARTBEAT_SECONDS";
    pub const LOG_FORMAT: &str = "MADAR_LOG_FORMAT";
    pub const LOG_FILTER: &str = "MADAR_LOG_FILTER";
}

/// A secret handed to the instance as a file; the runtime sets `env_var` to the file's path,
/// so the value never shows in `docker inspect` or `/proc/<pid>/environ`.
#[derive(Debug, Clone)]
pub struct SecretFile {
    pub env_var: String,
    pub file_name: String,
    pub value: SecretString,
}

/// Resource limits, from the tenant's package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_mb: i64,
    pub cpu_millis: i64,
    pub pids: i64,
}

/// Everything a runtime needs to create one tenant's instance.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    pub tenant_id: String,
    /// The image reference (Docker); the process runtime runs its configured binary instead.
    pub image: String,
    pub version: String,
    /// A hash of everything that shapes the instance; a change means "recreate".
    pub spec_hash: String,
    /// Plain settings. The runtime adds the database URL for its own data directory.
    pub env: BTreeMap<String, String>,
    pub secrets: Vec<SecretFile>,
    pub limits: Limits,
}

/// The runtime's view of an instance's process or container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running,
    Restarting,
    Paused,
    Exited,
    Dead,
    Removing,
}

impl ContainerState {
    pub fn is_running(self) -> bool {
        matches!(self, ContainerState::Running | ContainerState::Restarting)
    }
}

/// What a runtime knows about one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub tenant_id: String,
    /// The container id (Docker) or process id (process runtime).
    pub id: String,
    pub state: ContainerState,
    pub spec_hash: Option<String>,
    pub version: Option<String>,
    /// Restarts done by the runtime itself (crashes), since the instance was created.
    pub restart_count: i64,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
}

/// A point-in-time resource sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub memory_bytes: u64,
    /// Resident anonymous memory (cgroup `rss`, or the process's VmRSS).
    pub rss_bytes: u64,
    pub memory_limit_bytes: u64,
    /// CPU time used since the instance started, in nanoseconds.
    pub cpu_total_ns: u64,
    pub pids: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub stream: LogStream,
    pub text: String,
}

/// Something happened to an instance (crash, start, removal...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeEvent {
    pub tenant_id: String,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    Started,
    Died { exit_code: Option<i64> },
    OutOfMemory,
    Removed,
    Other(String),
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("tenant {0} has no instance")]
    NotFound(String),
    #[error("invalid tenant id {0:?}: use 1 to 64 lowercase letters, digits, '-' or '_'")]
    InvalidTenantId(String),
    #[error("the container engine is unreachable: {0}")]
    Unavailable(String),
    #[error("the image {0} is missing: build it with `madar image build`")]
    ImageMissing(String),
    #[error("container engine error: {0}")]
    Engine(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl RuntimeError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> RuntimeError {
        RuntimeError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Tenant ids end up in container, volume and network names and in paths: keep them plain.
pub fn check_tenant_id(tenant_id: &str) -> Result<(), RuntimeError> {
    let ok = !tenant_id.is_empty()
        && tenant_id.len() <= 64
        && tenant_id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::InvalidTenantId(tenant_id.to_string()))
    }
}

/// Runs tenant bots. Every method is idempotent where the name allows it: starting a running
/// instance, stopping a stopped one or removing a missing one succeeds.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// "docker" or "process".
    fn kind(&self) -> &'static str;
    /// Creates the instance (not started), with its data store and secrets. When an
    /// instance already exists for the tenant it is returned unchanged.
    async fn create(&self, spec: &InstanceSpec) -> Result<ContainerInfo, RuntimeError>;
    async fn start(&self, tenant_id: &str) -> Result<(), RuntimeError>;
    /// Asks the bot to stop (SIGTERM), then kills it after the runtime's grace period.
    async fn stop(&self, tenant_id: &str) -> Result<(), RuntimeError>;
    async fn restart(&self, tenant_id: &str) -> Result<(), RuntimeError>;
    /// Removes the instance (stopping it first); its data is kept.
    async fn remove(&self, tenant_id: &str) -> Result<(), RuntimeError>;
    async fn inspect(&self, tenant_id: &str) -> Result<Option<ContainerInfo>, RuntimeError>;
    /// Every instance this runtime manages.
    async fn list(&self) -> Result<Vec<ContainerInfo>, RuntimeError>;
    /// The last `tail` lines of output.
    async fn logs(&self, tenant_id: &str, tail: usize) -> Result<Vec<LogLine>, RuntimeError>;
    /// New output lines as they come, until the instance is removed.
    async fn follow_logs(
        &self,
        tenant_id: &str,
    ) -> Result<BoxStream<'static, Result<LogLine, RuntimeError>>, RuntimeError>;
    async fn stats(&self, tenant_id: &str) -> Result<Stats, RuntimeError>;
    /// Instance events from now on.
    async fn events(
        &self,
    ) -> Result<BoxStream<'static, Result<RuntimeEvent, RuntimeError>>, RuntimeError>;
    /// Tenants that have a data store (kept after removal until purged).
    async fn list_data(&self) -> Result<Vec<String>, RuntimeError>;
    /// The tenant's data directory as a tar archive (works with no instance present).
    async fn export_data(&self, tenant_id: &str) -> Result<Vec<u8>, RuntimeError>;
    /// Deletes the tenant's data for good. The instance must be removed first.
    async fn purge_data(&self, tenant_id: &str) -> Result<(), RuntimeError>;
}
