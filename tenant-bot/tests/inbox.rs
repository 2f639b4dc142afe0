//! NowPayments can only tell about a payment by POSTing an IPN to a public address, and a
//! tenant bot has none: the IPN goes to the master, which keeps it in the tenant's inbox, and
//! the bot pulls it from there with its API key. A stand-in master keeps the inbox here; the
//! gateway is the sandbox's fake NowPayments. On SQLite and PostgreSQL.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sandbox::gateways::nowpayments::{FakeNowPayments, NowPaymentsOptions};
use shared::clock::ManualClock;
use shared::db::{Db, Engine, Schema};
use shared::money::Money;
use shared::panel::PanelOptions;
use shared::payment::Method;
use shared::secret::{Keyring, SecretString};
use shared::tenant_link::{
    Inbox, InboxAck, InboxAcked, InboxItem, InboxKind, TenantLimits, TenantLinkConfig,
    INBOX_ACK_PATH, INBOX_PATH,
};
use shared::testdb::TestDb;
use tenant_bot::fulfil::Fulfilment;
use tenant_bot::inbox::{InboxPuller, MasterInbox, PullReport};
use tenant_bot::panels::Registry;
use tenant_bot::payments::setup::{NowPaymentsSetup, Rates};
use tenant_bot::payments::{self, Checkout, GatewayUrls, PaymentSetup, Purpose, Status};
use tenant_bot::{admins, master_link, settings, wallet};
use tokio::sync::Notify;

const T0: i64 = 1_795_257_600;
const OWNER: i64 = 500_001;
const SARA: i64 = 700_001;
const TENANT: &str = "tenant-nimbus";
const API_KEY: &str = "nimbus-instance-key";

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// What the stand-in master holds: the tenant's inbox, and whether each item was acked.
#[derive(Default)]
struct Kept {
    items: Vec<(InboxItem, bool)>,
    next: u64,
}

type Shared = Arc<Mutex<Kept>>;

/// The master's public IPN route and its internal inbox routes, as the real master has them.
struct StandInMaster {
    url: String,
    kept: Shared,
    shutdown: tokio::sync::oneshot::Sender<()>,
}

impl StandInMaster {
    async fn start() -> StandInMaster {
        let kept = Shared::default();
        let router = Router::new()
            .route("/ipn/nowpayments/{tenant_id}", post(take_ipn))
            .route(INBOX_PATH, get(fetch))
            .route(INBOX_ACK_PATH, post(ack))
            .with_state(kept.clone());
        let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        StandInMaster {
            url,
            kept,
            shutdown,
        }
    }

    fn ipn_url(&self) -> String {
        format!("{}/ipn/nowpayments/{TENANT}", self.url)
    }

    fn undelivered(&self) -> usize {
        self.kept
            .lock()
            .unwrap()
            .items
            .iter()
            .filter(|(_, acked)| !acked)
            .count()
    }

    fn received(&self) -> usize {
        self.kept.lock().unwrap().items.len()
    }

    /// Puts an item in the inbox as if it had been posted.
    fn put(&self, body: &str, signature: Option<&str>) {
        keep(&self.kept, body, signature);
    }
}

fn keep(kept: &Shared, body: &str, signature: Option<&str>) {
    let mut kept = kept.lock().unwrap();
    kept.next += 1;
    let item = InboxItem {
        id: format!("item-{}", kept.next),
        kind: InboxKind::NowPayments,
        body: body.to_string(),
        signature: signature.map(str::to_string),
        received_at: T0,
    };
    kept.items.push((item, false));
}

async fn take_ipn(
    State(kept): State<Shared>,
    Path(tenant_id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    if tenant_id != TENANT {
        return StatusCode::NOT_FOUND;
    }
    let signature = headers
        .get("x-nowpayments-sig")
        .and_then(|v| v.to_str().ok());
    keep(&kept, &body, signature);
    StatusCode::OK
}

fn authorised(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {API_KEY}"))
}

async fn fetch(State(kept): State<Shared>, headers: HeaderMap) -> Response {
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let items = kept
        .lock()
        .unwrap()
        .items
        .iter()
        .filter(|(_, acked)| !acked)
        .map(|(item, _)| item.clone())
        .collect();
    Json(Inbox { items }).into_response()
}

async fn ack(
    State(kept): State<Shared>,
    headers: HeaderMap,
    Json(ack): Json<InboxAck>,
) -> Response {
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut acked = 0;
    for (item, done) in kept.lock().unwrap().items.iter_mut() {
        if !*done && ack.ids.contains(&item.id) {
            *done = true;
            acked += 1;
        }
    }
    Json(InboxAcked { acked }).into_response()
}

/// Sara's shop takes NowPayments (at 60,000 Toman a dollar) and its master keeps the IPNs.
struct Shop {
    t: TestDb,
    keyring: Keyring,
    nowpayments: FakeNowPayments,
    master: StandInMaster,
    /// What the bot was started with: NowPayments' own addresses, no IPN address of its own.
    urls: GatewayUrls,
    puller: InboxPuller,
}

impl Shop {
    async fn open(engine: Engine) -> Option<Shop> {
        let t = TestDb::fresh(engine, Schema::Tenant).await?;
        admins::set_owner(&t.db, OWNER, T0).await.unwrap();
        let keyring = Keyring::from_config(&[Keyring::generate_key_line("k1")]).unwrap();
        let nowpayments = FakeNowPayments::start(loopback(), NowPaymentsOptions::default())
            .await
            .unwrap();
        let options = NowPaymentsOptions::default();
        let setup = PaymentSetup {
            nowpayments: Some(
                NowPaymentsSetup::new(
                    &keyring,
                    &SecretString::new(options.api_key),
                    &SecretString::new(options.ipn_secret),
                )
                .unwrap(),
            ),
            rates: Rates {
                toman_per_usd: Some(60_000),
                toman_per_star: None,
            },
            ..PaymentSetup::default()
        };
        settings::set(&t.db, &setup, T0).await.unwrap();
        let master = StandInMaster::start().await;
        let urls = GatewayUrls {
            nowpayments: nowpayments.url(),
            nowpayments_ipn: None,
            ..GatewayUrls::production("nimbus_vpn_bot")
        };
        let clock = Arc::new(ManualClock::at(T0));
        let registry = Registry::new(t.db.clone(), keyring.clone(), PanelOptions::default());
        let puller = InboxPuller {
            inbox: MasterInbox::new(
                &url::Url::parse(&master.url).unwrap(),
                SecretString::new(API_KEY),
            ),
            db: t.db.clone(),
            keyring: keyring.clone(),
            gateway_urls: urls.clone(),
            fulfilment: Fulfilment::new(t.db.clone(), registry, clock.clone()),
            clock,
            notices_ready: Arc::new(Notify::new()),
        };
        Some(Shop {
            t,
            keyring,
            nowpayments,
            master,
            urls,
            puller,
        })
    }

    fn db(&self) -> &Db {
        &self.t.db
    }

    /// The master's configuration, which tells the bot where its IPNs go.
    async fn master_says(&self, ipn_url: Option<String>) {
        let config = TenantLinkConfig {
            tenant_id: TENANT.into(),
            owner_telegram_id: Some(OWNER),
            channel: None,
            limits: TenantLimits::default(),
            panels: Vec::new(),
            nowpayments_ipn_url: ipn_url,
        };
        master_link::apply(self.db(), &self.keyring, &config, T0)
            .await
            .unwrap();
    }

    async fn balance(&self) -> Money {
        wallet::balance(self.db(), SARA).await.unwrap()
    }

    async fn close(self) {
        self.nowpayments.shutdown().await;
        let _ = self.master.shutdown.send(());
        self.t.cleanup().await.unwrap();
    }
}

/// The invoice id in a NowPayments invoice URL (`.../payment/?iid=...`).
fn invoice_id(checkout: &Checkout) -> String {
    let Checkout::Redirect { url, .. } = checkout else {
        panic!("expected a NowPayments invoice, got {checkout:?}");
    };
    let url = url::Url::parse(url).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "iid")
        .map(|(_, v)| v.into_owned())
        .expect("the invoice URL names the invoice")
}

async fn a_nowpayments_top_up_reaches_the_bot_through_the_masters_inbox(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let db = shop.db();
    let control = shop.nowpayments.control();

    // The master tells the bot its IPN address; new invoices carry it.
    shop.master_says(Some(shop.master.ipn_url())).await;
    let gateways = payments::load_gateways(db, &shop.keyring, &shop.urls)
        .await
        .unwrap();
    let top_up = Purpose::TopUp(Money::toman(120_000));
    let checkout = payments::start(db, &gateways, SARA, &top_up, Method::NowPayments, T0)
        .await
        .unwrap();
    let invoice = control.invoice(&invoice_id(&checkout)).await.unwrap();
    assert_eq!(
        invoice["invoice"]["ipn_callback_url"].as_str(),
        Some(shop.master.ipn_url().as_str()),
        "{invoice}"
    );

    // Sara pays 2.00 USD. NowPayments' IPNs land at the master, not at the bot.
    let paid = control.pay(&invoice_id(&checkout)).await.unwrap();
    assert!(paid.ipns.len() > 1, "{paid:?}");
    for ipn in &paid.ipns {
        assert_eq!(ipn.delivery.http_status, Some(200), "{ipn:?}");
    }
    assert_eq!(shop.master.undelivered(), paid.ipns.len());
    assert_eq!(shop.balance().await, Money::toman(0));

    // The bot pulls its inbox: the wallet is credited once, and every IPN is acked.
    let report = shop.puller.pull_once().await.unwrap();
    assert_eq!(
        report,
        PullReport {
            fetched: paid.ipns.len(),
            credited: 1,
            refused: 0,
            acked: paid.ipns.len(),
            left: 0,
        }
    );
    assert_eq!(shop.balance().await, Money::toman(120_000));
    let payment = payments::get(db, checkout.payment_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(payment.status, Status::Paid);
    assert_eq!(shop.master.undelivered(), 0);

    // NowPayments sends the last IPN again: it is acked and changes nothing.
    control.replay(paid.payment_id).await.unwrap();
    let report = shop.puller.pull_once().await.unwrap();
    assert_eq!((report.fetched, report.credited, report.acked), (1, 0, 1));
    assert_eq!(shop.balance().await, Money::toman(120_000));

    // Someone posts a forged IPN to the public address: refused, acked, nothing moves.
    control.send_bad_signature(paid.payment_id).await.unwrap();
    let report = shop.puller.pull_once().await.unwrap();
    assert_eq!((report.refused, report.acked, report.credited), (1, 1, 0));
    assert_eq!(shop.balance().await, Money::toman(120_000));
    assert_eq!(shop.master.undelivered(), 0);

    // An empty inbox is a quiet round.
    assert_eq!(
        shop.puller.pull_once().await.unwrap(),
        PullReport::default()
    );
    assert_eq!(shop.master.received(), paid.ipns.len() + 2);
    shop.close().await;
}

async fn without_an_address_from_the_master_invoices_carry_none(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let db = shop.db();
    // An older master gives no IPN address; then a newer one does, then it is taken away.
    shop.master_says(None).await;
    let gateways = payments::load_gateways(db, &shop.keyring, &shop.urls)
        .await
        .unwrap();
    let checkout = payments::start(
        db,
        &gateways,
        SARA,
        &Purpose::TopUp(Money::toman(60_000)),
        Method::NowPayments,
        T0,
    )
    .await
    .unwrap();
    let invoice = shop
        .nowpayments
        .control()
        .invoice(&invoice_id(&checkout))
        .await
        .unwrap();
    assert!(
        invoice["invoice"]["ipn_callback_url"].is_null(),
        "{invoice}"
    );

    shop.master_says(Some(shop.master.ipn_url())).await;
    shop.master_says(None).await;
    let relay: tenant_bot::inbox::Relay = settings::get(db).await.unwrap();
    assert_eq!(relay.nowpayments_ipn_url, None);
    shop.close().await;
}

async fn an_item_that_fails_on_our_side_stays_in_the_inbox(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    shop.master.put("{\"payment_id\":1}", Some("00"));
    // The bot's database goes away mid-flight: nothing is acked, the item waits for next time.
    shop.db().close().await;
    let failed = shop.puller.pull_once().await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(shop.master.undelivered(), 1);
    shop.close().await;
}

shared::on_both_engines!(
    a_nowpayments_top_up_reaches_the_bot_through_the_masters_inbox,
    without_an_address_from_the_master_invoices_carry_none,
    an_item_that_fails_on_our_side_stays_in_the_inbox,
);
