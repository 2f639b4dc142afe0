//! Billing stories: orders, invoices, payments applied exactly once, subscriptions, coupons
//! and wallets, on SQLite and PostgreSQL.

use master::billing::coupons::{self, Discount};
use master::billing::orders::{self, InvoiceStatus, OrderKind, OrderRequest};
use master::billing::payments::{self, Method, Outcome, PaymentStatus};
use master::billing::refusal::Limit;
use master::billing::subscriptions::{self, Status, Usage};
use master::billing::{packages, wallet, Refusal, INVOICE_TTL, MONTH};
use master::customers::{self, TelegramProfile};
use master::Error;
use shared::clock::DAY;
use shared::db::{Db, Engine, Schema};
use shared::money::{Currency, Money};
use shared::telegram::TelegramId;
use shared::testdb::TestDb;

const T0: i64 = 1_790_000_000;

async fn customer(db: &Db, telegram_id: i64) -> String {
    customers::upsert_from_telegram(
        db,
        &TelegramProfile {
            id: TelegramId::new(telegram_id),
            first_name: "Sara".into(),
            username: None,
            language_code: Some("fa".into()),
        },
    )
    .await
    .unwrap()
    .id
}

fn new_order(customer_id: &str, package: &str, months: i64) -> OrderRequest {
    OrderRequest {
        customer_id: customer_id.to_string(),
        kind: OrderKind::New,
        package_code: package.to_string(),
        period_months: months,
        currency: Currency::Toman,
        coupon: None,
        subscription_id: None,
    }
}

fn refusal(result: Result<impl std::fmt::Debug, Error>) -> Refusal {
    match result {
        Err(Error::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Buys and pays; returns the subscription id.
async fn buy(db: &Db, now: i64, request: &OrderRequest) -> String {
    let (_, invoice) = orders::place(db, now, request).await.unwrap();
    let payment = payments::open(db, now, &invoice.id, Method::Zarinpal)
        .await
        .unwrap();
    match payments::confirm(db, now, &payment.id, invoice.amount, None)
        .await
        .unwrap()
    {
        Outcome::Applied {
            subscription_id: Some(id),
            ..
        } => id,
        other => panic!("not applied: {other:?}"),
    }
}

async fn fresh(engine: Engine) -> Option<TestDb> {
    TestDb::fresh(engine, Schema::Master).await
}

async fn a_customer_buys_starter_for_a_month(engine: Engine) {
    let Some(t) = fresh(engine).await else { return };
    let db = &t.db;
    let sara = customer(db, 1).await;

    let (order, invoice) = orders::place(db, T0, &new_order(&sara, "starter", 1))
        .await
        .unwrap();
    assert_eq!(order.total, Money::toman(290_000));
    assert_eq!(invoice.amount, Money::toman(290_000));
    assert_eq!(invoice.status, InvoiceStatus::Open);
    assert_eq!(invoice.expires_at, T0 + INVOICE_TTL);

    let payment = payments::open(db, T0 + 60, &invoice.id, Method::Zarinpal)
        .await
        .unwrap();
    payments::set_provider_ref(db, T0 + 60, &payment.id, "A000000000000000000000000000123")
        .await
        .unwrap();
    let found = payments::by_provider_ref(db, Method::Zarinpal, "A000000000000000000000000000123")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, payment.id);

    let outcome = payments::confirm(db, T0 + 120, &payment.id, Money::toman(290_000), None)
        .await
        .unwrap();
    let Outcome::Applied {
        invoice_paid: true,
        credited_to_wallet: false,
        subscription_id: Some(sub_id),
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    let sub = subscriptions::get(db, &sub_id).await.unwrap().unwrap();
    assert_eq!(sub.status, Status::Active);
    assert_eq!(sub.terms.package_code, "starter");
    assert_eq!(sub.terms.max_end_users, Some(100));
    assert_eq!(sub.current_period_end, T0 + 120 + MONTH);
    let invoice = orders::invoice(db, &invoice.id).await.unwrap().unwrap();
    assert_eq!(invoice.status, InvoiceStatus::Paid);
    t.cleanup().await.unwrap();
}

async fn a_replayed_or_concurrent_confirmation_is_applied_once(engine: Engine) {
    let Some(t) = fresh(engine).await else { return };
    let db = &t.db;
    let sara = customer(db, 1).await;
    let (_, invoice) = orders::place(db, T0, &new_order(&sara, "starter", 1))
        .await
        .unwrap();
    let payment = payments::open(db, T0, &invoice.id, Method::NowPayments)
        .await
        .unwrap();

    let mut racers = Vec::new();
    for _ in 0..6 {
        let (db, id) = (db.clone(), payment.id.clone());
        racers.push(tokio::spawn(async move {
            payments::confirm(&db, T0 + 1, &id, Money::toman(290_000), None).await
        }));
    }
    let mut applied = 0;
    for racer in racers {
        match racer.await.unwrap().unwrap() {
            Outcome::Applied { .. } => applied += 1,
            Outcome::AlreadyApplied => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(applied, 1, "exactly one confirmation moves money");
    assert_eq!(
        payments::confirm(db, T0 + 2, &payment.id, Money::toman(290_000), None)
            .await
            .unwrap(),
        Outcome::AlreadyApplied
    );
    assert_eq!(
        subscriptions::for_customer(db, &sara).await.unwrap().len(),
        1
    );
    assert!(wallet::balance(db, &sara, Currency::Toman)
        .await
        .unwrap()
        .is_zero());
    t.cleanup().await.unwrap();
}

async fn a_wrong_amount_is_not_applied(engine: Engine) {
    let Some(t) = fresh(engine).await else { return };
    let db = &t.db;
    let sara = customer(db, 1).await;
    let (_, invoice) = orders::place(db, T0, &new_order(&sara, "starter", 1))
        .await
        .unwrap();
    let payment = payments::open(db, T0, &invoice.id, Method::Zarinpal)
        .await
        .unwrap();

    let outcome = payments::confirm(db, T0, &payment.id, Money::toman(29_000), None)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::Mismatch {
            expected: Money::toman(290_000),
            got: Money::toman(29_000)
        }
    );
    // Nor in another currency of the same number.
    let other = payments::open(db, T0, &invoice.id, Method::NowPayments)
        .await
        .unwrap();
    let outcome = payments::confirm(db, T0, &other.id, Money::usd_cents(290_000), None)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Mismatch { .. }));

    let stored = payments::get(db, &payment.id).await.unwrap().unwrap();
    assert_eq!(stored.status, PaymentStatus::Mismatch);
    assert!(stored.applied_at.is_none());
    assert_eq!(
        orders::invoice(db, &invoice.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        InvoiceStatus::Open
    );
    assert!(subscriptions::for_customer(db, &sara)
        .await
        .unwrap()
        .is_empty());
    t.cleanup().await.unwrap();
}

async fn a_late_payment_for_an_expired_invoice_goes_to_the_wallet(engine: Engine) {
    let Some(t) = fresh(engine).await else { return };
    let db = &t.db;
    let sara = customer(db, 1).await;
    let (_, invoice) = orders::place(db, T0, &new_order(&sara, "starter", 1))
        .await
        .unwrap();
    let payment = payments::open(db, T0, &invoice.id, Method::NowPayments)
        .await
        .unwrap();

    assert_eq!(
        orders::expire_lapsed(db, T0 + INVOICE_TTL).await.unwrap(),
        1
    );
    assert_eq!(
        orders::expire_lapsed(db, T0 + INVOICE_TTL).await.unwrap(),
        0
    );
    // A new payment cannot start on it...
    assert_eq!(
        refusal(payments::open(db, T0 + INVOICE_TTL, &invoice.id, Method::Card).await),
        Refusal::InvoiceNotPayable
    );
    // ...but money that arrives anyway is never lost.
    let outcome = payments::confirm(
        db,
        T0 + INVOICE_TTL + 5,
        &payment.id,
        Money::toman(290_000),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        outcome,
        Outcome::Applied {
            invoice_paid: false,
            credited_to_wallet: true,
            subscription_id: None
        }
    );
    assert_eq!(
        wallet::balance(db, &sara, Currency::Toman).await.unwrap(),
        Money::toman(290_000)
    );

    // The balance pays the next order, once.
    let (_, second) = orders::place(db, T0 + DAY * 2, &new_order(&sara, "starter", 1))
        .await
        .unwrap();
    let paid = payments::pay_from_wallet(db, T0 + DAY * 2, &second.id)
        .await
        .unwrap();
    assert!(matches!(
        paid,
        Outcome::Applied {
            invoice_paid: true,
            ..
        }
    ));
    assert_eq!(
        payments::pay_from_wallet(db, T0 + DAY * 2, &second.id)
            .await
            .unwrap(),
        Outcome::AlreadyApplied
    );
    assert!(wallet::balance(db, &sara, Currency::Toman)
        .await
        .unwrap()
        .is_zero());
    assert_eq!(wallet::history(db, &sara).await.unwrap().len(), 2);

    // And an empty wallet says how much is missing.
    let (_, third) = orders::place(db, T0 + DAY * 3, &new_order(&sara, "starter", 1))
        .await
        .unwrap();
    assert!(matches!(
        refusal(payments::pay_from_wallet(db, T0 + DAY * 3, &third.id).await),
        Refusal::NotEnoughBalance { .. }
    ));
    t.cleanup().await.unwrap();
}

async fn coupons_count_their_uses_and_expire(engine: Engine) {
    let Some(t) = fresh(engine).await else { return };
    let db = &t.db;
    let sara = customer(db, 1).await;
    let omid = customer(db, 2).await;
    coupons::create(
        db,
        "nowruz",
        Discount::Percent(20),
        Some(T0 + DAY),
        Some(1),
        T0,
    )
    .await
    .unwrap();

    let mut with_coupon = new_order(&sara, "starter", 1);
    with_coupon.coupon = Some(" NowRuz ".into());
    let (order, invoice) = orders::place(db, T0, &with_coupon).await.unwrap();
    assert_eq!(order.discount, Money::toman(58_000));
    assert_eq!(invoice.amount, Money::toman(232_000));

    let mut omids = new_order(&omid, "starter", 1);
    omids.coupon = Some("nowruz".into());
    assert_eq!(
        refusal(orders::place(db, T0, &omids).await),
        Refusal::CouponUsedUp
    );

    // Sara gives up: the use comes back, and Omid gets it.
    assert!(orders::cancel(db, &invoice.id, &sara, T0 + 10)
        .await
        .unwrap());
    orders::place(db, T0 + 20, &omids).await.unwrap();

    omids.coupon = Some("no-such-code".into());
    assert_eq!(
        refusal(orders::place(db, T0, &omids).await),
        Refusal::CouponUnknown
    );
    coupons::create(
        db,
        "old",
        Discount::Fixed(Money::toman(10_000)),
        Some(T0),
        None,
        T0,
    )
    .await
    .unwrap();
    omids.coupon = Some("old".into());
    assert_eq!(
        refusal(orders::place(db, T0 + 1, &omids).await),
        Refusal::CouponExpired
    );

    // A coupon that covers everything settles the order at once.
    coupons::create(db, "gift", Discount::Percent(100), None, None, T0)
        .await
        .unwrap();
    omids.coupon = Some("gift".into());
    let (_, free) = orders::place(db, T0 + 30, &omids).await.unwrap();
    assert_eq!(free.status, InvoiceStatus::Paid);
    assert_eq!(
        subscriptions::for_customer(db, &omid).await.unwrap().len(),
        1
    );
    t.cleanup().await.unwrap();
}

async fn renewals_keep_what_was_bought(engine: Engine) {
    let Some(t) = fresh(engine).await else { return };
    let db = &t.db;
    let sara = customer(db, 1).await;
    let sub_id = buy(db, T0, &new_order(&sara, "starter", 1)).await;

    // Staff raise the price and then stop selling Starter.
    packages::set_price(db, "starter", 1, Money::toman(390_000))
        .await
        .unwrap();
    packages::set_active(db, "starter", false).await.unwrap();
    let sub = subscriptions::get(db, &sub_id).await.unwrap().unwrap();
    assert_eq!(
        sub.terms.price_minor, 290_000,
        "a price change never alters what was bought"
    );

    // Renewing early adds a month to the end, at the price bought.
    let renew = OrderRequest {
        kind: OrderKind::Renew,
        subscription_id: Some(sub_id.clone()),
        ..new_order(&sara, "starter", 1)
    };
    let (order, _) = orders::place(db, T0 + 10 * DAY, &renew).await.unwrap();
    assert_eq!(order.total, Money::toman(290_000));
    buy(db, T0 + 10 * DAY, &renew).await;
    let sub = subscriptions::get(db, &sub_id).await.unwrap().unwrap();
    assert_eq!(sub.current_period_end, T0 + 2 * MONTH);

    // Renewing after it lapsed starts a fresh month then.
    subscriptions::transition(
        db,
        &sub_id,
        &[Status::Active],
        Status::Suspended,
        T0 + 70 * DAY,
    )
    .await
    .unwrap();
    let late = T0 + 75 * DAY;
    buy(db, late, &renew).await;
    let sub = subscriptions::get(db, &sub_id).await.unwrap().unwrap();
    assert_eq!(sub.status, Status::Active, "paying reactivates");
    assert_eq!(sub.current_period_start, late);
    assert_eq!(sub.current_period_end, late + MONTH);

    // Someone else's subscription cannot be renewed.
    let omid = customer(db, 2).await;
    let theirs = OrderRequest {
        customer_id: omid,
        ..renew.clone()
    };
    assert_eq!(
        refusal(orders::place(db, late, &theirs).await),
        Refusal::NoSubscription
    );
    t.cleanup().await.unwrap();
}

async fn an_upgrade_is_prorated_and_keeps_the_period(engine: Engine) {
    let Some(t) = fresh(engine).await else { return };
    let db = &t.db;
    let sara = customer(db, 1).await;
    let sub_id = buy(db, T0, &new_order(&sara, "starter", 1)).await;

    let halfway = T0 + MONTH / 2;
    let upgrade = OrderRequest {
        kind: OrderKind::Upgrade,
        subscription_id: Some(sub_id.clone()),
        ..new_order(&sara, "professional", 1)
    };
    let (order, invoice) = orders::place(db, halfway, &upgrade).await.unwrap();
    assert_eq!(order.subtotal, Money::toman(345_000), "half of 690,000");
    assert_eq!(order.credit, Money::toman(145_000), "half of 290,000");
    assert_eq!(invoice.amount, Money::toman(200_000));

    let payment = payments::open(db, halfway, &invoice.id, Method::Card)
        .await
        .unwrap();
    payments::confirm(db, halfway, &payment.id, invoice.amount, Some("staff-1"))
        .await
        .unwrap();
    let sub = subscriptions::get(db, &sub_id).await.unwrap().unwrap();
    assert_eq!(sub.terms.package_code, "professional");
    assert_eq!(sub.current_period_end, T0 + MONTH);

    // Down is not up, and dollars do not upgrade a Toman subscription.
    let sideways = OrderRequest {
        package_code: "starter".into(),
        ..upgrade.clone()
    };
    assert_eq!(
        refusal(orders::place(db, halfway, &sideways).await),
        Refusal::UpgradeNotHigher
    );
    let in_dollars = OrderRequest {
        package_code: "enterprise".into(),
        currency: Currency::Usd,
        ..upgrade
    };
    assert_eq!(
        refusal(orders::place(db, halfway, &in_dollars).await),
        Refusal::UpgradeCurrencyDiffers
    );
    t.cleanup().await.unwrap();
}

async fn a_downgrade_waits_for_the_next_period_and_checks_limits(engine: Engine) {
    let Some(t) = fresh(engine).await else { return };
    let db = &t.db;
    let sara = customer(db, 1).await;
    let sub_id = buy(db, T0, &new_order(&sara, "professional", 1)).await;
    let sub = subscriptions::get(db, &sub_id).await.unwrap().unwrap();
    let starter = packages::by_code(db, "starter").await.unwrap().unwrap();

    let busy = Usage {
        bots: 1,
        end_users: 40,
        panels: 3,
    };
    let refused = subscriptions::schedule_downgrade(db, &sub, &starter, busy, T0 + DAY).await;
    assert_eq!(
        refusal(refused),
        Refusal::OverLimit {
            limit: Limit::Panels,
            used: 3,
            allowed: 1
        }
    );

    let fits = Usage {
        bots: 1,
        end_users: 40,
        panels: 1,
    };
    subscriptions::schedule_downgrade(db, &sub, &starter, fits, T0 + DAY)
        .await
        .unwrap();
    let sub = subscriptions::get(db, &sub_id).await.unwrap().unwrap();
    assert_eq!(
        sub.terms.package_code, "professional",
        "still Professional this period"
    );

    let renew = OrderRequest {
        kind: OrderKind::Renew,
        subscription_id: Some(sub_id.clone()),
        ..new_order(&sara, "professional", 1)
    };
    let (order, _) = orders::place(db, T0 + 20 * DAY, &renew).await.unwrap();
    assert_eq!(
        order.total,
        Money::toman(290_000),
        "the next period is Starter's"
    );
    buy(db, T0 + 20 * DAY, &renew).await;
    let sub = subscriptions::get(db, &sub_id).await.unwrap().unwrap();
    assert_eq!(sub.terms.package_code, "starter");
    assert!(sub.next_terms.is_none());
    t.cleanup().await.unwrap();
}

async fn longer_periods_and_dollars_are_sold(engine: Engine) {
    let Some(t) = fresh(engine).await else { return };
    let db = &t.db;
    let sara = customer(db, 1).await;
    let year = OrderRequest {
        currency: Currency::Usd,
        ..new_order(&sara, "starter", 12)
    };
    let (order, _) = orders::place(db, T0, &year).await.unwrap();
    assert_eq!(order.total, Money::usd_cents(4_790));
    let two_months = new_order(&sara, "starter", 2);
    assert_eq!(
        refusal(orders::place(db, T0, &two_months).await),
        Refusal::PeriodNotSold { period_months: 2 }
    );
    t.cleanup().await.unwrap();
}

async fn a_free_trial_is_for_new_customers_once(engine: Engine) {
    let Some(t) = fresh(engine).await else { return };
    let db = &t.db;
    let starter = packages::by_code(db, "starter").await.unwrap().unwrap();
    assert_eq!(
        refusal(subscriptions::start_trial(db, T0, &customer(db, 1).await, &starter).await),
        Refusal::NoTrial
    );
    sqlx::query("UPDATE packages SET trial_days = 3 WHERE code = 'starter'")
        .execute(db.pool())
        .await
        .unwrap();
    let starter = packages::by_code(db, "starter").await.unwrap().unwrap();
    let newcomer = customer(db, 2).await;
    let id = subscriptions::start_trial(db, T0, &newcomer, &starter)
        .await
        .unwrap();
    let sub = subscriptions::get(db, &id).await.unwrap().unwrap();
    assert_eq!(sub.status, Status::Trial);
    assert_eq!(sub.current_period_end, T0 + 3 * DAY);
    assert_eq!(sub.terms.price_minor, 0);
    assert_eq!(
        master::tenants::of_customer(db, &newcomer)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        refusal(subscriptions::start_trial(db, T0, &newcomer, &starter).await),
        Refusal::TrialUsed
    );
    let payer = customer(db, 3).await;
    buy(db, T0, &new_order(&payer, "starter", 1)).await;
    assert_eq!(
        refusal(subscriptions::start_trial(db, T0, &payer, &starter).await),
        Refusal::TrialUsed
    );
    t.cleanup().await.unwrap();
}

async fn staff_create_and_change_packages_without_touching_what_was_bought(engine: Engine) {
    let Some(t) = fresh(engine).await else { return };
    let db = &t.db;
    let sara = customer(db, 1).await;
    let sub_id = buy(db, T0, &new_order(&sara, "starter", 1)).await;

    let mut draft = packages::PackageDraft {
        code: "reseller".into(),
        name_fa: "نماینده".into(),
        name_en: "Reseller".into(),
        max_bots: Some(10),
        max_end_users: None,
        max_panels: Some(20),
        bot_memory_mb: 128,
        bot_cpu_millis: 500,
        trial_days: 0,
        sort_order: 40,
    };
    packages::create(db, &draft, T0).await.unwrap();
    assert!(matches!(
        packages::create(db, &draft, T0).await,
        Err(Error::Invalid(_))
    ));
    // Hidden until it has a price and is shown.
    assert!(packages::on_sale_by_code(db, "reseller")
        .await
        .unwrap()
        .is_none());
    packages::set_price(db, "reseller", 1, Money::toman(1_990_000))
        .await
        .unwrap();
    packages::set_active(db, "reseller", true).await.unwrap();
    assert!(packages::on_sale_by_code(db, "reseller")
        .await
        .unwrap()
        .is_some());

    draft.bot_memory_mb = 1;
    assert!(
        matches!(packages::create(db, &draft, T0).await, Err(Error::Invalid(m)) if m.contains("memory"))
    );

    // Starter shrinks; Sara keeps the 100 end users she bought.
    let mut starter = packages::PackageDraft {
        code: "starter".into(),
        name_fa: "استارتر".into(),
        name_en: "Starter".into(),
        max_bots: Some(1),
        max_end_users: Some(50),
        max_panels: Some(1),
        bot_memory_mb: 64,
        bot_cpu_millis: 250,
        trial_days: 0,
        sort_order: 10,
    };
    assert!(packages::update(db, &starter, T0).await.unwrap());
    let sub = subscriptions::get(db, &sub_id).await.unwrap().unwrap();
    assert_eq!(sub.terms.max_end_users, Some(100));
    starter.code = "nope".into();
    assert!(!packages::update(db, &starter, T0).await.unwrap());
    t.cleanup().await.unwrap();
}

shared::on_both_engines!(
    staff_create_and_change_packages_without_touching_what_was_bought,
    a_free_trial_is_for_new_customers_once,
    a_customer_buys_starter_for_a_month,
    a_replayed_or_concurrent_confirmation_is_applied_once,
    a_wrong_amount_is_not_applied,
    a_late_payment_for_an_expired_invoice_goes_to_the_wallet,
    coupons_count_their_uses_and_expire,
    renewals_keep_what_was_bought,
    an_upgrade_is_prorated_and_keeps_the_period,
    a_downgrade_waits_for_the_next_period_and_checks_limits,
    longer_periods_and_dollars_are_sold,
);
