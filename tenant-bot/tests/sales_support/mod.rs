//! Set-up shared by the sales stories: a tenant database, fake panels on loopback, a panel
//! registry allowed to reach them, and the invariant every fault story ends with.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use sandbox::panels::{FakeMarzban, FakeMarzbanOptions, FakeXui, FakeXuiOptions, XuiGeneration};
use shared::clock::ManualClock;
use shared::db::{Db, Engine, Schema};
use shared::money::Money;
use shared::panel::{NetRule, NetworkPolicy, PanelCredentials, PanelKind, PanelOptions};
use shared::secret::{Keyring, SecretString};
use shared::testdb::TestDb;
use tenant_bot::fulfil::Fulfilment;
use tenant_bot::orders;
use tenant_bot::panels::{self, PanelInput, Registry, Source};
use tenant_bot::plans::{self, Plan, PlanDraft, GIB};
use tenant_bot::wallet::{self, Reason};

pub fn now() -> i64 {
    shared::db::now_unix()
}

pub fn policy() -> NetworkPolicy {
    NetworkPolicy::strict().allow(NetRule::parse("127.0.0.1").unwrap())
}

pub fn panel_options() -> PanelOptions {
    PanelOptions {
        network: policy(),
        request_timeout: Duration::from_millis(800),
        connect_timeout: Duration::from_millis(500),
        // One try per call: each story counts the worker's own retries.
        attempts: 1,
        retry_backoff: Duration::from_millis(10),
        xui_subscription_base: None,
    }
}

pub struct Shop {
    pub test_db: TestDb,
    pub db: Db,
    pub registry: Registry,
    pub clock: ManualClock,
    pub fulfilment: Fulfilment,
}

impl Shop {
    pub async fn open(engine: Engine) -> Option<Shop> {
        let test_db = TestDb::fresh(engine, Schema::Tenant).await?;
        let db = test_db.db.clone();
        let keyring = Keyring::from_config(&[Keyring::generate_key_line("t1")]).unwrap();
        let registry = Registry::new(db.clone(), keyring, panel_options());
        let clock = ManualClock::at(now());
        let fulfilment = Fulfilment::new(db.clone(), registry.clone(), Arc::new(clock.clone()));
        Some(Shop {
            test_db,
            db,
            registry,
            clock,
            fulfilment,
        })
    }

    /// The same database and panels as after a restart of the bot: new registry, new worker.
    pub fn restarted(&self) -> Fulfilment {
        let registry = Registry::new(
            self.db.clone(),
            self.registry.keyring().clone(),
            panel_options(),
        );
        Fulfilment::new(self.db.clone(), registry, Arc::new(self.clock.clone()))
    }

    pub async fn add_marzban(&self, fake: &FakeMarzban, location: Option<&str>) -> String {
        let input = PanelInput {
            name: "marzban".into(),
            kind: PanelKind::Marzban,
            url: fake.url(),
            subscription_base: None,
            credentials: password(),
            weight: 1,
            capacity: None,
            location: location.map(str::to_string),
            inbounds: vec![],
        };
        panels::insert(
            &self.db,
            self.registry.keyring(),
            &input,
            Source::Bot,
            None,
            now(),
        )
        .await
        .unwrap()
    }

    pub async fn add_xui(&self, fake: &FakeXui) -> String {
        let input = PanelInput {
            name: "xui".into(),
            kind: PanelKind::Xui,
            url: fake.url(),
            subscription_base: Some(fake.subscription_base()),
            credentials: password(),
            weight: 1,
            capacity: None,
            location: None,
            inbounds: vec![],
        };
        panels::insert(
            &self.db,
            self.registry.keyring(),
            &input,
            Source::Bot,
            None,
            now(),
        )
        .await
        .unwrap()
    }

    pub async fn plan(&self, name: &str, gib: i64, days: i64, toman: i64) -> Plan {
        let draft = PlanDraft {
            name_fa: name.into(),
            name_en: name.into(),
            data_bytes: Some(gib * GIB),
            days,
            price: Money::toman(toman),
            ip_limit: Some(2),
            location: None,
            panel_id: None,
            sort_order: 0,
        };
        plans::create(&self.db, &draft, now()).await.unwrap()
    }

    /// Money into a user's wallet, as an admin would put it.
    pub async fn credit(&self, telegram_id: i64, toman: i64) {
        let mut tx = self.db.begin().await.unwrap();
        let reference = format!("test-credit:{}", shared::db::new_id());
        wallet::record(
            &mut tx,
            telegram_id,
            Money::toman(toman),
            Reason::Admin,
            &reference,
            now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    pub async fn balance(&self, telegram_id: i64) -> i64 {
        wallet::balance(&self.db, telegram_id)
            .await
            .unwrap()
            .minor()
    }

    /// A paid order for a new account of `plan`.
    pub async fn paid_order(&self, telegram_id: i64, plan: &Plan) -> orders::Order {
        let order = orders::create_new(&self.db, telegram_id, plan, now())
            .await
            .unwrap();
        orders::pay_from_wallet(&self.db, telegram_id, &order.id, now())
            .await
            .unwrap()
    }

    /// Every order's promise, checked against what the panels hold:
    /// - no order is left paid or provisioning;
    /// - a delivered order's account exists exactly once on its panel;
    /// - a refunded order has its money back (one refund entry) and no account anywhere;
    /// - every panel account belongs to a delivered order (no orphans).
    pub async fn assert_every_order_kept_its_promise(
        &self,
        panels: &[Vec<sandbox::panels::FakeAccount>],
    ) {
        let all: Vec<&sandbox::panels::FakeAccount> = panels.iter().flatten().collect();
        let rows: Vec<(String, String, String, i64, i64)> =
            sqlx::query_as("SELECT id, state, username, price_minor, cleanup_pending FROM orders")
                .fetch_all(self.db.pool())
                .await
                .unwrap();
        for (id, state, username, price, cleanup) in &rows {
            let on_panels = all.iter().filter(|a| &a.username == username).count();
            match state.as_str() {
                "delivered" => assert_eq!(
                    on_panels, 1,
                    "delivered order {id} has {on_panels} accounts"
                ),
                "refunded" => {
                    assert_eq!(*cleanup, 0, "refunded order {id} still waits for clean-up");
                    let refunds: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM wallet_entries WHERE reference = $1",
                    )
                    .bind(format!("refund:{id}"))
                    .fetch_one(self.db.pool())
                    .await
                    .unwrap();
                    let expected = if *price > 0 { 1 } else { 0 };
                    assert_eq!(refunds, expected, "refunded order {id}");
                    // A renewal's account stays (it was the user's before the order).
                    let kind: String = sqlx::query_scalar("SELECT kind FROM orders WHERE id = $1")
                        .bind(id)
                        .fetch_one(self.db.pool())
                        .await
                        .unwrap();
                    if kind == "new" || kind == "trial" {
                        assert_eq!(on_panels, 0, "refunded order {id} left an account");
                    }
                }
                "created" | "cancelled" => {}
                other => panic!("order {id} is left {other}"),
            }
        }
        for account in all {
            let owner = rows.iter().find(|(_, state, username, _, _)| {
                username == &account.username && state == "delivered"
            });
            assert!(
                owner.is_some(),
                "orphan account {} on a panel",
                account.username
            );
        }
    }
}

pub fn password() -> PanelCredentials {
    PanelCredentials::Password {
        username: "admin".into(),
        password: SecretString::new("admin-password"),
    }
}

pub async fn marzban() -> FakeMarzban {
    FakeMarzban::start(
        "127.0.0.1:0".parse().unwrap(),
        FakeMarzbanOptions::default(),
    )
    .await
    .unwrap()
}

pub async fn xui(generation: XuiGeneration) -> FakeXui {
    FakeXui::start(
        "127.0.0.1:0".parse().unwrap(),
        FakeXuiOptions::new(generation),
    )
    .await
    .unwrap()
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}
