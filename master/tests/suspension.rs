//! Moving the clock over a live tenant: an unpaid subscription is suspended and its bot
//! stops; a payment brings the bot back with its data. Once with tenant bots as processes,
//! once as real Docker containers (reaching the sandbox and the master through forwarders on
//! a network of the test's own). On SQLite and PostgreSQL.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use master::app::Extras;
use master::billing::orders::{self, OrderKind, OrderRequest};
use master::billing::payments::{self, Method};
use master::billing::subscriptions::{self, Status};
use master::customers::{self, TelegramProfile};
use master::jobs::lifecycle;
use master::tenants::checks::LiveChecks;
use master::tenants::onboarding::{advance, Context, Input};
use provisioner::store::{self, Desired};
use sandbox::panels::{FakeMarzban, FakeMarzbanOptions};
use shared::clock::{Clock, ManualClock, DAY};
use shared::db::Engine;
use shared::money::Currency;
use shared::panel::{NetRule, NetworkPolicy, PanelKind};
use shared::secret::Keyring;
use shared::telegram::TelegramId;

fn tenant_bot() -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_madar")).with_file_name("tenant-bot");
    if path.exists() {
        return Some(path);
    }
    if shared::testdb::running_in_ci() {
        panic!(
            "CI=true but {} is missing: build the workspace first",
            path.display()
        );
    }
    eprintln!("NOTE: test skipped: {} is not built", path.display());
    None
}

fn policy() -> NetworkPolicy {
    NetworkPolicy::strict().allow(NetRule::parse("127.0.0.1").unwrap())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Where {
    Processes,
    Containers,
}

/// Forwards TCP connections from `listen` to `target`: containers on the test's network
/// reach the loopback sandbox and master this way, and nothing leaves the machine.
fn forward(listen: std::net::IpAddr, target: std::net::SocketAddr) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind((listen, 0)).unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    addr
}

/// Removes every container, volume and network of one test run, even after a panic.
struct DockerCleanup(String);

impl Drop for DockerCleanup {
    fn drop(&mut self) {
        let label = format!("label=madar.test-run={}", self.0);
        let script = format!(
            "docker ps -aq --filter {label} | xargs -r docker rm -f >/dev/null; \
             docker volume ls -q --filter {label} | xargs -r docker volume rm >/dev/null; \
             docker network ls -q --filter {label} | xargs -r docker network rm >/dev/null"
        );
        let _ = std::process::Command::new("sh")
            .args(["-c", &script])
            .status();
    }
}

/// The Docker side: the engine, the static binary, an image, and the test's own network.
async fn docker_setup(
    run: &str,
) -> Option<(
    Arc<dyn provisioner::runtime::Runtime>,
    std::net::IpAddr,
    String,
)> {
    use bollard::models::NetworkCreateRequest;
    use provisioner::runtime::docker::{DockerRuntime, DockerSettings, SubnetPool};
    let docker = match provisioner::runtime::docker::connect(None).await {
        Ok(docker) => docker,
        Err(e) if shared::testdb::running_in_ci() => {
            panic!("CI=true but Docker is unreachable: {e}")
        }
        Err(e) => {
            eprintln!("NOTE: Docker half skipped: {e}");
            return None;
        }
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let binary = root.join(provisioner::image::STATIC_BINARY_PATH);
    if !binary.exists() {
        if shared::testdb::running_in_ci() {
            panic!(
                "CI=true but {} is missing: run docker/build-tenant-bot.sh",
                binary.display()
            );
        }
        eprintln!("NOTE: Docker half skipped: {} is missing", binary.display());
        return None;
    }
    let version = "0.1.0-master-test".to_string();
    provisioner::image::build_image(&docker, &binary, &version)
        .await
        .unwrap();
    let labels = std::collections::HashMap::from([
        ("madar.managed".to_string(), "true".to_string()),
        ("madar.test-run".to_string(), run.to_string()),
    ]);
    let network = docker
        .create_network(NetworkCreateRequest {
            name: format!("madar-test-{run}-services"),
            driver: Some("bridge".into()),
            labels: Some(labels),
            ..Default::default()
        })
        .await
        .unwrap();
    let inspected = docker
        .inspect_network(
            &network.id,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .unwrap();
    let gateway: std::net::IpAddr = inspected
        .ipam
        .and_then(|i| i.config)
        .and_then(|c| c.into_iter().find_map(|c| c.gateway))
        .and_then(|g| g.parse().ok())
        .expect("the test network has a gateway");
    let runtime = DockerRuntime::from_client(
        docker,
        DockerSettings {
            extra_labels: std::collections::BTreeMap::from([(
                "madar.test-run".to_string(),
                run.to_string(),
            )]),
            stop_grace: Duration::from_secs(5),
            tenant_subnets: Some(SubnetPool::DEFAULT),
            tenant_bot_binary: Some(binary),
            ..DockerSettings::default()
        },
    );
    Some((Arc::new(runtime), gateway, version))
}

async fn an_unpaid_bot_is_stopped_and_a_payment_brings_it_back_with_its_data(engine: Engine) {
    unpaid_and_back(engine, Where::Processes).await
}

async fn an_unpaid_container_is_stopped_and_a_payment_brings_it_back_with_its_data(engine: Engine) {
    unpaid_and_back(engine, Where::Containers).await
}

async fn unpaid_and_back(engine: Engine, place: Where) {
    let run = shared::db::new_id()[20..].to_string();
    let _cleanup = DockerCleanup(run.clone());
    let (binary, docker) = match place {
        Where::Processes => match tenant_bot() {
            Some(binary) => (binary, None),
            None => return,
        },
        Where::Containers => match docker_setup(&run).await {
            Some(setup) => (PathBuf::new(), Some(setup)),
            None => return,
        },
    };
    let image_version = docker
        .as_ref()
        .map(|(_, _, v)| v.clone())
        .unwrap_or_else(|| "0.1.0".into());
    let clock = ManualClock::at(shared::db::now_unix());
    let key = Keyring::generate_key_line("k1");
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let master_url = format!("http://127.0.0.1:{port}");
    let extras = {
        let (clock, data, master_url) =
            (clock.clone(), data.path().to_path_buf(), master_url.clone());
        let (docker, image_version) = (docker.clone(), image_version.clone());
        move |sandbox_url: &str| {
            let mut settings =
                provisioner::reconcile::ReconcilerSettings::new(sandbox_url, &master_url);
            settings.heartbeat_seconds = 1;
            settings.interval = Duration::from_millis(500);
            let runtime: Arc<dyn provisioner::runtime::Runtime> = match &docker {
                None => Arc::new(master::provisioning::process_runtime(&data, &binary)),
                Some((runtime, gateway, _)) => {
                    // Containers reach the loopback sandbox and master through the gateway.
                    let sandbox_addr = url::Url::parse(sandbox_url)
                        .unwrap()
                        .socket_addrs(|| None)
                        .unwrap()[0];
                    let master_addr = url::Url::parse(&master_url)
                        .unwrap()
                        .socket_addrs(|| None)
                        .unwrap()[0];
                    settings.tenant_telegram_api_url =
                        format!("http://{}", forward(*gateway, sandbox_addr));
                    settings.tenant_master_url =
                        format!("http://{}", forward(*gateway, master_addr));
                    runtime.clone()
                }
            };
            Extras {
                clock: Arc::new(clock.clone()),
                panel_policy: policy(),
                runtime: Some((runtime, settings)),
                image_version: Some(image_version.clone()),
                ..Extras::default()
            }
        }
    };
    let Some(w) = support::world_full(
        engine,
        {
            let key = key.clone();
            move |c| {
                c.secret_keys = vec![key];
                c.http_listen = support::local(port);
                c.public_url = url::Url::parse(&master_url).unwrap();
            }
        },
        extras,
    )
    .await
    else {
        return;
    };
    let db = w.app().db.clone();
    let keyring = Keyring::from_config(&[key]).unwrap();
    let marzban = FakeMarzban::start(support::local(0), FakeMarzbanOptions::default())
        .await
        .unwrap();

    // Sara pays for Starter and sets up her bot.
    let sara = w.user("Sara", "en").await;
    let customer = customers::upsert_from_telegram(
        &db,
        &TelegramProfile {
            id: TelegramId::new(sara),
            first_name: "Sara".into(),
            username: None,
            language_code: Some("en".into()),
        },
    )
    .await
    .unwrap();
    let buy = |kind: OrderKind, sub: Option<String>| OrderRequest {
        customer_id: customer.id.clone(),
        kind,
        package_code: "starter".into(),
        period_months: 1,
        currency: Currency::Toman,
        coupon: None,
        subscription_id: sub,
    };
    let pay = |request: OrderRequest| {
        let db = db.clone();
        let now = clock.now();
        async move {
            let (_, invoice) = orders::place(&db, now, &request).await.unwrap();
            let payment = payments::open(&db, now, &invoice.id, Method::Zarinpal)
                .await
                .unwrap();
            payments::confirm(&db, now, &payment.id, invoice.amount, None)
                .await
                .unwrap();
        }
    };
    pay(buy(OrderKind::New, None)).await;
    let sub = subscriptions::for_customer(&db, &customer.id)
        .await
        .unwrap()
        .remove(0);
    let tenant = master::tenants::of_customer(&db, &customer.id)
        .await
        .unwrap()
        .remove(0);
    let shop = w
        .control
        .create_bot("sara_vpn_bot", "Sara VPN")
        .await
        .unwrap();
    let checks = LiveChecks {
        telegram_api_url: url::Url::parse(&w.sandbox.url()).unwrap(),
        policy: policy(),
    };
    let ctx = Context {
        db: &db,
        keyring: &keyring,
        checks: &checks,
        policy: &policy(),
    };
    let panel = FakeMarzbanOptions::default();
    for input in [
        Input::Text(shop.token.clone()),
        Input::ItsMe,
        Input::Skip,
        Input::Kind(PanelKind::Marzban),
        Input::Text(marzban.url()),
        Input::Text(panel.admin_user.clone()),
        Input::Text(panel.admin_password.clone()),
    ] {
        let current = master::tenants::get(&db, &tenant.id)
            .await
            .unwrap()
            .unwrap();
        advance(&ctx, &current, sara, input, clock.now())
            .await
            .unwrap();
    }
    master::tenants::desired::sync(&db, &keyring, &image_version, clock.now())
        .await
        .unwrap();

    // The bot runs: an end user starts it, and is remembered in the bot's own database.
    let bahar = w
        .control
        .create_user("Bahar", None, Some("en"))
        .await
        .unwrap();
    let answer = start(&w, &shop.token, bahar).await;
    assert!(answer.contains("Sara VPN"), "{answer}");

    // The month ends unpaid: grace, then suspension; the bot stops.
    let end = sub.current_period_end;
    let policy = lifecycle::Policy::default();
    clock.set(end + 1);
    lifecycle::run_once(&db, clock.now(), &policy)
        .await
        .unwrap();
    clock.set(end + policy.grace + 1);
    lifecycle::run_once(&db, clock.now(), &policy)
        .await
        .unwrap();
    assert_eq!(
        subscriptions::get(&db, &sub.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        Status::Suspended
    );
    master::tenants::desired::sync(&db, &keyring, &image_version, clock.now())
        .await
        .unwrap();
    assert_eq!(
        store::get(&db, &tenant.id).await.unwrap().unwrap().desired,
        Desired::Stopped
    );
    wait_until("the bot stops", || async {
        store::get(&db, &tenant.id).await.unwrap().unwrap().state == store::Lifecycle::Stopped
    })
    .await;
    let asked = w.control.send(&shop.token, bahar, "/start").await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let chat = w.control.chat(&shop.token, bahar).await.unwrap();
    assert!(
        !chat
            .iter()
            .any(|m| m.message_id > asked.message_id && m.from == sandbox::client::Sender::Bot),
        "a stopped bot answers nobody"
    );

    // Sara pays: active again, the bot starts, and answers the waiting /start; Bahar is still
    // in its database.
    clock.advance(DAY);
    pay(buy(OrderKind::Renew, Some(sub.id.clone()))).await;
    assert_eq!(
        subscriptions::get(&db, &sub.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        Status::Active
    );
    master::tenants::desired::sync(&db, &keyring, &image_version, clock.now())
        .await
        .unwrap();
    let answer = w
        .control
        .wait_for_bot_message(
            &shop.token,
            bahar,
            asked.message_id,
            |_| true,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert!(answer.body().contains("Sara VPN"), "{}", answer.body());
    match place {
        Where::Processes => {
            let kept = data.path().join("tenants").join(&tenant.id);
            assert!(kept.exists(), "the bot's data was kept: {}", kept.display());
        }
        Where::Containers => {
            let volumes = std::process::Command::new("docker")
                .args([
                    "volume",
                    "ls",
                    "-q",
                    "--filter",
                    &format!("label=madar.test-run={run}"),
                ])
                .output()
                .unwrap();
            let volumes = String::from_utf8_lossy(&volumes.stdout);
            assert_eq!(
                volumes.lines().count(),
                1,
                "one data volume, kept: {volumes}"
            );
        }
    }

    w.stop().await;
}

async fn start(w: &support::World, token: &str, user: i64) -> String {
    let sent = w.control.send(token, user, "/start").await.unwrap();
    w.control
        .wait_for_bot_message(
            token,
            user,
            sent.message_id,
            |_| true,
            Duration::from_secs(30),
        )
        .await
        .unwrap()
        .body()
        .to_string()
}

async fn wait_until<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

shared::on_both_engines!(
    an_unpaid_bot_is_stopped_and_a_payment_brings_it_back_with_its_data,
    an_unpaid_container_is_stopped_and_a_payment_brings_it_back_with_its_data,
);
