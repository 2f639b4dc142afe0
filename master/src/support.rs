//! Support tickets: a customer writes to platform staff from the bot; staff answer from the
//! staff group; the customer is told. Every message is kept.

use serde_json::json;
use shared::db::{new_id, Db, RowExt};

use crate::outbox::{self, args, Channel, NewMessage};
use crate::Result;

/// Longest ticket message kept; Telegram's own limit is 4096.
pub const MAX_BODY_CHARS: usize = 3000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub id: String,
    pub customer_id: String,
    pub status: String,
}

/// Opens a ticket with the customer's first message and tells staff.
pub async fn open(
    db: &Db,
    now: i64,
    customer_id: &str,
    customer_name: &str,
    telegram_id: i64,
    body: &str,
) -> Result<Ticket> {
    let body: String = body.chars().take(MAX_BODY_CHARS).collect();
    let id = new_id();
    let mut tx = db.begin().await?;
    sqlx::query("INSERT INTO tickets (id, customer_id, status, created_at, updated_at) VALUES ($1, $2, 'open', $3, $3)")
        .bind(&id)
        .bind(customer_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    add_message(&mut tx, &id, "customer", customer_name, &body, now).await?;
    let buttons = json!([[{"text": "✍️", "data": format!("tr:{id}")}]]);
    let notice = NewMessage {
        key: format!("staff:ticket:{id}"),
        channel: Channel::Staff,
        recipient: "",
        template: "staff_ticket",
        args: args([
            ("customer_name", json!(customer_name)),
            ("telegram_id", json!(telegram_id.to_string())),
            ("body", json!(body)),
            ("buttons", buttons),
        ]),
    };
    outbox::enqueue(&mut *tx, &notice, now).await?;
    tx.commit().await?;
    Ok(Ticket {
        id,
        customer_id: customer_id.to_string(),
        status: "open".into(),
    })
}

async fn add_message(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ticket_id: &str,
    author: &str,
    author_name: &str,
    body: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO ticket_messages (id, ticket_id, author, author_name, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_id())
    .bind(ticket_id)
    .bind(author)
    .bind(author_name)
    .bind(body)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Staff answer a ticket; the customer gets the answer in the bot. False for an unknown ticket.
pub async fn answer(
    db: &Db,
    now: i64,
    ticket_id: &str,
    staff_name: &str,
    body: &str,
) -> Result<bool> {
    let body: String = body.chars().take(MAX_BODY_CHARS).collect();
    let mut tx = db.begin().await?;
    let customer: Option<String> =
        sqlx::query_scalar("SELECT customer_id FROM tickets WHERE id = $1")
            .bind(ticket_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(customer) = customer else {
        return Ok(false);
    };
    add_message(&mut tx, ticket_id, "staff", staff_name, &body, now).await?;
    sqlx::query("UPDATE tickets SET status = 'answered', updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(ticket_id)
        .execute(&mut *tx)
        .await?;
    let message = NewMessage {
        key: format!("telegram:ticket_answer:{ticket_id}:{now}:{}", body.len()),
        channel: Channel::Telegram,
        recipient: &customer,
        template: "ticket_answer",
        args: args([("body", json!(body))]),
    };
    outbox::enqueue(&mut *tx, &message, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// A ticket's messages, oldest first: (author, name, body).
pub async fn messages(db: &Db, ticket_id: &str) -> Result<Vec<(String, String, String)>> {
    let rows = sqlx::query(
        "SELECT author, author_name, body FROM ticket_messages WHERE ticket_id = $1 ORDER BY created_at, id",
    )
    .bind(ticket_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("author")?,
                r.try_get("author_name")?,
                r.try_get("body")?,
            ))
        })
        .collect()
}

pub async fn of_customer(db: &Db, customer_id: &str) -> Result<Vec<Ticket>> {
    let rows = sqlx::query(
        "SELECT id, customer_id, status FROM tickets WHERE customer_id = $1 ORDER BY created_at, id",
    )
    .bind(customer_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Ticket {
                id: r.try_get("id")?,
                customer_id: r.try_get("customer_id")?,
                status: r.try_get("status")?,
            })
        })
        .collect()
}
