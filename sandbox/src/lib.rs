//! A local stand-in for the Telegram Bot API.
//!
//! Telegram cannot be reached from here, so this crate serves the Bot API over HTTP
//! (`/bot<token>/<method>`, `/file/bot<token>/<path>`) with Telegram's rules and errors,
//! plus a control API (`/sandbox/...`) through which tests and people act as Telegram
//! users, and a small chat web page (`/`).

pub mod bot_api;
pub mod client;
pub mod control;
pub mod entities;
pub mod files;
pub mod gateways;
pub mod keyboards;
pub mod limits;
pub mod page;
pub mod panels;
pub mod smtp;
pub mod state;
pub mod webhook;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::watch;

pub use state::{AppState, Shared};

/// How fast bots may send messages before they get 429 "Too Many Requests".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Messages per second one bot may send across all chats.
    pub per_bot_per_second: u32,
    /// Messages per second one bot may send to one private chat (a small burst is allowed).
    pub per_private_chat_per_second: u32,
    /// Messages per minute one bot may send to one group or channel.
    pub per_group_per_minute: u32,
}

impl Default for RateLimits {
    /// Telegram's published limits.
    fn default() -> Self {
        RateLimits {
            per_bot_per_second: 30,
            per_private_chat_per_second: 1,
            per_group_per_minute: 20,
        }
    }
}

impl RateLimits {
    /// Limits so high that ordinary tests never meet them.
    pub fn generous() -> Self {
        RateLimits {
            per_bot_per_second: 100_000,
            per_private_chat_per_second: 100_000,
            per_group_per_minute: 1_000_000,
        }
    }
}

/// How the sandbox behaves; `Default` is Telegram-like, `fast_for_tests` is quick.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub limits: RateLimits,
    /// First wait before a failed webhook delivery is retried; doubles up to 32x.
    pub webhook_retry_base: Duration,
    /// How long one webhook POST may take before it counts as failed.
    pub webhook_timeout: Duration,
    /// How long a bot has to answer a pre_checkout_query (Telegram: 10 s).
    pub pre_checkout_timeout: Duration,
    /// Longest getUpdates long poll accepted (Telegram caps it too).
    pub max_poll_timeout: Duration,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            limits: RateLimits::default(),
            webhook_retry_base: Duration::from_secs(1),
            webhook_timeout: Duration::from_secs(10),
            pre_checkout_timeout: Duration::from_secs(10),
            max_poll_timeout: Duration::from_secs(50),
        }
    }
}

impl SandboxOptions {
    /// Generous rate limits and quick retries, for tests.
    pub fn fast_for_tests() -> Self {
        SandboxOptions {
            limits: RateLimits::generous(),
            webhook_retry_base: Duration::from_millis(20),
            webhook_timeout: Duration::from_secs(2),
            pre_checkout_timeout: Duration::from_secs(3),
            max_poll_timeout: Duration::from_secs(50),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the sandbox may only listen on a loopback address, not {0}")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running sandbox server.
pub struct Sandbox {
    shared: AppState,
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

impl Sandbox {
    /// Starts serving on `addr` (a loopback address; port 0 picks a free port).
    pub async fn start(addr: SocketAddr, options: SandboxOptions) -> Result<Sandbox, SandboxError> {
        if !addr.ip().is_loopback() {
            return Err(SandboxError::NotLoopback(addr));
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let shared = Shared::new(options);
        let app = router(shared.clone());
        let (stop, mut stop_rx) = watch::channel(false);
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop_rx.wait_for(|stopped| *stopped).await;
            };
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(%error, "sandbox server stopped");
            }
        });
        tracing::info!(%local_addr, "sandbox listening");
        Ok(Sandbox {
            shared,
            local_addr,
            stop,
            server,
        })
    }

    /// The root URL, e.g. `http://127.0.0.1:8081` (no trailing slash); also the Bot API root.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The shared state, for in-process inspection.
    pub fn state(&self) -> &AppState {
        &self.shared
    }

    /// Stops the server: ends long polls and webhook deliveries, then waits for it.
    pub async fn shutdown(self) {
        self.shared.begin_shutdown();
        let _ = self.stop.send(true);
        let _ = self.server.await;
    }
}

/// The whole HTTP surface: Bot API, control API and the chat page.
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .merge(control::routes())
        .merge(page::routes())
        .fallback(bot_api::handle)
        .layer(axum::extract::DefaultBodyLimit::max(60 * 1024 * 1024))
        .with_state(state)
}
