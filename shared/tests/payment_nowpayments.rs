//! NowPayments stories against the fake: invoice -> signed IPNs -> verdicts.

mod payment_common;

use payment_common::{loopback, Received, Receiver};
use sandbox::gateways::nowpayments::{FakeNowPayments, NowPaymentsOptions, PayPlan};
use serde_json::json;
use shared::money::Money;
use shared::payment::nowpayments::{
    self, IpnEvent, NowPaymentsConfig, NowPaymentsGateway, PaymentStatus,
};
use shared::payment::{Checkout, Gateway, PaymentError, PaymentRequest, PendingPayment, Verdict};
use shared::secret::SecretString;

const API_KEY: &str = "NP-TEST-KEY-123";
const IPN_SECRET: &str = "ipn-secret-for-tests";

struct Env {
    fake: FakeNowPayments,
    gateway: NowPaymentsGateway,
    receiver: Receiver,
}

async fn start() -> Env {
    let fake = FakeNowPayments::start(
        loopback(),
        NowPaymentsOptions {
            api_key: API_KEY.into(),
            ipn_secret: IPN_SECRET.into(),
        },
    )
    .await
    .unwrap();
    let gateway = NowPaymentsGateway::new(NowPaymentsConfig::new(
        SecretString::new(API_KEY),
        SecretString::new(IPN_SECRET),
        fake.url(),
    ))
    .unwrap();
    let receiver = Receiver::start().await;
    Env {
        fake,
        gateway,
        receiver,
    }
}

/// Opens an invoice for `cents` and returns its NowPayments id.
async fn open(env: &Env, invoice_id: &str, cents: i64) -> String {
    let request = PaymentRequest {
        notify_url: Some(format!("{}/ipn/nowpayments", env.receiver.url)),
        return_url: Some(format!("{}/paid", env.receiver.url)),
        ..PaymentRequest::new(invoice_id, Money::usd_cents(cents), "Madar Pro, 1 month")
    };
    let Checkout::Redirect { url, provider_ref } = env.gateway.start(&request).await.unwrap()
    else {
        panic!("NowPayments must redirect");
    };
    assert_eq!(
        url,
        format!("{}/payment/?iid={provider_ref}", env.fake.url())
    );
    provider_ref
}

fn expected(invoice_id: &str, cents: i64) -> PendingPayment {
    PendingPayment {
        invoice_id: invoice_id.into(),
        amount: Money::usd_cents(cents),
        provider_ref: None,
    }
}

fn verify(env: &Env, ipn: &Received) -> Result<IpnEvent, PaymentError> {
    env.gateway.verify_ipn(&ipn.body, ipn.signature.as_deref())
}

#[tokio::test]
async fn an_invoice_paid_in_full_ends_finished_and_paid() {
    let env = start().await;
    let np_invoice = open(&env, "inv-100", 499).await;

    // The fake holds what the client sent.
    let held = env.fake.control().invoice(&np_invoice).await.unwrap();
    assert_eq!(held["invoice"]["price_amount"], "4.99");
    assert_eq!(held["invoice"]["price_currency"], "usd");
    assert_eq!(held["invoice"]["order_id"], "inv-100");

    let outcome = env.fake.control().pay(&np_invoice).await.unwrap();
    let ipns = env.receiver.wait_for(5).await;
    let events: Vec<IpnEvent> = ipns.iter().map(|ipn| verify(&env, ipn).unwrap()).collect();
    let statuses: Vec<&str> = events.iter().map(|e| e.status.as_code()).collect();
    assert_eq!(
        statuses,
        ["waiting", "confirming", "confirmed", "sending", "finished"]
    );
    let last = events.last().unwrap();
    assert_eq!(last.payment_id, outcome.payment_id.to_string());
    assert_eq!(last.invoice_id.as_deref(), Some(np_invoice.as_str()));
    assert_eq!(last.order_id.as_deref(), Some("inv-100"));
    assert_eq!(last.price(), Some(Money::usd_cents(499)));

    let verdicts: Vec<Verdict> = events
        .iter()
        .map(|e| e.verdict(&expected("inv-100", 499)).unwrap())
        .collect();
    assert_eq!(verdicts[0], Verdict::Pending);
    assert_eq!(verdicts[1], Verdict::Pending);
    assert!(
        verdicts[2].is_paid(),
        "confirmed counts as paid: {:?}",
        verdicts[2]
    );
    assert!(verdicts[4].is_paid());
    // Every Paid names the same payment, so billing applies it once.
    let refs: Vec<&str> = verdicts
        .iter()
        .filter_map(|v| match v {
            Verdict::Paid { provider_ref, .. } => Some(provider_ref.as_str()),
            _ => None,
        })
        .collect();
    assert!(refs.iter().all(|r| *r == last.payment_id), "{refs:?}");

    // Asking NowPayments directly agrees.
    let polled = env
        .gateway
        .verify(&PendingPayment {
            provider_ref: Some(last.payment_id.clone()),
            ..expected("inv-100", 499)
        })
        .await
        .unwrap();
    assert_eq!(polled, verdicts[4]);
    // Before any IPN, billing has no payment id: Pending.
    assert_eq!(
        env.gateway.verify(&expected("inv-100", 499)).await.unwrap(),
        Verdict::Pending
    );
}

#[tokio::test]
async fn badly_signed_and_unsigned_ipns_are_rejected() {
    let env = start().await;
    let np_invoice = open(&env, "inv-101", 1000).await;
    let outcome = env
        .fake
        .control()
        .pay_with(
            &np_invoice,
            &PayPlan {
                statuses: Some(vec!["finished".into()]),
                ..PayPlan::default()
            },
        )
        .await
        .unwrap();
    env.fake
        .control()
        .send_bad_signature(outcome.payment_id)
        .await
        .unwrap();
    env.fake
        .control()
        .send_unsigned(outcome.payment_id)
        .await
        .unwrap();
    let ipns = env.receiver.wait_for(3).await;
    assert!(verify(&env, &ipns[0]).is_ok());
    assert_eq!(verify(&env, &ipns[1]), Err(PaymentError::BadSignature));
    assert_eq!(verify(&env, &ipns[2]), Err(PaymentError::MissingSignature));

    // A body changed in transit no longer matches its signature.
    let tampered = String::from_utf8(ipns[0].body.clone())
        .unwrap()
        .replace("\"price_amount\":10", "\"price_amount\":1");
    assert_ne!(tampered.as_bytes(), ipns[0].body.as_slice());
    assert_eq!(
        nowpayments::verify_ipn(
            tampered.as_bytes(),
            ipns[0].signature.as_deref(),
            &SecretString::new(IPN_SECRET)
        ),
        Err(PaymentError::BadSignature)
    );
    // The right body with another secret is refused too.
    assert_eq!(
        nowpayments::verify_ipn(
            &ipns[0].body,
            ipns[0].signature.as_deref(),
            &SecretString::new("another-secret")
        ),
        Err(PaymentError::BadSignature)
    );
    // Garbage in the header is refused, not a panic.
    assert_eq!(
        env.gateway.verify_ipn(&ipns[0].body, Some("zz-not-hex")),
        Err(PaymentError::BadSignature)
    );
}

#[tokio::test]
async fn a_replayed_ipn_is_the_same_event() {
    let env = start().await;
    let np_invoice = open(&env, "inv-102", 250).await;
    let outcome = env.fake.control().pay(&np_invoice).await.unwrap();
    env.fake.control().replay(outcome.payment_id).await.unwrap();
    env.fake.control().replay(outcome.payment_id).await.unwrap();
    let ipns = env.receiver.wait_for(7).await;
    let finished = verify(&env, &ipns[4]).unwrap();
    for replay in &ipns[5..7] {
        assert_eq!(
            replay.body, ipns[4].body,
            "a replay is byte for byte the same"
        );
        let event = verify(&env, replay).unwrap();
        assert_eq!(event, finished);
        assert_eq!(
            event.verdict(&expected("inv-102", 250)).unwrap(),
            finished.verdict(&expected("inv-102", 250)).unwrap()
        );
    }
}

#[tokio::test]
async fn out_of_order_ipns_never_move_a_payment_backwards() {
    let env = start().await;
    let np_invoice = open(&env, "inv-103", 999).await;
    env.fake
        .control()
        .pay_with(
            &np_invoice,
            &PayPlan {
                out_of_order: Some(true),
                ..PayPlan::default()
            },
        )
        .await
        .unwrap();
    let ipns = env.receiver.wait_for(5).await;
    let events: Vec<IpnEvent> = ipns.iter().map(|ipn| verify(&env, ipn).unwrap()).collect();
    assert_eq!(
        events[0].status,
        PaymentStatus::Finished,
        "the newest arrives first"
    );
    assert_eq!(events[4].status, PaymentStatus::Waiting);

    // What billing does: keep the furthest status per payment.
    let mut stored: Option<&IpnEvent> = None;
    for event in &events {
        if stored.is_none_or(|s| event.status.progress() > s.status.progress()) {
            stored = Some(event);
        }
    }
    let stored = stored.unwrap();
    assert_eq!(stored.status, PaymentStatus::Finished);
    assert!(stored.verdict(&expected("inv-103", 999)).unwrap().is_paid());
}

#[tokio::test]
async fn partially_paid_is_not_paid_in_full() {
    let env = start().await;
    let np_invoice = open(&env, "inv-104", 1000).await;
    env.fake
        .control()
        .pay_with(
            &np_invoice,
            &PayPlan {
                paid_amount: Some("6.5".into()),
                ..PayPlan::default()
            },
        )
        .await
        .unwrap();
    let ipns = env.receiver.wait_for(3).await;
    let last = verify(&env, &ipns[2]).unwrap();
    assert_eq!(last.status, PaymentStatus::PartiallyPaid);
    let verdict = last.verdict(&expected("inv-104", 1000)).unwrap();
    assert_eq!(
        verdict,
        Verdict::PartiallyPaid {
            provider_ref: last.payment_id.clone(),
            expected: Money::usd_cents(1000),
            paid: Some(Money::usd_cents(650)),
        }
    );
    assert!(!verdict.is_paid());
}

#[tokio::test]
async fn an_ipn_for_another_amount_or_invoice_is_not_credited_as_payment() {
    let env = start().await;
    let np_invoice = open(&env, "inv-105", 500).await;
    env.fake.control().pay(&np_invoice).await.unwrap();
    let ipns = env.receiver.wait_for(5).await;
    let finished = verify(&env, &ipns[4]).unwrap();
    // Billing's invoice says 7.00: the 5.00 payment is money to credit, not a payment of it.
    assert_eq!(
        finished.verdict(&expected("inv-105", 700)).unwrap(),
        Verdict::Mismatch {
            provider_ref: finished.payment_id.clone(),
            expected: Money::usd_cents(700),
            got: Some(Money::usd_cents(500)),
        }
    );
    assert!(matches!(
        finished.verdict(&expected("inv-999", 500)),
        Err(PaymentError::WrongInvoice { .. })
    ));
}

#[tokio::test]
async fn failed_expired_and_refunded_payments_are_failed() {
    let env = start().await;
    let np_invoice = open(&env, "inv-106", 300).await;
    let outcome = env
        .fake
        .control()
        .pay_with(
            &np_invoice,
            &PayPlan {
                statuses: Some(vec!["waiting".into()]),
                ..PayPlan::default()
            },
        )
        .await
        .unwrap();
    env.fake
        .control()
        .set_status(outcome.payment_id, "expired")
        .await
        .unwrap();
    let ipns = env.receiver.wait_for(2).await;
    let expired = verify(&env, &ipns[1]).unwrap();
    assert_eq!(expired.status, PaymentStatus::Expired);
    assert!(matches!(
        expired.verdict(&expected("inv-106", 300)).unwrap(),
        Verdict::Failed { .. }
    ));
}

#[tokio::test]
async fn api_errors_carry_the_status_and_code() {
    let env = start().await;
    let wrong_key = NowPaymentsGateway::new(NowPaymentsConfig::new(
        SecretString::new("wrong"),
        SecretString::new(IPN_SECRET),
        env.fake.url(),
    ))
    .unwrap();
    let refused = wrong_key
        .start(&PaymentRequest::new("inv-107", Money::usd_cents(100), "x"))
        .await;
    let Err(PaymentError::Provider { code, message, .. }) = refused else {
        panic!("expected a provider error, got {refused:?}");
    };
    assert_eq!(code, 403);
    assert!(message.contains("INVALID_API_KEY"), "{message}");
    let missing = env.gateway.payment("123456").await;
    assert!(
        matches!(missing, Err(PaymentError::Provider { code: 404, .. })),
        "{missing:?}"
    );
    assert!(matches!(
        env.gateway
            .start(&PaymentRequest::new("inv-108", Money::toman(100_000), "x"))
            .await,
        Err(PaymentError::UnsupportedCurrency { .. })
    ));
    assert!(matches!(
        env.gateway.payment("../v1/invoice").await,
        Err(PaymentError::InvalidRequest(_))
    ));
}

#[test]
fn signatures_cover_the_sorted_body_with_nested_objects() {
    let secret = SecretString::new("s3cret");
    // Keys in NowPayments' order, a nested object, numbers written as JavaScript writes them.
    let body = br#"{"payment_id":5077125051,"payment_status":"finished","price_amount":5.0,"price_currency":"usd","actually_paid":0.00001234,"order_id":"inv-1","fee":{"serviceFee":0,"currency":"btc","depositFee":0}}"#;
    let sorted = json!({
        "actually_paid": 0.00001234,
        "fee": {"currency": "btc", "depositFee": 0, "serviceFee": 0},
        "order_id": "inv-1",
        "payment_id": 5077125051_u64,
        "payment_status": "finished",
        "price_amount": 5,
        "price_currency": "usd",
    });
    let signature = nowpayments::sign(&sorted, &secret).unwrap();
    let event = nowpayments::verify_ipn(body, Some(&signature), &secret).unwrap();
    assert_eq!(event.payment_id, "5077125051");
    assert_eq!(event.price(), Some(Money::usd_cents(500)));
    assert_eq!(event.actually_paid.as_deref(), Some("0.00001234"));
    // Upper-case hex is the same signature.
    assert!(nowpayments::verify_ipn(body, Some(&signature.to_uppercase()), &secret).is_ok());
    // A body that is not JSON is refused with a reason.
    assert!(matches!(
        nowpayments::verify_ipn(b"payment_id=1", Some(&signature), &secret),
        Err(PaymentError::BadCallback(_))
    ));
    // An empty secret is a configuration error, never "anything goes".
    assert!(matches!(
        nowpayments::verify_ipn(body, Some(&signature), &SecretString::new("")),
        Err(PaymentError::Config(_))
    ));
}

#[test]
fn statuses_map_to_paid_only_when_finished_or_confirmed() {
    for (code, paid) in [
        ("waiting", false),
        ("confirming", false),
        ("confirmed", true),
        ("sending", false),
        ("partially_paid", false),
        ("finished", true),
        ("failed", false),
        ("refunded", false),
        ("expired", false),
        ("something_new", false),
    ] {
        let status = PaymentStatus::parse(code);
        assert_eq!(status.as_code(), code);
        assert_eq!(status.is_paid(), paid, "{code}");
    }
    assert!(PaymentStatus::Finished.progress() > PaymentStatus::Confirming.progress());
    assert!(PaymentStatus::Refunded.progress() > PaymentStatus::Finished.progress());
}

#[test]
fn keys_never_reach_debug_output() {
    let config = NowPaymentsConfig::new(
        SecretString::new(API_KEY),
        SecretString::new(IPN_SECRET),
        nowpayments::SANDBOX_BASE_URL,
    );
    let gateway = NowPaymentsGateway::new(config.clone()).unwrap();
    for shown in [format!("{config:?}"), format!("{gateway:?}")] {
        assert!(!shown.contains(API_KEY), "{shown}");
        assert!(!shown.contains(IPN_SECRET), "{shown}");
    }
}
