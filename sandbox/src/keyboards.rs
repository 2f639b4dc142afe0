//! reply_markup: inline keyboards, reply keyboards, ReplyKeyboardRemove and ForceReply,
//! checked like Telegram checks them.

use serde_json::{json, Map, Value};

/// A checked reply_markup.
#[derive(Debug, Clone, PartialEq)]
pub struct Markup {
    /// What goes into `Message.reply_markup` (Telegram echoes only inline keyboards).
    pub inline: Option<Value>,
    /// What the user sees, normalised (string buttons become `{"text": ...}`).
    pub shown: Value,
}

/// Button fields that make an inline button do something.
const INLINE_ACTIONS: &[&str] = &[
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
];

/// Checks a reply_markup value (already decoded from JSON). The error is the text after
/// "Bad Request: ".
pub fn check(markup: &Value) -> Result<Markup, String> {
    let Some(object) = markup.as_object() else {
        return Err("can't parse reply keyboard markup JSON object".into());
    };
    if let Some(rows) = object.get("inline_keyboard") {
        let shown = json!({"inline_keyboard": check_inline_rows(rows)?});
        return Ok(Markup {
            inline: Some(shown.clone()),
            shown,
        });
    }
    if let Some(rows) = object.get("keyboard") {
        let mut shown = object.clone();
        shown.insert("keyboard".into(), check_reply_rows(rows)?);
        return Ok(Markup {
            inline: None,
            shown: Value::Object(shown),
        });
    }
    if object.get("remove_keyboard").and_then(Value::as_bool) == Some(true) {
        return Ok(Markup {
            inline: None,
            shown: json!({"remove_keyboard": true}),
        });
    }
    if object.get("force_reply").and_then(Value::as_bool) == Some(true) {
        return Ok(Markup {
            inline: None,
            shown: markup.clone(),
        });
    }
    Err("can't parse reply keyboard markup JSON object".into())
}

fn rows_of(rows: &Value, what: &str) -> Result<Vec<Vec<Value>>, String> {
    let Some(rows) = rows.as_array() else {
        return Err(format!(
            "field \"{what}\" of the ReplyMarkup must be an Array"
        ));
    };
    rows.iter()
        .map(|row| {
            row.as_array().cloned().ok_or_else(|| {
                format!("field \"{what}\" of the ReplyMarkup must be an Array of Arrays")
            })
        })
        .collect()
}

fn check_inline_rows(rows: &Value) -> Result<Value, String> {
    let rows = rows_of(rows, "inline_keyboard")?;
    let mut out = Vec::new();
    for row in rows {
        let mut buttons = Vec::new();
        for button in row {
            buttons.push(check_inline_button(&button)?);
        }
        out.push(Value::Array(buttons));
    }
    Ok(Value::Array(out))
}

fn check_inline_button(button: &Value) -> Result<Value, String> {
    let Some(object) = button.as_object() else {
        return Err(
            "can't parse inline keyboard button: InlineKeyboardButton must be an Object".into(),
        );
    };
    let text = object.get("text").and_then(Value::as_str).unwrap_or("");
    if text.trim().is_empty() {
        return Err("BUTTON_TEXT_EMPTY".into());
    }
    let actions: Vec<&str> = INLINE_ACTIONS
        .iter()
        .copied()
        .filter(|a| object.contains_key(*a))
        .collect();
    if actions.is_empty() {
        return Err(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                .into(),
        );
    }
    if let Some(data) = object.get("callback_data") {
        let len = data.as_str().map(str::len).unwrap_or(0);
        if !(1..=64).contains(&len) {
            return Err("BUTTON_DATA_INVALID".into());
        }
    }
    if let Some(url) = object.get("url") {
        let valid = url
            .as_str()
            .and_then(|u| url::Url::parse(u).ok())
            .is_some_and(|u| matches!(u.scheme(), "http" | "https" | "tg"));
        if !valid {
            return Err("BUTTON_URL_INVALID".into());
        }
    }
    Ok(Value::Object(object.clone()))
}

fn check_reply_rows(rows: &Value) -> Result<Value, String> {
    let rows = rows_of(rows, "keyboard")?;
    let mut out = Vec::new();
    for row in rows {
        let mut buttons = Vec::new();
        for button in row {
            let normalised =
                match button {
                    Value::String(text) => {
                        let mut object = Map::new();
                        object.insert("text".into(), Value::String(text));
                        Value::Object(object)
                    }
                    Value::Object(object) => Value::Object(object),
                    _ => return Err(
                        "can't parse keyboard button: KeyboardButton must be a String or an Object"
                            .into(),
                    ),
                };
            if normalised["text"].as_str().unwrap_or("").trim().is_empty() {
                return Err("BUTTON_TEXT_EMPTY".into());
            }
            buttons.push(normalised);
        }
        out.push(Value::Array(buttons));
    }
    Ok(Value::Array(out))
}

/// Whether the inline keyboard in `markup` has a button with this callback_data.
pub fn has_callback(markup: Option<&Value>, data: &str) -> bool {
    markup
        .and_then(|m| m.get("inline_keyboard"))
        .and_then(Value::as_array)
        .is_some_and(|rows| {
            rows.iter()
                .filter_map(Value::as_array)
                .flatten()
                .any(|b| b.get("callback_data").and_then(Value::as_str) == Some(data))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_keyboard_is_echoed() {
        let m = check(&json!({"inline_keyboard": [[{"text": "Buy", "callback_data": "buy:1"}]]}))
            .unwrap();
        assert_eq!(m.inline, Some(m.shown.clone()));
        assert!(has_callback(m.inline.as_ref(), "buy:1"));
        assert!(!has_callback(m.inline.as_ref(), "buy:2"));
    }

    #[test]
    fn callback_data_must_be_1_to_64_bytes() {
        let long = "x".repeat(65);
        for data in ["", long.as_str()] {
            let markup = json!({"inline_keyboard": [[{"text": "a", "callback_data": data}]]});
            assert_eq!(check(&markup).unwrap_err(), "BUTTON_DATA_INVALID");
        }
        let sixty_four = "ی".repeat(32); // 64 bytes
        let markup = json!({"inline_keyboard": [[{"text": "a", "callback_data": sixty_four}]]});
        assert!(check(&markup).is_ok());
    }

    #[test]
    fn reply_keyboard_is_shown_but_not_echoed() {
        let m = check(&json!({"keyboard": [["Menu", {"text": "Help"}]], "resize_keyboard": true}))
            .unwrap();
        assert_eq!(m.inline, None);
        assert_eq!(m.shown["keyboard"][0][0], json!({"text": "Menu"}));
        assert_eq!(m.shown["resize_keyboard"], json!(true));
    }

    #[test]
    fn rejects_bad_markup() {
        assert!(check(&json!({"inline_keyboard": [[{"text": "x"}]]})).is_err());
        assert_eq!(
            check(&json!({"inline_keyboard": [[{"text": "x", "url": "not a url"}]]})).unwrap_err(),
            "BUTTON_URL_INVALID"
        );
        assert!(check(&json!("nope")).is_err());
        assert!(check(&json!({"remove_keyboard": true})).is_ok());
    }
}
