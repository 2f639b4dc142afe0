//! A fake Marzban 0.8.x: bearer tokens from `POST /api/admin/token`, users with `expire` in
//! unix seconds and `data_limit` in bytes, the status recomputed on every read and change,
//! 401/404/409/422 as Marzban answers them, and `/sub/{token}` subscriptions.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::common::{
    naive_utc, new_uuid, now_secs, random_token, ControlTarget, FakeAccount, FakePanelError,
    Faults, SeedRequest, Served,
};

mod api;

/// One inbound of the fake's Xray config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarzbanInbound {
    pub tag: String,
    /// vmess, vless, trojan or shadowsocks.
    pub protocol: String,
    pub port: u16,
}

#[derive(Debug, Clone)]
pub struct FakeMarzbanOptions {
    pub admin_user: String,
    pub admin_password: String,
    pub inbounds: Vec<MarzbanInbound>,
}

impl Default for FakeMarzbanOptions {
    fn default() -> Self {
        FakeMarzbanOptions {
            admin_user: "admin".into(),
            admin_password: "admin-password".into(),
            inbounds: vec![
                MarzbanInbound {
                    tag: "VLESS TCP REALITY".into(),
                    protocol: "vless".into(),
                    port: 8443,
                },
                MarzbanInbound {
                    tag: "VMess Websocket".into(),
                    protocol: "vmess".into(),
                    port: 8080,
                },
            ],
        }
    }
}

const PROTOCOLS: [&str; 4] = ["vmess", "vless", "trojan", "shadowsocks"];

/// The status a user was given; limited and expired are computed from usage and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BaseStatus {
    Active,
    Disabled,
    OnHold,
}

#[derive(Debug, Clone)]
struct User {
    username: String,
    base: BaseStatus,
    used: u64,
    lifetime_used: u64,
    /// 0 = unlimited.
    data_limit: u64,
    /// Unix seconds; 0 = never.
    expire: i64,
    on_hold_expire_duration: i64,
    /// Protocol -> credential (UUID or password).
    proxies: BTreeMap<String, String>,
    /// Protocol -> inbound tags.
    inbounds: BTreeMap<String, Vec<String>>,
    note: String,
    sub_token: String,
    online_at: Option<i64>,
    created_at: i64,
}

impl User {
    fn status(&self, now: i64) -> &'static str {
        match self.base {
            BaseStatus::Disabled => "disabled",
            BaseStatus::OnHold => "on_hold",
            BaseStatus::Active if self.data_limit > 0 && self.used >= self.data_limit => "limited",
            BaseStatus::Active if self.expire > 0 && self.expire <= now => "expired",
            BaseStatus::Active => "active",
        }
    }
}

#[derive(Debug, Default)]
struct Store {
    /// In creation order, as Marzban lists them.
    users: BTreeMap<u64, User>,
    ids: HashMap<String, u64>,
    subs: HashMap<String, String>,
    next_id: u64,
    tokens: HashSet<String>,
}

impl Store {
    fn user(&self, username: &str) -> Option<&User> {
        self.ids.get(username).and_then(|id| self.users.get(id))
    }

    fn user_mut(&mut self, username: &str) -> Option<&mut User> {
        let id = *self.ids.get(username)?;
        self.users.get_mut(&id)
    }

    fn insert(&mut self, user: User) {
        self.next_id += 1;
        self.ids.insert(user.username.clone(), self.next_id);
        self.subs
            .insert(user.sub_token.clone(), user.username.clone());
        self.users.insert(self.next_id, user);
    }
}

pub struct MarzbanState {
    options: FakeMarzbanOptions,
    faults: Faults,
    store: Mutex<Store>,
}

impl MarzbanState {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn links(&self, user: &User) -> Vec<String> {
        let mut links = Vec::new();
        for (protocol, tags) in &user.inbounds {
            let Some(credential) = user.proxies.get(protocol) else {
                continue;
            };
            for tag in tags {
                let Some(inbound) = self.options.inbounds.iter().find(|i| &i.tag == tag) else {
                    continue;
                };
                links.push(share_link(protocol, credential, inbound, &user.username));
            }
        }
        links
    }

    fn user_json(&self, user: &User, now: i64) -> Value {
        let proxies: Map<String, Value> = user
            .proxies
            .iter()
            .map(|(protocol, credential)| {
                let settings = match protocol.as_str() {
                    "trojan" | "shadowsocks" => json!({ "password": credential }),
                    _ => json!({ "id": credential }),
                };
                (protocol.clone(), settings)
            })
            .collect();
        json!({
            "username": user.username,
            "status": user.status(now),
            "used_traffic": user.used,
            "lifetime_used_traffic": user.lifetime_used,
            "data_limit": if user.data_limit > 0 { json!(user.data_limit) } else { Value::Null },
            "data_limit_reset_strategy": "no_reset",
            "expire": if user.expire > 0 { json!(user.expire) } else { Value::Null },
            "proxies": proxies,
            "inbounds": user.inbounds,
            "excluded_inbounds": {},
            "note": user.note,
            "sub_updated_at": Value::Null,
            "sub_last_user_agent": Value::Null,
            "online_at": user.online_at.map(naive_utc),
            "on_hold_expire_duration": if user.base == BaseStatus::OnHold { json!(user.on_hold_expire_duration) } else { Value::Null },
            "on_hold_timeout": Value::Null,
            "auto_delete_in_days": Value::Null,
            "next_plan": Value::Null,
            "created_at": naive_utc(user.created_at),
            "links": self.links(user),
            // Marzban without XRAY_SUBSCRIPTION_URL_PREFIX answers a path.
            "subscription_url": format!("/sub/{}/", user.sub_token),
            "admin": { "username": self.options.admin_user, "is_sudo": true, "telegram_id": Value::Null, "discord_webhook": Value::Null, "users_usage": 0 },
        })
    }

    fn new_user(
        &self,
        username: String,
        proxies: BTreeMap<String, String>,
        inbounds: BTreeMap<String, Vec<String>>,
    ) -> User {
        User {
            username,
            base: BaseStatus::Active,
            used: 0,
            lifetime_used: 0,
            data_limit: 0,
            expire: 0,
            on_hold_expire_duration: 0,
            proxies,
            inbounds,
            note: String::new(),
            sub_token: random_token(24),
            online_at: None,
            created_at: now_secs(),
        }
    }

    /// Tags of every inbound of `protocol`.
    fn tags_of(&self, protocol: &str) -> Vec<String> {
        self.options
            .inbounds
            .iter()
            .filter(|inbound| inbound.protocol == protocol)
            .map(|inbound| inbound.tag.clone())
            .collect()
    }
}

fn share_link(
    protocol: &str,
    credential: &str,
    inbound: &MarzbanInbound,
    username: &str,
) -> String {
    let name = format!("{} ({username})", inbound.tag).replace(' ', "%20");
    match protocol {
        "vmess" => {
            let config = json!({ "v": "2", "ps": format!("{} ({username})", inbound.tag), "add": "127.0.0.1", "port": inbound.port, "id": credential, "net": "ws", "tls": "none" });
            format!(
                "vmess://{}",
                base64::engine::general_purpose::STANDARD.encode(config.to_string())
            )
        }
        "trojan" => format!(
            "trojan://{credential}@127.0.0.1:{}?security=none#{name}",
            inbound.port
        ),
        "shadowsocks" => format!("ss://{credential}@127.0.0.1:{}#{name}", inbound.port),
        _ => format!(
            "vless://{credential}@127.0.0.1:{}?security=none&type=tcp#{name}",
            inbound.port
        ),
    }
}

impl ControlTarget for MarzbanState {
    fn faults(&self) -> &Faults {
        &self.faults
    }

    fn add_traffic(&self, username: &str, bytes: u64) -> bool {
        let mut store = self.lock();
        let Some(user) = store.user_mut(username) else {
            return false;
        };
        user.used = user.used.saturating_add(bytes);
        user.lifetime_used = user.lifetime_used.saturating_add(bytes);
        user.online_at = Some(now_secs());
        // First use starts an on-hold user's time.
        if user.base == BaseStatus::OnHold {
            user.base = BaseStatus::Active;
            user.expire = now_secs() + user.on_hold_expire_duration;
        }
        true
    }

    fn accounts(&self) -> Vec<FakeAccount> {
        let store = self.lock();
        let now = now_secs();
        store
            .users
            .values()
            .map(|user| FakeAccount {
                username: user.username.clone(),
                used_bytes: user.used,
                limit_bytes: user.data_limit,
                expire: user.expire,
                status: user.status(now).to_string(),
                sub_id: user.sub_token.clone(),
                credential: user.proxies.values().next().cloned().unwrap_or_default(),
                inbounds: user.inbounds.values().flatten().cloned().collect(),
                note: user.note.clone(),
                ip_limit: 0,
            })
            .collect()
    }

    fn expire_sessions(&self) {
        self.lock().tokens.clear();
    }

    fn seed(&self, request: &SeedRequest) -> u32 {
        let protocols: Vec<String> = self
            .options
            .inbounds
            .iter()
            .map(|inbound| inbound.protocol.clone())
            .collect();
        let mut store = self.lock();
        let mut created = 0;
        for n in 0..request.count {
            let username = format!("{}{n}", request.prefix);
            if store.ids.contains_key(&username) {
                continue;
            }
            let proxies = protocols.iter().map(|p| (p.clone(), new_uuid())).collect();
            let inbounds = protocols
                .iter()
                .map(|p| (p.clone(), self.tags_of(p)))
                .collect();
            let mut user = self.new_user(username, proxies, inbounds);
            user.data_limit = request.limit_bytes;
            user.used = request.used_bytes;
            user.lifetime_used = request.used_bytes;
            store.insert(user);
            created += 1;
        }
        created
    }
}

/// A running fake Marzban.
pub struct FakeMarzban {
    state: Arc<MarzbanState>,
    served: Served,
}

impl FakeMarzban {
    /// Serves on `addr` (loopback; port 0 picks a free port).
    pub async fn start(
        addr: SocketAddr,
        options: FakeMarzbanOptions,
    ) -> Result<FakeMarzban, FakePanelError> {
        for inbound in &options.inbounds {
            if !PROTOCOLS.contains(&inbound.protocol.as_str()) {
                return Err(FakePanelError::Options(format!(
                    "unknown protocol {}",
                    inbound.protocol
                )));
            }
        }
        let state = Arc::new(MarzbanState {
            options,
            faults: Faults::default(),
            store: Mutex::new(Store::default()),
        });
        let served = Served::start(addr, api::router(state.clone())).await?;
        Ok(FakeMarzban { state, served })
    }

    /// The panel's address, e.g. `http://127.0.0.1:41234/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.served.local_addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.served.local_addr
    }

    /// A typed client of this fake's `/_sandbox/...` routes.
    pub fn control(&self) -> super::PanelControl {
        super::PanelControl::new(&self.url())
    }

    /// In-process view of the accounts (the same as `/_sandbox/accounts`).
    pub fn accounts(&self) -> Vec<FakeAccount> {
        self.state.accounts()
    }

    /// Stops listening: connections to the panel are refused until
    /// [`FakeMarzban::accept_connections`].
    pub async fn refuse_connections(&mut self) {
        self.served.pause().await;
    }

    pub async fn accept_connections(&mut self) -> Result<(), FakePanelError> {
        self.served.resume().await
    }

    pub async fn shutdown(self) {
        self.served.shutdown().await;
    }
}
