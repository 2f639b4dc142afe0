//! The HTTP plumbing both clients share: a policy-checked reqwest client, error
//! classification, and bounded retries for requests that are safe to repeat.

use std::error::Error as _;
use std::future::Future;
use std::sync::Arc;

use super::error::PanelError;
use super::network::{NetworkPolicy, PolicyResolver, RefusedByPolicy};
use super::types::PanelOptions;

/// Longest error text from a panel that is kept in an error message.
const MAX_MESSAGE_CHARS: usize = 300;

/// Whether a request may be sent again after a failure that may have reached the panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Reads, and writes that set absolute values or are keyed by the username.
    Safe,
    /// Writes whose repetition would change the result (a second revoke, ...).
    Once,
}

#[derive(Debug, Clone)]
pub(crate) struct PanelHttp {
    pub(crate) client: reqwest::Client,
    options: PanelOptions,
}

impl PanelHttp {
    /// A client that resolves names through the policy, never follows redirects (a redirect
    /// could point anywhere), ignores proxy variables and keeps cookies when asked.
    pub(crate) fn new(
        policy: Arc<NetworkPolicy>,
        options: &PanelOptions,
        cookies: bool,
    ) -> Result<PanelHttp, PanelError> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(PolicyResolver::new(policy)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .cookie_store(cookies)
            .timeout(options.request_timeout)
            .connect_timeout(options.connect_timeout)
            .user_agent(concat!("Madar/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| {
                PanelError::Unexpected(format!("cannot build HTTP client: {error}"))
            })?;
        Ok(PanelHttp {
            client,
            options: options.clone(),
        })
    }

    /// Sends one request, turning transport failures into [`PanelError`]s.
    pub(crate) async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, PanelError> {
        request.send().await.map_err(classify)
    }

    /// Runs `call` until it succeeds, fails for good, or runs out of attempts; only
    /// [`Retry::Safe`] calls are repeated, and only after transient failures.
    pub(crate) async fn retrying<T, F, Fut>(
        &self,
        retry: Retry,
        mut call: F,
    ) -> Result<T, PanelError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, PanelError>>,
    {
        let attempts = match retry {
            Retry::Safe => self.options.attempts.max(1),
            Retry::Once => 1,
        };
        let mut wait = self.options.retry_backoff;
        let mut attempt = 1;
        loop {
            match call().await {
                Err(error) if error.is_transient() && attempt < attempts => {
                    tracing::warn!(%error, attempt, "panel call failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2);
                    attempt += 1;
                }
                result => return result,
            }
        }
    }
}

/// Classifies a transport failure: refused by policy, timeout, TLS, or unreachable.
pub(crate) fn classify(error: reqwest::Error) -> PanelError {
    let mut source = error.source();
    let mut chain = String::new();
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<RefusedByPolicy>() {
            return refused.0.clone();
        }
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    if error.is_timeout() {
        return PanelError::Timeout;
    }
    let lower = chain.to_ascii_lowercase();
    if lower.contains("certificate")
        || lower.contains("tls")
        || lower.contains("handshake")
        || lower.contains("invalidcontenttype")
    {
        return PanelError::BadTls(shorten(chain.trim_start_matches(": ")));
    }
    let what = if chain.is_empty() {
        error.to_string()
    } else {
        chain.trim_start_matches(": ").to_string()
    };
    PanelError::Unreachable(shorten(&what))
}

/// Status codes every panel answers the same way.
pub(crate) fn common_status_error(status: u16, body: &str) -> Option<PanelError> {
    match status {
        // Redirects are not followed: the target could be anywhere.
        300..=399 => Some(PanelError::InvalidUrl(
            "the panel redirects to another address: enter the address it ends up at (often the https:// one)".into(),
        )),
        429 => Some(PanelError::RateLimited),
        502..=504 => Some(PanelError::Unavailable { status }),
        500..=599 => Some(PanelError::Rejected {
            status,
            message: shorten(body),
        }),
        _ => None,
    }
}

pub(crate) async fn read_text(response: reqwest::Response) -> Result<String, PanelError> {
    response.text().await.map_err(classify)
}

/// Cuts panel-provided text to a length fit for a message.
pub(crate) fn shorten(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Unix seconds now.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or_default()
}
