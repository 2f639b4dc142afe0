//! A fake NowPayments (invoice API and IPNs).
//!
//! | route | what |
//! |---|---|
//! | `GET /v1/status` | `{"message":"OK"}` |
//! | `POST /v1/invoice` (header `x-api-key`) | `{price_amount, price_currency, order_id?, order_description?, ipn_callback_url?, success_url?, cancel_url?}` -> the invoice with `id` and `invoice_url` |
//! | `GET /v1/payment/{payment_id}` (header `x-api-key`) | the payment and its `payment_status` |
//! | `GET /payment/?iid={invoice_id}` | the invoice page, with a Pay button |
//! | `GET /_sandbox/nowpayments/invoices/{id}` | the invoice and its payments |
//! | `POST /_sandbox/nowpayments/invoices/{id}/pay` | `{"statuses"?, "paid_amount"?, "out_of_order"?, "pay_currency"?}`: a payment goes through the statuses, one signed IPN each |
//! | `POST /_sandbox/nowpayments/payments/{id}/status` | `{"status"}`: one more status (failed, expired, refunded...) and its IPN |
//! | `POST /_sandbox/nowpayments/payments/{id}/replay` | sends the last IPN again, byte for byte |
//! | `POST /_sandbox/nowpayments/payments/{id}/bad_signature` | `{"missing"?}`: sends the last IPN with a wrong (or no) signature |
//! | `GET /_sandbox/nowpayments/ipns` | every IPN sent, in order |
//!
//! IPNs are POSTed to the invoice's `ipn_callback_url` with the header `x-nowpayments-sig`:
//! HMAC-SHA512, hex, of the body re-serialised with its keys sorted (recursively), keyed with
//! the IPN secret. The body itself is sent in NowPayments' own key order, not sorted.
//! Errors are `{"statusCode","code","message"}` with the same HTTP status.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha512;

use super::{ControlError, ControlFailure, Delivery, GatewayError, Running};

#[derive(Debug, Clone)]
pub struct NowPaymentsOptions {
    /// The only API key the fake accepts in `x-api-key`.
    pub api_key: String,
    /// The secret IPNs are signed with.
    pub ipn_secret: String,
}

impl Default for NowPaymentsOptions {
    fn default() -> Self {
        NowPaymentsOptions {
            api_key: "SANDBOX-API-KEY".into(),
            ipn_secret: "sandbox-ipn-secret".into(),
        }
    }
}

/// The statuses a paid payment goes through.
pub const PAID_SEQUENCE: [&str; 5] = ["waiting", "confirming", "confirmed", "sending", "finished"];
/// Every status NowPayments uses.
pub const STATUSES: [&str; 9] = [
    "waiting",
    "confirming",
    "confirmed",
    "sending",
    "partially_paid",
    "finished",
    "failed",
    "refunded",
    "expired",
];

/// An invoice as the fake holds it. Amounts are decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NowInvoice {
    pub id: String,
    pub order_id: Option<String>,
    pub order_description: Option<String>,
    pub price_amount: String,
    pub price_currency: String,
    pub ipn_callback_url: Option<String>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub invoice_url: String,
    pub created_at: String,
    pub payment_ids: Vec<u64>,
}

/// A payment as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NowPayment {
    pub payment_id: u64,
    pub invoice_id: String,
    pub payment_status: String,
    pub pay_address: String,
    pub price_amount: String,
    pub price_currency: String,
    pub pay_amount: String,
    pub actually_paid: String,
    pub actually_paid_at_fiat: String,
    pub pay_currency: String,
    pub order_id: Option<String>,
    pub order_description: Option<String>,
    pub purchase_id: String,
    pub created_at: String,
    pub updated_at: String,
}

/// One IPN the fake sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentIpn {
    pub payment_id: u64,
    pub payment_status: String,
    /// The body exactly as sent.
    pub body: String,
    /// The `x-nowpayments-sig` header sent (None when left out on purpose).
    pub signature: Option<String>,
    pub delivery: Delivery,
}

struct World {
    options: NowPaymentsOptions,
    base_url: String,
    invoices: HashMap<String, NowInvoice>,
    payments: HashMap<u64, NowPayment>,
    /// The last IPN body and signature per payment, for replays.
    last_ipn: HashMap<u64, (String, String)>,
    sent: Vec<SentIpn>,
    next_id: u64,
    clock: u64,
}

impl World {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A fake clock that moves one second per event, as an ISO timestamp.
    fn now(&mut self) -> String {
        self.clock += 1;
        let (h, m, s) = (
            self.clock / 3600 % 24,
            self.clock / 60 % 60,
            self.clock % 60,
        );
        format!("2026-01-01T{h:02}:{m:02}:{s:02}.000Z")
    }
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

/// A running fake NowPayments.
pub struct FakeNowPayments {
    running: Running,
    state: FakeState,
}

impl FakeNowPayments {
    /// Starts on `addr` (loopback; port 0 picks a free port).
    pub async fn start(
        addr: SocketAddr,
        options: NowPaymentsOptions,
    ) -> Result<FakeNowPayments, GatewayError> {
        let listener = super::bind(addr).await?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| GatewayError::Bind { addr, source })?;
        let state = FakeState {
            world: Arc::new(Mutex::new(World {
                options,
                base_url: format!("http://{local_addr}"),
                invoices: HashMap::new(),
                payments: HashMap::new(),
                last_ipn: HashMap::new(),
                sent: Vec::new(),
                next_id: 4_000_000_000 + rand::thread_rng().gen_range(0..100_000_000),
                clock: 0,
            })),
            http: super::outbound_client(),
        };
        let running = super::serve(listener, router(state.clone()), "nowpayments")?;
        Ok(FakeNowPayments { running, state })
    }

    /// The API root, e.g. `http://127.0.0.1:40123` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.running.local_addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.running.local_addr
    }

    pub fn control(&self) -> NowPaymentsControl {
        NowPaymentsControl::new(&self.url())
    }

    /// Every IPN sent so far, for in-process inspection.
    pub fn sent_ipns(&self) -> Vec<SentIpn> {
        self.state.world().sent.clone()
    }

    pub async fn shutdown(self) {
        self.running.shutdown().await;
    }
}

fn router(state: FakeState) -> Router {
    Router::new()
        .route(
            "/v1/status",
            get(|| async { Json(json!({"message": "OK"})) }),
        )
        .route("/v1/invoice", post(create_invoice))
        .route("/v1/payment/{payment_id}", get(get_payment))
        .route("/payment/", get(invoice_page))
        .route("/payment/{invoice_id}/pay", post(page_pay))
        .route(
            "/_sandbox/nowpayments/invoices/{invoice_id}",
            get(control_invoice),
        )
        .route(
            "/_sandbox/nowpayments/invoices/{invoice_id}/pay",
            post(control_pay),
        )
        .route(
            "/_sandbox/nowpayments/payments/{payment_id}/status",
            post(control_status),
        )
        .route(
            "/_sandbox/nowpayments/payments/{payment_id}/replay",
            post(control_replay),
        )
        .route(
            "/_sandbox/nowpayments/payments/{payment_id}/bad_signature",
            post(control_bad_signature),
        )
        .route("/_sandbox/nowpayments/ipns", get(control_ipns))
        .with_state(state)
}

/// NowPayments' error answer.
fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"statusCode": status.as_u16(), "code": code, "message": message})),
    )
        .into_response()
}

fn check_api_key(world: &World, headers: &HeaderMap) -> Result<(), Box<Response>> {
    match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        Some(key) if key == world.options.api_key => Ok(()),
        Some(_) => Err(Box::new(api_error(
            StatusCode::FORBIDDEN,
            "INVALID_API_KEY",
            "Invalid api key",
        ))),
        None => Err(Box::new(api_error(
            StatusCode::UNAUTHORIZED,
            "AUTH_REQUIRED",
            "Authorization header is empty (Bearer JWTtoken is required)",
        ))),
    }
}

/// A positive JSON number (or numeric string) as a decimal string, without exponent.
fn decimal(value: Option<&Value>) -> Option<String> {
    let text = match value? {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return None,
    };
    let ok = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_digit() || c == '.')
        && text.chars().filter(|c| *c == '.').count() <= 1
        && text.parse::<f64>().is_ok_and(|f| f > 0.0);
    ok.then(|| trim_decimal(&text))
}

/// "5.00" -> "5", "04.90" -> "4.9": the number as JavaScript would print it.
fn trim_decimal(text: &str) -> String {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

/// A decimal string rounded to 8 places, as crypto amounts are.
fn crypto_amount(amount: &str) -> String {
    let value = amount.parse::<f64>().unwrap_or(0.0);
    trim_decimal(&format!("{value:.8}"))
}

fn text(body: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).map(str::to_string)
}

async fn create_invoice(
    State(state): State<FakeState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut world = state.world();
    if let Err(response) = check_api_key(&world, &headers) {
        return *response;
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST_PARAMS",
            "body must be a JSON object",
        );
    };
    let Some(price_amount) = decimal(body.get("price_amount")) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST_PARAMS",
            "\"price_amount\" is required and must be a positive number",
        );
    };
    let Some(price_currency) = text(&body, "price_currency").filter(|c| !c.is_empty()) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST_PARAMS",
            "\"price_currency\" is required",
        );
    };
    let id = world.next_id().to_string();
    let created_at = world.now();
    let invoice = NowInvoice {
        invoice_url: format!("{}/payment/?iid={id}", world.base_url),
        id: id.clone(),
        order_id: text(&body, "order_id"),
        order_description: text(&body, "order_description"),
        price_amount,
        price_currency: price_currency.to_lowercase(),
        ipn_callback_url: text(&body, "ipn_callback_url"),
        success_url: text(&body, "success_url"),
        cancel_url: text(&body, "cancel_url"),
        created_at,
        payment_ids: Vec::new(),
    };
    world.invoices.insert(id.clone(), invoice.clone());
    Json(json!({
        "id": invoice.id,
        "token_id": format!("t{}", invoice.id),
        "order_id": invoice.order_id,
        "order_description": invoice.order_description,
        "price_amount": invoice.price_amount,
        "price_currency": invoice.price_currency,
        "pay_currency": body.get("pay_currency").cloned().unwrap_or(Value::Null),
        "ipn_callback_url": invoice.ipn_callback_url,
        "invoice_url": invoice.invoice_url,
        "success_url": invoice.success_url,
        "cancel_url": invoice.cancel_url,
        "partially_paid_url": null,
        "payout_currency": null,
        "created_at": invoice.created_at,
        "updated_at": invoice.created_at,
        "is_fixed_rate": false,
        "is_fee_paid_by_user": false,
    }))
    .into_response()
}

/// A JSON value as text, built in a chosen key order so the body can be sent in NowPayments'
/// own order while the signature covers the sorted form.
enum JsonText {
    Raw(String),
    Object(Vec<(&'static str, JsonText)>),
}

impl JsonText {
    fn string(s: &str) -> JsonText {
        JsonText::Raw(serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()))
    }

    fn opt_string(s: &Option<String>) -> JsonText {
        s.as_deref()
            .map_or(JsonText::Raw("null".into()), JsonText::string)
    }

    fn number(decimal: &str) -> JsonText {
        JsonText::Raw(decimal.to_string())
    }

    fn write(&self, sorted: bool, out: &mut String) {
        match self {
            JsonText::Raw(raw) => out.push_str(raw),
            JsonText::Object(fields) => {
                let mut order: Vec<&(&str, JsonText)> = fields.iter().collect();
                if sorted {
                    order.sort_by(|a, b| a.0.cmp(b.0));
                }
                out.push('{');
                for (i, (key, value)) in order.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('"');
                    out.push_str(key);
                    out.push_str("\":");
                    value.write(sorted, out);
                }
                out.push('}');
            }
        }
    }

    fn render(&self, sorted: bool) -> String {
        let mut out = String::new();
        self.write(sorted, &mut out);
        out
    }
}

/// The payment as NowPayments describes it (IPN body and `GET /v1/payment/{id}`).
fn payment_json(p: &NowPayment) -> JsonText {
    JsonText::Object(vec![
        ("payment_id", JsonText::number(&p.payment_id.to_string())),
        ("parent_payment_id", JsonText::Raw("null".into())),
        ("invoice_id", JsonText::number(&p.invoice_id)),
        ("payment_status", JsonText::string(&p.payment_status)),
        ("pay_address", JsonText::string(&p.pay_address)),
        ("payin_extra_id", JsonText::Raw("null".into())),
        ("price_amount", JsonText::number(&p.price_amount)),
        ("price_currency", JsonText::string(&p.price_currency)),
        ("pay_amount", JsonText::number(&p.pay_amount)),
        ("actually_paid", JsonText::number(&p.actually_paid)),
        (
            "actually_paid_at_fiat",
            JsonText::number(&p.actually_paid_at_fiat),
        ),
        ("pay_currency", JsonText::string(&p.pay_currency)),
        ("order_id", JsonText::opt_string(&p.order_id)),
        (
            "order_description",
            JsonText::opt_string(&p.order_description),
        ),
        ("purchase_id", JsonText::string(&p.purchase_id)),
        ("outcome_amount", JsonText::number(&p.actually_paid)),
        ("outcome_currency", JsonText::string(&p.pay_currency)),
        ("payment_extra_ids", JsonText::Raw("null".into())),
        (
            "fee",
            JsonText::Object(vec![
                ("currency", JsonText::string(&p.pay_currency)),
                ("depositFee", JsonText::number("0")),
                ("withdrawalFee", JsonText::number("0")),
                ("serviceFee", JsonText::number("0")),
            ]),
        ),
        ("created_at", JsonText::string(&p.created_at)),
        ("updated_at", JsonText::string(&p.updated_at)),
    ])
}

fn hmac_hex(secret: &str, message: &str) -> String {
    match Hmac::<Sha512>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(message.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

async fn get_payment(
    State(state): State<FakeState>,
    headers: HeaderMap,
    Path(payment_id): Path<String>,
) -> Response {
    let world = state.world();
    if let Err(response) = check_api_key(&world, &headers) {
        return *response;
    }
    let payment = payment_id
        .parse::<u64>()
        .ok()
        .and_then(|id| world.payments.get(&id));
    match payment {
        Some(p) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            payment_json(p).render(false),
        )
            .into_response(),
        None => api_error(
            StatusCode::NOT_FOUND,
            "PAYMENT_NOT_FOUND",
            "Payment not found",
        ),
    }
}

/// What to do with the signature of an IPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signing {
    Good,
    Wrong,
    Missing,
}

/// POSTs one IPN body to the invoice's callback URL and records it.
async fn send_ipn(
    state: &FakeState,
    payment_id: u64,
    status: &str,
    body: String,
    signature: String,
    signing: Signing,
) -> SentIpn {
    let url = {
        let world = state.world();
        world
            .payments
            .get(&payment_id)
            .and_then(|p| world.invoices.get(&p.invoice_id))
            .and_then(|i| i.ipn_callback_url.clone())
    };
    let sent_signature = match signing {
        Signing::Good => Some(signature),
        Signing::Wrong => Some(hmac_hex("not-the-ipn-secret", &body)),
        Signing::Missing => None,
    };
    let delivery = match &url {
        None => Delivery {
            url: String::new(),
            http_status: None,
            error: Some("not sent: the invoice has no ipn_callback_url".into()),
        },
        Some(url) => {
            let mut request = state
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(body.clone());
            if let Some(signature) = &sent_signature {
                request = request.header("x-nowpayments-sig", signature);
            }
            super::deliver(url, request).await
        }
    };
    let sent = SentIpn {
        payment_id,
        payment_status: status.to_string(),
        body,
        signature: sent_signature,
        delivery,
    };
    state.world().sent.push(sent.clone());
    sent
}

/// Moves a payment to `status` and returns the IPN body and its good signature.
fn advance(world: &mut World, payment_id: u64, status: &str) -> Option<(String, String)> {
    let updated_at = world.now();
    let secret = world.options.ipn_secret.clone();
    let payment = world.payments.get_mut(&payment_id)?;
    payment.payment_status = status.to_string();
    payment.updated_at = updated_at;
    let json = payment_json(payment);
    let body = json.render(false);
    let signature = hmac_hex(&secret, &json.render(true));
    world
        .last_ipn
        .insert(payment_id, (body.clone(), signature.clone()));
    Some((body, signature))
}

#[derive(Debug, Default, Deserialize)]
struct PayBody {
    /// The statuses the payment goes through (default: waiting .. finished, or
    /// waiting, confirming, partially_paid when `paid_amount` is less than the price).
    statuses: Option<Vec<String>>,
    /// What the buyer actually paid, in the price currency (default: the price).
    paid_amount: Option<Value>,
    /// Send the IPNs newest first (the payment still ends in the last status).
    out_of_order: Option<bool>,
    /// The coin paid with (default "usdttrc20").
    pay_currency: Option<String>,
}

/// What `pay` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayOutcome {
    pub payment_id: u64,
    pub ipns: Vec<SentIpn>,
}

fn json_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ControlFailure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ControlFailure::bad_request(e.to_string()))
}

/// Creates a payment for an invoice and sends its IPNs.
async fn pay(
    state: &FakeState,
    invoice_id: &str,
    body: PayBody,
) -> Result<PayOutcome, ControlFailure> {
    let (payment_id, ipns) = {
        let mut guard = state.world();
        let world = &mut *guard;
        let invoice = world
            .invoices
            .get(invoice_id)
            .cloned()
            .ok_or_else(|| ControlFailure::not_found(format!("no invoice {invoice_id}")))?;
        let paid = match &body.paid_amount {
            None => invoice.price_amount.clone(),
            Some(value) => decimal(Some(value)).ok_or_else(|| {
                ControlFailure::bad_request("paid_amount must be a positive number")
            })?,
        };
        let price: f64 = invoice.price_amount.parse().unwrap_or(0.0);
        let underpaid = paid.parse::<f64>().unwrap_or(0.0) < price;
        let statuses: Vec<String> = match body.statuses {
            Some(statuses) => statuses,
            None if underpaid => vec![
                "waiting".into(),
                "confirming".into(),
                "partially_paid".into(),
            ],
            None => PAID_SEQUENCE.iter().map(|s| s.to_string()).collect(),
        };
        if statuses.is_empty() {
            return Err(ControlFailure::bad_request("give at least one status"));
        }
        if let Some(unknown) = statuses.iter().find(|s| !STATUSES.contains(&s.as_str())) {
            return Err(ControlFailure::bad_request(format!(
                "unknown status {unknown:?}"
            )));
        }
        // Stablecoin pegged to the dollar: the crypto amount is the price itself.
        let pay_currency = body.pay_currency.unwrap_or_else(|| "usdttrc20".into());
        let payment_id = world.next_id();
        let created_at = world.now();
        world.payments.insert(
            payment_id,
            NowPayment {
                payment_id,
                invoice_id: invoice.id.clone(),
                payment_status: "waiting".into(),
                pay_address: format!("TSandbox{payment_id}"),
                price_amount: invoice.price_amount.clone(),
                price_currency: invoice.price_currency.clone(),
                pay_amount: invoice.price_amount.clone(),
                actually_paid: crypto_amount(&paid),
                actually_paid_at_fiat: crypto_amount(&paid),
                pay_currency,
                order_id: invoice.order_id.clone(),
                order_description: invoice.order_description.clone(),
                purchase_id: format!("{}", payment_id + 7),
                created_at: created_at.clone(),
                updated_at: created_at,
            },
        );
        if let Some(invoice) = world.invoices.get_mut(invoice_id) {
            invoice.payment_ids.push(payment_id);
        }
        let mut ipns = Vec::new();
        for status in &statuses {
            if let Some((body, signature)) = advance(world, payment_id, status) {
                ipns.push((status.clone(), body, signature));
            }
        }
        if body.out_of_order == Some(true) {
            ipns.reverse();
        }
        (payment_id, ipns)
    };
    let mut sent = Vec::new();
    for (status, body, signature) in ipns {
        sent.push(send_ipn(state, payment_id, &status, body, signature, Signing::Good).await);
    }
    Ok(PayOutcome {
        payment_id,
        ipns: sent,
    })
}

async fn control_pay(
    State(state): State<FakeState>,
    Path(invoice_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<PayOutcome>, ControlFailure> {
    let body: PayBody = json_body(&body)?;
    Ok(Json(pay(&state, &invoice_id, body).await?))
}

#[derive(Debug, Default, Deserialize)]
struct StatusBody {
    status: String,
}

async fn control_status(
    State(state): State<FakeState>,
    Path(payment_id): Path<u64>,
    body: axum::body::Bytes,
) -> Result<Json<SentIpn>, ControlFailure> {
    let body: StatusBody = json_body(&body)?;
    if !STATUSES.contains(&body.status.as_str()) {
        return Err(ControlFailure::bad_request(format!(
            "unknown status {:?}",
            body.status
        )));
    }
    let (ipn_body, signature) = advance(&mut state.world(), payment_id, &body.status)
        .ok_or_else(|| ControlFailure::not_found(format!("no payment {payment_id}")))?;
    Ok(Json(
        send_ipn(
            &state,
            payment_id,
            &body.status,
            ipn_body,
            signature,
            Signing::Good,
        )
        .await,
    ))
}

fn last_ipn(
    state: &FakeState,
    payment_id: u64,
) -> Result<(String, String, String), ControlFailure> {
    let world = state.world();
    let status = world
        .payments
        .get(&payment_id)
        .map(|p| p.payment_status.clone())
        .ok_or_else(|| ControlFailure::not_found(format!("no payment {payment_id}")))?;
    let (body, signature) = world
        .last_ipn
        .get(&payment_id)
        .cloned()
        .ok_or_else(|| ControlFailure::conflict("no IPN was sent for this payment yet"))?;
    Ok((status, body, signature))
}

async fn control_replay(
    State(state): State<FakeState>,
    Path(payment_id): Path<u64>,
) -> Result<Json<SentIpn>, ControlFailure> {
    let (status, body, signature) = last_ipn(&state, payment_id)?;
    Ok(Json(
        send_ipn(&state, payment_id, &status, body, signature, Signing::Good).await,
    ))
}

#[derive(Debug, Default, Deserialize)]
struct BadSignatureBody {
    /// Leave the header out instead of sending a wrong one.
    missing: Option<bool>,
}

async fn control_bad_signature(
    State(state): State<FakeState>,
    Path(payment_id): Path<u64>,
    body: axum::body::Bytes,
) -> Result<Json<SentIpn>, ControlFailure> {
    let body: BadSignatureBody = json_body(&body)?;
    let (status, ipn_body, signature) = last_ipn(&state, payment_id)?;
    let signing = if body.missing == Some(true) {
        Signing::Missing
    } else {
        Signing::Wrong
    };
    Ok(Json(
        send_ipn(&state, payment_id, &status, ipn_body, signature, signing).await,
    ))
}

async fn control_invoice(
    State(state): State<FakeState>,
    Path(invoice_id): Path<String>,
) -> Result<Json<Value>, ControlFailure> {
    let world = state.world();
    let invoice = world
        .invoices
        .get(&invoice_id)
        .ok_or_else(|| ControlFailure::not_found(format!("no invoice {invoice_id}")))?;
    let payments: Vec<&NowPayment> = invoice
        .payment_ids
        .iter()
        .filter_map(|id| world.payments.get(id))
        .collect();
    Ok(Json(json!({"invoice": invoice, "payments": payments})))
}

async fn control_ipns(State(state): State<FakeState>) -> Json<Value> {
    Json(json!({"ipns": state.world().sent}))
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    iid: String,
}

async fn invoice_page(State(state): State<FakeState>, Query(query): Query<PageQuery>) -> Response {
    let world = state.world();
    let Some(invoice) = world.invoices.get(&query.iid) else {
        return (
            StatusCode::NOT_FOUND,
            Html("<h1>Invoice not found</h1>".to_string()),
        )
            .into_response();
    };
    let esc = super::html_escape;
    Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>NOWPayments (sandbox)</title></head>
<body><h1>NOWPayments invoice {id} (sandbox)</h1><p>{description}</p><p>{amount} {currency}</p>
<form method="post" action="/payment/{id}/pay"><button>Pay</button></form></body></html>"#,
        id = esc(&invoice.id),
        description = esc(invoice.order_description.as_deref().unwrap_or("")),
        amount = esc(&invoice.price_amount),
        currency = esc(&invoice.price_currency.to_uppercase()),
    ))
    .into_response()
}

async fn page_pay(State(state): State<FakeState>, Path(invoice_id): Path<String>) -> Response {
    match pay(&state, &invoice_id, PayBody::default()).await {
        Ok(outcome) => {
            let back = state
                .world()
                .invoices
                .get(&invoice_id)
                .and_then(|i| i.success_url.clone());
            let link = back
                .map(|url| {
                    format!(
                        r#"<p><a href="{}">Back to the shop</a></p>"#,
                        super::html_escape(&url)
                    )
                })
                .unwrap_or_default();
            Html(format!(
                "<h1>Paid: payment {}</h1>{link}",
                outcome.payment_id
            ))
            .into_response()
        }
        Err(failure) => failure.into_response(),
    }
}

/// A typed client for the fake's control routes.
#[derive(Debug, Clone)]
pub struct NowPaymentsControl {
    base: String,
    http: reqwest::Client,
}

/// How a fake payment should go; `Default` pays the full price with the usual statuses.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PayPlan {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statuses: Option<Vec<String>>,
    /// What the buyer actually paid in the price currency, as a decimal ("2.50").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_amount: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_of_order: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pay_currency: Option<String>,
}

impl NowPaymentsControl {
    pub fn new(base_url: &str) -> NowPaymentsControl {
        NowPaymentsControl {
            base: base_url.trim_end_matches('/').to_string(),
            http: super::control_client(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/_sandbox/nowpayments{path}", self.base)
    }

    /// The buyer pays the invoice in full: IPNs waiting, confirming, confirmed, sending, finished.
    pub async fn pay(&self, invoice_id: &str) -> Result<PayOutcome, ControlError> {
        self.pay_with(invoice_id, &PayPlan::default()).await
    }

    pub async fn pay_with(
        &self,
        invoice_id: &str,
        plan: &PayPlan,
    ) -> Result<PayOutcome, ControlError> {
        super::control_call(
            self.http
                .post(self.url(&format!("/invoices/{invoice_id}/pay")))
                .json(plan),
        )
        .await
    }

    /// Moves a payment to another status (failed, expired, refunded...) and sends its IPN.
    pub async fn set_status(&self, payment_id: u64, status: &str) -> Result<SentIpn, ControlError> {
        super::control_call(
            self.http
                .post(self.url(&format!("/payments/{payment_id}/status")))
                .json(&json!({"status": status})),
        )
        .await
    }

    /// Sends the payment's last IPN again, byte for byte.
    pub async fn replay(&self, payment_id: u64) -> Result<SentIpn, ControlError> {
        super::control_call(
            self.http
                .post(self.url(&format!("/payments/{payment_id}/replay"))),
        )
        .await
    }

    /// Sends the payment's last IPN with a wrong signature.
    pub async fn send_bad_signature(&self, payment_id: u64) -> Result<SentIpn, ControlError> {
        super::control_call(
            self.http
                .post(self.url(&format!("/payments/{payment_id}/bad_signature")))
                .json(&json!({})),
        )
        .await
    }

    /// Sends the payment's last IPN without the signature header.
    pub async fn send_unsigned(&self, payment_id: u64) -> Result<SentIpn, ControlError> {
        super::control_call(
            self.http
                .post(self.url(&format!("/payments/{payment_id}/bad_signature")))
                .json(&json!({"missing": true})),
        )
        .await
    }

    /// The invoice and its payments: `{"invoice": {...}, "payments": [...]}`.
    pub async fn invoice(&self, invoice_id: &str) -> Result<Value, ControlError> {
        super::control_call(self.http.get(self.url(&format!("/invoices/{invoice_id}")))).await
    }

    /// Every IPN sent, in order.
    pub async fn ipns(&self) -> Result<Vec<SentIpn>, ControlError> {
        #[derive(Deserialize)]
        struct List {
            ipns: Vec<SentIpn>,
        }
        let list: List = super::control_call(self.http.get(self.url("/ipns"))).await?;
        Ok(list.ipns)
    }
}
