//! The life of a subscription in time: reminders before the end, a grace period after it,
//! suspension (bot stopped, data kept), and deletion after the retention period with a last
//! warning. Cancelled subscriptions end at the period's end and are deleted after retention.

use serde_json::json;
use shared::clock::DAY;
use shared::db::Db;

use crate::billing::orders;
use crate::billing::subscriptions::{self, Status, Subscription};
use crate::outbox::{self, args, Channel, NewMessage};
use crate::Result;

#[derive(Debug, Clone)]
pub struct Policy {
    /// Days before the end at which to remind, e.g. [7, 3, 1].
    pub reminder_days: Vec<i64>,
    /// Seconds the bot keeps running after an unpaid end.
    pub grace: i64,
    /// Seconds data is kept after suspension or cancellation before deletion.
    pub retention: i64,
    /// Seconds before deletion to send the last warning.
    pub last_warning: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            reminder_days: vec![7, 3, 1],
            grace: 3 * DAY,
            retention: 30 * DAY,
            last_warning: 3 * DAY,
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub invoices_expired: usize,
    pub reminders: usize,
    pub graced: usize,
    pub suspended: usize,
    pub cancelled: usize,
    pub warned: usize,
    pub deleted: usize,
}

pub async fn run_once(db: &Db, now: i64, policy: &Policy) -> Result<Report> {
    let mut report = Report {
        invoices_expired: orders::expire_lapsed(db, now).await?,
        ..Report::default()
    };
    let horizon = now + policy.reminder_days.iter().max().copied().unwrap_or(0) * DAY + 1;
    let live = [
        Status::Trial,
        Status::Active,
        Status::Grace,
        Status::Suspended,
        Status::Cancelled,
    ];
    for sub in subscriptions::ending_before(db, &live, horizon).await? {
        step(db, now, policy, &sub, &mut report).await?;
    }
    Ok(report)
}

async fn step(
    db: &Db,
    now: i64,
    policy: &Policy,
    sub: &Subscription,
    report: &mut Report,
) -> Result<()> {
    let end = sub.current_period_end;
    match sub.status {
        Status::Trial | Status::Active if end > now => {
            report.reminders +=
                usize::from(!sub.cancel_at_period_end && remind(db, now, policy, sub).await?);
        }
        Status::Trial | Status::Active if sub.cancel_at_period_end => {
            report.cancelled += usize::from(
                move_and_tell(db, now, sub, Status::Cancelled, "subscription_cancelled").await?,
            );
        }
        Status::Trial | Status::Active => {
            report.graced += usize::from(
                move_and_tell(db, now, sub, Status::Grace, "subscription_grace").await?,
            );
        }
        Status::Grace if end + policy.grace <= now => {
            report.suspended += usize::from(
                move_and_tell(db, now, sub, Status::Suspended, "subscription_suspended").await?,
            );
        }
        Status::Suspended | Status::Cancelled => {
            let ended = if sub.status == Status::Suspended {
                end + policy.grace
            } else {
                end
            };
            let delete_at = ended + policy.retention;
            if delete_at <= now {
                if move_and_tell(db, now, sub, Status::Deleted, "subscription_deleted").await? {
                    report.deleted += 1;
                }
            } else if delete_at - policy.last_warning <= now
                && tell(
                    db,
                    now,
                    sub,
                    "subscription_last_warning",
                    &format!("warning:{}", sub.id),
                    delete_at,
                )
                .await?
            {
                report.warned += 1;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The nearest reminder not yet sent; only one per run, so a job that was down for days does
/// not send three reminders at once.
async fn remind(db: &Db, now: i64, policy: &Policy, sub: &Subscription) -> Result<bool> {
    let left = sub.current_period_end - now;
    let Some(days) = policy
        .reminder_days
        .iter()
        .copied()
        .filter(|d| left <= d * DAY)
        .min()
    else {
        return Ok(false);
    };
    let key = format!("reminder:{days}:{}:{}", sub.id, sub.current_period_end);
    tell(
        db,
        now,
        sub,
        "subscription_reminder",
        &key,
        sub.current_period_end,
    )
    .await
}

/// Moves the subscription and records the message about it in one transaction.
async fn move_and_tell(
    db: &Db,
    now: i64,
    sub: &Subscription,
    to: Status,
    template: &str,
) -> Result<bool> {
    let mut tx = db.begin().await?;
    let moved = subscriptions::transition_tx(&mut tx, &sub.id, &[sub.status], to, now).await?;
    if moved {
        let key = format!("{}:{}:{}", to.as_str(), sub.id, sub.current_period_end);
        for channel in [Channel::Telegram, Channel::Email] {
            let message = message(sub, channel, template, &key, sub.current_period_end);
            outbox::enqueue(&mut *tx, &message, now).await?;
        }
    }
    tx.commit().await?;
    Ok(moved)
}

/// Records a message (on both channels) unless it was recorded before.
async fn tell(
    db: &Db,
    now: i64,
    sub: &Subscription,
    template: &str,
    key: &str,
    date: i64,
) -> Result<bool> {
    let mut tx = db.begin().await?;
    let mut new = false;
    for channel in [Channel::Telegram, Channel::Email] {
        new |= outbox::enqueue(&mut *tx, &message(sub, channel, template, key, date), now).await?;
    }
    tx.commit().await?;
    Ok(new)
}

fn message<'a>(
    sub: &'a Subscription,
    channel: Channel,
    template: &'a str,
    key: &str,
    date: i64,
) -> NewMessage<'a> {
    NewMessage {
        key: format!("{}:{key}", channel.as_str()),
        channel,
        recipient: &sub.customer_id,
        template,
        args: args([
            ("package_fa", json!(sub.terms.name_fa)),
            ("package_en", json!(sub.terms.name_en)),
            ("date", json!(date)),
            ("subscription_id", json!(sub.id)),
        ]),
    }
}
