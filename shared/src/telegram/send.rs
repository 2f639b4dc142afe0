//! Sending and editing screens, the same way in every bot of ours: Telegram HTML, no link
//! previews, a retry when Telegram asks us to slow down, and a user who cannot be reached
//! (blocked the bot, gone) is not an error.

use teloxide::payloads::{AnswerCallbackQuerySetters, EditMessageTextSetters, SendMessageSetters};
use teloxide::requests::Requester;
use teloxide::types::{CallbackQuery, ChatId, LinkPreviewOptions, MessageId, ParseMode};
use teloxide::{ApiError, Bot, RequestError};

use super::polling::{is_unreachable_user, with_rate_limit_retry};
use super::screen::{keyboard, CallbackData, Screen};

/// Sends `screen` as a new message; every Telegram error is passed on.
pub async fn send_screen<A: CallbackData>(
    bot: &Bot,
    chat: ChatId,
    screen: &Screen<A>,
) -> Result<(), RequestError> {
    with_rate_limit_retry(|| async {
        let mut request = bot
            .send_message(chat, screen.text.clone())
            .parse_mode(ParseMode::Html)
            .link_preview_options(no_preview());
        if let Some(markup) = keyboard(&screen.keyboard) {
            request = request.reply_markup(markup);
        }
        request.await.map(|_| ())
    })
    .await
}

/// Puts `screen` in place of `message`. The same screen again is fine; a message that is gone
/// or too old to edit gets the screen as a new message instead.
pub async fn edit_screen<A: CallbackData>(
    bot: &Bot,
    chat: ChatId,
    message: MessageId,
    screen: &Screen<A>,
) -> Result<(), RequestError> {
    let result = with_rate_limit_retry(|| async {
        let mut request = bot
            .edit_message_text(chat, message, screen.text.clone())
            .parse_mode(ParseMode::Html)
            .link_preview_options(no_preview());
        if let Some(markup) = keyboard(&screen.keyboard) {
            request = request.reply_markup(markup);
        }
        request.await.map(|_| ())
    })
    .await;
    match result {
        // Pressing the same button twice changes nothing; that is fine.
        Err(RequestError::Api(ApiError::MessageNotModified)) => Ok(()),
        Err(RequestError::Api(ApiError::MessageToEditNotFound | ApiError::MessageCantBeEdited)) => {
            send_screen(bot, chat, screen).await
        }
        other => other,
    }
}

/// Answers a button press, with a short note when there is one. A late answer is harmless
/// to the user (the button just stops spinning), so a failure is only logged.
pub async fn answer_callback(bot: &Bot, query: &CallbackQuery, text: Option<String>) {
    let mut request = bot.answer_callback_query(query.id.clone());
    if let Some(text) = text {
        request = request.text(text);
    }
    if let Err(e) = request.await {
        tracing::debug!(error = %e, "answerCallbackQuery failed");
    }
}

/// For `.or_else(...)` after a send: a user who cannot be reached is logged, not an error.
pub fn ignore_unreachable_user<E: From<RequestError>>(e: RequestError) -> Result<(), E> {
    if is_unreachable_user(&e) {
        tracing::info!(error = %e, "user cannot be reached");
        Ok(())
    } else {
        Err(e.into())
    }
}

/// Screens are shown without link previews.
pub fn no_preview() -> LinkPreviewOptions {
    LinkPreviewOptions {
        is_disabled: true,
        url: None,
        prefer_small_media: false,
        prefer_large_media: false,
        show_above_text: false,
    }
}
