//! Receiving updates: long polling (the default, via `shared::telegram::polling`) or a webhook
//! (see `crate::http`). Either way each update goes to [`MasterBot::handle`].

use shared::i18n::Locale;
use teloxide::payloads::{SetMyCommandsSetters, SetWebhookSetters};
use teloxide::requests::Requester;
use teloxide::types::{AllowedUpdate, BotCommand};
use teloxide::Bot;

use super::MasterBot;
use crate::Result;

pub fn allowed_updates() -> Vec<AllowedUpdate> {
    vec![
        AllowedUpdate::Message,
        AllowedUpdate::EditedMessage,
        AllowedUpdate::CallbackQuery,
        AllowedUpdate::PreCheckoutQuery,
    ]
}

/// Publishes the command menu in both languages.
pub async fn publish_commands(bot: &MasterBot) -> Result<()> {
    for locale in [Locale::Fa, Locale::En] {
        let t = bot.texts();
        let commands = vec![
            BotCommand::new("start", t.text(locale, "command_start", &[])),
            BotCommand::new("language", t.text(locale, "command_language", &[])),
            BotCommand::new("help", t.text(locale, "command_help", &[])),
        ];
        let request = bot.telegram().set_my_commands(commands);
        let request = if locale == Locale::DEFAULT {
            request
        } else {
            request.language_code(locale.as_code())
        };
        request.await?;
    }
    Ok(())
}

/// Registers the webhook with Telegram.
pub async fn register_webhook(bot: &Bot, url: url::Url, secret: &str) -> Result<()> {
    bot.set_webhook(url)
        .secret_token(secret.to_string())
        .allowed_updates(allowed_updates())
        .await?;
    Ok(())
}
