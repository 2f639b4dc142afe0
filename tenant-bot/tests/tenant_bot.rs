//! A tenant's bot as its end users and the master see it, on both database engines.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use sandbox::client::ControlClient;
use sandbox::{Sandbox, SandboxOptions};
use shared::db::{Engine, Schema};
use shared::panel::NetworkPolicy;
use shared::secret::{Keyring, SecretString};
use shared::telegram::BotToken;
use shared::telemetry::LogFormat;
use shared::testdb::TestDb;
use tenant_bot::config::TenantConfig;

/// Heartbeats the fake master received: (authorization header, body).
type Beats = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

async fn fake_master() -> (url::Url, Beats) {
    async fn beat(
        State(beats): State<Beats>,
        headers: HeaderMap,
        Json(body): Json<serde_json::Value>,
    ) -> StatusCode {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        beats.lock().unwrap().push((auth, body));
        StatusCode::NO_CONTENT
    }
    let beats = Beats::default();
    let app = Router::new()
        .route("/internal/v1/heartbeat", post(beat))
        .with_state(beats.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, beats)
}

async fn a_tenant_bot_greets_with_its_own_name_and_reports_to_the_master(engine: Engine) {
    let Some(test_db) = TestDb::fresh(engine, Schema::Tenant).await else {
        return;
    };
    let sandbox = Sandbox::start(
        "127.0.0.1:0".parse().unwrap(),
        SandboxOptions::fast_for_tests(),
    )
    .await
    .unwrap();
    let control = ControlClient::new(&sandbox.url());
    let bot = control
        .create_bot("nimbus_vpn_bot", "Nimbus VPN")
        .await
        .unwrap();
    let (master_url, beats) = fake_master().await;
    let config = TenantConfig {
        tenant_id: "tenant-42".into(),
        bot_token: BotToken::parse(&bot.token).unwrap(),
        api_key: SecretString::new("key-of-tenant-42"),
        data_key: Keyring::from_config(&[Keyring::generate_key_line("d1")]).unwrap(),
        panel_network: NetworkPolicy::strict(),
        telegram_api_url: url::Url::parse(&sandbox.url()).unwrap(),
        master_url,
        database_url: test_db.url.clone(),
        heartbeat_every: Duration::from_millis(200),
        config_every: Duration::from_secs(60),
        log_format: LogFormat::Human,
        log_filter: "warn".into(),
    };
    let app = tenant_bot::app::start(&config).await.unwrap();
    assert_eq!(app.bot_username, "nimbus_vpn_bot");

    let reza = control
        .create_user("Reza", Some("reza"), Some("fa"))
        .await
        .unwrap();
    let sent = control.send(&bot.token, reza, "/start").await.unwrap();
    let answer = control
        .wait_for_bot_message(
            &bot.token,
            reza,
            sent.message_id,
            |_| true,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(answer.body().contains("سلام Reza"), "{}", answer.body());
    assert!(answer.body().contains("Nimbus VPN"), "{}", answer.body());

    let kate = control.create_user("Kate", None, Some("en")).await.unwrap();
    let sent = control.send(&bot.token, kate, "/start").await.unwrap();
    let answer = control
        .wait_for_bot_message(
            &bot.token,
            kate,
            sent.message_id,
            |_| true,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(
        answer.body().contains("Welcome to Nimbus VPN"),
        "{}",
        answer.body()
    );

    // Both end users are in the tenant's own database.
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM end_users")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(count, 2);

    // Heartbeats arrive, authenticated with the bot's key, counting the updates handled.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let last = beats.lock().unwrap().last().cloned();
        if let Some((auth, body)) = last {
            assert_eq!(auth, "Bearer key-of-tenant-42");
            assert_eq!(body["tenant_id"], "tenant-42");
            assert_eq!(body["bot_username"], "nimbus_vpn_bot");
            if body["updates_handled"].as_u64() == Some(2) {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no heartbeat counting 2 updates"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    app.shutdown().await.unwrap();
    sandbox.shutdown().await;
    test_db.cleanup().await.unwrap();
}

shared::on_both_engines!(a_tenant_bot_greets_with_its_own_name_and_reports_to_the_master);
