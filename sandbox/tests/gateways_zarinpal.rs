//! The fake Zarinpal speaks API v4: shapes, codes and the StartPay page, over raw HTTP.

use std::net::SocketAddr;

use sandbox::gateways::zarinpal::{FakeZarinpal, ZarinpalOptions, ZarinpalState};
use sandbox::gateways::{ControlError, GatewayError};
use serde_json::{json, Value};

const MERCHANT: &str = "1344b5d4-0048-11e8-94db-005056a205be";

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn start() -> (FakeZarinpal, reqwest::Client) {
    let fake = FakeZarinpal::start(
        loopback(),
        ZarinpalOptions {
            merchant_id: MERCHANT.into(),
        },
    )
    .await
    .unwrap();
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (fake, http)
}

async fn post(
    fake: &FakeZarinpal,
    http: &reqwest::Client,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let response = http
        .post(format!("{}{path}", fake.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn payment_request(amount: i64) -> Value {
    json!({
        "merchant_id": MERCHANT,
        "amount": amount,
        "callback_url": "http://127.0.0.1:9/verify",
        "description": "خرید اشتراک",
        "metadata": {"mobile": "09121234567", "order_id": "inv-1"},
    })
}

async fn new_authority(fake: &FakeZarinpal, http: &reqwest::Client) -> String {
    let (status, body) = post(
        fake,
        http,
        "/pg/v4/payment/request.json",
        payment_request(100_000),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["authority"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn request_answers_an_authority_in_zarinpals_shape() {
    let (fake, http) = start().await;
    let (status, body) = post(
        &fake,
        &http,
        "/pg/v4/payment/request.json",
        payment_request(100_000),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"], json!([]));
    assert_eq!(body["data"]["code"], 100);
    assert_eq!(body["data"]["message"], "Success");
    assert_eq!(body["data"]["fee_type"], "Merchant");
    assert!(body["data"]["fee"].is_i64());
    let authority = body["data"]["authority"].as_str().unwrap();
    assert_eq!(authority.len(), 36);
    assert!(authority.starts_with('A'));
    let held = fake.control().payment(authority).await.unwrap();
    assert_eq!((held.amount, held.currency.as_str()), (100_000, "IRR"));
    assert_eq!(held.order_id.as_deref(), Some("inv-1"));
}

#[tokio::test]
async fn requests_are_validated_with_zarinpals_codes() {
    let (fake, http) = start().await;
    let cases = [
        (
            json!({"amount": 100_000, "callback_url": "http://127.0.0.1/x", "description": "d"}),
            -9,
        ),
        (
            json!({"merchant_id": "00000000-0000-0000-0000-000000000001", "amount": 100_000, "callback_url": "http://127.0.0.1/x", "description": "d"}),
            -10,
        ),
        (payment_request(9_999), -9),
        (
            json!({"merchant_id": MERCHANT, "amount": 1_000, "currency": "IRT", "callback_url": "http://127.0.0.1/x", "description": "d"}),
            0,
        ),
        (
            json!({"merchant_id": MERCHANT, "amount": 999, "currency": "IRT", "callback_url": "http://127.0.0.1/x", "description": "d"}),
            -9,
        ),
        (
            json!({"merchant_id": MERCHANT, "amount": 100_000, "currency": "USD", "callback_url": "http://127.0.0.1/x", "description": "d"}),
            -9,
        ),
        (
            json!({"merchant_id": MERCHANT, "amount": 100_000, "description": "d"}),
            -9,
        ),
        (
            json!({"merchant_id": MERCHANT, "amount": 100_000, "callback_url": "http://127.0.0.1/x"}),
            -9,
        ),
        (
            json!({"merchant_id": MERCHANT, "amount": 100_000, "callback_url": "http://127.0.0.1/x", "description": "d".repeat(501)}),
            -9,
        ),
    ];
    for (body, code) in cases {
        let (status, answer) =
            post(&fake, &http, "/pg/v4/payment/request.json", body.clone()).await;
        if code == 0 {
            assert_eq!(status, 200, "{body} -> {answer}");
            continue;
        }
        assert_eq!(status, 400, "{body} -> {answer}");
        assert_eq!(answer["data"], json!([]));
        assert_eq!(answer["errors"]["code"], code, "{body} -> {answer}");
        assert!(answer["errors"]["message"].is_string());
    }
    let amount_error = post(
        &fake,
        &http,
        "/pg/v4/payment/request.json",
        payment_request(1),
    )
    .await
    .1;
    assert!(
        amount_error["errors"]["validations"][0]["amount"].is_string(),
        "{amount_error}"
    );
}

#[tokio::test]
async fn the_start_pay_page_pays_and_redirects_then_verify_answers_100_then_101() {
    let (fake, http) = start().await;
    let authority = new_authority(&fake, &http).await;
    let page = http
        .get(format!("{}/pg/StartPay/{authority}", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("خرید اشتراک") && html.contains("/pay\""),
        "{html}"
    );

    // Unpaid: -51; inquiry says IN_BANK.
    let verify = json!({"merchant_id": MERCHANT, "amount": 100_000, "authority": authority});
    assert_eq!(
        post(&fake, &http, "/pg/v4/payment/verify.json", verify.clone())
            .await
            .1["errors"]["code"],
        -51
    );
    let inquiry = json!({"merchant_id": MERCHANT, "authority": authority});
    assert_eq!(
        post(&fake, &http, "/pg/v4/payment/inquiry.json", inquiry.clone())
            .await
            .1["data"]["status"],
        "IN_BANK"
    );

    let pay = http
        .post(format!("{}/pg/StartPay/{authority}/pay", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(pay.status(), 303);
    let location = pay.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        location,
        format!("http://127.0.0.1:9/verify?Authority={authority}&Status=OK")
    );

    // A wrong amount: -50, and the payment stays unverified.
    let wrong = json!({"merchant_id": MERCHANT, "amount": 90_000, "authority": authority});
    assert_eq!(
        post(&fake, &http, "/pg/v4/payment/verify.json", wrong)
            .await
            .1["errors"]["code"],
        -50
    );

    let (status, first) = post(&fake, &http, "/pg/v4/payment/verify.json", verify.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["data"]["code"], 100);
    assert!(first["data"]["ref_id"].is_u64());
    assert_eq!(first["data"]["card_pan"], "502229******5995");
    assert_eq!(first["data"]["card_hash"].as_str().unwrap().len(), 64);
    let second = post(&fake, &http, "/pg/v4/payment/verify.json", verify)
        .await
        .1;
    assert_eq!(second["data"]["code"], 101);
    assert_eq!(second["data"]["ref_id"], first["data"]["ref_id"]);
    assert_eq!(
        post(&fake, &http, "/pg/v4/payment/inquiry.json", inquiry)
            .await
            .1["data"]["status"],
        "VERIFIED"
    );
    assert_eq!(fake.payments()[0].state, ZarinpalState::Verified);
    assert_eq!(fake.payments()[0].verify_calls, 4);
}

#[tokio::test]
async fn unknown_authorities_and_bad_bodies_are_refused() {
    let (fake, http) = start().await;
    let verify = json!({"merchant_id": MERCHANT, "amount": 100_000, "authority": "A00000000000000000000000000000000000"});
    assert_eq!(
        post(&fake, &http, "/pg/v4/payment/verify.json", verify)
            .await
            .1["errors"]["code"],
        -54
    );
    let response = http
        .post(format!("{}/pg/v4/payment/verify.json", fake.url()))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"]["code"], -9);
    let page = http
        .get(format!(
            "{}/pg/StartPay/A000000000000000000000000000000000XX",
            fake.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
}

#[tokio::test]
async fn control_routes_settle_once_and_only_call_loopback() {
    let (fake, http) = start().await;
    let authority = new_authority(&fake, &http).await;
    let control = fake.control();
    // Nothing listens on port 9: the callback is attempted and the failure reported.
    let delivery = control.complete(&authority).await.unwrap();
    assert!(delivery.url.ends_with("Status=OK"), "{delivery:?}");
    assert_eq!(delivery.http_status, None);
    assert!(delivery.error.is_some());
    let again = control.fail(&authority).await;
    assert!(
        matches!(again, Err(ControlError::Status { status: 409, .. })),
        "{again:?}"
    );
    assert!(control.replay(&authority).await.is_ok());
    assert!(matches!(
        control.complete("A-unknown").await,
        Err(ControlError::Status { status: 404, .. })
    ));

    // A callback URL outside loopback is never called.
    let mut outside = payment_request(100_000);
    outside["callback_url"] = json!("https://shop.example.com/verify");
    let (_, body) = post(&fake, &http, "/pg/v4/payment/request.json", outside).await;
    let far = body["data"]["authority"].as_str().unwrap();
    let delivery = control.fail(far).await.unwrap();
    assert_eq!(delivery.http_status, None);
    assert!(delivery.error.unwrap().contains("loopback"));
    assert_eq!(control.payments().await.unwrap().len(), 2);
}

#[tokio::test]
async fn the_fake_listens_on_loopback_only() {
    let result = FakeZarinpal::start(
        SocketAddr::from(([0, 0, 0, 0], 0)),
        ZarinpalOptions::default(),
    )
    .await;
    assert!(matches!(result, Err(GatewayError::NotLoopback(_))));
}
