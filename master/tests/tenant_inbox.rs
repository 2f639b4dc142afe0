//! NowPayments posts a tenant's IPNs to the master's public address (a tenant bot has none);
//! the master keeps them in that tenant's inbox until the tenant's own bot fetches and acks
//! them with its API key. Served by the master's real HTTP router, on SQLite and PostgreSQL.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use master::billing::orders::{self, OrderKind, OrderRequest};
use master::billing::payments::{self, Method};
use master::checkout::Gateways;
use master::customers::{self, TelegramProfile};
use master::http::{self, HttpState};
use master::tenants::{self, inbox};
use shared::clock::{ManualClock, DAY};
use shared::db::{Db, Engine, Schema};
use shared::money::Currency;
use shared::payment::card::AutoApprove;
use shared::secret::Keyring;
use shared::telegram::TelegramId;
use shared::tenant_link::{
    Inbox, InboxAcked, InboxKind, TenantLinkConfig, CONFIG_PATH, INBOX_ACK_PATH, INBOX_PATH,
};
use shared::testdb::TestDb;

const NOW: i64 = 1_795_257_600;
const PUBLIC_URL: &str = "https://madar.example.com/";
const SIGNATURE: &str = "x-nowpayments-sig";

/// The master's HTTP server on a free port, with the clock in the test's hand.
struct Master {
    t: TestDb,
    base: String,
    clock: ManualClock,
    http: reqwest::Client,
    shutdown: tokio::sync::oneshot::Sender<()>,
}

/// A tenant that paid for Starter, with a running bot that holds `api_key`.
struct Shop {
    tenant_id: String,
    api_key: String,
}

impl Master {
    async fn start(engine: Engine) -> Option<Master> {
        let t = TestDb::fresh(engine, Schema::Master).await?;
        let clock = ManualClock::at(NOW);
        let keyring = Keyring::from_config(&[Keyring::generate_key_line("k1")]).unwrap();
        let gateways = Gateways {
            card: None,
            auto_approve: AutoApprove::Off,
            zarinpal: None,
            nowpayments: None,
            stars: false,
            public_url: url::Url::parse(PUBLIC_URL).unwrap(),
        };
        let router = http::router(HttpState {
            db: t.db.clone(),
            gateways: Arc::new(gateways),
            clock: Arc::new(clock.clone()),
            telegram_ready: Arc::new(AtomicBool::new(true)),
            webhook: None,
            keyring: Some(keyring),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Some(Master {
            t,
            base,
            clock,
            http: reqwest::Client::new(),
            shutdown,
        })
    }

    fn db(&self) -> &Db {
        &self.t.db
    }

    /// A customer buys Starter; the provisioner has started their bot with `api_key`.
    async fn shop(&self, telegram_id: i64, api_key: &str) -> Shop {
        let db = self.db();
        let customer = customers::upsert_from_telegram(
            db,
            &TelegramProfile {
                id: TelegramId::new(telegram_id),
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
        let tenant = tenants::of_customer(db, &customer.id)
            .await
            .unwrap()
            .into_iter()
            .next()
            .unwrap();
        // The instance as the provisioner leaves it once the bot runs: only the key's hash.
        sqlx::query(
            "INSERT INTO instances (tenant_id, desired, bot_token_enc, bot_id, spec_json, \
             spec_hash, state, state_changed_at, api_key_hash, created_at, updated_at) \
             VALUES ($1, 'running', 'unused', $2, '{}', 'h', 'running', $3, $4, $3, $3)",
        )
        .bind(&tenant.id)
        .bind(telegram_id)
        .bind(NOW)
        .bind(provisioner::store::hash_api_key(api_key))
        .execute(db.pool())
        .await
        .unwrap();
        Shop {
            tenant_id: tenant.id,
            api_key: api_key.to_string(),
        }
    }

    /// NowPayments (or anyone) posts an IPN for `tenant_id`.
    async fn post_ipn(&self, tenant_id: &str, body: impl Into<String>, signature: &str) -> u16 {
        self.http
            .post(format!("{}/ipn/nowpayments/{tenant_id}", self.base))
            .header("content-type", "application/json")
            .header(SIGNATURE, signature)
            .body(body.into())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn inbox(&self, key: &str) -> Inbox {
        let response = self
            .http
            .get(format!("{}{INBOX_PATH}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    async fn ack(&self, key: &str, ids: &[String]) -> u64 {
        let response = self
            .http
            .post(format!("{}{INBOX_ACK_PATH}", self.base))
            .bearer_auth(key)
            .json(&serde_json::json!({ "ids": ids }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json::<InboxAcked>().await.unwrap().acked
    }

    async fn stop(self) {
        let _ = self.shutdown.send(());
        self.t.cleanup().await.unwrap();
    }
}

fn ipn(payment_id: u64, status: &str) -> String {
    format!(r#"{{"payment_id":{payment_id},"payment_status":"{status}","order_id":"p1"}}"#)
}

async fn each_tenants_ipns_reach_only_that_tenants_bot(engine: Engine) {
    let Some(master) = Master::start(engine).await else {
        return;
    };
    let sara = master.shop(4242, "sara-bot-key").await;
    let reza = master.shop(4343, "reza-bot-key").await;

    // Each bot is told where NowPayments should post its IPNs.
    let config: TenantLinkConfig = master
        .http
        .get(format!("{}{CONFIG_PATH}", master.base))
        .bearer_auth(&sara.api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sara_url = format!(
        "https://madar.example.com/ipn/nowpayments/{}",
        sara.tenant_id
    );
    assert_eq!(
        config.nowpayments_ipn_url.as_deref(),
        Some(sara_url.as_str())
    );

    // NowPayments posts two IPNs for Sara's shop and one for Reza's; each is kept as sent.
    assert_eq!(
        master
            .post_ipn(&sara.tenant_id, ipn(1, "waiting"), "sig-1")
            .await,
        200
    );
    master.clock.advance(5);
    assert_eq!(
        master
            .post_ipn(&sara.tenant_id, ipn(1, "finished"), "sig-2")
            .await,
        200
    );
    assert_eq!(
        master
            .post_ipn(&reza.tenant_id, ipn(9, "finished"), "sig-9")
            .await,
        200
    );
    // A shop that does not exist gets 404, and nothing is kept.
    assert_eq!(
        master
            .post_ipn("no-such-tenant", ipn(5, "finished"), "sig")
            .await,
        404
    );

    // Sara's bot sees only Sara's, oldest first, byte for byte.
    let inbox = master.inbox(&sara.api_key).await;
    let bodies: Vec<(&str, Option<&str>, i64)> = inbox
        .items
        .iter()
        .map(|i| (i.body.as_str(), i.signature.as_deref(), i.received_at))
        .collect();
    let (first, second) = (ipn(1, "waiting"), ipn(1, "finished"));
    assert_eq!(
        bodies,
        vec![
            (first.as_str(), Some("sig-1"), NOW),
            (second.as_str(), Some("sig-2"), NOW + 5)
        ]
    );
    assert!(inbox.items.iter().all(|i| i.kind == InboxKind::NowPayments));
    let reza_inbox = master.inbox(&reza.api_key).await;
    assert_eq!(reza_inbox.items.len(), 1);
    assert_eq!(reza_inbox.items[0].body, ipn(9, "finished"));

    // Sara's bot cannot ack Reza's item; its own are acked once and not sent again.
    let sara_ids: Vec<String> = inbox.items.iter().map(|i| i.id.clone()).collect();
    let mut ids = sara_ids.clone();
    ids.push(reza_inbox.items[0].id.clone());
    assert_eq!(master.ack(&sara.api_key, &ids).await, 2);
    assert_eq!(
        master.ack(&sara.api_key, &sara_ids).await,
        0,
        "already acked"
    );
    assert!(master.inbox(&sara.api_key).await.items.is_empty());
    assert_eq!(
        master.inbox(&reza.api_key).await.items.len(),
        1,
        "Reza's is still there"
    );

    // Without a bot's key there is no inbox.
    for key in [None, Some("not-a-key")] {
        let mut request = master.http.get(format!("{}{INBOX_PATH}", master.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        assert_eq!(request.send().await.unwrap().status(), 401);
        let mut request = master
            .http
            .post(format!("{}{INBOX_ACK_PATH}", master.base))
            .json(&serde_json::json!({ "ids": &sara_ids }));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        assert_eq!(request.send().await.unwrap().status(), 401);
    }

    // A week after delivery Sara's acked items are purged; Reza's undelivered one is kept.
    master.clock.advance(inbox::KEEP_DELIVERED + DAY);
    master.ack(&sara.api_key, &[]).await;
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenant_inbox")
        .fetch_one(master.db().pool())
        .await
        .unwrap();
    assert_eq!(left, 1);
    master.stop().await;
}

async fn a_flood_cannot_fill_the_masters_disk(engine: Engine) {
    let Some(master) = Master::start(engine).await else {
        return;
    };
    let sara = master.shop(4242, "sara-bot-key").await;

    // A body over 64 KiB is refused outright; one just under it is kept.
    let big = "x".repeat(inbox::MAX_BODY_BYTES + 1);
    assert_eq!(master.post_ipn(&sara.tenant_id, big, "sig").await, 413);
    let fits = "x".repeat(inbox::MAX_BODY_BYTES);
    assert_eq!(master.post_ipn(&sara.tenant_id, fits, "sig").await, 200);

    // The inbox holds at most MAX_PENDING undelivered items; then the sender is asked to
    // come back later (NowPayments sends again).
    for n in 1..inbox::MAX_PENDING {
        inbox::receive(
            master.db(),
            &sara.tenant_id,
            InboxKind::NowPayments,
            &ipn(n as u64, "waiting"),
            Some("sig"),
            NOW,
        )
        .await
        .unwrap();
    }
    assert_eq!(
        inbox::pending_count(master.db(), &sara.tenant_id)
            .await
            .unwrap(),
        inbox::MAX_PENDING
    );
    assert_eq!(
        master
            .post_ipn(&sara.tenant_id, ipn(1, "finished"), "sig")
            .await,
        503
    );

    // The bot catches up a page at a time; then new IPNs are taken again.
    let page = master.inbox(&sara.api_key).await;
    assert_eq!(page.items.len(), shared::tenant_link::INBOX_PAGE);
    let ids: Vec<String> = page.items.iter().map(|i| i.id.clone()).collect();
    assert_eq!(master.ack(&sara.api_key, &ids).await, ids.len() as u64);
    assert_eq!(
        master
            .post_ipn(&sara.tenant_id, ipn(1, "finished"), "sig")
            .await,
        200
    );
    master.stop().await;
}

shared::on_both_engines!(
    each_tenants_ipns_reach_only_that_tenants_bot,
    a_flood_cannot_fill_the_masters_disk,
);
