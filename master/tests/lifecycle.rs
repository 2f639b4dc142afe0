//! Moving the clock over a subscription's life: reminders once each, grace, suspension,
//! reactivation by payment, the last warning and deletion. On SQLite and PostgreSQL.

use master::billing::orders::{self, OrderKind, OrderRequest};
use master::billing::payments::{self, Method};
use master::billing::subscriptions::{self, Status};
use master::billing::MONTH;
use master::customers::{self, TelegramProfile};
use master::jobs::lifecycle::{run_once, Policy};
use master::outbox;
use shared::clock::DAY;
use shared::db::{Db, Engine, Schema};
use shared::money::Currency;
use shared::telegram::TelegramId;
use shared::testdb::TestDb;

const T0: i64 = 1_790_000_000;

async fn subscribed_customer(db: &Db, telegram_id: i64) -> (String, String) {
    let customer = customers::upsert_from_telegram(
        db,
        &TelegramProfile {
            id: TelegramId::new(telegram_id),
            first_name: "Sara".into(),
            username: None,
            language_code: Some("fa".into()),
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
    let sub = pay(db, T0, &request).await;
    (customer.id, sub)
}

async fn pay(db: &Db, now: i64, request: &OrderRequest) -> String {
    let (_, invoice) = orders::place(db, now, request).await.unwrap();
    let payment = payments::open(db, now, &invoice.id, Method::Zarinpal)
        .await
        .unwrap();
    match payments::confirm(db, now, &payment.id, invoice.amount, None)
        .await
        .unwrap()
    {
        payments::Outcome::Applied {
            subscription_id: Some(id),
            ..
        } => id,
        other => panic!("{other:?}"),
    }
}

async fn status(db: &Db, id: &str) -> Status {
    subscriptions::get(db, id).await.unwrap().unwrap().status
}

async fn telegram_keys(db: &Db, kind: &str) -> Vec<String> {
    outbox::keys_with_prefix(db, &format!("telegram:{kind}"))
        .await
        .unwrap()
}

async fn an_unpaid_subscription_is_reminded_then_suspended_and_a_payment_brings_it_back(
    engine: Engine,
) {
    let Some(t) = TestDb::fresh(engine, Schema::Master).await else {
        return;
    };
    let db = &t.db;
    let policy = Policy::default();
    let (customer, sub) = subscribed_customer(db, 1).await;
    let end = T0 + MONTH;

    run_once(db, end - 8 * DAY, &policy).await.unwrap();
    assert!(
        telegram_keys(db, "reminder").await.is_empty(),
        "too early to remind"
    );

    for (at, expected) in [
        (end - 7 * DAY, 1),
        (end - 7 * DAY + 60, 1), // the same run twice: still one
        (end - 3 * DAY, 2),
        (end - DAY, 3),
        (end - 1, 3),
    ] {
        run_once(db, at, &policy).await.unwrap();
        assert_eq!(
            telegram_keys(db, "reminder").await.len(),
            expected,
            "at end - {}",
            end - at
        );
    }
    assert_eq!(
        outbox::keys_with_prefix(db, "email:reminder")
            .await
            .unwrap()
            .len(),
        3
    );

    let report = run_once(db, end + 1, &policy).await.unwrap();
    assert_eq!(report.graced, 1);
    assert_eq!(
        status(db, &sub).await,
        Status::Grace,
        "the bot keeps running for a while"
    );
    assert_eq!(run_once(db, end + 2, &policy).await.unwrap().graced, 0);

    run_once(db, end + policy.grace + 1, &policy).await.unwrap();
    assert_eq!(status(db, &sub).await, Status::Suspended);
    assert!(!Status::Suspended.keeps_bot_running());
    assert_eq!(telegram_keys(db, "suspended").await.len(), 1);
    run_once(db, end + policy.grace + 2, &policy).await.unwrap();
    assert_eq!(telegram_keys(db, "suspended").await.len(), 1, "told once");

    // The customer pays: active again at once, for a month from now.
    let paid_at = end + 10 * DAY;
    let renew = OrderRequest {
        customer_id: customer.clone(),
        kind: OrderKind::Renew,
        package_code: "starter".into(),
        period_months: 1,
        currency: Currency::Toman,
        coupon: None,
        subscription_id: Some(sub.clone()),
    };
    pay(db, paid_at, &renew).await;
    assert_eq!(status(db, &sub).await, Status::Active);
    let new_end = paid_at + MONTH;
    assert_eq!(
        subscriptions::get(db, &sub)
            .await
            .unwrap()
            .unwrap()
            .current_period_end,
        new_end
    );

    // Lapsing again: the last warning comes once, then deletion after the retention period.
    run_once(db, new_end + 1, &policy).await.unwrap();
    run_once(db, new_end + policy.grace + 1, &policy)
        .await
        .unwrap();
    let delete_at = new_end + policy.grace + policy.retention;
    run_once(db, delete_at - policy.last_warning, &policy)
        .await
        .unwrap();
    run_once(db, delete_at - 60, &policy).await.unwrap();
    assert_eq!(telegram_keys(db, "warning").await.len(), 1);
    assert_eq!(status(db, &sub).await, Status::Suspended);
    let report = run_once(db, delete_at, &policy).await.unwrap();
    assert_eq!(report.deleted, 1);
    assert_eq!(status(db, &sub).await, Status::Deleted);
    t.cleanup().await.unwrap();
}

async fn a_job_that_was_down_for_days_sends_only_the_nearest_reminder(engine: Engine) {
    let Some(t) = TestDb::fresh(engine, Schema::Master).await else {
        return;
    };
    let db = &t.db;
    let (_, sub) = subscribed_customer(db, 1).await;
    run_once(db, T0 + MONTH - 2 * DAY, &Policy::default())
        .await
        .unwrap();
    let keys = telegram_keys(db, "reminder").await;
    assert_eq!(keys.len(), 1);
    assert!(
        keys[0].starts_with(&format!("telegram:reminder:3:{sub}")),
        "{keys:?}"
    );
    t.cleanup().await.unwrap();
}

async fn a_cancelled_subscription_ends_with_its_period_without_reminders(engine: Engine) {
    let Some(t) = TestDb::fresh(engine, Schema::Master).await else {
        return;
    };
    let db = &t.db;
    let policy = Policy::default();
    let (_, sub) = subscribed_customer(db, 1).await;
    assert!(
        subscriptions::cancel_at_period_end(db, &sub, true, T0 + DAY)
            .await
            .unwrap()
    );
    run_once(db, T0 + MONTH - DAY, &policy).await.unwrap();
    assert!(telegram_keys(db, "reminder").await.is_empty());
    run_once(db, T0 + MONTH, &policy).await.unwrap();
    assert_eq!(status(db, &sub).await, Status::Cancelled);
    run_once(db, T0 + MONTH + policy.retention, &policy)
        .await
        .unwrap();
    assert_eq!(status(db, &sub).await, Status::Deleted);
    t.cleanup().await.unwrap();
}

shared::on_both_engines!(
    an_unpaid_subscription_is_reminded_then_suspended_and_a_payment_brings_it_back,
    a_job_that_was_down_for_days_sends_only_the_nearest_reminder,
    a_cancelled_subscription_ends_with_its_period_without_reminders,
);
