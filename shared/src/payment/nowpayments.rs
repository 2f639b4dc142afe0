//! NowPayments crypto invoices.
//!
//! `POST {base}/v1/invoice` (header `x-api-key`) makes an invoice whose `invoice_url` the buyer
//! opens. Each attempt to pay it is a *payment* with its own `payment_id`; NowPayments posts an
//! IPN to our `ipn_callback_url` at every status change, signed in the `x-nowpayments-sig`
//! header: HMAC-SHA512, hex, of the JSON body re-serialised with its keys sorted, keyed with
//! the IPN secret. `GET {base}/v1/payment/{payment_id}` reads a payment's status.
//!
//! IPNs may repeat and arrive out of order: key them on `payment_id` and never let a later
//! status move a payment backwards ([`PaymentStatus::progress`]).

use std::fmt;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha512;

use crate::money::{Currency, Money};
use crate::secret::SecretString;

use super::{canonical_json, http};
use super::{Checkout, Gateway, Method, PaymentError, PaymentRequest, PendingPayment, Verdict};

const PROVIDER: &str = "NowPayments";

pub const PRODUCTION_BASE_URL: &str = "https://api.nowpayments.io";
pub const SANDBOX_BASE_URL: &str = "https://api-sandbox.nowpayments.io";

/// The header that carries an IPN's signature.
pub const SIGNATURE_HEADER: &str = "x-nowpayments-sig";

/// A payment's status at NowPayments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    Waiting,
    Confirming,
    Confirmed,
    Sending,
    PartiallyPaid,
    Finished,
    Failed,
    Refunded,
    Expired,
    /// A status this code does not know; treated as not paid.
    Other(String),
}

impl PaymentStatus {
    pub fn parse(code: &str) -> PaymentStatus {
        match code {
            "waiting" => PaymentStatus::Waiting,
            "confirming" => PaymentStatus::Confirming,
            "confirmed" => PaymentStatus::Confirmed,
            "sending" => PaymentStatus::Sending,
            "partially_paid" => PaymentStatus::PartiallyPaid,
            "finished" => PaymentStatus::Finished,
            "failed" => PaymentStatus::Failed,
            "refunded" => PaymentStatus::Refunded,
            "expired" => PaymentStatus::Expired,
            other => PaymentStatus::Other(other.to_string()),
        }
    }

    pub fn as_code(&self) -> &str {
        match self {
            PaymentStatus::Waiting => "waiting",
            PaymentStatus::Confirming => "confirming",
            PaymentStatus::Confirmed => "confirmed",
            PaymentStatus::Sending => "sending",
            PaymentStatus::PartiallyPaid => "partially_paid",
            PaymentStatus::Finished => "finished",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Refunded => "refunded",
            PaymentStatus::Expired => "expired",
            PaymentStatus::Other(code) => code,
        }
    }

    /// Paid in full: `finished`, and by our policy already `confirmed` (the blockchain
    /// confirmed the transfer; only the payout to our wallet is left).
    pub fn is_paid(&self) -> bool {
        matches!(self, PaymentStatus::Finished | PaymentStatus::Confirmed)
    }

    /// No further change is expected.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            PaymentStatus::Finished
                | PaymentStatus::Failed
                | PaymentStatus::Refunded
                | PaymentStatus::Expired
                | PaymentStatus::PartiallyPaid
        )
    }

    /// How far along a payment is, to ignore IPNs that arrive late: apply an event only when
    /// its progress is greater than the stored one. Refunded follows everything.
    pub fn progress(&self) -> u8 {
        match self {
            PaymentStatus::Other(_) => 0,
            PaymentStatus::Waiting => 1,
            PaymentStatus::Confirming => 2,
            PaymentStatus::Confirmed => 3,
            PaymentStatus::Sending => 4,
            PaymentStatus::PartiallyPaid
            | PaymentStatus::Finished
            | PaymentStatus::Failed
            | PaymentStatus::Expired => 5,
            PaymentStatus::Refunded => 6,
        }
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_code())
    }
}

/// A payment as an IPN or `GET /v1/payment/{id}` describes it. Amounts are decimal strings
/// as NowPayments wrote them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpnEvent {
    /// Unique per payment: the key to dedupe on.
    pub payment_id: String,
    /// The invoice the payment belongs to, when it was made through one.
    pub invoice_id: Option<String>,
    /// Our invoice id, as sent in `order_id`.
    pub order_id: Option<String>,
    pub status: PaymentStatus,
    /// The price asked, in `price_currency` (fiat, e.g. "4.99" "usd").
    pub price_amount: String,
    pub price_currency: String,
    /// What the buyer was asked to send and did send, in `pay_currency` (crypto).
    pub pay_amount: Option<String>,
    pub actually_paid: Option<String>,
    pub pay_currency: Option<String>,
    /// What arrived, in the price currency, when NowPayments says.
    pub actually_paid_at_fiat: Option<String>,
    pub updated_at: Option<String>,
}

impl IpnEvent {
    fn from_json(value: &Value) -> Result<IpnEvent, PaymentError> {
        let field = |name: &str| decimal_or_text(&value[name]);
        let payment_id = field("payment_id")
            .ok_or_else(|| PaymentError::BadCallback("the IPN has no payment_id".into()))?;
        let status = value["payment_status"]
            .as_str()
            .map(PaymentStatus::parse)
            .ok_or_else(|| PaymentError::BadCallback("the IPN has no payment_status".into()))?;
        Ok(IpnEvent {
            payment_id,
            invoice_id: field("invoice_id"),
            order_id: field("order_id"),
            status,
            price_amount: field("price_amount").unwrap_or_default(),
            price_currency: field("price_currency").unwrap_or_default(),
            pay_amount: field("pay_amount"),
            actually_paid: field("actually_paid"),
            pay_currency: field("pay_currency"),
            actually_paid_at_fiat: field("actually_paid_at_fiat"),
            updated_at: field("updated_at"),
        })
    }

    /// The price as [`Money`], when its currency is one Madar knows and the amount is exact.
    pub fn price(&self) -> Option<Money> {
        to_money(&self.price_amount, &self.price_currency)
    }

    /// What this payment means for `expected` (billing's invoice): checks the order id, the
    /// currency and the amount, then maps the status. Pure: the same event gives the same
    /// verdict, so a replayed IPN can be deduped on `payment_id`.
    pub fn verdict(&self, expected: &PendingPayment) -> Result<Verdict, PaymentError> {
        if let Some(order_id) = &self.order_id {
            if order_id != &expected.invoice_id {
                return Err(PaymentError::WrongInvoice {
                    expected: expected.invoice_id.clone(),
                    got: order_id.clone(),
                });
            }
        }
        let price = self.price();
        if price != Some(expected.amount) {
            return Ok(Verdict::Mismatch {
                provider_ref: self.payment_id.clone(),
                expected: expected.amount,
                got: price,
            });
        }
        Ok(match &self.status {
            status if status.is_paid() => Verdict::Paid {
                provider_ref: self.payment_id.clone(),
                amount: expected.amount,
                already_verified: false,
                reference: Some(self.payment_id.clone()),
            },
            PaymentStatus::PartiallyPaid => Verdict::PartiallyPaid {
                provider_ref: self.payment_id.clone(),
                expected: expected.amount,
                paid: self
                    .actually_paid_at_fiat
                    .as_deref()
                    .and_then(|paid| to_money(paid, &self.price_currency)),
            },
            PaymentStatus::Failed => Verdict::Failed {
                reason: "the crypto payment failed".into(),
            },
            PaymentStatus::Expired => Verdict::Failed {
                reason: "the buyer did not pay before the payment expired".into(),
            },
            PaymentStatus::Refunded => Verdict::Failed {
                reason: "the payment was refunded".into(),
            },
            _ => Verdict::Pending,
        })
    }
}

/// Numbers and strings as text: NowPayments sends ids and amounts as either.
fn decimal_or_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(canonical_json::sorted(&Value::Number(n.clone()))),
        _ => None,
    }
}

fn to_money(amount: &str, currency: &str) -> Option<Money> {
    let currency = Currency::from_code(currency).ok()?;
    Money::parse(amount, currency).ok()
}

/// The HMAC-SHA512 signature, hex, NowPayments puts on `body` (a JSON object).
pub fn sign(body: &Value, ipn_secret: &SecretString) -> Result<String, PaymentError> {
    let mac = mac_of(body, ipn_secret)?;
    Ok(hex::encode(mac.finalize().into_bytes()))
}

fn mac_of(body: &Value, ipn_secret: &SecretString) -> Result<Hmac<Sha512>, PaymentError> {
    let mut mac = Hmac::<Sha512>::new_from_slice(ipn_secret.expose().as_bytes())
        .map_err(|_| PaymentError::Config("the NowPayments IPN secret is unusable".into()))?;
    mac.update(canonical_json::sorted(body).as_bytes());
    Ok(mac)
}

/// Authenticates an IPN and reads it. Changes nothing. An unsigned or badly signed IPN is
/// refused and logged (without the body or the secret).
pub fn verify_ipn(
    body: &[u8],
    signature_header: Option<&str>,
    ipn_secret: &SecretString,
) -> Result<IpnEvent, PaymentError> {
    if ipn_secret.is_empty() {
        return Err(PaymentError::Config(
            "no NowPayments IPN secret is configured".into(),
        ));
    }
    let Some(signature) = signature_header.map(str::trim).filter(|s| !s.is_empty()) else {
        tracing::warn!("NowPayments IPN refused: no {SIGNATURE_HEADER} header");
        return Err(PaymentError::MissingSignature);
    };
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        tracing::warn!(error = %e, "NowPayments IPN refused: the body is not JSON");
        PaymentError::BadCallback(format!("the IPN body is not JSON: {e}"))
    })?;
    if !value.is_object() {
        tracing::warn!("NowPayments IPN refused: the body is not a JSON object");
        return Err(PaymentError::BadCallback(
            "the IPN body is not a JSON object".into(),
        ));
    }
    let signature_ok = hex::decode(signature.to_ascii_lowercase())
        .ok()
        .is_some_and(|expected| {
            mac_of(&value, ipn_secret)
                .map(|mac| mac.verify_slice(&expected).is_ok())
                .unwrap_or(false)
        });
    if !signature_ok {
        tracing::warn!(
            payment_id = %decimal_or_text(&value["payment_id"]).unwrap_or_default(),
            "NowPayments IPN refused: the signature does not match"
        );
        return Err(PaymentError::BadSignature);
    }
    IpnEvent::from_json(&value)
}

/// How to reach NowPayments. `Debug` hides the keys.
#[derive(Debug, Clone)]
pub struct NowPaymentsConfig {
    pub api_key: SecretString,
    /// Used by [`verify_ipn`]; kept here so one value configures the whole gateway.
    pub ipn_secret: SecretString,
    /// [`PRODUCTION_BASE_URL`], [`SANDBOX_BASE_URL`] or the local fake.
    pub base_url: String,
    pub timeout: Duration,
}

impl NowPaymentsConfig {
    pub fn new(
        api_key: SecretString,
        ipn_secret: SecretString,
        base_url: impl Into<String>,
    ) -> NowPaymentsConfig {
        NowPaymentsConfig {
            api_key,
            ipn_secret,
            base_url: base_url.into(),
            timeout: http::DEFAULT_TIMEOUT,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NowPaymentsGateway {
    api_key: SecretString,
    ipn_secret: SecretString,
    base: url::Url,
    http: reqwest::Client,
}

impl NowPaymentsGateway {
    pub fn new(config: NowPaymentsConfig) -> Result<NowPaymentsGateway, PaymentError> {
        let base = http::base_url(PROVIDER, &config.base_url)?;
        if config.api_key.expose().trim().is_empty() {
            return Err(PaymentError::Config(
                "no NowPayments API key is configured".into(),
            ));
        }
        Ok(NowPaymentsGateway {
            http: http::client(PROVIDER, &base, config.timeout)?,
            api_key: config.api_key,
            ipn_secret: config.ipn_secret,
            base,
        })
    }

    /// [`verify_ipn`] with this gateway's IPN secret.
    pub fn verify_ipn(
        &self,
        body: &[u8],
        signature_header: Option<&str>,
    ) -> Result<IpnEvent, PaymentError> {
        verify_ipn(body, signature_header, &self.ipn_secret)
    }

    /// `GET /v1/payment/{payment_id}`.
    pub async fn payment(&self, payment_id: &str) -> Result<IpnEvent, PaymentError> {
        if payment_id.is_empty() || !payment_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(PaymentError::InvalidRequest(format!(
                "\"{payment_id}\" is not a NowPayments payment id"
            )));
        }
        let url = http::join(&self.base, &format!("/v1/payment/{payment_id}"));
        let (status, body) = http::send_json(
            PROVIDER,
            || {
                self.http
                    .get(&url)
                    .header("x-api-key", self.api_key.expose())
            },
            2,
        )
        .await?;
        if !(200..300).contains(&status) {
            return Err(provider_error(status, &body));
        }
        IpnEvent::from_json(&body).map_err(|e| PaymentError::BadResponse {
            provider: PROVIDER,
            detail: e.to_string(),
        })
    }
}

/// NowPayments errors: `{"statusCode": 400, "code": "INVALID_REQUEST_PARAMS", "message": ...}`.
fn provider_error(status: u16, body: &Value) -> PaymentError {
    let code = body["code"].as_str().unwrap_or("");
    let message = body["message"].as_str().unwrap_or("");
    PaymentError::Provider {
        provider: PROVIDER,
        code: i64::from(status),
        message: format!("{code} {message}").trim().to_string(),
    }
}

#[async_trait::async_trait]
impl Gateway for NowPaymentsGateway {
    fn method(&self) -> Method {
        Method::NowPayments
    }

    async fn start(&self, request: &PaymentRequest) -> Result<Checkout, PaymentError> {
        super::check_request(request)?;
        super::require_currency(Method::NowPayments, request.amount, Currency::Usd)?;
        let cents = request.amount.minor();
        let price: Value = serde_json::from_str(&format!("{}.{:02}", cents / 100, cents % 100))
            .map_err(|e| PaymentError::InvalidRequest(e.to_string()))?;
        let mut body = json!({
            "price_amount": price,
            "price_currency": "usd",
            "order_id": request.invoice_id,
            "order_description": request.description,
        });
        if let Some(url) = &request.notify_url {
            body["ipn_callback_url"] = json!(url);
        }
        if let Some(url) = &request.return_url {
            body["success_url"] = json!(url);
            body["cancel_url"] = json!(url);
        }
        let url = http::join(&self.base, "/v1/invoice");
        // Not retried: each call makes a new invoice.
        let (status, answer) = http::send_json(
            PROVIDER,
            || {
                self.http
                    .post(&url)
                    .header("x-api-key", self.api_key.expose())
                    .json(&body)
            },
            0,
        )
        .await?;
        if !(200..300).contains(&status) {
            return Err(provider_error(status, &answer));
        }
        let id = decimal_or_text(&answer["id"]);
        let invoice_url = answer["invoice_url"].as_str();
        match (id, invoice_url) {
            (Some(id), Some(invoice_url)) => Ok(Checkout::Redirect {
                url: invoice_url.to_string(),
                provider_ref: id,
            }),
            _ => Err(PaymentError::BadResponse {
                provider: PROVIDER,
                detail: "the invoice has no id or invoice_url".into(),
            }),
        }
    }

    /// `provider_ref` must be the `payment_id` from an IPN; before any IPN arrived the
    /// invoice has no payment yet and the answer is `Pending`.
    async fn verify(&self, payment: &PendingPayment) -> Result<Verdict, PaymentError> {
        match payment.provider_ref.as_deref() {
            None => Ok(Verdict::Pending),
            Some(payment_id) => self.payment(payment_id).await?.verdict(payment),
        }
    }
}
