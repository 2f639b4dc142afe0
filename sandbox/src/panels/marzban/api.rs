//! The fake Marzban's HTTP API: admin token, users, inbounds and subscriptions.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::super::common::{
    apply_faults, control_routes, new_uuid, now_secs, random_token, userinfo_header,
};
use super::{BaseStatus, MarzbanState, PROTOCOLS};

/// Every route of the fake Marzban, with the fault switches in front.
pub(super) fn router(state: Arc<MarzbanState>) -> Router {
    Router::new()
        .route("/api/admin/token", post(token))
        .route("/api/inbounds", get(inbounds))
        .route("/api/user", post(add_user))
        .route(
            "/api/user/{username}",
            get(get_user).put(modify_user).delete(remove_user),
        )
        .route("/api/user/{username}/reset", post(reset_user))
        .route("/api/user/{username}/revoke_sub", post(revoke_sub))
        .route("/api/users", get(list_users))
        .route("/sub/{token}", get(subscription))
        .route("/sub/{token}/", get(subscription))
        .route("/sub/{token}/info", get(subscription_info))
        .merge(control_routes::<MarzbanState>())
        .fallback(|| async { detail(StatusCode::NOT_FOUND, "Not Found") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            apply_faults::<MarzbanState>,
        ))
        .with_state(state)
}

fn detail(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({ "detail": text }))).into_response()
}

/// FastAPI's 422 body.
fn validation(field: &str, message: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({ "detail": [{ "loc": ["body", field], "msg": message, "type": "value_error" }] })),
    )
        .into_response()
}

/// A refused request body, answered as Marzban does (kept small; turned into a response last).
enum Refusal {
    /// 422 with FastAPI's body.
    Invalid {
        field: &'static str,
        message: String,
    },
    /// 400 with `{"detail": ...}`.
    BadRequest(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Invalid { field, message } => validation(field, &message),
            Refusal::BadRequest(text) => detail(StatusCode::BAD_REQUEST, &text),
        }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> Refusal {
    Refusal::Invalid {
        field,
        message: message.into(),
    }
}

/// Protocol -> credential, and protocol -> inbound tags.
type Proxies = (BTreeMap<String, String>, BTreeMap<String, Vec<String>>);

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(json!({ "detail": "Could not validate credentials" })),
    )
        .into_response()
}

fn authorized(state: &MarzbanState, headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    else {
        return false;
    };
    state.lock().tokens.contains(token.trim())
}

macro_rules! require_auth {
    ($state:expr, $headers:expr) => {
        if !authorized(&$state, &$headers) {
            return unauthorized();
        }
    };
}

fn valid_username(name: &str) -> bool {
    (3..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '@' | '.'))
}

#[derive(Deserialize)]
struct TokenForm {
    username: Option<String>,
    password: Option<String>,
}

async fn token(State(state): State<Arc<MarzbanState>>, Form(form): Form<TokenForm>) -> Response {
    let (Some(username), Some(password)) = (form.username, form.password) else {
        return validation("username", "Field required");
    };
    if username != state.options.admin_user || password != state.options.admin_password {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({ "detail": "Incorrect username or password" })),
        )
            .into_response();
    }
    let token = format!("eyJ{}", random_token(40));
    state.lock().tokens.insert(token.clone());
    Json(json!({ "access_token": token, "token_type": "bearer" })).into_response()
}

async fn inbounds(State(state): State<Arc<MarzbanState>>, headers: HeaderMap) -> Response {
    require_auth!(state, headers);
    let mut grouped: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for inbound in &state.options.inbounds {
        grouped
            .entry(inbound.protocol.clone())
            .or_default()
            .push(json!({
                "tag": inbound.tag,
                "protocol": inbound.protocol,
                "network": "tcp",
                "tls": "none",
                "port": inbound.port,
            }));
    }
    Json(grouped).into_response()
}

/// Reads `proxies` and `inbounds` as Marzban does: a protocol listed in `inbounds` with no
/// tags gets every inbound of that protocol; without the `inbounds` key, none.
fn read_proxies(state: &MarzbanState, body: &Map<String, Value>) -> Result<Proxies, Refusal> {
    let Some(proxies) = body.get("proxies").and_then(Value::as_object) else {
        return Err(invalid("proxies", "Each user needs at least one proxy"));
    };
    if proxies.is_empty() {
        return Err(invalid("proxies", "Each user needs at least one proxy"));
    }
    let mut credentials = BTreeMap::new();
    for (protocol, settings) in proxies {
        if !PROTOCOLS.contains(&protocol.as_str()) {
            return Err(invalid("proxies", format!("unknown proxy type {protocol}")));
        }
        let given = settings
            .get("id")
            .or_else(|| settings.get("password"))
            .and_then(Value::as_str)
            .map(str::to_string);
        credentials.insert(protocol.clone(), given.unwrap_or_else(new_uuid));
    }
    let mut inbounds = BTreeMap::new();
    if let Some(requested) = body.get("inbounds") {
        let Some(requested) = requested.as_object() else {
            return Err(invalid("inbounds", "Input should be a valid dictionary"));
        };
        for protocol in credentials.keys() {
            let tags: Vec<String> = requested
                .get(protocol)
                .and_then(Value::as_array)
                .map(|tags| {
                    tags.iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            for tag in &tags {
                if !state.tags_of(protocol).contains(tag) {
                    return Err(Refusal::BadRequest(format!("Inbound {tag} doesn't exist")));
                }
            }
            let tags = if tags.is_empty() {
                state.tags_of(protocol)
            } else {
                tags
            };
            inbounds.insert(protocol.clone(), tags);
        }
    }
    Ok((credentials, inbounds))
}

/// `expire` / `data_limit`: a non-negative integer or null (null and 0 mean none).
fn read_amount(body: &Map<String, Value>, field: &'static str) -> Result<Option<i64>, Refusal> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(0)),
        Some(value) => match value.as_i64() {
            Some(amount) if amount >= 0 => Ok(Some(amount)),
            _ => Err(invalid(field, format!("{field} can be 0 or greater"))),
        },
    }
}

async fn add_user(
    State(state): State<Arc<MarzbanState>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    require_auth!(state, headers);
    let Some(body) = body.as_object() else {
        return validation("body", "Input should be a valid dictionary");
    };
    let username = body
        .get("username")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !valid_username(username) {
        return validation(
            "username",
            "Username only can be 3 to 32 characters and contain a-z, 0-9, and underscores in between.",
        );
    }
    let (proxies, inbounds) = match read_proxies(&state, body) {
        Ok(read) => read,
        Err(refusal) => return refusal.into_response(),
    };
    let (expire, data_limit) = match (read_amount(body, "expire"), read_amount(body, "data_limit"))
    {
        (Ok(expire), Ok(limit)) => (expire.unwrap_or(0), limit.unwrap_or(0)),
        (Err(refusal), _) | (_, Err(refusal)) => return refusal.into_response(),
    };
    let base = match body.get("status").and_then(Value::as_str) {
        None | Some("active") => BaseStatus::Active,
        Some("on_hold") => BaseStatus::OnHold,
        Some(_) => return validation("status", "Input should be 'active' or 'on_hold'"),
    };
    let mut user = state.new_user(username.to_string(), proxies, inbounds);
    user.base = base;
    user.expire = expire;
    user.data_limit = data_limit as u64;
    user.on_hold_expire_duration = body
        .get("on_hold_expire_duration")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    user.note = body
        .get("note")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut store = state.lock();
    if store.ids.contains_key(username) {
        return detail(StatusCode::CONFLICT, "User already exists");
    }
    let reply = state.user_json(&user, now_secs());
    store.insert(user);
    Json(reply).into_response()
}

async fn get_user(
    State(state): State<Arc<MarzbanState>>,
    headers: HeaderMap,
    Path(username): Path<String>,
) -> Response {
    require_auth!(state, headers);
    let store = state.lock();
    match store.user(&username) {
        Some(user) => Json(state.user_json(user, now_secs())).into_response(),
        None => detail(StatusCode::NOT_FOUND, "User not found"),
    }
}

async fn modify_user(
    State(state): State<Arc<MarzbanState>>,
    headers: HeaderMap,
    Path(username): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    require_auth!(state, headers);
    let Some(body) = body.as_object() else {
        return validation("body", "Input should be a valid dictionary");
    };
    let (expire, data_limit) = match (read_amount(body, "expire"), read_amount(body, "data_limit"))
    {
        (Ok(expire), Ok(limit)) => (expire, limit),
        (Err(refusal), _) | (_, Err(refusal)) => return refusal.into_response(),
    };
    let base = match body.get("status").and_then(Value::as_str) {
        None => None,
        Some("active") => Some(BaseStatus::Active),
        Some("disabled") => Some(BaseStatus::Disabled),
        Some("on_hold") => Some(BaseStatus::OnHold),
        Some(_) => {
            return validation(
                "status",
                "Input should be 'active', 'disabled' or 'on_hold'",
            )
        }
    };
    let proxies = if body.contains_key("proxies") {
        match read_proxies(&state, body) {
            Ok(read) => Some(read),
            Err(refusal) => return refusal.into_response(),
        }
    } else {
        None
    };
    let mut store = state.lock();
    let Some(user) = store.user_mut(&username) else {
        return detail(StatusCode::NOT_FOUND, "User not found");
    };
    if let Some(expire) = expire {
        user.expire = expire;
    }
    if let Some(limit) = data_limit {
        user.data_limit = limit as u64;
    }
    if let Some(duration) = body.get("on_hold_expire_duration").and_then(Value::as_i64) {
        user.on_hold_expire_duration = duration;
    }
    if let Some(base) = base {
        user.base = base;
    }
    if let Some(note) = body.get("note").and_then(Value::as_str) {
        user.note = note.to_string();
    }
    if let Some((credentials, inbounds)) = proxies {
        user.proxies = credentials;
        user.inbounds = inbounds;
    }
    // The status (limited / expired / active) is recomputed from the new values on read.
    let user = user.clone();
    drop(store);
    Json(state.user_json(&user, now_secs())).into_response()
}

async fn remove_user(
    State(state): State<Arc<MarzbanState>>,
    headers: HeaderMap,
    Path(username): Path<String>,
) -> Response {
    require_auth!(state, headers);
    let mut store = state.lock();
    let Some(id) = store.ids.remove(&username) else {
        return detail(StatusCode::NOT_FOUND, "User not found");
    };
    if let Some(user) = store.users.remove(&id) {
        store.subs.remove(&user.sub_token);
    }
    Json(json!({ "detail": "User successfully deleted" })).into_response()
}

async fn reset_user(
    State(state): State<Arc<MarzbanState>>,
    headers: HeaderMap,
    Path(username): Path<String>,
) -> Response {
    require_auth!(state, headers);
    let mut store = state.lock();
    let Some(user) = store.user_mut(&username) else {
        return detail(StatusCode::NOT_FOUND, "User not found");
    };
    user.used = 0;
    let user = user.clone();
    drop(store);
    Json(state.user_json(&user, now_secs())).into_response()
}

async fn revoke_sub(
    State(state): State<Arc<MarzbanState>>,
    headers: HeaderMap,
    Path(username): Path<String>,
) -> Response {
    require_auth!(state, headers);
    let mut store = state.lock();
    let Some(user) = store.user_mut(&username) else {
        return detail(StatusCode::NOT_FOUND, "User not found");
    };
    let old = std::mem::replace(&mut user.sub_token, random_token(24));
    // Marzban also issues new proxy credentials, so old links stop working too.
    for credential in user.proxies.values_mut() {
        *credential = new_uuid();
    }
    let user = user.clone();
    store.subs.remove(&old);
    store
        .subs
        .insert(user.sub_token.clone(), user.username.clone());
    drop(store);
    Json(state.user_json(&user, now_secs())).into_response()
}

#[derive(Deserialize)]
struct Paging {
    offset: Option<usize>,
    limit: Option<usize>,
}

async fn list_users(
    State(state): State<Arc<MarzbanState>>,
    headers: HeaderMap,
    Query(paging): Query<Paging>,
) -> Response {
    require_auth!(state, headers);
    let now = now_secs();
    let store = state.lock();
    let users: Vec<Value> = store
        .users
        .values()
        .skip(paging.offset.unwrap_or(0))
        .take(paging.limit.unwrap_or(usize::MAX))
        .map(|user| state.user_json(user, now))
        .collect();
    Json(json!({ "users": users, "total": store.users.len() })).into_response()
}

async fn subscription(
    State(state): State<Arc<MarzbanState>>,
    Path(token): Path<String>,
) -> Response {
    let store = state.lock();
    let Some(user) = store.subs.get(&token).and_then(|name| store.user(name)) else {
        return detail(StatusCode::NOT_FOUND, "Not Found");
    };
    let body = base64::engine::general_purpose::STANDARD.encode(state.links(user).join("\n"));
    let info = userinfo_header(
        user.used / 2,
        user.used - user.used / 2,
        user.data_limit,
        user.expire,
    );
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                header::HeaderName::from_static("subscription-userinfo"),
                info,
            ),
        ],
        body,
    )
        .into_response()
}

async fn subscription_info(
    State(state): State<Arc<MarzbanState>>,
    Path(token): Path<String>,
) -> Response {
    let store = state.lock();
    match store.subs.get(&token).and_then(|name| store.user(name)) {
        Some(user) => Json(state.user_json(user, now_secs())).into_response(),
        None => detail(StatusCode::NOT_FOUND, "Not Found"),
    }
}
