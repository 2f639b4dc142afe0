//! The control API (`/sandbox/...`): tests, benchmarks and the chat page use it to create
//! bots and users and to act as Telegram users (write, press buttons, pay, block).
//! Errors are `{"error": "..."}` with a 4xx status. `client::ControlClient` wraps it.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /sandbox/bots` | `{"username","first_name"}` | `{"token","id","username","first_name"}` |
//! | `GET /sandbox/bots` | | `{"bots":[...]}` in creation order (master bot first) |
//! | `GET /sandbox/bots/{token}` | | bot, webhook_url, pending_update_count, commands, chats |
//! | `POST /sandbox/users` | `{"first_name","username","language_code"}` | `{"id"}` |
//! | `GET /sandbox/users` | | `{"users":[User...]}` |
//! | `POST /sandbox/bots/{token}/send` | `{"user_id","text"}` | `{"update_id","message_id"}` |
//! | `POST /sandbox/bots/{token}/send_photo` | `{"user_id","png_base64","caption"}` | same |
//! | `POST /sandbox/bots/{token}/send_document` | `{"user_id","data_base64","file_name","mime_type","caption"}` | same |
//! | `POST /sandbox/bots/{token}/send_sticker` | `{"user_id","emoji"}` | same |
//! | `POST /sandbox/bots/{token}/send_raw` | `{"user_id","message":{fields}}` | same |
//! | `POST /sandbox/bots/{token}/edit` | `{"user_id","message_id","text"}` | same (edited_message) |
//! | `POST /sandbox/bots/{token}/press` | `{"user_id","message_id","data"}` | `{"update_id","callback_query_id"}` |
//! | `GET /sandbox/bots/{token}/callbacks/{id}` | | `{"answered","text","show_alert","url",...}` |
//! | `POST /sandbox/bots/{token}/pay` | `{"user_id","message_id"}` or `{"user_id","invoice_link"}` | `{"status":"paid"\|"declined"\|"timeout",...}` |
//! | `GET /sandbox/bots/{token}/chats/{user_id}` | | `{"messages":[...],"callback_answers":[...],"blocked"}` |
//! | `GET /sandbox/files/{file_id}` | | the file's bytes |
//! | `POST /sandbox/faults` | `{"token","method","error_code","description","retry_after","times","delay_ms"}` | `{"ok":true}` |
//! | `DELETE /sandbox/faults` | | `{"ok":true}` |
//! | `POST /sandbox/channels` | `{"username","title","type"}` (channel\|supergroup\|group) | `{"id"}` |
//! | `GET /sandbox/channels` | | `{"channels":[...]}` |
//! | `POST /sandbox/channels/{id}/members` | `{"user_id","status"}` | the membership |
//! | `GET /sandbox/channels/{id}/messages` | | `{"messages":[... "sender_id"]}` |
//! | `POST /sandbox/channels/{id}/send` | `{"user_id","text"}` (groups) | `{"message_id","update_ids"}` |
//! | `POST /sandbox/channels/{id}/press` | `{"token","user_id","message_id","data"}` (groups) | `{"update_id","callback_query_id"}` |
//! | `POST`/`DELETE /sandbox/users/{id}/block/{token}` | | `{"blocked","update_id"}` (my_chat_member) |
//! | `GET /sandbox/users/{id}/stars` | | `{"user_id","spent","transactions":[...]}` |

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::sync::oneshot;

use crate::bot_api::chats::chat_member_json;
use crate::bot_api::file_response;
use crate::bot_api::payments::invoice_json;
use crate::entities;
use crate::files::{image_size, FileKind, TINY_PNG};
use crate::keyboards;
use crate::state::{
    now_unix, random_string, AppState, Bot, CallbackRecord, Charge, ChatKind, CheckoutAnswer,
    Fault, Invoice, StoredMessage, User, World,
};

/// A control API error.
#[derive(Debug)]
pub struct ControlError {
    status: StatusCode,
    message: String,
}

impl ControlError {
    fn bad_request(message: impl Into<String>) -> ControlError {
        ControlError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> ControlError {
        ControlError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    fn conflict(message: impl Into<String>) -> ControlError {
        ControlError {
            status: StatusCode::CONFLICT,
            message: message.into(),
        }
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.message}))).into_response()
    }
}

type ControlResult = Result<Json<Value>, ControlError>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sandbox/bots", post(create_bot).get(list_bots))
        .route("/sandbox/bots/{token}", get(bot_info))
        .route("/sandbox/bots/{token}/send", post(send_text))
        .route("/sandbox/bots/{token}/send_photo", post(send_photo))
        .route("/sandbox/bots/{token}/send_document", post(send_document))
        .route("/sandbox/bots/{token}/send_sticker", post(send_sticker))
        .route("/sandbox/bots/{token}/send_raw", post(send_raw))
        .route("/sandbox/bots/{token}/edit", post(edit_user_message))
        .route("/sandbox/bots/{token}/press", post(press))
        .route("/sandbox/bots/{token}/pay", post(pay))
        .route("/sandbox/bots/{token}/chats/{user_id}", get(chat_view))
        .route("/sandbox/bots/{token}/callbacks/{id}", get(callback_answer))
        .route("/sandbox/users", post(create_user).get(list_users))
        .route(
            "/sandbox/users/{id}/block/{token}",
            post(block).delete(unblock),
        )
        .route("/sandbox/users/{id}/stars", get(stars))
        .route("/sandbox/files/{file_id}", get(file))
        .route("/sandbox/faults", post(add_fault).delete(clear_faults))
        .route("/sandbox/channels", post(create_channel).get(list_channels))
        .route("/sandbox/channels/{id}/members", post(set_member))
        .route("/sandbox/channels/{id}/messages", get(channel_messages))
        .route("/sandbox/channels/{id}/send", post(send_to_group))
        .route("/sandbox/channels/{id}/press", post(press_in_group))
}

fn bot_index(world: &World, token: &str) -> Result<usize, ControlError> {
    world
        .bot_index(token)
        .ok_or_else(|| ControlError::not_found("no bot with this token"))
}

fn bot_json(bot: &crate::state::Bot) -> Value {
    json!({"token": bot.token, "id": bot.id, "username": bot.username, "first_name": bot.first_name})
}

// ---------------------------------------------------------------- bots and users

#[derive(Deserialize)]
struct NewBot {
    username: String,
    first_name: Option<String>,
}

async fn create_bot(State(state): State<AppState>, Json(body): Json<NewBot>) -> ControlResult {
    let username = body.username.trim().trim_start_matches('@').to_string();
    let valid = (5..=32).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid || !username.to_ascii_lowercase().ends_with("bot") {
        return Err(ControlError::bad_request(
            "username must be 5-32 letters, digits or _ and end in \"bot\"",
        ));
    }
    let mut world = state.world();
    if world
        .bots
        .iter()
        .any(|b| b.username.eq_ignore_ascii_case(&username))
    {
        return Err(ControlError::conflict("a bot with this username exists"));
    }
    let first_name = body
        .first_name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| username.clone());
    let bot = world.create_bot(&username, &first_name);
    Ok(Json(bot_json(bot)))
}

async fn list_bots(State(state): State<AppState>) -> Json<Value> {
    let world = state.world();
    let bots: Vec<Value> = world.bots.iter().map(bot_json).collect();
    Json(json!({"bots": bots}))
}

async fn bot_info(State(state): State<AppState>, Path(token): Path<String>) -> ControlResult {
    let world = state.world();
    let index = bot_index(&world, &token)?;
    let bot = &world.bots[index];
    let mut info = bot_json(bot);
    info["webhook_url"] = json!(bot.webhook.as_ref().map(|w| w.url.clone()));
    info["pending_update_count"] = json!(bot.queue.len());
    info["commands"] = json!(bot.commands);
    info["chats"] = json!(bot.chats.keys().collect::<Vec<_>>());
    Ok(Json(info))
}

#[derive(Deserialize)]
struct NewUser {
    first_name: String,
    username: Option<String>,
    language_code: Option<String>,
}

async fn create_user(State(state): State<AppState>, Json(body): Json<NewUser>) -> ControlResult {
    if body.first_name.trim().is_empty() {
        return Err(ControlError::bad_request("first_name is empty"));
    }
    let username = body
        .username
        .as_deref()
        .map(|u| u.trim().trim_start_matches('@'))
        .filter(|u| !u.is_empty());
    let language = body.language_code.as_deref().filter(|l| !l.is_empty());
    let id = state
        .world()
        .create_user(body.first_name.trim(), username, language);
    Ok(Json(json!({"id": id})))
}

async fn list_users(State(state): State<AppState>) -> Json<Value> {
    let world = state.world();
    let users: Vec<Value> = world.users.values().map(|u| u.to_json()).collect();
    Json(json!({"users": users}))
}

// ---------------------------------------------------------------- the user writes

/// Stores a message from the user in their chat with the bot and queues the update.
fn user_message(
    world: &mut World,
    token: &str,
    user_id: i64,
    content: Map<String, Value>,
) -> ControlResult {
    let bot = bot_index(world, token)?;
    let user = world
        .users
        .get(&user_id)
        .cloned()
        .ok_or_else(|| ControlError::not_found("no user with this id"))?;
    let bot = &mut world.bots[bot];
    let chat = bot.chat_mut(user_id);
    if chat.blocked {
        return Err(ControlError::conflict(
            "the user has blocked this bot; unblock first (DELETE /sandbox/users/{id}/block/{token})",
        ));
    }
    chat.started = true;
    let message_id = chat.next_message_id();
    let (message, stored) = incoming_message(message_id, &user, user.private_chat_json(), content);
    chat.messages.push(stored);
    let update_id = bot.push_update("message", message);
    Ok(Json(
        json!({"update_id": update_id, "message_id": message_id}),
    ))
}

fn text_content(text: &str) -> Result<Map<String, Value>, ControlError> {
    if text.trim().is_empty() {
        return Err(ControlError::bad_request("text is empty"));
    }
    let mut content = Map::new();
    content.insert("text".into(), json!(text));
    let commands = entities::bot_commands(text);
    if !commands.is_empty() {
        content.insert("entities".into(), Value::Array(commands));
    }
    Ok(content)
}

#[derive(Deserialize)]
struct SendText {
    user_id: i64,
    text: String,
}

async fn send_text(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(body): Json<SendText>,
) -> ControlResult {
    let content = text_content(&body.text)?;
    user_message(&mut state.world(), &token, body.user_id, content)
}

fn decode_base64(data: &str) -> Result<Vec<u8>, ControlError> {
    let data = data.trim();
    // Accept data: URLs as produced by the browser's FileReader.
    let data = data.split_once("base64,").map(|(_, d)| d).unwrap_or(data);
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| ControlError::bad_request("invalid base64"))
}

fn caption_content(content: &mut Map<String, Value>, caption: Option<String>) {
    if let Some(caption) = caption.filter(|c| !c.trim().is_empty()) {
        content.insert("caption".into(), json!(caption));
    }
}

#[derive(Deserialize)]
struct SendPhoto {
    user_id: i64,
    png_base64: String,
    caption: Option<String>,
}

async fn send_photo(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(body): Json<SendPhoto>,
) -> ControlResult {
    let bytes = decode_base64(&body.png_base64)?;
    let size = image_size(&bytes)
        .ok_or_else(|| ControlError::bad_request("not a PNG, JPEG, GIF or WebP image"))?;
    let mut world = state.world();
    bot_index(&world, &token)?;
    let file = world
        .files
        .add(FileKind::Photo, bytes.into(), None, None, Some(size));
    let mut content = Map::new();
    content.insert("photo".into(), file.photo_sizes_json());
    caption_content(&mut content, body.caption);
    user_message(&mut world, &token, body.user_id, content)
}

#[derive(Deserialize)]
struct SendDocument {
    user_id: i64,
    data_base64: String,
    file_name: Option<String>,
    mime_type: Option<String>,
    caption: Option<String>,
}

async fn send_document(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(body): Json<SendDocument>,
) -> ControlResult {
    let bytes = decode_base64(&body.data_base64)?;
    let mut world = state.world();
    bot_index(&world, &token)?;
    let file = world.files.add(
        FileKind::Document,
        bytes.into(),
        body.file_name,
        body.mime_type,
        None,
    );
    let mut content = Map::new();
    content.insert("document".into(), file.document_json());
    caption_content(&mut content, body.caption);
    user_message(&mut world, &token, body.user_id, content)
}

#[derive(Deserialize)]
struct SendSticker {
    user_id: i64,
    emoji: Option<String>,
}

async fn send_sticker(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(body): Json<SendSticker>,
) -> ControlResult {
    let mut world = state.world();
    bot_index(&world, &token)?;
    let file = world.files.add(
        FileKind::Sticker,
        TINY_PNG.to_vec().into(),
        None,
        Some("image/png".into()),
        Some((512, 512)),
    );
    let mut sticker = json!({
        "file_id": file.file_id,
        "file_unique_id": file.file_unique_id,
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": false,
        "is_video": false,
        "file_size": file.bytes.len(),
    });
    if let Some(emoji) = body.emoji.filter(|e| !e.is_empty()) {
        sticker["emoji"] = json!(emoji);
    }
    let mut content = Map::new();
    content.insert("sticker".into(), sticker);
    user_message(&mut world, &token, body.user_id, content)
}

#[derive(Deserialize)]
struct SendRaw {
    user_id: i64,
    /// Message fields to add as they are (e.g. "contact", "location", "dice").
    message: Map<String, Value>,
}

/// Any other kind of message, for testing how bots cope with unexpected content.
async fn send_raw(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(body): Json<SendRaw>,
) -> ControlResult {
    const RESERVED: &[&str] = &["message_id", "from", "chat", "date"];
    if body.message.keys().any(|k| RESERVED.contains(&k.as_str())) {
        return Err(ControlError::bad_request(
            "message_id, from, chat and date are set by the sandbox",
        ));
    }
    user_message(&mut state.world(), &token, body.user_id, body.message)
}

#[derive(Deserialize)]
struct EditText {
    user_id: i64,
    message_id: i64,
    text: String,
}

/// The user edits one of their text messages: an `edited_message` update.
async fn edit_user_message(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(body): Json<EditText>,
) -> ControlResult {
    let content = text_content(&body.text)?;
    let mut world = state.world();
    let bot = bot_index(&world, &token)?;
    let bot = &mut world.bots[bot];
    let chat = bot
        .chats
        .get_mut(&body.user_id)
        .ok_or_else(|| ControlError::not_found("this user has no chat with the bot"))?;
    let stored = chat
        .find_mut(body.message_id)
        .filter(|m| !m.from_bot && m.message.get("text").is_some())
        .ok_or_else(|| ControlError::not_found("no text message of this user with that id"))?;
    if let Some(object) = stored.message.as_object_mut() {
        object.remove("entities");
        object.extend(content);
        object.insert("edit_date".into(), json!(now_unix()));
    }
    stored.edited = true;
    let edited = stored.message.clone();
    let update_id = bot.push_update("edited_message", edited);
    Ok(Json(
        json!({"update_id": update_id, "message_id": body.message_id}),
    ))
}

#[derive(Deserialize)]
struct Press {
    user_id: i64,
    message_id: i64,
    data: String,
}

/// The user presses an inline button: a `callback_query` update.
async fn press(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(body): Json<Press>,
) -> ControlResult {
    let mut world = state.world();
    let bot = bot_index(&world, &token)?;
    let user = world
        .users
        .get(&body.user_id)
        .cloned()
        .ok_or_else(|| ControlError::not_found("no user with this id"))?;
    let bot = &mut world.bots[bot];
    let bot_id = bot.id;
    let chat = bot
        .chats
        .get(&body.user_id)
        .ok_or_else(|| ControlError::not_found("this user has no chat with the bot"))?;
    if chat.blocked {
        return Err(ControlError::conflict("the user has blocked this bot"));
    }
    let message = chat
        .find(body.message_id)
        .filter(|m| m.from_bot)
        .ok_or_else(|| ControlError::bad_request("no bot message with this id in the chat"))?;
    if !keyboards::has_callback(message.message.get("reply_markup"), &body.data) {
        return Err(ControlError::bad_request(
            "that message has no inline button with this callback_data",
        ));
    }
    let message = message.message.clone();
    let chat_instance = (bot_id ^ body.user_id).unsigned_abs();
    Ok(Json(push_callback(
        bot,
        &user,
        message,
        chat_instance,
        body.message_id,
        body.data,
    )))
}

async fn callback_answer(
    State(state): State<AppState>,
    Path((token, id)): Path<(String, String)>,
) -> ControlResult {
    let world = state.world();
    let bot = bot_index(&world, &token)?;
    let record = world.bots[bot]
        .callbacks
        .get(&id)
        .ok_or_else(|| ControlError::not_found("no callback query with this id"))?;
    Ok(Json(record.to_json()))
}

// ---------------------------------------------------------------- the chat as the user sees it

fn largest_photo_id(message: &Value) -> Option<Value> {
    message
        .get("photo")
        .and_then(Value::as_array)
        .and_then(|sizes| sizes.last())
        .map(|size| size["file_id"].clone())
}

fn chat_entry(stored: &StoredMessage) -> Value {
    let m = &stored.message;
    json!({
        "message_id": stored.message_id,
        "from": if stored.from_bot { "bot" } else { "user" },
        "date": m["date"],
        "text": m.get("text"),
        "entities": m.get("entities"),
        "caption": m.get("caption"),
        "caption_entities": m.get("caption_entities"),
        "reply_markup": stored.shown_markup,
        "photo_file_id": largest_photo_id(m),
        "document_file_id": m.get("document").map(|d| d["file_id"].clone()),
        "document_name": m.get("document").and_then(|d| d.get("file_name")),
        "sticker_file_id": m.get("sticker").map(|s| s["file_id"].clone()),
        "invoice": m.get("invoice"),
        "successful_payment": m.get("successful_payment"),
        "refunded_payment": m.get("refunded_payment"),
        "edited": stored.edited,
    })
}

async fn chat_view(
    State(state): State<AppState>,
    Path((token, user_id)): Path<(String, i64)>,
) -> ControlResult {
    let world = state.world();
    let bot = bot_index(&world, &token)?;
    let bot = &world.bots[bot];
    let Some(chat) = bot.chats.get(&user_id) else {
        return Ok(Json(
            json!({"messages": [], "callback_answers": [], "blocked": false}),
        ));
    };
    let messages: Vec<Value> = chat
        .messages
        .iter()
        .filter(|m| !m.deleted)
        .map(chat_entry)
        .collect();
    let mut answers: Vec<&CallbackRecord> = bot
        .callbacks
        .values()
        .filter(|c| c.user_id == user_id)
        .collect();
    answers.sort_by(|a, b| a.id.cmp(&b.id));
    let answers: Vec<Value> = answers.iter().map(|c| c.to_json()).collect();
    Ok(Json(
        json!({"messages": messages, "callback_answers": answers, "blocked": chat.blocked}),
    ))
}

async fn file(State(state): State<AppState>, Path(file_id): Path<String>) -> Response {
    let world = state.world();
    match world.files.get(&file_id) {
        Some(file) => file_response(file),
        None => ControlError::not_found("no file with this id").into_response(),
    }
}

// ---------------------------------------------------------------- blocking

fn set_blocked(state: &AppState, user_id: i64, token: &str, blocked: bool) -> ControlResult {
    let mut world = state.world();
    let bot = bot_index(&world, token)?;
    let user = world
        .users
        .get(&user_id)
        .cloned()
        .ok_or_else(|| ControlError::not_found("no user with this id"))?;
    let bot = &mut world.bots[bot];
    let bot_user = bot.user_json();
    let chat = bot.chat_mut(user_id);
    if chat.blocked == blocked {
        return Ok(Json(json!({"blocked": blocked, "update_id": null})));
    }
    chat.blocked = blocked;
    let (old, new) = if blocked {
        ("member", "kicked")
    } else {
        ("kicked", "member")
    };
    let update = json!({
        "chat": user.private_chat_json(),
        "from": user.to_json(),
        "date": now_unix(),
        "old_chat_member": chat_member_json(bot_user.clone(), old),
        "new_chat_member": chat_member_json(bot_user, new),
    });
    let update_id = bot.push_update("my_chat_member", update);
    Ok(Json(json!({"blocked": blocked, "update_id": update_id})))
}

async fn block(
    State(state): State<AppState>,
    Path((user_id, token)): Path<(i64, String)>,
) -> ControlResult {
    set_blocked(&state, user_id, &token, true)
}

async fn unblock(
    State(state): State<AppState>,
    Path((user_id, token)): Path<(i64, String)>,
) -> ControlResult {
    set_blocked(&state, user_id, &token, false)
}

// ---------------------------------------------------------------- faults

#[derive(Deserialize)]
struct NewFault {
    token: String,
    method: String,
    error_code: Option<u16>,
    description: Option<String>,
    retry_after: Option<u32>,
    delay_ms: Option<u64>,
    times: Option<u32>,
}

async fn add_fault(State(state): State<AppState>, Json(body): Json<NewFault>) -> ControlResult {
    if body.error_code.is_none() && body.delay_ms.unwrap_or(0) == 0 {
        return Err(ControlError::bad_request(
            "a fault needs an error_code, a delay_ms, or both",
        ));
    }
    if body.error_code.is_some_and(|c| !(400..=599).contains(&c)) {
        return Err(ControlError::bad_request("error_code must be 400-599"));
    }
    let mut world = state.world();
    bot_index(&world, &body.token)?;
    world.faults.push(Fault {
        token: body.token,
        method: body.method.to_ascii_lowercase(),
        error_code: body.error_code,
        description: body.description,
        retry_after: body.retry_after,
        delay_ms: body.delay_ms.unwrap_or(0),
        times: body.times.unwrap_or(1).max(1),
    });
    Ok(Json(json!({"ok": true})))
}

async fn clear_faults(State(state): State<AppState>) -> Json<Value> {
    state.world().faults.clear();
    Json(json!({"ok": true}))
}

// ---------------------------------------------------------------- channels

#[derive(Deserialize)]
struct NewChannel {
    username: Option<String>,
    title: String,
    /// "channel" (default), "supergroup" or "group".
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn create_channel(
    State(state): State<AppState>,
    Json(body): Json<NewChannel>,
) -> ControlResult {
    if body.title.trim().is_empty() {
        return Err(ControlError::bad_request("title is empty"));
    }
    let kind = match body.kind.as_deref() {
        None => ChatKind::Channel,
        Some(kind) => ChatKind::parse(kind).ok_or_else(|| {
            ControlError::bad_request("type must be channel, supergroup or group")
        })?,
    };
    let mut world = state.world();
    let username = body
        .username
        .as_deref()
        .map(|u| u.trim().trim_start_matches('@'))
        .filter(|u| !u.is_empty());
    if let Some(username) = username {
        if world.channel_by_username(username).is_some() {
            return Err(ControlError::conflict(
                "a channel with this username exists",
            ));
        }
    }
    let id = world.create_chat(kind, username, body.title.trim());
    Ok(Json(json!({"id": id})))
}

/// Messages in a channel or group (e.g. what bots posted to a staff group).
async fn channel_messages(
    State(state): State<AppState>,
    Path(channel_id): Path<i64>,
) -> ControlResult {
    let world = state.world();
    let channel = world
        .channels
        .get(&channel_id)
        .ok_or_else(|| ControlError::not_found("no channel or group with this id"))?;
    let messages: Vec<Value> = channel
        .messages
        .iter()
        .filter(|m| !m.deleted)
        .map(|m| {
            let mut entry = chat_entry(m);
            entry["sender_id"] = m
                .message
                .get("from")
                .or_else(|| m.message.get("sender_chat"))
                .map(|f| f["id"].clone())
                .unwrap_or(Value::Null);
            entry
        })
        .collect();
    Ok(Json(json!({"messages": messages})))
}

/// A user writes in a group: every bot in the group gets the message update.
async fn send_to_group(
    State(state): State<AppState>,
    Path(channel_id): Path<i64>,
    Json(body): Json<SendText>,
) -> ControlResult {
    let content = text_content(&body.text)?;
    let mut world = state.world();
    let user = world
        .users
        .get(&body.user_id)
        .cloned()
        .ok_or_else(|| ControlError::not_found("no user with this id"))?;
    let channel = world
        .channels
        .get_mut(&channel_id)
        .ok_or_else(|| ControlError::not_found("no channel or group with this id"))?;
    if channel.kind == ChatKind::Channel {
        return Err(ControlError::bad_request(
            "users do not write in channels; create a group or supergroup",
        ));
    }
    if !channel.is_member(body.user_id) {
        return Err(ControlError::bad_request(
            "the user is not a member of this group",
        ));
    }
    let message_id = channel.next_message_id();
    let (message, stored) = incoming_message(message_id, &user, channel.chat_json(), content);
    channel.messages.push(stored);
    let member_bots: Vec<i64> = channel
        .members
        .keys()
        .copied()
        .filter(|id| channel.is_member(*id))
        .collect();
    let mut update_ids = Vec::new();
    for bot in world
        .bots
        .iter_mut()
        .filter(|b| member_bots.contains(&b.id))
    {
        update_ids.push(bot.push_update("message", message.clone()));
    }
    Ok(Json(
        json!({"message_id": message_id, "update_ids": update_ids}),
    ))
}

#[derive(Deserialize)]
struct GroupPress {
    token: String,
    user_id: i64,
    message_id: i64,
    data: String,
}

/// A member presses an inline button on a bot's message in a group (e.g. staff approving a
/// receipt): a `callback_query` update to that bot.
async fn press_in_group(
    State(state): State<AppState>,
    Path(channel_id): Path<i64>,
    Json(body): Json<GroupPress>,
) -> ControlResult {
    let mut world = state.world();
    let bot = bot_index(&world, &body.token)?;
    let user = world
        .users
        .get(&body.user_id)
        .cloned()
        .ok_or_else(|| ControlError::not_found("no user with this id"))?;
    let bot_id = world.bots[bot].id;
    let channel = world
        .channels
        .get(&channel_id)
        .ok_or_else(|| ControlError::not_found("no channel or group with this id"))?;
    if !channel.is_member(body.user_id) {
        return Err(ControlError::bad_request(
            "the user is not a member of this group",
        ));
    }
    let message = channel
        .messages
        .iter()
        .find(|m| {
            m.message_id == body.message_id
                && !m.deleted
                && m.from_bot
                && m.message["from"]["id"].as_i64() == Some(bot_id)
        })
        .ok_or_else(|| {
            ControlError::bad_request("no message of this bot with this id in the group")
        })?
        .message
        .clone();
    if !keyboards::has_callback(message.get("reply_markup"), &body.data) {
        return Err(ControlError::bad_request(
            "that message has no inline button with this callback_data",
        ));
    }
    let bot = &mut world.bots[bot];
    let chat_instance = (bot_id ^ channel_id).unsigned_abs();
    Ok(Json(push_callback(
        bot,
        &user,
        message,
        chat_instance,
        body.message_id,
        body.data,
    )))
}

/// A message a user sends (to a bot or in a group): the update's JSON and what is stored.
fn incoming_message(
    message_id: i64,
    user: &User,
    chat: Value,
    content: Map<String, Value>,
) -> (Value, StoredMessage) {
    let mut message = Map::new();
    message.insert("message_id".into(), json!(message_id));
    message.insert("from".into(), user.to_json());
    message.insert("chat".into(), chat);
    message.insert("date".into(), json!(now_unix()));
    message.extend(content);
    let message = Value::Object(message);
    let stored = StoredMessage {
        message_id,
        from_bot: false,
        message: message.clone(),
        shown_markup: None,
        deleted: false,
        edited: false,
        invoice: None,
    };
    (message, stored)
}

/// A user presses an inline button on `message`: the callback is recorded (so tests can see
/// how the bot answered) and a `callback_query` update goes to the bot.
fn push_callback(
    bot: &mut Bot,
    user: &User,
    message: Value,
    chat_instance: u64,
    message_id: i64,
    data: String,
) -> Value {
    let id = format!(
        "{}{}",
        rand::random::<u32>() % 9 + 1,
        rand::random::<u64>() % 1_000_000_000_000_000
    );
    let query = json!({
        "id": id,
        "from": user.to_json(),
        "message": message,
        "chat_instance": chat_instance.to_string(),
        "data": data,
    });
    bot.callbacks.insert(
        id.clone(),
        CallbackRecord {
            id: id.clone(),
            user_id: user.id,
            message_id,
            data,
            answered: false,
            text: None,
            show_alert: false,
            url: None,
        },
    );
    let update_id = bot.push_update("callback_query", query);
    json!({"update_id": update_id, "callback_query_id": id})
}

async fn list_channels(State(state): State<AppState>) -> Json<Value> {
    let world = state.world();
    let channels: Vec<Value> = world
        .channels
        .values()
        .map(|c| {
            let mut v = c.chat_json();
            v["members"] = json!(c.members);
            v
        })
        .collect();
    Json(json!({"channels": channels}))
}

#[derive(Deserialize)]
struct Member {
    user_id: i64,
    status: String,
}

async fn set_member(
    State(state): State<AppState>,
    Path(channel_id): Path<i64>,
    Json(body): Json<Member>,
) -> ControlResult {
    const STATUSES: &[&str] = &[
        "creator",
        "administrator",
        "member",
        "restricted",
        "left",
        "kicked",
    ];
    if !STATUSES.contains(&body.status.as_str()) {
        return Err(ControlError::bad_request(
            "status must be creator, administrator, member, restricted, left or kicked",
        ));
    }
    let mut world = state.world();
    let known = world.users.contains_key(&body.user_id) || world.bot_by_id(body.user_id).is_some();
    if !known {
        return Err(ControlError::not_found("no user or bot with this id"));
    }
    let channel = world
        .channels
        .get_mut(&channel_id)
        .ok_or_else(|| ControlError::not_found("no channel with this id"))?;
    channel.members.insert(body.user_id, body.status.clone());
    Ok(Json(
        json!({"channel_id": channel_id, "user_id": body.user_id, "status": body.status}),
    ))
}

// ---------------------------------------------------------------- Stars payments

#[derive(Deserialize)]
struct Pay {
    user_id: i64,
    message_id: Option<i64>,
    /// A createInvoiceLink URL (or just its slug) instead of a message.
    invoice_link: Option<String>,
}

fn find_invoice(world: &World, bot: usize, body: &Pay) -> Result<Invoice, ControlError> {
    if let Some(link) = &body.invoice_link {
        let slug = link.rsplit('$').next().unwrap_or(link);
        let found = world
            .invoice_links
            .get(slug)
            .filter(|l| l.bot_id == world.bots[bot].id)
            .ok_or_else(|| ControlError::not_found("no invoice link of this bot with that slug"))?;
        return Ok(found.invoice.clone());
    }
    let message_id = body
        .message_id
        .ok_or_else(|| ControlError::bad_request("give message_id or invoice_link"))?;
    world.bots[bot]
        .chats
        .get(&body.user_id)
        .and_then(|c| c.find(message_id))
        .and_then(|m| m.invoice.clone())
        .ok_or_else(|| ControlError::bad_request("no invoice message with this id in the chat"))
}

/// The user pays a Stars invoice: a `pre_checkout_query`, then (if the bot answers ok in
/// time) a `successful_payment` message.
async fn pay(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(body): Json<Pay>,
) -> ControlResult {
    let (receiver, query_id, invoice) = {
        let mut world = state.world();
        let bot = bot_index(&world, &token)?;
        let user = world
            .users
            .get(&body.user_id)
            .cloned()
            .ok_or_else(|| ControlError::not_found("no user with this id"))?;
        let invoice = find_invoice(&world, bot, &body)?;
        let bot = &mut world.bots[bot];
        if bot.chats.get(&body.user_id).is_some_and(|c| c.blocked) {
            return Err(ControlError::conflict("the user has blocked this bot"));
        }
        let query_id = random_string(19);
        let (sender, receiver) = oneshot::channel();
        bot.checkouts.insert(query_id.clone(), sender);
        bot.push_update(
            "pre_checkout_query",
            json!({
                "id": query_id,
                "from": user.to_json(),
                "currency": invoice.currency,
                "total_amount": invoice.total_amount,
                "invoice_payload": invoice.payload,
            }),
        );
        (receiver, query_id, invoice)
    };
    let mut shutdown = state.shutdown_signal();
    let answer = tokio::select! {
        answer = tokio::time::timeout(state.options.pre_checkout_timeout, receiver) => answer,
        _ = shutdown.wait_for(|stopping| *stopping) => {
            return Err(ControlError::conflict("the sandbox is shutting down"));
        }
    };
    let mut world = state.world();
    let answer = match answer {
        Ok(Ok(answer)) => answer,
        _ => {
            if let Some(bot) = world.bot_mut(&token) {
                bot.checkouts.remove(&query_id);
            }
            return Ok(Json(json!({
                "status": "timeout",
                "error": format!(
                    "the bot did not answer the pre_checkout_query within {:?}",
                    state.options.pre_checkout_timeout
                ),
            })));
        }
    };
    if let CheckoutAnswer::Declined(message) = answer {
        return Ok(Json(
            json!({"status": "declined", "error_message": message}),
        ));
    }
    let charge_id = format!("stxsandbox{}", random_string(40));
    let bot_id = world
        .bot(&token)
        .map(|b| b.id)
        .ok_or_else(|| ControlError::not_found("no bot with this token"))?;
    let mut content = Map::new();
    content.insert(
        "successful_payment".into(),
        json!({
            "currency": invoice.currency,
            "total_amount": invoice.total_amount,
            "invoice_payload": invoice.payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": "",
        }),
    );
    let Json(sent) = user_message(&mut world, &token, body.user_id, content)?;
    world.charges.insert(
        charge_id.clone(),
        Charge {
            charge_id: charge_id.clone(),
            bot_id,
            user_id: body.user_id,
            amount: invoice.total_amount,
            payload: invoice.payload.clone(),
            date: now_unix(),
            refunded: false,
        },
    );
    Ok(Json(json!({
        "status": "paid",
        "telegram_payment_charge_id": charge_id,
        "update_id": sent["update_id"],
        "message_id": sent["message_id"],
        "invoice": invoice_json(&invoice),
    })))
}

async fn stars(State(state): State<AppState>, Path(user_id): Path<i64>) -> ControlResult {
    let world = state.world();
    if !world.users.contains_key(&user_id) {
        return Err(ControlError::not_found("no user with this id"));
    }
    let mut charges: Vec<&Charge> = world
        .charges
        .values()
        .filter(|c| c.user_id == user_id)
        .collect();
    charges.sort_by_key(|c| (c.date, c.charge_id.clone()));
    let spent: i64 = charges
        .iter()
        .filter(|c| !c.refunded)
        .map(|c| c.amount)
        .sum();
    let transactions: Vec<Value> = charges.iter().map(|c| c.to_json()).collect();
    Ok(Json(
        json!({"user_id": user_id, "spent": spent, "transactions": transactions}),
    ))
}
