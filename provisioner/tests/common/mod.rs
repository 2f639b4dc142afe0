//! What the provisioner's stories share: the real Docker engine, the static tenant-bot image,
//! the sandbox (Telegram) and the heartbeat endpoint, a fresh master database, and a guard
//! that removes every Docker resource labelled with this test's run id, even on failure.
//!
//! Networking: tenant containers sit on networks of their own. The test makes one more
//! network of its own (`madar-test-<run>-services`) only to get a host address on a
//! project-created bridge: the sandbox and the heartbeat router listen on that bridge's
//! gateway address, which every container can reach through the host. No traffic leaves
//! the machine.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use provisioner::image;
use provisioner::reconcile::{Reconciler, ReconcilerSettings};
use provisioner::runtime::docker::{DockerRuntime, DockerSettings};
use provisioner::runtime::Runtime;
use provisioner::store::{DesiredSpec, PackageLimits};
use sandbox::client::ControlClient;
use sandbox::{Sandbox, SandboxOptions};
use shared::db::{Engine, Schema};
use shared::secret::{Keyring, SecretString};
use shared::telegram::BotToken;
use shared::testdb::{running_in_ci, TestDb};
use tokio_util::sync::CancellationToken;

/// A fixed tenant data key: the same spec always hashes the same.
pub const DATA_KEY: &str = "d1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

pub const TEST_RUN_LABEL: &str = "madar.test-run";

/// Connects to the engine, or says why not: a failure under CI=true, a loud skip otherwise.
pub async fn docker_or_skip() -> Option<Docker> {
    match provisioner::runtime::docker::connect(None).await {
        Ok(docker) => Some(docker),
        Err(e) => {
            if running_in_ci() {
                panic!("CI=true but the Docker engine is unreachable: {e}");
            }
            eprintln!("NOTE: Docker test skipped: the engine is unreachable ({e}).");
            None
        }
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The static tenant-bot binary, or a loud skip (a failure under CI=true).
pub fn tenant_bot_binary_or_skip() -> Option<PathBuf> {
    let path = image::locate_binary(Some(&workspace_root()));
    if path.exists() {
        return Some(path);
    }
    let message = format!(
        "the static tenant-bot binary is missing at {}: run docker/build-tenant-bot.sh",
        path.display()
    );
    if running_in_ci() {
        panic!("CI=true but {message}");
    }
    eprintln!("NOTE: Docker test skipped: {message}");
    None
}

/// The isolation probe (a static std-only program), compiled on demand when the build
/// script has not made it.
pub fn isolation_probe() -> PathBuf {
    let built = workspace_root().join("target/static/isolation-probe");
    if built.exists() {
        return built;
    }
    let out = std::env::temp_dir().join(format!("madar-isolation-probe-{}", std::process::id()));
    let status = std::process::Command::new("rustc")
        .args([
            "--edition",
            "2021",
            "-O",
            "-C",
            "target-feature=+crt-static",
        ])
        .arg(workspace_root().join("docker/probe/isolation_probe.rs"))
        .arg("-o")
        .arg(&out)
        .status()
        .expect("run rustc for the isolation probe");
    assert!(status.success(), "the isolation probe did not compile");
    out
}

/// Builds the tenant-bot image for this binary (tagged by its content, so a rebuilt binary
/// gets a new image) and returns its version.
pub async fn test_image_version(docker: &Docker, binary: &std::path::Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(binary).expect("read the tenant-bot binary");
    let digest = hex::encode(&sha2::Sha256::digest(&bytes)[..6]);
    let version = format!("{}-test-{digest}", env!("CARGO_PKG_VERSION"));
    let tag = image::image_tag(&version);
    if image::inspect(docker, &tag)
        .await
        .expect("inspect image")
        .is_none()
    {
        image::build_from_binary(docker, binary, &tag, &version, &[])
            .await
            .expect("build the tenant-bot image");
    }
    version
}

/// Removes every container, volume and network labelled with the run id when dropped.
pub struct Cleanup {
    pub run_id: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let run_id = self.run_id.clone();
        // Drop may run inside a runtime: clean up on a thread with a runtime of its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            rt.block_on(remove_labelled(&run_id));
        })
        .join();
        if done.is_err() {
            eprintln!("cleanup of test run {} panicked", self.run_id);
        }
    }
}

pub async fn remove_labelled(run_id: &str) {
    let Ok(docker) = provisioner::runtime::docker::connect(None).await else {
        return;
    };
    let filters = std::collections::HashMap::from([(
        "label".to_string(),
        vec![format!("{TEST_RUN_LABEL}={run_id}")],
    )]);
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap_or_default();
    for c in containers {
        if let Some(id) = c.id {
            let options = RemoveContainerOptionsBuilder::new().force(true).build();
            let _ = docker.remove_container(&id, Some(options)).await;
        }
    }
    let volumes = docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .ok()
        .and_then(|v| v.volumes)
        .unwrap_or_default();
    for v in volumes {
        let _ = docker
            .remove_volume(
                &v.name,
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await;
    }
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .unwrap_or_default();
    for n in networks {
        if let Some(id) = n.id {
            let _ = docker.remove_network(&id).await;
        }
    }
    let images = docker
        .list_images(Some(
            bollard::query_parameters::ListImagesOptionsBuilder::new()
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap_or_default();
    for image in images {
        let _ = docker
            .remove_image(
                &image.id,
                Some(
                    bollard::query_parameters::RemoveImageOptionsBuilder::new()
                        .force(true)
                        .build(),
                ),
                None,
            )
            .await;
    }
}

/// A master database, the Docker runtime, the sandbox and the heartbeat endpoint.
pub struct Harness {
    pub docker: Docker,
    pub runtime: Arc<DockerRuntime>,
    pub db: TestDb,
    pub keyring: Keyring,
    pub sandbox: Sandbox,
    pub control: ControlClient,
    /// The Bot API root as containers see it.
    pub sandbox_url_for_tenants: String,
    pub master_url_for_tenants: String,
    pub image_version: String,
    pub run_id: String,
    pub gateway: IpAddr,
    servers: Vec<tokio::task::JoinHandle<()>>,
    // Last: dropped after everything above.
    pub cleanup: Cleanup,
}

impl Harness {
    /// `None` when Docker or the binary is missing outside CI (PostgreSQL likewise).
    pub async fn start(engine: Engine) -> Option<Harness> {
        let docker = docker_or_skip().await?;
        let binary = tenant_bot_binary_or_skip()?;
        let db = TestDb::fresh(engine, Schema::Master).await?;
        let run_id = shared::db::new_id()[20..].to_string();
        let cleanup = Cleanup {
            run_id: run_id.clone(),
        };
        let image_version = test_image_version(&docker, &binary).await;
        let labels = BTreeMap::from([
            ("madar.managed".to_string(), "true".to_string()),
            (TEST_RUN_LABEL.to_string(), run_id.clone()),
        ]);
        let services = docker
            .create_network(NetworkCreateRequest {
                name: format!("madar-test-{run_id}-services"),
                driver: Some("bridge".to_string()),
                labels: Some(labels.clone().into_iter().collect()),
                ..Default::default()
            })
            .await
            .expect("create the services network");
        let inspected = docker
            .inspect_network(
                &services.id,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .expect("inspect the services network");
        let gateway: IpAddr = inspected
            .ipam
            .and_then(|i| i.config)
            .and_then(|c| c.into_iter().find_map(|c| c.gateway))
            .and_then(|g| g.parse().ok())
            .expect("the services network has an IPv4 gateway");

        let sandbox = Sandbox::start(
            "127.0.0.1:0".parse().expect("loopback"),
            SandboxOptions::fast_for_tests(),
        )
        .await
        .expect("start the sandbox");
        let control = ControlClient::new(&sandbox.url());
        let mut servers = Vec::new();
        let (sandbox_addr, server) = serve(gateway, sandbox::router(sandbox.state().clone())).await;
        servers.push(server);
        let (master_addr, server) =
            serve(gateway, provisioner::heartbeat::router(db.db.clone())).await;
        servers.push(server);

        let runtime = Arc::new(DockerRuntime::from_client(
            docker.clone(),
            DockerSettings {
                extra_labels: BTreeMap::from([(TEST_RUN_LABEL.to_string(), run_id.clone())]),
                stop_grace: Duration::from_secs(5),
                tenant_bot_binary: Some(binary.clone()),
                ..DockerSettings::default()
            },
        ));
        Some(Harness {
            docker,
            runtime,
            keyring: Keyring::from_config(&[Keyring::generate_key_line("test")]).expect("keyring"),
            db,
            sandbox_url_for_tenants: format!("http://{sandbox_addr}"),
            master_url_for_tenants: format!("http://{master_addr}"),
            sandbox,
            control,
            image_version,
            run_id,
            gateway,
            servers,
            cleanup,
        })
    }

    pub fn settings(&self) -> ReconcilerSettings {
        let mut settings =
            ReconcilerSettings::new(&self.sandbox.url(), &self.master_url_for_tenants);
        settings.tenant_telegram_api_url = self.sandbox_url_for_tenants.clone();
        settings.heartbeat_seconds = 1;
        settings.interval = Duration::from_millis(500);
        settings.log_format = "human".to_string();
        settings
    }

    pub fn reconciler(&self) -> Reconciler {
        self.reconciler_with(self.runtime.clone())
    }

    pub fn reconciler_with(&self, runtime: Arc<dyn Runtime>) -> Reconciler {
        Reconciler::new(
            self.db.db.clone(),
            runtime,
            self.keyring.clone(),
            self.settings(),
        )
    }

    pub fn spec(&self, token: &str) -> DesiredSpec {
        DesiredSpec {
            bot_token: BotToken::parse(token).expect("a sandbox token parses"),
            limits: PackageLimits {
                memory_mb: 64,
                cpu_millis: 500,
                pids: 64,
            },
            panels: Vec::new(),
            data_key: SecretString::new(DATA_KEY),
            image_version: self.image_version.clone(),
        }
    }

    /// A tenant id unique to this run.
    pub fn tenant(&self, name: &str) -> String {
        format!("{}-{name}", self.run_id)
    }

    /// Sends /start as a new user and returns the bot's answer. On a timeout the panic
    /// message shows the instance row and the container's last log lines.
    pub async fn start_command_answer(
        &self,
        tenant: &str,
        token: &str,
        timeout: Duration,
    ) -> String {
        let user = self
            .control
            .create_user("Sara", None, Some("en"))
            .await
            .expect("create a sandbox user");
        let sent = self
            .control
            .send(token, user, "/start")
            .await
            .expect("send /start");
        let answer = self
            .control
            .wait_for_bot_message(token, user, sent.message_id, |_| true, timeout)
            .await;
        match answer {
            Ok(answer) => answer.body().to_string(),
            Err(e) => {
                let instance = provisioner::store::get(&self.db.db, tenant).await;
                let logs = self.runtime.logs(tenant, 30).await;
                let container = self.runtime.inspect(tenant).await;
                panic!(
                    "{tenant} did not answer /start: {e}\ninstance: {instance:#?}\n\
                     container: {container:#?}\nlogs: {logs:#?}"
                );
            }
        }
    }

    /// Containers of this run for `tenant_id`, by label (not by name).
    pub async fn containers_of(&self, tenant_id: &str) -> Vec<String> {
        let filters = std::collections::HashMap::from([(
            "label".to_string(),
            vec![
                format!("{TEST_RUN_LABEL}={}", self.run_id),
                format!("madar.tenant={tenant_id}"),
            ],
        )]);
        self.docker
            .list_containers(Some(
                ListContainersOptionsBuilder::new()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .expect("list containers")
            .into_iter()
            .filter_map(|c| c.id)
            .collect()
    }

    pub async fn volume_exists(&self, tenant_id: &str) -> bool {
        self.docker
            .inspect_volume(&DockerRuntime::volume_name(tenant_id))
            .await
            .is_ok()
    }

    pub async fn finish(self) {
        for server in &self.servers {
            server.abort();
        }
        let Harness {
            db,
            sandbox,
            cleanup,
            ..
        } = self;
        sandbox.shutdown().await;
        remove_labelled(&cleanup.run_id).await;
        let _ = db.cleanup().await;
    }
}

async fn serve(ip: IpAddr, app: axum::Router) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, 0))
        .await
        .expect("listen on the services gateway");
    let addr = listener.local_addr().expect("local addr");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, server)
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs the reconcile loop in the background until the returned token is cancelled.
pub fn run_loop(reconciler: &Reconciler) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let shutdown = CancellationToken::new();
    let task = {
        let reconciler = reconciler.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move { reconciler.run(shutdown).await })
    };
    (shutdown, task)
}
