//! The Marzban client against the fake Marzban.

mod panel_common;

use std::time::Duration;

use panel_common::*;
use sandbox::panels::SeedRequest;
use shared::panel::{
    AccountStatus, InboundRef, PageRequest, PanelError, PanelFlavor, PanelOptions,
};

#[tokio::test]
async fn create_sends_bytes_and_seconds_and_the_inbounds() {
    let fake = start_marzban().await;
    let panel = marzban_panel(&fake).await;
    assert_eq!(panel.health().await.unwrap().flavor, PanelFlavor::Marzban);
    let inbounds = panel.inbounds().await.unwrap();
    assert_eq!(inbounds.len(), 2);

    let expire = now() + 30 * DAY;
    let mut request = new_account("sara_42");
    request.data_limit_bytes = Some(5 * GIB);
    request.expire_at = Some(expire);
    request.inbounds = vec![InboundRef("VLESS TCP REALITY".into())];
    request.note = "order-1".into();
    let account = panel.create_account(&request).await.unwrap();

    assert_eq!(account.username, "sara_42");
    assert_eq!(account.data_limit_bytes, Some(5 * GIB));
    assert_eq!(account.expire_at, Some(expire));
    assert_eq!(account.status, AccountStatus::Active);
    assert_eq!(account.used_bytes, 0);
    assert_eq!(account.links.len(), 1);
    assert!(account.links[0].starts_with("vless://"));
    assert!(account
        .subscription_url
        .starts_with(&format!("{}sub/", fake.url())));

    let stored = fake.control().accounts().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].limit_bytes, 5 * GIB);
    assert_eq!(stored[0].expire, expire, "Marzban takes unix seconds");
    assert_eq!(stored[0].inbounds, vec!["VLESS TCP REALITY".to_string()]);
    assert_eq!(stored[0].note, "order-1");

    // The subscription serves the links and the usage header.
    let response = http().get(&account.subscription_url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let info = response.headers()["subscription-userinfo"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(info.contains(&format!("total={}", 5 * GIB)), "{info}");
    assert!(info.contains(&format!("expire={expire}")), "{info}");

    // No inbounds asked for: every inbound of the panel, no limits.
    let all = panel.create_account(&new_account("omid")).await.unwrap();
    assert_eq!(all.links.len(), 2);
    assert_eq!(all.data_limit_bytes, None);
    assert_eq!(all.expire_at, None);
    fake.shutdown().await;
}

#[tokio::test]
async fn create_is_idempotent_by_username() {
    let fake = start_marzban().await;
    let panel = marzban_panel(&fake).await;
    panel.create_account(&new_account("sara_42")).await.unwrap();
    let again = panel.create_account(&new_account("sara_42")).await;
    assert_eq!(again, Err(PanelError::AlreadyExists));
    assert_eq!(fake.accounts().len(), 1);

    let unknown = {
        let mut request = new_account("reza");
        request.inbounds = vec![InboundRef("No Such Tag".into())];
        panel.create_account(&request).await
    };
    assert!(
        matches!(unknown, Err(PanelError::InvalidRequest(_))),
        "{unknown:?}"
    );
    assert_eq!(fake.accounts().len(), 1);
    fake.shutdown().await;
}

#[tokio::test]
async fn get_extend_add_data_reset_enable_delete() {
    let fake = start_marzban().await;
    let control = fake.control();
    let panel = marzban_panel(&fake).await;
    assert_eq!(panel.account("nobody").await.unwrap(), None);
    assert!(matches!(
        panel.account("x").await,
        Err(PanelError::InvalidRequest(_))
    ));

    let expire = now() + 5 * DAY;
    let mut request = new_account("sara_42");
    request.data_limit_bytes = Some(GIB);
    request.expire_at = Some(expire);
    panel.create_account(&request).await.unwrap();

    // Extend from the current expiry, which is in the future.
    let extended = panel.extend("sara_42", 10).await.unwrap();
    assert_eq!(extended.expire_at, Some(expire + 10 * DAY));
    assert_eq!(fake.accounts()[0].expire, expire + 10 * DAY);

    // Used up: limited; more data makes it active again (Marzban recomputes the status).
    control.add_traffic("sara_42", GIB).await.unwrap();
    let limited = panel.account("sara_42").await.unwrap().unwrap();
    assert_eq!(limited.status, AccountStatus::Limited);
    assert_eq!(limited.used_bytes, GIB);
    assert!(limited.online_at.is_some_and(|at| (at - now()).abs() < 60));
    let more = panel.add_data("sara_42", 2 * GIB).await.unwrap();
    assert_eq!(more.data_limit_bytes, Some(3 * GIB));
    assert_eq!(more.status, AccountStatus::Active);
    assert_eq!(fake.accounts()[0].limit_bytes, 3 * GIB);

    let reset = panel.reset_traffic("sara_42").await.unwrap();
    assert_eq!(reset.used_bytes, 0);

    let disabled = panel.set_enabled("sara_42", false).await.unwrap();
    assert_eq!(disabled.status, AccountStatus::Disabled);
    assert_eq!(fake.accounts()[0].status, "disabled");
    let enabled = panel.set_enabled("sara_42", true).await.unwrap();
    assert_eq!(enabled.status, AccountStatus::Active);

    panel.delete_account("sara_42").await.unwrap();
    assert!(fake.accounts().is_empty());
    panel.delete_account("sara_42").await.unwrap();
    assert_eq!(panel.extend("sara_42", 1).await, Err(PanelError::NotFound));
    fake.shutdown().await;
}

#[tokio::test]
async fn extending_an_expired_account_counts_from_now() {
    let fake = start_marzban().await;
    let panel = marzban_panel(&fake).await;
    let mut request = new_account("late_user");
    request.expire_at = Some(now() - 3 * DAY);
    let created = panel.create_account(&request).await.unwrap();
    assert_eq!(created.status, AccountStatus::Expired);

    let extended = panel.extend("late_user", 30).await.unwrap();
    let expire = extended.expire_at.unwrap();
    assert!((expire - (now() + 30 * DAY)).abs() <= 5, "{expire}");
    assert_eq!(extended.status, AccountStatus::Active);
    fake.shutdown().await;
}

#[tokio::test]
async fn revoke_kills_the_old_subscription_url() {
    let fake = start_marzban().await;
    let panel = marzban_panel(&fake).await;
    let before = panel.create_account(&new_account("sara_42")).await.unwrap();
    assert_eq!(status_of(&before.subscription_url).await, 200);

    let after = panel.revoke_subscription("sara_42").await.unwrap();
    assert_ne!(after.subscription_url, before.subscription_url);
    assert_ne!(after.links, before.links, "new proxy credentials");
    assert_eq!(status_of(&before.subscription_url).await, 404);
    assert_eq!(status_of(&after.subscription_url).await, 200);
    fake.shutdown().await;
}

#[tokio::test]
async fn list_accounts_in_pages() {
    let fake = start_marzban().await;
    let seeded = fake
        .control()
        .seed(&SeedRequest {
            prefix: "user".into(),
            count: 25,
            limit_bytes: GIB,
            used_bytes: 1000,
        })
        .await
        .unwrap();
    assert_eq!(seeded, 25);
    let panel = marzban_panel(&fake).await;
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let page = panel
            .list_accounts(PageRequest { offset, limit: 10 })
            .await
            .unwrap();
        assert_eq!(page.total, 25);
        if page.accounts.is_empty() {
            break;
        }
        offset += page.accounts.len() as u64;
        seen.extend(page.accounts);
    }
    assert_eq!(seen.len(), 25);
    assert!(seen.iter().all(|account| account.used_bytes == 1000));
    let mut names: Vec<_> = seen.iter().map(|a| a.username.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 25);
    fake.shutdown().await;
}

#[tokio::test]
async fn logs_in_again_when_the_token_expires() {
    let fake = start_marzban().await;
    let panel = marzban_panel(&fake).await;
    panel.create_account(&new_account("sara_42")).await.unwrap();
    fake.control().expire_sessions().await.unwrap();
    let account = panel.account("sara_42").await.unwrap();
    assert!(account.is_some());
    fake.shutdown().await;
}

#[tokio::test]
async fn wrong_password_and_wrong_base_path_have_their_own_errors() {
    let fake = start_marzban().await;
    let url = shared::panel::PanelUrl::parse(&fake.url(), &policy()).unwrap();
    let wrong = shared::panel::connect(
        shared::panel::PanelKind::Marzban,
        url,
        password("admin", "not-the-password"),
        options(),
    )
    .await;
    assert!(matches!(wrong, Err(PanelError::WrongCredentials)));

    let elsewhere =
        shared::panel::PanelUrl::parse(&format!("{}dashboard/", fake.url()), &policy()).unwrap();
    let wrong_path = shared::panel::connect(
        shared::panel::PanelKind::Marzban,
        elsewhere,
        password("admin", "admin-password"),
        options(),
    )
    .await;
    assert!(matches!(wrong_path, Err(PanelError::WrongBasePath)));
    fake.shutdown().await;
}

#[tokio::test]
async fn reads_and_creates_survive_one_server_error() {
    let fake = start_marzban().await;
    let control = fake.control();
    let panel = marzban_panel(&fake).await;

    // A 500 on the create is retried; the username keeps it to one account.
    control
        .fail_next(Some("POST"), "/api/user", 500, 1)
        .await
        .unwrap();
    panel.create_account(&new_account("sara_42")).await.unwrap();
    assert_eq!(fake.accounts().len(), 1);

    control
        .fail_next(Some("GET"), "/api/user/sara_42", 500, 1)
        .await
        .unwrap();
    assert!(panel.account("sara_42").await.unwrap().is_some());

    // More failures than attempts: the error comes through.
    control
        .fail_next(Some("GET"), "/api/user/sara_42", 500, 3)
        .await
        .unwrap();
    let failed = panel.account("sara_42").await;
    assert!(
        matches!(failed, Err(PanelError::Rejected { status: 500, .. })),
        "{failed:?}"
    );

    // A revoke is not repeated after a failure.
    control
        .fail_next(Some("POST"), "/api/user/sara_42/revoke_sub", 500, 1)
        .await
        .unwrap();
    assert!(panel.revoke_subscription("sara_42").await.is_err());
    fake.shutdown().await;
}

#[tokio::test]
async fn down_and_slow_panels() {
    let fake = start_marzban().await;
    let control = fake.control();
    let quick = PanelOptions {
        request_timeout: Duration::from_millis(300),
        attempts: 2,
        ..options()
    };
    let panel = marzban_with(&fake, quick).await.unwrap();

    control.set_down(true).await.unwrap();
    assert_eq!(
        panel.health().await,
        Err(PanelError::Unavailable { status: 503 })
    );
    control.set_down(false).await.unwrap();
    assert!(panel.health().await.is_ok());

    control.set_delay(Duration::from_millis(800)).await.unwrap();
    assert_eq!(panel.health().await, Err(PanelError::Timeout));
    control.set_delay(Duration::ZERO).await.unwrap();
    assert!(panel.health().await.is_ok());
    fake.shutdown().await;
}

#[tokio::test]
async fn an_account_on_hold_gets_a_longer_duration() {
    let fake = start_marzban().await;
    let panel = marzban_panel(&fake).await;
    // A seller made an on-hold user in Marzban itself: its time starts at first use.
    let token: serde_json::Value = http()
        .post(format!("{}api/admin/token", fake.url()))
        .form(&[("username", "admin"), ("password", "admin-password")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created = http()
        .post(format!("{}api/user", fake.url()))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .json(&serde_json::json!({
            "username": "hold_me", "proxies": { "vless": {} }, "inbounds": {},
            "status": "on_hold", "on_hold_expire_duration": 7 * DAY,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 200);
    let held = panel.account("hold_me").await.unwrap().unwrap();
    assert_eq!(held.status, AccountStatus::OnHold);

    let longer = panel.extend("hold_me", 3).await.unwrap();
    assert_eq!(longer.status, AccountStatus::OnHold);
    // First use starts the (now ten-day) clock.
    fake.control().add_traffic("hold_me", 1).await.unwrap();
    let started = panel.account("hold_me").await.unwrap().unwrap();
    assert_eq!(started.status, AccountStatus::Active);
    let expire = started.expire_at.unwrap();
    assert!((expire - (now() + 10 * DAY)).abs() <= 5, "{expire}");
    fake.shutdown().await;
}

#[tokio::test]
async fn a_panel_that_refuses_connections_is_unreachable_then_comes_back() {
    let mut fake = start_marzban().await;
    let panel = marzban_panel(&fake).await;
    panel.create_account(&new_account("sara_42")).await.unwrap();
    fake.refuse_connections().await;
    let result = panel.account("sara_42").await;
    assert!(
        matches!(result, Err(PanelError::Unreachable(_))),
        "{result:?}"
    );
    fake.accept_connections().await.unwrap();
    assert!(panel.account("sara_42").await.unwrap().is_some());
    fake.shutdown().await;
}

#[tokio::test]
async fn concurrent_creates_of_one_username_make_one_account() {
    let fake = start_marzban().await;
    let panel = marzban_panel(&fake).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let panel = panel.clone();
            tokio::spawn(async move { panel.create_account(&new_account("sara_42")).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => created += 1,
            Err(PanelError::AlreadyExists) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(fake.accounts().len(), 1);
    fake.shutdown().await;
}
