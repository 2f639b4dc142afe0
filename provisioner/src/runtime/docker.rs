//! The Docker runtime (bollard): one hardened container per tenant, on a network of its own,
//! with a named volume for `/data`. Works with a local socket or a remote engine URL; the API
//! version is negotiated, so older engines (20.10, API 1.41) work too.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, EventMessage,
    HostConfig, HostConfigLogConfig, Ipam, IpamConfig, Mount, MountTypeEnum, NetworkCreateRequest,
    RestartPolicy, RestartPolicyNameEnum, VolumeCreateOptions,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder, EventsOptionsBuilder,
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, RestartContainerOptionsBuilder,
    StatsOptionsBuilder, StopContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use super::{
    check_tenant_id, env, ContainerInfo, ContainerState, EventKind, InstanceSpec, LogLine,
    LogStream, Runtime, RuntimeError, RuntimeEvent, Stats, LABEL_MANAGED, LABEL_SPEC_HASH,
    LABEL_TENANT, LABEL_VERSION,
};

/// The label on a data volume naming the image that wrote it (used to export it later).
const LABEL_IMAGE: &str = "madar.image";
/// The label on short-lived helper containers (data export), which are not instances.
const LABEL_ROLE: &str = "madar.role";
/// Where the data volume is mounted, and where secret files go inside it.
const DATA_DIR: &str = "/data";
const SECRETS_DIR: &str = ".madar-secrets";
/// Docker API calls that take longer than this fail (stop waits for the grace period on top).
const API_TIMEOUT_SECS: u64 = 60;

#[derive(Debug, Clone)]
pub struct DockerSettings {
    /// `None`: the local engine (`DOCKER_HOST` or the default socket). Otherwise
    /// `unix:///path/docker.sock`, `tcp://host:2375` or `http://host:2375`.
    pub host: Option<String>,
    /// Added to every resource and used to filter: e.g. `madar.test-run=<id>`.
    pub extra_labels: BTreeMap<String, String>,
    /// How long a bot gets between SIGTERM and SIGKILL.
    pub stop_grace: Duration,
    /// The non-root user the bot runs as (uid:gid); must own `/data` in the image.
    pub user: String,
    /// Where tenant networks get their subnets: one small subnet each (e.g. /28 from a
    /// /16 gives 4096 tenants), instead of Docker's default pools, which run out after about
    /// 30 networks. `None` leaves the choice to Docker.
    pub tenant_subnets: Option<SubnetPool>,
    /// The static tenant-bot binary: when set, a missing image is built from it on first
    /// use (see [`crate::image::locate_binary`]). When `None`, a missing image is an error.
    pub tenant_bot_binary: Option<PathBuf>,
}

impl Default for DockerSettings {
    fn default() -> Self {
        DockerSettings {
            host: None,
            extra_labels: BTreeMap::new(),
            stop_grace: Duration::from_secs(10),
            user: crate::image::TENANT_USER.to_string(),
            tenant_bot_binary: None,
            tenant_subnets: Some(SubnetPool::DEFAULT),
        }
    }
}

pub struct DockerRuntime {
    docker: Docker,
    settings: DockerSettings,
    /// One image build at a time.
    image_build: tokio::sync::Mutex<()>,
    /// One network creation at a time (subnets are chosen here).
    network_create: tokio::sync::Mutex<()>,
}

/// Connects to the engine named in `host` (see [`DockerSettings::host`]) and negotiates the
/// API version.
pub async fn connect(host: Option<&str>) -> Result<Docker, RuntimeError> {
    let version = bollard::API_DEFAULT_VERSION;
    let docker = match host {
        None => Docker::connect_with_local_defaults(),
        Some(h) if h.starts_with("unix://") => {
            Docker::connect_with_unix(h, API_TIMEOUT_SECS, version)
        }
        Some(h) if h.starts_with("tcp://") || h.starts_with("http://") => {
            Docker::connect_with_http(h, API_TIMEOUT_SECS, version)
        }
        Some(h) => {
            return Err(RuntimeError::Unavailable(format!(
            "unsupported Docker host {h:?}: use unix:///path, tcp://host:port or http://host:port"
        )))
        }
    }
    .map_err(|e| RuntimeError::Unavailable(e.to_string()))?;
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|e| RuntimeError::Unavailable(e.to_string()))?;
    docker
        .ping()
        .await
        .map_err(|e| RuntimeError::Unavailable(e.to_string()))?;
    Ok(docker)
}

impl DockerRuntime {
    pub async fn connect(settings: DockerSettings) -> Result<DockerRuntime, RuntimeError> {
        let docker = connect(settings.host.as_deref()).await?;
        Ok(DockerRuntime::from_client(docker, settings))
    }

    pub fn from_client(docker: Docker, settings: DockerSettings) -> DockerRuntime {
        DockerRuntime {
            docker,
            settings,
            image_build: tokio::sync::Mutex::new(()),
            network_create: tokio::sync::Mutex::new(()),
        }
    }

    /// Builds the spec's image from the configured binary when the engine lacks it.
    async fn ensure_image(&self, spec: &InstanceSpec) -> Result<(), RuntimeError> {
        let Some(binary) = &self.settings.tenant_bot_binary else {
            return Err(RuntimeError::ImageMissing(spec.image.clone()));
        };
        let _one_at_a_time = self.image_build.lock().await;
        let present = crate::image::inspect(&self.docker, &spec.image)
            .await
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        if present.is_none() {
            tracing::info!(image = %spec.image, binary = %binary.display(), "building the tenant-bot image");
            let labels: Vec<(&str, &str)> = self
                .settings
                .extra_labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            crate::image::build_from_binary(
                &self.docker,
                binary,
                &spec.image,
                &spec.version,
                &labels,
            )
            .await
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        }
        Ok(())
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    pub fn container_name(tenant_id: &str) -> String {
        format!("madar-tenant-{tenant_id}")
    }

    pub fn volume_name(tenant_id: &str) -> String {
        format!("madar-tenant-{tenant_id}-data")
    }

    pub fn network_name(tenant_id: &str) -> String {
        format!("madar-tenant-{tenant_id}")
    }

    /// Labels every resource gets: managed, the extra labels, and the given ones.
    fn labels(&self, more: &[(&str, &str)]) -> HashMap<String, String> {
        let mut labels: HashMap<String, String> = self
            .settings
            .extra_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.insert(LABEL_MANAGED.to_string(), "true".to_string());
        for (k, v) in more {
            labels.insert(k.to_string(), v.to_string());
        }
        labels
    }

    /// `label=` filters selecting what this runtime manages.
    fn label_filters(&self, more: &[&str]) -> HashMap<String, Vec<String>> {
        let mut labels = vec![format!("{LABEL_MANAGED}=true")];
        labels.extend(
            self.settings
                .extra_labels
                .iter()
                .map(|(k, v)| format!("{k}={v}")),
        );
        labels.extend(more.iter().map(|s| s.to_string()));
        HashMap::from([("label".to_string(), labels)])
    }

    /// The tenant's own network: created once, never shared, so tenants cannot reach each
    /// other. Docker 20.10 allows duplicate network names, so look before creating and drop
    /// duplicates left by a race.
    async fn ensure_network(&self, tenant_id: &str) -> Result<String, RuntimeError> {
        let name = Self::network_name(tenant_id);
        let existing = self.networks_named(&name).await?;
        if let Some((first, rest)) = existing.split_first() {
            for id in rest {
                let _ = self.docker.remove_network(id).await;
            }
            return Ok(first.clone());
        }
        let Some(pool) = self.settings.tenant_subnets else {
            let request = self.network_request(&name, tenant_id, None);
            let created = self.docker.create_network(request).await.map_err(engine)?;
            return Ok(created.id);
        };
        // One network creation at a time here; another process racing for the same subnet
        // is refused by the engine ("overlaps"), and we try the next free one.
        let _one_at_a_time = self.network_create.lock().await;
        let mut last_error = None;
        for _ in 0..8 {
            let used = self.used_subnets().await?;
            let Some(subnet) = pool.first_free(&used) else {
                return Err(RuntimeError::Engine(format!(
                    "no free /{} subnet left in the tenant network pool {pool}",
                    pool.tenant_prefix
                )));
            };
            let request = self.network_request(&name, tenant_id, Some(subnet));
            match self.docker.create_network(request).await {
                Ok(created) => return Ok(created.id),
                Err(e) if status(&e) == Some(403) || status(&e) == Some(409) => {
                    last_error = Some(engine(e));
                }
                Err(e) => return Err(engine(e)),
            }
        }
        Err(last_error.unwrap_or_else(|| RuntimeError::Engine("no tenant subnet".to_string())))
    }

    fn network_request(
        &self,
        name: &str,
        tenant_id: &str,
        subnet: Option<Ipv4Net>,
    ) -> NetworkCreateRequest {
        NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".to_string()),
            labels: Some(self.labels(&[(LABEL_TENANT, tenant_id)])),
            ipam: subnet.map(|subnet| Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Every IPv4 subnet the engine's networks use (not only ours).
    async fn used_subnets(&self) -> Result<Vec<Ipv4Net>, RuntimeError> {
        let networks = self
            .docker
            .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
            .await
            .map_err(engine)?;
        Ok(networks
            .into_iter()
            .filter_map(|n| n.ipam.and_then(|i| i.config))
            .flatten()
            .filter_map(|c| c.subnet.and_then(|s| s.parse().ok()))
            .collect())
    }

    async fn networks_named(&self, name: &str) -> Result<Vec<String>, RuntimeError> {
        let filters = HashMap::from([("name".to_string(), vec![name.to_string()])]);
        let networks = self
            .docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(engine)?;
        // The name filter matches substrings; keep exact matches.
        Ok(networks
            .into_iter()
            .filter(|n| n.name.as_deref() == Some(name))
            .filter_map(|n| n.id)
            .collect())
    }

    async fn remove_networks(&self, tenant_id: &str) -> Result<(), RuntimeError> {
        for id in self.networks_named(&Self::network_name(tenant_id)).await? {
            match self.docker.remove_network(&id).await {
                Ok(()) => {}
                Err(e) if status(&e) == Some(404) => {}
                Err(e) => return Err(engine(e)),
            }
        }
        Ok(())
    }

    async fn ensure_volume(&self, spec: &InstanceSpec) -> Result<(), RuntimeError> {
        let options = VolumeCreateOptions {
            name: Some(Self::volume_name(&spec.tenant_id)),
            labels: Some(self.labels(&[
                (LABEL_TENANT, spec.tenant_id.as_str()),
                (LABEL_IMAGE, spec.image.as_str()),
            ])),
            ..Default::default()
        };
        // Creating an existing volume returns it unchanged (its data too).
        self.docker.create_volume(options).await.map_err(engine)?;
        Ok(())
    }

    fn container_body(&self, spec: &InstanceSpec, network: &str) -> ContainerCreateBody {
        let mut env_vars: BTreeMap<String, String> = spec.env.clone();
        env_vars.insert(env::TENANT_ID.to_string(), spec.tenant_id.clone());
        env_vars.insert(
            env::DATABASE_URL.to_string(),
            format!("sqlite://{DATA_DIR}/tenant.db?mode=rwc"),
        );
        for secret in &spec.secrets {
            env_vars.insert(
                secret.env_var.clone(),
                format!("{DATA_DIR}/{SECRETS_DIR}/{}", secret.file_name),
            );
        }
        let memory = spec.limits.memory_mb.max(8) * 1024 * 1024;
        let host_config = HostConfig {
            memory: Some(memory),
            // Equal to memory: no swap on top of the limit.
            memory_swap: Some(memory),
            nano_cpus: Some(spec.limits.cpu_millis.max(10) * 1_000_000),
            pids_limit: Some(spec.limits.pids.max(8)),
            readonly_rootfs: Some(true),
            cap_drop: Some(vec!["ALL".to_string()]),
            security_opt: Some(vec!["no-new-privileges:true".to_string()]),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            network_mode: Some(network.to_string()),
            mounts: Some(vec![Mount {
                target: Some(DATA_DIR.to_string()),
                source: Some(Self::volume_name(&spec.tenant_id)),
                typ: Some(MountTypeEnum::VOLUME),
                read_only: Some(false),
                ..Default::default()
            }]),
            tmpfs: Some(HashMap::from([(
                "/tmp".to_string(),
                "rw,noexec,nosuid,nodev,size=16m".to_string(),
            )])),
            log_config: Some(HostConfigLogConfig {
                typ: Some("json-file".to_string()),
                config: Some(HashMap::from([
                    ("max-size".to_string(), "10m".to_string()),
                    ("max-file".to_string(), "3".to_string()),
                ])),
            }),
            ..Default::default()
        };
        ContainerCreateBody {
            image: Some(spec.image.clone()),
            user: Some(self.settings.user.clone()),
            env: Some(env_vars.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(self.labels(&[
                (LABEL_TENANT, spec.tenant_id.as_str()),
                (LABEL_VERSION, spec.version.as_str()),
                (LABEL_SPEC_HASH, spec.spec_hash.as_str()),
            ])),
            stop_timeout: Some(self.settings.stop_grace.as_secs() as i64),
            host_config: Some(host_config),
            ..Default::default()
        }
    }

    /// Writes the secret files into the data volume (owned by the bot's user, mode 0400).
    /// Done before start; the volume is the only writable place in the container.
    async fn upload_secrets(&self, name: &str, spec: &InstanceSpec) -> Result<(), RuntimeError> {
        if spec.secrets.is_empty() {
            return Ok(());
        }
        let (uid, gid) = parse_user(&self.settings.user);
        let mut builder = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o700);
        dir.set_uid(uid);
        dir.set_gid(gid);
        dir.set_size(0);
        dir.set_mtime(shared::db::now_unix().max(0) as u64);
        builder
            .append_data(&mut dir, format!("{SECRETS_DIR}/"), std::io::empty())
            .map_err(|e| RuntimeError::io("pack secrets", e))?;
        for secret in &spec.secrets {
            let bytes = secret.value.expose().as_bytes();
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o400);
            header.set_uid(uid);
            header.set_gid(gid);
            header.set_size(bytes.len() as u64);
            header.set_mtime(shared::db::now_unix().max(0) as u64);
            builder
                .append_data(
                    &mut header,
                    format!("{SECRETS_DIR}/{}", secret.file_name),
                    bytes,
                )
                .map_err(|e| RuntimeError::io("pack secrets", e))?;
        }
        let archive = builder
            .into_inner()
            .map_err(|e| RuntimeError::io("pack secrets", e))?;
        self.docker
            .upload_to_container(
                name,
                Some(
                    UploadToContainerOptionsBuilder::new()
                        .path(DATA_DIR)
                        .build(),
                ),
                bollard::body_full(archive.into()),
            )
            .await
            .map_err(engine)
    }

    fn info_from_inspect(tenant_id: &str, c: ContainerInspectResponse) -> ContainerInfo {
        let labels = c
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let state = c.state.as_ref();
        let status = state.and_then(|s| s.status).map(|s| match s {
            ContainerStateStatusEnum::CREATED => ContainerState::Created,
            ContainerStateStatusEnum::RUNNING => ContainerState::Running,
            ContainerStateStatusEnum::PAUSED => ContainerState::Paused,
            ContainerStateStatusEnum::RESTARTING => ContainerState::Restarting,
            ContainerStateStatusEnum::REMOVING => ContainerState::Removing,
            ContainerStateStatusEnum::DEAD => ContainerState::Dead,
            _ => ContainerState::Exited,
        });
        ContainerInfo {
            tenant_id: tenant_id.to_string(),
            id: c.id.clone().unwrap_or_default(),
            state: status.unwrap_or(ContainerState::Exited),
            spec_hash: labels.get(LABEL_SPEC_HASH).cloned(),
            version: labels.get(LABEL_VERSION).cloned(),
            restart_count: c.restart_count.unwrap_or(0),
            exit_code: state.and_then(|s| s.exit_code),
            oom_killed: state.and_then(|s| s.oom_killed).unwrap_or(false),
        }
    }

    async fn inspect_name(
        &self,
        name: &str,
    ) -> Result<Option<ContainerInspectResponse>, RuntimeError> {
        match self
            .docker
            .inspect_container(
                name,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
        {
            Ok(c) => Ok(Some(c)),
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(engine(e)),
        }
    }

    /// A never-started container with the tenant's volume mounted, to read data through.
    async fn export_helper(&self, tenant_id: &str) -> Result<String, RuntimeError> {
        let volume = self
            .docker
            .inspect_volume(&Self::volume_name(tenant_id))
            .await
            .map_err(|e| match status(&e) {
                Some(404) => RuntimeError::NotFound(tenant_id.to_string()),
                _ => engine(e),
            })?;
        let image = volume.labels.get(LABEL_IMAGE).cloned().ok_or_else(|| {
            RuntimeError::Engine(format!("volume of {tenant_id} has no {LABEL_IMAGE} label"))
        })?;
        let name = format!("madar-export-{tenant_id}-{}", shared::db::new_id());
        let body = ContainerCreateBody {
            image: Some(image),
            labels: Some(self.labels(&[(LABEL_ROLE, "export")])),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                network_mode: Some("none".to_string()),
                mounts: Some(vec![Mount {
                    target: Some(DATA_DIR.to_string()),
                    source: Some(Self::volume_name(tenant_id)),
                    typ: Some(MountTypeEnum::VOLUME),
                    read_only: Some(true),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.docker
            .create_container(
                Some(CreateContainerOptionsBuilder::new().name(&name).build()),
                body,
            )
            .await
            .map_err(engine)?;
        Ok(name)
    }
}

#[async_trait::async_trait]
impl Runtime for DockerRuntime {
    fn kind(&self) -> &'static str {
        "docker"
    }

    async fn create(&self, spec: &InstanceSpec) -> Result<ContainerInfo, RuntimeError> {
        check_tenant_id(&spec.tenant_id)?;
        let name = Self::container_name(&spec.tenant_id);
        if self.inspect_name(&name).await?.is_none() {
            let network = self.ensure_network(&spec.tenant_id).await?;
            self.ensure_volume(spec).await?;
            let mut image_built = false;
            loop {
                let options = CreateContainerOptionsBuilder::new().name(&name).build();
                match self
                    .docker
                    .create_container(Some(options), self.container_body(spec, &network))
                    .await
                {
                    Ok(_) => break,
                    // Created by a concurrent call: fine, it is the same tenant's container.
                    Err(e) if status(&e) == Some(409) => break,
                    // No such image: build it once, then try again.
                    Err(e) if status(&e) == Some(404) && !image_built => {
                        self.ensure_image(spec).await?;
                        image_built = true;
                    }
                    Err(e) if status(&e) == Some(404) => {
                        return Err(RuntimeError::ImageMissing(spec.image.clone()))
                    }
                    Err(e) => return Err(engine(e)),
                }
            }
        }
        let info = self
            .inspect(&spec.tenant_id)
            .await?
            .ok_or_else(|| RuntimeError::NotFound(spec.tenant_id.clone()))?;
        if !info.state.is_running() {
            self.upload_secrets(&name, spec).await?;
        }
        Ok(info)
    }

    async fn start(&self, tenant_id: &str) -> Result<(), RuntimeError> {
        check_tenant_id(tenant_id)?;
        let name = Self::container_name(tenant_id);
        match self
            .docker
            .start_container(
                &name,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(304) => Ok(()),
            Err(e) if status(&e) == Some(404) => Err(RuntimeError::NotFound(tenant_id.to_string())),
            Err(e) => Err(engine(e)),
        }
    }

    async fn stop(&self, tenant_id: &str) -> Result<(), RuntimeError> {
        check_tenant_id(tenant_id)?;
        let name = Self::container_name(tenant_id);
        let options = StopContainerOptionsBuilder::new()
            .t(self.settings.stop_grace.as_secs() as i32)
            .build();
        match self.docker.stop_container(&name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if matches!(status(&e), Some(304) | Some(404)) => Ok(()),
            Err(e) => Err(engine(e)),
        }
    }

    async fn restart(&self, tenant_id: &str) -> Result<(), RuntimeError> {
        check_tenant_id(tenant_id)?;
        let name = Self::container_name(tenant_id);
        let options = RestartContainerOptionsBuilder::new()
            .t(self.settings.stop_grace.as_secs() as i32)
            .build();
        match self.docker.restart_container(&name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(404) => Err(RuntimeError::NotFound(tenant_id.to_string())),
            Err(e) => Err(engine(e)),
        }
    }

    async fn remove(&self, tenant_id: &str) -> Result<(), RuntimeError> {
        check_tenant_id(tenant_id)?;
        // Stop gracefully first so the bot can finish its work; force-remove after.
        self.stop(tenant_id).await?;
        let name = Self::container_name(tenant_id);
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(false)
            .build();
        match self.docker.remove_container(&name, Some(options)).await {
            Ok(()) => {}
            Err(e) if status(&e) == Some(404) => {}
            // 409: removal already in progress.
            Err(e) if status(&e) == Some(409) => {}
            Err(e) => return Err(engine(e)),
        }
        self.remove_networks(tenant_id).await
    }

    async fn inspect(&self, tenant_id: &str) -> Result<Option<ContainerInfo>, RuntimeError> {
        check_tenant_id(tenant_id)?;
        let found = self.inspect_name(&Self::container_name(tenant_id)).await?;
        Ok(found.map(|c| Self::info_from_inspect(tenant_id, c)))
    }

    async fn list(&self) -> Result<Vec<ContainerInfo>, RuntimeError> {
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&self.label_filters(&[LABEL_TENANT]))
            .build();
        let summaries = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(engine)?;
        let mut infos = Vec::with_capacity(summaries.len());
        for summary in summaries {
            let (Some(id), Some(tenant)) = (
                summary.id.clone(),
                summary
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(LABEL_TENANT))
                    .cloned(),
            ) else {
                continue;
            };
            // Restart counts are only in the full inspection.
            if let Some(c) = self.inspect_name(&id).await? {
                infos.push(Self::info_from_inspect(&tenant, c));
            }
        }
        Ok(infos)
    }

    async fn logs(&self, tenant_id: &str, tail: usize) -> Result<Vec<LogLine>, RuntimeError> {
        check_tenant_id(tenant_id)?;
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail(&tail.to_string())
            .build();
        let outputs: Vec<_> = self
            .docker
            .logs(&Self::container_name(tenant_id), Some(options))
            .try_collect()
            .await
            .map_err(|e| not_found_or_engine(e, tenant_id))?;
        Ok(outputs.into_iter().flat_map(log_lines).collect())
    }

    async fn follow_logs(
        &self,
        tenant_id: &str,
    ) -> Result<BoxStream<'static, Result<LogLine, RuntimeError>>, RuntimeError> {
        check_tenant_id(tenant_id)?;
        if self.inspect(tenant_id).await?.is_none() {
            return Err(RuntimeError::NotFound(tenant_id.to_string()));
        }
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .follow(true)
            .tail("0")
            .build();
        let stream = self
            .docker
            .logs(&Self::container_name(tenant_id), Some(options))
            .map_ok(|o| futures::stream::iter(log_lines(o).into_iter().map(Ok)))
            .map_err(engine)
            .try_flatten();
        Ok(stream.boxed())
    }

    async fn stats(&self, tenant_id: &str) -> Result<Stats, RuntimeError> {
        check_tenant_id(tenant_id)?;
        let options = StatsOptionsBuilder::new().stream(false).build();
        let sample = self
            .docker
            .stats(&Self::container_name(tenant_id), Some(options))
            .next()
            .await
            .ok_or_else(|| RuntimeError::NotFound(tenant_id.to_string()))?
            .map_err(|e| not_found_or_engine(e, tenant_id))?;
        let memory = sample.memory_stats.unwrap_or_default();
        let usage = memory.usage.unwrap_or(0);
        // As `docker stats` does: page cache that can be dropped is not counted.
        let inactive = memory
            .stats
            .as_ref()
            .and_then(|s| {
                s.get("total_inactive_file")
                    .or_else(|| s.get("inactive_file"))
            })
            .copied()
            .unwrap_or(0);
        let rss = memory
            .stats
            .as_ref()
            .and_then(|s| {
                s.get("total_rss")
                    .or_else(|| s.get("rss"))
                    .or_else(|| s.get("anon"))
            })
            .copied()
            .unwrap_or(0);
        Ok(Stats {
            memory_bytes: usage.saturating_sub(inactive),
            rss_bytes: rss,
            memory_limit_bytes: memory.limit.unwrap_or(0),
            cpu_total_ns: sample
                .cpu_stats
                .and_then(|c| c.cpu_usage)
                .and_then(|u| u.total_usage)
                .unwrap_or(0),
            pids: sample.pids_stats.and_then(|p| p.current).unwrap_or(0),
        })
    }

    async fn events(
        &self,
    ) -> Result<BoxStream<'static, Result<RuntimeEvent, RuntimeError>>, RuntimeError> {
        let mut filters = self.label_filters(&[LABEL_TENANT]);
        filters.insert("type".to_string(), vec!["container".to_string()]);
        let options = EventsOptionsBuilder::new().filters(&filters).build();
        let stream = self
            .docker
            .events(Some(options))
            .map_err(engine)
            .try_filter_map(|m| async move { Ok(runtime_event(m)) });
        Ok(stream.boxed())
    }

    async fn list_data(&self) -> Result<Vec<String>, RuntimeError> {
        let options = ListVolumesOptionsBuilder::new()
            .filters(&self.label_filters(&[LABEL_TENANT]))
            .build();
        let volumes = self
            .docker
            .list_volumes(Some(options))
            .await
            .map_err(engine)?;
        Ok(volumes
            .volumes
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.labels.get(LABEL_TENANT).cloned())
            .collect())
    }

    async fn export_data(&self, tenant_id: &str) -> Result<Vec<u8>, RuntimeError> {
        check_tenant_id(tenant_id)?;
        let helper = self.export_helper(tenant_id).await?;
        let options = DownloadFromContainerOptionsBuilder::new()
            .path(&format!("{DATA_DIR}/."))
            .build();
        let chunks: Result<Vec<bytes::Bytes>, _> = self
            .docker
            .download_from_container(&helper, Some(options))
            .try_collect()
            .await;
        let remove = RemoveContainerOptionsBuilder::new().force(true).build();
        let _ = self.docker.remove_container(&helper, Some(remove)).await;
        Ok(chunks.map_err(engine)?.concat())
    }

    async fn purge_data(&self, tenant_id: &str) -> Result<(), RuntimeError> {
        check_tenant_id(tenant_id)?;
        if self.inspect(tenant_id).await?.is_some() {
            return Err(RuntimeError::Engine(format!(
                "tenant {tenant_id} still has a container: remove it before purging its data"
            )));
        }
        match self
            .docker
            .remove_volume(
                &Self::volume_name(tenant_id),
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await
        {
            Ok(()) => {}
            Err(e) if status(&e) == Some(404) => {}
            Err(e) => return Err(engine(e)),
        }
        self.remove_networks(tenant_id).await
    }
}

fn runtime_event(message: EventMessage) -> Option<RuntimeEvent> {
    let attributes = message.actor?.attributes?;
    let tenant_id = attributes.get(LABEL_TENANT)?.clone();
    let action = message.action?;
    let kind = match action.as_str() {
        "start" => EventKind::Started,
        "die" => EventKind::Died {
            exit_code: attributes.get("exitCode").and_then(|c| c.parse().ok()),
        },
        "oom" => EventKind::OutOfMemory,
        "destroy" => EventKind::Removed,
        other => EventKind::Other(other.to_string()),
    };
    Some(RuntimeEvent { tenant_id, kind })
}

fn log_lines(output: bollard::container::LogOutput) -> Vec<LogLine> {
    use bollard::container::LogOutput;
    let (stream, message) = match output {
        LogOutput::StdErr { message } => (LogStream::Stderr, message),
        LogOutput::StdOut { message } | LogOutput::Console { message } => {
            (LogStream::Stdout, message)
        }
        LogOutput::StdIn { .. } => return Vec::new(),
    };
    String::from_utf8_lossy(&message)
        .lines()
        .map(|text| LogLine {
            stream,
            text: text.to_string(),
        })
        .collect()
}

fn parse_user(user: &str) -> (u64, u64) {
    let mut parts = user.split(':');
    let uid = parts.next().and_then(|u| u.parse().ok()).unwrap_or(0);
    let gid = parts.next().and_then(|g| g.parse().ok()).unwrap_or(uid);
    (uid, gid)
}

fn status(e: &BollardError) -> Option<u16> {
    match e {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn engine(e: BollardError) -> RuntimeError {
    match e {
        BollardError::DockerResponseServerError {
            status_code,
            message,
        } => RuntimeError::Engine(format!("{message} (HTTP {status_code})")),
        BollardError::IOError { .. } | BollardError::HyperResponseError { .. } => {
            RuntimeError::Unavailable(e.to_string())
        }
        other => RuntimeError::Engine(other.to_string()),
    }
}

fn not_found_or_engine(e: BollardError, tenant_id: &str) -> RuntimeError {
    if status(&e) == Some(404) {
        RuntimeError::NotFound(tenant_id.to_string())
    } else {
        engine(e)
    }
}

pub use ipnet::Ipv4Net;

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The address range tenant networks are carved from, and the size of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubnetPool {
    pub range: Ipv4Net,
    /// Prefix length of each tenant's subnet (28: 14 addresses, plenty for one container).
    pub tenant_prefix: u8,
}

impl SubnetPool {
    pub const DEFAULT: SubnetPool = SubnetPool {
        range: match Ipv4Net::new(std::net::Ipv4Addr::new(10, 213, 0, 0), 16) {
            Ok(net) => net,
            Err(_) => panic!("10.213.0.0/16 is a valid network"),
        },
        tenant_prefix: 28,
    };

    /// The first tenant-sized subnet in the pool that overlaps none of `used`.
    pub fn first_free(&self, used: &[Ipv4Net]) -> Option<Ipv4Net> {
        self.range
            .subnets(self.tenant_prefix)
            .ok()?
            .find(|candidate| !used.iter().any(|u| overlaps(u, candidate)))
    }
}

impl std::fmt::Display for SubnetPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (/{} each)", self.range, self.tenant_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_hands_out_the_first_subnet_nobody_uses() {
        let pool = SubnetPool::DEFAULT;
        let net = |s: &str| s.parse::<Ipv4Net>().expect("net");
        assert_eq!(pool.first_free(&[]), Some(net("10.213.0.0/28")));
        let used = [
            net("10.213.0.0/28"),
            net("10.213.0.16/28"),
            net("172.17.0.0/16"),
        ];
        assert_eq!(pool.first_free(&used), Some(net("10.213.0.32/28")));
        // A wide network overlapping the whole pool leaves nothing.
        assert_eq!(pool.first_free(&[net("10.0.0.0/8")]), None);
    }
}
