//! Turns Telegram updates into calls on the core and sends what the core renders.

use std::sync::Arc;

use shared::db::Db;
use shared::i18n::{Catalog, Locale};
use shared::telegram::polling::{is_unreachable_user, with_rate_limit_retry, UpdateHandler};
use shared::telegram::TelegramId;
use teloxide::payloads::{AnswerCallbackQuerySetters, EditMessageTextSetters, SendMessageSetters};
use teloxide::requests::Requester;
use teloxide::types::{
    CallbackQuery, ChatId, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message,
    MessageId, ParseMode, Update, UpdateKind, User,
};
use teloxide::{ApiError, Bot, RequestError};

use super::actions::{Action, Page};
use super::screens::{self, Screen};
use crate::billing::packages;
use crate::customers::{self, Customer, TelegramProfile};
use crate::Result;

/// Longest text we treat as a normal message; longer ones get a polite note.
const LONG_TEXT_CHARS: usize = 1000;

/// Everything the master bot needs to answer an update. Cheap to clone.
#[derive(Clone)]
pub struct MasterBot {
    inner: Arc<Inner>,
}

struct Inner {
    bot: Bot,
    db: Db,
    texts: Catalog,
    default_locale: Locale,
}

impl MasterBot {
    pub fn new(bot: Bot, db: Db, texts: Catalog, default_locale: Locale) -> MasterBot {
        MasterBot {
            inner: Arc::new(Inner {
                bot,
                db,
                texts,
                default_locale,
            }),
        }
    }

    pub fn telegram(&self) -> &Bot {
        &self.inner.bot
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn texts(&self) -> &Catalog {
        &self.inner.texts
    }

    /// Handles one update. Errors are for the caller to log.
    pub async fn handle(&self, update: Update) -> Result<()> {
        match update.kind {
            UpdateKind::Message(message) => self.on_message(message).await,
            UpdateKind::CallbackQuery(query) => self.on_callback(query).await,
            // Edited messages, channel posts and the rest need no answer.
            _ => Ok(()),
        }
    }

    async fn remember(&self, user: &User) -> Result<Customer> {
        let profile = TelegramProfile {
            id: TelegramId::new(user.id.0 as i64),
            first_name: user.first_name.clone(),
            username: user.username.clone(),
            language_code: user.language_code.clone(),
        };
        customers::upsert_from_telegram(&self.inner.db, &profile).await
    }

    async fn on_message(&self, message: Message) -> Result<()> {
        // The master bot talks to customers one to one; groups come with staff notifications.
        if !message.chat.is_private() {
            return Ok(());
        }
        let Some(user) = message.from.as_ref() else {
            return Ok(());
        };
        let customer = self.remember(user).await?;
        let locale = customer.locale(self.inner.default_locale);
        let chat = message.chat.id;
        let t = &self.inner.texts;

        let screen = match message.text() {
            Some(text) if text.starts_with('/') => match command_name(text) {
                "start" => self.home(locale, &customer).await?,
                "language" | "lang" => screens::choose_language(t, locale),
                "help" => screens::notice(t, locale, "help"),
                _ => screens::notice(t, locale, "unknown_command"),
            },
            Some(text) if text.chars().count() > LONG_TEXT_CHARS => {
                screens::notice(t, locale, "text_too_long")
            }
            Some(_) => screens::notice(t, locale, "use_buttons"),
            None => screens::notice(t, locale, "unsupported_message"),
        };
        self.send(chat, &screen).await
    }

    async fn on_callback(&self, query: CallbackQuery) -> Result<()> {
        let customer = self.remember(&query.from).await?;
        let t = &self.inner.texts;
        let action = query.data.as_deref().and_then(Action::decode);
        let Some(action) = action else {
            let locale = customer.locale(self.inner.default_locale);
            self.answer(&query, Some(t.text(locale, "button_expired", &[])))
                .await;
            return Ok(());
        };

        let (locale, page, note) = match action {
            Action::Show(page) => (customer.locale(self.inner.default_locale), page, None),
            Action::SetLocale(locale, page) => {
                customers::set_locale(
                    &self.inner.db,
                    TelegramId::new(query.from.id.0 as i64),
                    locale,
                )
                .await?;
                (locale, page, Some(t.text(locale, "language_set", &[])))
            }
        };
        let (screen, note) = match page {
            Page::Home => (self.home(locale, &customer).await?, note),
            Page::Package(code) => match packages::on_sale_by_code(&self.inner.db, &code).await? {
                Some(p) => (screens::package(t, locale, &p), note),
                None => (
                    self.home(locale, &customer).await?,
                    Some(t.text(locale, "package_gone", &[])),
                ),
            },
        };
        self.answer(&query, note).await;

        match query.message.as_ref() {
            Some(message) => self.edit(message.chat().id, message.id(), &screen).await,
            // Too old to edit (or an inline message): answer with a new one.
            None => self.send(ChatId(query.from.id.0 as i64), &screen).await,
        }
    }

    async fn home(&self, locale: Locale, customer: &Customer) -> Result<Screen> {
        let on_sale = packages::on_sale(&self.inner.db).await?;
        Ok(screens::home(
            &self.inner.texts,
            locale,
            &customer.first_name,
            &on_sale,
        ))
    }

    async fn answer(&self, query: &CallbackQuery, text: Option<String>) {
        let mut request = self.inner.bot.answer_callback_query(query.id.clone());
        if let Some(text) = text {
            request = request.text(text);
        }
        // A late answer is harmless to the user: the button just stops spinning.
        if let Err(e) = request.await {
            tracing::debug!(error = %e, "answerCallbackQuery failed");
        }
    }

    async fn send(&self, chat: ChatId, screen: &Screen) -> Result<()> {
        with_rate_limit_retry(|| async {
            let mut request = self
                .inner
                .bot
                .send_message(chat, screen.text.clone())
                .parse_mode(ParseMode::Html)
                .link_preview_options(no_preview());
            if let Some(markup) = keyboard(screen) {
                request = request.reply_markup(markup);
            }
            request.await.map(|_| ())
        })
        .await
        .or_else(ignore_unreachable_user)
    }

    async fn edit(&self, chat: ChatId, message: MessageId, screen: &Screen) -> Result<()> {
        let result = with_rate_limit_retry(|| async {
            let mut request = self
                .inner
                .bot
                .edit_message_text(chat, message, screen.text.clone())
                .parse_mode(ParseMode::Html)
                .link_preview_options(no_preview());
            if let Some(markup) = keyboard(screen) {
                request = request.reply_markup(markup);
            }
            request.await.map(|_| ())
        })
        .await;
        match result {
            // Pressing the same button twice changes nothing; that is fine.
            Err(RequestError::Api(ApiError::MessageNotModified)) => Ok(()),
            // The message is gone or too old to edit: send the screen anew.
            Err(RequestError::Api(
                ApiError::MessageToEditNotFound | ApiError::MessageCantBeEdited,
            )) => self.send(chat, screen).await,
            other => other.or_else(ignore_unreachable_user),
        }
    }
}

impl UpdateHandler for MasterBot {
    type Error = crate::Error;

    async fn handle(&self, update: Update) -> Result<()> {
        MasterBot::handle(self, update).await
    }
}

fn ignore_unreachable_user(e: RequestError) -> Result<()> {
    if is_unreachable_user(&e) {
        tracing::info!(error = %e, "user cannot be reached");
        Ok(())
    } else {
        Err(e.into())
    }
}

fn no_preview() -> LinkPreviewOptions {
    LinkPreviewOptions {
        is_disabled: true,
        url: None,
        prefer_small_media: false,
        prefer_large_media: false,
        show_above_text: false,
    }
}

fn keyboard(screen: &Screen) -> Option<InlineKeyboardMarkup> {
    if screen.keyboard.is_empty() {
        return None;
    }
    let rows = screen.keyboard.iter().map(|row| {
        row.iter()
            .map(|b| InlineKeyboardButton::callback(b.label.clone(), b.action.encode()))
            .collect::<Vec<_>>()
    });
    Some(InlineKeyboardMarkup::new(rows))
}

/// `/start@MadarBot payload` -> `start`.
fn command_name(text: &str) -> &str {
    let first = text.split_whitespace().next().unwrap_or_default();
    let name = first.trim_start_matches('/');
    name.split('@').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_names_drop_the_slash_the_bot_name_and_the_payload() {
        assert_eq!(super::command_name("/start"), "start");
        assert_eq!(super::command_name("/start@MadarBot ref_42"), "start");
        assert_eq!(super::command_name("/help   "), "help");
        assert_eq!(super::command_name("/"), "");
    }
}
