//! Where tenant bots run, from the configuration: Docker containers (the default), child
//! processes (no engine, weaker isolation; the demo), or nowhere.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use provisioner::image;
use provisioner::reconcile::ReconcilerSettings;
use provisioner::runtime::docker::{DockerRuntime, DockerSettings, SubnetPool};
use provisioner::runtime::process::{ProcessRuntime, ProcessSettings};
use provisioner::runtime::Runtime;
use shared::config::{MasterConfig, RuntimeKind};

use crate::{Error, Result};

/// The tenant-bot version this master runs: its own.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The runtime and the reconcile loop's settings, or `None` when this master runs no bots.
pub async fn from_config(
    config: &MasterConfig,
) -> Result<Option<(Arc<dyn Runtime>, ReconcilerSettings)>> {
    let runtime: Arc<dyn Runtime> = match config.runtime.kind {
        RuntimeKind::None => return Ok(None),
        RuntimeKind::Docker => {
            let settings = DockerSettings {
                host: config.runtime.docker_host.clone(),
                tenant_subnets: Some(SubnetPool::DEFAULT),
                tenant_bot_binary: Some(image::locate_binary(None)),
                ..DockerSettings::default()
            };
            let runtime = DockerRuntime::connect(settings).await.map_err(|e| {
                Error::Provisioner(format!(
                    "the Docker engine cannot be reached ({e}): start it, set MADAR_RUNTIME_DOCKER_HOST, \
                     or set MADAR_RUNTIME=process (no isolation) or none"
                ))
            })?;
            Arc::new(runtime)
        }
        RuntimeKind::Process => Arc::new(process_runtime(
            &config.data_dir,
            &image::locate_binary(None),
        )),
    };
    Ok(Some((runtime, settings(config))))
}

/// Tenant bots as child processes with their own directories under `data_dir/tenants`.
pub fn process_runtime(data_dir: &Path, binary: &Path) -> ProcessRuntime {
    ProcessRuntime::new(ProcessSettings {
        binary: binary.to_path_buf(),
        root: data_dir.join("tenants"),
        stop_grace: Duration::from_secs(10),
        restart_delay: Duration::from_secs(2),
    })
}

pub fn settings(config: &MasterConfig) -> ReconcilerSettings {
    let mut settings = ReconcilerSettings::new(
        config.runtime.tenant_telegram_api_url.as_str(),
        config.runtime.tenant_master_url.as_str(),
    );
    settings.telegram_api_url = config
        .telegram_api_url
        .as_str()
        .trim_end_matches('/')
        .to_string();
    settings
}
