//! Telegram Stars: invoices, pre-checkout, successful payments and refunds.

mod common;

use std::time::Duration;

use serde_json::{json, Value};
use teloxide::types::{Message, UpdateKind};

fn invoice(chat_id: i64) -> Value {
    json!({
        "chat_id": chat_id,
        "title": "1 month VPN",
        "description": "30 days, 50 GB",
        "payload": "order-42",
        "currency": "XTR",
        "prices": [{"label": "1 month", "amount": 150}],
    })
}

/// Waits for the pre_checkout_query the `pay` route sends and answers it.
async fn answer_checkout(env: &common::TestEnv, after: i64, ok: bool) -> Value {
    for _ in 0..100 {
        let updates = env.ok("getUpdates", json!({"offset": after})).await;
        if let Some(query) = updates
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u.get("pre_checkout_query").is_some())
        {
            let parsed = common::update(query);
            let UpdateKind::PreCheckoutQuery(q) = parsed.kind else {
                panic!("expected a pre_checkout_query");
            };
            assert_eq!(q.invoice_payload, "order-42");
            assert_eq!(q.total_amount, 150);
            let mut answer = json!({"pre_checkout_query_id": q.id.0, "ok": ok});
            if !ok {
                answer["error_message"] = json!("Sold out");
            }
            env.ok("answerPreCheckoutQuery", answer).await;
            return query.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no pre_checkout_query arrived");
}

#[tokio::test]
async fn paying_an_invoice_then_refunding_once() {
    let env = common::start().await;
    let sent = env.ok("sendInvoice", invoice(env.user)).await;
    let message: Message = serde_json::from_value(sent.clone()).unwrap();
    assert!(message.invoice().is_some());
    let message_id = sent["message_id"].as_i64().unwrap();
    let offset = env.ok("getUpdates", json!({})).await[0]["update_id"]
        .as_i64()
        .unwrap()
        + 1;

    let control = env.control.clone();
    let token = env.bot.token.clone();
    let user = env.user;
    let payer = tokio::spawn(async move { control.pay(&token, user, message_id).await.unwrap() });
    answer_checkout(&env, offset, true).await;
    let paid = payer.await.unwrap();
    assert_eq!(paid.status, "paid");
    let charge_id = paid.telegram_payment_charge_id.unwrap();

    let updates = env
        .ok("getUpdates", json!({"offset": paid.update_id.unwrap()}))
        .await;
    let UpdateKind::Message(payment) = common::update(&updates[0]).kind else {
        panic!("expected the successful_payment message");
    };
    let success = payment.successful_payment().unwrap();
    assert_eq!(success.telegram_payment_charge_id.0, charge_id);
    assert_eq!(success.total_amount, 150);

    let stars = env.control.stars(env.user).await.unwrap();
    assert_eq!(stars["spent"], 150);
    let refund = json!({"user_id": env.user, "telegram_payment_charge_id": charge_id});
    env.ok("refundStarPayment", refund.clone()).await;
    let after_refund = env
        .ok("getUpdates", json!({"offset": paid.update_id.unwrap() + 1}))
        .await;
    let UpdateKind::Message(notice) = common::update(&after_refund[0]).kind else {
        panic!("expected the refunded_payment message");
    };
    let teloxide::types::MessageKind::RefundedPayment(refunded) = notice.kind else {
        panic!("expected a refunded_payment message, got {:?}", notice.kind);
    };
    assert_eq!(
        refunded.refunded_payment.telegram_payment_charge_id.0,
        charge_id
    );
    assert_eq!(
        env.err("refundStarPayment", refund).await.1,
        "Bad Request: CHARGE_ALREADY_REFUNDED"
    );
    assert_eq!(
        env.err(
            "refundStarPayment",
            json!({"user_id": env.user, "telegram_payment_charge_id": "nope"})
        )
        .await
        .1,
        "Bad Request: CHARGE_NOT_FOUND"
    );
    assert_eq!(env.control.stars(env.user).await.unwrap()["spent"], 0);
}

#[tokio::test]
async fn a_declined_checkout_makes_no_payment() {
    let env = common::start().await;
    let link = env
        .ok(
            "createInvoiceLink",
            json!({"title": "VPN", "description": "d", "payload": "order-42", "currency": "XTR", "prices": [{"label": "x", "amount": 150}]}),
        )
        .await;
    let link = link.as_str().unwrap().to_string();
    assert!(link.starts_with("https://t.me/$"));
    let offset = env.ok("getUpdates", json!({})).await[0]["update_id"]
        .as_i64()
        .unwrap()
        + 1;
    let control = env.control.clone();
    let token = env.bot.token.clone();
    let user = env.user;
    let payer = tokio::spawn(async move { control.pay_link(&token, user, &link).await.unwrap() });
    answer_checkout(&env, offset, false).await;
    let result = payer.await.unwrap();
    assert_eq!(result.status, "declined");
    assert_eq!(result.error_message.as_deref(), Some("Sold out"));
    assert_eq!(env.control.stars(env.user).await.unwrap()["spent"], 0);
}

#[tokio::test]
async fn an_unanswered_checkout_times_out() {
    let env = common::start_with(sandbox::SandboxOptions {
        pre_checkout_timeout: Duration::from_millis(200),
        ..sandbox::SandboxOptions::fast_for_tests()
    })
    .await;
    let sent = env.ok("sendInvoice", invoice(env.user)).await;
    let result = env
        .control
        .pay(
            &env.bot.token,
            env.user,
            sent["message_id"].as_i64().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(result.status, "timeout");
    // A late answer finds no query any more.
    let updates = env.ok("getUpdates", json!({})).await;
    let query = updates
        .as_array()
        .unwrap()
        .iter()
        .find_map(|u| u.get("pre_checkout_query"))
        .unwrap();
    assert_eq!(
        env.err(
            "answerPreCheckoutQuery",
            json!({"pre_checkout_query_id": query["id"], "ok": true})
        )
        .await
        .1,
        "Bad Request: QUERY_ID_INVALID"
    );
}

#[tokio::test]
async fn stars_invoices_are_checked() {
    let env = common::start().await;
    let mut usd = invoice(env.user);
    usd["currency"] = json!("USD");
    assert_eq!(
        env.err("sendInvoice", usd).await.1,
        "Bad Request: PAYMENT_PROVIDER_INVALID"
    );
    let mut two_prices = invoice(env.user);
    two_prices["prices"] = json!([{"label": "a", "amount": 1}, {"label": "b", "amount": 2}]);
    assert_eq!(
        env.err("sendInvoice", two_prices).await.1,
        "Bad Request: STARS_INVOICE_INVALID"
    );
    let mut with_provider = invoice(env.user);
    with_provider["provider_token"] = json!("123:TEST");
    assert_eq!(env.err("sendInvoice", with_provider).await.0, 400);
    let mut no_title = invoice(env.user);
    no_title.as_object_mut().unwrap().remove("title");
    assert_eq!(
        env.err("sendInvoice", no_title).await.1,
        "Bad Request: title is empty"
    );
    // Paying a message that is not an invoice is refused by the control API.
    let text = env
        .ok("sendMessage", json!({"chat_id": env.user, "text": "hi"}))
        .await;
    let result = env
        .control
        .pay(
            &env.bot.token,
            env.user,
            text["message_id"].as_i64().unwrap(),
        )
        .await;
    assert!(result.is_err());
}
