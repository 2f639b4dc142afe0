//! The fake NowPayments speaks the invoice API and signs IPNs as NowPayments does.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sandbox::gateways::nowpayments::{FakeNowPayments, NowPaymentsOptions, PayPlan};
use sandbox::gateways::GatewayError;
use serde_json::{json, Value};
use sha2::Sha512;

const KEY: &str = "NP-KEY";
const SECRET: &str = "np-ipn-secret";

type Inbox = Arc<Mutex<Vec<(Option<String>, String)>>>;

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A loopback server that keeps each IPN's signature header and body.
async fn receiver() -> (String, Inbox) {
    let inbox: Inbox = Arc::default();
    let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let url = format!("http://{}/ipn", listener.local_addr().unwrap());
    async fn keep(State(inbox): State<Inbox>, headers: HeaderMap, body: Bytes) -> &'static str {
        let signature = headers
            .get("x-nowpayments-sig")
            .map(|v| v.to_str().unwrap().to_string());
        inbox
            .lock()
            .unwrap()
            .push((signature, String::from_utf8(body.to_vec()).unwrap()));
        "ok"
    }
    let app = axum::Router::new().fallback(keep).with_state(inbox.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, inbox)
}

async fn wait(inbox: &Inbox, n: usize) -> Vec<(Option<String>, String)> {
    for _ in 0..200 {
        if inbox.lock().unwrap().len() >= n {
            return inbox.lock().unwrap().clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("fewer than {n} IPNs arrived");
}

/// Sorted compact JSON, written independently of the fake (and of `shared`).
fn sorted(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), sorted(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(sorted).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

fn expected_signature(body: &str) -> String {
    let value: Value = serde_json::from_str(body).unwrap();
    let mut mac = Hmac::<Sha512>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(sorted(&value).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn start() -> (FakeNowPayments, reqwest::Client) {
    let fake = FakeNowPayments::start(
        loopback(),
        NowPaymentsOptions {
            api_key: KEY.into(),
            ipn_secret: SECRET.into(),
        },
    )
    .await
    .unwrap();
    (fake, reqwest::Client::builder().no_proxy().build().unwrap())
}

async fn create_invoice(
    fake: &FakeNowPayments,
    http: &reqwest::Client,
    key: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut request = http.post(format!("{}/v1/invoice", fake.url())).json(&body);
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn invoice_body(ipn_url: &str) -> Value {
    json!({
        "price_amount": 4.99,
        "price_currency": "usd",
        "order_id": "inv-1",
        "order_description": "Madar Pro",
        "ipn_callback_url": ipn_url,
        "success_url": "http://127.0.0.1:9/ok",
        "cancel_url": "http://127.0.0.1:9/cancel",
    })
}

#[tokio::test]
async fn invoices_need_the_api_key_and_a_price() {
    let (fake, http) = start().await;
    let status: Value = http
        .get(format!("{}/v1/status", fake.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["message"], "OK");
    let body = invoice_body("http://127.0.0.1:9/ipn");
    assert_eq!(
        create_invoice(&fake, &http, None, body.clone()).await.0,
        401
    );
    let (status, wrong) = create_invoice(&fake, &http, Some("nope"), body.clone()).await;
    assert_eq!(
        (status, wrong["code"].as_str()),
        (403, Some("INVALID_API_KEY"))
    );
    assert_eq!(wrong["statusCode"], 403);
    let (status, missing) =
        create_invoice(&fake, &http, Some(KEY), json!({"price_currency": "usd"})).await;
    assert_eq!(
        (status, missing["code"].as_str()),
        (400, Some("INVALID_REQUEST_PARAMS"))
    );

    let (status, invoice) = create_invoice(&fake, &http, Some(KEY), body).await;
    assert_eq!(status, 200, "{invoice}");
    let id = invoice["id"].as_str().unwrap();
    assert!(id.chars().all(|c| c.is_ascii_digit()));
    assert_eq!(invoice["price_amount"], "4.99");
    assert_eq!(invoice["order_id"], "inv-1");
    assert_eq!(
        invoice["invoice_url"],
        format!("{}/payment/?iid={id}", fake.url())
    );
    let page = http
        .get(invoice["invoice_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("4.99 USD"));
}

#[tokio::test]
async fn ipns_are_signed_over_the_sorted_body_and_sent_unsorted() {
    let (fake, http) = start().await;
    let (url, inbox) = receiver().await;
    let invoice = create_invoice(&fake, &http, Some(KEY), invoice_body(&url))
        .await
        .1;
    let id = invoice["id"].as_str().unwrap();
    let outcome = fake.control().pay(id).await.unwrap();
    assert_eq!(outcome.ipns.len(), 5);
    assert!(outcome
        .ipns
        .iter()
        .all(|ipn| ipn.delivery.http_status == Some(200)));
    let ipns = wait(&inbox, 5).await;
    let mut statuses = Vec::new();
    for (signature, body) in &ipns {
        assert_eq!(
            signature.as_deref(),
            Some(expected_signature(body).as_str())
        );
        assert!(
            body.starts_with("{\"payment_id\":"),
            "sent in NowPayments' order: {body}"
        );
        let value: Value = serde_json::from_str(body).unwrap();
        assert_ne!(sorted(&value), *body, "the body itself is not sorted");
        assert_eq!(value["invoice_id"].to_string(), id);
        assert_eq!(value["order_id"], "inv-1");
        assert_eq!(value["price_amount"], 4.99);
        assert_eq!(value["price_currency"], "usd");
        assert!(value["fee"].is_object());
        statuses.push(value["payment_status"].as_str().unwrap().to_string());
    }
    assert_eq!(
        statuses,
        ["waiting", "confirming", "confirmed", "sending", "finished"]
    );

    // The payment as GET /v1/payment/{id} shows it.
    let payment: Value = http
        .get(format!("{}/v1/payment/{}", fake.url(), outcome.payment_id))
        .header("x-api-key", KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(payment["payment_status"], "finished");
    assert_eq!(payment["payment_id"], outcome.payment_id);
    let unknown = http
        .get(format!("{}/v1/payment/1", fake.url()))
        .header("x-api-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn replays_bad_signatures_and_out_of_order_deliveries() {
    let (fake, http) = start().await;
    let (url, inbox) = receiver().await;
    let invoice = create_invoice(&fake, &http, Some(KEY), invoice_body(&url))
        .await
        .1;
    let id = invoice["id"].as_str().unwrap();
    let control = fake.control();
    let plan = PayPlan {
        out_of_order: Some(true),
        ..PayPlan::default()
    };
    let outcome = control.pay_with(id, &plan).await.unwrap();
    control.replay(outcome.payment_id).await.unwrap();
    control
        .send_bad_signature(outcome.payment_id)
        .await
        .unwrap();
    control.send_unsigned(outcome.payment_id).await.unwrap();
    let ipns = wait(&inbox, 8).await;
    let status =
        |body: &str| serde_json::from_str::<Value>(body).unwrap()["payment_status"].clone();
    assert_eq!(status(&ipns[0].1), "finished", "newest first");
    assert_eq!(status(&ipns[4].1), "waiting");
    assert_eq!(
        ipns[5].1, ipns[0].1,
        "a replay is byte for byte the last IPN"
    );
    assert_eq!(ipns[6].1, ipns[0].1);
    assert_ne!(ipns[6].0, ipns[0].0, "a wrong signature");
    assert_eq!(ipns[7].0, None, "no signature");
    assert_eq!(control.ipns().await.unwrap().len(), 8);
}

#[tokio::test]
async fn an_underpayment_ends_partially_paid() {
    let (fake, http) = start().await;
    let (url, inbox) = receiver().await;
    let invoice = create_invoice(&fake, &http, Some(KEY), invoice_body(&url))
        .await
        .1;
    let plan = PayPlan {
        paid_amount: Some("2.50".into()),
        ..PayPlan::default()
    };
    fake.control()
        .pay_with(invoice["id"].as_str().unwrap(), &plan)
        .await
        .unwrap();
    let ipns = wait(&inbox, 3).await;
    let last: Value = serde_json::from_str(&ipns[2].1).unwrap();
    assert_eq!(last["payment_status"], "partially_paid");
    assert_eq!(last["actually_paid"], 2.5);
    assert_eq!(last["price_amount"], 4.99);
}

#[tokio::test]
async fn ipns_only_go_to_loopback() {
    let (fake, http) = start().await;
    let invoice = create_invoice(
        &fake,
        &http,
        Some(KEY),
        invoice_body("https://shop.example.com/ipn"),
    )
    .await
    .1;
    let outcome = fake
        .control()
        .pay(invoice["id"].as_str().unwrap())
        .await
        .unwrap();
    for ipn in outcome.ipns {
        assert_eq!(ipn.delivery.http_status, None);
        assert!(ipn.delivery.error.unwrap().contains("loopback"));
    }
    let refused = FakeNowPayments::start(
        SocketAddr::from(([10, 0, 0, 1], 0)),
        NowPaymentsOptions::default(),
    )
    .await;
    assert!(matches!(refused, Err(GatewayError::NotLoopback(_))));
}
