//! The instances store and the heartbeat endpoint, on SQLite and PostgreSQL.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use provisioner::store::{self, Desired, DesiredSpec, Lifecycle, PackageLimits, StoreError};
use shared::db::{Engine, Schema};
use shared::secret::{Keyring, SecretString};
use shared::telegram::BotToken;
use shared::testdb::TestDb;
use tower::ServiceExt;

fn keyring() -> Keyring {
    Keyring::from_config(&[Keyring::generate_key_line("k1")]).expect("keyring")
}

fn spec(token: &str, memory_mb: i64) -> DesiredSpec {
    DesiredSpec {
        bot_token: BotToken::parse(token).expect("token"),
        limits: PackageLimits {
            memory_mb,
            cpu_millis: 500,
            pids: 64,
        },
        panels: Vec::new(),
        data_key: SecretString::new(DATA_KEY),
        image_version: "0.1.0".to_string(),
    }
}

/// A fixed tenant data key: the same spec always hashes the same.
const DATA_KEY: &str = "d1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const TOKEN_A: &str = "111111:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const TOKEN_A_NEW: &str = "111111:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
const TOKEN_B: &str = "222222:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC";

async fn the_master_records_desired_state_with_an_encrypted_token(engine: Engine) {
    let Some(t) = TestDb::fresh(engine, Schema::Master).await else {
        return;
    };
    let keys = keyring();
    let created = store::set_desired(
        &t.db,
        "tenant-a",
        Desired::Running,
        &spec(TOKEN_A, 64),
        &keys,
    )
    .await
    .expect("set desired");
    assert_eq!(created.state, Lifecycle::Pending);
    assert_eq!(created.desired, Desired::Running);
    assert_eq!(created.bot_id, 111111);
    assert_eq!(created.spec.limits.memory_mb, 64);
    assert_eq!(created.bot_token(&keys).expect("decrypt").expose(), TOKEN_A);
    // The token is not stored in the clear.
    let raw: String =
        sqlx::query_scalar("SELECT bot_token_enc FROM instances WHERE tenant_id = 'tenant-a'")
            .fetch_one(t.db.pool())
            .await
            .expect("raw row");
    assert!(!raw.contains("AAAAAAAAAA"));

    // Same spec again: same hash. A new token or limits: a new hash.
    let again = store::set_desired(
        &t.db,
        "tenant-a",
        Desired::Running,
        &spec(TOKEN_A, 64),
        &keys,
    )
    .await
    .expect("again");
    assert_eq!(again.spec_hash, created.spec_hash);
    let bigger = store::set_desired(
        &t.db,
        "tenant-a",
        Desired::Running,
        &spec(TOKEN_A, 128),
        &keys,
    )
    .await
    .expect("bigger");
    assert_ne!(bigger.spec_hash, created.spec_hash);
    let new_token = store::set_desired(
        &t.db,
        "tenant-a",
        Desired::Running,
        &spec(TOKEN_A_NEW, 128),
        &keys,
    )
    .await
    .expect("new token of the same bot");
    assert_ne!(new_token.spec_hash, bigger.spec_hash);

    // Another tenant cannot take the same bot; a different bot is fine.
    let refused = store::set_desired(
        &t.db,
        "tenant-b",
        Desired::Running,
        &spec(TOKEN_A, 64),
        &keys,
    )
    .await;
    assert!(
        matches!(refused, Err(StoreError::TokenInUse)),
        "{refused:?}"
    );
    store::set_desired(
        &t.db,
        "tenant-b",
        Desired::Running,
        &spec(TOKEN_B, 64),
        &keys,
    )
    .await
    .expect("own bot");
    // Once tenant-a is deleted its bot may go to someone else.
    store::set_desired_state(&t.db, "tenant-a", Desired::Deleted)
        .await
        .expect("delete");
    store::set_desired(
        &t.db,
        "tenant-c",
        Desired::Running,
        &spec(TOKEN_A, 64),
        &keys,
    )
    .await
    .expect("the freed bot");
    assert_eq!(store::list(&t.db).await.expect("list").len(), 3);
    assert!(matches!(
        store::set_desired_state(&t.db, "nobody", Desired::Stopped).await,
        Err(StoreError::NotFound(_))
    ));
    t.cleanup().await.expect("cleanup");
}

async fn a_bot_reports_heartbeats_with_its_own_key_only(engine: Engine) {
    let Some(t) = TestDb::fresh(engine, Schema::Master).await else {
        return;
    };
    let keys = keyring();
    store::set_desired(
        &t.db,
        "tenant-a",
        Desired::Running,
        &spec(TOKEN_A, 64),
        &keys,
    )
    .await
    .expect("set desired");
    store::set_desired(
        &t.db,
        "tenant-b",
        Desired::Running,
        &spec(TOKEN_B, 64),
        &keys,
    )
    .await
    .expect("set desired");
    // The key the provisioner generated at create time; only its hash is stored.
    sqlx::query("UPDATE instances SET api_key_hash = $1 WHERE tenant_id = 'tenant-a'")
        .bind(store::hash_api_key("key-of-a"))
        .execute(t.db.pool())
        .await
        .expect("set key");
    sqlx::query("UPDATE instances SET api_key_hash = $1 WHERE tenant_id = 'tenant-b'")
        .bind(store::hash_api_key("key-of-b"))
        .execute(t.db.pool())
        .await
        .expect("set key");
    let app = provisioner::heartbeat::router(t.db.clone());
    let beat = |key: Option<&str>| {
        let mut request = Request::post("/internal/v1/heartbeat")
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(key) = key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        request
            .body(Body::from(
                r#"{"tenant_id":"tenant-a","version":"0.1.0","bot_username":"a_bot","started_at":1700000000,"updates_handled":7}"#,
            ))
            .expect("request")
    };
    let answer = app
        .clone()
        .oneshot(beat(Some("key-of-b")))
        .await
        .expect("call");
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    let answer = app.clone().oneshot(beat(None)).await.expect("call");
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    let before = store::get(&t.db, "tenant-a")
        .await
        .expect("get")
        .expect("row");
    assert!(before.last_heartbeat_at.is_none());
    assert!(!before.healthy);

    let answer = app
        .clone()
        .oneshot(beat(Some("key-of-a")))
        .await
        .expect("call");
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    let after = store::get(&t.db, "tenant-a")
        .await
        .expect("get")
        .expect("row");
    assert!(after.last_heartbeat_at.is_some());
    assert!(after.healthy);
    assert_eq!(after.bot_username.as_deref(), Some("a_bot"));
    assert_eq!(after.updates_handled, Some(7));
    assert_eq!(after.heartbeat_version.as_deref(), Some("0.1.0"));
    t.cleanup().await.expect("cleanup");
}

shared::on_both_engines!(
    the_master_records_desired_state_with_an_encrypted_token,
    a_bot_reports_heartbeats_with_its_own_key_only,
);
