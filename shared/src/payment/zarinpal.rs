//! Zarinpal payment gateway, API v4.
//!
//! The flow: `POST {base}/pg/v4/payment/request.json` gives an `authority`; the buyer is sent
//! to `{base}/pg/StartPay/{authority}`; Zarinpal sends the buyer back to our `callback_url`
//! with `?Authority=...&Status=OK|NOK`; we then `POST {base}/pg/v4/payment/verify.json` with
//! the same amount. Verify answers code 100 the first time and 101 ("already verified") after,
//! so verifying again is safe. A callback's `Status=OK` proves nothing: only verify does.

use std::time::Duration;

use serde_json::{json, Value};

use crate::money::{Currency, Money};
use crate::secret::SecretString;

use super::http;
use super::{Checkout, Gateway, Method, PaymentError, PaymentRequest, PendingPayment, Verdict};

const PROVIDER: &str = "Zarinpal";

/// Zarinpal's production API and payment pages.
pub const PRODUCTION_BASE_URL: &str = "https://payment.zarinpal.com";
/// Zarinpal's sandbox (test merchants, no real money).
pub const SANDBOX_BASE_URL: &str = "https://sandbox.zarinpal.com";

/// Verify: the payment is confirmed now.
pub const CODE_VERIFIED: i64 = 100;
/// Verify: the payment had already been confirmed by an earlier verify.
pub const CODE_ALREADY_VERIFIED: i64 = 101;
/// Verify: the amount sent differs from the amount of the payment request.
pub const CODE_AMOUNT_MISMATCH: i64 = -50;
/// Verify: the buyer did not pay (failed, cancelled or never finished).
pub const CODE_NOT_PAID: i64 = -51;
/// The authority belongs to another merchant.
pub const CODE_OTHER_MERCHANT: i64 = -53;
/// The authority is unknown.
pub const CODE_INVALID_AUTHORITY: i64 = -54;

/// The unit `amount` is sent in. Rial is Zarinpal's default; Toman needs `currency: "IRT"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AmountUnit {
    /// Rials (1 Toman = 10 Rials), sent as `currency: "IRR"`.
    #[default]
    Rial,
    /// Toman, sent as `currency: "IRT"`.
    Toman,
}

impl AmountUnit {
    pub fn code(self) -> &'static str {
        match self {
            AmountUnit::Rial => "IRR",
            AmountUnit::Toman => "IRT",
        }
    }

    /// The number Zarinpal expects for a Toman amount.
    fn amount(self, toman: Money) -> Result<i64, PaymentError> {
        let factor = match self {
            AmountUnit::Rial => 10,
            AmountUnit::Toman => 1,
        };
        toman
            .minor()
            .checked_mul(factor)
            .ok_or_else(|| PaymentError::InvalidRequest("the amount is too large".into()))
    }
}

/// How to reach Zarinpal. `Debug` hides the merchant id.
#[derive(Debug, Clone)]
pub struct ZarinpalConfig {
    /// The 36-character merchant id (a UUID) from the Zarinpal panel.
    pub merchant_id: SecretString,
    /// [`PRODUCTION_BASE_URL`], [`SANDBOX_BASE_URL`] or the local fake.
    pub base_url: String,
    pub unit: AmountUnit,
    pub timeout: Duration,
}

impl ZarinpalConfig {
    pub fn new(merchant_id: SecretString, base_url: impl Into<String>) -> ZarinpalConfig {
        ZarinpalConfig {
            merchant_id,
            base_url: base_url.into(),
            unit: AmountUnit::default(),
            timeout: http::DEFAULT_TIMEOUT,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ZarinpalGateway {
    merchant_id: SecretString,
    base: url::Url,
    unit: AmountUnit,
    http: reqwest::Client,
}

impl ZarinpalGateway {
    pub fn new(config: ZarinpalConfig) -> Result<ZarinpalGateway, PaymentError> {
        let base = http::base_url(PROVIDER, &config.base_url)?;
        if config.merchant_id.expose().trim().len() != 36 {
            return Err(PaymentError::Config(
                "the Zarinpal merchant id must be the 36-character code from the Zarinpal panel"
                    .into(),
            ));
        }
        Ok(ZarinpalGateway {
            http: http::client(PROVIDER, &base, config.timeout)?,
            merchant_id: config.merchant_id,
            base,
            unit: config.unit,
        })
    }

    /// Where to send the buyer to pay: `{base}/pg/StartPay/{authority}`.
    pub fn start_pay_url(&self, authority: &str) -> String {
        http::join(&self.base, &format!("/pg/StartPay/{authority}"))
    }

    async fn call(&self, path: &str, body: &Value, retries: u32) -> Result<Value, PaymentError> {
        let url = http::join(&self.base, path);
        let (_status, body) = http::send_json(
            PROVIDER,
            || {
                self.http
                    .post(&url)
                    .header("accept", "application/json")
                    .json(body)
            },
            retries,
        )
        .await?;
        Ok(body)
    }
}

/// `data` when Zarinpal answered with a code, else the error from `errors`.
/// Zarinpal sends `{"data": {...}, "errors": []}` on success and
/// `{"data": [], "errors": {"code": -9, "message": "...", "validations": [...]}}` on failure.
fn read_answer(body: &Value) -> Result<(i64, &Value), PaymentError> {
    let errors = &body["errors"];
    if let Some(code) = errors.get("code").and_then(as_code) {
        let mut message = errors["message"].as_str().unwrap_or("").to_string();
        if let Some(validations) = errors.get("validations").filter(|v| !is_empty(v)) {
            message = format!("{message} {validations}");
        }
        return Err(PaymentError::Provider {
            provider: PROVIDER,
            code,
            message,
        });
    }
    let data = &body["data"];
    match data.get("code").and_then(as_code) {
        Some(code) => Ok((code, data)),
        None => Err(PaymentError::BadResponse {
            provider: PROVIDER,
            detail: format!("no code in the answer: {body}"),
        }),
    }
}

/// Zarinpal writes codes as numbers, sometimes as strings ("100").
fn as_code(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[async_trait::async_trait]
impl Gateway for ZarinpalGateway {
    fn method(&self) -> Method {
        Method::Zarinpal
    }

    async fn start(&self, request: &PaymentRequest) -> Result<Checkout, PaymentError> {
        super::check_request(request)?;
        super::require_currency(Method::Zarinpal, request.amount, Currency::Toman)?;
        let callback_url = request.return_url.as_deref().ok_or_else(|| {
            PaymentError::InvalidRequest("Zarinpal needs a return URL (its callback_url)".into())
        })?;
        let description: String = request.description.chars().take(500).collect();
        if description.trim().is_empty() {
            return Err(PaymentError::InvalidRequest(
                "Zarinpal needs a description of the payment".into(),
            ));
        }
        let mut metadata = json!({ "order_id": request.invoice_id });
        if let Some(mobile) = &request.mobile {
            metadata["mobile"] = json!(mobile);
        }
        if let Some(email) = &request.email {
            metadata["email"] = json!(email);
        }
        let body = json!({
            "merchant_id": self.merchant_id.expose(),
            "amount": self.unit.amount(request.amount)?,
            "currency": self.unit.code(),
            "description": description,
            "callback_url": callback_url,
            "metadata": metadata,
        });
        // Not retried: each request makes a new authority.
        let answer = self.call("/pg/v4/payment/request.json", &body, 0).await?;
        let (code, data) = read_answer(&answer)?;
        let authority = data["authority"].as_str().unwrap_or("");
        if code != CODE_VERIFIED || authority.is_empty() {
            return Err(PaymentError::BadResponse {
                provider: PROVIDER,
                detail: format!("code {code} without an authority"),
            });
        }
        Ok(Checkout::Redirect {
            url: self.start_pay_url(authority),
            provider_ref: authority.to_string(),
        })
    }

    async fn verify(&self, payment: &PendingPayment) -> Result<Verdict, PaymentError> {
        super::require_currency(Method::Zarinpal, payment.amount, Currency::Toman)?;
        let authority = payment.provider_ref.as_deref().ok_or_else(|| {
            PaymentError::InvalidRequest("verifying a Zarinpal payment needs its authority".into())
        })?;
        let body = json!({
            "merchant_id": self.merchant_id.expose(),
            "amount": self.unit.amount(payment.amount)?,
            "authority": authority,
        });
        // Verify is idempotent (100 then 101), so network failures are retried.
        let answer = self.call("/pg/v4/payment/verify.json", &body, 2).await?;
        match read_answer(&answer) {
            Ok((code @ (CODE_VERIFIED | CODE_ALREADY_VERIFIED), data)) => Ok(Verdict::Paid {
                provider_ref: authority.to_string(),
                amount: payment.amount,
                already_verified: code == CODE_ALREADY_VERIFIED,
                reference: text(&data["ref_id"]),
            }),
            Ok((code, data)) => Err(PaymentError::Provider {
                provider: PROVIDER,
                code,
                message: data["message"].as_str().unwrap_or("").to_string(),
            }),
            Err(PaymentError::Provider { code, .. }) if code == CODE_AMOUNT_MISMATCH => {
                Ok(Verdict::Mismatch {
                    provider_ref: authority.to_string(),
                    expected: payment.amount,
                    got: None,
                })
            }
            Err(PaymentError::Provider { code, message, .. }) if code == CODE_NOT_PAID => {
                Ok(Verdict::Failed {
                    reason: format!("the buyer did not pay ({message})"),
                })
            }
            Err(e) => Err(e),
        }
    }
}

/// What the buyer's browser brings back to our `callback_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZarinpalCallback {
    pub authority: String,
    /// `Status=OK`: the buyer says they paid (verify before believing it). `NOK`: they did not.
    pub status_ok: bool,
}

/// Parses the callback's query string (`Authority=...&Status=OK`, with or without a leading
/// `?`). Changes nothing; call [`Gateway::verify`] next when `status_ok`.
pub fn parse_callback(query: &str) -> Result<ZarinpalCallback, PaymentError> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut authority = None;
    let mut status = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "Authority" => authority = Some(value.into_owned()),
            "Status" => status = Some(value.into_owned()),
            _ => {}
        }
    }
    let authority = authority.filter(|a| !a.is_empty()).ok_or_else(|| {
        PaymentError::BadCallback("the Zarinpal callback has no Authority".into())
    })?;
    if authority.len() > 64 || !authority.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(PaymentError::BadCallback(
            "the Zarinpal callback's Authority is malformed".into(),
        ));
    }
    let status_ok = match status.as_deref() {
        Some("OK") => true,
        Some("NOK") => false,
        Some(other) => {
            return Err(PaymentError::BadCallback(format!(
                "the Zarinpal callback's Status is {other:?}, not OK or NOK"
            )))
        }
        None => {
            return Err(PaymentError::BadCallback(
                "the Zarinpal callback has no Status".into(),
            ))
        }
    };
    Ok(ZarinpalCallback {
        authority,
        status_ok,
    })
}
