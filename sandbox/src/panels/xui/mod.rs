//! A fake 3x-UI, either generation, under a base path: every answer is `{success, msg, obj}`,
//! unauthenticated API calls answer 404, `totalGB` is bytes and `expiryTime` unix
//! milliseconds (0 never, negative = a duration from first use). 2.x keeps clients inside
//! inbounds (`inbounds/addClient` with `settings` as a JSON string); 3.x has `clients/*`,
//! API tokens, and CSRF tokens for cookie sessions. Its traffic job (run on every call)
//! switches off clients that used their data or passed their expiry. A separate
//! subscription server answers `/sub/{subId}`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use serde_json::{json, Value};

use super::common::{
    new_uuid, now_ms, random_token, ControlTarget, FakeAccount, FakePanelError, Faults,
    SeedRequest, Served,
};

mod api;

const SESSION_COOKIE: &str = "3x-ui";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XuiGeneration {
    /// Up to 3.0.x: `inbounds/addClient` and friends.
    Two,
    /// 3.1+: `clients/*`, API tokens, CSRF.
    Three,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XuiInbound {
    pub id: i64,
    pub remark: String,
    pub protocol: String,
    pub port: u16,
}

#[derive(Debug, Clone)]
pub struct FakeXuiOptions {
    pub generation: XuiGeneration,
    /// `webBasePath`, starting and ending with `/` (e.g. `/k3v9qz/`).
    pub base_path: String,
    pub username: String,
    pub password: String,
    /// 3.x only: a Bearer API token the panel accepts.
    pub api_token: Option<String>,
    /// Where the subscription server listens (port 0 picks a free one).
    pub sub_addr: SocketAddr,
    pub inbounds: Vec<XuiInbound>,
}

impl FakeXuiOptions {
    pub fn new(generation: XuiGeneration) -> FakeXuiOptions {
        FakeXuiOptions {
            generation,
            base_path: "/random-path/".into(),
            username: "admin".into(),
            password: "admin-password".into(),
            api_token: None,
            sub_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            inbounds: vec![
                XuiInbound {
                    id: 1,
                    remark: "VLESS-443".into(),
                    protocol: "vless".into(),
                    port: 443,
                },
                XuiInbound {
                    id: 2,
                    remark: "VMESS-8080".into(),
                    protocol: "vmess".into(),
                    port: 8080,
                },
            ],
        }
    }
}

#[derive(Debug, Clone)]
struct Client {
    email: String,
    /// The proxy credential (`id` in the client payload).
    uuid: String,
    sub_id: String,
    total: i64,
    expiry_ms: i64,
    limit_ip: i64,
    enable: bool,
    comment: String,
    tg_id: Value,
    reset: i64,
    flow: String,
    up: i64,
    down: i64,
    last_online_ms: i64,
    inbound_ids: Vec<i64>,
    created_ms: i64,
    updated_ms: i64,
}

impl Client {
    fn used(&self) -> i64 {
        self.up + self.down
    }

    fn payload(&self) -> Value {
        json!({
            "id": self.uuid,
            "email": self.email,
            "enable": self.enable,
            "totalGB": self.total,
            "expiryTime": self.expiry_ms,
            "limitIp": self.limit_ip,
            "tgId": self.tg_id,
            "subId": self.sub_id,
            "flow": self.flow,
            "comment": self.comment,
            "reset": self.reset,
        })
    }

    fn traffic(&self, row: i64) -> Value {
        json!({
            "id": row,
            "inboundId": self.inbound_ids.first().copied().unwrap_or_default(),
            "enable": self.enable,
            "email": self.email,
            "uuid": self.uuid,
            "subId": self.sub_id,
            "up": self.up,
            "down": self.down,
            "allTime": self.used(),
            "expiryTime": self.expiry_ms,
            "total": self.total,
            "reset": self.reset,
            "lastOnline": self.last_online_ms,
        })
    }

    /// 3.x's client record (`id` is the row number, `uuid` the credential).
    fn record(&self, row: i64) -> Value {
        json!({
            "id": row,
            "uuid": self.uuid,
            "email": self.email,
            "subId": self.sub_id,
            "enable": self.enable,
            "totalGB": self.total,
            "expiryTime": self.expiry_ms,
            "limitIp": self.limit_ip,
            "tgId": self.tg_id,
            "flow": self.flow,
            "comment": self.comment,
            "reset": self.reset,
            "group": "",
            "auth": "",
            "password": "",
            "security": "auto",
            "reverse": Value::Null,
            "createdAt": self.created_ms,
            "updatedAt": self.updated_ms,
            "inboundIds": self.inbound_ids,
            "traffic": { "up": self.up, "down": self.down, "enable": self.enable, "lastOnline": self.last_online_ms },
        })
    }
}

#[derive(Debug, Default)]
struct Store {
    /// Row id -> client, in creation order.
    clients: BTreeMap<i64, Client>,
    rows: HashMap<String, i64>,
    next_row: i64,
    /// Cookie value -> session.
    sessions: HashMap<String, Session>,
}

#[derive(Debug, Clone, Default)]
struct Session {
    logged_in: bool,
    csrf: String,
}

impl Store {
    fn client(&self, email: &str) -> Option<(i64, &Client)> {
        let row = *self.rows.get(email)?;
        self.clients.get(&row).map(|client| (row, client))
    }

    fn client_mut(&mut self, email: &str) -> Option<&mut Client> {
        let row = *self.rows.get(email)?;
        self.clients.get_mut(&row)
    }

    fn insert(&mut self, client: Client) {
        self.next_row += 1;
        self.rows.insert(client.email.clone(), self.next_row);
        self.clients.insert(self.next_row, client);
    }

    fn remove(&mut self, email: &str) -> bool {
        match self.rows.remove(email) {
            Some(row) => self.clients.remove(&row).is_some(),
            None => false,
        }
    }

    fn email_of_credential(&self, credential: &str) -> Option<String> {
        self.clients
            .values()
            .find(|client| client.uuid == credential || client.email == credential)
            .map(|client| client.email.clone())
    }

    /// 3x-UI's traffic job: clients out of data or time are switched off.
    fn disable_invalid(&mut self, now: i64) {
        for client in self.clients.values_mut() {
            let depleted = client.total > 0 && client.used() >= client.total;
            let expired = client.expiry_ms > 0 && client.expiry_ms <= now;
            if client.enable && (depleted || expired) {
                client.enable = false;
            }
        }
    }
}

pub struct XuiState {
    options: FakeXuiOptions,
    faults: Faults,
    store: Mutex<Store>,
}

impl XuiState {
    fn lock(&self) -> MutexGuard<'_, Store> {
        let mut store = self
            .store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        store.disable_invalid(now_ms());
        store
    }

    fn links(&self, client: &Client) -> Vec<String> {
        client
            .inbound_ids
            .iter()
            .filter_map(|id| self.options.inbounds.iter().find(|inbound| inbound.id == *id))
            .map(|inbound| {
                let name = format!("{}-{}", inbound.remark, client.email);
                match inbound.protocol.as_str() {
                    "vmess" => {
                        let config = json!({ "v": "2", "ps": name, "add": "127.0.0.1", "port": inbound.port, "id": client.uuid, "net": "tcp" });
                        format!(
                            "vmess://{}",
                            base64::engine::general_purpose::STANDARD.encode(config.to_string())
                        )
                    }
                    protocol => format!(
                        "{protocol}://{}@127.0.0.1:{}?type=tcp&security=none#{name}",
                        client.uuid, inbound.port
                    ),
                }
            })
            .collect()
    }

    fn inbound_json(&self, store: &Store, inbound: &XuiInbound) -> Value {
        let members: Vec<(i64, &Client)> = store
            .clients
            .iter()
            .filter(|(_, client)| client.inbound_ids.contains(&inbound.id))
            .map(|(row, client)| (*row, client))
            .collect();
        let settings = json!({
            "clients": members.iter().map(|(_, client)| client.payload()).collect::<Vec<_>>(),
            "decryption": "none",
            "fallbacks": [],
        });
        // 2.x sends settings as a JSON string; 3.x as an object.
        let settings = match self.options.generation {
            XuiGeneration::Two => Value::String(settings.to_string()),
            XuiGeneration::Three => settings,
        };
        json!({
            "id": inbound.id,
            "up": 0,
            "down": 0,
            "total": 0,
            "remark": inbound.remark,
            "enable": true,
            "expiryTime": 0,
            "listen": "",
            "port": inbound.port,
            "protocol": inbound.protocol,
            "settings": settings,
            "streamSettings": "{\"network\":\"tcp\",\"security\":\"none\"}",
            "tag": format!("inbound-{}", inbound.port),
            "sniffing": "{\"enabled\":false}",
            "clientStats": members.iter().map(|(row, client)| client.traffic(*row)).collect::<Vec<_>>(),
        })
    }
}

impl ControlTarget for XuiState {
    fn faults(&self) -> &Faults {
        &self.faults
    }

    fn add_traffic(&self, username: &str, bytes: u64) -> bool {
        let mut store = self.lock();
        let Some(client) = store.client_mut(username) else {
            return false;
        };
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        client.up = client.up.saturating_add(bytes / 2);
        client.down = client.down.saturating_add(bytes - bytes / 2);
        client.last_online_ms = now_ms();
        // First use starts a "duration from first use" expiry.
        if client.expiry_ms < 0 {
            client.expiry_ms = now_ms() - client.expiry_ms;
        }
        store.disable_invalid(now_ms());
        true
    }

    fn accounts(&self) -> Vec<FakeAccount> {
        let store = self.lock();
        store
            .clients
            .values()
            .map(|client| FakeAccount {
                username: client.email.clone(),
                used_bytes: u64::try_from(client.used()).unwrap_or_default(),
                limit_bytes: u64::try_from(client.total).unwrap_or_default(),
                expire: client.expiry_ms,
                status: if client.enable { "enabled" } else { "disabled" }.into(),
                sub_id: client.sub_id.clone(),
                credential: client.uuid.clone(),
                inbounds: client.inbound_ids.iter().map(i64::to_string).collect(),
                note: client.comment.clone(),
                ip_limit: u32::try_from(client.limit_ip).unwrap_or_default(),
            })
            .collect()
    }

    fn expire_sessions(&self) {
        self.lock().sessions.clear();
    }

    fn seed(&self, request: &SeedRequest) -> u32 {
        let Some(first) = self.options.inbounds.first().map(|inbound| inbound.id) else {
            return 0;
        };
        let mut store = self.lock();
        let mut created = 0;
        for n in 0..request.count {
            let email = format!("{}{n}", request.prefix);
            if store.rows.contains_key(&email) {
                continue;
            }
            let used = i64::try_from(request.used_bytes).unwrap_or(i64::MAX);
            store.insert(Client {
                email,
                uuid: new_uuid(),
                sub_id: random_token(16),
                total: i64::try_from(request.limit_bytes).unwrap_or(i64::MAX),
                expiry_ms: 0,
                limit_ip: 0,
                enable: true,
                comment: String::new(),
                tg_id: json!(0),
                reset: 0,
                flow: String::new(),
                up: used / 2,
                down: used - used / 2,
                last_online_ms: 0,
                inbound_ids: vec![first],
                created_ms: now_ms(),
                updated_ms: now_ms(),
            });
            created += 1;
        }
        created
    }
}

/// A running fake 3x-UI: the panel and its subscription server.
pub struct FakeXui {
    state: Arc<XuiState>,
    panel: Served,
    subscription: Served,
}

impl FakeXui {
    pub async fn start(
        addr: SocketAddr,
        options: FakeXuiOptions,
    ) -> Result<FakeXui, FakePanelError> {
        if !options.base_path.starts_with('/') || !options.base_path.ends_with('/') {
            return Err(FakePanelError::Options(format!(
                "the base path must start and end with /, not {}",
                options.base_path
            )));
        }
        if options.api_token.is_some() && options.generation == XuiGeneration::Two {
            return Err(FakePanelError::Options(
                "3x-UI 2.x has no API tokens".into(),
            ));
        }
        let sub_addr = options.sub_addr;
        let state = Arc::new(XuiState {
            options,
            faults: Faults::default(),
            store: Mutex::new(Store::default()),
        });
        let panel = Served::start(addr, api::panel_router(state.clone())).await?;
        let subscription = Served::start(sub_addr, api::subscription_router(state.clone())).await?;
        Ok(FakeXui {
            state,
            panel,
            subscription,
        })
    }

    /// The panel's address including its base path, e.g. `http://127.0.0.1:41234/random-path/`.
    pub fn url(&self) -> String {
        format!(
            "http://{}{}",
            self.panel.local_addr, self.state.options.base_path
        )
    }

    /// The panel's root, where the `/_sandbox/...` control routes are.
    pub fn root_url(&self) -> String {
        format!("http://{}/", self.panel.local_addr)
    }

    /// The subscription base, e.g. `http://127.0.0.1:41235/sub/`.
    pub fn subscription_base(&self) -> String {
        format!("http://{}/sub/", self.subscription.local_addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.panel.local_addr
    }

    pub fn control(&self) -> super::PanelControl {
        super::PanelControl::new(&self.root_url())
    }

    pub fn accounts(&self) -> Vec<FakeAccount> {
        self.state.accounts()
    }

    /// Stops the panel listening (the subscription server stays up): connections are
    /// refused until [`FakeXui::accept_connections`].
    pub async fn refuse_connections(&mut self) {
        self.panel.pause().await;
    }

    pub async fn accept_connections(&mut self) -> Result<(), FakePanelError> {
        self.panel.resume().await
    }

    pub async fn shutdown(self) {
        self.panel.shutdown().await;
        self.subscription.shutdown().await;
    }
}
