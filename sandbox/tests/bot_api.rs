//! Conformance of the Bot API surface: request shapes, Telegram's errors, and responses
//! that parse with teloxide's types.

mod common;

use serde_json::{json, Value};
use teloxide::types::{ChatMember, Me, Message, MessageEntityKind};

#[tokio::test]
async fn get_me_parses_and_methods_are_case_insensitive() {
    let env = common::start().await;
    for method in ["getMe", "GetMe", "getme", "GETME"] {
        let me: Me = serde_json::from_value(env.ok(method, json!({})).await).unwrap();
        assert_eq!(me.username(), "test_shop_bot");
        assert!(me.user.is_bot);
        assert_eq!(me.user.id.0 as i64, env.bot.id);
    }
    // GET with no body works too.
    let body: Value = env
        .http
        .get(env.method_url(&env.bot.token, "getMe"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["result"]["username"], "test_shop_bot");
}

#[tokio::test]
async fn wrong_token_is_401_and_unknown_method_is_404() {
    let env = common::start().await;
    let (status, body) = env.call_as("123:nope", "getMe", json!({})).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
    );
    assert_eq!(
        env.err("sendMessagez", json!({})).await,
        (404, "Not Found".to_string())
    );
    // A real method the sandbox does not simulate says so instead of pretending.
    let (code, description) = env.err("sendPoll", json!({})).await;
    assert_eq!(code, 400);
    assert!(description.contains("not simulated"), "{description}");
}

#[tokio::test]
async fn parameters_come_from_query_form_and_json() {
    let env = common::start().await;
    let url = env.method_url(&env.bot.token, "sendMessage");
    let query: Value = env
        .http
        .get(format!("{url}?chat_id={}&text=from%20query", env.user))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(query["result"]["text"], "from query");
    let form: Value = env
        .http
        .post(&url)
        .form(&[
            ("chat_id", env.user.to_string()),
            ("text", "from form".to_string()),
            (
                "reply_markup",
                r#"{"inline_keyboard":[[{"text":"A","callback_data":"a"}]]}"#.to_string(),
            ),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(form["result"]["text"], "from form");
    assert_eq!(
        form["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
        "a"
    );
    let message: Message = serde_json::from_value(form["result"].clone()).unwrap();
    assert_eq!(message.chat.id.0, env.user);
}

#[tokio::test]
async fn send_message_returns_a_teloxide_message_with_utf16_entities() {
    let env = common::start().await;
    let result = env
        .ok(
            "sendMessage",
            json!({"chat_id": env.user, "text": "😀 <b>سلام</b> &amp; <a href=\"https://t.me/x\">link</a>", "parse_mode": "HTML"}),
        )
        .await;
    let message: Message = serde_json::from_value(result).unwrap();
    assert_eq!(message.text(), Some("😀 سلام & link"));
    let entities = message.entities().unwrap();
    assert_eq!(entities.len(), 2);
    assert_eq!(entities[0].kind, MessageEntityKind::Bold);
    assert_eq!((entities[0].offset, entities[0].length), (3, 4));
    assert!(matches!(
        entities[1].kind,
        MessageEntityKind::TextLink { .. }
    ));
    assert_eq!(message.from.as_ref().unwrap().id.0 as i64, env.bot.id);
}

#[tokio::test]
async fn send_message_errors_match_telegram() {
    let env = common::start().await;
    let cases = [
        (json!({"chat_id": 999, "text": "x"}), 400, "Bad Request: chat not found"),
        (json!({"text": "x"}), 400, "Bad Request: chat_id is empty"),
        (json!({"chat_id": env.user, "text": ""}), 400, "Bad Request: message text is empty"),
        (json!({"chat_id": env.user}), 400, "Bad Request: message text is empty"),
        (
            json!({"chat_id": env.user, "text": "y".repeat(4097)}),
            400,
            "Bad Request: message is too long",
        ),
        (
            json!({"chat_id": env.user, "text": "<b>unclosed", "parse_mode": "HTML"}),
            400,
            "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"",
        ),
        (
            json!({"chat_id": env.user, "text": "1.5", "parse_mode": "MarkdownV2"}),
            400,
            "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'",
        ),
        (
            json!({"chat_id": env.user, "text": "x", "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "d".repeat(65)}]]}}),
            400,
            "Bad Request: BUTTON_DATA_INVALID",
        ),
    ];
    for (params, code, description) in cases {
        let (got_code, got) = env.err("sendMessage", params.clone()).await;
        assert_eq!(got_code, code, "{params}");
        assert_eq!(got, description, "{params}");
    }
    // 4096 characters after entity parsing is still fine.
    let exactly = format!("<b>{}</b>", "y".repeat(4096));
    env.ok(
        "sendMessage",
        json!({"chat_id": env.user, "text": exactly, "parse_mode": "HTML"}),
    )
    .await;
}

#[tokio::test]
async fn users_who_never_started_or_blocked_the_bot_get_403() {
    let env = common::start().await;
    let stranger = env
        .control
        .create_user("Ali", None, Some("en"))
        .await
        .unwrap();
    assert_eq!(
        env.err("sendMessage", json!({"chat_id": stranger, "text": "hi"}))
            .await,
        (
            403,
            "Forbidden: bot can't initiate conversation with a user".to_string()
        )
    );
    env.control.block(env.user, &env.bot.token).await.unwrap();
    assert_eq!(
        env.err("sendMessage", json!({"chat_id": env.user, "text": "hi"}))
            .await,
        (403, "Forbidden: bot was blocked by the user".to_string())
    );
    env.control.unblock(env.user, &env.bot.token).await.unwrap();
    env.ok(
        "sendMessage",
        json!({"chat_id": env.user, "text": "welcome back"}),
    )
    .await;
    // Blocking and unblocking arrive as my_chat_member updates.
    let updates = env.ok("getUpdates", json!({})).await;
    let kinds: Vec<String> = updates
        .as_array()
        .unwrap()
        .iter()
        .map(|u| match common::update(u).kind {
            teloxide::types::UpdateKind::MyChatMember(m) => {
                format!("{:?}", m.new_chat_member.status())
            }
            teloxide::types::UpdateKind::Message(_) => "message".into(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["message", "Banned", "Member"]);
}

#[tokio::test]
async fn edit_and_delete_follow_telegram_rules() {
    let env = common::start().await;
    let markup = json!({"inline_keyboard": [[{"text": "Buy", "callback_data": "buy"}]]});
    let sent = env
        .ok(
            "sendMessage",
            json!({"chat_id": env.user, "text": "Plans", "reply_markup": markup}),
        )
        .await;
    let id = sent["message_id"].as_i64().unwrap();
    let (_, same) = env
        .err(
            "editMessageText",
            json!({"chat_id": env.user, "message_id": id, "text": "Plans", "reply_markup": markup}),
        )
        .await;
    assert_eq!(same, "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message");
    let edited = env
        .ok(
            "editMessageText",
            json!({"chat_id": env.user, "message_id": id, "text": "New plans", "reply_markup": markup}),
        )
        .await;
    let edited: Message = serde_json::from_value(edited).unwrap();
    assert_eq!(edited.text(), Some("New plans"));
    assert!(edited.edit_date().is_some());
    let removed = env
        .ok(
            "editMessageReplyMarkup",
            json!({"chat_id": env.user, "message_id": id}),
        )
        .await;
    assert!(removed.get("reply_markup").is_none());
    assert_eq!(
        env.err(
            "editMessageText",
            json!({"chat_id": env.user, "message_id": 9999, "text": "x"})
        )
        .await
        .1,
        "Bad Request: message to edit not found"
    );
    // The user's own /start cannot be edited by the bot.
    assert_eq!(
        env.err(
            "editMessageText",
            json!({"chat_id": env.user, "message_id": 1, "text": "x"})
        )
        .await
        .1,
        "Bad Request: message can't be edited"
    );
    env.ok(
        "deleteMessage",
        json!({"chat_id": env.user, "message_id": id}),
    )
    .await;
    assert_eq!(
        env.err(
            "deleteMessage",
            json!({"chat_id": env.user, "message_id": id})
        )
        .await
        .1,
        "Bad Request: message to delete not found"
    );
    let chat = env.control.chat(&env.bot.token, env.user).await.unwrap();
    assert!(chat.iter().all(|m| m.message_id != id));
}

#[tokio::test]
async fn pressing_buttons_makes_callback_queries_and_records_answers() {
    let env = common::start().await;
    let sent = env
        .ok(
            "sendMessage",
            json!({"chat_id": env.user, "text": "Pick", "reply_markup": {"inline_keyboard": [[{"text": "1 month", "callback_data": "plan:1"}, {"text": "Site", "url": "https://example.com"}]]}}),
        )
        .await;
    let id = sent["message_id"].as_i64().unwrap();
    let chat = env.control.chat(&env.bot.token, env.user).await.unwrap();
    let shown = chat.iter().find(|m| m.message_id == id).unwrap();
    assert_eq!(shown.button_data("month"), Some("plan:1".to_string()));

    let wrong = env
        .control
        .press(&env.bot.token, env.user, id, "plan:2")
        .await;
    assert!(
        wrong.is_err(),
        "a button that is not on the message cannot be pressed"
    );
    let pressed = env
        .control
        .press(&env.bot.token, env.user, id, "plan:1")
        .await
        .unwrap();
    let updates = env
        .ok("getUpdates", json!({"offset": pressed.update_id}))
        .await;
    let update = common::update(&updates[0]);
    let teloxide::types::UpdateKind::CallbackQuery(query) = update.kind else {
        panic!("expected a callback query");
    };
    assert_eq!(query.data.as_deref(), Some("plan:1"));
    assert_eq!(query.id.0, pressed.callback_query_id);
    let before = env
        .control
        .callback_answer(&env.bot.token, &pressed.callback_query_id)
        .await
        .unwrap();
    assert!(!before.answered);
    env.ok(
        "answerCallbackQuery",
        json!({"callback_query_id": query.id.0, "text": "Done", "show_alert": true}),
    )
    .await;
    let after = env
        .control
        .chat_full(&env.bot.token, env.user)
        .await
        .unwrap();
    let answer = &after.callback_answers[0];
    assert!(answer.answered && answer.show_alert);
    assert_eq!(answer.text.as_deref(), Some("Done"));
    let (_, again) = env
        .err(
            "answerCallbackQuery",
            json!({"callback_query_id": query.id.0}),
        )
        .await;
    assert_eq!(
        again,
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    );
}

#[tokio::test]
async fn replies_quote_the_original_message() {
    let env = common::start().await;
    let question = env
        .control
        .send(&env.bot.token, env.user, "price?")
        .await
        .unwrap();
    let answer = env
        .ok(
            "sendMessage",
            json!({"chat_id": env.user, "text": "150 Stars", "reply_parameters": {"message_id": question.message_id}}),
        )
        .await;
    let answer: Message = serde_json::from_value(answer).unwrap();
    assert_eq!(answer.reply_to_message().unwrap().text(), Some("price?"));
    assert_eq!(
        env.err(
            "sendMessage",
            json!({"chat_id": env.user, "text": "x", "reply_to_message_id": 999})
        )
        .await
        .1,
        "Bad Request: message to be replied not found"
    );
    env.ok(
        "sendMessage",
        json!({"chat_id": env.user, "text": "x", "reply_parameters": {"message_id": 999, "allow_sending_without_reply": true}}),
    )
    .await;
}

#[tokio::test]
async fn reply_keyboards_show_in_the_chat_but_not_in_the_message() {
    let env = common::start().await;
    let sent = env
        .ok(
            "sendMessage",
            json!({"chat_id": env.user, "text": "Menu", "reply_markup": {"keyboard": [["Buy", "Support"]], "resize_keyboard": true}}),
        )
        .await;
    assert!(sent.get("reply_markup").is_none());
    let chat = env.control.chat(&env.bot.token, env.user).await.unwrap();
    let last = chat.last().unwrap();
    assert_eq!(last.keyboard_buttons(), ["Buy", "Support"]);
}

#[tokio::test]
async fn copy_forward_chat_action_and_commands() {
    let env = common::start().await;
    let user_message = env
        .control
        .send(&env.bot.token, env.user, "hello")
        .await
        .unwrap();
    let copied = env
        .ok(
            "copyMessage",
            json!({"chat_id": env.user, "from_chat_id": env.user, "message_id": user_message.message_id}),
        )
        .await;
    let copied: teloxide::types::MessageId = serde_json::from_value(copied).unwrap();
    assert!(i64::from(copied.0) > user_message.message_id);
    let forwarded = env
        .ok(
            "forwardMessage",
            json!({"chat_id": env.user, "from_chat_id": env.user, "message_id": user_message.message_id}),
        )
        .await;
    let forwarded: Message = serde_json::from_value(forwarded).unwrap();
    assert_eq!(forwarded.text(), Some("hello"));
    assert!(forwarded.forward_origin().is_some());
    assert_eq!(
        env.err(
            "copyMessage",
            json!({"chat_id": env.user, "from_chat_id": env.user, "message_id": 4242})
        )
        .await
        .1,
        "Bad Request: message to copy not found"
    );
    env.ok(
        "sendChatAction",
        json!({"chat_id": env.user, "action": "typing"}),
    )
    .await;
    assert_eq!(
        env.err(
            "sendChatAction",
            json!({"chat_id": env.user, "action": "dancing"})
        )
        .await
        .1,
        "Bad Request: wrong parameter action in request"
    );
    env.ok(
        "setMyCommands",
        json!({"commands": [{"command": "start", "description": "Start"}], "language_code": "fa"}),
    )
    .await;
    assert_eq!(
        env.ok("getMyCommands", json!({"language_code": "fa"}))
            .await,
        json!([{"command": "start", "description": "Start"}])
    );
    assert_eq!(env.ok("getMyCommands", json!({})).await, json!([]));
    assert_eq!(
        env.err(
            "setMyCommands",
            json!({"commands": [{"command": "Bad Command", "description": "x"}]})
        )
        .await
        .1,
        "Bad Request: BOT_COMMAND_INVALID"
    );
}

#[tokio::test]
async fn user_messages_carry_bot_command_entities_and_edits() {
    let env = common::start().await;
    let sent = env
        .control
        .send(&env.bot.token, env.user, "/buy 3")
        .await
        .unwrap();
    env.control
        .edit(&env.bot.token, env.user, sent.message_id, "/buy 4")
        .await
        .unwrap();
    env.control
        .send_sticker(&env.bot.token, env.user, Some("👍"))
        .await
        .unwrap();
    env.control
        .send_raw(
            &env.bot.token,
            env.user,
            json!({"contact": {"phone_number": "+989120000000", "first_name": "Sara", "user_id": env.user}}),
        )
        .await
        .unwrap();
    let updates = env
        .ok("getUpdates", json!({"offset": sent.update_id}))
        .await;
    let updates = common::updates(&updates);
    assert_eq!(updates.len(), 4);
    let teloxide::types::UpdateKind::Message(message) = &updates[0].kind else {
        panic!("expected a message");
    };
    assert_eq!(
        message.entities().unwrap()[0].kind,
        MessageEntityKind::BotCommand
    );
    assert_eq!(
        message.from.as_ref().unwrap().language_code.as_deref(),
        Some("fa")
    );
    let teloxide::types::UpdateKind::EditedMessage(edited) = &updates[1].kind else {
        panic!("expected an edited message");
    };
    assert_eq!(edited.text(), Some("/buy 4"));
    let teloxide::types::UpdateKind::Message(sticker) = &updates[2].kind else {
        panic!("expected a sticker message");
    };
    assert!(sticker.sticker().is_some());
    let teloxide::types::UpdateKind::Message(contact) = &updates[3].kind else {
        panic!("expected a contact message");
    };
    assert!(contact.contact().is_some());
}

#[tokio::test]
async fn channel_membership_via_get_chat_member() {
    let env = common::start().await;
    let channel = env
        .control
        .create_channel(Some("madar_news"), "Madar News")
        .await
        .unwrap();
    let member = json!({"chat_id": "@madar_news", "user_id": env.user});
    // The bot can look itself up in a public channel it is not in.
    let itself = json!({"chat_id": "@madar_news", "user_id": env.bot.id});
    assert_eq!(
        env.ok("getChatMember", itself.clone()).await["status"],
        "left"
    );
    // The bot is not an admin: Telegram hides the member list.
    assert_eq!(
        env.err("getChatMember", member.clone()).await.1,
        "Bad Request: member list is inaccessible"
    );
    assert_eq!(
        env.err(
            "getChatMember",
            json!({"chat_id": -100999, "user_id": env.user})
        )
        .await
        .1,
        "Bad Request: chat not found"
    );
    env.control
        .set_member(channel, env.bot.id, "administrator")
        .await
        .unwrap();
    for (status, expected) in [
        (None, "Left"),
        (Some("member"), "Member"),
        (Some("creator"), "Owner"),
        (Some("administrator"), "Administrator"),
        (Some("kicked"), "Banned"),
        (Some("left"), "Left"),
    ] {
        if let Some(status) = status {
            env.control
                .set_member(channel, env.user, status)
                .await
                .unwrap();
        }
        let result = env.ok("getChatMember", member.clone()).await;
        let parsed: ChatMember = serde_json::from_value(result.clone()).unwrap();
        assert_eq!(format!("{:?}", parsed.status()), expected, "{result}");
    }
    let by_id = env
        .ok(
            "getChatMember",
            json!({"chat_id": channel, "user_id": env.bot.id}),
        )
        .await;
    assert_eq!(by_id["status"], "administrator");
    let info: teloxide::types::ChatFullInfo =
        serde_json::from_value(env.ok("getChat", json!({"chat_id": "@madar_news"})).await).unwrap();
    assert_eq!(info.id.0, channel);
    assert_eq!(info.title(), Some("Madar News"));
    let private: teloxide::types::ChatFullInfo =
        serde_json::from_value(env.ok("getChat", json!({"chat_id": env.user})).await).unwrap();
    assert_eq!(private.first_name(), Some("Sara"));
    assert_eq!(
        env.err("getChat", json!({"chat_id": -100999})).await.1,
        "Bad Request: chat not found"
    );
    // As an admin the bot may also post to the channel.
    let post = env
        .ok(
            "sendMessage",
            json!({"chat_id": "@madar_news", "text": "news"}),
        )
        .await;
    let post: Message = serde_json::from_value(post).unwrap();
    assert_eq!(post.chat.id.0, channel);
}

#[tokio::test]
async fn staff_groups_take_bot_messages_and_member_messages() {
    let env = common::start().await;
    let group = env
        .control
        .create_chat("supergroup", None, "Madar staff")
        .await
        .unwrap();
    let send = json!({"chat_id": group, "text": "New payment to review"});
    assert_eq!(
        env.err("sendMessage", send.clone()).await,
        (
            403,
            "Forbidden: bot is not a member of the supergroup chat".to_string()
        )
    );
    env.control
        .set_member(group, env.bot.id, "member")
        .await
        .unwrap();
    let posted: Message = serde_json::from_value(env.ok("sendMessage", send).await).unwrap();
    assert_eq!(posted.chat.id.0, group);
    assert!(posted.chat.is_supergroup());
    let shown = env.control.channel_messages(group).await.unwrap();
    assert_eq!(shown[0].text.as_deref(), Some("New payment to review"));

    // Group members can read the member list.
    env.control
        .set_member(group, env.user, "administrator")
        .await
        .unwrap();
    let member = env
        .ok(
            "getChatMember",
            json!({"chat_id": group, "user_id": env.user}),
        )
        .await;
    assert_eq!(member["status"], "administrator");

    // A staff member answers in the group; the bot gets the update.
    env.ok("getUpdates", json!({"offset": -1})).await;
    env.control
        .send_to_group(group, env.user, "/approve 42")
        .await
        .unwrap();
    let updates = env.ok("getUpdates", json!({})).await;
    let last = common::update(updates.as_array().unwrap().last().unwrap());
    let teloxide::types::UpdateKind::Message(message) = last.kind else {
        panic!("expected the group message");
    };
    assert_eq!(message.chat.id.0, group);
    assert_eq!(message.text(), Some("/approve 42"));

    env.control
        .set_member(group, env.bot.id, "kicked")
        .await
        .unwrap();
    assert_eq!(
        env.err("sendMessage", json!({"chat_id": group, "text": "x"}))
            .await
            .1,
        "Forbidden: bot was kicked from the supergroup chat"
    );
}
