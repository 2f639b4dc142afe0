//! The process runtime (for `madar demo` and machines with no Docker engine): the same loop
//! drives tenant bots as child processes. Also where crash loops are provoked: killing a
//! child process is quick and needs no engine. Everything listens on loopback only.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::{eventually, DATA_KEY};
use provisioner::reconcile::{NoticeKind, Reconciler, ReconcilerSettings};
use provisioner::runtime::process::{ProcessRuntime, ProcessSettings};
use provisioner::runtime::Runtime;
use provisioner::store::{self, Desired, DesiredSpec, Lifecycle, PackageLimits};
use sandbox::client::ControlClient;
use sandbox::{Sandbox, SandboxOptions};
use shared::db::{Engine, Schema};
use shared::secret::{Keyring, SecretString};
use shared::telegram::BotToken;
use shared::testdb::TestDb;

const WAIT: Duration = Duration::from_secs(30);

async fn serve_heartbeats(db: shared::db::Db) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, provisioner::heartbeat::router(db)).await;
    });
    format!("http://{addr}")
}

fn pid_of(info: &provisioner::runtime::ContainerInfo) -> Option<i32> {
    info.id.parse().ok()
}

async fn a_tenant_bot_runs_as_a_process_and_crash_loops_are_caught(engine: Engine) {
    let Some(binary) = common::tenant_bot_binary_or_skip() else {
        return;
    };
    let Some(t) = TestDb::fresh(engine, Schema::Master).await else {
        return;
    };
    let root = tempfile::tempdir().expect("tempdir");
    let sandbox = Sandbox::start(
        "127.0.0.1:0".parse().expect("addr"),
        SandboxOptions::fast_for_tests(),
    )
    .await
    .expect("sandbox");
    let control = ControlClient::new(&sandbox.url());
    let master_url = serve_heartbeats(t.db.clone()).await;
    let runtime = Arc::new(ProcessRuntime::new(ProcessSettings {
        binary: PathBuf::from(&binary),
        root: root.path().to_path_buf(),
        stop_grace: Duration::from_secs(5),
        restart_delay: Duration::from_millis(100),
    }));
    let mut settings = ReconcilerSettings::new(&sandbox.url(), &master_url);
    settings.heartbeat_seconds = 1;
    settings.log_format = "human".to_string();
    let keyring = Keyring::from_config(&[Keyring::generate_key_line("k")]).expect("keyring");
    let reconciler = Reconciler::new(t.db.clone(), runtime.clone(), keyring.clone(), settings);
    let mut notices = reconciler.subscribe();

    let bot = control.create_bot("nova_bot", "Nova").await.expect("bot");
    let spec = DesiredSpec {
        bot_token: BotToken::parse(&bot.token).expect("token"),
        limits: PackageLimits {
            memory_mb: 64,
            cpu_millis: 500,
            pids: 64,
        },
        panels: Vec::new(),
        data_key: SecretString::new(DATA_KEY),
        image_version: "0.1.0".to_string(),
    };
    store::set_desired(&t.db, "nova", Desired::Running, &spec, &keyring)
        .await
        .expect("desired");
    let report = reconciler.reconcile_once().await.expect("pass");
    assert!(report.errors.is_empty(), "{report:?}");
    let instance = store::get(&t.db, "nova").await.expect("get").expect("row");
    assert_eq!(instance.state, Lifecycle::Running);

    // It answers /start with its name, keeps its own database, and reports in.
    let user = control
        .create_user("Reza", None, Some("en"))
        .await
        .expect("user");
    let sent = control
        .send(&bot.token, user, "/start")
        .await
        .expect("send");
    let answer = control
        .wait_for_bot_message(&bot.token, user, sent.message_id, |_| true, WAIT)
        .await
        .expect("answer");
    assert!(answer.body().contains("Nova"), "{}", answer.body());
    assert!(root.path().join("nova/data/tenant.db").exists());
    eventually("a heartbeat", WAIT, || async {
        store::get(&t.db, "nova")
            .await
            .ok()
            .flatten()
            .filter(|i| i.healthy)
    })
    .await;
    let logs = runtime.logs("nova", 50).await.expect("logs");
    assert!(!logs.is_empty());
    // The secret files are not readable by others, and not in the environment.
    let token_file = root.path().join("nova/secrets/bot_token");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&token_file)
            .expect("token file")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o400);

    // It crashes (SIGKILL) three times in a row: the runtime restarts it each time, then the
    // loop sees a crash loop, stops it and tells staff.
    for round in 0..3 {
        let info = runtime
            .inspect("nova")
            .await
            .expect("inspect")
            .expect("exists");
        let pid = pid_of(&info).expect("running with a pid");
        // SAFETY: kill(2) on the child process this test's runtime started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        eventually(&format!("restart {round}"), WAIT, || async {
            runtime
                .inspect("nova")
                .await
                .ok()
                .flatten()
                .filter(|i| i.state.is_running() && pid_of(i).is_some_and(|p| p != pid))
        })
        .await;
    }
    reconciler.reconcile_once().await.expect("pass");
    let instance = store::get(&t.db, "nova").await.expect("get").expect("row");
    assert_eq!(instance.state, Lifecycle::CrashLooping);
    assert!(instance.reason.is_some());
    let info = runtime
        .inspect("nova")
        .await
        .expect("inspect")
        .expect("kept");
    assert!(!info.state.is_running());
    let notice = loop {
        let notice = notices.try_recv().expect("a staff notice");
        if notice.kind == NoticeKind::CrashLooping {
            break notice;
        }
    };
    assert_eq!(notice.tenant_id, "nova");

    // Staff ask for it to run again: it does.
    store::set_desired_state(&t.db, "nova", Desired::Running)
        .await
        .expect("run again");
    reconciler.reconcile_once().await.expect("pass");
    let instance = store::get(&t.db, "nova").await.expect("get").expect("row");
    assert_eq!(instance.state, Lifecycle::Running);

    // Deleted: the process stops, the data directory stays until purged.
    store::set_desired_state(&t.db, "nova", Desired::Deleted)
        .await
        .expect("delete");
    reconciler.reconcile_once().await.expect("pass");
    assert!(runtime.inspect("nova").await.expect("inspect").is_none());
    assert_eq!(
        runtime.list_data().await.expect("data"),
        vec!["nova".to_string()]
    );
    store::purge_now(&t.db, "nova").await.expect("purge");
    let fresh = store::get(&t.db, "nova").await.expect("get").expect("row");
    assert!(fresh.purge_after.is_some());
    reconciler.reconcile_once().await.expect("pass");
    assert!(runtime.list_data().await.expect("data").is_empty());

    sandbox.shutdown().await;
    t.cleanup().await.expect("cleanup");
}

async fn a_bot_that_stops_reporting_in_is_marked_unhealthy(engine: Engine) {
    let Some(binary) = common::tenant_bot_binary_or_skip() else {
        return;
    };
    let Some(t) = TestDb::fresh(engine, Schema::Master).await else {
        return;
    };
    let root = tempfile::tempdir().expect("tempdir");
    let sandbox = Sandbox::start(
        "127.0.0.1:0".parse().expect("addr"),
        SandboxOptions::fast_for_tests(),
    )
    .await
    .expect("sandbox");
    let control = ControlClient::new(&sandbox.url());
    let runtime = Arc::new(ProcessRuntime::new(ProcessSettings {
        binary: PathBuf::from(&binary),
        root: root.path().to_path_buf(),
        stop_grace: Duration::from_secs(5),
        restart_delay: Duration::from_millis(100),
    }));
    // Nothing listens at this master URL: the bot runs, but its heartbeats never arrive.
    let mut settings = ReconcilerSettings::new(&sandbox.url(), "http://127.0.0.1:9");
    settings.heartbeat_seconds = 1;
    settings.heartbeat_timeout = Duration::from_secs(1);
    let keyring = Keyring::from_config(&[Keyring::generate_key_line("k")]).expect("keyring");
    let reconciler = Reconciler::new(t.db.clone(), runtime.clone(), keyring.clone(), settings);
    let mut notices = reconciler.subscribe();
    let bot = control.create_bot("quiet_bot", "Quiet").await.expect("bot");
    let spec = DesiredSpec {
        bot_token: BotToken::parse(&bot.token).expect("token"),
        limits: PackageLimits {
            memory_mb: 64,
            cpu_millis: 500,
            pids: 64,
        },
        panels: Vec::new(),
        data_key: SecretString::new(DATA_KEY),
        image_version: "0.1.0".to_string(),
    };
    store::set_desired(&t.db, "quiet", Desired::Running, &spec, &keyring)
        .await
        .expect("desired");
    reconciler.reconcile_once().await.expect("pass");
    assert!(notices.try_recv().is_err(), "no notice while it is young");

    tokio::time::sleep(Duration::from_millis(2500)).await;
    reconciler.reconcile_once().await.expect("pass");
    let notice = notices.try_recv().expect("staff are told");
    assert_eq!(notice.kind, NoticeKind::Unhealthy);
    assert_eq!(notice.tenant_id, "quiet");
    let instance = store::get(&t.db, "quiet").await.expect("get").expect("row");
    assert!(!instance.healthy);
    assert_eq!(instance.state, Lifecycle::Running);
    // Told once, not on every pass.
    reconciler.reconcile_once().await.expect("pass");
    assert!(notices.try_recv().is_err());

    runtime.remove("quiet").await.expect("remove");
    sandbox.shutdown().await;
    t.cleanup().await.expect("cleanup");
}

shared::on_both_engines!(
    a_tenant_bot_runs_as_a_process_and_crash_loops_are_caught,
    a_bot_that_stops_reporting_in_is_marked_unhealthy,
);
