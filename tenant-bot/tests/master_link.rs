//! The tenant bot keeps in step with what the master knows about its tenant: owner, channel,
//! package limits and panels. On SQLite and PostgreSQL.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use shared::db::{Db, Engine, Schema};
use shared::panel::{PanelCredentials, PanelKind};
use shared::secret::{Keyring, SecretString};
use shared::tenant_link::{LinkedPanel, TenantLimits, TenantLinkConfig, CONFIG_PATH};
use shared::testdb::TestDb;
use tenant_bot::master_link::{self, ApplyReport, MasterLink};
use tenant_bot::notices::Notice;
use tenant_bot::panels::{self, PanelRow, Source};
use tenant_bot::settings::{self, Channel, Limits};
use tenant_bot::{admins, Error};
use tokio_util::sync::CancellationToken;

const T0: i64 = 1_795_257_600;
const SARA: i64 = 7001;
const REZA: i64 = 7002;

fn keyring() -> Keyring {
    Keyring::from_config(&[Keyring::generate_key_line("d1")]).unwrap()
}

fn panel(id: &str, host: &str, password: &str) -> LinkedPanel {
    LinkedPanel {
        id: id.into(),
        kind: PanelKind::Marzban,
        url: format!("https://{host}:8000/"),
        username: "admin".into(),
        password: SecretString::new(password),
    }
}

/// Sara's shop: her channel, a package of 100 end users and 2 panels, and one panel.
fn saras_shop(panels: Vec<LinkedPanel>) -> TenantLinkConfig {
    TenantLinkConfig {
        tenant_id: "tenant-sara".into(),
        owner_telegram_id: Some(SARA),
        channel: Some("@nimbus_vpn".into()),
        limits: TenantLimits {
            max_end_users: Some(100),
            max_panels: Some(2),
        },
        panels,
        nowpayments_ipn_url: None,
    }
}

async fn by_ref(db: &Db, master_id: &str) -> PanelRow {
    panels::all(db)
        .await
        .unwrap()
        .into_iter()
        .find(|row| row.source_ref.as_deref() == Some(master_id))
        .unwrap_or_else(|| panic!("no panel from the master's {master_id}"))
}

async fn password_of(db: &Db, keyring: &Keyring, row: &PanelRow) -> String {
    match panels::credentials(db, keyring, &row.id).await.unwrap() {
        PanelCredentials::Password { password, .. } => password.expose().to_string(),
        PanelCredentials::ApiToken(_) => panic!("a password was expected"),
    }
}

async fn enabled_refs(db: &Db) -> Vec<String> {
    panels::all(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|row| row.enabled)
        .filter_map(|row| row.source_ref)
        .collect()
}

async fn panel_limit_notices(db: &Db) -> Vec<(i64, Notice)> {
    tenant_bot::notices::due(db, i64::MAX, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| matches!(n.notice, Notice::PanelLimitReached { .. }))
        .map(|n| (n.telegram_id, n.notice))
        .collect()
}

async fn the_first_config_arrives_encrypted_and_a_second_changes_nothing(engine: Engine) {
    let Some(t) = TestDb::fresh(engine, Schema::Tenant).await else {
        return;
    };
    let (db, keyring) = (&t.db, keyring());
    let config = saras_shop(vec![panel("m-1", "de1.nimbus.example", "Gr33n-Tea!")]);

    let report = master_link::apply(db, &keyring, &config, T0).await.unwrap();
    assert!(report.owner_changed && report.channel_changed && report.limits_changed);
    assert_eq!(report.panels_added.len(), 1, "{report:?}");

    // Sara runs the shop; her channel and package are the bot's.
    assert_eq!(admins::ids(db).await.unwrap(), vec![SARA]);
    let channel: Channel = settings::get(db).await.unwrap();
    assert_eq!(channel.chat.as_deref(), Some("@nimbus_vpn"));
    let limits: Limits = settings::get(db).await.unwrap();
    assert_eq!(limits.max_end_users, Some(100));
    assert_eq!(limits.max_panels, Some(2));

    // The panel is in rotation, named after its host, its password only encrypted at rest.
    let row = by_ref(db, "m-1").await;
    assert_eq!(row.name, "de1.nimbus.example");
    assert_eq!(row.source, Source::Master);
    assert_eq!(row.kind, PanelKind::Marzban);
    assert!(row.enabled);
    let stored: String = sqlx::query_scalar("SELECT credentials_enc FROM panels WHERE id = $1")
        .bind(&row.id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert!(!stored.contains("Gr33n-Tea!"), "{stored}");
    assert_eq!(password_of(db, &keyring, &row).await, "Gr33n-Tea!");

    // A minute later the master says the same: nothing is written.
    let again = master_link::apply(db, &keyring, &config, T0 + 60)
        .await
        .unwrap();
    assert_eq!(again, ApplyReport::default());
    assert_eq!(
        by_ref(db, "m-1").await.updated_at,
        T0,
        "the row was not rewritten"
    );
}

async fn a_new_password_and_a_new_owner_follow_the_master(engine: Engine) {
    let Some(t) = TestDb::fresh(engine, Schema::Tenant).await else {
        return;
    };
    let (db, keyring) = (&t.db, keyring());
    let mut config = saras_shop(vec![panel("m-1", "de1.nimbus.example", "Gr33n-Tea!")]);
    master_link::apply(db, &keyring, &config, T0).await.unwrap();

    // Sara changes the panel's password in the master.
    config.panels[0].password = SecretString::new("Bl4ck-Coffee?");
    let report = master_link::apply(db, &keyring, &config, T0 + 60)
        .await
        .unwrap();
    let row = by_ref(db, "m-1").await;
    assert_eq!(report.panels_updated, vec![row.id.clone()]);
    assert_eq!(row.updated_at, T0 + 60, "the live client is rebuilt");
    assert_eq!(password_of(db, &keyring, &row).await, "Bl4ck-Coffee?");
    assert_eq!(panels::count(db).await.unwrap(), 1, "updated, not added");

    // The business changes hands: Reza is the owner now, Sara no longer.
    config.owner_telegram_id = Some(REZA);
    let report = master_link::apply(db, &keyring, &config, T0 + 120)
        .await
        .unwrap();
    assert!(report.owner_changed);
    assert_eq!(admins::ids(db).await.unwrap(), vec![REZA]);
    assert!(!admins::is_admin(db, SARA).await.unwrap());
}

async fn a_panel_removed_in_the_master_leaves_rotation_but_stays(engine: Engine) {
    let Some(t) = TestDb::fresh(engine, Schema::Tenant).await else {
        return;
    };
    let (db, keyring) = (&t.db, keyring());
    let both = vec![
        panel("m-1", "de1.nimbus.example", "one"),
        panel("m-2", "nl1.nimbus.example", "two"),
    ];
    let mut config = saras_shop(both.clone());
    master_link::apply(db, &keyring, &config, T0).await.unwrap();
    assert_eq!(enabled_refs(db).await.len(), 2);

    // Sara deletes the Dutch panel in the master: no new accounts go there, but the row
    // stays for the services that live on it.
    config.panels = vec![both[0].clone()];
    let report = master_link::apply(db, &keyring, &config, T0 + 60)
        .await
        .unwrap();
    let dutch = by_ref(db, "m-2").await;
    assert_eq!(report.taken_out_of_rotation, vec![dutch.id.clone()]);
    assert!(!dutch.enabled);
    assert_eq!(enabled_refs(db).await, vec!["m-1".to_string()]);
    assert_eq!(panels::count(db).await.unwrap(), 2);

    // She adds it back: it returns to rotation.
    config.panels = both;
    let report = master_link::apply(db, &keyring, &config, T0 + 120)
        .await
        .unwrap();
    assert_eq!(report.back_in_rotation, vec![dutch.id.clone()]);
    assert_eq!(enabled_refs(db).await.len(), 2);

    // An admin takes the German panel out by hand: the master does not put it back.
    let german = by_ref(db, "m-1").await;
    panels::set_enabled(db, &german.id, false, T0 + 180)
        .await
        .unwrap();
    let report = master_link::apply(db, &keyring, &config, T0 + 240)
        .await
        .unwrap();
    assert_eq!(report, ApplyReport::default());
    assert_eq!(enabled_refs(db).await, vec!["m-2".to_string()]);
}

async fn a_lower_panel_limit_keeps_the_oldest_panels_and_tells_admins_once(engine: Engine) {
    let Some(t) = TestDb::fresh(engine, Schema::Tenant).await else {
        return;
    };
    let (db, keyring) = (&t.db, keyring());
    let all = [
        panel("m-1", "de1.nimbus.example", "one"),
        panel("m-2", "nl1.nimbus.example", "two"),
        panel("m-3", "fi1.nimbus.example", "three"),
    ];
    // Sara's package allows any number of panels; she adds three, one at a time.
    let mut config = saras_shop(Vec::new());
    config.limits.max_panels = None;
    for (minute, _) in all.iter().enumerate() {
        config.panels = all[..=minute].to_vec();
        master_link::apply(db, &keyring, &config, T0 + 60 * minute as i64)
            .await
            .unwrap();
    }
    assert_eq!(enabled_refs(db).await.len(), 3);
    assert!(panel_limit_notices(db).await.is_empty());

    // She moves to a package of two panels: the newest leaves rotation, she is told once.
    config.limits.max_panels = Some(2);
    let report = master_link::apply(db, &keyring, &config, T0 + 600)
        .await
        .unwrap();
    assert!(report.over_panel_limit);
    let finnish = by_ref(db, "m-3").await;
    assert_eq!(report.taken_out_of_rotation, vec![finnish.id.clone()]);
    assert_eq!(enabled_refs(db).await, vec!["m-1", "m-2"]);
    let told = panel_limit_notices(db).await;
    assert_eq!(told, vec![(SARA, Notice::PanelLimitReached { limit: 2 })]);

    let report = master_link::apply(db, &keyring, &config, T0 + 660)
        .await
        .unwrap();
    assert!(report.over_panel_limit && !report.changed_anything());
    assert_eq!(panel_limit_notices(db).await.len(), 1, "told once");

    // Back to a bigger package: the panel returns.
    config.limits.max_panels = Some(5);
    let report = master_link::apply(db, &keyring, &config, T0 + 720)
        .await
        .unwrap();
    assert_eq!(report.back_in_rotation, vec![finnish.id]);
    assert_eq!(enabled_refs(db).await.len(), 3);
}

/// A stand-in for the master's config route: the right key gets `config`, others 401.
async fn fake_master(config: TenantLinkConfig) -> url::Url {
    async fn serve(State(config): State<TenantLinkConfig>, headers: HeaderMap) -> Response {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if auth != "Bearer key-of-sara" {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        Json(config).into_response()
    }
    let app = Router::new()
        .route(CONFIG_PATH, get(serve))
        .with_state(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn the_bot_fetches_its_config_with_its_key_and_keeps_trying(engine: Engine) {
    let Some(t) = TestDb::fresh(engine, Schema::Tenant).await else {
        return;
    };
    let keyring = keyring();
    let config = saras_shop(vec![panel("m-1", "de1.nimbus.example", "Gr33n-Tea!")]);
    let master = fake_master(config.clone()).await;

    let link = MasterLink::new(&master, SecretString::new("key-of-sara"));
    assert_eq!(link.fetch().await.unwrap(), config);
    let stranger = MasterLink::new(&master, SecretString::new("someone-else"));
    let refused = stranger.fetch().await.unwrap_err();
    assert!(matches!(refused, Error::Master(_)), "{refused:?}");
    assert!(refused.to_string().contains("401"), "{refused}");

    // A master that is down: the loop logs and goes on until it is stopped.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap()
    };
    let down = MasterLink::new(&closed, SecretString::new("key-of-sara"));
    assert!(matches!(down.fetch().await, Err(Error::Master(_))));
    let stop = CancellationToken::new();
    let looping = tokio::spawn(master_link::run(
        down,
        t.db.clone(),
        keyring.clone(),
        Duration::from_millis(50),
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !looping.is_finished(),
        "a failed fetch does not end the loop"
    );
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), looping)
        .await
        .unwrap()
        .unwrap();

    // The real loop applies at once.
    let stop = CancellationToken::new();
    let looping = tokio::spawn(master_link::run(
        link,
        t.db.clone(),
        keyring.clone(),
        Duration::from_secs(3600),
        stop.clone(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while panels::count(&t.db).await.unwrap() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never applied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(admins::ids(&t.db).await.unwrap(), vec![SARA]);
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), looping)
        .await
        .unwrap()
        .unwrap();
}

shared::on_both_engines!(
    the_first_config_arrives_encrypted_and_a_second_changes_nothing,
    a_new_password_and_a_new_owner_follow_the_master,
    a_panel_removed_in_the_master_leaves_rotation_but_stays,
    a_lower_panel_limit_keeps_the_oldest_panels_and_tells_admins_once,
    the_bot_fetches_its_config_with_its_key_and_keeps_trying,
);
