//! Delivers the outbox: Telegram messages to customers, email, and the staff group. A message
//! that cannot be delivered now is tried again later; one that can never be (no email address,
//! a user who blocked the bot) is closed with the reason.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use shared::db::Db;
use shared::i18n::{Arg, Catalog, Locale};
use shared::money::{Currency, Money};
use shared::telegram::polling::{is_unreachable_user, with_rate_limit_retry};
use teloxide::payloads::{SendMessageSetters, SendPhotoSetters};
use teloxide::requests::Requester;
use teloxide::types::{
    ChatId, FileId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, ParseMode,
};
use teloxide::Bot;
use tokio_util::sync::CancellationToken;

use crate::customers::{self, Customer};
use crate::mail::Mailer;
use crate::outbox::{self, Channel, Message};
use crate::Result;

#[derive(Clone)]
pub struct Notifier {
    pub db: Db,
    pub telegram: Option<Bot>,
    pub texts: Arc<Catalog>,
    pub mailer: Option<Mailer>,
    pub staff_chat: Option<i64>,
    pub default_locale: Locale,
}

/// What one delivery round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    pub sent: usize,
    pub skipped: usize,
    pub failed: usize,
}

enum Done {
    Sent,
    /// Can never be delivered; the reason is recorded.
    Skipped(String),
}

impl Notifier {
    /// Delivers everything due at `now`.
    pub async fn deliver_due(&self, now: i64) -> Result<Delivery> {
        let mut delivery = Delivery::default();
        for message in outbox::due(&self.db, now, 100).await? {
            match self.deliver(&message).await {
                Ok(Done::Sent) => {
                    outbox::mark_sent(&self.db, &message.id, now).await?;
                    delivery.sent += 1;
                }
                Ok(Done::Skipped(reason)) => {
                    tracing::info!(key = %message.key, %reason, "message not deliverable");
                    outbox::mark_failed(&self.db, &message, &reason, now).await?;
                    outbox::mark_sent(&self.db, &message.id, now).await?;
                    delivery.skipped += 1;
                }
                Err(error) => {
                    tracing::warn!(key = %message.key, %error, "delivery failed; will retry");
                    outbox::mark_failed(&self.db, &message, &error, now).await?;
                    delivery.failed += 1;
                }
            }
        }
        Ok(delivery)
    }

    /// Delivers every few seconds until `shutdown`.
    pub async fn run(self, clock: Arc<dyn shared::clock::Clock>, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.deliver_due(clock.now()).await {
                tracing::error!(error = %e, "outbox delivery round failed");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    }

    async fn deliver(&self, message: &Message) -> std::result::Result<Done, String> {
        match message.channel {
            Channel::Staff => {
                let Some(chat) = self.staff_chat else {
                    return Ok(Done::Skipped("no staff chat is configured".into()));
                };
                let values = values(message, None, self.default_locale);
                let text =
                    self.texts
                        .text_html(self.default_locale, &message.template, &args(&values));
                let photo = message.args.get("photo").and_then(Value::as_str);
                self.telegram_send(ChatId(chat), text, buttons(message), photo)
                    .await
            }
            Channel::Telegram => {
                let customer = self.customer(&message.recipient).await?;
                let Some(id) = customer.telegram_id else {
                    return Ok(Done::Skipped("the customer has no Telegram account".into()));
                };
                let locale = customer.locale(self.default_locale);
                let values = values(message, Some(&customer), locale);
                let text = self
                    .texts
                    .text_html(locale, &message.template, &args(&values));
                self.telegram_send(ChatId(id.get()), text, buttons(message), None)
                    .await
            }
            Channel::Email => {
                let Some(mailer) = &self.mailer else {
                    return Ok(Done::Skipped("email is not configured".into()));
                };
                let customer = self.customer(&message.recipient).await?;
                let Some(email) = customer.email.as_deref() else {
                    return Ok(Done::Skipped("the customer has no email address".into()));
                };
                let locale = customer.locale(self.default_locale);
                let values = values(message, Some(&customer), locale);
                mailer
                    .send(email, locale, &message.template, &args(&values))
                    .await
                    .map(|()| Done::Sent)
                    .map_err(|e| e.to_string())
            }
        }
    }

    async fn customer(&self, id: &str) -> std::result::Result<Customer, String> {
        customers::get(&self.db, id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("customer {id} not found"))
    }

    async fn telegram_send(
        &self,
        chat: ChatId,
        text: String,
        keyboard: Option<InlineKeyboardMarkup>,
        photo: Option<&str>,
    ) -> std::result::Result<Done, String> {
        let Some(bot) = &self.telegram else {
            return Ok(Done::Skipped("Telegram is not configured".into()));
        };
        let sent = with_rate_limit_retry(|| async {
            match photo {
                // A receipt for staff: the photo itself, the text as its caption.
                Some(file_id) => {
                    let file = InputFile::file_id(FileId(file_id.to_string()));
                    let mut request = bot
                        .send_photo(chat, file)
                        .caption(text.clone())
                        .parse_mode(ParseMode::Html);
                    if let Some(markup) = keyboard.clone() {
                        request = request.reply_markup(markup);
                    }
                    request.await.map(|_| ())
                }
                None => {
                    let mut request = bot
                        .send_message(chat, text.clone())
                        .parse_mode(ParseMode::Html);
                    if let Some(markup) = keyboard.clone() {
                        request = request.reply_markup(markup);
                    }
                    request.await.map(|_| ())
                }
            }
        })
        .await;
        match sent {
            Ok(_) => Ok(Done::Sent),
            Err(e) if is_unreachable_user(&e) => Ok(Done::Skipped(e.to_string())),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The message's arguments with `name` (the customer's) and `package` (in their language).
fn values(message: &Message, customer: Option<&Customer>, locale: Locale) -> Vec<(String, Value)> {
    let mut values: Vec<(String, Value)> = message
        .args
        .iter()
        .filter(|(k, _)| k.as_str() != "buttons" && k.as_str() != "photo")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(customer) = customer {
        values.push(("name".into(), Value::String(customer.first_name.clone())));
    }
    // An amount travels as minor units and a currency code; shown as money.
    if let (Some(minor), Some(currency)) = (
        message.args.get("amount_minor").and_then(Value::as_i64),
        message.args.get("currency").and_then(Value::as_str),
    ) {
        values.push((
            "amount".into(),
            serde_json::json!({"minor": minor, "currency": currency}),
        ));
    }
    let package_key = match locale {
        Locale::Fa => "package_fa",
        Locale::En => "package_en",
    };
    if let Some(package) = message.args.get(package_key) {
        values.push(("package".into(), package.clone()));
    }
    values
}

fn args(values: &[(String, Value)]) -> Vec<(&str, Arg<'_>)> {
    values
        .iter()
        .filter_map(|(key, value)| {
            let arg = match value {
                Value::String(s) => Arg::Text(s),
                Value::Number(n) if key == "date" || key.ends_with("_at") => Arg::Date(n.as_i64()?),
                Value::Number(n) => Arg::Number(n.as_i64()?),
                Value::Object(money) => {
                    let minor = money.get("minor")?.as_i64()?;
                    let currency = Currency::from_code(money.get("currency")?.as_str()?).ok()?;
                    Arg::Money(Money::new(minor, currency))
                }
                _ => return None,
            };
            Some((key.as_str(), arg))
        })
        .collect()
}

/// Optional inline buttons, stored as `buttons: [[{"text", "data"}]]`.
fn buttons(message: &Message) -> Option<InlineKeyboardMarkup> {
    let rows = message.args.get("buttons")?.as_array()?;
    let rows: Vec<Vec<InlineKeyboardButton>> = rows
        .iter()
        .filter_map(Value::as_array)
        .map(|row| {
            row.iter()
                .filter_map(|b| {
                    Some(InlineKeyboardButton::callback(
                        b.get("text")?.as_str()?.to_string(),
                        b.get("data")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .collect();
    Some(InlineKeyboardMarkup::new(rows))
}
