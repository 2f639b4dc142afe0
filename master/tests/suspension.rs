//! Moving the clock over a live tenant: an unpaid subscription is suspended and its bot
//! stops; a payment brings the bot back with its data. Tenant bots run as processes here
//! (the Docker runtime has its own tests in the provisioner). On SQLite and PostgreSQL.

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

async fn an_unpaid_bot_is_stopped_and_a_payment_brings_it_back_with_its_data(engine: Engine) {
    let Some(binary) = tenant_bot() else { return };
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
        move |sandbox_url: &str| {
            let runtime: Arc<dyn provisioner::runtime::Runtime> =
                Arc::new(master::provisioning::process_runtime(&data, &binary));
            let mut settings =
                provisioner::reconcile::ReconcilerSettings::new(sandbox_url, &master_url);
            settings.heartbeat_seconds = 1;
            settings.interval = Duration::from_millis(500);
            Extras {
                clock: Arc::new(clock.clone()),
                panel_policy: policy(),
                runtime: Some((runtime, settings)),
                image_version: Some("0.1.0".into()),
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
    master::tenants::desired::sync(&db, &keyring, "0.1.0", clock.now())
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
    master::tenants::desired::sync(&db, &keyring, "0.1.0", clock.now())
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
    master::tenants::desired::sync(&db, &keyring, "0.1.0", clock.now())
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
    let kept = data.path().join("tenants").join(&tenant.id);
    assert!(kept.exists(), "the bot's data was kept: {}", kept.display());

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

shared::on_both_engines!(an_unpaid_bot_is_stopped_and_a_payment_brings_it_back_with_its_data);
