//! Paying in a tenant's bot: card-to-card receipts decided by the shop's admins, Zarinpal,
//! NowPayments and Telegram Stars against the sandbox's fake gateways. Every payment lands in
//! the wallet once, then pays its order from there; on SQLite and PostgreSQL.

use std::net::SocketAddr;

use sandbox::gateways::nowpayments::{FakeNowPayments, NowPaymentsOptions, PayPlan};
use sandbox::gateways::zarinpal::{FakeZarinpal, ZarinpalOptions};
use shared::db::{Db, Engine, Schema};
use shared::money::Money;
use shared::payment::Method;
use shared::secret::{Keyring, SecretString};
use shared::testdb::TestDb;
use teloxide::types::{PreCheckoutQuery, SuccessfulPayment};
use tenant_bot::notices::{self, Notice};
use tenant_bot::orders::{self, Order, State};
use tenant_bot::payments::setup::{Card, NowPaymentsSetup, Rates, ZarinpalSetup};
use tenant_bot::payments::{
    self, Approval, Checkout, GatewayUrls, Gateways, OrderResult, Outcome, PaymentRefusal,
    PaymentSetup, Purpose, Receipt, Rejection, Status,
};
use tenant_bot::plans::{self, PlanDraft, GIB};
use tenant_bot::refusal::Refusal;
use tenant_bot::wallet::{self, Reason};
use tenant_bot::{admins, Error};

const T0: i64 = 1_790_000_000;
const OWNER: i64 = 500_001;
const SARA: i64 = 700_001;
const BOT: &str = "nimbus_vpn_bot";
const MELLI: &str = "6037991234567810";
const MELLAT: &str = "6104339876543210";
const ZARINPAL_MERCHANT: &str = "00000000-0000-0000-0000-000000000000";

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A shop with an owner, the fake gateways, and every method set up.
struct Shop {
    t: TestDb,
    keyring: Keyring,
    zarinpal: FakeZarinpal,
    nowpayments: FakeNowPayments,
}

impl Shop {
    async fn open(engine: Engine) -> Option<Shop> {
        let t = TestDb::fresh(engine, Schema::Tenant).await?;
        admins::set_owner(&t.db, OWNER, T0).await.unwrap();
        let keyring = Keyring::from_config(&[Keyring::generate_key_line("k1")]).unwrap();
        let zarinpal = FakeZarinpal::start(loopback(), ZarinpalOptions::default())
            .await
            .unwrap();
        let nowpayments = FakeNowPayments::start(loopback(), NowPaymentsOptions::default())
            .await
            .unwrap();
        Some(Shop {
            t,
            keyring,
            zarinpal,
            nowpayments,
        })
    }

    fn db(&self) -> &Db {
        &self.t.db
    }

    /// Two cards, Zarinpal, NowPayments and Stars, with the given auto-approval.
    fn setup(&self, auto_approve_minutes: Option<u32>) -> PaymentSetup {
        let options = NowPaymentsOptions::default();
        PaymentSetup {
            cards: vec![
                Card::new(MELLI, "Sara Ahmadi", "Melli").unwrap(),
                Card::new(MELLAT, "Sara Ahmadi", "Mellat").unwrap(),
            ],
            card_auto_approve_minutes: auto_approve_minutes,
            zarinpal: Some(
                ZarinpalSetup::new(&self.keyring, &SecretString::new(ZARINPAL_MERCHANT)).unwrap(),
            ),
            nowpayments: Some(
                NowPaymentsSetup::new(
                    &self.keyring,
                    &SecretString::new(options.api_key),
                    &SecretString::new(options.ipn_secret),
                )
                .unwrap(),
            ),
            stars: true,
            rates: Rates {
                toman_per_usd: Some(60_000),
                toman_per_star: Some(1_100),
            },
        }
    }

    fn gateways(&self, auto_approve_minutes: Option<u32>) -> Gateways {
        let urls = GatewayUrls {
            zarinpal: self.zarinpal.url(),
            nowpayments: self.nowpayments.url(),
            nowpayments_ipn: None,
            bot_username: BOT.into(),
        };
        Gateways::from_setup(&self.setup(auto_approve_minutes), &self.keyring, &urls).unwrap()
    }

    async fn balance(&self, telegram_id: i64) -> Money {
        wallet::balance(self.db(), telegram_id).await.unwrap()
    }

    /// A new-account order for a 30-day, 50 GB plan at `price` Toman.
    async fn order(&self, telegram_id: i64, price: i64) -> Order {
        let plan = plans::create(
            self.db(),
            &PlanDraft {
                name_fa: "یک ماهه".into(),
                name_en: "One month".into(),
                data_bytes: Some(50 * GIB),
                days: 30,
                price: Money::toman(price),
                ip_limit: Some(2),
                location: None,
                panel_id: None,
                sort_order: 0,
            },
            T0,
        )
        .await
        .unwrap();
        orders::create_new(self.db(), telegram_id, &plan, T0)
            .await
            .unwrap()
    }

    async fn order_state(&self, id: &str) -> State {
        orders::get(self.db(), id).await.unwrap().unwrap().state
    }

    async fn status(&self, payment_id: &str) -> Status {
        payments::get(self.db(), payment_id)
            .await
            .unwrap()
            .unwrap()
            .status
    }

    /// The notices waiting for `telegram_id`.
    async fn notices_for(&self, telegram_id: i64) -> Vec<Notice> {
        notices::due(self.db(), i64::MAX, 1_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|n| n.telegram_id == telegram_id)
            .map(|n| n.notice)
            .collect()
    }

    async fn close(self) {
        self.zarinpal.shutdown().await;
        self.nowpayments.shutdown().await;
        self.t.cleanup().await.unwrap();
    }
}

fn refusal<T: std::fmt::Debug>(result: Result<T, Error>) -> Refusal {
    match result {
        Err(Error::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn payment_refusal<T: std::fmt::Debug>(result: Result<T, Error>) -> PaymentRefusal {
    match refusal(result) {
        Refusal::Payment(r) => r,
        other => panic!("expected a payment refusal, got {other:?}"),
    }
}

fn credited(outcome: Outcome) -> payments::Confirmed {
    match outcome {
        Outcome::Credited(confirmed) => confirmed,
        other => panic!("expected the payment credited, got {other:?}"),
    }
}

async fn a_user_tops_up_by_card_and_the_owner_approves_it_once(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let db = shop.db();
    let gateways = shop.gateways(None);
    assert_eq!(
        gateways.methods(),
        vec![
            Method::CardToCard,
            Method::Zarinpal,
            Method::NowPayments,
            Method::TelegramStars
        ]
    );

    // Sara asks to top up 200,000 Toman by card: she is shown one of the shop's cards.
    let top_up = Purpose::TopUp(Money::toman(200_000));
    let checkout = payments::start(db, &gateways, SARA, &top_up, Method::CardToCard, T0)
        .await
        .unwrap();
    let Checkout::Card {
        payment_id,
        card,
        amount,
    } = checkout
    else {
        panic!("expected a card to pay to, got {checkout:?}");
    };
    assert_eq!(amount, Money::toman(200_000));
    assert!([MELLI, MELLAT].contains(&card.number.digits()));
    let payment = payments::get(db, &payment_id).await.unwrap().unwrap();
    assert_eq!(payment.card_number.as_deref(), Some(card.number.digits()));
    assert_eq!(payment.status, Status::Pending);

    // She sends the receipt photo (twice: a double tap); the owner is told once.
    let sent = payments::submit_receipt(db, SARA, &payment_id, "photo-1", T0 + 60).await;
    assert_eq!(sent.unwrap(), Receipt::Sent);
    let again = payments::submit_receipt(db, SARA, &payment_id, "photo-1", T0 + 61).await;
    assert_eq!(again.unwrap(), Receipt::AlreadyInReview);
    assert_eq!(
        shop.notices_for(OWNER).await,
        vec![Notice::ReceiptToReview {
            payment_id: payment_id.clone()
        }]
    );
    assert_eq!(shop.status(&payment_id).await, Status::InReview);
    // Someone else cannot send a receipt for her payment, nor approve it.
    let stranger = payments::submit_receipt(db, SARA + 1, &payment_id, "p", T0 + 62).await;
    assert_eq!(payment_refusal(stranger), PaymentRefusal::NoSuchPayment);
    let not_admin = payments::approve(db, &payment_id, SARA, T0 + 70).await;
    assert_eq!(payment_refusal(not_admin), PaymentRefusal::NotAnAdmin);
    assert_eq!(shop.balance(SARA).await, Money::toman(0));

    // The owner approves: the wallet shows it.
    let approved = payments::approve(db, &payment_id, OWNER, T0 + 120)
        .await
        .unwrap();
    let Approval::Approved(confirmed) = approved else {
        panic!("expected approved, got {approved:?}");
    };
    assert_eq!(confirmed.credited, Money::toman(200_000));
    assert_eq!(confirmed.order, None);
    assert_eq!(shop.balance(SARA).await, Money::toman(200_000));

    // Approving again (a double tap, or a second admin) changes nothing.
    let twice = payments::approve(db, &payment_id, OWNER, T0 + 121).await;
    assert_eq!(twice.unwrap(), Approval::AlreadyApproved);
    let reject = payments::reject(db, &payment_id, OWNER, "wrong", T0 + 122).await;
    assert_eq!(payment_refusal(reject), PaymentRefusal::AlreadyApproved);
    assert_eq!(shop.balance(SARA).await, Money::toman(200_000));
    let history = wallet::history(db, SARA, 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].reason, Reason::TopUp);
    assert_eq!(history[0].reference, format!("payment:{payment_id}"));
    assert_eq!(
        shop.notices_for(SARA).await,
        vec![Notice::PaymentCredited {
            payment_id: payment_id.clone(),
            amount_minor: 200_000,
            currency: "IRT".into(),
        }]
    );
    let stored = payments::get(db, &payment_id).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::Paid);
    assert_eq!(stored.decided_by, Some(OWNER));
    assert_eq!(
        payments::check(db, &gateways, &payment_id, T0 + 200)
            .await
            .unwrap(),
        Outcome::AlreadyApplied
    );
    shop.close().await;
}

async fn a_receipt_is_rejected_with_a_reason_the_user_is_told(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let db = shop.db();
    let gateways = shop.gateways(None);
    let top_up = Purpose::TopUp(Money::toman(200_000));
    let checkout = payments::start(db, &gateways, SARA, &top_up, Method::CardToCard, T0)
        .await
        .unwrap();
    let payment_id = checkout.payment_id().to_string();
    payments::submit_receipt(db, SARA, &payment_id, "photo-1", T0 + 60)
        .await
        .unwrap();

    // A rejection must say why.
    let silent = payments::reject(db, &payment_id, OWNER, "  ", T0 + 100).await;
    assert_eq!(payment_refusal(silent), PaymentRefusal::ReasonRequired);
    let reason = "The receipt shows 20,000 Toman, not 200,000";
    let rejected = payments::reject(db, &payment_id, OWNER, reason, T0 + 120).await;
    assert_eq!(rejected.unwrap(), Rejection::Rejected);
    let again = payments::reject(db, &payment_id, OWNER, reason, T0 + 121).await;
    assert_eq!(again.unwrap(), Rejection::AlreadyRejected);

    assert_eq!(shop.balance(SARA).await, Money::toman(0));
    assert_eq!(
        shop.notices_for(SARA).await,
        vec![Notice::PaymentRejected {
            payment_id: payment_id.clone(),
            reason: reason.into(),
        }]
    );
    assert_eq!(
        payments::check(db, &gateways, &payment_id, T0 + 130)
            .await
            .unwrap(),
        Outcome::Rejected {
            reason: reason.into()
        }
    );
    // The payment takes no new receipt: Sara starts a new one.
    let late = payments::submit_receipt(db, SARA, &payment_id, "photo-2", T0 + 140).await;
    assert_eq!(payment_refusal(late), PaymentRefusal::ReceiptNotExpected);
    shop.close().await;
}

async fn a_user_pays_an_order_through_zarinpal_and_replays_change_nothing(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let db = shop.db();
    let gateways = shop.gateways(None);
    // Sara has 30,000 Toman from earlier; the plan costs 150,000.
    let mut tx = db.begin().await.unwrap();
    wallet::record(
        &mut tx,
        SARA,
        Money::toman(30_000),
        Reason::Admin,
        "gift:1",
        T0,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let order = shop.order(SARA, 150_000).await;

    let pay_order = Purpose::Order(order.id.clone());
    let checkout = payments::start(db, &gateways, SARA, &pay_order, Method::Zarinpal, T0)
        .await
        .unwrap();
    let Checkout::Redirect {
        payment_id,
        url,
        amount,
        credit,
        ..
    } = checkout
    else {
        panic!("expected a Zarinpal page, got {checkout:?}");
    };
    assert_eq!(
        (amount, credit),
        (Money::toman(150_000), Money::toman(150_000))
    );
    let authority = url
        .rsplit('/')
        .next()
        .expect("the StartPay URL ends in the authority")
        .to_string();
    assert!(url.starts_with(&format!("{}/pg/StartPay/", shop.zarinpal.url())));
    // Zarinpal sends her back to the bot, which then checks the payment.
    let at_zarinpal = shop.zarinpal.control().payment(&authority).await.unwrap();
    assert_eq!(
        at_zarinpal.callback_url,
        format!("https://t.me/{BOT}?start=pay_{payment_id}")
    );
    assert_eq!(at_zarinpal.amount, 1_500_000, "Zarinpal is asked in Rials");

    // She comes back before paying: not paid, nothing moves, she may still pay.
    let early = payments::check(db, &gateways, &payment_id, T0 + 30)
        .await
        .unwrap();
    assert!(matches!(early, Outcome::Failed { .. }), "{early:?}");
    assert_eq!(shop.status(&payment_id).await, Status::Pending);
    assert_eq!(shop.order_state(&order.id).await, State::Created);

    // She pays, comes back (the deep link names the payment), and the bot checks: twice at
    // once, as a double tap would.
    shop.zarinpal.control().complete(&authority).await.unwrap();
    let start_payload = format!("pay_{payment_id}");
    let named = payments::payment_id_from_start(&start_payload).unwrap();
    let (first, second) = tokio::join!(
        payments::check(db, &gateways, named, T0 + 60),
        payments::check(db, &gateways, named, T0 + 60),
    );
    let mut outcomes = vec![first.unwrap(), second.unwrap()];
    outcomes.sort_by_key(|o| matches!(o, Outcome::AlreadyApplied));
    assert_eq!(outcomes[1], Outcome::AlreadyApplied, "{outcomes:?}");
    let confirmed = credited(outcomes.remove(0));
    assert_eq!(
        confirmed.order,
        Some(OrderResult::Paid {
            order_id: order.id.clone()
        })
    );
    assert_eq!(confirmed.order_to_fulfil(), Some(order.id.as_str()));

    // The order is paid from the wallet, which is back at its old balance.
    assert_eq!(shop.order_state(&order.id).await, State::Paid);
    assert_eq!(shop.balance(SARA).await, Money::toman(30_000));
    let history = wallet::history(db, SARA, 10).await.unwrap();
    let mut moves: Vec<(i64, Reason)> = history
        .iter()
        .map(|e| (e.amount.minor(), e.reason))
        .collect();
    moves.sort_by_key(|m| m.0);
    assert_eq!(
        moves,
        vec![
            (-150_000, Reason::Order),
            (30_000, Reason::Admin),
            (150_000, Reason::TopUp)
        ]
    );

    // Zarinpal replays its callback and she taps "check" again: nothing changes.
    shop.zarinpal.control().replay(&authority).await.unwrap();
    for at in [T0 + 120, T0 + 180] {
        let replay = payments::check(db, &gateways, &payment_id, at).await;
        assert_eq!(replay.unwrap(), Outcome::AlreadyApplied);
    }
    assert!(payments::poll_pending(db, &gateways, T0 + 240)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(shop.balance(SARA).await, Money::toman(30_000));
    assert_eq!(shop.order_state(&order.id).await, State::Paid);
    assert_eq!(wallet::history(db, SARA, 10).await.unwrap().len(), 3);
    let credited_notices = shop
        .notices_for(SARA)
        .await
        .into_iter()
        .filter(|n| matches!(n, Notice::PaymentCredited { .. }))
        .count();
    assert_eq!(credited_notices, 1);
    // Another user's order cannot be paid through Sara, nor a paid order again.
    let again = payments::start(db, &gateways, SARA, &pay_order, Method::Zarinpal, T0 + 300).await;
    assert_eq!(refusal(again), Refusal::OrderNotPayable);
    shop.close().await;
}

async fn the_timer_finds_payments_whose_buyer_never_came_back(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let db = shop.db();
    let gateways = shop.gateways(None);
    let top_up = Purpose::TopUp(Money::toman(50_000));
    // One she pays and never comes back from; one she never pays.
    let paid = payments::start(db, &gateways, SARA, &top_up, Method::Zarinpal, T0)
        .await
        .unwrap();
    let unpaid = payments::start(db, &gateways, SARA, &top_up, Method::Zarinpal, T0)
        .await
        .unwrap();
    let authority = |c: &Checkout| match c {
        Checkout::Redirect { url, .. } => url.rsplit('/').next().unwrap().to_string(),
        other => panic!("expected a Zarinpal page, got {other:?}"),
    };
    shop.zarinpal
        .control()
        .complete_silently(&authority(&paid))
        .await
        .unwrap();

    let applied = payments::poll_pending(db, &gateways, T0 + 300)
        .await
        .unwrap();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].payment_id, paid.payment_id());
    assert_eq!(shop.balance(SARA).await, Money::toman(50_000));
    assert_eq!(shop.status(unpaid.payment_id()).await, Status::Pending);

    // A day later the unpaid one is given up.
    let later = payments::poll_pending(db, &gateways, T0 + 86_400 + 1)
        .await
        .unwrap();
    assert!(later.is_empty());
    assert_eq!(shop.status(unpaid.payment_id()).await, Status::Failed);
    assert_eq!(shop.balance(SARA).await, Money::toman(50_000));
    shop.close().await;
}

/// The invoice id in a NowPayments invoice URL (`.../payment/?iid=...`).
fn invoice_id(checkout: &Checkout) -> String {
    let Checkout::Redirect { url, .. } = checkout else {
        panic!("expected a NowPayments invoice, got {checkout:?}");
    };
    let url = url::Url::parse(url).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "iid")
        .map(|(_, v)| v.into_owned())
        .expect("the invoice URL names the invoice")
}

async fn a_partially_paid_nowpayments_payment_is_not_credited(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let db = shop.db();
    let gateways = shop.gateways(None);
    let control = shop.nowpayments.control();
    // 120,000 Toman at 60,000 Toman a dollar: a 2.00 USD invoice.
    let top_up = Purpose::TopUp(Money::toman(120_000));
    let checkout = payments::start(db, &gateways, SARA, &top_up, Method::NowPayments, T0)
        .await
        .unwrap();
    let Checkout::Redirect { amount, credit, .. } = &checkout else {
        panic!("expected a NowPayments invoice, got {checkout:?}");
    };
    assert_eq!(
        (*amount, *credit),
        (Money::usd_cents(200), Money::toman(120_000))
    );
    let payment_id = checkout.payment_id().to_string();
    // Nothing to ask before NowPayments names the payment.
    assert_eq!(
        payments::check(db, &gateways, &payment_id, T0 + 10)
            .await
            .unwrap(),
        Outcome::Pending
    );

    // She sends 1.20 USD worth; NowPayments' IPNs arrive at the bot.
    let plan = PayPlan {
        paid_amount: Some("1.20".into()),
        ..PayPlan::default()
    };
    let paid = control
        .pay_with(&invoice_id(&checkout), &plan)
        .await
        .unwrap();
    let mut outcomes = Vec::new();
    for ipn in &paid.ipns {
        let signature = ipn.signature.as_deref();
        let outcome =
            payments::nowpayments_ipn(db, &gateways, ipn.body.as_bytes(), signature, T0 + 60)
                .await
                .unwrap();
        outcomes.push(outcome);
    }
    assert_eq!(
        outcomes.last(),
        Some(&Outcome::PartiallyPaid {
            expected: Money::usd_cents(200),
            paid: Some(Money::usd_cents(120)),
        })
    );
    assert_eq!(shop.balance(SARA).await, Money::toman(0));
    assert_eq!(shop.status(&payment_id).await, Status::Mismatch);

    // The owner is alerted once, however often it is checked or replayed.
    let replay = control.replay(paid.payment_id).await.unwrap();
    payments::nowpayments_ipn(
        db,
        &gateways,
        replay.body.as_bytes(),
        replay.signature.as_deref(),
        T0 + 90,
    )
    .await
    .unwrap();
    let checked = payments::check(db, &gateways, &payment_id, T0 + 120)
        .await
        .unwrap();
    assert!(
        matches!(checked, Outcome::PartiallyPaid { .. }),
        "{checked:?}"
    );
    let alerts: Vec<Notice> = shop.notices_for(OWNER).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        matches!(&alerts[0], Notice::PaymentMismatch { payment_id: p, telegram_id, .. }
        if p == &payment_id && *telegram_id == SARA)
    );
    assert_eq!(shop.balance(SARA).await, Money::toman(0));

    // A forged IPN changes nothing.
    let forged = control.send_bad_signature(paid.payment_id).await.unwrap();
    let refused = payments::nowpayments_ipn(
        db,
        &gateways,
        forged.body.as_bytes(),
        forged.signature.as_deref(),
        T0 + 150,
    )
    .await;
    assert!(matches!(refused, Err(Error::Payment(_))), "{refused:?}");

    // A full payment of a new invoice is credited once, whatever the IPNs repeat.
    let checkout = payments::start(db, &gateways, SARA, &top_up, Method::NowPayments, T0 + 200)
        .await
        .unwrap();
    let paid = control.pay(&invoice_id(&checkout)).await.unwrap();
    let last = paid.ipns.last().unwrap();
    for _ in 0..2 {
        let outcome = payments::nowpayments_ipn(
            db,
            &gateways,
            last.body.as_bytes(),
            last.signature.as_deref(),
            T0 + 260,
        )
        .await
        .unwrap();
        assert!(
            matches!(outcome, Outcome::Credited(_) | Outcome::AlreadyApplied),
            "{outcome:?}"
        );
    }
    assert_eq!(shop.balance(SARA).await, Money::toman(120_000));
    assert_eq!(
        payments::check(db, &gateways, checkout.payment_id(), T0 + 300)
            .await
            .unwrap(),
        Outcome::AlreadyApplied
    );
    shop.close().await;
}

fn pre_checkout_query(payload: &str, stars: u32) -> PreCheckoutQuery {
    serde_json::from_value(serde_json::json!({
        "id": "pcq-1",
        "from": {"id": SARA, "is_bot": false, "first_name": "Sara"},
        "currency": "XTR",
        "total_amount": stars,
        "invoice_payload": payload,
    }))
    .unwrap()
}

fn successful_payment(payload: &str, stars: u32, charge: &str) -> SuccessfulPayment {
    serde_json::from_value(serde_json::json!({
        "currency": "XTR",
        "total_amount": stars,
        "invoice_payload": payload,
        "telegram_payment_charge_id": charge,
        "provider_payment_charge_id": "",
    }))
    .unwrap()
}

async fn a_payment_whose_order_was_cancelled_meanwhile_stays_in_the_wallet(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let db = shop.db();
    let gateways = shop.gateways(None);
    let order = shop.order(SARA, 150_000).await;

    // Stars at 1,100 Toman: 136.4 stars, rounded up to 137.
    let pay_order = Purpose::Order(order.id.clone());
    let checkout = payments::start(db, &gateways, SARA, &pay_order, Method::TelegramStars, T0)
        .await
        .unwrap();
    let Checkout::Stars {
        payment_id,
        amount,
        credit,
    } = &checkout
    else {
        panic!("expected a Stars invoice, got {checkout:?}");
    };
    assert_eq!(
        (*amount, *credit),
        (Money::stars(137), Money::toman(150_000))
    );
    let invoice = checkout
        .stars_invoice("One month", "30 days, 50 GB")
        .unwrap()
        .unwrap();
    assert_eq!(&invoice.payload, payment_id);
    let query = pre_checkout_query(payment_id, 137);
    assert_eq!(payments::pre_checkout(db, &query).await.unwrap(), Ok(()));
    let cheap = pre_checkout_query(payment_id, 100);
    assert!(payments::pre_checkout(db, &cheap).await.unwrap().is_err());

    // She cancels the order in another chat tab, then the stars arrive.
    assert!(orders::cancel(db, SARA, &order.id, T0 + 10).await.unwrap());
    let stars = successful_payment(payment_id, 137, "charge-1");
    let confirmed = credited(payments::stars_paid(db, &stars, T0 + 20).await.unwrap());
    assert_eq!(
        confirmed.order,
        Some(OrderResult::NotPayable {
            order_id: order.id.clone()
        })
    );
    assert_eq!(confirmed.order_to_fulfil(), None);
    assert_eq!(shop.order_state(&order.id).await, State::Cancelled);
    assert_eq!(shop.balance(SARA).await, Money::toman(150_000));
    let stored = payments::get(db, payment_id).await.unwrap().unwrap();
    assert_eq!(stored.provider_ref.as_deref(), Some("charge-1"));

    // Telegram delivers the message twice: nothing moves again.
    let replay = payments::stars_paid(db, &stars, T0 + 30).await.unwrap();
    assert_eq!(replay, Outcome::AlreadyApplied);
    assert_eq!(shop.balance(SARA).await, Money::toman(150_000));
    // The invoice cannot be paid again.
    assert!(payments::pre_checkout(db, &query).await.unwrap().is_err());
    shop.close().await;
}

async fn undecided_receipts_are_approved_after_the_tenants_wait(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let db = shop.db();
    let gateways = shop.gateways(Some(30));
    let order = shop.order(SARA, 90_000).await;
    let pay_order = Purpose::Order(order.id.clone());
    let checkout = payments::start(db, &gateways, SARA, &pay_order, Method::CardToCard, T0)
        .await
        .unwrap();
    let payment_id = checkout.payment_id().to_string();
    // Not before a receipt arrives.
    assert!(payments::auto_approve_due(db, &gateways, T0 + 3_600)
        .await
        .unwrap()
        .is_empty());
    let sent_at = T0 + 3_600;
    payments::submit_receipt(db, SARA, &payment_id, "photo-1", sent_at)
        .await
        .unwrap();

    // Without auto-approval nothing happens, however long it waits.
    let manual = shop.gateways(None);
    assert!(payments::auto_approve_due(db, &manual, sent_at + 86_400)
        .await
        .unwrap()
        .is_empty());
    // 29 minutes: still waiting for the owner.
    assert!(payments::auto_approve_due(db, &gateways, sent_at + 29 * 60)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(shop.status(&payment_id).await, Status::InReview);

    // 30 minutes: approved, and the order paid from the wallet.
    let applied = payments::auto_approve_due(db, &gateways, sent_at + 30 * 60)
        .await
        .unwrap();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].order_to_fulfil(), Some(order.id.as_str()));
    assert_eq!(shop.order_state(&order.id).await, State::Paid);
    assert_eq!(shop.balance(SARA).await, Money::toman(0));
    let stored = payments::get(db, &payment_id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.decided_by), (Status::Paid, None));

    // The timer runs again, and the owner taps approve late: nothing moves.
    assert!(payments::auto_approve_due(db, &gateways, sent_at + 31 * 60)
        .await
        .unwrap()
        .is_empty());
    let late = payments::approve(db, &payment_id, OWNER, sent_at + 40 * 60).await;
    assert_eq!(late.unwrap(), Approval::AlreadyApproved);
    assert_eq!(wallet::history(db, SARA, 10).await.unwrap().len(), 2);
    shop.close().await;
}

async fn a_method_the_shop_did_not_set_up_is_refused(engine: Engine) {
    let Some(shop) = Shop::open(engine).await else {
        return;
    };
    let db = shop.db();
    let urls = GatewayUrls::production(BOT);
    let only_cards = PaymentSetup {
        cards: vec![Card::new(MELLI, "Sara Ahmadi", "Melli").unwrap()],
        // Stars on, but without a rate it cannot be priced.
        stars: true,
        ..PaymentSetup::default()
    };
    let gateways = Gateways::from_setup(&only_cards, &shop.keyring, &urls).unwrap();
    assert_eq!(gateways.methods(), vec![Method::CardToCard]);
    let top_up = Purpose::TopUp(Money::toman(10_000));
    for method in [Method::Zarinpal, Method::NowPayments, Method::TelegramStars] {
        let refused = payments::start(db, &gateways, SARA, &top_up, method, T0).await;
        assert_eq!(payment_refusal(refused), PaymentRefusal::MethodOff);
    }
    let nothing = Purpose::TopUp(Money::toman(0));
    let refused = payments::start(db, &gateways, SARA, &nothing, Method::CardToCard, T0).await;
    assert_eq!(payment_refusal(refused), PaymentRefusal::BadAmount);
    shop.close().await;
}

shared::on_both_engines!(
    a_user_tops_up_by_card_and_the_owner_approves_it_once,
    a_receipt_is_rejected_with_a_reason_the_user_is_told,
    a_user_pays_an_order_through_zarinpal_and_replays_change_nothing,
    the_timer_finds_payments_whose_buyer_never_came_back,
    a_partially_paid_nowpayments_payment_is_not_credited,
    a_payment_whose_order_was_cancelled_meanwhile_stays_in_the_wallet,
    undecided_receipts_are_approved_after_the_tenants_wait,
    a_method_the_shop_did_not_set_up_is_refused,
);
