//! Card-to-card: the user sends a receipt photo, the shop's admins approve or reject it, or it
//! is approved on its own after the tenant's chosen wait.

use shared::db::Db;
use shared::payment::card::AutoApprove;
use shared::payment::Method;

use super::confirm::{self, Confirmed};
use super::setup::Gateways;
use super::store::{self, Status};
use super::PaymentRefusal;
use crate::admins;
use crate::notices::{self, Notice};
use crate::Result;

/// What [`submit_receipt`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// In review now; the admins were told.
    Sent,
    /// A receipt for it waits for review already (a second photo or a double tap).
    AlreadyInReview,
}

/// What [`approve`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    Approved(Confirmed),
    /// Approved before (by this or another admin, or automatically): nothing moved.
    AlreadyApproved,
}

/// What [`reject`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Rejected now; the user was told why.
    Rejected,
    AlreadyRejected,
}

/// The user sent the photo of their transfer for a card-to-card payment.
pub async fn submit_receipt(
    db: &Db,
    telegram_id: i64,
    payment_id: &str,
    file_id: &str,
    now: i64,
) -> Result<Receipt> {
    let mut tx = db.begin().await?;
    let payment = store::get_tx(&mut tx, payment_id)
        .await?
        .filter(|p| p.telegram_id == telegram_id && p.method == Method::CardToCard)
        .ok_or(PaymentRefusal::NoSuchPayment)?;
    if payment.applied_at.is_none() && payment.status == Status::InReview {
        return Ok(Receipt::AlreadyInReview);
    }
    let sent = sqlx::query(
        "UPDATE payments SET status = 'in_review', receipt_file_id = $2, submitted_at = $3,
             updated_at = $3
         WHERE id = $1 AND status = 'pending' AND applied_at IS NULL",
    )
    .bind(payment_id)
    .bind(file_id)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !sent {
        return Err(PaymentRefusal::ReceiptNotExpected.into());
    }
    let notice = Notice::ReceiptToReview {
        payment_id: payment_id.to_string(),
    };
    notices::to_admins_tx(
        &mut tx,
        &notice,
        &format!("payment:{payment_id}:receipt"),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Receipt::Sent)
}

/// An admin approves a card-to-card payment: the wallet is credited and its order paid.
pub async fn approve(
    db: &Db,
    payment_id: &str,
    admin_telegram_id: i64,
    now: i64,
) -> Result<Approval> {
    if !admins::is_admin(db, admin_telegram_id).await? {
        return Err(PaymentRefusal::NotAnAdmin.into());
    }
    let payment = store::get(db, payment_id)
        .await?
        .filter(|p| p.method == Method::CardToCard)
        .ok_or(PaymentRefusal::NoSuchPayment)?;
    if payment.applied_at.is_some() {
        return Ok(Approval::AlreadyApproved);
    }
    let mut tx = db.begin().await?;
    let confirmed =
        confirm::confirm(&mut tx, payment_id, None, Some(admin_telegram_id), now).await?;
    tx.commit().await?;
    Ok(match confirmed {
        Some(confirmed) => Approval::Approved(confirmed),
        None => Approval::AlreadyApproved,
    })
}

/// An admin rejects a card-to-card receipt; the user is told `reason`.
pub async fn reject(
    db: &Db,
    payment_id: &str,
    admin_telegram_id: i64,
    reason: &str,
    now: i64,
) -> Result<Rejection> {
    if !admins::is_admin(db, admin_telegram_id).await? {
        return Err(PaymentRefusal::NotAnAdmin.into());
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(PaymentRefusal::ReasonRequired.into());
    }
    let mut tx = db.begin().await?;
    let payment = store::get_tx(&mut tx, payment_id)
        .await?
        .filter(|p| p.method == Method::CardToCard)
        .ok_or(PaymentRefusal::NoSuchPayment)?;
    let from = [Status::Pending, Status::InReview];
    let rejected = store::close_tx(
        &mut tx,
        payment_id,
        &from,
        Status::Rejected,
        reason,
        Some(admin_telegram_id),
        now,
    )
    .await?;
    if !rejected {
        return match (payment.applied_at, payment.status) {
            (Some(_), _) => Err(PaymentRefusal::AlreadyApproved.into()),
            (None, Status::Rejected) => Ok(Rejection::AlreadyRejected),
            _ => Err(PaymentRefusal::ReceiptNotExpected.into()),
        };
    }
    let notice = Notice::PaymentRejected {
        payment_id: payment_id.to_string(),
        reason: reason.to_string(),
    };
    let key = format!("payment:{payment_id}:rejected");
    notices::push_tx(&mut tx, payment.telegram_id, &notice, &key, now).await?;
    tx.commit().await?;
    Ok(Rejection::Rejected)
}

/// Approves receipts nobody decided within the tenant's wait. Returns what was applied now
/// (the caller fulfils the orders paid). Safe to run twice, or at the same time.
pub async fn auto_approve_due(db: &Db, gateways: &Gateways, now: i64) -> Result<Vec<Confirmed>> {
    let AutoApprove::After { minutes } = gateways.auto_approve() else {
        return Ok(Vec::new());
    };
    let due_before = now - i64::from(minutes) * 60;
    let mut applied = Vec::new();
    for payment in store::receipts_sent_before(db, due_before).await? {
        let mut tx = db.begin().await?;
        let confirmed = confirm::confirm(&mut tx, &payment.id, None, None, now).await?;
        tx.commit().await?;
        applied.extend(confirmed);
    }
    Ok(applied)
}
