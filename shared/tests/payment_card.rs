//! Card-to-card: card numbers, masking, display, decisions, auto-approve, the gateway.

use shared::i18n::Locale;
use shared::money::Money;
use shared::payment::card::{
    AutoApprove, CardAccount, CardError, CardNumber, CardToCardGateway, ReceiptDecision,
};
use shared::payment::stars::StarsGateway;
use shared::payment::{
    Checkout, Gateway, Method, PaymentError, PaymentRequest, PendingPayment, Verdict,
};

const MELLI: &str = "6037991234567810";
const MELLAT: &str = "6104339876543210";

#[test]
fn card_numbers_are_validated_with_the_luhn_check() {
    assert_eq!(CardNumber::parse(MELLI).unwrap().digits(), MELLI);
    assert_eq!(
        CardNumber::parse("6037-9912 3456-7810").unwrap().digits(),
        MELLI
    );
    assert_eq!(
        CardNumber::parse("۶۰۳۷۹۹۱۲۳۴۵۶۷۸۱۰").unwrap().digits(),
        MELLI,
        "Persian digits as people type them"
    );
    assert_eq!(
        CardNumber::parse("6037991234567811"),
        Err(CardError::BadCheckDigit)
    );
    assert_eq!(
        CardNumber::parse("603799123456781"),
        Err(CardError::WrongLength(15))
    );
    assert_eq!(CardNumber::parse(""), Err(CardError::WrongLength(0)));
    assert_eq!(
        CardNumber::parse("6037x91234567810"),
        Err(CardError::NotADigit('x'))
    );
    let message = CardNumber::parse("6037991234567811")
        .unwrap_err()
        .to_string();
    assert!(message.contains("mistyped"), "{message}");
}

#[test]
fn card_numbers_are_masked_in_logs_and_shown_whole_to_buyers() {
    let card = CardNumber::parse(MELLI).unwrap();
    assert_eq!(card.masked(), "6037-99**-****-7810");
    assert_eq!(format!("{card}"), "6037-99**-****-7810");
    let debug = format!("{card:?}");
    assert!(!debug.contains(MELLI) && !debug.contains("1234"), "{debug}");
    assert_eq!(card.format(Locale::En), "6037-9912-3456-7810");
    assert_eq!(card.format(Locale::Fa), "۶۰۳۷-۹۹۱۲-۳۴۵۶-۷۸۱۰");

    let account = CardAccount::new(MELLI, " Sara Ahmadi ", "Melli").unwrap();
    assert_eq!(account.owner, "Sara Ahmadi");
    let debug = format!("{account:?}");
    assert!(!debug.contains(MELLI), "{debug}");
    assert_eq!(
        CardAccount::new(MELLI, "  ", "Melli"),
        Err(CardError::NoOwner)
    );
}

#[test]
fn decisions_become_verdicts() {
    let payment = PendingPayment {
        invoice_id: "inv-c1".into(),
        amount: Money::toman(250_000),
        provider_ref: Some("receipt-9".into()),
    };
    assert_eq!(
        ReceiptDecision::Approve.verdict(&payment, "receipt-9"),
        Verdict::Paid {
            provider_ref: "receipt-9".into(),
            amount: Money::toman(250_000),
            already_verified: false,
            reference: None,
        }
    );
    let rejected = ReceiptDecision::Reject {
        reason: "the amount on the receipt is 200,000".into(),
    }
    .verdict(&payment, "receipt-9");
    assert_eq!(
        rejected,
        Verdict::Failed {
            reason: "the amount on the receipt is 200,000".into()
        }
    );
}

#[test]
fn auto_approve_waits_the_given_minutes() {
    let sent = 1_700_000_000;
    assert!(!AutoApprove::Off.is_due(sent, sent + 10 * 24 * 3600));
    let policy = AutoApprove::After { minutes: 30 };
    assert!(!policy.is_due(sent, sent + 29 * 60 + 59));
    assert!(policy.is_due(sent, sent + 30 * 60));
    assert!(
        !policy.is_due(sent, sent - 60),
        "a clock step back is not due"
    );
    assert_eq!(AutoApprove::default(), AutoApprove::Off);
}

#[tokio::test]
async fn the_gateway_shows_the_same_card_for_the_same_invoice() {
    let gateway = CardToCardGateway::new(vec![
        CardAccount::new(MELLI, "Sara Ahmadi", "Melli").unwrap(),
        CardAccount::new(MELLAT, "Reza Karimi", "Mellat").unwrap(),
    ])
    .unwrap();
    assert_eq!(gateway.method(), Method::CardToCard);
    let mut seen = std::collections::HashSet::new();
    for i in 0..40 {
        let request = PaymentRequest::new(format!("inv-{i}"), Money::toman(100_000), "VPN");
        let first = gateway.start(&request).await.unwrap();
        let again = gateway.start(&request).await.unwrap();
        assert_eq!(first, again);
        let Checkout::CardToCard { card, amount } = first else {
            panic!("expected a card");
        };
        assert_eq!(amount, Money::toman(100_000));
        seen.insert(card.number.digits().to_string());
    }
    assert_eq!(seen.len(), 2, "invoices are spread over both cards");

    let pending = PendingPayment {
        invoice_id: "inv-1".into(),
        amount: Money::toman(100_000),
        provider_ref: None,
    };
    assert_eq!(gateway.verify(&pending).await.unwrap(), Verdict::Pending);
    assert!(matches!(
        gateway
            .start(&PaymentRequest::new("inv-x", Money::usd_cents(500), "VPN"))
            .await,
        Err(PaymentError::UnsupportedCurrency { .. })
    ));
    assert!(matches!(
        gateway
            .start(&PaymentRequest::new("inv-x", Money::toman(0), "VPN"))
            .await,
        Err(PaymentError::InvalidRequest(_))
    ));
    assert_eq!(
        CardToCardGateway::new(Vec::new()).unwrap_err(),
        CardError::NoCards
    );
}

#[test]
fn methods_have_stable_codes() {
    for method in Method::ALL {
        assert_eq!(Method::from_code(method.as_code()), Some(method));
    }
    assert_eq!(Method::from_code("paypal"), None);
}

#[tokio::test]
async fn gateways_can_be_chosen_at_run_time() {
    let card = CardToCardGateway::new(vec![
        CardAccount::new(MELLI, "Sara Ahmadi", "Melli").unwrap()
    ])
    .unwrap();
    let gateways: Vec<Box<dyn Gateway>> = vec![Box::new(card), Box::new(StarsGateway)];
    let methods: Vec<Method> = gateways.iter().map(|g| g.method()).collect();
    assert_eq!(methods, [Method::CardToCard, Method::TelegramStars]);
    let stars = gateways
        .iter()
        .find(|g| g.method() == Method::TelegramStars)
        .unwrap();
    let checkout = stars
        .start(&PaymentRequest::new("inv-9", Money::stars(75), "VPN"))
        .await
        .unwrap();
    assert_eq!(
        checkout,
        Checkout::TelegramInvoice {
            payload: "inv-9".into(),
            price_xtr: 75
        }
    );
}
