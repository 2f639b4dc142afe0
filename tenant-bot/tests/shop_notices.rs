//! The notices the bot sends on its own, each in its reader's language: reminders, refunds and
//! payments for end users; failures, panels and payments for the shop's admins. A person who
//! blocked the bot is not tried again. On SQLite and PostgreSQL.

mod shop_support;

use shared::db::Engine;
use shop_support::{now, start_marzban, world};
use tenant_bot::notices::{self, Notice};

async fn every_notice_reaches_its_reader_in_their_language(engine: Engine) {
    let marzban = start_marzban().await;
    let Some(w) = world(engine).await else {
        return;
    };
    w.add_marzban(&marzban).await;
    w.add_plan("Silver", 10, 30, 50_000).await;
    let owner = w.user("Owner", "fa").await;
    tenant_bot::admins::set_owner(&w.db, owner, now())
        .await
        .unwrap();
    w.say(owner, "/start").await;

    // Kate has a service (bought from her wallet).
    let kate = w.user("Kate", "en").await;
    w.credit(kate, 50_000).await;
    let home = w.say(kate, "/start").await;
    let plans = w.press(kate, &home, "Buy", "Choose a plan").await;
    let silver = w.press(kate, &plans, "Silver", "Duration").await;
    w.press(kate, &silver, "Pay 50,000 Toman", "Done!").await;
    let service = tenant_bot::services::list_of_user(&w.db, kate)
        .await
        .unwrap()
        .remove(0);

    let to_kate = [
        Notice::ExpiryReminder {
            service_id: service.id.clone(),
            days: 3,
        },
        Notice::DataReminder {
            service_id: service.id.clone(),
            percent: 10,
        },
        Notice::Refunded {
            order_id: "o1".into(),
            amount_minor: 70_000,
            currency: "IRT".into(),
        },
        Notice::PaymentCredited {
            payment_id: "p1".into(),
            amount_minor: 120_000,
            currency: "IRT".into(),
        },
        Notice::PaymentRejected {
            payment_id: "p2".into(),
            reason: "the amount is wrong".into(),
        },
    ];
    for (n, notice) in to_kate.iter().enumerate() {
        notices::push(&w.db, kate, notice, &format!("test:kate:{n}"), now())
            .await
            .unwrap();
    }
    let to_owner = [
        Notice::OrderFailed {
            order_id: "o1".into(),
            telegram_id: kate,
            error: "panel timed out".into(),
        },
        Notice::PanelDown {
            panel: "Marzban DE".into(),
            reason: "connection refused".into(),
        },
        Notice::PanelUp {
            panel: "Marzban DE".into(),
        },
        Notice::PanelLimitReached { limit: 1 },
    ];
    for (n, notice) in to_owner.iter().enumerate() {
        notices::push(&w.db, owner, notice, &format!("test:owner:{n}"), now())
            .await
            .unwrap();
    }
    w.app.bot.wake_notices();

    for needle in [
        "has 3 day(s) left",
        "less than 10% of its data left",
        "70,000 Toman",
        "120,000 Toman",
        "the amount is wrong",
    ] {
        w.wait_for_text(kate, needle).await;
    }
    // The owner reads Persian: Persian digits and wording.
    for needle in [
        "panel timed out",
        "در بررسی سلامت رد شد",
        "دوباره سالم است",
        "۱ پنل",
    ] {
        w.wait_for_text(owner, needle).await;
    }

    // Someone who blocked the bot is marked and not tried again.
    w.control.block(kate, &w.token).await.unwrap();
    let last = Notice::PaymentCredited {
        payment_id: "p3".into(),
        amount_minor: 1_000,
        currency: "IRT".into(),
    };
    notices::push(&w.db, kate, &last, "test:kate:blocked", now())
        .await
        .unwrap();
    w.app.bot.wake_notices();
    let deadline = tokio::time::Instant::now() + shop_support::WAIT;
    loop {
        let dropped: Option<i64> =
            sqlx::query_scalar("SELECT dropped_at FROM notices WHERE dedupe_key = $1")
                .bind("test:kate:blocked")
                .fetch_one(w.db.pool())
                .await
                .unwrap();
        if dropped.is_some() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never dropped");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let blocked: i64 = sqlx::query_scalar("SELECT blocked FROM end_users WHERE telegram_id = $1")
        .bind(kate)
        .fetch_one(w.db.pool())
        .await
        .unwrap();
    assert_eq!(blocked, 1);
    w.stop().await;
}

shared::on_both_engines!(every_notice_reaches_its_reader_in_their_language);
