//! getChatMember: channel membership checks (e.g. "join our channel first").

use serde_json::{json, Value};

use super::{ApiError, ApiResult, ChatRef, Params};
use crate::state::{AppState, ChatKind, World};

/// The Bot API `ChatMember` object for `status`.
pub fn chat_member_json(user: Value, status: &str) -> Value {
    match status {
        "creator" => json!({"status": "creator", "user": user, "is_anonymous": false}),
        "administrator" => json!({
            "status": "administrator",
            "user": user,
            "can_be_edited": false,
            "is_anonymous": false,
            "can_manage_chat": true,
            "can_delete_messages": true,
            "can_manage_video_chats": true,
            "can_restrict_members": true,
            "can_promote_members": false,
            "can_change_info": true,
            "can_invite_users": true,
            "can_post_stories": true,
            "can_edit_stories": true,
            "can_delete_stories": true,
            "can_post_messages": true,
            "can_edit_messages": true,
        }),
        "kicked" => json!({"status": "kicked", "user": user, "until_date": 0}),
        "restricted" => json!({
            "status": "restricted",
            "user": user,
            "is_member": true,
            "can_send_messages": false,
            "can_send_audios": false,
            "can_send_documents": false,
            "can_send_photos": false,
            "can_send_videos": false,
            "can_send_video_notes": false,
            "can_send_voice_notes": false,
            "can_send_polls": false,
            "can_send_other_messages": false,
            "can_add_web_page_previews": false,
            "can_change_info": false,
            "can_invite_users": false,
            "can_pin_messages": false,
            "can_manage_topics": false,
            "until_date": 0,
        }),
        "member" => json!({"status": "member", "user": user}),
        _ => json!({"status": "left", "user": user}),
    }
}

/// A user or bot as a Bot API `User`.
fn user_json(world: &World, user_id: i64) -> Option<Value> {
    world
        .users
        .get(&user_id)
        .map(|u| u.to_json())
        .or_else(|| world.bot_by_id(user_id).map(|b| b.user_json()))
}

pub fn get_chat_member(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let chat = p.chat_id()?;
    let user_id = p.required_i64("user_id", "user_id is empty")?;
    let world = state.world();
    let bot = world.bot(token).ok_or_else(ApiError::unauthorized)?;
    let channel = match &chat {
        ChatRef::Id(id) if *id > 0 => {
            // A private chat has two members: the user and the bot.
            if !bot.chats.contains_key(id) {
                return Err(ApiError::chat_not_found());
            }
            if user_id != *id && user_id != bot.id {
                return Err(ApiError::bad_request("user not found"));
            }
            let user = user_json(&world, user_id)
                .ok_or_else(|| ApiError::bad_request("user not found"))?;
            return Ok(chat_member_json(user, "member"));
        }
        ChatRef::Id(id) => world.channels.get(id),
        ChatRef::Username(username) => world.channel_by_username(username),
    };
    let channel = channel.ok_or_else(ApiError::chat_not_found)?;
    let bot_status = channel.members.get(&bot.id).map(String::as_str);
    let in_channel = bot_status.is_some_and(|s| !matches!(s, "left" | "kicked"));
    // A bot may always look itself up in a chat it can see (to check its rights).
    if user_id == bot.id && (in_channel || channel.username.is_some()) {
        return Ok(chat_member_json(
            bot.user_json(),
            bot_status.unwrap_or("left"),
        ));
    }
    // In groups every member may see the member list; in channels only admins.
    let sees_members = match channel.kind {
        ChatKind::Channel => matches!(bot_status, Some("creator" | "administrator")),
        _ => in_channel,
    };
    match bot_status {
        _ if sees_members => {}
        Some("member" | "restricted") => {
            return Err(ApiError::bad_request("member list is inaccessible"));
        }
        // Telegram does not reveal chats the bot is not in, unless they are public.
        _ if channel.username.is_some() => {
            return Err(ApiError::bad_request("member list is inaccessible"));
        }
        _ => return Err(ApiError::chat_not_found()),
    }
    let user = user_json(&world, user_id).ok_or_else(|| ApiError::bad_request("user not found"))?;
    let status = channel
        .members
        .get(&user_id)
        .map(String::as_str)
        .unwrap_or("left");
    Ok(chat_member_json(user, status))
}

/// Fields every `ChatFullInfo` carries.
fn full_info(mut chat: Value) -> Value {
    chat["accent_color_id"] = json!(0);
    chat["max_reaction_count"] = json!(11);
    chat["accepted_gift_types"] = json!({
        "unlimited_gifts": true,
        "limited_gifts": true,
        "unique_gifts": true,
        "premium_subscription": true,
        "gifts_from_channels": true,
    });
    chat
}

/// getChat: the user's private chat, or a channel the bot is in (or a public one).
pub fn get_chat(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let chat = p.chat_id()?;
    let world = state.world();
    let bot = world.bot(token).ok_or_else(ApiError::unauthorized)?;
    let channel = match &chat {
        ChatRef::Id(id) if *id > 0 => {
            let user = world
                .users
                .get(id)
                .filter(|_| bot.chats.contains_key(id))
                .ok_or_else(ApiError::chat_not_found)?;
            return Ok(full_info(user.private_chat_json()));
        }
        ChatRef::Id(id) => world.channels.get(id),
        ChatRef::Username(username) => world.channel_by_username(username),
    };
    let channel = channel.ok_or_else(ApiError::chat_not_found)?;
    let in_channel = channel
        .members
        .get(&bot.id)
        .is_some_and(|s| !matches!(s.as_str(), "left" | "kicked"));
    if !in_channel && channel.username.is_none() {
        return Err(ApiError::chat_not_found());
    }
    Ok(full_info(channel.chat_json()))
}
