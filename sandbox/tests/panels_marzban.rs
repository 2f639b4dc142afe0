//! The fake Marzban speaks Marzban 0.8's API: checked here over raw HTTP.

use std::net::SocketAddr;

use reqwest::StatusCode;
use sandbox::panels::{FakeMarzban, FakeMarzbanOptions};
use serde_json::{json, Value};

struct Env {
    fake: FakeMarzban,
    http: reqwest::Client,
    token: String,
}

impl Env {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.fake.url())
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

async fn start() -> Env {
    let fake = FakeMarzban::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        FakeMarzbanOptions::default(),
    )
    .await
    .unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let reply: Value = http
        .post(format!("{}api/admin/token", fake.url()))
        .form(&[("username", "admin"), ("password", "admin-password")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = reply["access_token"].as_str().unwrap().to_string();
    assert_eq!(reply["token_type"], "bearer");
    Env { fake, http, token }
}

#[tokio::test]
async fn login_and_bearer_rules() {
    let env = start().await;
    let wrong = env
        .http
        .post(env.url("api/admin/token"))
        .form(&[("username", "admin"), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let missing = env
        .http
        .post(env.url("api/admin/token"))
        .form(&[("username", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let anonymous = env.http.get(env.url("api/inbounds")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");

    let (status, inbounds) = env.call(reqwest::Method::GET, "api/inbounds", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(inbounds["vless"][0]["tag"], "VLESS TCP REALITY");

    env.fake.control().expire_sessions().await.unwrap();
    let (status, _) = env.call(reqwest::Method::GET, "api/inbounds", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    env.fake.shutdown().await;
}

#[tokio::test]
async fn create_validates_like_marzban() {
    let env = start().await;
    let post = |body: Value| env.call(reqwest::Method::POST, "api/user", Some(body));

    let (status, _) =
        post(json!({ "username": "ab", "proxies": { "vless": {} }, "inbounds": {} })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) =
        post(json!({ "username": "bad name!", "proxies": { "vless": {} }, "inbounds": {} })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = post(json!({ "username": "sara", "proxies": {}, "inbounds": {} })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) =
        post(json!({ "username": "sara", "proxies": { "vless": {} }, "data_limit": -1 })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = post(json!({ "username": "sara", "proxies": { "vless": {} }, "inbounds": { "vless": ["Nope"] } })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["detail"], "Inbound Nope doesn't exist");

    // Without the inbounds key the user gets no inbounds and no links.
    let (status, bare) =
        post(json!({ "username": "no_inbounds", "proxies": { "vless": {} } })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bare["links"], json!([]));
    // With an empty inbounds map: every inbound of each proxy's protocol.
    let (status, full) = post(
        json!({ "username": "sara", "proxies": { "vless": {}, "vmess": {} }, "inbounds": {},
        "expire": 1_900_000_000, "data_limit": 1073741824 }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(full["links"].as_array().unwrap().len(), 2);
    assert_eq!(full["expire"], 1_900_000_000);
    assert_eq!(full["data_limit"], 1073741824u64);
    assert_eq!(full["status"], "active");
    assert!(full["subscription_url"]
        .as_str()
        .unwrap()
        .starts_with("/sub/"));

    let (status, body) =
        post(json!({ "username": "sara", "proxies": { "vless": {} }, "inbounds": {} })).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["detail"], "User already exists");
    assert_eq!(env.fake.accounts().len(), 2);
    env.fake.shutdown().await;
}

#[tokio::test]
async fn status_is_recomputed_after_usage_and_changes() {
    let env = start().await;
    env.call(
        reqwest::Method::POST,
        "api/user",
        Some(json!({ "username": "sara", "proxies": { "vless": {} }, "inbounds": {}, "data_limit": 1000 })),
    )
    .await;
    env.fake.control().add_traffic("sara", 1000).await.unwrap();
    let (_, user) = env.call(reqwest::Method::GET, "api/user/sara", None).await;
    assert_eq!(user["status"], "limited");
    assert_eq!(user["used_traffic"], 1000);
    assert!(user["online_at"].as_str().unwrap().contains('T'));

    let (_, user) = env
        .call(
            reqwest::Method::PUT,
            "api/user/sara",
            Some(json!({ "data_limit": 2000 })),
        )
        .await;
    assert_eq!(user["status"], "active");
    let (_, user) = env
        .call(
            reqwest::Method::PUT,
            "api/user/sara",
            Some(json!({ "expire": 1000 })),
        )
        .await;
    assert_eq!(user["status"], "expired");
    let (status, _) = env
        .call(
            reqwest::Method::PUT,
            "api/user/sara",
            Some(json!({ "status": "limited" })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, user) = env
        .call(
            reqwest::Method::PUT,
            "api/user/sara",
            Some(json!({ "status": "disabled", "expire": 0 })),
        )
        .await;
    assert_eq!(user["status"], "disabled");
    assert_eq!(user["expire"], Value::Null);

    let (status, _) = env
        .call(reqwest::Method::GET, "api/user/nobody", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = env
        .call(reqwest::Method::DELETE, "api/user/sara", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = env
        .call(reqwest::Method::DELETE, "api/user/sara", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    env.fake.shutdown().await;
}

#[tokio::test]
async fn subscription_paging_and_revoke() {
    let env = start().await;
    for name in ["user1", "user2", "user3"] {
        env.call(
            reqwest::Method::POST,
            "api/user",
            Some(json!({ "username": name, "proxies": { "vless": {} }, "inbounds": {}, "data_limit": 5000, "expire": 1_900_000_000 })),
        )
        .await;
    }
    let (_, page) = env
        .call(reqwest::Method::GET, "api/users?offset=1&limit=1", None)
        .await;
    assert_eq!(page["total"], 3);
    assert_eq!(page["users"][0]["username"], "user2");

    let (_, user) = env.call(reqwest::Method::GET, "api/user/user1", None).await;
    let old = env.url(
        user["subscription_url"]
            .as_str()
            .unwrap()
            .trim_start_matches('/'),
    );
    let response = env.http.get(&old).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["subscription-userinfo"],
        "upload=0; download=0; total=5000; expire=1900000000"
    );
    let (_, revoked) = env
        .call(reqwest::Method::POST, "api/user/user1/revoke_sub", None)
        .await;
    let new = env.url(
        revoked["subscription_url"]
            .as_str()
            .unwrap()
            .trim_start_matches('/'),
    );
    assert_ne!(old, new);
    assert_eq!(
        env.http.get(&old).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        env.http.get(&new).send().await.unwrap().status(),
        StatusCode::OK
    );
    env.fake.shutdown().await;
}

#[tokio::test]
async fn control_routes_break_the_panel_on_purpose() {
    let env = start().await;
    let control = env.fake.control();
    control
        .fail_next(Some("GET"), "/api/inbounds", 500, 1)
        .await
        .unwrap();
    let (status, _) = env.call(reqwest::Method::GET, "api/inbounds", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (status, _) = env.call(reqwest::Method::GET, "api/inbounds", None).await;
    assert_eq!(status, StatusCode::OK);

    control.set_down(true).await.unwrap();
    let (status, _) = env.call(reqwest::Method::GET, "api/inbounds", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // The control routes keep working while the panel is down.
    assert!(control.accounts().await.unwrap().is_empty());
    control.set_down(false).await.unwrap();

    control
        .set_delay(std::time::Duration::from_millis(200))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    env.call(reqwest::Method::GET, "api/inbounds", None).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));

    assert!(control.add_traffic("nobody", 1).await.is_err());
    env.fake.shutdown().await;
}
