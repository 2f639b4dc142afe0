//! The 3x-UI client, both API generations: 2.x keeps clients inside inbounds
//! (`inbounds/addClient` with `settings` as a JSON string), 3.1+ has `clients/*`. The
//! generation is detected after login. Auth is a cookie session from `POST {base}login`
//! (3.x: plus an `X-CSRF-Token` on unsafe requests) or, on 3.x, a Bearer API token.
//! Unauthenticated calls answer 404, so a 404 means "log in again" once.

mod model;
mod session;

use std::sync::Arc;

use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;

use super::error::PanelError;
use super::http::{read_text, shorten, PanelHttp, Retry};
use super::network::PanelUrl;
use super::types::{
    Account, AccountPage, AccountStatus, Inbound, InboundRef, NewAccount, PageRequest,
    PanelCredentials, PanelFlavor, PanelHealth, PanelOptions, Username,
};
use super::Panel;
use model::ClientState;
use model::{client_key_field, int, new_sub_id, now_ms, settings_clients, text};
use session::{Generation, Session};

const DAY_MS: i64 = 86_400_000;
/// 3x-UI caps `clients/list/paged` at this page size.
const MAX_PAGE_SIZE: u32 = 200;

/// One client as found on the panel, with what is needed to change it.
struct Found {
    /// The client object as the panel stores it (unknown fields are sent back untouched).
    raw: Map<String, Value>,
    state: ClientState,
    /// 2.x: the inbound that holds the client, and its protocol.
    inbound_id: i64,
    protocol: String,
}

/// A 3x-UI panel (2.x or 3.x, found at the first call). Prefer [`super::connect`], which
/// also validates the login.
pub struct XuiPanel {
    url: PanelUrl,
    credentials: PanelCredentials,
    http: PanelHttp,
    /// `{sub_base}{subId}` is a subscription URL; ends with `/`.
    subscription_base: String,
    session: Mutex<Session>,
}

impl XuiPanel {
    pub fn new(
        url: PanelUrl,
        credentials: PanelCredentials,
        options: PanelOptions,
    ) -> Result<XuiPanel, PanelError> {
        let subscription_base = match &options.xui_subscription_base {
            Some(base) => base.as_str().to_string(),
            None => {
                let mut base = url.as_url().clone();
                base.set_port(Some(2096)).map_err(|()| {
                    PanelError::InvalidUrl("the address cannot have a port".into())
                })?;
                base.set_path("/sub/");
                base.to_string()
            }
        };
        Ok(XuiPanel {
            http: PanelHttp::new(Arc::new(options.network.clone()), &options, true)?,
            url,
            credentials,
            subscription_base,
            session: Mutex::new(Session::default()),
        })
    }

    fn bearer(&self) -> Option<&str> {
        match &self.credentials {
            PanelCredentials::ApiToken(token) => Some(token.expose()),
            PanelCredentials::Password { .. } => None,
        }
    }

    // -----------------------------------------------------------------------------------
    // Finding and changing one client
    // -----------------------------------------------------------------------------------

    async fn find(&self, username: &str) -> Result<Option<Found>, PanelError> {
        let name = Username::parse(username)?;
        match self.generation().await? {
            Generation::Three => {
                let envelope = self
                    .call(
                        Method::GET,
                        &format!("panel/api/clients/get/{name}"),
                        None,
                        Retry::Safe,
                    )
                    .await?;
                if !envelope.success {
                    if looks_not_found(&envelope.msg) {
                        return Ok(None);
                    }
                    return Err(refusal(&envelope.msg));
                }
                let Some(mut raw) = envelope.obj.as_object().cloned() else {
                    return Ok(None);
                };
                // Accept the client nested under "client" as well as flat.
                if let Some(Value::Object(inner)) = raw.remove("client") {
                    for (key, value) in inner {
                        raw.entry(key).or_insert(value);
                    }
                }
                let traffic = raw.get("traffic").and_then(Value::as_object).cloned();
                let state = ClientState::from_parts(&raw, traffic.as_ref());
                Ok(Some(Found {
                    raw,
                    state,
                    inbound_id: 0,
                    protocol: String::new(),
                }))
            }
            Generation::Two => {
                for inbound in self.raw_inbounds().await? {
                    let clients = settings_clients(inbound.get("settings").unwrap_or(&Value::Null));
                    let Some(raw) = clients
                        .into_iter()
                        .find(|client| text(client, "email") == name.as_str())
                    else {
                        continue;
                    };
                    let traffic = inbound
                        .get("clientStats")
                        .and_then(Value::as_array)
                        .and_then(|stats| {
                            stats
                                .iter()
                                .filter_map(Value::as_object)
                                .find(|stat| text(stat, "email") == name.as_str())
                        })
                        .cloned();
                    let state = ClientState::from_parts(&raw, traffic.as_ref());
                    return Ok(Some(Found {
                        raw,
                        state,
                        inbound_id: int(&inbound, "id"),
                        protocol: text(&inbound, "protocol"),
                    }));
                }
                Ok(None)
            }
        }
    }

    async fn existing(&self, username: &str) -> Result<Found, PanelError> {
        self.find(username).await?.ok_or(PanelError::NotFound)
    }

    /// Writes the client back with `change` applied (3x-UI replaces the whole client).
    async fn update(
        &self,
        found: &Found,
        retry: Retry,
        change: impl FnOnce(&mut Map<String, Value>),
    ) -> Result<(), PanelError> {
        match self.generation().await? {
            Generation::Three => {
                let mut client = found.raw.clone();
                // The record's `id` is a row number and `uuid` the credential; the payload
                // wants the credential in `id`.
                for derived in [
                    "inboundIds",
                    "traffic",
                    "createdAt",
                    "updatedAt",
                    "created_at",
                    "updated_at",
                ] {
                    client.remove(derived);
                }
                if let Some(uuid) = client.remove("uuid") {
                    client.insert("id".into(), uuid);
                }
                change(&mut client);
                let path = format!("panel/api/clients/update/{}", found.state.email);
                self.call_ok(Method::POST, &path, Some(Value::Object(client)), retry)
                    .await?;
            }
            Generation::Two => {
                let key = text(&found.raw, client_key_field(&found.protocol));
                let mut client = found.raw.clone();
                change(&mut client);
                let body = json!({
                    "id": found.inbound_id,
                    "settings": json!({ "clients": [client] }).to_string(),
                });
                let path = format!("panel/api/inbounds/updateClient/{key}");
                self.call_ok(Method::POST, &path, Some(body), retry).await?;
            }
        }
        Ok(())
    }

    /// The account as it is now on the panel, with its links.
    async fn reread(&self, username: &str) -> Result<Account, PanelError> {
        let found = self.existing(username).await?;
        self.to_account(&found).await
    }

    async fn to_account(&self, found: &Found) -> Result<Account, PanelError> {
        let links = self.links(found).await;
        Ok(found
            .state
            .to_account(now_ms(), &self.subscription_base, links))
    }

    /// Share links: 3.x lists them; 2.x has no such call, so they are read from the
    /// subscription server. A failure here leaves the links empty (the sub URL still works).
    async fn links(&self, found: &Found) -> Vec<String> {
        let result = match self.generation().await {
            Ok(Generation::Three) => self
                .call_ok(
                    Method::GET,
                    &format!("panel/api/clients/links/{}", found.state.email),
                    None,
                    Retry::Safe,
                )
                .await
                .map(|obj| strings(&obj)),
            Ok(Generation::Two) => self.subscription_links(&found.state.sub_id).await,
            Err(error) => Err(error),
        };
        result.unwrap_or_else(|error| {
            tracing::warn!(%error, "could not read the account's share links");
            Vec::new()
        })
    }

    async fn subscription_links(&self, sub_id: &str) -> Result<Vec<String>, PanelError> {
        if sub_id.is_empty() {
            return Ok(Vec::new());
        }
        let url = format!("{}{sub_id}", self.subscription_base);
        let response = self.http.send(self.http.client.get(url)).await?;
        if !response.status().is_success() {
            return Err(PanelError::Rejected {
                status: response.status().as_u16(),
                message: "the subscription server did not serve the links".into(),
            });
        }
        let body = read_text(response).await?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or(body);
        Ok(decoded
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// The inbounds a new account goes in: those asked for, or all of them.
    async fn target_inbounds(
        &self,
        wanted: &[InboundRef],
    ) -> Result<Vec<(i64, String)>, PanelError> {
        let inbounds: Vec<(i64, String)> = self
            .raw_inbounds()
            .await?
            .iter()
            .map(|inbound| (int(inbound, "id"), text(inbound, "protocol")))
            .collect();
        if wanted.is_empty() {
            if inbounds.is_empty() {
                return Err(PanelError::InvalidRequest(
                    "the panel has no inbounds to put the account in".into(),
                ));
            }
            return Ok(inbounds);
        }
        wanted
            .iter()
            .map(|reference| {
                inbounds
                    .iter()
                    .find(|(id, _)| id.to_string() == reference.as_str())
                    .cloned()
                    .ok_or_else(|| {
                        PanelError::InvalidRequest(format!(
                            "the panel has no inbound with id \"{}\"",
                            reference.as_str()
                        ))
                    })
            })
            .collect()
    }
}

fn objects(value: &Value) -> Vec<Map<String, Value>> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_object().cloned())
                .collect()
        })
        .unwrap_or_default()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn looks_not_found(msg: &str) -> bool {
    let msg = msg.to_ascii_lowercase();
    msg.contains("not found") || msg.contains("record not found") || msg.contains("no client")
}

fn looks_duplicate(msg: &str) -> bool {
    let msg = msg.to_ascii_lowercase();
    msg.contains("duplicate") || msg.contains("already exist") || msg.contains("already in use")
}

/// `success: false` as an error.
fn refusal(msg: &str) -> PanelError {
    if looks_duplicate(msg) {
        PanelError::AlreadyExists
    } else if looks_not_found(msg) {
        PanelError::NotFound
    } else {
        PanelError::Rejected {
            status: 200,
            message: shorten(msg),
        }
    }
}

#[async_trait::async_trait]
impl Panel for XuiPanel {
    async fn health(&self) -> Result<PanelHealth, PanelError> {
        let generation = self.generation().await?;
        let inbounds = self.raw_inbounds().await?.len();
        Ok(PanelHealth {
            flavor: match generation {
                Generation::Two => PanelFlavor::Xui2,
                Generation::Three => PanelFlavor::Xui3,
            },
            inbounds,
        })
    }

    async fn inbounds(&self) -> Result<Vec<Inbound>, PanelError> {
        Ok(self
            .raw_inbounds()
            .await?
            .iter()
            .map(|inbound| Inbound {
                key: InboundRef(int(inbound, "id").to_string()),
                protocol: text(inbound, "protocol"),
                remark: text(inbound, "remark"),
                port: u16::try_from(int(inbound, "port")).ok(),
            })
            .collect())
    }

    async fn create_account(&self, request: &NewAccount) -> Result<Account, PanelError> {
        let generation = self.generation().await?;
        let targets = self.target_inbounds(&request.inbounds).await?;
        if self.find(request.username.as_str()).await?.is_some() {
            return Err(PanelError::AlreadyExists);
        }
        let expiry_ms = request
            .expire_at
            .map(|secs| secs.saturating_mul(1000))
            .unwrap_or(0);
        let client = json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "email": request.username.as_str(),
            "enable": true,
            "totalGB": request.data_limit_bytes.unwrap_or(0),
            "expiryTime": expiry_ms,
            "limitIp": request.ip_limit.unwrap_or(0),
            "tgId": 0,
            "subId": new_sub_id(),
            "flow": "",
            "comment": request.note,
            "reset": 0,
        });
        // Safe to repeat: the email is the key, and a repeat meets "duplicate email".
        match generation {
            Generation::Three => {
                let ids: Vec<i64> = targets.iter().map(|(id, _)| *id).collect();
                let body = json!({ "client": client, "inboundIds": ids });
                self.call_ok(
                    Method::POST,
                    "panel/api/clients/add",
                    Some(body),
                    Retry::Safe,
                )
                .await?;
            }
            Generation::Two => {
                // In 2.x an email is unique across the panel, so a client lives in one inbound.
                let [(inbound_id, protocol)] = targets.as_slice() else {
                    return Err(PanelError::InvalidRequest(
                        "3x-UI 2.x keeps an account in exactly one inbound: choose one".into(),
                    ));
                };
                let mut client = client;
                if protocol == "trojan" || protocol == "shadowsocks" {
                    client["password"] = json!(new_sub_id());
                }
                let body = json!({
                    "id": inbound_id,
                    "settings": json!({ "clients": [client] }).to_string(),
                });
                self.call_ok(
                    Method::POST,
                    "panel/api/inbounds/addClient",
                    Some(body),
                    Retry::Safe,
                )
                .await?;
            }
        }
        self.reread(request.username.as_str()).await
    }

    async fn account(&self, username: &str) -> Result<Option<Account>, PanelError> {
        match self.find(username).await? {
            Some(found) => self.to_account(&found).await.map(Some),
            None => Ok(None),
        }
    }

    async fn extend(&self, username: &str, days: u32) -> Result<Account, PanelError> {
        let found = self.existing(username).await?;
        let add = i64::from(days) * DAY_MS;
        let expiry = found.state.expiry_ms;
        let new_expiry = match expiry {
            0 => return self.to_account(&found).await,
            // On hold: a longer duration from first use.
            negative if negative < 0 => negative - add,
            positive => positive.max(now_ms()) + add,
        };
        // An account the panel switched off for expiry comes back on.
        let revive = found.state.status(now_ms()) == AccountStatus::Expired;
        self.update(&found, Retry::Safe, |client| {
            client.insert("expiryTime".into(), json!(new_expiry));
            if revive {
                client.insert("enable".into(), json!(true));
            }
        })
        .await?;
        self.reread(username).await
    }

    async fn add_data(&self, username: &str, bytes: u64) -> Result<Account, PanelError> {
        let found = self.existing(username).await?;
        let Ok(total) = u64::try_from(found.state.total_bytes) else {
            return self.to_account(&found).await;
        };
        if total == 0 {
            return self.to_account(&found).await;
        }
        let new_total = total.saturating_add(bytes);
        let revive = found.state.status(now_ms()) == AccountStatus::Limited
            && found.state.used() < new_total;
        self.update(&found, Retry::Safe, |client| {
            client.insert("totalGB".into(), json!(new_total));
            if revive {
                client.insert("enable".into(), json!(true));
            }
        })
        .await?;
        self.reread(username).await
    }

    async fn reset_traffic(&self, username: &str) -> Result<Account, PanelError> {
        let found = self.existing(username).await?;
        let path = match self.generation().await? {
            Generation::Three => format!("panel/api/clients/resetTraffic/{}", found.state.email),
            Generation::Two => format!(
                "panel/api/inbounds/{}/resetClientTraffic/{}",
                found.inbound_id, found.state.email
            ),
        };
        self.call_ok(Method::POST, &path, None, Retry::Safe).await?;
        self.reread(username).await
    }

    async fn revoke_subscription(&self, username: &str) -> Result<Account, PanelError> {
        let found = self.existing(username).await?;
        // No revoke call: a new subId kills the old URL, a new credential the old links.
        let key_field = match self.generation().await? {
            Generation::Three => "id",
            Generation::Two => client_key_field(&found.protocol),
        };
        let sub_id = new_sub_id();
        self.update(&found, Retry::Once, |client| {
            client.insert("subId".into(), json!(sub_id));
            match key_field {
                "id" => {
                    client.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
                }
                "password" => {
                    client.insert("password".into(), json!(new_sub_id()));
                }
                _ => {}
            }
        })
        .await?;
        self.reread(username).await
    }

    async fn set_enabled(&self, username: &str, enabled: bool) -> Result<Account, PanelError> {
        let found = self.existing(username).await?;
        self.update(&found, Retry::Safe, |client| {
            client.insert("enable".into(), json!(enabled));
        })
        .await?;
        self.reread(username).await
    }

    async fn delete_account(&self, username: &str) -> Result<(), PanelError> {
        let Some(found) = self.find(username).await? else {
            return Ok(());
        };
        let path = match self.generation().await? {
            Generation::Three => {
                format!("panel/api/clients/del/{}?keepTraffic=0", found.state.email)
            }
            Generation::Two => format!(
                "panel/api/inbounds/{}/delClient/{}",
                found.inbound_id,
                text(&found.raw, client_key_field(&found.protocol))
            ),
        };
        match self.call_ok(Method::POST, &path, None, Retry::Safe).await {
            Ok(_) | Err(PanelError::NotFound) => Ok(()),
            Err(error) => Err(error),
        }
    }

    async fn list_accounts(&self, page: PageRequest) -> Result<AccountPage, PanelError> {
        let now = now_ms();
        match self.generation().await? {
            Generation::Three => {
                let size = page.limit.clamp(1, MAX_PAGE_SIZE);
                let number = page.offset / u64::from(size) + 1;
                let skip = (page.offset % u64::from(size)) as usize;
                let path = format!("panel/api/clients/list/paged?page={number}&pageSize={size}");
                let obj = self.call_ok(Method::GET, &path, None, Retry::Safe).await?;
                let total = obj.get("total").and_then(Value::as_u64).unwrap_or_default();
                let items = objects(obj.get("items").unwrap_or(&Value::Null));
                let accounts = items
                    .iter()
                    .skip(skip)
                    .map(|item| {
                        let traffic = item.get("traffic").and_then(Value::as_object);
                        ClientState::from_parts(item, traffic).to_account(
                            now,
                            &self.subscription_base,
                            Vec::new(),
                        )
                    })
                    .collect();
                Ok(AccountPage { accounts, total })
            }
            Generation::Two => {
                let mut all = Vec::new();
                for inbound in self.raw_inbounds().await? {
                    let stats = objects(inbound.get("clientStats").unwrap_or(&Value::Null));
                    for client in settings_clients(inbound.get("settings").unwrap_or(&Value::Null))
                    {
                        let email = text(&client, "email");
                        let traffic = stats.iter().find(|stat| text(stat, "email") == email);
                        all.push(ClientState::from_parts(&client, traffic));
                    }
                }
                let total = all.len() as u64;
                let accounts = all
                    .iter()
                    .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
                    .take(page.limit as usize)
                    .map(|state| state.to_account(now, &self.subscription_base, Vec::new()))
                    .collect();
                Ok(AccountPage { accounts, total })
            }
        }
    }
}
