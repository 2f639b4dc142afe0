//! The fake 3x-UI's HTTP surface: login, CSRF tokens, the 2.x and 3.x API routes and the
//! subscription server.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::super::common::{
    apply_faults, control_routes, new_uuid, now_ms, random_token, userinfo_header,
};
use super::{Client, Session, Store, XuiGeneration, XuiState, SESSION_COOKIE};

/// The panel: control routes, then everything else by hand (the base path is dynamic).
pub(super) fn panel_router(state: Arc<XuiState>) -> Router {
    Router::new()
        .merge(control_routes::<XuiState>())
        .fallback(handle)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            apply_faults::<XuiState>,
        ))
        .with_state(state)
}

/// The separate subscription server.
pub(super) fn subscription_router(state: Arc<XuiState>) -> Router {
    Router::new()
        .route("/sub/{sub_id}", get(subscription))
        .with_state(state)
}

fn msg(success: bool, text: &str, obj: Value) -> Response {
    Json(json!({ "success": success, "msg": text, "obj": obj })).into_response()
}

fn ok(obj: Value) -> Response {
    msg(true, "", obj)
}

fn fail(text: &str) -> Response {
    msg(false, text, Value::Null)
}

/// What Go's router answers for an unknown route, and 3x-UI for an unauthenticated call.
fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 page not found").into_response()
}

/// A JSON or form body as a map (3x-UI binds both).
fn body_map(headers: &HeaderMap, body: &Bytes) -> Map<String, Value> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        url::form_urlencoded::parse(body)
            .map(|(key, value)| (key.into_owned(), Value::String(value.into_owned())))
            .collect()
    } else {
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|value| value.as_object().cloned())
            .unwrap_or_default()
    }
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}

fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(header_value) = format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly").parse() {
        response
            .headers_mut()
            .append(header::SET_COOKIE, header_value);
    }
}

enum Auth {
    Cookie { csrf: String },
    Token,
}

fn authenticate(state: &XuiState, store: &Store, headers: &HeaderMap) -> Option<Auth> {
    if state.options.generation == XuiGeneration::Three {
        if let Some(expected) = &state.options.api_token {
            let bearer = headers
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "));
            if bearer == Some(expected.as_str()) {
                return Some(Auth::Token);
            }
        }
    }
    let session = store.sessions.get(&cookie(headers)?)?;
    session.logged_in.then(|| Auth::Cookie {
        csrf: session.csrf.clone(),
    })
}

async fn handle(
    State(state): State<Arc<XuiState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(rest) = uri.path().strip_prefix(state.options.base_path.as_str()) else {
        return not_found();
    };
    let rest = rest.to_string();
    match (method.as_str(), rest.as_str()) {
        ("GET", "") => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html><title>3X-UI</title><p>login</p>",
        )
            .into_response(),
        ("POST", "login") => login(&state, &headers, &body),
        ("POST", "logout") => {
            if let Some(value) = cookie(&headers) {
                state.lock().sessions.remove(&value);
            }
            ok(Value::Null)
        }
        ("GET", "csrf-token") if state.options.generation == XuiGeneration::Three => {
            csrf_token(&state, &headers)
        }
        _ => match rest.strip_prefix("panel/api/") {
            Some(api) => api_call(&state, &method, api, uri.query(), &headers, &body),
            None => not_found(),
        },
    }
}

fn login(state: &XuiState, headers: &HeaderMap, body: &Bytes) -> Response {
    let form = body_map(headers, body);
    let field = |name: &str| form.get(name).and_then(Value::as_str).unwrap_or_default();
    if field("username") != state.options.username || field("password") != state.options.password {
        return match state.options.generation {
            // 2.x answers 200 with success false; 3.x documents 400.
            XuiGeneration::Two => fail("Wrong username or password"),
            XuiGeneration::Three => (
                StatusCode::BAD_REQUEST,
                Json(json!({ "success": false, "msg": "Wrong username or password" })),
            )
                .into_response(),
        };
    }
    let value = random_token(32);
    state.lock().sessions.insert(
        value.clone(),
        Session {
            logged_in: true,
            csrf: random_token(32),
        },
    );
    let mut response = msg(true, "Logged in successfully", Value::Null);
    set_cookie(&mut response, &value);
    response
}

fn csrf_token(state: &XuiState, headers: &HeaderMap) -> Response {
    let mut store = state.lock();
    if let Some(session) = cookie(headers).and_then(|value| store.sessions.get(&value).cloned()) {
        return ok(json!(session.csrf));
    }
    // A visitor without a session gets one (not logged in) to carry the token.
    let value = random_token(32);
    let csrf = random_token(32);
    store.sessions.insert(
        value.clone(),
        Session {
            logged_in: false,
            csrf: csrf.clone(),
        },
    );
    let mut response = ok(json!(csrf));
    set_cookie(&mut response, &value);
    response
}

fn api_call(
    state: &XuiState,
    method: &Method,
    api: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let mut store = state.lock();
    let Some(auth) = authenticate(state, &store, headers) else {
        return not_found();
    };
    if let Auth::Cookie { csrf } = &auth {
        let needs_csrf = state.options.generation == XuiGeneration::Three && *method != Method::GET;
        let sent = headers
            .get("X-CSRF-Token")
            .and_then(|value| value.to_str().ok());
        if needs_csrf && sent != Some(csrf.as_str()) {
            return (
                StatusCode::FORBIDDEN,
                Json(json!({ "success": false, "msg": "invalid CSRF token" })),
            )
                .into_response();
        }
    }
    let segments: Vec<&str> = api.split('/').collect();
    let params = query_map(query);
    let body = body_map(headers, body);
    match (
        state.options.generation,
        method.as_str(),
        segments.as_slice(),
    ) {
        (_, "GET", ["inbounds", "list"]) => {
            let inbounds: Vec<Value> = state
                .options
                .inbounds
                .iter()
                .map(|inbound| state.inbound_json(&store, inbound))
                .collect();
            ok(json!(inbounds))
        }
        (XuiGeneration::Two, "POST", ["inbounds", "addClient"]) => {
            add_client_two(state, &mut store, &body)
        }
        (XuiGeneration::Two, "POST", ["inbounds", "updateClient", credential]) => {
            update_client_two(&mut store, credential, &body)
        }
        (XuiGeneration::Two, "POST", ["inbounds", inbound, "delClient", credential]) => {
            match store.email_of_credential(credential) {
                Some(email)
                    if store.client(&email).is_some_and(|(_, c)| {
                        c.inbound_ids.iter().any(|id| id.to_string() == *inbound)
                    }) =>
                {
                    store.remove(&email);
                    msg(true, "Client deleted", Value::Null)
                }
                _ => fail("Client Not Found In Inbound For ID"),
            }
        }
        (XuiGeneration::Two, "GET", ["inbounds", "getClientTraffics", email]) => {
            match store.client(email) {
                Some((row, client)) => ok(client.traffic(row)),
                None => ok(Value::Null),
            }
        }
        (XuiGeneration::Two, "POST", ["inbounds", _, "resetClientTraffic", email]) => {
            reset_traffic(&mut store, email)
        }
        (XuiGeneration::Three, "GET", ["clients", "list"]) => {
            let records: Vec<Value> = store
                .clients
                .iter()
                .map(|(row, c)| c.record(*row))
                .collect();
            ok(json!(records))
        }
        (XuiGeneration::Three, "GET", ["clients", "list", "paged"]) => list_paged(&store, &params),
        (XuiGeneration::Three, "GET", ["clients", "get", email]) => match store.client(email) {
            Some((row, client)) => ok(client.record(row)),
            None => fail("client not found"),
        },
        (XuiGeneration::Three, "GET", ["clients", "traffic", email]) => match store.client(email) {
            Some((row, client)) => ok(client.traffic(row)),
            None => fail("client not found"),
        },
        (XuiGeneration::Three, "GET", ["clients", "links", email]) => match store.client(email) {
            Some((_, client)) => ok(json!(state.links(client))),
            None => fail("client not found"),
        },
        (XuiGeneration::Three, "POST", ["clients", "add"]) => {
            add_client_three(state, &mut store, &body)
        }
        (XuiGeneration::Three, "POST", ["clients", "update", email]) => {
            match store.client_mut(email) {
                Some(client) => match apply_payload(client, &body) {
                    Ok(()) => msg(true, "Client updated", Value::Null),
                    Err(problem) => fail(&problem),
                },
                None => fail("client not found"),
            }
        }
        (XuiGeneration::Three, "POST", ["clients", "del", email]) => {
            if store.remove(email) {
                msg(true, "Client deleted", Value::Null)
            } else {
                fail("client not found")
            }
        }
        (XuiGeneration::Three, "POST", ["clients", "resetTraffic", email]) => {
            reset_traffic(&mut store, email)
        }
        _ => not_found(),
    }
}

fn query_map(query: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn int_field(map: &Map<String, Value>, key: &str) -> Result<Option<i64>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => number
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("{key} must be an integer")),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => text
            .parse()
            .map(Some)
            .map_err(|_| format!("{key} must be an integer")),
        Some(_) => Err(format!("{key} must be an integer")),
    }
}

/// A new client from a client payload (`id` is the credential; generated when missing).
fn client_from_payload(
    payload: &Map<String, Value>,
    inbound_ids: Vec<i64>,
) -> Result<Client, String> {
    let email = payload
        .get("email")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_string();
    if email.is_empty() {
        return Err("empty client email".into());
    }
    let mut client = Client {
        email,
        uuid: new_uuid(),
        sub_id: random_token(16),
        total: 0,
        expiry_ms: 0,
        limit_ip: 0,
        enable: true,
        comment: String::new(),
        tg_id: json!(0),
        reset: 0,
        flow: String::new(),
        up: 0,
        down: 0,
        last_online_ms: 0,
        inbound_ids,
        created_ms: now_ms(),
        updated_ms: now_ms(),
    };
    apply_payload(&mut client, payload)?;
    Ok(client)
}

/// Replaces a client's settings with those of a payload (3x-UI replaces, it does not patch).
fn apply_payload(client: &mut Client, payload: &Map<String, Value>) -> Result<(), String> {
    let total = int_field(payload, "totalGB")?.unwrap_or(0);
    if total < 0 {
        return Err("totalGB must not be negative".into());
    }
    if let Some(id) = payload
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
    {
        client.uuid = id.to_string();
    }
    if let Some(sub_id) = payload
        .get("subId")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        client.sub_id = sub_id.to_string();
    }
    client.total = total;
    client.expiry_ms = int_field(payload, "expiryTime")?.unwrap_or(0);
    client.limit_ip = int_field(payload, "limitIp")?.unwrap_or(0);
    client.reset = int_field(payload, "reset")?.unwrap_or(0);
    client.enable = payload
        .get("enable")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    client.comment = payload
        .get("comment")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    client.flow = payload
        .get("flow")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    client.tg_id = payload.get("tgId").cloned().unwrap_or(json!(0));
    client.updated_ms = now_ms();
    Ok(())
}

/// 2.x's `settings`: a JSON string `{"clients":[...]}` (an object is refused, as 2.x does).
fn settings_clients(body: &Map<String, Value>) -> Result<Vec<Map<String, Value>>, String> {
    let Some(Value::String(settings)) = body.get("settings") else {
        return Err("settings must be a JSON string".into());
    };
    let settings: Value =
        serde_json::from_str(settings).map_err(|error| format!("invalid settings: {error}"))?;
    Ok(settings
        .get("clients")
        .and_then(Value::as_array)
        .map(|clients| {
            clients
                .iter()
                .filter_map(|c| c.as_object().cloned())
                .collect()
        })
        .unwrap_or_default())
}

fn add_client_two(state: &XuiState, store: &mut Store, body: &Map<String, Value>) -> Response {
    let inbound_id = match int_field(body, "id") {
        Ok(Some(id))
            if state
                .options
                .inbounds
                .iter()
                .any(|inbound| inbound.id == id) =>
        {
            id
        }
        Ok(_) => return fail("inbound not found"),
        Err(problem) => return fail(&problem),
    };
    let payloads = match settings_clients(body) {
        Ok(payloads) if !payloads.is_empty() => payloads,
        Ok(_) => return fail("no client to add"),
        Err(problem) => return fail(&problem),
    };
    let mut clients = Vec::new();
    for payload in &payloads {
        match client_from_payload(payload, vec![inbound_id]) {
            Ok(client) if store.rows.contains_key(&client.email) => {
                return fail(&format!("Duplicate email: {}", client.email))
            }
            Ok(client) => clients.push(client),
            Err(problem) => return fail(&problem),
        }
    }
    for client in clients {
        store.insert(client);
    }
    msg(true, "Client(s) added", Value::Null)
}

fn update_client_two(store: &mut Store, credential: &str, body: &Map<String, Value>) -> Response {
    let Some(email) = store.email_of_credential(credential) else {
        return fail("Client Not Found In Inbound For ID");
    };
    let payload = match settings_clients(body) {
        Ok(payloads) => match payloads.into_iter().next() {
            Some(payload) => payload,
            None => return fail("no client to update"),
        },
        Err(problem) => return fail(&problem),
    };
    match store.client_mut(&email) {
        Some(client) => match apply_payload(client, &payload) {
            Ok(()) => msg(true, "Client updated", Value::Null),
            Err(problem) => fail(&problem),
        },
        None => fail("Client Not Found In Inbound For ID"),
    }
}

fn add_client_three(state: &XuiState, store: &mut Store, body: &Map<String, Value>) -> Response {
    let Some(payload) = body.get("client").and_then(Value::as_object) else {
        return fail("client is required");
    };
    let inbound_ids: Vec<i64> = body
        .get("inboundIds")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    if inbound_ids.is_empty() {
        return fail("at least one inbound is required");
    }
    if let Some(missing) = inbound_ids.iter().find(|id| {
        !state
            .options
            .inbounds
            .iter()
            .any(|inbound| inbound.id == **id)
    }) {
        return fail(&format!("inbound {missing} not found"));
    }
    let client = match client_from_payload(payload, inbound_ids) {
        Ok(client) => client,
        Err(problem) => return fail(&problem),
    };
    if let Some(existing) = store.client_mut(&client.email) {
        // Re-adding with the stored subId attaches the same identity to more inbounds.
        if existing.sub_id != client.sub_id {
            return fail(&format!("Duplicate email: {}", client.email));
        }
        for id in client.inbound_ids {
            if !existing.inbound_ids.contains(&id) {
                existing.inbound_ids.push(id);
            }
        }
        return msg(true, "Client added", Value::Null);
    }
    store.insert(client);
    msg(true, "Client added", Value::Null)
}

fn reset_traffic(store: &mut Store, email: &str) -> Response {
    match store.client_mut(email) {
        Some(client) => {
            client.up = 0;
            client.down = 0;
            // Resetting re-enables a client switched off for its data, unless it is expired.
            if !(client.expiry_ms > 0 && client.expiry_ms <= now_ms()) {
                client.enable = true;
            }
            msg(true, "Traffic reset", Value::Null)
        }
        None => fail("client not found"),
    }
}

fn list_paged(store: &Store, params: &HashMap<String, String>) -> Response {
    let page: usize = params
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let size: usize = params
        .get("pageSize")
        .and_then(|p| p.parse().ok())
        .unwrap_or(25)
        .clamp(1, 200);
    let items: Vec<Value> = store
        .clients
        .values()
        .skip((page - 1) * size)
        .take(size)
        .map(|client| {
            json!({
                "email": client.email,
                "subId": client.sub_id,
                "enable": client.enable,
                "totalGB": client.total,
                "expiryTime": client.expiry_ms,
                "limitIp": client.limit_ip,
                "reset": client.reset,
                "inboundIds": client.inbound_ids,
                "traffic": { "up": client.up, "down": client.down, "enable": client.enable, "lastOnline": client.last_online_ms },
                "createdAt": client.created_ms,
                "updatedAt": client.updated_ms,
            })
        })
        .collect();
    let total = store.clients.len();
    ok(json!({
        "items": items,
        "total": total,
        "filtered": total,
        "page": page,
        "pageSize": size,
    }))
}

async fn subscription(State(state): State<Arc<XuiState>>, Path(sub_id): Path<String>) -> Response {
    let store = state.lock();
    let clients: Vec<&Client> = store
        .clients
        .values()
        .filter(|client| client.sub_id == sub_id)
        .collect();
    if clients.is_empty() {
        return (StatusCode::NOT_FOUND, "Error!").into_response();
    }
    let links: Vec<String> = clients
        .iter()
        .filter(|client| client.enable)
        .flat_map(|client| state.links(client))
        .collect();
    let up: i64 = clients.iter().map(|c| c.up).sum();
    let down: i64 = clients.iter().map(|c| c.down).sum();
    let total: i64 = clients.iter().map(|c| c.total).sum();
    let expire = clients
        .iter()
        .map(|c| c.expiry_ms.max(0) / 1000)
        .max()
        .unwrap_or(0);
    let info = userinfo_header(
        u64::try_from(up).unwrap_or_default(),
        u64::try_from(down).unwrap_or_default(),
        u64::try_from(total).unwrap_or_default(),
        expire,
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
        base64::engine::general_purpose::STANDARD.encode(links.join("\n")),
    )
        .into_response()
}
