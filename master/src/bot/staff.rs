//! The staff group: approving or rejecting card-to-card receipts. Only buttons pressed in the
//! configured staff group count; the same buttons anywhere else do nothing.

use shared::i18n::Arg;
use teloxide::payloads::SendMessageSetters;
use teloxide::requests::Requester;
use teloxide::types::{CallbackQuery, ChatId, ForceReply, Message, User};

use super::conversation::{self, Waiting};
use super::handler::MasterBot;
use crate::billing::payments::Outcome;
use crate::checkout;
use crate::Result;

impl MasterBot {
    fn staff_name(user: &User) -> String {
        match &user.username {
            Some(name) => format!("@{name}"),
            None => user.first_name.clone(),
        }
    }

    pub(super) async fn on_staff_approve(
        &self,
        query: &CallbackQuery,
        payment_id: &str,
    ) -> Result<()> {
        let t = &self.inner.texts;
        let locale = self.inner.default_locale;
        let staff = Self::staff_name(&query.from);
        let outcome =
            checkout::approve_receipt(&self.inner.db, self.now(), payment_id, &staff).await?;
        let note = match outcome {
            Outcome::Applied { .. } => {
                t.text(locale, "staff_approved", &[("staff", Arg::Text(&staff))])
            }
            _ => t.text(locale, "staff_already_decided", &[]),
        };
        self.answer(query, Some(note.clone())).await;
        self.mark_decided(query, &note).await
    }

    pub(super) async fn on_staff_reject(
        &self,
        query: &CallbackQuery,
        payment_id: &str,
    ) -> Result<()> {
        let t = &self.inner.texts;
        let locale = self.inner.default_locale;
        conversation::set(
            &self.inner.db,
            query.from.id.0 as i64,
            &Waiting::RejectReason {
                payment_id: payment_id.to_string(),
            },
            self.now(),
        )
        .await?;
        self.answer(query, None).await;
        if let Some(chat) = self.inner.services.staff_chat {
            let ask = format!(
                "{} {}",
                Self::staff_name(&query.from),
                t.text(locale, "staff_reject_ask", &[])
            );
            self.inner
                .bot
                .send_message(ChatId(chat), ask)
                .reply_markup(ForceReply::new().selective())
                .await?;
        }
        Ok(())
    }

    pub(super) async fn on_staff_answer(
        &self,
        query: &CallbackQuery,
        ticket_id: &str,
    ) -> Result<()> {
        conversation::set(
            &self.inner.db,
            query.from.id.0 as i64,
            &Waiting::TicketAnswer {
                ticket_id: ticket_id.to_string(),
            },
            self.now(),
        )
        .await?;
        self.answer(query, None).await;
        if let Some(chat) = self.inner.services.staff_chat {
            let ask = format!(
                "{} {}",
                Self::staff_name(&query.from),
                self.inner
                    .texts
                    .text(self.inner.default_locale, "staff_answer_ask", &[])
            );
            self.inner
                .bot
                .send_message(ChatId(chat), ask)
                .reply_markup(ForceReply::new().selective())
                .await?;
        }
        Ok(())
    }

    /// A staff member's text in the staff group: the reason for a rejection, or the answer to
    /// a ticket, that they started.
    pub(super) async fn on_staff_message(&self, message: &Message, user: &User) -> Result<()> {
        let db = &self.inner.db;
        let Some(text) = message.text() else {
            return Ok(());
        };
        let waiting = conversation::get(db, user.id.0 as i64).await?;
        if let Some(Waiting::TicketAnswer { ticket_id }) = &waiting {
            conversation::clear(db, user.id.0 as i64).await?;
            let staff = Self::staff_name(user);
            let key = if crate::support::answer(db, self.now(), ticket_id, &staff, text).await? {
                "staff_answer_sent"
            } else {
                "staff_already_decided"
            };
            let note = self.inner.texts.text(self.inner.default_locale, key, &[]);
            self.inner.bot.send_message(message.chat.id, note).await?;
            return Ok(());
        }
        let Some(Waiting::RejectReason { payment_id }) = waiting else {
            return Ok(());
        };
        conversation::clear(db, user.id.0 as i64).await?;
        let staff = Self::staff_name(user);
        let reason: String = text.chars().take(500).collect();
        let t = &self.inner.texts;
        let locale = self.inner.default_locale;
        let note = if checkout::reject_receipt(db, self.now(), &payment_id, &staff, &reason).await?
        {
            t.text(
                locale,
                "staff_rejected",
                &[("staff", Arg::Text(&staff)), ("reason", Arg::Text(&reason))],
            )
        } else {
            t.text(locale, "staff_already_decided", &[])
        };
        self.inner.bot.send_message(message.chat.id, note).await?;
        Ok(())
    }

    /// Replaces the receipt's buttons with who decided, so nobody decides twice by accident.
    async fn mark_decided(&self, query: &CallbackQuery, note: &str) -> Result<()> {
        let Some(message) = query.message.as_ref() else {
            return Ok(());
        };
        let chat = message.chat().id;
        // The receipt is a photo with a caption; say who decided under it.
        self.inner
            .bot
            .edit_message_reply_markup(chat, message.id())
            .await
            .ok();
        self.inner.bot.send_message(chat, note.to_string()).await?;
        Ok(())
    }
}
