//! Onboarding after the first payment, with real checks: Telegram (the sandbox) validates the
//! token and the channel, a fake Marzban validates the panel login. Mistakes get their own
//! message, the customer fixes them, and it goes on. On SQLite and PostgreSQL.

use master::billing::orders::{self, OrderKind, OrderRequest};
use master::billing::payments::{self, Method};
use master::customers::{self, TelegramProfile};
use master::tenants::checks::LiveChecks;
use master::tenants::onboarding::{advance, Context, Input, Step};
use master::tenants::{self, Tenant};
use sandbox::client::ControlClient;
use sandbox::panels::{FakeMarzban, FakeMarzbanOptions};
use sandbox::{Sandbox, SandboxOptions};
use shared::db::{Db, Engine, Schema};
use shared::money::Currency;
use shared::panel::{NetRule, NetworkPolicy, PanelKind};
use shared::secret::{Keyring, SecretString};
use shared::telegram::TelegramId;
use shared::testdb::TestDb;

const NOW: i64 = 1_795_257_600;

/// A customer who has just paid for Starter: their tenant waits at the first step.
async fn paid_customer(db: &Db, telegram_id: i64) -> Tenant {
    let customer = customers::upsert_from_telegram(
        db,
        &TelegramProfile {
            id: TelegramId::new(telegram_id),
            first_name: "Sara".into(),
            username: None,
            language_code: Some("en".into()),
        },
    )
    .await
    .unwrap();
    let request = OrderRequest {
        customer_id: customer.id.clone(),
        kind: OrderKind::New,
        package_code: "starter".into(),
        period_months: 1,
        currency: Currency::Toman,
        coupon: None,
        subscription_id: None,
    };
    let (_, invoice) = orders::place(db, NOW, &request).await.unwrap();
    let payment = payments::open(db, NOW, &invoice.id, Method::Card)
        .await
        .unwrap();
    payments::confirm(db, NOW, &payment.id, invoice.amount, Some("staff"))
        .await
        .unwrap();
    let mine = tenants::of_customer(db, &customer.id).await.unwrap();
    assert_eq!(
        mine.len(),
        1,
        "a paid subscription comes with its bot to set up"
    );
    assert_eq!(mine[0].onboarding_step, Step::Token);
    mine.into_iter().next().unwrap()
}

async fn reload(db: &Db, tenant: &Tenant) -> Tenant {
    tenants::get(db, &tenant.id).await.unwrap().unwrap()
}

async fn a_customer_fixes_a_wrong_token_and_a_wrong_password_and_finishes(engine: Engine) {
    let Some(t) = TestDb::fresh(engine, Schema::Master).await else {
        return;
    };
    let db = &t.db;
    let sandbox = Sandbox::start(
        "127.0.0.1:0".parse().unwrap(),
        SandboxOptions::fast_for_tests(),
    )
    .await
    .unwrap();
    let control = ControlClient::new(&sandbox.url());
    let shop_bot = control
        .create_bot("nimbus_vpn_bot", "Nimbus VPN")
        .await
        .unwrap();
    let marzban = FakeMarzban::start(
        "127.0.0.1:0".parse().unwrap(),
        FakeMarzbanOptions::default(),
    )
    .await
    .unwrap();
    let keyring = Keyring::from_config(&[Keyring::generate_key_line("k1")]).unwrap();
    // Loopback is refused by default (a customer must not make Madar call its own machine);
    // the test panel lives there, so this operator allow-lists it.
    let strict = NetworkPolicy::strict();
    let policy = NetworkPolicy::strict().allow(NetRule::parse("127.0.0.1").unwrap());
    let checks = LiveChecks {
        telegram_api_url: url::Url::parse(&sandbox.url()).unwrap(),
        policy: policy.clone(),
    };
    let ctx = Context {
        db,
        keyring: &keyring,
        checks: &checks,
        policy: &policy,
    };
    let buyer = 4242;
    let tenant = paid_customer(db, buyer).await;
    let say = |text: &str| Input::Text(text.to_string());

    // The token: nonsense, then a well-formed one Telegram does not know, then the real one.
    let p = advance(&ctx, &tenant, buyer, say("hello"), NOW)
        .await
        .unwrap();
    assert_eq!(p.key, "onboarding_token_malformed");
    assert!(
        p.forget_message,
        "a message that may hold a token is deleted"
    );
    let unknown = format!("{}:AAEhBP0av28MchQMDxWRaDcSDHHCMG5Rwrs", shop_bot.id + 1);
    let p = advance(&ctx, &tenant, buyer, say(&unknown), NOW)
        .await
        .unwrap();
    assert_eq!(p.key, "onboarding_token_refused");
    assert_eq!(reload(db, &tenant).await.onboarding_step, Step::Token);
    let p = advance(&ctx, &tenant, buyer, say(&shop_bot.token), NOW)
        .await
        .unwrap();
    assert_eq!(p.key, "onboarding_token_ok");
    let tenant = reload(db, &tenant).await;
    assert_eq!(tenant.onboarding_step, Step::Admin);
    assert_eq!(tenant.bot_username.as_deref(), Some("nimbus_vpn_bot"));
    assert_eq!(
        tenant.bot_token(&keyring).unwrap().unwrap().expose(),
        shop_bot.token
    );
    let raw: String = sqlx::query_scalar("SELECT bot_token_enc FROM tenants WHERE id = $1")
        .bind(&tenant.id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert!(
        !raw.contains(&shop_bot.token),
        "the token is encrypted at rest"
    );

    // Someone else cannot register the same bot.
    let other = paid_customer(db, 777).await;
    let p = advance(&ctx, &other, 777, say(&shop_bot.token), NOW)
        .await
        .unwrap();
    assert_eq!(p.key, "onboarding_token_in_use");

    // The admin is the buyer.
    let p = advance(&ctx, &tenant, buyer, say("not a number"), NOW)
        .await
        .unwrap();
    assert_eq!(p.key, "onboarding_admin_invalid");
    advance(&ctx, &tenant, buyer, Input::ItsMe, NOW)
        .await
        .unwrap();
    let tenant = reload(db, &tenant).await;
    assert_eq!(tenant.admin_telegram_id, Some(buyer));

    // The channel: the bot must be an admin there.
    let channel = control
        .create_channel(Some("nimbus_news"), "Nimbus news")
        .await
        .unwrap();
    control
        .set_member(channel, shop_bot.id, "member")
        .await
        .unwrap();
    let p = advance(&ctx, &tenant, buyer, say("https://t.me/nimbus_news"), NOW)
        .await
        .unwrap();
    assert_eq!(p.key, "onboarding_channel_not_admin");
    control
        .set_member(channel, shop_bot.id, "administrator")
        .await
        .unwrap();
    advance(&ctx, &tenant, buyer, say("@nimbus_news"), NOW)
        .await
        .unwrap();
    let tenant = reload(db, &tenant).await;
    assert_eq!(tenant.channel.as_deref(), Some("@nimbus_news"));
    assert_eq!(tenant.onboarding_step, Step::PanelKind);

    // The panel: an address on this machine is refused without the operator's allow-list...
    advance(&ctx, &tenant, buyer, Input::Kind(PanelKind::Marzban), NOW)
        .await
        .unwrap();
    let tenant = reload(db, &tenant).await;
    let strict_ctx = Context {
        policy: &strict,
        ..ctx
    };
    let p = advance(&strict_ctx, &tenant, buyer, say(&marzban.url()), NOW)
        .await
        .unwrap();
    assert_eq!(p.key, "onboarding_panel_refused_address");
    // ...and accepted with it. Then a wrong password sends the customer back to the username.
    advance(&ctx, &tenant, buyer, say(&marzban.url()), NOW)
        .await
        .unwrap();
    let tenant = reload(db, &tenant).await;
    advance(&ctx, &tenant, buyer, say("admin"), NOW)
        .await
        .unwrap();
    let tenant = reload(db, &tenant).await;
    let p = advance(&ctx, &tenant, buyer, say("wrong-password"), NOW)
        .await
        .unwrap();
    assert_eq!(p.key, "onboarding_panel_wrong_credentials");
    let tenant = reload(db, &tenant).await;
    assert_eq!(tenant.onboarding_step, Step::PanelUsername);
    let defaults = FakeMarzbanOptions::default();
    advance(&ctx, &tenant, buyer, say(&defaults.admin_user), NOW)
        .await
        .unwrap();
    let tenant = reload(db, &tenant).await;
    let p = advance(&ctx, &tenant, buyer, say(&defaults.admin_password), NOW)
        .await
        .unwrap();
    assert_eq!(p.key, "onboarding_done");
    assert!(p.forget_message);

    let tenant = reload(db, &tenant).await;
    assert!(tenant.is_onboarded());
    let panels = tenants::panels(db, &tenant.id).await.unwrap();
    assert_eq!(panels.len(), 1);
    assert_eq!(panels[0].kind, "marzban");
    assert_eq!(
        panels[0].password(&keyring).unwrap(),
        SecretString::new(defaults.admin_password.clone())
    );

    // An unreachable panel has its own message (a closed port on this machine), and the
    // customer is asked for the address again.
    sqlx::query(
        "UPDATE tenants SET onboarding_step = 'panel_password', onboarding_draft = $1 WHERE id = $2",
    )
    .bind(r#"{"panel_kind":"marzban","panel_url":"http://127.0.0.1:9/","panel_username":"admin"}"#)
    .bind(&other.id)
    .execute(db.pool())
    .await
    .unwrap();
    let at_password = reload(db, &other).await;
    let p = advance(&ctx, &at_password, 777, say("secret"), NOW)
        .await
        .unwrap();
    assert_eq!(p.key, "onboarding_panel_unreachable");
    assert_eq!(reload(db, &other).await.onboarding_step, Step::PanelUrl);
    sandbox.shutdown().await;
    t.cleanup().await.unwrap();
}

shared::on_both_engines!(a_customer_fixes_a_wrong_token_and_a_wrong_password_and_finishes);
