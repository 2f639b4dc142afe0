//! Orders that survive everything: purchases, renewals and added data on every panel kind,
//! and the faults (a panel that fails or times out mid-purchase, a bot killed between payment
//! and account creation, the same payment delivered twice), each ending with the invariant:
//! every paid order has exactly one account on its panel or its money back, and no orphans.

mod sales_support;

use std::time::Duration;

use sandbox::panels::XuiGeneration;
use shared::clock::{Clock, DAY};
use shared::db::Engine;
use shared::panel::{NewAccount, Username};
use tenant_bot::fulfil::Progress;
use tenant_bot::notices::{self, Notice};
use tenant_bot::orders::{self, State};
use tenant_bot::plans::GIB;
use tenant_bot::refusal::Refusal;
use tenant_bot::services;
use tenant_bot::settings::{self, Delivery, Trial};
use tenant_bot::{admins, Error};

use sales_support::*;

const SARA: i64 = 7_001;
const OWNER: i64 = 9_001;

async fn a_customer_buys_a_plan_from_the_wallet_on_marzban(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let fake = marzban().await;
    shop.add_marzban(&fake, None).await;
    let plan = shop.plan("Monthly 30", 30, 30, 150_000).await;
    shop.credit(SARA, 200_000).await;

    let order = shop.paid_order(SARA, &plan).await;
    assert_eq!(order.state, State::Paid);
    assert_eq!(shop.balance(SARA).await, 50_000);
    let Progress::Delivered { service_id } = shop.fulfilment.advance(&order.id).await.unwrap()
    else {
        panic!("not delivered");
    };

    let service = services::get(&shop.db, &service_id).await.unwrap().unwrap();
    let accounts = fake.accounts();
    assert_eq!(accounts.len(), 1);
    let account = &accounts[0];
    assert_eq!(account.username, order.username);
    assert_eq!(account.limit_bytes, 30 * GIB as u64);
    let expected_expiry = shop.clock.now() + 30 * DAY;
    assert!(
        (account.expire - expected_expiry).abs() < 5,
        "expiry {}",
        account.expire
    );
    assert!(
        service.subscription_url.contains(&account.sub_id),
        "{}",
        service.subscription_url
    );
    let sub = http().get(&service.subscription_url).send().await.unwrap();
    assert_eq!(sub.status().as_u16(), 200);

    let due = notices::due(&shop.db, shop.clock.now() + 1, 10)
        .await
        .unwrap();
    assert!(due.iter().any(|n| n.telegram_id == SARA
        && n.notice
            == Notice::Delivered {
                order_id: order.id.clone(),
                service_id: service_id.clone()
            }));
    shop.assert_every_order_kept_its_promise(&[fake.accounts()])
        .await;
}

async fn a_customer_buys_on_3x_ui_of_both_generations(engine: Engine) {
    for generation in [XuiGeneration::Two, XuiGeneration::Three] {
        let Some(shop) = Shop::open(engine).await else {
            return;
        };
        let fake = xui(generation).await;
        shop.add_xui(&fake).await;
        let plan = shop.plan("Quarter 100", 100, 90, 400_000).await;
        shop.credit(SARA, 400_000).await;
        let order = shop.paid_order(SARA, &plan).await;
        let progress = shop.fulfilment.advance(&order.id).await.unwrap();
        let Progress::Delivered { service_id } = progress else {
            panic!("not delivered on {generation:?}: {progress:?}");
        };
        let service = services::get(&shop.db, &service_id).await.unwrap().unwrap();
        let accounts = fake.accounts();
        assert!(!accounts.is_empty());
        assert!(accounts.iter().all(|a| a.username == order.username));
        let account = &accounts[0];
        assert_eq!(account.limit_bytes, 100 * GIB as u64, "{generation:?}");
        // 3x-UI keeps expiry in milliseconds.
        let expected_ms = (shop.clock.now() + 90 * DAY) * 1000;
        assert!(
            (account.expire - expected_ms).abs() < 5_000,
            "{generation:?}"
        );
        assert_eq!(account.ip_limit, 2);
        assert!(service.subscription_url.ends_with(&account.sub_id));
        assert_eq!(shop.balance(SARA).await, 0);
        shop.assert_every_order_kept_its_promise(&[fake.accounts()])
            .await;
    }
}

async fn renewal_and_added_data_apply_once_even_when_retried(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let fake = marzban().await;
    shop.add_marzban(&fake, None).await;
    let plan = shop.plan("Monthly", 10, 30, 100_000).await;
    shop.credit(SARA, 1_000_000).await;
    let order = shop.paid_order(SARA, &plan).await;
    let Progress::Delivered { service_id } = shop.fulfilment.advance(&order.id).await.unwrap()
    else {
        panic!("not delivered");
    };
    let before = fake.accounts()[0].clone();
    fake.control()
        .add_traffic(&before.username, 3 * GIB as u64)
        .await
        .unwrap();

    // Renew once; a replay of the same order changes nothing more.
    let service = services::get(&shop.db, &service_id).await.unwrap().unwrap();
    let renew = orders::create_renew(&shop.db, &service, &plan, now())
        .await
        .unwrap();
    orders::pay_from_wallet(&shop.db, SARA, &renew.id, now())
        .await
        .unwrap();
    let first = shop.fulfilment.advance(&renew.id).await.unwrap();
    assert!(matches!(first, Progress::Delivered { .. }), "{first:?}");
    // A replay of the same order does nothing more.
    assert_eq!(
        shop.fulfilment.advance(&renew.id).await.unwrap(),
        Progress::Idle
    );
    let after = fake.accounts()[0].clone();
    assert!(
        (after.expire - (before.expire + 30 * DAY)).abs() < 5,
        "renewed once"
    );
    assert_eq!(after.used_bytes, 0, "traffic reset on renewal");

    // Add 20 GB: the panel fails the first call, the retry adds it once.
    let service = services::get(&shop.db, &service_id).await.unwrap().unwrap();
    let add = orders::create_add_data(
        &shop.db,
        &service,
        20 * GIB,
        shared::money::Money::toman(60_000),
        now(),
    )
    .await
    .unwrap();
    orders::pay_from_wallet(&shop.db, SARA, &add.id, now())
        .await
        .unwrap();
    fake.control()
        .fail_next(
            Some("PUT"),
            &format!("/api/user/{}", before.username),
            500,
            1,
        )
        .await
        .unwrap();
    let first = shop.fulfilment.advance(&add.id).await.unwrap();
    assert!(matches!(first, Progress::WillRetry { .. }), "{first:?}");
    let second = shop.fulfilment.advance(&add.id).await.unwrap();
    assert!(matches!(second, Progress::Delivered { .. }), "{second:?}");
    assert_eq!(
        shop.fulfilment.advance(&add.id).await.unwrap(),
        Progress::Idle
    );
    assert_eq!(fake.accounts()[0].limit_bytes, 30 * GIB as u64);
    let service = services::get(&shop.db, &service_id).await.unwrap().unwrap();
    assert_eq!(service.data_limit_bytes, Some(30 * GIB));
    assert_eq!(
        shop.balance(SARA).await,
        1_000_000 - 100_000 - 100_000 - 60_000
    );
    shop.assert_every_order_kept_its_promise(&[fake.accounts()])
        .await;
}

async fn a_panel_error_mid_purchase_is_retried_and_delivers_one_account(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let fake = marzban().await;
    shop.add_marzban(&fake, None).await;
    let plan = shop.plan("Monthly", 10, 30, 100_000).await;
    shop.credit(SARA, 100_000).await;
    let order = shop.paid_order(SARA, &plan).await;
    fake.control()
        .fail_next(Some("POST"), "/api/user", 500, 2)
        .await
        .unwrap();
    for _ in 0..2 {
        let progress = shop.fulfilment.advance(&order.id).await.unwrap();
        assert!(
            matches!(progress, Progress::WillRetry { .. }),
            "{progress:?}"
        );
    }
    let progress = shop.fulfilment.advance(&order.id).await.unwrap();
    assert!(
        matches!(progress, Progress::Delivered { .. }),
        "{progress:?}"
    );
    assert_eq!(fake.accounts().len(), 1);
    assert_eq!(shop.balance(SARA).await, 0);
    shop.assert_every_order_kept_its_promise(&[fake.accounts()])
        .await;
}

async fn a_panel_that_times_out_mid_purchase_never_gets_a_second_account(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let fake = marzban().await;
    shop.add_marzban(&fake, None).await;
    let plan = shop.plan("Monthly", 10, 30, 100_000).await;
    shop.credit(SARA, 100_000).await;
    let order = shop.paid_order(SARA, &plan).await;
    // Slower than the client waits: the panel may well create the account after we gave up.
    fake.control()
        .set_delay(Duration::from_millis(1_200))
        .await
        .unwrap();
    let progress = shop.fulfilment.advance(&order.id).await.unwrap();
    assert!(
        matches!(progress, Progress::WillRetry { .. }),
        "{progress:?}"
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    fake.control().set_delay(Duration::ZERO).await.unwrap();
    let progress = shop.fulfilment.advance(&order.id).await.unwrap();
    assert!(
        matches!(progress, Progress::Delivered { .. }),
        "{progress:?}"
    );
    assert_eq!(fake.accounts().len(), 1);
    shop.assert_every_order_kept_its_promise(&[fake.accounts()])
        .await;
}

async fn a_bot_killed_after_the_panel_made_the_account_delivers_that_account(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let fake = marzban().await;
    shop.add_marzban(&fake, None).await;
    let plan = shop.plan("Monthly", 10, 30, 100_000).await;
    shop.credit(SARA, 100_000).await;
    let order = shop.paid_order(SARA, &plan).await;
    // The first try fixes the panel, then the create fails...
    fake.control()
        .fail_next(Some("POST"), "/api/user", 502, 1)
        .await
        .unwrap();
    shop.fulfilment.advance(&order.id).await.unwrap();
    // ...and, as if the bot had died right after a create the panel did carry out, the
    // account is there when the bot comes back.
    let order = orders::get(&shop.db, &order.id).await.unwrap().unwrap();
    assert_eq!(order.state, State::Provisioning);
    let client = shop
        .registry
        .client_by_id(order.panel_id.as_deref().unwrap())
        .await
        .unwrap();
    client
        .create_account(&NewAccount {
            username: Username::parse(&order.username).unwrap(),
            data_limit_bytes: Some(10 * GIB as u64),
            expire_at: order.target_expire_at,
            inbounds: vec![],
            note: String::new(),
            ip_limit: None,
        })
        .await
        .unwrap();
    let restarted = shop.restarted();
    shop.clock.advance(DAY);
    assert_eq!(restarted.resume_due().await.unwrap(), 1);
    assert_eq!(fake.accounts().len(), 1);
    let order = orders::get(&shop.db, &order.id).await.unwrap().unwrap();
    assert_eq!(order.state, State::Delivered);
    shop.assert_every_order_kept_its_promise(&[fake.accounts()])
        .await;
}

async fn a_bot_killed_between_payment_and_account_creation_finishes_on_start(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let fake = marzban().await;
    shop.add_marzban(&fake, None).await;
    let plan = shop.plan("Monthly", 10, 30, 100_000).await;
    shop.credit(SARA, 300_000).await;
    // Three paid orders, and the bot dies before working on any of them.
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(shop.paid_order(SARA, &plan).await.id);
    }
    let restarted = shop.restarted();
    assert_eq!(restarted.resume_due().await.unwrap(), 3);
    for id in &ids {
        assert_eq!(
            orders::get(&shop.db, id).await.unwrap().unwrap().state,
            State::Delivered
        );
    }
    assert_eq!(fake.accounts().len(), 3);
    assert_eq!(restarted.resume_due().await.unwrap(), 0);
    shop.assert_every_order_kept_its_promise(&[fake.accounts()])
        .await;
}

async fn the_same_payment_delivered_twice_charges_and_creates_once(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let fake = marzban().await;
    shop.add_marzban(&fake, None).await;
    let plan = shop.plan("Monthly", 10, 30, 100_000).await;
    shop.credit(SARA, 500_000).await;
    let order = orders::create_new(&shop.db, SARA, &plan, now())
        .await
        .unwrap();
    // Two taps on "pay" and two workers at once.
    let (a, b) = tokio::join!(
        orders::pay_from_wallet(&shop.db, SARA, &order.id, now()),
        orders::pay_from_wallet(&shop.db, SARA, &order.id, now()),
    );
    assert!(a.is_ok() || b.is_ok());
    let second = shop.restarted();
    let (x, y) = tokio::join!(
        shop.fulfilment.advance(&order.id),
        second.advance(&order.id)
    );
    let delivered = [x.unwrap(), y.unwrap()]
        .into_iter()
        .filter(|p| matches!(p, Progress::Delivered { .. }))
        .count();
    assert!(delivered <= 1);
    shop.fulfilment.resume_due().await.unwrap();
    assert_eq!(shop.balance(SARA).await, 400_000, "charged once");
    assert_eq!(fake.accounts().len(), 1, "one account");
    let delivered_notices: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM notices WHERE telegram_id = $1 AND kind = 'delivered'",
    )
    .bind(SARA)
    .fetch_one(shop.db.pool())
    .await
    .unwrap();
    assert_eq!(delivered_notices, 1);
    shop.assert_every_order_kept_its_promise(&[fake.accounts()])
        .await;
}

async fn a_panel_down_through_every_try_refunds_and_alerts_and_leaves_no_orphan(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    admins::set_owner(&shop.db, OWNER, now()).await.unwrap();
    settings::set(
        &shop.db,
        &Delivery {
            attempts: 3,
            backoff_seconds: 10,
            max_backoff_seconds: 60,
        },
        now(),
    )
    .await
    .unwrap();
    let fake = marzban().await;
    shop.add_marzban(&fake, None).await;
    let plan = shop.plan("Monthly", 10, 30, 100_000).await;
    shop.credit(SARA, 100_000).await;
    let order = shop.paid_order(SARA, &plan).await;
    // The first try's create times out (the panel may make the account in the dark)...
    fake.control()
        .set_delay(Duration::from_millis(1_200))
        .await
        .unwrap();
    let progress = shop.fulfilment.advance(&order.id).await.unwrap();
    assert!(
        matches!(progress, Progress::WillRetry { .. }),
        "{progress:?}"
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // ...then the panel stops answering in time for every further try.
    let mut last = Progress::Idle;
    for _ in 0..3 {
        shop.clock.advance(120);
        last = shop.fulfilment.advance(&order.id).await.unwrap();
        if matches!(last, Progress::Refunded { .. }) {
            break;
        }
    }
    assert!(matches!(last, Progress::Refunded { .. }), "{last:?}");
    assert_eq!(shop.balance(SARA).await, 100_000, "the money is back");
    let due = notices::due(&shop.db, shop.clock.now(), 50).await.unwrap();
    assert!(due
        .iter()
        .any(|n| n.telegram_id == SARA && matches!(n.notice, Notice::Refunded { .. })));
    assert!(due
        .iter()
        .any(|n| n.telegram_id == OWNER && matches!(n.notice, Notice::OrderFailed { .. })));
    // The panel answers again: whatever it made in the dark is deleted.
    fake.control().set_delay(Duration::ZERO).await.unwrap();
    shop.fulfilment.clean_up().await.unwrap();
    assert!(fake.accounts().is_empty());
    shop.assert_every_order_kept_its_promise(&[fake.accounts()])
        .await;
}

async fn no_panel_in_rotation_means_no_charge_lost(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    settings::set(
        &shop.db,
        &Delivery {
            attempts: 2,
            backoff_seconds: 1,
            max_backoff_seconds: 1,
        },
        now(),
    )
    .await
    .unwrap();
    let fake = marzban().await;
    let panel = shop.add_marzban(&fake, None).await;
    tenant_bot::panels::set_enabled(&shop.db, &panel, false, now())
        .await
        .unwrap();
    let plan = shop.plan("Monthly", 10, 30, 100_000).await;
    shop.credit(SARA, 100_000).await;
    let order = shop.paid_order(SARA, &plan).await;
    assert!(matches!(
        shop.fulfilment.advance(&order.id).await.unwrap(),
        Progress::WillRetry { .. }
    ));
    shop.clock.advance(10);
    assert!(matches!(
        shop.fulfilment.advance(&order.id).await.unwrap(),
        Progress::Refunded { .. }
    ));
    assert_eq!(shop.balance(SARA).await, 100_000);
    shop.assert_every_order_kept_its_promise(&[fake.accounts()])
        .await;
}

async fn the_trial_is_once_per_user(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let fake = marzban().await;
    shop.add_marzban(&fake, None).await;
    let trial = Trial::default();
    let order = orders::start_trial(&shop.db, SARA, &trial, now())
        .await
        .unwrap();
    assert!(matches!(
        shop.fulfilment.advance(&order.id).await.unwrap(),
        Progress::Delivered { .. }
    ));
    let again = orders::start_trial(&shop.db, SARA, &trial, now()).await;
    assert!(
        matches!(again, Err(Error::Refused(Refusal::TrialUsed))),
        "{again:?}"
    );
    let off = Trial {
        enabled: false,
        ..Trial::default()
    };
    let other = orders::start_trial(&shop.db, SARA + 1, &off, now()).await;
    assert!(matches!(other, Err(Error::Refused(Refusal::TrialOff))));
    assert_eq!(fake.accounts().len(), 1);
    assert_eq!(fake.accounts()[0].limit_bytes, GIB as u64);
    shop.assert_every_order_kept_its_promise(&[fake.accounts()])
        .await;
}

async fn not_enough_balance_charges_nothing(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let plan = shop.plan("Monthly", 10, 30, 100_000).await;
    shop.credit(SARA, 40_000).await;
    let order = orders::create_new(&shop.db, SARA, &plan, now())
        .await
        .unwrap();
    let refused = orders::pay_from_wallet(&shop.db, SARA, &order.id, now()).await;
    match refused {
        Err(Error::Refused(Refusal::NotEnoughBalance { balance, needed })) => {
            assert_eq!(balance.minor(), 40_000);
            assert_eq!(needed.minor(), 100_000);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(shop.balance(SARA).await, 40_000);
    // Someone else cannot pay Sara's order with their wallet.
    shop.credit(SARA + 1, 500_000).await;
    let stranger = orders::pay_from_wallet(&shop.db, SARA + 1, &order.id, now()).await;
    assert!(matches!(
        stranger,
        Err(Error::Refused(Refusal::OrderNotPayable))
    ));
    assert_eq!(shop.balance(SARA + 1).await, 500_000);
}

async fn a_panel_failing_its_health_check_gets_no_new_accounts(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    admins::set_owner(&shop.db, OWNER, now()).await.unwrap();
    let (germany, netherlands) = (marzban().await, marzban().await);
    shop.add_marzban(&germany, Some("Germany")).await;
    shop.add_marzban(&netherlands, Some("Netherlands")).await;
    let plan = shop.plan("Monthly", 10, 30, 1_000).await;
    shop.credit(SARA, 10_000).await;

    // Least loaded first: two orders land on the two panels.
    for _ in 0..2 {
        let order = shop.paid_order(SARA, &plan).await;
        shop.fulfilment.advance(&order.id).await.unwrap();
    }
    assert_eq!(
        (germany.accounts().len(), netherlands.accounts().len()),
        (1, 1)
    );

    // Germany goes down: the health check takes it out, the admins hear it once.
    germany.control().set_down(true).await.unwrap();
    let healthy = tenant_bot::panels::health::check_all(&shop.db, &shop.registry, now())
        .await
        .unwrap();
    assert_eq!(healthy, 1);
    tenant_bot::panels::health::check_all(&shop.db, &shop.registry, now() + 60)
        .await
        .unwrap();
    let alerts: Vec<_> = notices::due(&shop.db, now() + 60, 50)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.telegram_id == OWNER && matches!(n.notice, Notice::PanelDown { .. }))
        .collect();
    assert_eq!(alerts.len(), 1);
    for _ in 0..2 {
        let order = shop.paid_order(SARA, &plan).await;
        shop.fulfilment.advance(&order.id).await.unwrap();
    }
    assert_eq!(
        (germany.accounts().len(), netherlands.accounts().len()),
        (1, 3)
    );

    // A plan bound to Germany waits (and is refunded in the end) rather than landing elsewhere.
    let german = tenant_bot::plans::create(
        &shop.db,
        &tenant_bot::plans::PlanDraft {
            name_fa: "آلمان".into(),
            name_en: "Germany".into(),
            data_bytes: Some(10 * GIB),
            days: 30,
            price: shared::money::Money::toman(1_000),
            ip_limit: None,
            location: Some("Germany".into()),
            panel_id: None,
            sort_order: 1,
        },
        now(),
    )
    .await
    .unwrap();
    let order = shop.paid_order(SARA, &german).await;
    assert!(matches!(
        shop.fulfilment.advance(&order.id).await.unwrap(),
        Progress::WillRetry { .. }
    ));
    // Germany is back: the next try places it there.
    germany.control().set_down(false).await.unwrap();
    tenant_bot::panels::health::check_all(&shop.db, &shop.registry, now() + 120)
        .await
        .unwrap();
    shop.clock.advance(60);
    assert!(matches!(
        shop.fulfilment.advance(&order.id).await.unwrap(),
        Progress::Delivered { .. }
    ));
    assert_eq!(germany.accounts().len(), 2);
    shop.assert_every_order_kept_its_promise(&[germany.accounts(), netherlands.accounts()])
        .await;
}

/// Twenty customers pay at the same moment: on SQLite too, every payment goes through (the
/// writers queue) and each is charged once.
async fn many_customers_paying_at_once_all_get_through(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let plan = shop.plan("Monthly", 10, 30, 1_000).await;
    let customers: Vec<i64> = (0..20).map(|n| SARA + 100 + n).collect();
    let mut orders_made = Vec::new();
    for &customer in &customers {
        shop.credit(customer, 1_500).await;
        orders_made.push(
            orders::create_new(&shop.db, customer, &plan, now())
                .await
                .unwrap(),
        );
    }
    let payments = orders_made.iter().map(|order| {
        let db = shop.db.clone();
        let (customer, id) = (order.telegram_id, order.id.clone());
        tokio::spawn(async move { orders::pay_from_wallet(&db, customer, &id, now()).await })
    });
    for paid in futures_join_all(payments).await {
        let order = paid.unwrap().unwrap();
        assert_eq!(order.state, State::Paid);
    }
    for &customer in &customers {
        assert_eq!(shop.balance(customer).await, 500);
    }
}

async fn futures_join_all<T>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut out = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        out.push(handle.await);
    }
    out
}

shared::on_both_engines!(
    many_customers_paying_at_once_all_get_through,
    a_panel_failing_its_health_check_gets_no_new_accounts,
    a_customer_buys_a_plan_from_the_wallet_on_marzban,
    a_customer_buys_on_3x_ui_of_both_generations,
    renewal_and_added_data_apply_once_even_when_retried,
    a_panel_error_mid_purchase_is_retried_and_delivers_one_account,
    a_panel_that_times_out_mid_purchase_never_gets_a_second_account,
    a_bot_killed_after_the_panel_made_the_account_delivers_that_account,
    a_bot_killed_between_payment_and_account_creation_finishes_on_start,
    the_same_payment_delivered_twice_charges_and_creates_once,
    a_panel_down_through_every_try_refunds_and_alerts_and_leaves_no_orphan,
    no_panel_in_rotation_means_no_charge_lost,
    the_trial_is_once_per_user,
    not_enough_balance_charges_nothing,
);
