//! Zarinpal stories against the fake Zarinpal: request -> StartPay -> callback -> verify.

mod payment_common;

use payment_common::{loopback, Receiver};
use sandbox::gateways::zarinpal::{FakeZarinpal, ZarinpalOptions, ZarinpalState};
use shared::money::Money;
use shared::payment::zarinpal::{self, AmountUnit, ZarinpalConfig, ZarinpalGateway};
use shared::payment::{Checkout, Gateway, PaymentError, PaymentRequest, PendingPayment, Verdict};
use shared::secret::SecretString;

const MERCHANT: &str = "1344b5d4-0048-11e8-94db-005056a205be";

struct Env {
    fake: FakeZarinpal,
    gateway: ZarinpalGateway,
    receiver: Receiver,
}

async fn start_with(unit: AmountUnit) -> Env {
    let fake = FakeZarinpal::start(
        loopback(),
        ZarinpalOptions {
            merchant_id: MERCHANT.into(),
        },
    )
    .await
    .unwrap();
    let mut config = ZarinpalConfig::new(SecretString::new(MERCHANT), fake.url());
    config.unit = unit;
    let gateway = ZarinpalGateway::new(config).unwrap();
    let receiver = Receiver::start().await;
    Env {
        fake,
        gateway,
        receiver,
    }
}

async fn start() -> Env {
    start_with(AmountUnit::Rial).await
}

fn request(env: &Env, invoice_id: &str, toman: i64) -> PaymentRequest {
    PaymentRequest {
        return_url: Some(format!(
            "{}/pay/zarinpal/return?invoice={invoice_id}",
            env.receiver.url
        )),
        mobile: Some("09121234567".into()),
        ..PaymentRequest::new(invoice_id, Money::toman(toman), "1 month VPN, 50 GB")
    }
}

/// Starts a payment and returns its authority.
async fn open(env: &Env, invoice_id: &str, toman: i64) -> String {
    let checkout = env
        .gateway
        .start(&request(env, invoice_id, toman))
        .await
        .unwrap();
    let Checkout::Redirect { url, provider_ref } = checkout else {
        panic!("Zarinpal must redirect, got {checkout:?}");
    };
    assert_eq!(
        url,
        format!("{}/pg/StartPay/{provider_ref}", env.fake.url())
    );
    assert_eq!(provider_ref.len(), 36);
    provider_ref
}

fn pending(invoice_id: &str, toman: i64, authority: &str) -> PendingPayment {
    PendingPayment {
        invoice_id: invoice_id.into(),
        amount: Money::toman(toman),
        provider_ref: Some(authority.into()),
    }
}

#[tokio::test]
async fn a_payment_from_request_to_verify_then_verified_again() {
    let env = start().await;
    let authority = open(&env, "inv-1", 120_000).await;

    // The fake recorded what the client sent: Rials, the order id, the callback.
    let held = env.fake.control().payment(&authority).await.unwrap();
    assert_eq!(held.amount, 1_200_000);
    assert_eq!(held.currency, "IRR");
    assert_eq!(held.order_id.as_deref(), Some("inv-1"));
    assert_eq!(held.mobile.as_deref(), Some("09121234567"));
    assert_eq!(held.state, ZarinpalState::Created);

    // Before the buyer pays, verify says not paid.
    let before = env
        .gateway
        .verify(&pending("inv-1", 120_000, &authority))
        .await
        .unwrap();
    assert!(matches!(before, Verdict::Failed { .. }), "{before:?}");

    // The buyer pays; Zarinpal sends the browser back to our callback.
    let delivery = env.fake.control().complete(&authority).await.unwrap();
    assert_eq!(delivery.http_status, Some(200), "{delivery:?}");
    let callbacks = env.receiver.wait_for(1).await;
    assert_eq!(callbacks[0].path, "/pay/zarinpal/return");
    let callback = zarinpal::parse_callback(&callbacks[0].query).unwrap();
    assert_eq!(callback.authority, authority);
    assert!(callback.status_ok);
    assert!(
        callbacks[0].query.contains("invoice=inv-1"),
        "our own query is kept"
    );

    let first = env
        .gateway
        .verify(&pending("inv-1", 120_000, &authority))
        .await
        .unwrap();
    let Verdict::Paid {
        provider_ref,
        amount,
        already_verified,
        reference,
    } = first
    else {
        panic!("expected Paid, got {first:?}");
    };
    assert_eq!(provider_ref, authority);
    assert_eq!(amount, Money::toman(120_000));
    assert!(!already_verified);
    let ref_id = reference.expect("a ref_id");

    // A second verify (a replayed callback, a retry after a crash) says 101: already verified.
    env.fake.control().replay(&authority).await.unwrap();
    env.receiver.wait_for(2).await;
    let second = env
        .gateway
        .verify(&pending("inv-1", 120_000, &authority))
        .await
        .unwrap();
    assert_eq!(
        second,
        Verdict::Paid {
            provider_ref: authority.clone(),
            amount: Money::toman(120_000),
            already_verified: true,
            reference: Some(ref_id),
        }
    );
    assert_eq!(
        env.fake.control().payment(&authority).await.unwrap().state,
        ZarinpalState::Verified
    );
}

#[tokio::test]
async fn toman_is_sent_as_irt_when_configured() {
    let env = start_with(AmountUnit::Toman).await;
    let authority = open(&env, "inv-t", 50_000).await;
    let held = env.fake.control().payment(&authority).await.unwrap();
    assert_eq!((held.amount, held.currency.as_str()), (50_000, "IRT"));
    env.fake
        .control()
        .complete_silently(&authority)
        .await
        .unwrap();
    let verdict = env
        .gateway
        .verify(&pending("inv-t", 50_000, &authority))
        .await
        .unwrap();
    assert!(verdict.is_paid(), "{verdict:?}");
}

#[tokio::test]
async fn a_cancelled_payment_comes_back_nok_and_verifies_as_failed() {
    let env = start().await;
    let authority = open(&env, "inv-2", 80_000).await;
    env.fake.control().fail(&authority).await.unwrap();
    let callbacks = env.receiver.wait_for(1).await;
    let callback = zarinpal::parse_callback(&callbacks[0].query).unwrap();
    assert_eq!(callback.authority, authority);
    assert!(!callback.status_ok);
    let verdict = env
        .gateway
        .verify(&pending("inv-2", 80_000, &authority))
        .await
        .unwrap();
    let Verdict::Failed { reason } = verdict else {
        panic!("expected Failed, got {verdict:?}");
    };
    assert!(reason.contains("did not pay"), "{reason}");
}

#[tokio::test]
async fn a_different_amount_is_a_mismatch_not_a_payment() {
    let env = start().await;
    let authority = open(&env, "inv-3", 120_000).await;
    // The payment at Zarinpal is for 100,000 Toman (1,000,000 Rial); our invoice says 120,000.
    env.fake
        .control()
        .complete_with_amount(&authority, 1_000_000)
        .await
        .unwrap();
    let verdict = env
        .gateway
        .verify(&pending("inv-3", 120_000, &authority))
        .await
        .unwrap();
    assert_eq!(
        verdict,
        Verdict::Mismatch {
            provider_ref: authority.clone(),
            expected: Money::toman(120_000),
            got: None,
        }
    );
    // Nothing was verified at Zarinpal.
    assert_eq!(
        env.fake.control().payment(&authority).await.unwrap().state,
        ZarinpalState::Paid
    );
}

#[tokio::test]
async fn provider_errors_are_reported_with_their_codes() {
    let env = start().await;
    // Unknown authority: -54.
    let unknown = env
        .gateway
        .verify(&pending(
            "inv-4",
            1_000,
            "A00000000000000000000000000000000000",
        ))
        .await;
    assert!(
        matches!(unknown, Err(PaymentError::Provider { code: -54, .. })),
        "{unknown:?}"
    );
    // Below Zarinpal's minimum (1,000 Toman): -9 with the validation message.
    let small = env.gateway.start(&request(&env, "inv-5", 500)).await;
    let Err(PaymentError::Provider {
        code: -9, message, ..
    }) = small
    else {
        panic!("expected -9, got {small:?}");
    };
    assert!(message.contains("amount"), "{message}");
    // Another merchant's id: -10.
    let stranger = ZarinpalGateway::new(ZarinpalConfig::new(
        SecretString::new("00000000-1111-2222-3333-444444444444"),
        env.fake.url(),
    ))
    .unwrap();
    let refused = stranger.start(&request(&env, "inv-6", 10_000)).await;
    assert!(
        matches!(refused, Err(PaymentError::Provider { code: -10, .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn bad_requests_are_refused_before_calling_zarinpal() {
    let env = start().await;
    let dollars = PaymentRequest {
        return_url: Some(env.receiver.url.clone()),
        ..PaymentRequest::new("inv-7", Money::usd_cents(500), "x")
    };
    assert!(matches!(
        env.gateway.start(&dollars).await,
        Err(PaymentError::UnsupportedCurrency { .. })
    ));
    let no_return = PaymentRequest::new("inv-8", Money::toman(10_000), "x");
    assert!(matches!(
        env.gateway.start(&no_return).await,
        Err(PaymentError::InvalidRequest(_))
    ));
    assert!(env.fake.payments().is_empty());
    // A merchant id that is not 36 characters is a configuration error.
    let bad = ZarinpalGateway::new(ZarinpalConfig::new(
        SecretString::new("short"),
        env.fake.url(),
    ));
    assert!(matches!(bad, Err(PaymentError::Config(_))));
}

#[tokio::test]
async fn an_unreachable_zarinpal_is_an_error_not_a_verdict() {
    let env = start().await;
    let url = env.fake.url();
    env.fake.shutdown().await;
    let gateway =
        ZarinpalGateway::new(ZarinpalConfig::new(SecretString::new(MERCHANT), url)).unwrap();
    let result = gateway
        .verify(&pending(
            "inv-9",
            10_000,
            "A00000000000000000000000000000000000",
        ))
        .await;
    assert!(
        matches!(result, Err(PaymentError::Unreachable { .. })),
        "{result:?}"
    );
}

#[test]
fn callbacks_are_parsed_strictly() {
    let ok = zarinpal::parse_callback("?Authority=A0000000000000000000000000000wwOGYpd&Status=OK")
        .unwrap();
    assert_eq!(ok.authority, "A0000000000000000000000000000wwOGYpd");
    assert!(ok.status_ok);
    assert!(
        !zarinpal::parse_callback("Status=NOK&Authority=A1")
            .unwrap()
            .status_ok
    );
    for bad in [
        "",
        "Status=OK",
        "Authority=A1",
        "Authority=A1&Status=ok",
        "Authority=A1&Status=MAYBE",
        "Authority=A1%27%3B--&Status=OK",
    ] {
        assert!(
            matches!(
                zarinpal::parse_callback(bad),
                Err(PaymentError::BadCallback(_))
            ),
            "{bad:?} should be refused"
        );
    }
}

#[test]
fn the_merchant_id_never_reaches_debug_output() {
    let config = ZarinpalConfig::new(SecretString::new(MERCHANT), zarinpal::SANDBOX_BASE_URL);
    let gateway = ZarinpalGateway::new(config.clone()).unwrap();
    for shown in [format!("{config:?}"), format!("{gateway:?}")] {
        assert!(!shown.contains(MERCHANT), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }
}
