//! Bot commands: reading one out of a message, and publishing the command menu.

/// `/start@ShopBot ref_42` -> `start`; `None` for text that is not a command.
pub fn command_name(text: &str) -> Option<&str> {
    let first = text.split_whitespace().next()?;
    let name = first.strip_prefix('/')?;
    Some(name.split('@').next().unwrap_or_default())
}

/// Publishes a bot's command menu in both languages: `commands` are (command, text key), the
/// texts come from the bot's catalog; Persian is the default menu, English is for English
/// Telegram apps.
pub async fn publish(
    bot: &teloxide::Bot,
    texts: &crate::i18n::Catalog,
    commands: &[(&str, &str)],
) -> Result<(), teloxide::RequestError> {
    use crate::i18n::Locale;
    use teloxide::payloads::SetMyCommandsSetters;
    use teloxide::requests::Requester;
    for locale in [Locale::Fa, Locale::En] {
        let menu: Vec<teloxide::types::BotCommand> = commands
            .iter()
            .map(|(command, key)| {
                teloxide::types::BotCommand::new(*command, texts.text(locale, key, &[]))
            })
            .collect();
        let request = bot.set_my_commands(menu);
        let request = if locale == Locale::DEFAULT {
            request
        } else {
            request.language_code(locale.as_code())
        };
        request.await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::command_name;

    #[test]
    fn command_names_drop_the_slash_the_bot_name_and_the_payload() {
        assert_eq!(command_name("/start"), Some("start"));
        assert_eq!(command_name("/start@ShopBot ref_42"), Some("start"));
        assert_eq!(command_name("/help   "), Some("help"));
        assert_eq!(command_name("/"), Some(""));
        assert_eq!(command_name("hello"), None);
        assert_eq!(command_name(""), None);
    }
}
