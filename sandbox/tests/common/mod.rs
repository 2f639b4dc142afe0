//! Shared set-up for the sandbox's integration tests.
#![allow(dead_code)]

use std::net::SocketAddr;

use sandbox::client::{BotInfo, ControlClient};
use sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;

pub struct TestEnv {
    pub sandbox: Sandbox,
    pub control: ControlClient,
    pub http: reqwest::Client,
    pub bot: BotInfo,
    /// A user who has already written /start to `bot`.
    pub user: i64,
}

pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

pub async fn start() -> TestEnv {
    start_with(SandboxOptions::fast_for_tests()).await
}

pub async fn start_with(options: SandboxOptions) -> TestEnv {
    let sandbox = Sandbox::start(loopback(), options).await.unwrap();
    let control = ControlClient::new(&sandbox.url());
    let bot = control
        .create_bot("test_shop_bot", "Test Shop")
        .await
        .unwrap();
    let user = control
        .create_user("Sara", Some("sara"), Some("fa"))
        .await
        .unwrap();
    control.send(&bot.token, user, "/start").await.unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    TestEnv {
        sandbox,
        control,
        http,
        bot,
        user,
    }
}

impl TestEnv {
    pub fn method_url(&self, token: &str, method: &str) -> String {
        format!("{}/bot{}/{}", self.sandbox.url(), token, method)
    }

    /// Calls a Bot API method with a JSON body; returns the HTTP status and the body.
    pub async fn call_as(&self, token: &str, method: &str, params: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.method_url(token, method))
            .json(&params)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    pub async fn call(&self, method: &str, params: Value) -> (u16, Value) {
        self.call_as(&self.bot.token, method, params).await
    }

    /// Calls a method that must succeed and returns its `result`.
    pub async fn ok(&self, method: &str, params: Value) -> Value {
        let (status, body) = self.call(method, params).await;
        assert_eq!(status, 200, "{method} failed: {body}");
        assert_eq!(body["ok"], Value::Bool(true), "{body}");
        body["result"].clone()
    }

    /// Calls a method that must fail; returns (error_code, description).
    pub async fn err(&self, method: &str, params: Value) -> (i64, String) {
        let (status, body) = self.call(method, params).await;
        assert_eq!(
            body["ok"],
            Value::Bool(false),
            "{method} should fail: {body}"
        );
        let code = body["error_code"].as_i64().unwrap();
        assert_eq!(i64::from(status), code, "HTTP status mirrors error_code");
        (code, body["description"].as_str().unwrap().to_string())
    }
}

/// Parses an update the way teloxide does (from text). `serde_json::from_value` does not
/// work for `Update`: its kind visitor borrows `&str`, so it yields `UpdateKind::Error`.
pub fn update(value: &Value) -> teloxide::types::Update {
    serde_json::from_str(&value.to_string()).unwrap()
}

pub fn updates(value: &Value) -> Vec<teloxide::types::Update> {
    serde_json::from_str(&value.to_string()).unwrap()
}
