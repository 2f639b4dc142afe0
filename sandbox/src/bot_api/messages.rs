//! Sending, editing, deleting, copying and forwarding messages; chat actions, callback
//! answers and the command menu. Also the helpers every sending method shares.

use serde_json::{json, Map, Value};

use super::{ApiError, ApiResult, ChatRef, Params};
use crate::entities::{self, ParseError, Parsed};
use crate::keyboards::{self, Markup};
use crate::state::{
    find_message, find_message_mut, now_unix, AppState, ChatKind, Invoice, StoredMessage, World,
};
use crate::RateLimits;

pub const TEXT_LIMIT: usize = 4096;
pub const CAPTION_LIMIT: usize = 1024;

const NOT_MODIFIED: &str = "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message";

/// Where a bot message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A user's private chat with the bot (chat id = user id).
    Private(i64),
    Channel(i64),
}

impl Target {
    pub fn chat_id(self) -> i64 {
        match self {
            Target::Private(id) | Target::Channel(id) => id,
        }
    }
}

pub fn bot_index(world: &World, token: &str) -> Result<usize, ApiError> {
    world.bot_index(token).ok_or_else(ApiError::unauthorized)
}

/// Checks the bot may write to `chat`: it exists, the user started the bot and did not
/// block it, or the bot is an administrator of the channel.
pub fn resolve_target(world: &World, bot: usize, chat: &ChatRef) -> Result<Target, ApiError> {
    let channel = match chat {
        ChatRef::Id(id) if *id > 0 => {
            if !world.users.contains_key(id) {
                if world.bot_by_id(*id).is_some() {
                    return Err(ApiError::forbidden("bot can't send messages to bots"));
                }
                return Err(ApiError::chat_not_found());
            }
            return match world.bots[bot].chats.get(id) {
                Some(c) if c.blocked => Err(ApiError::forbidden("bot was blocked by the user")),
                Some(c) if c.started => Ok(Target::Private(*id)),
                _ => Err(ApiError::forbidden(
                    "bot can't initiate conversation with a user",
                )),
            };
        }
        ChatRef::Id(id) => world.channels.get(id),
        ChatRef::Username(username) => world.channel_by_username(username),
    };
    let channel = channel.ok_or_else(ApiError::chat_not_found)?;
    let status = channel.members.get(&world.bots[bot].id).map(String::as_str);
    match (channel.kind, status) {
        (_, Some("creator" | "administrator")) => Ok(Target::Channel(channel.id)),
        (ChatKind::Channel, Some("member" | "restricted")) => Err(ApiError::bad_request(
            "need administrator rights in the channel chat",
        )),
        (ChatKind::Channel, _) => Err(ApiError::forbidden(
            "bot is not a member of the channel chat",
        )),
        (_, Some("member" | "restricted")) => Ok(Target::Channel(channel.id)),
        (ChatKind::Group, Some("kicked")) => {
            Err(ApiError::forbidden("bot was kicked from the group chat"))
        }
        (ChatKind::Supergroup, Some("kicked")) => Err(ApiError::forbidden(
            "bot was kicked from the supergroup chat",
        )),
        (ChatKind::Group, _) => Err(ApiError::forbidden("bot is not a member of the group chat")),
        (ChatKind::Supergroup, _) => Err(ApiError::forbidden(
            "bot is not a member of the supergroup chat",
        )),
    }
}

/// Resolves a chat whose messages the bot can see (for edit, delete, copy).
fn chat_key(world: &World, bot: usize, chat: &ChatRef) -> Result<Target, ApiError> {
    let channel = match chat {
        ChatRef::Id(id) if *id > 0 => {
            return if world.bots[bot].chats.contains_key(id) {
                Ok(Target::Private(*id))
            } else {
                Err(ApiError::chat_not_found())
            };
        }
        ChatRef::Id(id) => world.channels.get(id),
        ChatRef::Username(username) => world.channel_by_username(username),
    };
    let channel = channel.ok_or_else(ApiError::chat_not_found)?;
    let is_member = channel
        .members
        .get(&world.bots[bot].id)
        .is_some_and(|s| !matches!(s.as_str(), "left" | "kicked"));
    if is_member {
        Ok(Target::Channel(channel.id))
    } else {
        Err(ApiError::chat_not_found())
    }
}

pub fn chat_messages<'a>(
    world: &'a World,
    bot: usize,
    chat: &ChatRef,
) -> Result<&'a [StoredMessage], ApiError> {
    match chat_key(world, bot, chat)? {
        Target::Private(id) => world.bots[bot]
            .chats
            .get(&id)
            .map(|c| c.messages.as_slice())
            .ok_or_else(ApiError::chat_not_found),
        Target::Channel(id) => world
            .channels
            .get(&id)
            .map(|c| c.messages.as_slice())
            .ok_or_else(ApiError::chat_not_found),
    }
}

pub fn chat_messages_mut<'a>(
    world: &'a mut World,
    bot: usize,
    chat: &ChatRef,
) -> Result<&'a mut Vec<StoredMessage>, ApiError> {
    match chat_key(world, bot, chat)? {
        Target::Private(id) => world.bots[bot]
            .chats
            .get_mut(&id)
            .map(|c| &mut c.messages)
            .ok_or_else(ApiError::chat_not_found),
        Target::Channel(id) => world
            .channels
            .get_mut(&id)
            .map(|c| &mut c.messages)
            .ok_or_else(ApiError::chat_not_found),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Text,
    Caption,
}

/// Applies parse_mode (or explicit entities) and Telegram's length limits, which count
/// the text after formatting is removed.
pub fn format_text(p: &Params, raw: &str, kind: TextKind) -> Result<Parsed, ApiError> {
    let entities_field = match kind {
        TextKind::Text => "entities",
        TextKind::Caption => "caption_entities",
    };
    let mode = p.str("parse_mode").filter(|m| !m.trim().is_empty());
    let parsed = if mode.is_some() {
        entities::parse(raw, mode.as_deref()).map_err(|error| match error {
            ParseError::UnsupportedMode => ApiError::bad_request("unsupported parse_mode"),
            ParseError::Entities(detail) => {
                ApiError::bad_request(format!("can't parse entities: {detail}"))
            }
        })?
    } else if let Some(given) = p.json(entities_field)? {
        let list = given.as_array().cloned().ok_or_else(|| {
            ApiError::bad_request(format!("can't parse {entities_field} JSON object"))
        })?;
        Parsed {
            text: raw.to_string(),
            entities: list,
        }
    } else {
        entities::parse(raw, None).map_err(|_| ApiError::bad_request("unsupported parse_mode"))?
    };
    let length = entities::utf16_len(&parsed.text);
    match kind {
        TextKind::Text if parsed.text.is_empty() => {
            Err(ApiError::bad_request("message text is empty"))
        }
        TextKind::Text if length > TEXT_LIMIT => Err(ApiError::bad_request("message is too long")),
        TextKind::Caption if length > CAPTION_LIMIT => {
            Err(ApiError::bad_request("message caption is too long"))
        }
        _ => Ok(parsed),
    }
}

/// The optional reply_markup parameter, checked.
pub fn reply_markup(p: &Params) -> Result<Option<Markup>, ApiError> {
    match p.json("reply_markup") {
        Ok(None) => Ok(None),
        Ok(Some(value)) => keyboards::check(&value)
            .map(Some)
            .map_err(ApiError::bad_request),
        Err(_) => Err(ApiError::bad_request(
            "can't parse reply keyboard markup JSON object",
        )),
    }
}

/// reply_markup for edits, which only take inline keyboards.
fn inline_markup(p: &Params) -> Result<Option<Value>, ApiError> {
    match reply_markup(p)? {
        None => Ok(None),
        Some(Markup {
            inline: Some(inline),
            ..
        }) => Ok(Some(inline)),
        Some(_) => Err(ApiError::bad_request("REPLY_MARKUP_INVALID")),
    }
}

/// Adds text (or caption) and its entities to message content.
pub fn put_text(content: &mut Map<String, Value>, parsed: Parsed, kind: TextKind) {
    let (text_key, entities_key) = match kind {
        TextKind::Text => ("text", "entities"),
        TextKind::Caption => ("caption", "caption_entities"),
    };
    if kind == TextKind::Caption && parsed.text.is_empty() {
        return;
    }
    content.insert(text_key.into(), json!(parsed.text));
    if !parsed.entities.is_empty() {
        content.insert(entities_key.into(), Value::Array(parsed.entities));
    }
}

/// Stores a new message from the bot in `target`, counting it against the flood
/// limits, and returns the Bot API `Message`.
pub fn store_bot_message(
    limits: &RateLimits,
    world: &mut World,
    bot: usize,
    target: Target,
    content: Map<String, Value>,
    markup: Option<Markup>,
    invoice: Option<Invoice>,
) -> ApiResult {
    let is_group = matches!(target, Target::Channel(_));
    world.bots[bot]
        .limiter
        .check(limits, target.chat_id(), is_group)
        .map_err(ApiError::too_many_requests)?;
    let bot_user = world.bots[bot].user_json();
    let mut message = Map::new();
    let (message_id, chat_json) = match target {
        Target::Private(user_id) => {
            let chat_json = world
                .users
                .get(&user_id)
                .map(|u| u.private_chat_json())
                .ok_or_else(ApiError::chat_not_found)?;
            let id = world.bots[bot].chat_mut(user_id).next_message_id();
            message.insert("message_id".into(), json!(id));
            message.insert("from".into(), bot_user);
            (id, chat_json)
        }
        Target::Channel(channel_id) => {
            let channel = world
                .channels
                .get_mut(&channel_id)
                .ok_or_else(ApiError::chat_not_found)?;
            let id = channel.next_message_id();
            message.insert("message_id".into(), json!(id));
            if channel.kind == ChatKind::Channel {
                message.insert("sender_chat".into(), channel.chat_json());
            } else {
                message.insert("from".into(), bot_user);
            }
            (id, channel.chat_json())
        }
    };
    message.insert("chat".into(), chat_json);
    message.insert("date".into(), json!(now_unix()));
    message.extend(content);
    if let Some(inline) = markup.as_ref().and_then(|m| m.inline.clone()) {
        message.insert("reply_markup".into(), inline);
    }
    let stored = StoredMessage {
        message_id,
        from_bot: true,
        message: Value::Object(message),
        shown_markup: markup.map(|m| m.shown),
        deleted: false,
        edited: false,
        invoice,
    };
    let result = stored.message.clone();
    match target {
        Target::Private(user_id) => world.bots[bot].chat_mut(user_id).messages.push(stored),
        Target::Channel(channel_id) => {
            if let Some(channel) = world.channels.get_mut(&channel_id) {
                channel.messages.push(stored);
            }
        }
    }
    Ok(result)
}

/// The message a new message replies to (reply_parameters or the older
/// reply_to_message_id), as `reply_to_message` content.
pub fn reply_to(
    world: &World,
    bot: usize,
    target: Target,
    p: &Params,
) -> Result<Option<Value>, ApiError> {
    let parameters = p.json("reply_parameters")?;
    let (message_id, allow_missing) = match &parameters {
        Some(r) => (
            r.get("message_id").and_then(Value::as_i64),
            r.get("allow_sending_without_reply")
                .and_then(Value::as_bool)
                == Some(true),
        ),
        None => (
            p.i64("reply_to_message_id")?,
            p.bool("allow_sending_without_reply"),
        ),
    };
    let Some(message_id) = message_id else {
        return Ok(None);
    };
    let messages = match target {
        Target::Private(id) => world.bots[bot]
            .chats
            .get(&id)
            .map(|c| c.messages.as_slice()),
        Target::Channel(id) => world.channels.get(&id).map(|c| c.messages.as_slice()),
    };
    match messages.and_then(|m| find_message(m, message_id)) {
        Some(found) => {
            let mut replied = found.message.clone();
            if let Some(object) = replied.as_object_mut() {
                object.remove("reply_to_message");
            }
            Ok(Some(replied))
        }
        None if allow_missing => Ok(None),
        None => Err(ApiError::bad_request("message to be replied not found")),
    }
}

pub fn send_message(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let chat = p.chat_id()?;
    let text = p.str("text").unwrap_or_default();
    let parsed = format_text(p, &text, TextKind::Text)?;
    let markup = reply_markup(p)?;
    let mut world = state.world();
    let bot = bot_index(&world, token)?;
    let target = resolve_target(&world, bot, &chat)?;
    let mut content = Map::new();
    if let Some(replied) = reply_to(&world, bot, target, p)? {
        content.insert("reply_to_message".into(), replied);
    }
    put_text(&mut content, parsed, TextKind::Text);
    store_bot_message(
        &state.options.limits,
        &mut world,
        bot,
        target,
        content,
        markup,
        None,
    )
}

fn message_id_param(p: &Params) -> Result<i64, ApiError> {
    if p.has("inline_message_id") && !p.has("message_id") {
        return Err(ApiError::bad_request("MESSAGE_ID_INVALID"));
    }
    p.required_i64("message_id", "message identifier is not specified")
}

/// Finds the bot's own message to edit.
fn editable<'a>(
    world: &'a mut World,
    token: &str,
    chat: &ChatRef,
    message_id: i64,
) -> Result<&'a mut StoredMessage, ApiError> {
    let bot = bot_index(world, token)?;
    let message = find_message_mut(chat_messages_mut(world, bot, chat)?, message_id)
        .ok_or_else(|| ApiError::bad_request("message to edit not found"))?;
    if !message.from_bot {
        return Err(ApiError::bad_request("message can't be edited"));
    }
    Ok(message)
}

fn entities_value(entities: &[Value]) -> Value {
    Value::Array(entities.to_vec())
}

fn current_entities(message: &Value, key: &str) -> Value {
    message.get(key).cloned().unwrap_or_else(|| json!([]))
}

/// Sets (or removes) a key of a stored message.
fn set_or_remove(message: &mut Value, key: &str, value: Option<Value>) {
    if let Some(object) = message.as_object_mut() {
        match value {
            Some(v) => {
                object.insert(key.into(), v);
            }
            None => {
                object.remove(key);
            }
        }
    }
}

fn mark_edited(stored: &mut StoredMessage, markup: Option<Value>) {
    set_or_remove(&mut stored.message, "reply_markup", markup.clone());
    stored.message["edit_date"] = json!(now_unix());
    stored.shown_markup = markup;
    stored.edited = true;
}

pub fn edit_message_text(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let message_id = message_id_param(p)?;
    let chat = p.chat_id()?;
    let text = p.str("text").unwrap_or_default();
    let parsed = format_text(p, &text, TextKind::Text)?;
    let markup = inline_markup(p)?;
    let mut world = state.world();
    let stored = editable(&mut world, token, &chat, message_id)?;
    if stored.message.get("text").is_none() {
        return Err(ApiError::bad_request(
            "there is no text in the message to edit",
        ));
    }
    let unchanged = stored.message["text"] == json!(parsed.text)
        && current_entities(&stored.message, "entities") == entities_value(&parsed.entities)
        && stored.message.get("reply_markup") == markup.as_ref();
    if unchanged {
        return Err(ApiError::bad_request(NOT_MODIFIED));
    }
    stored.message["text"] = json!(parsed.text);
    let entities = (!parsed.entities.is_empty()).then(|| entities_value(&parsed.entities));
    set_or_remove(&mut stored.message, "entities", entities);
    mark_edited(stored, markup);
    Ok(stored.message.clone())
}

pub fn edit_message_caption(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let message_id = message_id_param(p)?;
    let chat = p.chat_id()?;
    let caption = p.str("caption").unwrap_or_default();
    let parsed = format_text(p, &caption, TextKind::Caption)?;
    let markup = inline_markup(p)?;
    let mut world = state.world();
    let stored = editable(&mut world, token, &chat, message_id)?;
    let has_media = ["photo", "document", "video", "audio", "animation"]
        .iter()
        .any(|k| stored.message.get(*k).is_some());
    if !has_media {
        return Err(ApiError::bad_request(
            "there is no caption in the message to edit",
        ));
    }
    let old_caption = stored.message.get("caption").cloned().unwrap_or(json!(""));
    let unchanged = old_caption == json!(parsed.text)
        && current_entities(&stored.message, "caption_entities")
            == entities_value(&parsed.entities)
        && stored.message.get("reply_markup") == markup.as_ref();
    if unchanged {
        return Err(ApiError::bad_request(NOT_MODIFIED));
    }
    let caption = (!parsed.text.is_empty()).then(|| json!(parsed.text));
    let entities = (!parsed.entities.is_empty()).then(|| entities_value(&parsed.entities));
    set_or_remove(&mut stored.message, "caption", caption);
    set_or_remove(&mut stored.message, "caption_entities", entities);
    mark_edited(stored, markup);
    Ok(stored.message.clone())
}

pub fn edit_message_reply_markup(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let message_id = message_id_param(p)?;
    let chat = p.chat_id()?;
    let markup = inline_markup(p)?;
    let mut world = state.world();
    let stored = editable(&mut world, token, &chat, message_id)?;
    if stored.message.get("reply_markup") == markup.as_ref() {
        return Err(ApiError::bad_request(NOT_MODIFIED));
    }
    mark_edited(stored, markup);
    Ok(stored.message.clone())
}

pub fn delete_message(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let chat = p.chat_id()?;
    let message_id = p.required_i64("message_id", "message identifier is not specified")?;
    let mut world = state.world();
    let bot = bot_index(&world, token)?;
    let message = find_message_mut(chat_messages_mut(&mut world, bot, &chat)?, message_id)
        .ok_or_else(|| ApiError::bad_request("message to delete not found"))?;
    message.deleted = true;
    Ok(json!(true))
}

/// Message fields that copyMessage/forwardMessage carry over.
const CONTENT_KEYS: &[&str] = &[
    "text",
    "entities",
    "photo",
    "document",
    "sticker",
    "caption",
    "caption_entities",
    "contact",
    "location",
];

/// copyMessage (returns `MessageId`) or forwardMessage (returns `Message`).
pub fn copy_message(state: &AppState, token: &str, p: &Params, forward: bool) -> ApiResult {
    let what = if forward { "forward" } else { "copy" };
    let chat = p.chat_id()?;
    let from_chat = p.chat_ref("from_chat_id")?;
    let message_id = p.required_i64("message_id", "message identifier is not specified")?;
    let caption = match (forward, p.str("caption")) {
        (false, Some(raw)) => Some(format_text(p, &raw, TextKind::Caption)?),
        _ => None,
    };
    let markup = if forward { None } else { reply_markup(p)? };
    let mut world = state.world();
    let bot = bot_index(&world, token)?;
    let source = find_message(chat_messages(&world, bot, &from_chat)?, message_id)
        .cloned()
        .ok_or_else(|| ApiError::bad_request(format!("message to {what} not found")))?;
    let mut content = Map::new();
    for key in CONTENT_KEYS {
        if let Some(value) = source.message.get(*key) {
            content.insert((*key).into(), value.clone());
        }
    }
    if content.is_empty() {
        return Err(ApiError::bad_request(format!("message can't be {what}ed")));
    }
    if let Some(parsed) = caption {
        if content.contains_key("text") {
            return Err(ApiError::bad_request(
                "message caption can't be set for a text message",
            ));
        }
        content.remove("caption");
        content.remove("caption_entities");
        put_text(&mut content, parsed, TextKind::Caption);
    }
    if forward {
        let date = source.message["date"].clone();
        let origin = match source.message.get("sender_chat") {
            Some(channel) => json!({
                "type": "channel", "chat": channel, "message_id": source.message_id, "date": date,
            }),
            None => json!({
                "type": "user", "sender_user": source.message["from"].clone(), "date": date,
            }),
        };
        content.insert("forward_origin".into(), origin);
    }
    let target = resolve_target(&world, bot, &chat)?;
    let message = store_bot_message(
        &state.options.limits,
        &mut world,
        bot,
        target,
        content,
        markup,
        None,
    )?;
    if forward {
        Ok(message)
    } else {
        Ok(json!({"message_id": message["message_id"]}))
    }
}

const CHAT_ACTIONS: &[&str] = &[
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
];

pub fn send_chat_action(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let chat = p.chat_id()?;
    let action = p.str("action").unwrap_or_default();
    if !CHAT_ACTIONS.contains(&action.as_str()) {
        return Err(ApiError::bad_request("wrong parameter action in request"));
    }
    let world = state.world();
    let bot = bot_index(&world, token)?;
    resolve_target(&world, bot, &chat)?;
    Ok(json!(true))
}

pub fn answer_callback_query(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let id = p
        .str("callback_query_id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("QUERY_ID_INVALID"))?;
    let text = p.str("text").filter(|t| !t.is_empty());
    if text.as_deref().is_some_and(|t| t.chars().count() > 200) {
        return Err(ApiError::bad_request("MESSAGE_TOO_LONG"));
    }
    let mut world = state.world();
    let bot = world.bot_mut(token).ok_or_else(ApiError::unauthorized)?;
    let record = bot
        .callbacks
        .get_mut(&id)
        .filter(|r| !r.answered)
        .ok_or_else(|| {
            ApiError::bad_request(
                "query is too old and response timeout expired or query ID is invalid",
            )
        })?;
    record.answered = true;
    record.text = text;
    record.show_alert = p.bool("show_alert");
    record.url = p.str("url").filter(|u| !u.is_empty());
    Ok(json!(true))
}

fn commands_key(p: &Params) -> Result<String, ApiError> {
    let scope = p
        .json("scope")?
        .unwrap_or_else(|| json!({"type": "default"}));
    let language = p.str("language_code").unwrap_or_default();
    Ok(format!("{scope}|{language}"))
}

pub fn set_my_commands(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let commands = p
        .json("commands")?
        .ok_or_else(|| ApiError::bad_request("commands is empty"))?;
    let list = commands
        .as_array()
        .ok_or_else(|| ApiError::bad_request("can't parse commands JSON object"))?;
    if list.len() > 100 {
        return Err(ApiError::bad_request("too many commands"));
    }
    for command in list {
        let name = command["command"].as_str().unwrap_or("");
        let valid_name = (1..=32).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid_name {
            return Err(ApiError::bad_request("BOT_COMMAND_INVALID"));
        }
        let description = command["description"].as_str().unwrap_or("");
        if !(1..=256).contains(&description.chars().count()) {
            return Err(ApiError::bad_request("BOT_COMMAND_DESCRIPTION_INVALID"));
        }
    }
    let key = commands_key(p)?;
    let mut world = state.world();
    let bot = world.bot_mut(token).ok_or_else(ApiError::unauthorized)?;
    bot.commands.insert(key, commands);
    Ok(json!(true))
}

pub fn get_my_commands(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let key = commands_key(p)?;
    let world = state.world();
    let bot = world.bot(token).ok_or_else(ApiError::unauthorized)?;
    Ok(bot.commands.get(&key).cloned().unwrap_or_else(|| json!([])))
}

pub fn delete_my_commands(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let key = commands_key(p)?;
    let mut world = state.world();
    let bot = world.bot_mut(token).ok_or_else(ApiError::unauthorized)?;
    bot.commands.remove(&key);
    Ok(json!(true))
}
