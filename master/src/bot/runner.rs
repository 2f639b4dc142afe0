//! Receiving updates: long polling (the default, via `shared::telegram::polling`) or a webhook
//! (see `crate::http`). Either way each update goes to [`MasterBot::handle`].

use teloxide::payloads::SetWebhookSetters;
use teloxide::requests::Requester;
use teloxide::types::AllowedUpdate;
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
    let commands = [
        ("start", "command_start"),
        ("language", "command_language"),
        ("help", "command_help"),
    ];
    shared::telegram::command::publish(bot.telegram(), bot.texts(), &commands).await?;
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
