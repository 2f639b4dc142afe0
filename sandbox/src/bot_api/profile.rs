//! The bot's profile: name, descriptions (per language) and the chat menu button.

use serde_json::{json, Value};

use super::{ApiError, ApiResult, Params};
use crate::state::AppState;

/// (method field, longest allowed length, error when longer)
const NAME: (&str, usize, &str) = ("name", 64, "BOT_NAME_INVALID");
const DESCRIPTION: (&str, usize, &str) = ("description", 512, "BOT_DESCRIPTION_INVALID");
const SHORT_DESCRIPTION: (&str, usize, &str) =
    ("short_description", 120, "BOT_SHORT_DESCRIPTION_INVALID");

fn key(field: &str, language: &str) -> String {
    format!("{field}|{language}")
}

fn set_text(state: &AppState, token: &str, p: &Params, spec: (&str, usize, &str)) -> ApiResult {
    let (field, longest, error) = spec;
    let text = p.str(field).unwrap_or_default();
    if text.chars().count() > longest {
        return Err(ApiError::bad_request(error));
    }
    let language = p.str("language_code").unwrap_or_default();
    let mut world = state.world();
    let bot = world.bot_mut(token).ok_or_else(ApiError::unauthorized)?;
    if text.is_empty() {
        bot.profile.remove(&key(field, &language));
    } else {
        bot.profile.insert(key(field, &language), text);
    }
    Ok(json!(true))
}

fn get_text(state: &AppState, token: &str, p: &Params, field: &str) -> ApiResult {
    let language = p.str("language_code").unwrap_or_default();
    let world = state.world();
    let bot = world.bot(token).ok_or_else(ApiError::unauthorized)?;
    let text = bot
        .profile
        .get(&key(field, &language))
        .or_else(|| bot.profile.get(&key(field, "")))
        .cloned()
        .unwrap_or_else(|| {
            // Without a name for the language, Telegram shows the bot's own name.
            if field == "name" {
                bot.first_name.clone()
            } else {
                String::new()
            }
        });
    Ok(json!({ field: text }))
}

pub fn set_my_name(state: &AppState, token: &str, p: &Params) -> ApiResult {
    set_text(state, token, p, NAME)
}

pub fn get_my_name(state: &AppState, token: &str, p: &Params) -> ApiResult {
    get_text(state, token, p, NAME.0)
}

pub fn set_my_description(state: &AppState, token: &str, p: &Params) -> ApiResult {
    set_text(state, token, p, DESCRIPTION)
}

pub fn get_my_description(state: &AppState, token: &str, p: &Params) -> ApiResult {
    get_text(state, token, p, DESCRIPTION.0)
}

pub fn set_my_short_description(state: &AppState, token: &str, p: &Params) -> ApiResult {
    set_text(state, token, p, SHORT_DESCRIPTION)
}

pub fn get_my_short_description(state: &AppState, token: &str, p: &Params) -> ApiResult {
    get_text(state, token, p, SHORT_DESCRIPTION.0)
}

fn check_menu_button(button: &Value) -> Result<(), ApiError> {
    let invalid = || ApiError::bad_request("can't parse menu button JSON object");
    match button.get("type").and_then(Value::as_str) {
        Some("commands" | "default") => Ok(()),
        Some("web_app") => {
            let text = button.get("text").and_then(Value::as_str).unwrap_or("");
            let url = button["web_app"]
                .get("url")
                .and_then(Value::as_str)
                .unwrap_or("");
            if text.is_empty() || !url.starts_with("https://") {
                return Err(invalid());
            }
            Ok(())
        }
        _ => Err(invalid()),
    }
}

pub fn set_chat_menu_button(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let chat = p.i64("chat_id")?;
    let button = p
        .json("menu_button")?
        .unwrap_or_else(|| json!({"type": "default"}));
    check_menu_button(&button)?;
    let mut world = state.world();
    let known_chat = chat.is_none_or(|id| world.users.contains_key(&id));
    if !known_chat {
        return Err(ApiError::chat_not_found());
    }
    let bot = world.bot_mut(token).ok_or_else(ApiError::unauthorized)?;
    bot.menu_buttons.insert(chat, button);
    Ok(json!(true))
}

pub fn get_chat_menu_button(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let chat = p.i64("chat_id")?;
    let world = state.world();
    let bot = world.bot(token).ok_or_else(ApiError::unauthorized)?;
    let button = bot
        .menu_buttons
        .get(&chat)
        .or_else(|| bot.menu_buttons.get(&None))
        .cloned()
        .unwrap_or_else(|| json!({"type": "default"}));
    Ok(button)
}
