//! The purchase story through the master bot: a customer buys Starter, pays at the gateway
//! (the sandbox's fake Zarinpal and NowPayments), hands over their bot and panel, and the
//! master records that their bot must run. On SQLite and PostgreSQL.

mod support;

use master::app::Extras;
use master::billing::payments::{self, Method, PaymentStatus};
use master::billing::subscriptions;
use master::customers;
use master::outbox;
use provisioner::store::{self, Desired};
use sandbox::gateways::nowpayments::{FakeNowPayments, NowPaymentsOptions, PayPlan};
use sandbox::gateways::zarinpal::{FakeZarinpal, ZarinpalOptions};
use sandbox::panels::{FakeMarzban, FakeMarzbanOptions};
use shared::db::Engine;
use shared::panel::{NetRule, NetworkPolicy};
use shared::secret::{Keyring, SecretString};
use shared::telegram::TelegramId;
use support::{local, world_full, World};

fn extras() -> Extras {
    Extras {
        // The test's panel lives on this machine; an operator would allow-list it like this.
        panel_policy: NetworkPolicy::strict().allow(NetRule::parse("127.0.0.1").unwrap()),
        image_version: Some("0.1.0".into()),
        ..Extras::default()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A master that sells through the fake gateways.
async fn shop(
    engine: Engine,
    zarinpal: &FakeZarinpal,
    nowpayments: &FakeNowPayments,
) -> Option<World> {
    let port = free_port();
    let zarinpal_url = zarinpal.url();
    let nowpayments_url = nowpayments.url();
    world_full(
        engine,
        move |c| {
            c.http_listen = local(port);
            c.public_url = url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
            c.secret_keys = vec![Keyring::generate_key_line("k1")];
            c.staff_chat_id = Some(-100_777);
            c.payments.zarinpal = Some((
                SecretString::new(ZarinpalOptions::default().merchant_id),
                zarinpal_url,
            ));
            let np = NowPaymentsOptions::default();
            c.payments.nowpayments = Some((
                SecretString::new(np.api_key),
                SecretString::new(np.ipn_secret),
                nowpayments_url,
            ));
        },
        |_: &str| extras(),
    )
    .await
}

/// Opens Starter, 1 month, and presses the payment method whose label contains `method`.
async fn choose(w: &World, user: i64, method: &str) -> sandbox::client::ChatMessage {
    let home = w.say(user, "/start").await;
    w.press_label(user, &home, "Starter").await;
    let detail = w.wait_for_text(user, "Monthly price").await;
    w.press_label(user, &detail, "Buy").await;
    let periods = w.wait_for_text(user, "Choose how long").await;
    w.press_label(user, &periods, "1 month").await;
    let methods = w.wait_for_text(user, "Choose how to pay").await;
    w.press_label(user, &methods, method).await;
    w.wait_for_text(user, "Amount to pay").await
}

async fn a_customer_pays_with_zarinpal_and_sets_up_their_bot(engine: Engine) {
    let zarinpal = FakeZarinpal::start(local(0), ZarinpalOptions::default())
        .await
        .unwrap();
    let nowpayments = FakeNowPayments::start(local(0), NowPaymentsOptions::default())
        .await
        .unwrap();
    let marzban = FakeMarzban::start(local(0), FakeMarzbanOptions::default())
        .await
        .unwrap();
    let Some(w) = shop(engine, &zarinpal, &nowpayments).await else {
        return;
    };
    let alex = w.user("Alex", "en").await;

    let checkout = choose(&w, alex, "Zarinpal").await;
    assert!(
        checkout.body().contains("290,000 Toman"),
        "{}",
        checkout.body()
    );
    let link = checkout.inline_buttons();
    assert!(link.is_empty(), "the pay button is a link, not a callback");
    let authority = zarinpal.payments().last().unwrap().authority.clone();
    // The buyer pays; Zarinpal sends their browser back to the master, which verifies.
    let delivery = zarinpal.control().complete(&authority).await.unwrap();
    assert_eq!(delivery.http_status, Some(200), "{delivery:?}");
    // A replayed callback changes nothing.
    zarinpal.control().replay(&authority).await.unwrap();

    w.wait_for_text(alex, "Your payment").await;
    let customer = customers::find_by_telegram_id(&w.app().db, TelegramId::new(alex))
        .await
        .unwrap()
        .unwrap();
    let subs = subscriptions::for_customer(&w.app().db, &customer.id)
        .await
        .unwrap();
    assert_eq!(subs.len(), 1, "paid once, one subscription");

    // Onboarding, in the chat.
    w.wait_for_text(alex, "Setting up your bot").await;
    let shop_bot = w
        .control
        .create_bot("nimbus_vpn_bot", "Nimbus VPN")
        .await
        .unwrap();
    let found = w.say(alex, &shop_bot.token).await;
    assert!(found.body().contains("@nimbus_vpn_bot"), "{}", found.body());
    let chat = w.chat(alex).await;
    assert!(
        !chat.iter().any(|m| m.body().contains(&shop_bot.token)),
        "the message with the token is deleted"
    );
    w.press_label(alex, &found, "It's me").await;
    let channel = w.wait_for_text(alex, "If you have a channel").await;
    w.press_label(alex, &channel, "Skip").await;
    let kind = w.wait_for_text(alex, "Which panel").await;
    w.press_label(alex, &kind, "Marzban").await;
    w.wait_for_text(alex, "Marzban panel's address").await;
    w.say(alex, &marzban.url()).await;
    let defaults = FakeMarzbanOptions::default();
    w.say(alex, &defaults.admin_user).await;
    let done = w.say(alex, &defaults.admin_password).await;
    assert!(done.body().contains("All set"), "{}", done.body());

    // The master now wants Alex's bot running.
    let tenants = master::tenants::of_customer(&w.app().db, &customer.id)
        .await
        .unwrap();
    let instance = store::get(&w.app().db, &tenants[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(instance.desired, Desired::Running);
    assert_eq!(instance.bot_id, shop_bot.id);
    let orders = outbox::keys_with_prefix(&w.app().db, "staff:new_order")
        .await
        .unwrap();
    assert_eq!(orders.len(), 1, "staff hear of the new order");

    // Alex stops his bot from "My bots", then starts it again.
    let bots = w.say(alex, "/mybots").await;
    assert!(bots.body().contains("@nimbus_vpn_bot"), "{}", bots.body());
    w.press_label(alex, &bots, "⚙️").await;
    let page = w.wait_for_text(alex, "Bot state").await;
    w.press_label(alex, &page, "Stop the bot").await;
    w.wait_for_text(alex, "The bot is stopped").await;
    let instance = store::get(&w.app().db, &tenants[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(instance.desired, Desired::Stopped);
    let page = w.wait_for_text(alex, "stopped by you").await;
    w.press_label(alex, &page, "Start the bot").await;
    w.wait_for_text(alex, "starting again").await;
    let instance = store::get(&w.app().db, &tenants[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(instance.desired, Desired::Running);

    // And changes its token: only the token is asked again.
    let page = w.wait_for_text(alex, "Bot state").await;
    w.press_label(alex, &page, "Change token").await;
    w.wait_for_text(alex, "new token").await;
    let new_bot = w
        .control
        .create_bot("nimbus2_vpn_bot", "Nimbus VPN")
        .await
        .unwrap();
    let changed = w.say(alex, &new_bot.token).await;
    assert!(changed.body().contains("was changed"), "{}", changed.body());
    let instance = store::get(&w.app().db, &tenants[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        instance.bot_id, new_bot.id,
        "the instance follows the new token"
    );

    w.stop().await;
    zarinpal.shutdown().await;
    nowpayments.shutdown().await;
}

async fn nowpayments_notifications_are_checked_and_applied_once(engine: Engine) {
    let zarinpal = FakeZarinpal::start(local(0), ZarinpalOptions::default())
        .await
        .unwrap();
    let nowpayments = FakeNowPayments::start(local(0), NowPaymentsOptions::default())
        .await
        .unwrap();
    let Some(w) = shop(engine, &zarinpal, &nowpayments).await else {
        return;
    };
    let db = w.app().db.clone();

    // Mina pays in crypto; every IPN is signed; a replay and a forged one change nothing.
    let mina = w.user("Mina", "en").await;
    let checkout = choose(&w, mina, "Crypto").await;
    assert!(checkout.body().contains("$4.99"), "{}", checkout.body());
    let customer = customers::find_by_telegram_id(&db, TelegramId::new(mina))
        .await
        .unwrap()
        .unwrap();
    let invoices = master::billing::orders::invoices_of(&db, &customer.id)
        .await
        .unwrap();
    let payment = payments::of_invoice(&db, &invoices[0].id)
        .await
        .unwrap()
        .remove(0);
    let np_invoice = payment.provider_ref.clone().unwrap();
    let paid = nowpayments.control().pay(&np_invoice).await.unwrap();
    assert!(
        paid.ipns
            .iter()
            .all(|ipn| ipn.delivery.http_status == Some(200)),
        "{paid:?}"
    );
    let replay = nowpayments.control().replay(paid.payment_id).await.unwrap();
    assert_eq!(replay.delivery.http_status, Some(200));
    let forged = nowpayments
        .control()
        .send_bad_signature(paid.payment_id)
        .await
        .unwrap();
    assert_eq!(
        forged.delivery.http_status,
        Some(401),
        "a bad signature is refused"
    );
    let unsigned = nowpayments
        .control()
        .send_unsigned(paid.payment_id)
        .await
        .unwrap();
    assert_eq!(unsigned.delivery.http_status, Some(401));
    w.wait_for_text(mina, "Your payment").await;
    assert_eq!(
        subscriptions::for_customer(&db, &customer.id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        payments::get(&db, &payment.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        PaymentStatus::Paid
    );

    // Omid pays too little: not applied, he is told, staff are alerted.
    let omid = w.user("Omid", "en").await;
    choose(&w, omid, "Crypto").await;
    let customer = customers::find_by_telegram_id(&db, TelegramId::new(omid))
        .await
        .unwrap()
        .unwrap();
    let invoices = master::billing::orders::invoices_of(&db, &customer.id)
        .await
        .unwrap();
    let payment = payments::of_invoice(&db, &invoices[0].id)
        .await
        .unwrap()
        .remove(0);
    let plan = PayPlan {
        statuses: Some(vec!["waiting".into(), "partially_paid".into()]),
        paid_amount: Some("1.00".into()),
        ..PayPlan::default()
    };
    nowpayments
        .control()
        .pay_with(payment.provider_ref.as_deref().unwrap(), &plan)
        .await
        .unwrap();
    w.wait_for_text(omid, "did not match").await;
    assert!(subscriptions::for_customer(&db, &customer.id)
        .await
        .unwrap()
        .is_empty());
    let stored = payments::get(&db, &payment.id).await.unwrap().unwrap();
    assert_eq!(stored.status, PaymentStatus::Mismatch);
    assert_eq!(stored.method, Method::NowPayments);
    let alerts = outbox::keys_with_prefix(&db, "staff:mismatch")
        .await
        .unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");

    w.stop().await;
    zarinpal.shutdown().await;
    nowpayments.shutdown().await;
}

shared::on_both_engines!(
    a_customer_pays_with_zarinpal_and_sets_up_their_bot,
    nowpayments_notifications_are_checked_and_applied_once,
);
