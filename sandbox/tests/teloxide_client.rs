//! A real teloxide `Bot` against the sandbox: PascalCase method names, JSON bodies,
//! multipart uploads and error mapping all have to work as with Telegram.

mod common;

use std::time::Duration;

use sandbox::client::{Fault, Sender};
use sandbox::files::TINY_PNG;
use teloxide::payloads::{
    GetMyDescriptionSetters, GetMyNameSetters, SetChatMenuButtonSetters, SetMyDescriptionSetters,
    SetMyNameSetters, SetMyShortDescriptionSetters,
};
use teloxide::prelude::*;
use teloxide::types::{
    InlineKeyboardButton, InlineKeyboardMarkup, InputFile, ParseMode, UpdateKind,
};
use teloxide::{ApiError, RequestError};

fn bot(env: &common::TestEnv) -> Bot {
    let url = reqwest::Url::parse(&env.sandbox.url()).unwrap();
    Bot::new(&env.bot.token).set_api_url(url)
}

#[tokio::test]
async fn teloxide_get_me_send_message_and_get_updates() {
    let env = common::start().await;
    let bot = bot(&env);
    let me = bot.get_me().await.unwrap();
    assert_eq!(me.username(), "test_shop_bot");

    let updates = bot.get_updates().await.unwrap();
    assert_eq!(updates.len(), 1);
    let UpdateKind::Message(start) = &updates[0].kind else {
        panic!("expected /start");
    };
    assert_eq!(start.text(), Some("/start"));

    let keyboard = InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("Buy", "buy:1")]]);
    let sent = bot
        .send_message(start.chat.id, "<b>خوش آمدید</b>")
        .parse_mode(ParseMode::Html)
        .reply_markup(keyboard)
        .await
        .unwrap();
    assert_eq!(sent.text(), Some("خوش آمدید"));

    // The user presses the button; teloxide long-polls it in.
    let next = updates[0].id.0 as i32 + 1;
    let control = env.control.clone();
    let token = env.bot.token.clone();
    let user = env.user;
    let message_id = i64::from(sent.id.0);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        control
            .press(&token, user, message_id, "buy:1")
            .await
            .unwrap();
    });
    let polled = bot.get_updates().offset(next).timeout(5).await.unwrap();
    let UpdateKind::CallbackQuery(query) = &polled[0].kind else {
        panic!("expected a callback query");
    };
    assert_eq!(query.data.as_deref(), Some("buy:1"));
    bot.answer_callback_query(query.id.clone())
        .text("OK")
        .await
        .unwrap();
    let chat = env
        .control
        .chat_full(&env.bot.token, env.user)
        .await
        .unwrap();
    assert!(chat.callback_answers[0].answered);

    bot.edit_message_text(start.chat.id, sent.id, "Paid")
        .await
        .unwrap();
    let shown = env
        .control
        .wait_for_bot_message(
            &env.bot.token,
            env.user,
            0,
            |m| m.edited,
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert_eq!(shown.text.as_deref(), Some("Paid"));
    assert_eq!(shown.from, Sender::Bot);
    assert!(
        shown.reply_markup.is_none(),
        "editing without markup removes the keyboard"
    );
}

#[tokio::test]
async fn teloxide_uploads_photos_as_multipart() {
    let env = common::start().await;
    let bot = bot(&env);
    let chat = ChatId(env.user);
    let sent = bot
        .send_photo(
            chat,
            InputFile::memory(TINY_PNG.to_vec()).file_name("receipt.png"),
        )
        .caption("<i>receipt</i>")
        .parse_mode(ParseMode::Html)
        .reply_markup(InlineKeyboardMarkup::new([[
            InlineKeyboardButton::callback("Approve", "ok:1"),
        ]]))
        .await
        .unwrap();
    assert_eq!(sent.caption(), Some("receipt"));
    assert_eq!(sent.caption_entities().unwrap().len(), 1);
    assert!(
        sent.reply_markup().is_some(),
        "JSON fields survive multipart"
    );
    let photo = sent.photo().unwrap().last().unwrap();
    assert_eq!((photo.width, photo.height), (1, 1));
    let file = bot.get_file(photo.file.id.clone()).await.unwrap();
    let mut downloaded = Vec::new();
    teloxide::net::Download::download_file(&bot, &file.path, &mut downloaded)
        .await
        .unwrap();
    assert_eq!(downloaded, TINY_PNG);

    let document = bot
        .send_document(
            chat,
            InputFile::memory(b"vless://x".to_vec()).file_name("config.txt"),
        )
        .await
        .unwrap();
    assert_eq!(
        document.document().unwrap().file_name.as_deref(),
        Some("config.txt")
    );
    let broken = bot
        .send_photo(
            chat,
            InputFile::memory(b"not an image".to_vec()).file_name("x.png"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(broken, RequestError::Api(ApiError::ImageProcessFailed)),
        "{broken:?}"
    );
}

#[tokio::test]
async fn teloxide_sees_telegram_errors() {
    let env = common::start().await;
    let bot = bot(&env);
    let missing = bot.send_message(ChatId(424242), "x").await.unwrap_err();
    assert!(
        matches!(missing, RequestError::Api(ApiError::ChatNotFound)),
        "{missing:?}"
    );

    let sent = bot.send_message(ChatId(env.user), "same").await.unwrap();
    let same = bot
        .edit_message_text(ChatId(env.user), sent.id, "same")
        .await
        .unwrap_err();
    assert!(
        matches!(same, RequestError::Api(ApiError::MessageNotModified)),
        "{same:?}"
    );

    env.control.block(env.user, &env.bot.token).await.unwrap();
    let blocked = bot.send_message(ChatId(env.user), "x").await.unwrap_err();
    assert!(
        matches!(blocked, RequestError::Api(ApiError::BotBlocked)),
        "{blocked:?}"
    );
    env.control.unblock(env.user, &env.bot.token).await.unwrap();

    env.control
        .fault(Fault::too_many_requests(&env.bot.token, "sendMessage", 3))
        .await
        .unwrap();
    let limited = bot.send_message(ChatId(env.user), "x").await.unwrap_err();
    let RequestError::RetryAfter(seconds) = limited else {
        panic!("expected RetryAfter, got {limited:?}");
    };
    assert_eq!(seconds.seconds(), 3);

    let wrong = Bot::new("1:wrong")
        .set_api_url(reqwest::Url::parse(&env.sandbox.url()).unwrap())
        .get_me()
        .await
        .unwrap_err();
    assert!(
        matches!(wrong, RequestError::Api(ApiError::InvalidToken)),
        "{wrong:?}"
    );
}

#[tokio::test]
async fn teloxide_sets_up_the_bot_profile() {
    let env = common::start().await;
    let bot = bot(&env);
    assert_eq!(bot.get_my_name().await.unwrap().name, "Test Shop");
    bot.set_my_name()
        .name("فروشگاه")
        .language_code("fa")
        .await
        .unwrap();
    bot.set_my_description()
        .description("VPN shop")
        .await
        .unwrap();
    bot.set_my_short_description()
        .short_description("Fast VPN")
        .await
        .unwrap();
    assert_eq!(
        bot.get_my_name().language_code("fa").await.unwrap().name,
        "فروشگاه"
    );
    assert_eq!(
        bot.get_my_description()
            .language_code("en")
            .await
            .unwrap()
            .description,
        "VPN shop"
    );
    assert_eq!(
        bot.get_my_short_description()
            .await
            .unwrap()
            .short_description,
        "Fast VPN"
    );
    bot.set_chat_menu_button()
        .menu_button(teloxide::types::MenuButton::Commands)
        .await
        .unwrap();
    assert_eq!(
        bot.get_chat_menu_button().await.unwrap(),
        teloxide::types::MenuButton::Commands
    );
    let too_long = bot.set_my_name().name("n".repeat(65)).await;
    assert!(too_long.is_err());
}
