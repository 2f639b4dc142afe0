//! Shared set-up for the panel client tests: fake panels on loopback and a policy that
//! allow-lists 127.0.0.1 (the default policy refuses it).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sandbox::panels::{FakeMarzban, FakeMarzbanOptions, FakeXui, FakeXuiOptions, XuiGeneration};
use shared::panel::{
    connect, NetRule, NetworkPolicy, NewAccount, Panel, PanelCredentials, PanelError, PanelKind,
    PanelOptions, PanelUrl, Username,
};
use shared::secret::SecretString;

pub const GIB: u64 = 1024 * 1024 * 1024;
pub const DAY: i64 = 86_400;

pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

pub fn policy() -> NetworkPolicy {
    NetworkPolicy::strict().allow(NetRule::parse("127.0.0.1").unwrap())
}

pub fn options() -> PanelOptions {
    PanelOptions {
        network: policy(),
        request_timeout: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(1),
        attempts: 3,
        retry_backoff: Duration::from_millis(10),
        xui_subscription_base: None,
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn password(username: &str, password: &str) -> PanelCredentials {
    PanelCredentials::Password {
        username: username.into(),
        password: SecretString::new(password),
    }
}

pub fn new_account(name: &str) -> NewAccount {
    NewAccount {
        username: Username::parse(name).unwrap(),
        data_limit_bytes: None,
        expire_at: None,
        inbounds: Vec::new(),
        note: String::new(),
        ip_limit: None,
    }
}

pub async fn start_marzban() -> FakeMarzban {
    FakeMarzban::start(loopback(), FakeMarzbanOptions::default())
        .await
        .unwrap()
}

pub async fn marzban_panel(fake: &FakeMarzban) -> Arc<dyn Panel> {
    marzban_with(fake, options()).await.unwrap()
}

pub async fn marzban_with(
    fake: &FakeMarzban,
    options: PanelOptions,
) -> Result<Arc<dyn Panel>, PanelError> {
    let url = PanelUrl::parse(&fake.url(), &policy()).unwrap();
    connect(
        PanelKind::Marzban,
        url,
        password("admin", "admin-password"),
        options,
    )
    .await
}

pub async fn start_xui(generation: XuiGeneration, api_token: Option<&str>) -> FakeXui {
    let mut options = FakeXuiOptions::new(generation);
    options.api_token = api_token.map(str::to_string);
    FakeXui::start(loopback(), options).await.unwrap()
}

pub fn xui_options(fake: &FakeXui) -> PanelOptions {
    PanelOptions {
        xui_subscription_base: Some(PanelUrl::parse(&fake.subscription_base(), &policy()).unwrap()),
        ..options()
    }
}

pub async fn xui_panel(
    fake: &FakeXui,
    credentials: PanelCredentials,
) -> Result<Arc<dyn Panel>, PanelError> {
    let url = PanelUrl::parse(&fake.url(), &policy()).unwrap();
    connect(PanelKind::Xui, url, credentials, xui_options(fake)).await
}

/// A plain HTTP client for fetching subscription URLs.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

pub async fn status_of(url: &str) -> u16 {
    http().get(url).send().await.unwrap().status().as_u16()
}
