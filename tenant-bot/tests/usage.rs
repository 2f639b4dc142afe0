//! Usage sync and reminders: the tenant's services follow their panels, read in pages, and
//! each reminder goes out once per period.

mod sales_support;

use shared::clock::DAY;
use shared::db::Engine;
use tenant_bot::fulfil::Progress;
use tenant_bot::notices::{self, Notice};
use tenant_bot::orders;
use tenant_bot::plans::GIB;
use tenant_bot::services::{self, Status};
use tenant_bot::usage;

use sales_support::*;

const SARA: i64 = 7_001;

async fn deliver(shop: &Shop, plan: &tenant_bot::plans::Plan) -> String {
    let order = shop.paid_order(SARA, plan).await;
    match shop.fulfilment.advance(&order.id).await.unwrap() {
        Progress::Delivered { service_id } => service_id,
        other => panic!("{other:?}"),
    }
}

async fn kinds(shop: &Shop, at: i64) -> Vec<Notice> {
    let due = notices::due(&shop.db, at, 100).await.unwrap();
    for n in &due {
        notices::mark_sent(&shop.db, &n.id, at).await.unwrap();
    }
    due.into_iter()
        .filter(|n| {
            matches!(
                n.notice,
                Notice::ExpiryReminder { .. } | Notice::DataReminder { .. }
            )
        })
        .map(|n| n.notice)
        .collect()
}

async fn usage_sync_follows_the_panel_and_notices_deleted_accounts(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let fake = marzban().await;
    shop.add_marzban(&fake, None).await;
    let plan = shop.plan("Monthly", 10, 30, 1_000).await;
    shop.credit(SARA, 3_000).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(deliver(&shop, &plan).await);
    }
    let first = services::get(&shop.db, &ids[0]).await.unwrap().unwrap();
    let second = services::get(&shop.db, &ids[1]).await.unwrap().unwrap();
    fake.control()
        .add_traffic(&first.username, 2 * GIB as u64)
        .await
        .unwrap();
    shop.registry
        .client_by_id(&second.panel_id)
        .await
        .unwrap()
        .delete_account(&second.username)
        .await
        .unwrap();

    let report = usage::sync_all(&shop.db, &shop.registry, now())
        .await
        .unwrap();
    assert_eq!(report.panels, 1);
    assert_eq!(report.gone, 1);
    assert!(report.updated >= 1, "{report:?}");
    assert_eq!(report.failed_panels, 0);
    let first = services::get(&shop.db, &ids[0]).await.unwrap().unwrap();
    assert_eq!(first.used_bytes, 2 * GIB);
    assert!(first.online_at.is_some());
    let second = services::get(&shop.db, &ids[1]).await.unwrap().unwrap();
    assert_eq!(second.status, Status::Deleted);
    assert_eq!(
        services::list_of_user(&shop.db, SARA).await.unwrap().len(),
        2
    );

    // A panel that is down is left as it was and counted.
    fake.control().set_down(true).await.unwrap();
    let report = usage::sync_all(&shop.db, &shop.registry, now())
        .await
        .unwrap();
    assert_eq!(report.failed_panels, 1);
    let first = services::get(&shop.db, &ids[0]).await.unwrap().unwrap();
    assert_eq!(first.used_bytes, 2 * GIB);
}

async fn reminders_go_out_once_each_and_again_after_a_renewal(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let fake = marzban().await;
    shop.add_marzban(&fake, None).await;
    let plan = shop.plan("Weekly", 10, 7, 1_000).await;
    shop.credit(SARA, 5_000).await;
    let id = deliver(&shop, &plan).await;
    let service = services::get(&shop.db, &id).await.unwrap().unwrap();
    let expire = service.expire_at.unwrap();
    kinds(&shop, now()).await; // the delivery notice

    // Five days in: nothing yet.
    assert_eq!(usage::remind(&shop.db, expire - 5 * DAY).await.unwrap(), 0);
    // Two and a half days left: the 3-day reminder, once.
    let at = expire - 5 * DAY / 2;
    assert_eq!(usage::remind(&shop.db, at).await.unwrap(), 1);
    assert_eq!(usage::remind(&shop.db, at + 60).await.unwrap(), 0);
    assert_eq!(
        kinds(&shop, at).await,
        vec![Notice::ExpiryReminder {
            service_id: id.clone(),
            days: 3
        }]
    );
    // Half a day left: the 1-day reminder, once.
    let at = expire - DAY / 2;
    assert_eq!(usage::remind(&shop.db, at).await.unwrap(), 1);
    assert_eq!(usage::remind(&shop.db, at).await.unwrap(), 0);
    assert_eq!(
        kinds(&shop, at).await,
        vec![Notice::ExpiryReminder {
            service_id: id.clone(),
            days: 1
        }]
    );

    // 9.5 GB of 10 used: under 10% left, one data reminder.
    fake.control()
        .add_traffic(&service.username, 95 * GIB as u64 / 10)
        .await
        .unwrap();
    usage::sync_all(&shop.db, &shop.registry, now())
        .await
        .unwrap();
    assert_eq!(usage::remind(&shop.db, expire - 2 * DAY).await.unwrap(), 1);
    assert_eq!(usage::remind(&shop.db, expire - 2 * DAY).await.unwrap(), 0);
    assert_eq!(
        kinds(&shop, expire).await,
        vec![Notice::DataReminder {
            service_id: id.clone(),
            percent: 10
        }]
    );

    // A renewal starts a new period: the reminders can come again when it runs low.
    let renew = orders::create_renew(&shop.db, &service, &plan, now())
        .await
        .unwrap();
    orders::pay_from_wallet(&shop.db, SARA, &renew.id, now())
        .await
        .unwrap();
    assert!(matches!(
        shop.fulfilment.advance(&renew.id).await.unwrap(),
        Progress::Delivered { .. }
    ));
    let renewed = services::get(&shop.db, &id).await.unwrap().unwrap();
    let new_expire = renewed.expire_at.unwrap();
    assert!(new_expire >= expire + 7 * DAY - 300);
    assert_eq!(
        usage::remind(&shop.db, new_expire - 2 * DAY).await.unwrap(),
        1
    );
}

shared::on_both_engines!(
    usage_sync_follows_the_panel_and_notices_deleted_accounts,
    reminders_go_out_once_each_and_again_after_a_renewal,
);
