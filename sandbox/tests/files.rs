//! Multipart uploads, file ids, getFile and downloads.

mod common;

use reqwest::multipart::{Form, Part};
use sandbox::files::TINY_PNG;
use serde_json::{json, Value};
use teloxide::types::{File, Message};

async fn multipart(env: &common::TestEnv, method: &str, form: Form) -> (u16, Value) {
    let response = env
        .http
        .post(env.method_url(&env.bot.token, method))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn photo_upload_get_file_and_download() {
    let env = common::start().await;
    let form = Form::new()
        .text("chat_id", env.user.to_string())
        .text("caption", "<b>Receipt</b>")
        .text("parse_mode", "HTML")
        .part("photo", Part::bytes(TINY_PNG.to_vec()).file_name("r.png"));
    let (status, body) = multipart(&env, "sendPhoto", form).await;
    assert_eq!(status, 200, "{body}");
    let message: Message = serde_json::from_value(body["result"].clone()).unwrap();
    assert_eq!(message.caption(), Some("Receipt"));
    let photo = message.photo().unwrap().last().unwrap().clone();
    assert_eq!((photo.width, photo.height), (1, 1));
    assert!(!photo.file.unique_id.0.is_empty());

    let file: File =
        serde_json::from_value(env.ok("getFile", json!({"file_id": photo.file.id.0})).await)
            .unwrap();
    let download = env
        .http
        .get(format!(
            "{}/file/bot{}/{}",
            env.sandbox.url(),
            env.bot.token,
            file.path
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().as_ref(), TINY_PNG);
    // Another bot's token cannot download it with a wrong token.
    let wrong = env
        .http
        .get(format!("{}/file/bot1:x/{}", env.sandbox.url(), file.path))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(env.control.file(&photo.file.id.0).await.unwrap(), TINY_PNG);

    // The file_id can be sent again without uploading.
    let again = env
        .ok(
            "sendPhoto",
            json!({"chat_id": env.user, "photo": photo.file.id.0}),
        )
        .await;
    assert_eq!(again["photo"][0]["file_id"], json!(photo.file.id.0));
    let chat = env.control.chat(&env.bot.token, env.user).await.unwrap();
    assert_eq!(
        chat.last().unwrap().photo_file_id.as_deref(),
        Some(photo.file.id.0.as_str())
    );
}

#[tokio::test]
async fn attach_references_and_documents() {
    let env = common::start().await;
    let form = Form::new()
        .text("chat_id", env.user.to_string())
        .text("document", "attach://cfg")
        .part(
            "cfg",
            Part::bytes(b"vless://example".to_vec())
                .file_name("config.txt")
                .mime_str("text/plain")
                .unwrap(),
        );
    let (status, body) = multipart(&env, "sendDocument", form).await;
    assert_eq!(status, 200, "{body}");
    let message: Message = serde_json::from_value(body["result"].clone()).unwrap();
    let document = message.document().unwrap();
    assert_eq!(document.file_name.as_deref(), Some("config.txt"));
    let file = env
        .ok("getFile", json!({"file_id": document.file.id.0}))
        .await;
    assert!(file["file_path"].as_str().unwrap().ends_with(".txt"));
    // A document id is not a photo.
    let (code, _) = env
        .err(
            "sendPhoto",
            json!({"chat_id": env.user, "photo": document.file.id.0}),
        )
        .await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn bad_photos_and_missing_files_are_rejected() {
    let env = common::start().await;
    let form = Form::new().text("chat_id", env.user.to_string()).part(
        "photo",
        Part::bytes(b"definitely not an image".to_vec()).file_name("x.png"),
    );
    let (status, body) = multipart(&env, "sendPhoto", form).await;
    assert_eq!(status, 400);
    assert_eq!(body["description"], "Bad Request: IMAGE_PROCESS_FAILED");
    assert_eq!(
        env.err("sendPhoto", json!({"chat_id": env.user})).await.1,
        "Bad Request: there is no photo in the request"
    );
    assert_eq!(
        env.err(
            "sendPhoto",
            json!({"chat_id": env.user, "photo": "AgACnope"})
        )
        .await
        .1,
        "Bad Request: wrong file identifier/HTTP URL specified"
    );
    assert_eq!(
        env.err("getFile", json!({"file_id": "nope"})).await.1,
        "Bad Request: invalid file id"
    );
    let (code, _) = env
        .err(
            "sendPhoto",
            json!({"chat_id": env.user, "photo": "https://example.com/a.png"}),
        )
        .await;
    assert_eq!(code, 400, "only loopback URLs are fetched");
    let long_caption = "c".repeat(1025);
    let form = Form::new()
        .text("chat_id", env.user.to_string())
        .text("caption", long_caption)
        .part("photo", Part::bytes(TINY_PNG.to_vec()).file_name("r.png"));
    let (_, body) = multipart(&env, "sendPhoto", form).await;
    assert_eq!(
        body["description"],
        "Bad Request: message caption is too long"
    );
}

#[tokio::test]
async fn photos_by_loopback_url_and_user_photos() {
    let env = common::start().await;
    // The user sends a receipt; the bot forwards it by URL from the sandbox itself.
    let sent = env
        .control
        .send_photo(&env.bot.token, env.user, TINY_PNG, Some("my receipt"))
        .await
        .unwrap();
    let updates = env
        .ok("getUpdates", json!({"offset": sent.update_id}))
        .await;
    let update = common::update(&updates[0]);
    let teloxide::types::UpdateKind::Message(message) = update.kind else {
        panic!("expected a photo message");
    };
    assert_eq!(message.caption(), Some("my receipt"));
    let file_id = message.photo().unwrap()[0].file.id.0.clone();
    let url = format!("{}/sandbox/files/{}", env.sandbox.url(), file_id);
    let by_url = env
        .ok("sendPhoto", json!({"chat_id": env.user, "photo": url}))
        .await;
    assert_eq!(by_url["photo"][0]["width"], 1);
}
