//! The one place money comes in: [`confirm`] credits the wallet and pays the order, once.

use shared::db::Db;
use shared::money::Money;
use shared::payment::{Method, Verdict};

use super::store::{self, Payment, Status};
use super::Outcome;
use crate::notices::{self, Notice};
use crate::orders::{self, Paid};
use crate::wallet::{self, Reason, Tx};
use crate::{Error, Result};

/// A payment applied now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmed {
    pub payment_id: String,
    pub telegram_id: i64,
    /// What went into the wallet.
    pub credited: Money,
    /// What happened to the payment's order, when it had one.
    pub order: Option<OrderResult>,
}

impl Confirmed {
    /// The order to fulfil now, when this payment paid one.
    pub fn order_to_fulfil(&self) -> Option<&str> {
        match &self.order {
            Some(OrderResult::Paid { order_id }) => Some(order_id),
            _ => None,
        }
    }
}

/// What the payment did for its order. Whenever the order was not paid now, the money stays
/// in the wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderResult {
    /// Paid now from the wallet: the caller runs fulfilment.
    Paid { order_id: String },
    /// Paid before (from the wallet or by another payment).
    PaidBefore { order_id: String },
    /// Cancelled or finished meanwhile.
    NotPayable { order_id: String },
    /// The wallet does not cover the order (its price cannot change, so only after a debit).
    NotEnough {
        order_id: String,
        balance: Money,
        needed: Money,
    },
}

/// Applies a payment inside the caller's transaction: the guarded update lets exactly one
/// caller through; it credits the wallet (`payment:{id}`), pays the order from the wallet
/// and stores the user's notice. `None` when the payment had been applied before.
pub(super) async fn confirm(
    tx: &mut Tx<'_>,
    payment_id: &str,
    provider_ref: Option<&str>,
    decided_by: Option<i64>,
    now: i64,
) -> Result<Option<Confirmed>> {
    let claimed = sqlx::query(
        "UPDATE payments SET status = 'paid', applied_at = $2, updated_at = $2,
             decided_by = COALESCE($3, decided_by), provider_ref = COALESCE(provider_ref, $4)
         WHERE id = $1 AND applied_at IS NULL",
    )
    .bind(payment_id)
    .bind(now)
    .bind(decided_by)
    .bind(provider_ref)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if !claimed {
        return Ok(None);
    }
    let payment = store::get_tx(tx, payment_id)
        .await?
        .ok_or_else(|| Error::Corrupt(format!("payment {payment_id} vanished")))?;
    let reference = format!("payment:{}", payment.id);
    let credited = wallet::record(
        tx,
        payment.telegram_id,
        payment.credit,
        Reason::TopUp,
        &reference,
        now,
    )
    .await?;
    if !credited {
        // The ledger has it already: never credit twice, but say so, it should not happen.
        tracing::warn!(payment = %payment.id, "a payment's wallet credit existed before it was applied");
    }
    let order = match &payment.order_id {
        None => None,
        Some(order_id) => Some(pay_order(tx, order_id, now).await?),
    };
    let notice = Notice::PaymentCredited {
        payment_id: payment.id.clone(),
        amount_minor: payment.credit.minor(),
        currency: payment.credit.currency().as_code().to_string(),
    };
    notices::push_tx(
        tx,
        payment.telegram_id,
        &notice,
        &format!("payment:{}:credited", payment.id),
        now,
    )
    .await?;
    Ok(Some(Confirmed {
        payment_id: payment.id,
        telegram_id: payment.telegram_id,
        credited: payment.credit,
        order,
    }))
}

async fn pay_order(tx: &mut Tx<'_>, order_id: &str, now: i64) -> Result<OrderResult> {
    let paid = orders::pay_from_wallet_tx(tx, order_id, now).await?;
    let order_id = order_id.to_string();
    Ok(match paid {
        Paid::Now => OrderResult::Paid { order_id },
        Paid::Before => OrderResult::PaidBefore { order_id },
        Paid::NotPayable => OrderResult::NotPayable { order_id },
        Paid::NotEnough { balance, needed } => OrderResult::NotEnough {
            order_id,
            balance,
            needed,
        },
    })
}

/// [`confirm`] in a transaction of its own.
pub(super) async fn apply(
    db: &Db,
    payment_id: &str,
    provider_ref: Option<&str>,
    decided_by: Option<i64>,
    now: i64,
) -> Result<Outcome> {
    let mut tx = db.begin().await?;
    let confirmed = confirm(&mut tx, payment_id, provider_ref, decided_by, now).await?;
    tx.commit().await?;
    Ok(match confirmed {
        Some(confirmed) => Outcome::Credited(confirmed),
        None => Outcome::AlreadyApplied,
    })
}

/// Acts on what a gateway says about `payment`.
pub(super) async fn apply_verdict(
    db: &Db,
    payment: &Payment,
    verdict: Verdict,
    now: i64,
) -> Result<Outcome> {
    match verdict {
        Verdict::Pending => Ok(Outcome::Pending),
        Verdict::Paid {
            provider_ref,
            amount,
            ..
        } => {
            if amount != payment.amount {
                let detail = format!("asked {}, the gateway reports {amount}", payment.amount);
                let outcome = Outcome::Mismatch {
                    expected: payment.amount,
                    got: Some(amount),
                };
                return flag(db, payment, Some(&provider_ref), &detail, outcome, now).await;
            }
            apply(db, &payment.id, Some(&provider_ref), None, now).await
        }
        Verdict::PartiallyPaid {
            provider_ref,
            expected,
            paid,
        } => {
            let detail = match paid {
                Some(paid) => format!("partially paid: {paid} of {expected}"),
                None => format!("partially paid: less than {expected}"),
            };
            let outcome = Outcome::PartiallyPaid { expected, paid };
            flag(db, payment, Some(&provider_ref), &detail, outcome, now).await
        }
        Verdict::Mismatch {
            provider_ref,
            expected,
            got,
        } => {
            let detail = match got {
                Some(got) => format!("asked {expected}, the gateway reports {got}"),
                None => format!("asked {expected}, the gateway reports another amount"),
            };
            let outcome = Outcome::Mismatch { expected, got };
            flag(db, payment, Some(&provider_ref), &detail, outcome, now).await
        }
        Verdict::Failed { reason } => {
            // Zarinpal says "not paid" until the buyer pays on its page, so its payments stay
            // pending (and expire after a day); other gateways' failures are final.
            if payment.method != Method::Zarinpal {
                store::close(
                    db,
                    &payment.id,
                    &[Status::Pending],
                    Status::Failed,
                    &reason,
                    now,
                )
                .await?;
            }
            if is_applied(db, &payment.id).await? {
                return Ok(Outcome::AlreadyApplied);
            }
            Ok(Outcome::Failed { reason })
        }
    }
}

/// Money arrived that does not settle the payment: mark it, keep the provider's id, and alert
/// the admins once. Nothing is credited; an admin sorts it out.
async fn flag(
    db: &Db,
    payment: &Payment,
    provider_ref: Option<&str>,
    detail: &str,
    outcome: Outcome,
    now: i64,
) -> Result<Outcome> {
    let mut tx = db.begin().await?;
    if let Some(provider_ref) = provider_ref {
        store::remember_provider_ref(&mut tx, &payment.id, provider_ref, now).await?;
    }
    let from = [Status::Pending, Status::InReview, Status::Failed];
    let flagged = store::close_tx(
        &mut tx,
        &payment.id,
        &from,
        Status::Mismatch,
        detail,
        None,
        now,
    )
    .await?;
    if flagged {
        tracing::warn!(payment = %payment.id, %detail, "a payment's amount does not match");
        let notice = Notice::PaymentMismatch {
            payment_id: payment.id.clone(),
            telegram_id: payment.telegram_id,
            detail: detail.to_string(),
        };
        let key = format!("payment:{}:mismatch", payment.id);
        notices::to_admins_tx(&mut tx, &notice, &key, now).await?;
    }
    tx.commit().await?;
    if !flagged && is_applied(db, &payment.id).await? {
        return Ok(Outcome::AlreadyApplied);
    }
    Ok(outcome)
}

async fn is_applied(db: &Db, payment_id: &str) -> Result<bool> {
    Ok(store::get(db, payment_id)
        .await?
        .is_some_and(|p| p.applied_at.is_some()))
}
