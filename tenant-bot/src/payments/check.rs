//! Asking gateways what happened (the buyer came back, a timer, an IPN, a Stars message), and
//! acting on the answer through [`super::confirm`]. Each is safe to repeat.

use shared::clock::DAY;
use shared::db::Db;
use shared::payment::stars::{self, CheckoutRefusal};
use shared::payment::{Gateway, Method, PendingPayment, Verdict};
use teloxide::types::{PreCheckoutQuery, SuccessfulPayment};

use super::confirm::{self, Confirmed};
use super::setup::Gateways;
use super::store::{self, Payment, Status};
use super::Outcome;
use crate::notices::{self, Notice};
use crate::Result;

fn pending_of(payment: &Payment) -> PendingPayment {
    PendingPayment {
        invoice_id: payment.id.clone(),
        amount: payment.amount,
        provider_ref: payment.provider_ref.clone(),
    }
}

/// Where a payment stands, asking its gateway when it can decide (Zarinpal's verify,
/// NowPayments' payment status). The bot calls this when the buyer comes back.
pub async fn check(db: &Db, gateways: &Gateways, payment_id: &str, now: i64) -> Result<Outcome> {
    let Some(payment) = store::get(db, payment_id).await? else {
        return Ok(Outcome::Unknown);
    };
    if payment.applied_at.is_some() {
        return Ok(Outcome::AlreadyApplied);
    }
    if let Some(outcome) = closed_by_us(&payment) {
        return Ok(outcome);
    }
    let verdict = match payment.method {
        // Decided by admins and by Telegram's message, never by asking.
        Method::CardToCard | Method::TelegramStars => return Ok(Outcome::Pending),
        Method::Zarinpal => {
            let (Some(gateway), Some(_)) = (&gateways.zarinpal, &payment.provider_ref) else {
                return Ok(Outcome::Pending);
            };
            gateway.verify(&pending_of(&payment)).await?
        }
        Method::NowPayments => {
            // Its payment id comes with the first IPN; until then nothing can be asked.
            let (Some(gateway), Some(id)) = (&gateways.nowpayments, &payment.provider_ref) else {
                return Ok(Outcome::Pending);
            };
            gateway.payment(id).await?.verdict(&pending_of(&payment))?
        }
    };
    confirm::apply_verdict(db, &payment, verdict, now).await
}

/// What a payment our side closed says without asking anyone.
fn closed_by_us(payment: &Payment) -> Option<Outcome> {
    let detail = payment.detail.clone().unwrap_or_default();
    match payment.status {
        Status::Rejected => Some(Outcome::Rejected { reason: detail }),
        Status::InReview => Some(Outcome::Pending),
        _ => None,
    }
}

/// For a timer: asks the gateways about pending Zarinpal and NowPayments payments younger
/// than a day, and marks older unpaid ones failed. Returns the payments applied now (the
/// caller fulfils their orders). One gateway failing does not stop the others.
pub async fn poll_pending(db: &Db, gateways: &Gateways, now: i64) -> Result<Vec<Confirmed>> {
    let since = now - DAY;
    store::expire_before(db, since, now).await?;
    let mut applied = Vec::new();
    for method in [Method::Zarinpal, Method::NowPayments] {
        for payment in store::with_status(db, method, Status::Pending, since).await? {
            if payment.provider_ref.is_none() {
                continue;
            }
            match check(db, gateways, &payment.id, now).await {
                Ok(Outcome::Credited(confirmed)) => applied.push(confirmed),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(payment = %payment.id, %method, %error, "checking a payment failed; next time");
                }
            }
        }
    }
    Ok(applied)
}

/// NowPayments posted an IPN (`body` and its `x-nowpayments-sig` header). A badly signed one
/// is refused with an error (answer it 400) and changes nothing.
pub async fn nowpayments_ipn(
    db: &Db,
    gateways: &Gateways,
    body: &[u8],
    signature: Option<&str>,
    now: i64,
) -> Result<Outcome> {
    let Some(gateway) = &gateways.nowpayments else {
        return Ok(Outcome::Unknown);
    };
    let event = gateway.verify_ipn(body, signature)?;
    let Some(payment_id) = event.order_id.as_deref() else {
        return Ok(Outcome::Unknown);
    };
    let Some(payment) = store::get(db, payment_id)
        .await?
        .filter(|p| p.method == Method::NowPayments)
    else {
        tracing::warn!(%payment_id, "a NowPayments IPN for a payment this bot does not know");
        return Ok(Outcome::Unknown);
    };
    // The first payment id seen is the one `check` asks about later.
    let mut tx = db.begin().await?;
    store::remember_provider_ref(&mut tx, &payment.id, &event.payment_id, now).await?;
    tx.commit().await?;
    let payment = store::get(db, &payment.id).await?.unwrap_or(payment);
    let pending = PendingPayment {
        provider_ref: Some(event.payment_id.clone()),
        ..pending_of(&payment)
    };
    let verdict = event.verdict(&pending)?;
    let other_payment = payment.provider_ref.as_deref() != Some(event.payment_id.as_str());
    if other_payment && payment.applied_at.is_some() && verdict.received().is_some() {
        // The buyer paid the same invoice twice: the second is not credited on its own.
        let detail = format!(
            "another NowPayments payment {} ({}) arrived after this one was applied",
            event.payment_id, event.status
        );
        let notice = Notice::PaymentMismatch {
            payment_id: payment.id.clone(),
            telegram_id: payment.telegram_id,
            detail,
        };
        let key = format!("payment:{}:extra:{}", payment.id, event.payment_id);
        notices::to_admins(db, &notice, &key, now).await?;
        return Ok(Outcome::AlreadyApplied);
    }
    confirm::apply_verdict(db, &payment, verdict, now).await
}

/// Telegram asks whether a Stars invoice may be paid: only a pending Stars payment, for its
/// amount. Answer with `stars::answer_pre_checkout` within 10 seconds.
pub async fn pre_checkout(
    db: &Db,
    query: &PreCheckoutQuery,
) -> Result<Result<(), CheckoutRefusal>> {
    let payment = store::get(db, &query.invoice_payload).await?.filter(|p| {
        p.method == Method::TelegramStars && p.status == Status::Pending && p.applied_at.is_none()
    });
    Ok(match payment {
        Some(payment) => stars::check_pre_checkout(query, &pending_of(&payment)),
        None => Err(CheckoutRefusal::WrongPayload {
            expected: String::new(),
            got: query.invoice_payload.clone(),
        }),
    })
}

/// A `successful_payment` message arrived: Telegram took the stars.
pub async fn stars_paid(
    db: &Db,
    successful_payment: &SuccessfulPayment,
    now: i64,
) -> Result<Outcome> {
    let paid = stars::parse_successful_payment(successful_payment)?;
    let Some(payment) = store::get(db, &paid.payload)
        .await?
        .filter(|p| p.method == Method::TelegramStars)
    else {
        tracing::error!(charge = %paid.charge_id, "a Stars payment for a payment this bot does not know");
        return Ok(Outcome::Unknown);
    };
    let verdict: Verdict = paid.verdict(&pending_of(&payment))?;
    confirm::apply_verdict(db, &payment, verdict, now).await
}
