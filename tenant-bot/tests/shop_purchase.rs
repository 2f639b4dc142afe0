//! The purchase story, as an end user lives it: a user opens the tenant's bot, picks a plan,
//! finds their wallet short, gets money in it, pays from it, and receives the panel's link
//! with a QR code and import tips. The same on Marzban and on 3x-UI 2.x and 3.x, on SQLite
//! and PostgreSQL.

mod shop_support;

use sandbox::panels::{FakeAccount, XuiGeneration};
use shared::db::Engine;
use shop_support::{decode_qr, link_in, now, start_marzban, start_xui, world, World};
use tenant_bot::plans::GIB;
use tenant_bot::services;

const DAY: i64 = 86_400;

/// Sara buys "Silver" (10 GB, 30 days, 50,000 Toman) and gets her link. Returns the link.
async fn sara_buys_silver(w: &World) -> (i64, String) {
    let sara = w.user("Sara", "en").await;
    let home = w.say(sara, "/start").await;
    assert!(
        home.body().contains("Welcome to Nimbus VPN"),
        "{}",
        home.body()
    );

    let plans = w.press(sara, &home, "Buy", "Choose a plan").await;
    let silver = w.press(sara, &plans, "Silver", "Duration: 30 days").await;
    assert!(silver.body().contains("Data: 10 GB"), "{}", silver.body());
    assert!(
        silver.body().contains("Price: 50,000 Toman"),
        "{}",
        silver.body()
    );

    // An empty wallet: the bot says what is there, what is missing, and takes nothing.
    let short = w
        .press(sara, &silver, "Pay 50,000 Toman", "more is needed")
        .await;
    assert!(
        short.body().contains(
            "Your balance is 0 Toman, and this costs 50,000 Toman: 50,000 Toman more is needed"
        ),
        "{}",
        short.body()
    );
    let orders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders")
        .fetch_one(w.db.pool())
        .await
        .unwrap();
    assert_eq!(orders, 0, "a refused purchase leaves no order behind");

    w.credit(sara, 80_000).await;
    let silver = w
        .press(sara, &short, "Back", "Your balance: 80,000 Toman")
        .await;
    let before = w.last_message_id(sara).await;
    let done = w.press(sara, &silver, "Pay 50,000 Toman", "Done!").await;
    assert_eq!(
        done.message_id, silver.message_id,
        "the screen is edited in place"
    );

    let photo = w.wait_for_photo(sara, before).await;
    let link = link_in(photo.body());
    let png = w
        .control
        .file(photo.photo_file_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(decode_qr(&png), link, "the QR code holds the link");
    let tips = w.wait_for_text(sara, "How to connect").await;
    let downloads: Vec<String> = tips
        .reply_markup
        .as_ref()
        .and_then(|m| m["inline_keyboard"].as_array())
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter())
        .filter_map(|b| b["url"].as_str().map(str::to_string))
        .collect();
    assert!(
        downloads.len() >= 8,
        "clients for every platform: {downloads:?}"
    );
    assert!(tips.button_data("My services").is_some());

    assert_eq!(w.balance(sara).await, 30_000, "paid once, from the wallet");
    (sara, link)
}

/// The account the panel holds for Sara's service, checked against the plan.
fn check_account(account: &FakeAccount, expire_unit: i64) {
    assert_eq!(account.limit_bytes, 10 * GIB as u64);
    let expected = now() + 30 * DAY;
    let expire = account.expire / expire_unit;
    assert!(
        (expected - expire).abs() < 120,
        "expires in 30 days: {expire} vs {expected}"
    );
}

async fn a_user_buys_from_the_wallet_on_marzban(engine: Engine) {
    let marzban = start_marzban().await;
    let Some(w) = world(engine).await else {
        return;
    };
    w.add_marzban(&marzban).await;
    w.add_plan("Silver", 10, 30, 50_000).await;

    let (sara, link) = sara_buys_silver(&w).await;
    let accounts = marzban.accounts();
    assert_eq!(accounts.len(), 1, "exactly one account on the panel");
    check_account(&accounts[0], 1);
    assert!(
        link.contains(&accounts[0].sub_id),
        "the panel's own link: {link}"
    );
    let mine = services::list_of_user(&w.db, sara).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].subscription_url, link);
    assert_eq!(shop_support::status_of(&link).await, 200, "the link works");
    w.stop().await;
}

async fn on_xui(engine: Engine, generation: XuiGeneration) {
    let xui = start_xui(generation).await;
    let Some(w) = world(engine).await else {
        return;
    };
    w.add_xui(&xui, generation).await;
    w.add_plan("Silver", 10, 30, 50_000).await;

    let (_sara, link) = sara_buys_silver(&w).await;
    let accounts = xui.accounts();
    assert_eq!(accounts.len(), 1, "exactly one account on the panel");
    // 3x-UI counts expiry in milliseconds.
    check_account(&accounts[0], 1000);
    assert_eq!(accounts[0].ip_limit, 2, "the plan's device limit");
    assert_eq!(
        link,
        format!("{}{}", xui.subscription_base(), accounts[0].sub_id),
        "the panel's own link"
    );
    assert_eq!(shop_support::status_of(&link).await, 200, "the link works");
    w.stop().await;
}

async fn a_user_buys_from_the_wallet_on_3x_ui_2(engine: Engine) {
    on_xui(engine, XuiGeneration::Two).await;
}

async fn a_user_buys_from_the_wallet_on_3x_ui_3(engine: Engine) {
    on_xui(engine, XuiGeneration::Three).await;
}

/// A Persian speaker sees Persian digits, Toman and the menu in Persian, and can switch.
async fn the_shop_speaks_persian_first_and_english_on_request(engine: Engine) {
    let Some(w) = world(engine).await else {
        return;
    };
    w.add_plan("Silver", 10, 30, 50_000).await;
    let reza = w.user("Reza", "fa").await;
    let home = w.say(reza, "/start").await;
    assert!(home.body().contains("سلام Reza"), "{}", home.body());
    let plans = w
        .press(reza, &home, "خرید اشتراک", "یک پلن انتخاب کنید")
        .await;
    assert!(
        plans.button_data("۵۰٬۰۰۰ تومان").is_some(),
        "prices in Persian digits: {plans:#?}"
    );
    let home = w.press(reza, &plans, "منوی اصلی", "خوش آمدید").await;
    let english = w.press(reza, &home, "English", "Welcome to").await;
    assert!(english.button_data("Buy a subscription").is_some());
    // The choice is remembered.
    let again = w.say(reza, "/start").await;
    assert!(again.body().contains("Welcome to"), "{}", again.body());
    // A plan hidden since its button was shown: the person is told and sent home.
    let plans = w
        .press(reza, &again, "Buy a subscription", "Choose a plan")
        .await;
    let silver = tenant_bot::plans::on_sale(&w.db).await.unwrap().remove(0);
    tenant_bot::plans::set_hidden(&w.db, &silver.id, true, now())
        .await
        .unwrap();
    let home = w.press(reza, &plans, "Silver", "Welcome to").await;
    assert!(home.button_data("Buy a subscription").is_some());
    w.stop().await;
}

/// A new shop has no plans: its owner is offered the starter plans and adds them once; an end
/// user sees no such button, and then buys one of them.
async fn the_owner_of_a_new_shop_adds_the_starter_plans(engine: Engine) {
    let Some(w) = world(engine).await else {
        return;
    };
    let owner = w.user("Owner", "en").await;
    tenant_bot::admins::set_owner(&w.db, owner, now())
        .await
        .unwrap();
    let customer = w.user("Kian", "en").await;
    let home = w.say(customer, "/start").await;
    let plans = w
        .press(customer, &home, "Buy", "No plans are on sale")
        .await;
    assert!(plans.button_data("starter").is_none(), "{plans:#?}");

    let home = w.say(owner, "/start").await;
    let plans = w.press(owner, &home, "Buy", "You have no plans yet").await;
    let added = w
        .press(owner, &plans, "Add starter plans", "3 starter plans added")
        .await;
    assert!(added.button_data("1 month, 20 GB").is_some(), "{added:#?}");
    // Asked again (a second admin, a double tap), nothing more is added.
    assert_eq!(
        tenant_bot::plans::add_starter_plans(&w.db, now())
            .await
            .unwrap(),
        0
    );
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM plans")
            .fetch_one(w.db.pool())
            .await
            .unwrap()
    };
    assert_eq!(count().await, 3);

    let home = w.say(customer, "/start").await;
    let plans = w.press(customer, &home, "Buy", "Choose a plan").await;
    assert!(plans.button_data("1 month, 50 GB").is_some(), "{plans:#?}");
    w.stop().await;
}

shared::on_both_engines!(
    the_owner_of_a_new_shop_adds_the_starter_plans,
    a_user_buys_from_the_wallet_on_marzban,
    a_user_buys_from_the_wallet_on_3x_ui_2,
    a_user_buys_from_the_wallet_on_3x_ui_3,
    the_shop_speaks_persian_first_and_english_on_request,
);
