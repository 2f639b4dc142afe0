//! The notice sender: delivers stored notices (`crate::notices`) on a timer and whenever it is
//! woken (right after an order is delivered inline), each in its reader's language. A notice
//! is marked sent only after Telegram took it; a person who blocked the bot gets no retries.

use std::time::Duration;

use teloxide::types::ChatId;
use teloxide::RequestError;
use tokio_util::sync::CancellationToken;

use super::notice_text::{self, Outgoing};
use super::services_ui::LinkMessage;
use super::users;
use crate::handler::TenantBot;
use crate::notices::{self, Pending};
use crate::Result;

/// Tries per notice before it is given up.
pub const MAX_ATTEMPTS: i64 = 8;
/// Notices taken per round.
const BATCH: i64 = 50;

impl TenantBot {
    /// Runs until `shutdown`: a round at start, then one per `every` or when woken.
    pub async fn run_notice_sender(self, every: Duration, shutdown: CancellationToken) {
        loop {
            loop {
                match self.send_due_notices().await {
                    // A full batch: there may be more waiting.
                    Ok(sent) if sent as i64 >= BATCH => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "the notice sender failed a round");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.inner.notices_due.notified() => {}
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    /// Sends every notice due now; returns how many were taken.
    pub async fn send_due_notices(&self) -> Result<usize> {
        let db = &self.inner.db;
        let due = notices::due(db, self.now(), BATCH).await?;
        for pending in &due {
            self.send_notice(pending).await?;
        }
        Ok(due.len())
    }

    async fn send_notice(&self, pending: &Pending) -> Result<()> {
        let db = &self.inner.db;
        let locale = users::locale_of(db, pending.telegram_id).await?;
        let rendered = notice_text::render(db, &self.inner.texts, locale, &pending.notice).await;
        let outgoing = match rendered {
            Ok(Some(outgoing)) => outgoing,
            Ok(None) => {
                tracing::info!(notice = %pending.id, "a notice about something gone is dropped");
                return notices::mark_dropped(db, &pending.id, self.now()).await;
            }
            Err(e) => {
                tracing::warn!(notice = %pending.id, error = %e, "cannot render a notice yet");
                let now = self.now();
                return notices::mark_failed(db, &pending.id, pending.attempts, MAX_ATTEMPTS, now)
                    .await;
            }
        };
        let chat = ChatId(pending.telegram_id);
        let now = self.now();
        match self.deliver_outgoing(chat, &outgoing).await {
            Ok(()) => notices::mark_sent(db, &pending.id, now).await,
            Err(e) if shared::telegram::polling::is_unreachable_user(&e) => {
                tracing::info!(
                    user = pending.telegram_id,
                    "cannot reach a user; notice dropped"
                );
                users::set_blocked(db, pending.telegram_id, now).await?;
                notices::mark_dropped(db, &pending.id, now).await
            }
            Err(e) => {
                tracing::warn!(notice = %pending.id, error = %e, "a notice could not be sent");
                notices::mark_failed(db, &pending.id, pending.attempts, MAX_ATTEMPTS, now).await
            }
        }
    }

    async fn deliver_outgoing(
        &self,
        chat: ChatId,
        outgoing: &Outgoing,
    ) -> Result<(), RequestError> {
        match outgoing {
            Outgoing::Text(screen) => self.try_send(chat, screen).await,
            Outgoing::Photo(photo) => self.try_send_photo(chat, photo).await,
            Outgoing::Link { link, then } => {
                match link {
                    LinkMessage::Photo(photo) => self.try_send_photo(chat, photo).await?,
                    LinkMessage::Text(screen) => self.try_send(chat, screen).await?,
                }
                // The link is what matters; the tips are a courtesy and not sent twice.
                if let Err(e) = self.try_send(chat, then).await {
                    tracing::warn!(error = %e, "the import tips could not be sent");
                }
                Ok(())
            }
        }
    }
}
