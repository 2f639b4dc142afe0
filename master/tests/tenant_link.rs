//! The link from the master to a tenant's bot: the instance gets its own data key and the
//! operator's panel allow-list when it is made, and reads its owner, channel, limits and
//! panels (password included) from the master with its own API key. On SQLite and PostgreSQL.
//!
//! The instance runs in the process runtime as a small script that prints what it was given,
//! so the test sees exactly what a tenant bot would.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use master::app::Extras;
use master::billing::orders::{self, OrderKind, OrderRequest};
use master::billing::payments::{self, Method};
use master::customers::{self, TelegramProfile};
use master::tenants::checks::LiveChecks;
use master::tenants::onboarding::{advance, Context, Input};
use master::tenants::{self, Tenant};
use provisioner::reconcile::ReconcilerSettings;
use provisioner::runtime::process::{ProcessRuntime, ProcessSettings};
use provisioner::runtime::Runtime;
use sandbox::panels::{FakeMarzban, FakeMarzbanOptions};
use shared::db::{Db, Engine};
use shared::money::Currency;
use shared::panel::{NetRule, NetworkPolicy, PanelKind};
use shared::secret::{Keyring, SecretString};
use shared::telegram::TelegramId;
use shared::tenant_link::{TenantLinkConfig, CONFIG_PATH};
use support::{local, world_full, World, WAIT};

const NOW: i64 = 1_795_257_600;
const BUYER: i64 = 4242;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A stand-in tenant bot: prints its panel allow-list, then waits to be stopped.
fn recording_bot(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("recording-bot.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\necho \"panel_allow=$MADAR_TENANT_PANEL_ALLOW\"\nexec sleep 600\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Sara has paid for Starter: her tenant waits for onboarding.
async fn paid_customer(db: &Db) -> Tenant {
    let customer = customers::upsert_from_telegram(
        db,
        &TelegramProfile {
            id: TelegramId::new(BUYER),
            first_name: "Sara".into(),
            username: None,
            language_code: Some("en".into()),
        },
    )
    .await
    .unwrap();
    let request = OrderRequest {
        customer_id: customer.id.clone(),
        kind: OrderKind::New,
        package_code: "starter".into(),
        period_months: 1,
        currency: Currency::Toman,
        coupon: None,
        subscription_id: None,
    };
    let (_, invoice) = orders::place(db, NOW, &request).await.unwrap();
    let payment = payments::open(db, NOW, &invoice.id, Method::Card)
        .await
        .unwrap();
    payments::confirm(db, NOW, &payment.id, invoice.amount, Some("staff"))
        .await
        .unwrap();
    tenants::of_customer(db, &customer.id)
        .await
        .unwrap()
        .into_iter()
        .next()
        .unwrap()
}

/// Onboarding as in the master bot: her bot, herself as admin, no channel, her Marzban.
async fn onboard(w: &World, keyring: &Keyring, policy: &NetworkPolicy, marzban: &str) -> Tenant {
    let db = &w.app().db;
    let shop_bot = w
        .control
        .create_bot("nimbus_vpn_bot", "Nimbus VPN")
        .await
        .unwrap();
    let checks = LiveChecks {
        telegram_api_url: url::Url::parse(&w.sandbox.url()).unwrap(),
        policy: policy.clone(),
    };
    let ctx = Context {
        db,
        keyring,
        checks: &checks,
        policy,
    };
    let defaults = FakeMarzbanOptions::default();
    let steps = [
        Input::Text(shop_bot.token.clone()),
        Input::ItsMe,
        Input::Text("@nimbus_news".into()),
        Input::Kind(PanelKind::Marzban),
        Input::Text(marzban.to_string()),
        Input::Text(defaults.admin_user.clone()),
        Input::Text(defaults.admin_password.clone()),
    ];
    let mut tenant = paid_customer(db).await;
    let news = w
        .control
        .create_channel(Some("nimbus_news"), "Nimbus news")
        .await
        .unwrap();
    w.control
        .set_member(news, shop_bot.id, "administrator")
        .await
        .unwrap();
    for step in steps {
        advance(&ctx, &tenant, BUYER, step, NOW).await.unwrap();
        tenant = tenants::get(db, &tenant.id).await.unwrap().unwrap();
    }
    assert!(tenant.is_onboarded(), "{tenant:?}");
    tenant
}

/// Waits until the instance's secret file `name` holds something other than `not`.
async fn secret_file(root: &Path, tenant_id: &str, name: &str, not: Option<&str>) -> String {
    let path = root.join(tenant_id).join("secrets").join(name);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if Some(text.as_str()) != not {
                return text;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} never got a (new) value",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn printed(runtime: &ProcessRuntime, tenant_id: &str, prefix: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let lines = runtime.logs(tenant_id, 50).await.unwrap_or_default();
        if let Some(line) = lines.iter().find(|l| l.text.starts_with(prefix)) {
            return line.text.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bot never printed {prefix}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ask(base: &str, key: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{base}{CONFIG_PATH}"));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.unwrap()
}

async fn config(base: &str, key: &str) -> TenantLinkConfig {
    let response = ask(base, Some(key)).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn a_tenant_bot_gets_its_data_key_and_reads_its_panels_with_its_own_key(engine: Engine) {
    let marzban = FakeMarzban::start(local(0), FakeMarzbanOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tenants");
    let runtime = Arc::new(ProcessRuntime::new(ProcessSettings {
        binary: recording_bot(dir.path()),
        root: root.clone(),
        stop_grace: Duration::from_secs(2),
        restart_delay: Duration::from_millis(100),
    }));
    let key_line = Keyring::generate_key_line("k1");
    let keyring = Keyring::from_config(std::slice::from_ref(&key_line)).unwrap();
    // The panel lives on this machine; this operator allows loopback for panels.
    let policy = NetworkPolicy::strict().allow(NetRule::parse("127.0.0.1").unwrap());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let extras = {
        let (runtime, policy, base) = (runtime.clone(), policy.clone(), base.clone());
        move |sandbox_url: &str| {
            let mut settings = ReconcilerSettings::new(sandbox_url, &base);
            settings.interval = Duration::from_millis(200);
            let runtime: Arc<dyn Runtime> = runtime.clone();
            Extras {
                runtime: Some((runtime, settings)),
                panel_policy: policy.clone(),
                // The test writes the desired state itself, when it wants to.
                image_version: None,
                ..Extras::default()
            }
        }
    };
    let Some(w) = world_full(
        engine,
        move |c| {
            c.http_listen = local(port);
            c.secret_keys = vec![key_line];
        },
        extras,
    )
    .await
    else {
        return;
    };
    let db = w.app().db.clone();
    let tenant = onboard(&w, &keyring, &policy, &marzban.url()).await;
    tenants::desired::sync(&db, &keyring, "0.1.0", NOW)
        .await
        .unwrap();

    // The bot is made with the operator's allow-list and a data key of its own.
    let allow = printed(&runtime, &tenant.id, "panel_allow=").await;
    assert_eq!(allow, "panel_allow=127.0.0.1");
    let data_key = secret_file(&root, &tenant.id, "data_key", None).await;
    Keyring::from_config(&[SecretString::new(data_key.clone())]).expect("a usable key line");
    let stored = tenants::data_key::ensure(&db, &keyring, &tenant.id)
        .await
        .unwrap();
    assert_eq!(stored.expose(), data_key);
    let raw: String = sqlx::query_scalar("SELECT data_key_enc FROM tenants WHERE id = $1")
        .bind(&tenant.id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert!(
        !raw.contains(&data_key),
        "the data key is encrypted at rest"
    );

    // With the key it was given, the bot reads who runs it and its panel, password included.
    let api_key = secret_file(&root, &tenant.id, "api_key", None).await;
    let got = config(&base, &api_key).await;
    assert_eq!(got.tenant_id, tenant.id);
    assert_eq!(got.owner_telegram_id, Some(BUYER));
    assert_eq!(got.channel.as_deref(), Some("@nimbus_news"));
    assert_eq!(got.limits.max_end_users, Some(100), "Starter's limits");
    assert_eq!(got.limits.max_panels, Some(1));
    assert_eq!(got.panels.len(), 1);
    let panel = &got.panels[0];
    assert_eq!(
        panel.id,
        tenants::panels(&db, &tenant.id).await.unwrap()[0].id
    );
    assert_eq!(panel.kind, PanelKind::Marzban);
    assert_eq!(panel.url, marzban.url());
    let defaults = FakeMarzbanOptions::default();
    assert_eq!(panel.username, defaults.admin_user);
    assert_eq!(panel.password.expose(), defaults.admin_password);

    // Anyone else gets a bare 401.
    for key in [None, Some("not-the-key")] {
        let refused = ask(&base, key).await;
        assert_eq!(refused.status(), 401);
        assert!(refused.text().await.unwrap().is_empty());
    }

    // A new tenant-bot version recreates the bot: a new API key, the same data key.
    let report = tenants::desired::sync(&db, &keyring, "0.1.1", NOW + 60)
        .await
        .unwrap();
    assert_eq!(report.written, 1);
    let new_api_key = secret_file(&root, &tenant.id, "api_key", Some(&api_key)).await;
    printed(&runtime, &tenant.id, "panel_allow=").await;
    assert_eq!(
        secret_file(&root, &tenant.id, "data_key", None).await,
        data_key
    );
    assert_eq!(ask(&base, Some(&api_key)).await.status(), 401, "old key");
    // Another sync writes nothing: the data key is part of an unchanged spec.
    let report = tenants::desired::sync(&db, &keyring, "0.1.1", NOW + 120)
        .await
        .unwrap();
    assert_eq!(report.written, 0);

    // Sara stops her bot: while it shuts down it can still read its configuration.
    tenants::set_paused(&db, &tenant.id, true, NOW + 180)
        .await
        .unwrap();
    tenants::desired::sync(&db, &keyring, "0.1.1", NOW + 180)
        .await
        .unwrap();
    assert_eq!(config(&base, &new_api_key).await.tenant_id, tenant.id);

    w.stop().await;
    runtime.remove(&tenant.id).await.unwrap();
    marzban.shutdown().await;
}

shared::on_both_engines!(a_tenant_bot_gets_its_data_key_and_reads_its_panels_with_its_own_key);
