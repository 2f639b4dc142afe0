//! The 3x-UI client against the fake 3x-UI: 2.x with a cookie, 3.x with a cookie + CSRF
//! token, and 3.x with an API token; all under a base path.

mod panel_common;

use std::sync::Arc;

use panel_common::*;
use sandbox::panels::{FakeXui, SeedRequest, XuiGeneration};
use shared::panel::{
    AccountStatus, InboundRef, PageRequest, Panel, PanelCredentials, PanelError, PanelFlavor,
};
use shared::secret::SecretString;

const TOKEN: &str = "api-token-0123456789";

async fn start(generation: XuiGeneration, with_token: bool) -> (FakeXui, Arc<dyn Panel>) {
    let fake = start_xui(generation, with_token.then_some(TOKEN)).await;
    let credentials = if with_token {
        PanelCredentials::ApiToken(SecretString::new(TOKEN))
    } else {
        password("admin", "admin-password")
    };
    let panel = xui_panel(&fake, credentials).await.unwrap();
    (fake, panel)
}

/// The whole life of an account, the same on every generation and login kind.
async fn lifecycle(generation: XuiGeneration, with_token: bool) {
    let (fake, panel) = start(generation, with_token).await;
    let control = fake.control();
    let expected_flavor = match generation {
        XuiGeneration::Two => PanelFlavor::Xui2,
        XuiGeneration::Three => PanelFlavor::Xui3,
    };
    let health = panel.health().await.unwrap();
    assert_eq!(health.flavor, expected_flavor);
    assert_eq!(health.inbounds, 2);
    let inbounds = panel.inbounds().await.unwrap();
    assert_eq!(inbounds[0].key, InboundRef("1".into()));
    assert_eq!(inbounds[0].protocol, "vless");

    // Create: bytes stay bytes, seconds become milliseconds.
    let expire = now() + 30 * DAY;
    let mut request = new_account("sara_42");
    request.data_limit_bytes = Some(5 * GIB);
    request.expire_at = Some(expire);
    request.ip_limit = Some(2);
    request.note = "order-1".into();
    request.inbounds = match generation {
        XuiGeneration::Two => vec![InboundRef("1".into())],
        XuiGeneration::Three => vec![InboundRef("1".into()), InboundRef("2".into())],
    };
    let account = panel.create_account(&request).await.unwrap();
    assert_eq!(account.data_limit_bytes, Some(5 * GIB));
    assert_eq!(account.expire_at, Some(expire));
    assert_eq!(account.status, AccountStatus::Active);
    let stored = fake.accounts();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].limit_bytes, 5 * GIB, "totalGB is bytes");
    assert_eq!(
        stored[0].expire,
        expire * 1000,
        "expiryTime is milliseconds"
    );
    assert_eq!(stored[0].ip_limit, 2);
    assert_eq!(stored[0].note, "order-1");
    assert_eq!(
        account.subscription_url,
        format!("{}{}", fake.subscription_base(), stored[0].sub_id)
    );
    assert_eq!(account.links.len(), request.inbounds.len());
    assert!(account.links[0].contains(&stored[0].credential));

    // Idempotent by username.
    assert_eq!(
        panel.create_account(&request).await,
        Err(PanelError::AlreadyExists)
    );
    assert_eq!(fake.accounts().len(), 1);
    assert_eq!(panel.account("nobody").await.unwrap(), None);

    // Extend from the current expiry.
    let extended = panel.extend("sara_42", 10).await.unwrap();
    assert_eq!(extended.expire_at, Some(expire + 10 * DAY));
    assert_eq!(fake.accounts()[0].expire, (expire + 10 * DAY) * 1000);

    // Used up: the panel switches the client off; more data switches it back on.
    control.add_traffic("sara_42", 5 * GIB).await.unwrap();
    let limited = panel.account("sara_42").await.unwrap().unwrap();
    assert_eq!(limited.status, AccountStatus::Limited);
    assert_eq!(limited.used_bytes, 5 * GIB);
    assert!(limited.online_at.is_some());
    assert_eq!(fake.accounts()[0].status, "disabled");
    let more = panel.add_data("sara_42", GIB).await.unwrap();
    assert_eq!(more.data_limit_bytes, Some(6 * GIB));
    assert_eq!(more.status, AccountStatus::Active);
    assert_eq!(fake.accounts()[0].status, "enabled");
    assert_eq!(fake.accounts()[0].limit_bytes, 6 * GIB);

    let reset = panel.reset_traffic("sara_42").await.unwrap();
    assert_eq!(reset.used_bytes, 0);

    // Revoke: new subId and credential; the old subscription URL is dead.
    let before = fake.accounts()[0].clone();
    assert_eq!(status_of(&account.subscription_url).await, 200);
    let revoked = panel.revoke_subscription("sara_42").await.unwrap();
    let after = fake.accounts()[0].clone();
    assert_ne!(after.sub_id, before.sub_id);
    assert_ne!(after.credential, before.credential);
    assert_eq!(
        after.limit_bytes, before.limit_bytes,
        "nothing else changed"
    );
    assert_eq!(after.expire, before.expire);
    assert_eq!(status_of(&account.subscription_url).await, 404);
    assert_eq!(status_of(&revoked.subscription_url).await, 200);

    let disabled = panel.set_enabled("sara_42", false).await.unwrap();
    assert_eq!(disabled.status, AccountStatus::Disabled);
    assert_eq!(fake.accounts()[0].status, "disabled");
    let enabled = panel.set_enabled("sara_42", true).await.unwrap();
    assert_eq!(enabled.status, AccountStatus::Active);

    panel.delete_account("sara_42").await.unwrap();
    assert!(fake.accounts().is_empty());
    panel.delete_account("sara_42").await.unwrap();
    assert_eq!(
        panel.add_data("sara_42", 1).await,
        Err(PanelError::NotFound)
    );

    // Paging for sync.
    control
        .seed(&SeedRequest {
            prefix: "user".into(),
            count: 25,
            limit_bytes: GIB,
            used_bytes: 1000,
        })
        .await
        .unwrap();
    let mut names = Vec::new();
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
        assert!(page.accounts.iter().all(|a| a.used_bytes == 1000));
        assert!(page
            .accounts
            .iter()
            .all(|a| a.data_limit_bytes == Some(GIB)));
        offset += page.accounts.len() as u64;
        names.extend(page.accounts.into_iter().map(|a| a.username));
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 25);
    fake.shutdown().await;
}

#[tokio::test]
async fn lifecycle_on_2x_with_a_cookie() {
    lifecycle(XuiGeneration::Two, false).await;
}

#[tokio::test]
async fn lifecycle_on_3x_with_a_cookie_and_csrf() {
    lifecycle(XuiGeneration::Three, false).await;
}

#[tokio::test]
async fn lifecycle_on_3x_with_an_api_token() {
    lifecycle(XuiGeneration::Three, true).await;
}

#[tokio::test]
async fn logs_in_again_when_the_session_is_gone() {
    for generation in [XuiGeneration::Two, XuiGeneration::Three] {
        let (fake, panel) = start(generation, false).await;
        let mut request = new_account("sara_42");
        request.inbounds = vec![InboundRef("1".into())];
        panel.create_account(&request).await.unwrap();
        fake.control().expire_sessions().await.unwrap();
        assert!(panel.account("sara_42").await.unwrap().is_some());
        // A write after expiry needs a new session and (3.x) a new CSRF token.
        fake.control().expire_sessions().await.unwrap();
        panel.set_enabled("sara_42", false).await.unwrap();
        assert_eq!(fake.accounts()[0].status, "disabled");
        fake.shutdown().await;
    }
}

#[tokio::test]
async fn one_inbound_per_account_on_2x() {
    let (fake, panel) = start(XuiGeneration::Two, false).await;
    let mut request = new_account("sara_42");
    request.inbounds = vec![InboundRef("1".into()), InboundRef("2".into())];
    assert!(matches!(
        panel.create_account(&request).await,
        Err(PanelError::InvalidRequest(_))
    ));
    request.inbounds = vec![InboundRef("9".into())];
    assert!(matches!(
        panel.create_account(&request).await,
        Err(PanelError::InvalidRequest(_))
    ));
    assert!(fake.accounts().is_empty());
    fake.shutdown().await;
}

#[tokio::test]
async fn extending_an_account_that_never_expires_leaves_it_so() {
    let (fake, panel) = start(XuiGeneration::Three, false).await;
    panel.create_account(&new_account("forever")).await.unwrap();
    assert_eq!(fake.accounts()[0].expire, 0, "0 = never");
    let never = panel.extend("forever", 3).await.unwrap();
    assert_eq!(never.expire_at, None);
    assert_eq!(fake.accounts()[0].expire, 0);
    fake.shutdown().await;
}

#[tokio::test]
async fn wrong_password_token_and_base_path() {
    let fake = start_xui(XuiGeneration::Three, Some(TOKEN)).await;
    let wrong = xui_panel(&fake, password("admin", "nope")).await;
    assert!(matches!(wrong, Err(PanelError::WrongCredentials)));
    let wrong_token = xui_panel(&fake, PanelCredentials::ApiToken(SecretString::new("bad"))).await;
    assert!(matches!(wrong_token, Err(PanelError::WrongCredentials)));

    let root = shared::panel::PanelUrl::parse(&fake.root_url(), &policy()).unwrap();
    for credentials in [
        password("admin", "admin-password"),
        PanelCredentials::ApiToken(SecretString::new(TOKEN)),
    ] {
        let result = shared::panel::connect(
            shared::panel::PanelKind::Xui,
            root.clone(),
            credentials,
            xui_options(&fake),
        )
        .await;
        assert_eq!(result.err(), Some(PanelError::WrongBasePath));
    }
    fake.shutdown().await;

    let two = start_xui(XuiGeneration::Two, None).await;
    let wrong = xui_panel(&two, password("admin", "nope")).await;
    assert!(matches!(wrong, Err(PanelError::WrongCredentials)));
    two.shutdown().await;
}

#[tokio::test]
async fn server_errors_are_retried_for_safe_calls_only() {
    let (fake, panel) = start(XuiGeneration::Three, false).await;
    let control = fake.control();
    control
        .fail_next(Some("POST"), "/random-path/panel/api/clients/add", 500, 1)
        .await
        .unwrap();
    panel.create_account(&new_account("sara_42")).await.unwrap();
    assert_eq!(
        fake.accounts().len(),
        1,
        "no duplicate after a retried create"
    );

    control
        .fail_next(
            None,
            "/random-path/panel/api/clients/update/sara_42",
            500,
            1,
        )
        .await
        .unwrap();
    let before = fake.accounts()[0].sub_id.clone();
    assert!(panel.revoke_subscription("sara_42").await.is_err());
    assert_eq!(fake.accounts()[0].sub_id, before);

    control.set_down(true).await.unwrap();
    assert_eq!(
        panel.account("sara_42").await,
        Err(PanelError::Unavailable { status: 503 })
    );
    control.set_down(false).await.unwrap();
    assert!(panel.account("sara_42").await.unwrap().is_some());
    fake.shutdown().await;
}

#[tokio::test]
async fn an_account_on_hold_gets_a_longer_duration() {
    let (fake, panel) = start(XuiGeneration::Three, true).await;
    // A seller made "7 days from first use" in the panel itself: a negative expiryTime.
    let reply: serde_json::Value = http()
        .post(format!("{}panel/api/clients/add", fake.url()))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "client": { "email": "hold_me", "totalGB": 0, "expiryTime": -7 * 86_400_000i64, "enable": true },
            "inboundIds": [1],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["success"], true);
    let held = panel.account("hold_me").await.unwrap().unwrap();
    assert_eq!(held.status, AccountStatus::OnHold);
    assert_eq!(held.expire_at, None);

    let longer = panel.extend("hold_me", 3).await.unwrap();
    assert_eq!(longer.status, AccountStatus::OnHold);
    assert_eq!(fake.accounts()[0].expire, -10 * 86_400_000);
    fake.shutdown().await;
}

#[tokio::test]
async fn concurrent_creates_of_one_username_make_one_account() {
    for generation in [XuiGeneration::Two, XuiGeneration::Three] {
        let (fake, panel) = start(generation, false).await;
        let mut request = new_account("sara_42");
        request.inbounds = vec![InboundRef("1".into())];
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let panel = panel.clone();
                let request = request.clone();
                tokio::spawn(async move { panel.create_account(&request).await })
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
        assert_eq!(created, 1, "{generation:?}");
        assert_eq!(fake.accounts().len(), 1, "{generation:?}");
        fake.shutdown().await;
    }
}
