//! What both fake panels share: the fault switches (down, slow, fail the next calls), the
//! `/_sandbox/...` control routes, serving on loopback, and small generators.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// Why a fake panel could not start.
#[derive(Debug, thiserror::Error)]
pub enum FakePanelError {
    #[error("a fake panel may only listen on a loopback address, not {0}")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid fake panel options: {0}")]
    Options(String),
}

/// An account as a fake panel stores it, in the panel's own units, for test invariants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FakeAccount {
    pub username: String,
    pub used_bytes: u64,
    /// Marzban `data_limit` / 3x-UI `totalGB`: bytes, 0 = unlimited.
    pub limit_bytes: u64,
    /// Marzban `expire` in unix seconds; 3x-UI `expiryTime` in unix milliseconds. 0 = never.
    pub expire: i64,
    /// The panel's status word after recomputation (Marzban: active, disabled, limited,
    /// expired, on_hold; 3x-UI: enabled or disabled).
    pub status: String,
    /// Marzban: the subscription token; 3x-UI: `subId`.
    pub sub_id: String,
    /// The proxy credential (a UUID) of the account's first proxy.
    pub credential: String,
    /// Marzban: inbound tags; 3x-UI: inbound ids.
    pub inbounds: Vec<String>,
    pub note: String,
    /// 3x-UI `limitIp`; 0 on Marzban.
    pub ip_limit: u32,
}

/// A request to fail the next `count` calls of a path (and method, when given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailRule {
    pub path: String,
    #[serde(default)]
    pub method: Option<String>,
    pub status: u16,
    pub count: u32,
}

/// Many accounts at once, for benchmarks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedRequest {
    pub prefix: String,
    pub count: u32,
    #[serde(default)]
    pub limit_bytes: u64,
    #[serde(default)]
    pub used_bytes: u64,
}

#[derive(Debug, Default)]
struct FaultState {
    down: bool,
    delay: Duration,
    fail: Vec<FailRule>,
}

/// The switches tests flip to make a panel misbehave.
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<FaultState>,
}

impl Faults {
    fn lock(&self) -> MutexGuard<'_, FaultState> {
        // A panic while holding this lock cannot leave the state half-changed.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    pub fn fail_next(&self, rule: FailRule) {
        self.lock().fail.push(rule);
    }

    /// What to do with a request: a status to answer instead, and a delay first.
    fn decide(&self, method: &str, path: &str) -> (Option<StatusCode>, Duration) {
        let mut state = self.lock();
        let delay = state.delay;
        if state.down {
            return (Some(StatusCode::SERVICE_UNAVAILABLE), delay);
        }
        let hit = state.fail.iter_mut().find(|rule| {
            rule.count > 0
                && rule.path == path
                && rule
                    .method
                    .as_deref()
                    .is_none_or(|wanted| wanted.eq_ignore_ascii_case(method))
        });
        let status = hit.map(|rule| {
            rule.count -= 1;
            StatusCode::from_u16(rule.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        });
        state.fail.retain(|rule| rule.count > 0);
        (status, delay)
    }
}

/// What the control routes need from a fake panel.
pub trait ControlTarget: Send + Sync + 'static {
    fn faults(&self) -> &Faults;
    /// Adds used traffic (and marks the account online); false if there is no such account.
    fn add_traffic(&self, username: &str, bytes: u64) -> bool;
    fn accounts(&self) -> Vec<FakeAccount>;
    /// Forgets every token or session, as a restart or token expiry would.
    fn expire_sessions(&self);
    fn seed(&self, request: &SeedRequest) -> u32;
}

/// Middleware for the panel's own routes: down, slow, and injected failures.
pub async fn apply_faults<T: ControlTarget>(
    State(target): State<Arc<T>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    if path.starts_with("/_sandbox/") {
        return next.run(request).await;
    }
    let (fail, delay) = target.faults().decide(request.method().as_str(), &path);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match fail {
        Some(status) => (status, format!("injected failure: {status}")).into_response(),
        None => next.run(request).await,
    }
}

#[derive(Deserialize)]
struct TrafficBody {
    username: String,
    bytes: u64,
}

#[derive(Deserialize)]
struct DownBody {
    down: bool,
}

#[derive(Deserialize)]
struct SlowBody {
    delay_ms: u64,
}

/// `/_sandbox/...`: traffic, down, slow, fail, accounts, expire-sessions, seed.
pub fn control_routes<T: ControlTarget>() -> Router<Arc<T>> {
    Router::new()
        .route("/_sandbox/traffic", post(traffic::<T>))
        .route("/_sandbox/down", post(down::<T>))
        .route("/_sandbox/slow", post(slow::<T>))
        .route("/_sandbox/fail", post(fail::<T>))
        .route("/_sandbox/accounts", get(accounts::<T>))
        .route("/_sandbox/expire-sessions", post(expire_sessions::<T>))
        .route("/_sandbox/seed", post(seed::<T>))
}

async fn traffic<T: ControlTarget>(
    State(target): State<Arc<T>>,
    Json(body): Json<TrafficBody>,
) -> Response {
    if target.add_traffic(&body.username, body.bytes) {
        Json(serde_json::json!({ "ok": true })).into_response()
    } else {
        (StatusCode::NOT_FOUND, "no such account").into_response()
    }
}

async fn down<T: ControlTarget>(
    State(target): State<Arc<T>>,
    Json(body): Json<DownBody>,
) -> Response {
    target.faults().set_down(body.down);
    Json(serde_json::json!({ "ok": true })).into_response()
}

async fn slow<T: ControlTarget>(
    State(target): State<Arc<T>>,
    Json(body): Json<SlowBody>,
) -> Response {
    target
        .faults()
        .set_delay(Duration::from_millis(body.delay_ms));
    Json(serde_json::json!({ "ok": true })).into_response()
}

async fn fail<T: ControlTarget>(
    State(target): State<Arc<T>>,
    Json(rule): Json<FailRule>,
) -> Response {
    target.faults().fail_next(rule);
    Json(serde_json::json!({ "ok": true })).into_response()
}

async fn accounts<T: ControlTarget>(State(target): State<Arc<T>>) -> Json<Vec<FakeAccount>> {
    Json(target.accounts())
}

async fn expire_sessions<T: ControlTarget>(State(target): State<Arc<T>>) -> Response {
    target.expire_sessions();
    Json(serde_json::json!({ "ok": true })).into_response()
}

async fn seed<T: ControlTarget>(
    State(target): State<Arc<T>>,
    Json(request): Json<SeedRequest>,
) -> Response {
    let created = target.seed(&request);
    Json(serde_json::json!({ "created": created })).into_response()
}

/// A server listening on a loopback address. It can stop listening and start again on the
/// same address, so that callers meet refused connections in between.
pub struct Served {
    pub local_addr: SocketAddr,
    app: Router,
    running: Option<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>,
}

impl Served {
    pub async fn start(addr: SocketAddr, app: Router) -> Result<Served, FakePanelError> {
        if !addr.ip().is_loopback() {
            return Err(FakePanelError::NotLoopback(addr));
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| FakePanelError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| FakePanelError::Bind { addr, source })?;
        Ok(Served {
            local_addr,
            running: Some(spawn(listener, app.clone())),
            app,
        })
    }

    /// Stops listening (connections are refused) until [`Served::resume`].
    pub async fn pause(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(true);
            let _ = task.await;
        }
    }

    /// Listens again on the same address.
    pub async fn resume(&mut self) -> Result<(), FakePanelError> {
        if self.running.is_none() {
            let addr = self.local_addr;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| FakePanelError::Bind { addr, source })?;
            self.running = Some(spawn(listener, self.app.clone()));
        }
        Ok(())
    }

    pub async fn shutdown(mut self) {
        self.pause().await;
    }
}

fn spawn(
    listener: tokio::net::TcpListener,
    app: Router,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (stop, mut stop_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop_rx.wait_for(|stopped| *stopped).await;
        };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(%error, "fake panel server stopped");
        }
    });
    (stop, task)
}

/// A random version-4 UUID, as panels generate for proxy credentials.
pub fn new_uuid() -> String {
    let mut bytes: [u8; 16] = rand::thread_rng().gen();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `len` random lowercase letters and digits.
pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or_default()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}

/// Unix seconds as Marzban writes datetimes: naive UTC, `2023-11-03T20:30:00`.
pub fn naive_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The `subscription-userinfo` header both panels send with a subscription.
pub fn userinfo_header(upload: u64, download: u64, total: u64, expire_secs: i64) -> String {
    format!("upload={upload}; download={download}; total={total}; expire={expire_secs}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_utc_formats_known_instants() {
        assert_eq!(naive_utc(0), "1970-01-01T00:00:00");
        assert_eq!(naive_utc(1_699_043_400), "2023-11-03T20:30:00");
        assert_eq!(naive_utc(951_782_400), "2000-02-29T00:00:00");
    }

    #[test]
    fn uuids_look_like_v4() {
        let id = new_uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_uuid());
    }

    #[test]
    fn fail_rules_count_down() {
        let faults = Faults::default();
        faults.fail_next(FailRule {
            path: "/api/user".into(),
            method: Some("POST".into()),
            status: 500,
            count: 2,
        });
        assert_eq!(faults.decide("GET", "/api/user").0, None);
        assert_eq!(
            faults.decide("POST", "/api/user").0,
            Some(StatusCode::INTERNAL_SERVER_ERROR)
        );
        assert!(faults.decide("post", "/api/user").0.is_some());
        assert_eq!(faults.decide("POST", "/api/user").0, None);
    }
}
