//! The fake 3x-UI speaks 3x-UI's API (both generations): checked here over raw HTTP.

use std::net::SocketAddr;

use reqwest::StatusCode;
use sandbox::panels::{FakeXui, FakeXuiOptions, XuiGeneration};
use serde_json::{json, Value};

const TOKEN: &str = "token-abc";

async fn start(generation: XuiGeneration) -> FakeXui {
    let mut options = FakeXuiOptions::new(generation);
    if generation == XuiGeneration::Three {
        options.api_token = Some(TOKEN.into());
    }
    FakeXui::start(SocketAddr::from(([127, 0, 0, 1], 0)), options)
        .await
        .unwrap()
}

fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .cookie_store(true)
        .build()
        .unwrap()
}

async fn login(http: &reqwest::Client, fake: &FakeXui) -> Value {
    http.post(format!("{}login", fake.url()))
        .form(&[("username", "admin"), ("password", "admin-password")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn base_path_login_and_404_when_unauthenticated() {
    for generation in [XuiGeneration::Two, XuiGeneration::Three] {
        let fake = start(generation).await;
        let http = cookie_client();
        // Outside the base path nothing answers.
        let outside = http
            .post(format!("{}login", fake.root_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(outside.status(), StatusCode::NOT_FOUND);
        // Unauthenticated API calls answer 404, not 401.
        let list = format!("{}panel/api/inbounds/list", fake.url());
        assert_eq!(
            http.get(&list).send().await.unwrap().status(),
            StatusCode::NOT_FOUND
        );

        let wrong = http
            .post(format!("{}login", fake.url()))
            .json(&json!({ "username": "admin", "password": "nope", "twoFactorCode": "" }))
            .send()
            .await
            .unwrap();
        let expected = match generation {
            XuiGeneration::Two => StatusCode::OK,
            XuiGeneration::Three => StatusCode::BAD_REQUEST,
        };
        assert_eq!(wrong.status(), expected);
        let body: Value = wrong.json().await.unwrap();
        assert_eq!(body["success"], false);

        assert_eq!(login(&http, &fake).await["success"], true);
        let reply: Value = http.get(&list).send().await.unwrap().json().await.unwrap();
        assert_eq!(reply["success"], true);
        assert_eq!(reply["obj"].as_array().unwrap().len(), 2);
        // 2.x sends settings as a JSON string, 3.x as an object.
        match generation {
            XuiGeneration::Two => assert!(reply["obj"][0]["settings"].is_string()),
            XuiGeneration::Three => assert!(reply["obj"][0]["settings"].is_object()),
        }

        fake.control().expire_sessions().await.unwrap();
        assert_eq!(
            http.get(&list).send().await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
        fake.shutdown().await;
    }
}

#[tokio::test]
async fn generation_2_adds_clients_with_settings_as_a_json_string() {
    let fake = start(XuiGeneration::Two).await;
    let http = cookie_client();
    login(&http, &fake).await;
    let add = format!("{}panel/api/inbounds/addClient", fake.url());
    let client = json!({ "id": "0b6c8a1e-8d7f-4c6b-9a53-1d2e3f405060", "email": "sara", "enable": true,
        "totalGB": 1073741824u64, "expiryTime": 1_900_000_000_000i64, "limitIp": 2, "tgId": "", "subId": "subsara123", "flow": "", "reset": 0 });
    // settings as an object is refused.
    let object: Value = http
        .post(&add)
        .json(&json!({ "id": 1, "settings": { "clients": [client.clone()] } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(object["success"], false);
    let settings = json!({ "clients": [client] }).to_string();
    let added: Value = http
        .post(&add)
        .json(&json!({ "id": 1, "settings": settings }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(added["success"], true, "{added}");
    let duplicate: Value = http
        .post(&add)
        .json(&json!({ "id": 2, "settings": settings }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(duplicate["success"], false);
    assert!(duplicate["msg"]
        .as_str()
        .unwrap()
        .contains("Duplicate email"));

    let stored = &fake.accounts()[0];
    assert_eq!(stored.limit_bytes, 1073741824);
    assert_eq!(stored.expire, 1_900_000_000_000);

    let traffic: Value = http
        .get(format!(
            "{}panel/api/inbounds/getClientTraffics/sara",
            fake.url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(traffic["obj"]["total"], 1073741824u64);
    let missing: Value = http
        .get(format!(
            "{}panel/api/inbounds/getClientTraffics/nobody",
            fake.url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(missing["obj"], Value::Null);

    // 3.x routes do not exist on 2.x.
    let clients = http
        .get(format!("{}panel/api/clients/list", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(clients.status(), StatusCode::NOT_FOUND);

    let subscription = format!("{}subsara123", fake.subscription_base());
    let response = http.get(&subscription).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["subscription-userinfo"],
        "upload=0; download=0; total=1073741824; expire=1900000000"
    );
    let deleted: Value = http
        .post(format!(
            "{}panel/api/inbounds/1/delClient/0b6c8a1e-8d7f-4c6b-9a53-1d2e3f405060",
            fake.url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deleted["success"], true);
    assert_eq!(
        http.get(&subscription).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn generation_3_needs_csrf_for_cookie_writes_but_not_for_tokens() {
    let fake = start(XuiGeneration::Three).await;
    let http = cookie_client();
    login(&http, &fake).await;
    let add = format!("{}panel/api/clients/add", fake.url());
    let body = json!({ "client": { "email": "sara", "totalGB": 0, "expiryTime": 0, "enable": true }, "inboundIds": [1, 2] });

    let without = http.post(&add).json(&body).send().await.unwrap();
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    let csrf: Value = http
        .get(format!("{}csrf-token", fake.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = csrf["obj"].as_str().unwrap().to_string();
    let with: Value = http
        .post(&add)
        .header("X-CSRF-Token", &csrf)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(with["success"], true);

    // An API token needs no cookie and no CSRF token.
    let bearer = reqwest::Client::builder().no_proxy().build().unwrap();
    let reply: Value = bearer
        .get(format!("{}panel/api/clients/get/sara", fake.url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["obj"]["inboundIds"], json!([1, 2]));
    assert!(reply["obj"]["uuid"].as_str().unwrap().len() == 36);
    let wrong = bearer
        .get(format!("{}panel/api/clients/get/sara", fake.url()))
        .bearer_auth("not-it")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::NOT_FOUND);

    let missing: Value = bearer
        .get(format!("{}panel/api/clients/get/nobody", fake.url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(missing["success"], false);

    let paged: Value = bearer
        .get(format!(
            "{}panel/api/clients/list/paged?page=1&pageSize=500",
            fake.url()
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(paged["obj"]["pageSize"], 200, "page size is capped");
    assert_eq!(paged["obj"]["total"], 1);
    fake.shutdown().await;
}

#[tokio::test]
async fn the_traffic_job_switches_off_used_up_and_expired_clients() {
    let fake = start(XuiGeneration::Three).await;
    let bearer = reqwest::Client::builder().no_proxy().build().unwrap();
    let add = format!("{}panel/api/clients/add", fake.url());
    for (email, total, expiry) in [
        ("full", 1000, 0i64),
        ("late", 0, 1000),
        ("hold", 0, -86_400_000),
    ] {
        let reply: Value = bearer
            .post(&add)
            .bearer_auth(TOKEN)
            .json(&json!({ "client": { "email": email, "totalGB": total, "expiryTime": expiry, "enable": true }, "inboundIds": [1] }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(reply["success"], true);
    }
    let control = fake.control();
    control.add_traffic("full", 1000).await.unwrap();
    control.add_traffic("hold", 10).await.unwrap();
    let accounts = control.accounts().await.unwrap();
    let find = |name: &str| {
        accounts
            .iter()
            .find(|a| a.username == name)
            .unwrap()
            .clone()
    };
    assert_eq!(find("full").status, "disabled");
    assert_eq!(find("late").status, "disabled");
    let hold = find("hold");
    assert_eq!(hold.status, "enabled");
    // First use turned "one day from first use" into a date a day from now.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!((hold.expire - (now_ms + 86_400_000)).abs() < 60_000);

    // Reset re-enables a client switched off for its data.
    let reset: Value = bearer
        .post(format!("{}panel/api/clients/resetTraffic/full", fake.url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reset["success"], true);
    let full = control
        .accounts()
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.username == "full")
        .unwrap();
    assert_eq!((full.status.as_str(), full.used_bytes), ("enabled", 0));
    fake.shutdown().await;
}
