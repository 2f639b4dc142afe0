//! The HTTP client the gateways share: timeouts, loopback without proxies, JSON bodies.

use std::time::Duration;

use serde_json::Value;

use super::PaymentError;

/// How long one call to a provider may take.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// A client for one provider at `base_url`. Proxies are skipped for loopback (the sandbox).
pub(crate) fn client(
    provider: &'static str,
    base_url: &url::Url,
    timeout: Duration,
) -> Result<reqwest::Client, PaymentError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout);
    if is_loopback(base_url) {
        builder = builder.no_proxy();
    }
    builder
        .build()
        .map_err(|e| PaymentError::Config(format!("{provider} HTTP client: {e}")))
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

/// Parses a base URL from configuration ("https://payment.zarinpal.com").
pub(crate) fn base_url(provider: &'static str, raw: &str) -> Result<url::Url, PaymentError> {
    let url = url::Url::parse(raw.trim().trim_end_matches('/'))
        .map_err(|e| PaymentError::Config(format!("{provider} base URL \"{raw}\": {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(PaymentError::Config(format!(
            "{provider} base URL \"{raw}\" must start with https://"
        )));
    }
    Ok(url)
}

/// `base` + `path` ("/pg/v4/payment/request.json").
pub(crate) fn join(base: &url::Url, path: &str) -> String {
    format!("{}{path}", base.as_str().trim_end_matches('/'))
}

/// Sends a request and reads its JSON body whatever the HTTP status (providers put their
/// error codes in the body). Retries network failures `retries` times when the call is safe
/// to repeat.
pub(crate) async fn send_json(
    provider: &'static str,
    make: impl Fn() -> reqwest::RequestBuilder,
    retries: u32,
) -> Result<(u16, Value), PaymentError> {
    let mut attempt = 0;
    loop {
        match make().send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| PaymentError::Unreachable {
                        provider,
                        detail: e.to_string(),
                    })?;
                let body =
                    serde_json::from_slice(&bytes).map_err(|e| PaymentError::BadResponse {
                        provider,
                        detail: format!("HTTP {status}, body is not JSON: {e}"),
                    })?;
                return Ok((status, body));
            }
            Err(e) if attempt < retries => {
                attempt += 1;
                tracing::warn!(provider, attempt, error = %e, "payment provider call failed, retrying");
                tokio::time::sleep(Duration::from_millis(300 * u64::from(attempt))).await;
            }
            Err(e) => {
                return Err(PaymentError::Unreachable {
                    provider,
                    detail: e.to_string(),
                })
            }
        }
    }
}
