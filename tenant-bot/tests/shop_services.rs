//! "My services", as an end user lives it: usage with a bar, renewing the same plan (more days
//! on the panel, traffic reset), adding a data pack (a higher limit on the panel), and a new
//! link (the old one dies on the panel). On Marzban and 3x-UI 3.x, SQLite and PostgreSQL.

mod shop_support;

use sandbox::client::ChatMessage;
use sandbox::panels::{FakeAccount, PanelControl, XuiGeneration};
use shared::db::Engine;
use shop_support::{link_in, now, start_marzban, start_xui, status_of, world, World};
use tenant_bot::bot::data_packs::DataPacks;
use tenant_bot::plans::GIB;
use tenant_bot::settings;

/// Buys "Silver" (10 GB, 30 days, 50,000 Toman) for a new user; returns them and the link.
async fn bought(w: &World) -> (i64, String) {
    let kate = w.user("Kate", "en").await;
    w.credit(kate, 200_000).await;
    let home = w.say(kate, "/start").await;
    let plans = w.press(kate, &home, "Buy", "Choose a plan").await;
    let silver = w.press(kate, &plans, "Silver", "Duration").await;
    let before = w.last_message_id(kate).await;
    w.press(kate, &silver, "Pay 50,000 Toman", "Done!").await;
    let photo = w.wait_for_photo(kate, before).await;
    // The delivery ends with the import tips; wait for them so they do not answer the next
    // /start in this story.
    w.wait_for(kate, |m| {
        m.message_id > photo.message_id && m.body().contains("How to connect")
    })
    .await;
    (kate, link_in(photo.body()))
}

/// Opens the first service from a fresh /start.
async fn open_service(w: &World, user: i64) -> ChatMessage {
    let home = w.say(user, "/start").await;
    let list = w.press(user, &home, "My services", "My services").await;
    w.press(user, &list, "Silver", "Status:").await
}

async fn the_account(accounts: Vec<FakeAccount>) -> FakeAccount {
    assert_eq!(accounts.len(), 1, "one account on the panel: {accounts:?}");
    accounts.into_iter().next().unwrap()
}

async fn a_user_manages_their_service(
    w: World,
    control: PanelControl,
    accounts: impl Fn() -> Vec<FakeAccount>,
    expire_unit: i64,
) {
    w.add_plan("Silver", 10, 30, 50_000).await;
    let packs = DataPacks {
        price_per_gb: 2_000,
        sizes_gb: vec![5, 10],
    };
    settings::set(&w.db, &packs, now()).await.unwrap();
    let (kate, old_link) = bought(&w).await;
    let account = the_account(accounts()).await;

    // Usage: the panel counts 3 GB; "Refresh usage" reads it.
    control
        .add_traffic(&account.username, 3 * GIB as u64)
        .await
        .unwrap();
    let service = open_service(&w, kate).await;
    assert!(
        service.body().contains("30 days left"),
        "{}",
        service.body()
    );
    let refreshed = w
        .press(kate, &service, "Refresh usage", "Used 3 GB of 10 GB")
        .await;
    assert!(
        refreshed.body().contains("▰▰▰▱▱▱▱▱▱▱ 70% left"),
        "{}",
        refreshed.body()
    );

    // Renew: 30 more days on the panel, traffic back to zero, 50,000 Toman from the wallet.
    let expire_before = account.expire / expire_unit;
    let renew = w.press(kate, &refreshed, "Renew", "30 more days").await;
    w.press(kate, &renew, "Pay 50,000 Toman", "Renewed!").await;
    let renewed = the_account(accounts()).await;
    let expire_after = renewed.expire / expire_unit;
    assert!(
        (expire_after - expire_before - 30 * 86_400).abs() < 120,
        "30 days more: {expire_before} -> {expire_after}"
    );
    assert_eq!(renewed.used_bytes, 0, "a renewal resets the traffic");
    assert_eq!(w.balance(kate).await, 100_000);

    // Add data: a 5 GB pack for 10,000 Toman raises the limit on the panel.
    let service = open_service(&w, kate).await;
    let packs = w.press(kate, &service, "Add data", "Choose a pack").await;
    w.press(kate, &packs, "5 GB · 10,000 Toman", "data was added")
        .await;
    let topped = the_account(accounts()).await;
    assert_eq!(topped.limit_bytes, 15 * GIB as u64);
    assert_eq!(w.balance(kate).await, 90_000);

    // A new link: confirmed first; the old link dies on the panel, the new one works.
    assert_eq!(status_of(&old_link).await, 200);
    let service = open_service(&w, kate).await;
    let confirm = w
        .press(kate, &service, "New link", "stops working at once")
        .await;
    let before = w.last_message_id(kate).await;
    w.press(kate, &confirm, "Yes, make a new link", "no longer works")
        .await;
    let photo = w.wait_for_photo(kate, before).await;
    let new_link = link_in(photo.body());
    assert_ne!(new_link, old_link);
    assert_eq!(status_of(&new_link).await, 200, "the new link works");
    assert_ne!(status_of(&old_link).await, 200, "the old link is dead");
    let mine = tenant_bot::services::list_of_user(&w.db, kate)
        .await
        .unwrap();
    assert_eq!(
        mine[0].subscription_url, new_link,
        "the new link is remembered"
    );

    // "Link and QR code" sends the current link again.
    let service = open_service(&w, kate).await;
    let before = w.last_message_id(kate).await;
    let data = service.button_data("Link and QR code").unwrap();
    w.control
        .press(&w.token, kate, service.message_id, &data)
        .await
        .unwrap();
    let again = w.wait_for_photo(kate, before).await;
    assert_eq!(link_in(again.body()), new_link);
    w.stop().await;
}

async fn a_user_renews_adds_data_and_revokes_on_marzban(engine: Engine) {
    let marzban = start_marzban().await;
    let Some(w) = world(engine).await else {
        return;
    };
    w.add_marzban(&marzban).await;
    let control = marzban.control();
    a_user_manages_their_service(w, control, || marzban.accounts(), 1).await;
}

async fn a_user_renews_adds_data_and_revokes_on_3x_ui_3(engine: Engine) {
    let xui = start_xui(XuiGeneration::Three).await;
    let Some(w) = world(engine).await else {
        return;
    };
    w.add_xui(&xui, XuiGeneration::Three).await;
    let control = xui.control();
    a_user_manages_their_service(w, control, || xui.accounts(), 1000).await;
}

/// Without a price for data packs, "Add data" is not offered; a trial cannot be renewed.
async fn add_data_is_hidden_when_the_shop_sells_none(engine: Engine) {
    let marzban = start_marzban().await;
    let Some(w) = world(engine).await else {
        return;
    };
    w.add_marzban(&marzban).await;
    w.add_plan("Silver", 10, 30, 50_000).await;
    let (kate, _) = bought(&w).await;
    let service = open_service(&w, kate).await;
    assert!(service.button_data("Add data").is_none());
    assert!(service.button_data("Renew").is_some());
    w.stop().await;
}

shared::on_both_engines!(
    a_user_renews_adds_data_and_revokes_on_marzban,
    a_user_renews_adds_data_and_revokes_on_3x_ui_3,
    add_data_is_hidden_when_the_shop_sells_none,
);
