//! A fake Zarinpal (payment gateway API v4).
//!
//! | route | what |
//! |---|---|
//! | `POST /pg/v4/payment/request.json` | `{merchant_id, amount, currency?, description, callback_url, metadata?}` -> `{"data":{"code":100,"message":"Success","authority","fee_type","fee"},"errors":[]}` |
//! | `POST /pg/v4/payment/verify.json` | `{merchant_id, amount, authority}` -> code 100 (verified now) or 101 (already), `ref_id`, `card_pan`, `card_hash`, `fee_type`, `fee` |
//! | `POST /pg/v4/payment/inquiry.json` | `{merchant_id, authority}` -> `status` IN_BANK, PAID, VERIFIED or FAILED |
//! | `GET /pg/StartPay/{authority}` | the payment page, with Pay and Cancel buttons |
//! | `GET /_sandbox/zarinpal/payments[/{authority}]` | payments as the fake holds them |
//! | `POST /_sandbox/zarinpal/payments/{authority}/complete` | `{"amount"?, "deliver"?}`: the buyer paid; calls the callback with `Status=OK` |
//! | `POST /_sandbox/zarinpal/payments/{authority}/fail` | `{"deliver"?}`: the buyer cancelled; calls the callback with `Status=NOK` |
//! | `POST /_sandbox/zarinpal/payments/{authority}/replay` | calls the last callback again |
//!
//! Errors are `{"data":[],"errors":{"code","message","validations"}}` with HTTP 400 (the client
//! reads the body whatever the status). Codes: -9 validation, -10 wrong merchant, -50 amount
//! differs, -51 not paid, -53 another merchant's authority, -54 unknown authority.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{ControlError, ControlFailure, Delivery, GatewayError, Running};

/// Smallest amount Zarinpal accepts: 10,000 Rials (1,000 Toman).
const MIN_RIAL: i64 = 10_000;
/// Largest amount in one payment (Shaparak's limit is around 2,000,000,000 Rials).
const MAX_RIAL: i64 = 2_000_000_000;

#[derive(Debug, Clone)]
pub struct ZarinpalOptions {
    /// The only merchant id the fake accepts (36 characters, like a real one).
    pub merchant_id: String,
}

impl Default for ZarinpalOptions {
    fn default() -> Self {
        ZarinpalOptions {
            merchant_id: "00000000-0000-0000-0000-000000000000".into(),
        }
    }
}

/// Where a payment stands at the fake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZarinpalState {
    /// Requested; the buyer has not paid yet.
    Created,
    /// The buyer paid; not verified yet.
    Paid,
    /// The buyer cancelled or the bank refused.
    Failed,
    /// Verified by the merchant (verify answered 100 once).
    Verified,
}

/// A payment as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZarinpalPayment {
    pub authority: String,
    /// The amount of the payment request, in `currency`.
    pub amount: i64,
    /// "IRR" or "IRT".
    pub currency: String,
    pub description: String,
    pub callback_url: String,
    pub order_id: Option<String>,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub state: ZarinpalState,
    /// Given by the first successful verify.
    pub ref_id: Option<u64>,
    /// How many times verify was called for it.
    pub verify_calls: u32,
    /// The last callback URL the buyer was sent back to.
    pub last_callback: Option<String>,
}

struct World {
    merchant_id: String,
    payments: HashMap<String, ZarinpalPayment>,
    next_ref_id: u64,
}

#[derive(Clone)]
struct FakeState {
    world: Arc<Mutex<World>>,
    http: reqwest::Client,
}

impl FakeState {
    fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running fake Zarinpal.
pub struct FakeZarinpal {
    running: Running,
    state: FakeState,
}

impl FakeZarinpal {
    /// Starts on `addr` (loopback; port 0 picks a free port).
    pub async fn start(
        addr: SocketAddr,
        options: ZarinpalOptions,
    ) -> Result<FakeZarinpal, GatewayError> {
        let listener = super::bind(addr).await?;
        let state = FakeState {
            world: Arc::new(Mutex::new(World {
                merchant_id: options.merchant_id,
                payments: HashMap::new(),
                next_ref_id: 201_000 + rand::thread_rng().gen_range(0..1_000),
            })),
            http: super::outbound_client(),
        };
        let running = super::serve(listener, router(state.clone()), "zarinpal")?;
        Ok(FakeZarinpal { running, state })
    }

    /// The base URL, e.g. `http://127.0.0.1:40123` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.running.local_addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.running.local_addr
    }

    /// A client for the control routes.
    pub fn control(&self) -> ZarinpalControl {
        ZarinpalControl::new(&self.url())
    }

    /// All payments, for in-process inspection.
    pub fn payments(&self) -> Vec<ZarinpalPayment> {
        let mut all: Vec<_> = self.state.world().payments.values().cloned().collect();
        all.sort_by(|a, b| a.authority.cmp(&b.authority));
        all
    }

    pub async fn shutdown(self) {
        self.running.shutdown().await;
    }
}

/// The fake's routes (the API, the payment page and the control routes).
fn router(state: FakeState) -> Router {
    Router::new()
        .route("/pg/v4/payment/request.json", post(request))
        .route("/pg/v4/payment/verify.json", post(verify))
        .route("/pg/v4/payment/inquiry.json", post(inquiry))
        .route("/pg/StartPay/{authority}", get(start_pay_page))
        .route("/pg/StartPay/{authority}/pay", post(page_pay))
        .route("/pg/StartPay/{authority}/cancel", post(page_cancel))
        .route("/_sandbox/zarinpal/payments", get(list_payments))
        .route("/_sandbox/zarinpal/payments/{authority}", get(one_payment))
        .route(
            "/_sandbox/zarinpal/payments/{authority}/complete",
            post(complete),
        )
        .route("/_sandbox/zarinpal/payments/{authority}/fail", post(fail))
        .route(
            "/_sandbox/zarinpal/payments/{authority}/replay",
            post(replay),
        )
        .with_state(state)
}

/// Zarinpal's error answer.
fn error(code: i64, message: &str, validations: Value) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "data": [],
            "errors": {"code": code, "message": message, "validations": validations},
        })),
    )
        .into_response()
}

fn validation(field: &str, message: &str) -> Response {
    error(
        -9,
        "The input params invalid, validation error.",
        json!([{ field: message }]),
    )
}

fn success(data: Value) -> Response {
    Json(json!({"data": data, "errors": []})).into_response()
}

/// Reads the JSON body; a body that is not a JSON object is a validation error.
fn body_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, Box<Response>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Box::new(validation(
            "body",
            "The body must be a JSON object.",
        ))),
    }
}

/// The merchant id must be present and the configured one.
fn check_merchant(
    world: &World,
    body: &serde_json::Map<String, Value>,
) -> Result<(), Box<Response>> {
    match body.get("merchant_id").and_then(Value::as_str) {
        None | Some("") => Err(Box::new(validation(
            "merchant_id",
            "The merchant id field is required.",
        ))),
        Some(id) if id != world.merchant_id => Err(Box::new(error(
            -10,
            "Terminal is not valid, please check merchant_id or ip address.",
            json!([]),
        ))),
        Some(_) => Ok(()),
    }
}

/// Amounts are integers; Zarinpal also accepts them as strings of digits.
fn integer(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn new_authority() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    let tail: String = (0..10)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    // 36 characters, "A" then zeros then the random part, as Zarinpal's look.
    format!("A{:0>35}", tail)
}

fn fee(amount: i64) -> i64 {
    // One percent, as Zarinpal's default wage; shown to the merchant, not charged here.
    amount / 100
}

async fn request(State(state): State<FakeState>, body: axum::body::Bytes) -> Response {
    let body = match body_object(&body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let mut world = state.world();
    if let Err(response) = check_merchant(&world, &body) {
        return *response;
    }
    let currency = match body.get("currency") {
        None | Some(Value::Null) => "IRR".to_string(),
        Some(Value::String(c)) if c == "IRR" || c == "IRT" => c.clone(),
        Some(_) => return validation("currency", "The selected currency is invalid."),
    };
    let Some(amount) = integer(body.get("amount")) else {
        return validation(
            "amount",
            "The amount field is required and must be an integer.",
        );
    };
    let rial = if currency == "IRT" {
        amount.saturating_mul(10)
    } else {
        amount
    };
    if rial < MIN_RIAL {
        return validation(
            "amount",
            "The amount must be at least 1000 Toman (10000 Rial).",
        );
    }
    if rial > MAX_RIAL {
        return validation("amount", "The amount is more than the terminal allows.");
    }
    let callback_url = body
        .get("callback_url")
        .and_then(Value::as_str)
        .unwrap_or("");
    if url::Url::parse(callback_url).map(|u| u.scheme().starts_with("http")) != Ok(true) {
        return validation(
            "callback_url",
            "The callback url field is required and must be a URL.",
        );
    }
    let description = body
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("");
    if description.is_empty() || description.chars().count() > 500 {
        return validation(
            "description",
            "The description field is required (at most 500 characters).",
        );
    }
    let metadata = body.get("metadata").cloned().unwrap_or(Value::Null);
    let text = |key: &str| {
        metadata
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let authority = new_authority();
    world.payments.insert(
        authority.clone(),
        ZarinpalPayment {
            authority: authority.clone(),
            amount,
            currency,
            description: description.to_string(),
            callback_url: callback_url.to_string(),
            order_id: text("order_id"),
            mobile: text("mobile"),
            email: text("email"),
            state: ZarinpalState::Created,
            ref_id: None,
            verify_calls: 0,
            last_callback: None,
        },
    );
    success(json!({
        "code": 100,
        "message": "Success",
        "authority": authority,
        "fee_type": "Merchant",
        "fee": fee(amount),
    }))
}

/// The card the fake buyer pays with, masked as Zarinpal shows it, and its hash.
fn card_fields(authority: &str) -> (String, String) {
    use sha2::{Digest, Sha256};
    let card_pan = "502229******5995".to_string();
    let card_hash =
        hex::encode(Sha256::digest(format!("card:{authority}").as_bytes())).to_uppercase();
    (card_pan, card_hash)
}

async fn verify(State(state): State<FakeState>, body: axum::body::Bytes) -> Response {
    let body = match body_object(&body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let mut guard = state.world();
    let world = &mut *guard;
    if let Err(response) = check_merchant(world, &body) {
        return *response;
    }
    let Some(authority) = body
        .get("authority")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    else {
        return validation("authority", "The authority field is required.");
    };
    let Some(amount) = integer(body.get("amount")) else {
        return validation(
            "amount",
            "The amount field is required and must be an integer.",
        );
    };
    let Some(payment) = world.payments.get_mut(authority) else {
        return error(-54, "Invalid authority.", json!([]));
    };
    payment.verify_calls += 1;
    if amount != payment.amount {
        return error(
            -50,
            "Session is not valid, amounts values is not the same.",
            json!([]),
        );
    }
    let code = match payment.state {
        ZarinpalState::Created | ZarinpalState::Failed => {
            return error(
                -51,
                "Session is not valid, session is not active paid try.",
                json!([]),
            );
        }
        ZarinpalState::Paid => {
            payment.state = ZarinpalState::Verified;
            payment.ref_id = Some(world.next_ref_id);
            world.next_ref_id += 1;
            100
        }
        ZarinpalState::Verified => 101,
    };
    let (card_pan, card_hash) = card_fields(authority);
    success(json!({
        "code": code,
        "message": "Verified",
        "card_hash": card_hash,
        "card_pan": card_pan,
        "ref_id": payment.ref_id,
        "fee_type": "Merchant",
        "fee": fee(payment.amount),
    }))
}

async fn inquiry(State(state): State<FakeState>, body: axum::body::Bytes) -> Response {
    let body = match body_object(&body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let world = state.world();
    if let Err(response) = check_merchant(&world, &body) {
        return *response;
    }
    let authority = body.get("authority").and_then(Value::as_str).unwrap_or("");
    let Some(payment) = world.payments.get(authority) else {
        return error(-54, "Invalid authority.", json!([]));
    };
    let status = match payment.state {
        ZarinpalState::Created => "IN_BANK",
        ZarinpalState::Paid => "PAID",
        ZarinpalState::Failed => "FAILED",
        ZarinpalState::Verified => "VERIFIED",
    };
    success(json!({"code": 100, "message": "Success", "status": status}))
}

/// `callback_url` with `Authority` and `Status` added to its query.
fn callback_url(payment: &ZarinpalPayment, ok: bool) -> String {
    match url::Url::parse(&payment.callback_url) {
        Ok(mut url) => {
            url.query_pairs_mut()
                .append_pair("Authority", &payment.authority)
                .append_pair("Status", if ok { "OK" } else { "NOK" });
            url.to_string()
        }
        Err(_) => payment.callback_url.clone(),
    }
}

/// Moves a payment to paid (ok) or failed and returns the callback URL the buyer goes to.
/// `amount` pretends the request was for another amount (a tampered or stale invoice).
fn settle(
    state: &FakeState,
    authority: &str,
    ok: bool,
    amount: Option<i64>,
) -> Result<String, ControlFailure> {
    let mut world = state.world();
    let payment = world.payments.get_mut(authority).ok_or_else(|| {
        ControlFailure::not_found(format!("no payment with authority {authority}"))
    })?;
    if payment.state != ZarinpalState::Created {
        return Err(ControlFailure::conflict(format!(
            "the payment is already {:?}; only a new payment can be paid or cancelled",
            payment.state
        )));
    }
    payment.state = if ok {
        ZarinpalState::Paid
    } else {
        ZarinpalState::Failed
    };
    if let Some(amount) = amount {
        payment.amount = amount;
    }
    let url = callback_url(payment, ok);
    payment.last_callback = Some(url.clone());
    Ok(url)
}

/// The buyer's browser following the redirect to our callback (a GET).
async fn call_back(state: &FakeState, url: &str) -> Delivery {
    super::deliver(url, state.http.get(url)).await
}

#[derive(Debug, Default, Deserialize)]
struct Settle {
    /// Pretend the payment request was for this amount (to make verify answer -50).
    amount: Option<i64>,
    /// Call the callback URL (default true); false only records the new state.
    deliver: Option<bool>,
}

fn settle_body(body: &[u8]) -> Result<Settle, ControlFailure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Settle::default());
    }
    serde_json::from_slice(body).map_err(|e| ControlFailure::bad_request(e.to_string()))
}

async fn settle_and_call(
    state: FakeState,
    authority: String,
    ok: bool,
    body: &[u8],
) -> Result<Json<Delivery>, ControlFailure> {
    let settle_body = settle_body(body)?;
    let url = settle(&state, &authority, ok, settle_body.amount)?;
    if settle_body.deliver == Some(false) {
        return Ok(Json(Delivery {
            url,
            http_status: None,
            error: Some("not sent: deliver was false".into()),
        }));
    }
    Ok(Json(call_back(&state, &url).await))
}

async fn complete(
    State(state): State<FakeState>,
    Path(authority): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Delivery>, ControlFailure> {
    settle_and_call(state, authority, true, &body).await
}

async fn fail(
    State(state): State<FakeState>,
    Path(authority): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Delivery>, ControlFailure> {
    settle_and_call(state, authority, false, &body).await
}

async fn replay(
    State(state): State<FakeState>,
    Path(authority): Path<String>,
) -> Result<Json<Delivery>, ControlFailure> {
    let url = {
        let world = state.world();
        let payment = world.payments.get(&authority).ok_or_else(|| {
            ControlFailure::not_found(format!("no payment with authority {authority}"))
        })?;
        payment
            .last_callback
            .clone()
            .ok_or_else(|| ControlFailure::conflict("no callback was sent for this payment yet"))?
    };
    Ok(Json(call_back(&state, &url).await))
}

async fn list_payments(State(state): State<FakeState>) -> Json<Value> {
    let mut all: Vec<_> = state.world().payments.values().cloned().collect();
    all.sort_by(|a, b| a.authority.cmp(&b.authority));
    Json(json!({"payments": all}))
}

async fn one_payment(
    State(state): State<FakeState>,
    Path(authority): Path<String>,
) -> Result<Json<ZarinpalPayment>, ControlFailure> {
    state
        .world()
        .payments
        .get(&authority)
        .cloned()
        .map(Json)
        .ok_or_else(|| ControlFailure::not_found(format!("no payment with authority {authority}")))
}

async fn start_pay_page(State(state): State<FakeState>, Path(authority): Path<String>) -> Response {
    let world = state.world();
    let Some(payment) = world.payments.get(&authority) else {
        return (
            StatusCode::NOT_FOUND,
            Html("<h1>Invalid authority / تراکنش نامعتبر</h1>".to_string()),
        )
            .into_response();
    };
    let esc = super::html_escape;
    let open = payment.state == ZarinpalState::Created;
    let buttons = if open {
        format!(
            r#"<form method="post" action="/pg/StartPay/{a}/pay"><button>Pay / پرداخت</button></form>
<form method="post" action="/pg/StartPay/{a}/cancel"><button>Cancel / انصراف</button></form>"#,
            a = esc(&payment.authority)
        )
    } else {
        format!("<p>This payment is {:?}.</p>", payment.state)
    };
    Html(format!(
        r#"<!doctype html><html lang="fa" dir="rtl"><head><meta charset="utf-8"><title>Zarinpal (sandbox)</title></head>
<body><h1>درگاه پرداخت زرین‌پال (آزمایشی)</h1>
<p>{description}</p><p>{amount} {currency}</p>{buttons}</body></html>"#,
        description = esc(&payment.description),
        amount = payment.amount,
        currency = esc(&payment.currency),
    ))
    .into_response()
}

/// The page's buttons: settle, then send the browser back like Zarinpal does.
async fn page_settle(state: FakeState, authority: String, ok: bool) -> Response {
    match settle(&state, &authority, ok, None) {
        Ok(url) => (StatusCode::SEE_OTHER, [(header::LOCATION, url)]).into_response(),
        Err(failure) => failure.into_response(),
    }
}

async fn page_pay(State(state): State<FakeState>, Path(authority): Path<String>) -> Response {
    page_settle(state, authority, true).await
}

async fn page_cancel(State(state): State<FakeState>, Path(authority): Path<String>) -> Response {
    page_settle(state, authority, false).await
}

/// A typed client for the fake's control routes.
#[derive(Debug, Clone)]
pub struct ZarinpalControl {
    base: String,
    http: reqwest::Client,
}

impl ZarinpalControl {
    /// `base_url` is the fake's root, e.g. `http://127.0.0.1:40123`.
    pub fn new(base_url: &str) -> ZarinpalControl {
        ZarinpalControl {
            base: base_url.trim_end_matches('/').to_string(),
            http: super::control_client(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/_sandbox/zarinpal/payments{path}", self.base)
    }

    pub async fn payments(&self) -> Result<Vec<ZarinpalPayment>, ControlError> {
        #[derive(Deserialize)]
        struct List {
            payments: Vec<ZarinpalPayment>,
        }
        let list: List = super::control_call(self.http.get(self.url(""))).await?;
        Ok(list.payments)
    }

    pub async fn payment(&self, authority: &str) -> Result<ZarinpalPayment, ControlError> {
        super::control_call(self.http.get(self.url(&format!("/{authority}")))).await
    }

    /// The buyer pays; the fake calls the callback URL with `Status=OK`.
    pub async fn complete(&self, authority: &str) -> Result<Delivery, ControlError> {
        self.settle(authority, "complete", json!({})).await
    }

    /// The buyer pays, but the request is recorded with another `amount`, so verifying with
    /// the invoice's amount answers -50.
    pub async fn complete_with_amount(
        &self,
        authority: &str,
        amount: i64,
    ) -> Result<Delivery, ControlError> {
        self.settle(authority, "complete", json!({"amount": amount}))
            .await
    }

    /// The buyer pays but never comes back (no callback is called).
    pub async fn complete_silently(&self, authority: &str) -> Result<Delivery, ControlError> {
        self.settle(authority, "complete", json!({"deliver": false}))
            .await
    }

    /// The buyer cancels; the fake calls the callback URL with `Status=NOK`.
    pub async fn fail(&self, authority: &str) -> Result<Delivery, ControlError> {
        self.settle(authority, "fail", json!({})).await
    }

    /// Calls the last callback again (a duplicate).
    pub async fn replay(&self, authority: &str) -> Result<Delivery, ControlError> {
        super::control_call(self.http.post(self.url(&format!("/{authority}/replay")))).await
    }

    async fn settle(
        &self,
        authority: &str,
        action: &str,
        body: Value,
    ) -> Result<Delivery, ControlError> {
        super::control_call(
            self.http
                .post(self.url(&format!("/{authority}/{action}")))
                .json(&body),
        )
        .await
    }
}
