//! The Marzban 0.8.x client: bearer token from `POST /api/admin/token`, renewed once on 401;
//! `expire` in unix seconds and `data_limit` in bytes (0 = none); `inbounds` always sent.

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::secret::SecretString;

use super::error::PanelError;
use super::http::{common_status_error, now_unix, read_text, shorten, PanelHttp, Retry};
use super::network::PanelUrl;
use super::types::{
    Account, AccountPage, AccountStatus, Inbound, InboundRef, NewAccount, PageRequest,
    PanelCredentials, PanelFlavor, PanelHealth, PanelOptions, Username,
};
use super::Panel;

const DAY_SECS: i64 = 86_400;

/// A Marzban 0.8.x panel. Prefer [`super::connect`], which also validates the login.
pub struct MarzbanPanel {
    url: PanelUrl,
    credentials: PanelCredentials,
    http: PanelHttp,
    /// The current bearer token; `None` until the first login or after a 401.
    token: Mutex<Option<SecretString>>,
}

/// A status code and body the panel answered with (401 already handled).
struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    fn json<T: for<'de> Deserialize<'de>>(&self) -> Result<T, PanelError> {
        serde_json::from_str(&self.body)
            .map_err(|error| PanelError::Unexpected(format!("{error} in {}", shorten(&self.body))))
    }

    /// Marzban's `{"detail": ...}` as text (a string, or a list of validation errors).
    fn detail(&self) -> String {
        match serde_json::from_str::<Value>(&self.body) {
            Ok(Value::Object(map)) => match map.get("detail") {
                Some(Value::String(text)) => text.clone(),
                Some(other) => shorten(&other.to_string()),
                None => shorten(&self.body),
            },
            _ => shorten(&self.body),
        }
    }

    fn rejected(&self) -> PanelError {
        PanelError::Rejected {
            status: self.status,
            message: self.detail(),
        }
    }
}

/// `UserResponse`, the fields Madar needs.
#[derive(Debug, Deserialize)]
struct MarzbanUser {
    username: String,
    status: String,
    #[serde(default)]
    used_traffic: u64,
    #[serde(default)]
    data_limit: Option<u64>,
    #[serde(default)]
    expire: Option<i64>,
    #[serde(default)]
    on_hold_expire_duration: Option<i64>,
    #[serde(default)]
    online_at: Option<String>,
    #[serde(default)]
    subscription_url: String,
    #[serde(default)]
    links: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct UsersPage {
    users: Vec<MarzbanUser>,
    total: u64,
}

#[derive(Debug, Deserialize)]
struct ProxyInbound {
    tag: String,
    protocol: String,
    #[serde(default)]
    port: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct TokenReply {
    access_token: String,
}

impl MarzbanPanel {
    pub fn new(
        url: PanelUrl,
        credentials: PanelCredentials,
        options: PanelOptions,
    ) -> Result<MarzbanPanel, PanelError> {
        let token = match &credentials {
            PanelCredentials::ApiToken(token) => Some(token.clone()),
            PanelCredentials::Password { .. } => None,
        };
        Ok(MarzbanPanel {
            http: PanelHttp::new(Arc::new(options.network.clone()), &options, false)?,
            url,
            credentials,
            token: Mutex::new(token),
        })
    }

    async fn login(&self) -> Result<SecretString, PanelError> {
        let PanelCredentials::Password { username, password } = &self.credentials else {
            // A given token cannot be renewed: the panel refused it.
            return Err(PanelError::WrongCredentials);
        };
        let form = [
            ("grant_type", "password"),
            ("username", username.as_str()),
            ("password", password.expose()),
        ];
        let request = self
            .http
            .client
            .post(self.url.join("api/admin/token")?)
            .form(&form);
        let response = self.http.send(request).await?;
        let status = response.status().as_u16();
        let body = read_text(response).await?;
        match status {
            200 => match serde_json::from_str::<TokenReply>(&body) {
                Ok(reply) => Ok(SecretString::new(reply.access_token)),
                // Something else answers 200 at this address.
                Err(_) => Err(PanelError::WrongBasePath),
            },
            401 | 403 => Err(PanelError::WrongCredentials),
            404 | 405 => Err(PanelError::WrongBasePath),
            _ => Err(
                common_status_error(status, &body).unwrap_or(PanelError::Rejected {
                    status,
                    message: shorten(&body),
                }),
            ),
        }
    }

    /// The current token, logging in first if there is none.
    async fn token(&self) -> Result<SecretString, PanelError> {
        let mut token = self.token.lock().await;
        if let Some(token) = token.as_ref() {
            return Ok(token.clone());
        }
        let fresh = self.login().await?;
        *token = Some(fresh.clone());
        Ok(fresh)
    }

    /// Drops `stale` so the next call logs in again (unless another call already did).
    async fn forget_token(&self, stale: &SecretString) {
        let mut token = self.token.lock().await;
        if token.as_ref() == Some(stale) {
            *token = None;
        }
    }

    /// One authenticated request; on 401 logs in again once and repeats it.
    async fn request_once(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, PanelError> {
        let url = self.url.join(path)?;
        let mut relogged = false;
        loop {
            let token = self.token().await?;
            let mut request = self
                .http
                .client
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose());
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = self.http.send(request).await?;
            let status = response.status().as_u16();
            if status == 401 {
                let can_renew = matches!(self.credentials, PanelCredentials::Password { .. });
                if !relogged && can_renew {
                    tracing::info!("Marzban token refused; logging in again");
                    self.forget_token(&token).await;
                    relogged = true;
                    continue;
                }
                return Err(PanelError::WrongCredentials);
            }
            let body = read_text(response).await?;
            if let Some(error) = common_status_error(status, &body) {
                return Err(error);
            }
            return Ok(Reply { status, body });
        }
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        retry: Retry,
    ) -> Result<Reply, PanelError> {
        self.http
            .retrying(retry, || self.request_once(&method, path, body.as_ref()))
            .await
    }

    async fn proxy_inbounds(&self) -> Result<BTreeMap<String, Vec<ProxyInbound>>, PanelError> {
        let reply = self
            .request(Method::GET, "api/inbounds", None, Retry::Safe)
            .await?;
        match reply.status {
            200 => reply.json(),
            404 => Err(PanelError::WrongBasePath),
            _ => Err(reply.rejected()),
        }
    }

    async fn user(&self, username: &str) -> Result<Option<MarzbanUser>, PanelError> {
        let name = Username::parse(username)?;
        let reply = self
            .request(Method::GET, &format!("api/user/{name}"), None, Retry::Safe)
            .await?;
        match reply.status {
            200 => reply.json().map(Some),
            404 => Ok(None),
            _ => Err(reply.rejected()),
        }
    }

    async fn existing_user(&self, username: &str) -> Result<MarzbanUser, PanelError> {
        self.user(username).await?.ok_or(PanelError::NotFound)
    }

    /// `PUT /api/user/{u}` with the changed fields; Marzban recomputes the status.
    async fn modify(&self, username: &str, changes: Value) -> Result<Account, PanelError> {
        let name = Username::parse(username)?;
        let reply = self
            .request(
                Method::PUT,
                &format!("api/user/{name}"),
                Some(changes),
                Retry::Safe,
            )
            .await?;
        self.user_reply(reply)
    }

    fn user_reply(&self, reply: Reply) -> Result<Account, PanelError> {
        match reply.status {
            200 => self.to_account(reply.json()?),
            404 => Err(PanelError::NotFound),
            _ => Err(reply.rejected()),
        }
    }

    fn to_account(&self, user: MarzbanUser) -> Result<Account, PanelError> {
        let status = match user.status.as_str() {
            "active" => AccountStatus::Active,
            "disabled" => AccountStatus::Disabled,
            "limited" => AccountStatus::Limited,
            "expired" => AccountStatus::Expired,
            "on_hold" => AccountStatus::OnHold,
            other => {
                return Err(PanelError::Unexpected(format!(
                    "unknown user status \"{}\"",
                    shorten(other)
                )))
            }
        };
        let subscription_url = if user.subscription_url.is_empty()
            || user.subscription_url.starts_with("http://")
            || user.subscription_url.starts_with("https://")
        {
            user.subscription_url
        } else {
            // Without XRAY_SUBSCRIPTION_URL_PREFIX Marzban answers a path like /sub/<token>.
            self.url
                .as_url()
                .join(&user.subscription_url)
                .map(String::from)
                .unwrap_or(user.subscription_url)
        };
        Ok(Account {
            username: user.username,
            used_bytes: user.used_traffic,
            data_limit_bytes: user.data_limit.filter(|limit| *limit > 0),
            expire_at: user.expire.filter(|expire| *expire > 0),
            status,
            online_at: user.online_at.as_deref().and_then(parse_marzban_time),
            subscription_url,
            links: user.links,
        })
    }
}

/// Marzban writes times as naive UTC (`2023-11-03T20:30:00.123456`), sometimes with a zone.
fn parse_marzban_time(text: &str) -> Option<i64> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(time.timestamp());
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|time| time.and_utc().timestamp())
}

#[async_trait::async_trait]
impl Panel for MarzbanPanel {
    async fn health(&self) -> Result<PanelHealth, PanelError> {
        let inbounds = self.proxy_inbounds().await?;
        Ok(PanelHealth {
            flavor: PanelFlavor::Marzban,
            inbounds: inbounds.values().map(Vec::len).sum(),
        })
    }

    async fn inbounds(&self) -> Result<Vec<Inbound>, PanelError> {
        let inbounds = self.proxy_inbounds().await?;
        Ok(inbounds
            .into_values()
            .flatten()
            .map(|inbound| Inbound {
                key: InboundRef(inbound.tag.clone()),
                protocol: inbound.protocol,
                remark: inbound.tag,
                port: inbound
                    .port
                    .and_then(|port| port.as_u64().and_then(|p| u16::try_from(p).ok())),
            })
            .collect())
    }

    async fn create_account(&self, request: &NewAccount) -> Result<Account, PanelError> {
        let available = self.proxy_inbounds().await?;
        // proxies: one entry per protocol (empty settings: Marzban generates ids);
        // inbounds: the tags per protocol, or {} for "all of that protocol".
        let mut proxies = serde_json::Map::new();
        let mut inbounds: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if request.inbounds.is_empty() {
            for protocol in available.keys() {
                proxies.insert(protocol.clone(), json!({}));
            }
        } else {
            for wanted in &request.inbounds {
                let found = available
                    .values()
                    .flatten()
                    .find(|inbound| inbound.tag == wanted.as_str())
                    .ok_or_else(|| {
                        PanelError::InvalidRequest(format!(
                            "the panel has no inbound \"{}\"",
                            wanted.as_str()
                        ))
                    })?;
                proxies.insert(found.protocol.clone(), json!({}));
                inbounds
                    .entry(found.protocol.clone())
                    .or_default()
                    .push(found.tag.clone());
            }
        }
        if proxies.is_empty() {
            return Err(PanelError::InvalidRequest(
                "the panel has no inbounds to put the account in".into(),
            ));
        }
        let body = json!({
            "username": request.username.as_str(),
            "proxies": proxies,
            "inbounds": inbounds,
            "expire": request.expire_at.unwrap_or(0),
            "data_limit": request.data_limit_bytes.unwrap_or(0),
            "data_limit_reset_strategy": "no_reset",
            "status": "active",
            "note": request.note,
        });
        // Safe to repeat: a repeat after a lost answer meets 409 and reports AlreadyExists.
        let reply = self
            .request(Method::POST, "api/user", Some(body), Retry::Safe)
            .await?;
        match reply.status {
            200 => self.to_account(reply.json()?),
            409 => Err(PanelError::AlreadyExists),
            _ => Err(reply.rejected()),
        }
    }

    async fn account(&self, username: &str) -> Result<Option<Account>, PanelError> {
        match self.user(username).await? {
            Some(user) => self.to_account(user).map(Some),
            None => Ok(None),
        }
    }

    async fn extend(&self, username: &str, days: u32) -> Result<Account, PanelError> {
        let user = self.existing_user(username).await?;
        let add = i64::from(days) * DAY_SECS;
        let changes = match (user.expire.filter(|e| *e > 0), user.status.as_str()) {
            (Some(expire), _) => json!({ "expire": expire.max(now_unix()) + add }),
            (None, "on_hold") => {
                let duration = user.on_hold_expire_duration.unwrap_or(0).max(0);
                json!({ "on_hold_expire_duration": duration + add })
            }
            (None, _) => return self.to_account(user),
        };
        self.modify(username, changes).await
    }

    async fn add_data(&self, username: &str, bytes: u64) -> Result<Account, PanelError> {
        let user = self.existing_user(username).await?;
        match user.data_limit.filter(|limit| *limit > 0) {
            Some(limit) => {
                self.modify(
                    username,
                    json!({ "data_limit": limit.saturating_add(bytes) }),
                )
                .await
            }
            None => self.to_account(user),
        }
    }

    async fn reset_traffic(&self, username: &str) -> Result<Account, PanelError> {
        let name = Username::parse(username)?;
        let reply = self
            .request(
                Method::POST,
                &format!("api/user/{name}/reset"),
                None,
                Retry::Safe,
            )
            .await?;
        self.user_reply(reply)
    }

    async fn revoke_subscription(&self, username: &str) -> Result<Account, PanelError> {
        let name = Username::parse(username)?;
        let reply = self
            .request(
                Method::POST,
                &format!("api/user/{name}/revoke_sub"),
                None,
                Retry::Once,
            )
            .await?;
        self.user_reply(reply)
    }

    async fn set_enabled(&self, username: &str, enabled: bool) -> Result<Account, PanelError> {
        let status = if enabled { "active" } else { "disabled" };
        self.modify(username, json!({ "status": status })).await
    }

    async fn delete_account(&self, username: &str) -> Result<(), PanelError> {
        let name = Username::parse(username)?;
        let reply = self
            .request(
                Method::DELETE,
                &format!("api/user/{name}"),
                None,
                Retry::Safe,
            )
            .await?;
        match reply.status {
            200 | 404 => Ok(()),
            _ => Err(reply.rejected()),
        }
    }

    async fn list_accounts(&self, page: PageRequest) -> Result<AccountPage, PanelError> {
        let path = format!("api/users?offset={}&limit={}", page.offset, page.limit);
        let reply = self.request(Method::GET, &path, None, Retry::Safe).await?;
        if reply.status != 200 {
            return Err(reply.rejected());
        }
        let users: UsersPage = reply.json()?;
        let accounts = users
            .users
            .into_iter()
            .map(|user| self.to_account(user))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AccountPage {
            accounts,
            total: users.total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_marzban_time;

    #[test]
    fn marzban_times_are_naive_utc() {
        assert_eq!(
            parse_marzban_time("2023-11-03T20:30:00"),
            Some(1_699_043_400)
        );
        assert_eq!(
            parse_marzban_time("2023-11-03T20:30:00.123456"),
            Some(1_699_043_400)
        );
        assert_eq!(
            parse_marzban_time("2023-11-03T20:30:00+00:00"),
            Some(1_699_043_400)
        );
        assert_eq!(parse_marzban_time("yesterday"), None);
    }
}
