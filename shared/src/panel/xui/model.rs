//! 3x-UI's client records and how they map to [`Account`]: `totalGB` is bytes, `expiryTime`
//! unix milliseconds (0 = never, negative = a duration that starts at first use).

use serde_json::{Map, Value};

use super::super::types::{Account, AccountStatus};

/// `{success, msg, obj}`, the envelope of every 3x-UI answer.
#[derive(Debug, serde::Deserialize)]
pub(super) struct Envelope {
    pub success: bool,
    #[serde(default)]
    pub msg: String,
    #[serde(default)]
    pub obj: Value,
}

/// A number that older panels sometimes send as a string.
pub(super) fn int(map: &Map<String, Value>, key: &str) -> i64 {
    match map.get(key) {
        Some(Value::Number(number)) => number
            .as_i64()
            .or_else(|| number.as_f64().map(|float| float as i64))
            .unwrap_or_default(),
        Some(Value::String(text)) => text.trim().parse().unwrap_or_default(),
        _ => 0,
    }
}

pub(super) fn text(map: &Map<String, Value>, key: &str) -> String {
    match map.get(key) {
        Some(Value::String(text)) => text.clone(),
        _ => String::new(),
    }
}

pub(super) fn flag(map: &Map<String, Value>, key: &str, default: bool) -> bool {
    map.get(key).and_then(Value::as_bool).unwrap_or(default)
}

/// What Madar reads from one client, whichever call it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ClientState {
    pub email: String,
    pub sub_id: String,
    pub enable: bool,
    pub total_bytes: i64,
    pub expiry_ms: i64,
    pub up: i64,
    pub down: i64,
    pub last_online_ms: i64,
}

impl ClientState {
    /// From a client object plus its traffic record (either may carry `enable`; the traffic
    /// record's is the one the panel's traffic job switches off).
    pub fn from_parts(client: &Map<String, Value>, traffic: Option<&Map<String, Value>>) -> Self {
        let enable = flag(client, "enable", true)
            && traffic.is_none_or(|traffic| flag(traffic, "enable", true));
        ClientState {
            email: text(client, "email"),
            sub_id: text(client, "subId"),
            enable,
            total_bytes: int(client, "totalGB"),
            expiry_ms: int(client, "expiryTime"),
            up: traffic.map_or(0, |t| int(t, "up")),
            down: traffic.map_or(0, |t| int(t, "down")),
            last_online_ms: traffic.map_or(0, |t| int(t, "lastOnline")),
        }
    }

    pub fn used(&self) -> u64 {
        u64::try_from(self.up.saturating_add(self.down)).unwrap_or_default()
    }

    pub fn status(&self, now_ms: i64) -> AccountStatus {
        let used = self.used();
        let depleted = self.total_bytes > 0 && used >= self.total_bytes as u64;
        let expired = self.expiry_ms > 0 && self.expiry_ms <= now_ms;
        if depleted {
            AccountStatus::Limited
        } else if expired {
            AccountStatus::Expired
        } else if !self.enable {
            AccountStatus::Disabled
        } else if self.expiry_ms < 0 {
            AccountStatus::OnHold
        } else {
            AccountStatus::Active
        }
    }

    pub fn to_account(&self, now_ms: i64, subscription_base: &str, links: Vec<String>) -> Account {
        let subscription_url = if self.sub_id.is_empty() {
            String::new()
        } else {
            format!("{subscription_base}{}", self.sub_id)
        };
        Account {
            username: self.email.clone(),
            used_bytes: self.used(),
            data_limit_bytes: u64::try_from(self.total_bytes).ok().filter(|t| *t > 0),
            expire_at: (self.expiry_ms > 0).then_some(self.expiry_ms / 1000),
            status: self.status(now_ms),
            online_at: (self.last_online_ms > 0).then_some(self.last_online_ms / 1000),
            subscription_url,
            links,
        }
    }
}

/// Unix milliseconds now.
pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}

/// A fresh subscription id in 3x-UI's style: 16 lowercase letters and digits.
pub(super) fn new_sub_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..16)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// `settings` is a JSON string in 2.x and an object in 3.x; both give the client list.
pub(super) fn settings_clients(settings: &Value) -> Vec<Map<String, Value>> {
    let parsed;
    let settings = match settings {
        Value::String(text) => {
            parsed = serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
            &parsed
        }
        other => other,
    };
    settings
        .get("clients")
        .and_then(Value::as_array)
        .map(|clients| {
            clients
                .iter()
                .filter_map(|client| client.as_object().cloned())
                .collect()
        })
        .unwrap_or_default()
}

/// Which field of a 2.x client identifies it in `updateClient/{id}` and `delClient/{id}`.
pub(super) fn client_key_field(protocol: &str) -> &'static str {
    match protocol {
        "trojan" => "password",
        "shadowsocks" => "email",
        _ => "id",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(client: Value, traffic: Value) -> ClientState {
        ClientState::from_parts(client.as_object().unwrap(), traffic.as_object())
    }

    #[test]
    fn status_follows_3x_ui_rules() {
        let now = 1_800_000_000_000;
        let active = state(
            json!({ "email": "a", "totalGB": 100, "expiryTime": now + 1 }),
            json!({ "up": 10, "down": 20 }),
        );
        assert_eq!(active.status(now), AccountStatus::Active);
        assert_eq!(active.used(), 30);
        let limited = state(
            json!({ "totalGB": 30, "enable": false }),
            json!({ "up": 10, "down": 20 }),
        );
        assert_eq!(limited.status(now), AccountStatus::Limited);
        let expired = state(json!({ "expiryTime": now - 1 }), json!({ "enable": false }));
        assert_eq!(expired.status(now), AccountStatus::Expired);
        let disabled = state(json!({ "enable": false }), Value::Null);
        assert_eq!(disabled.status(now), AccountStatus::Disabled);
        let on_hold = state(json!({ "expiryTime": -86_400_000 }), Value::Null);
        assert_eq!(on_hold.status(now), AccountStatus::OnHold);
    }

    #[test]
    fn units_become_bytes_and_seconds() {
        let client = state(
            json!({ "email": "sara", "subId": "abc", "totalGB": "1073741824", "expiryTime": 1_900_000_000_123i64 }),
            json!({ "up": 1, "down": 2, "lastOnline": 1_800_000_000_999i64 }),
        );
        let account = client.to_account(0, "https://p.example.com:2096/sub/", Vec::new());
        assert_eq!(account.data_limit_bytes, Some(1_073_741_824));
        assert_eq!(account.expire_at, Some(1_900_000_000));
        assert_eq!(account.online_at, Some(1_800_000_000));
        assert_eq!(
            account.subscription_url,
            "https://p.example.com:2096/sub/abc"
        );
    }

    #[test]
    fn settings_as_string_or_object() {
        let as_string = json!("{\"clients\":[{\"email\":\"a\"}]}");
        let as_object = json!({ "clients": [{ "email": "a" }] });
        assert_eq!(settings_clients(&as_string), settings_clients(&as_object));
        assert_eq!(settings_clients(&as_string).len(), 1);
        assert!(settings_clients(&json!("not json")).is_empty());
    }
}
