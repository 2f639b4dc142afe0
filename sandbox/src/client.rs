//! A typed client of the sandbox's control API, for tests, benchmarks and the demo.
//!
//! ```no_run
//! # async fn demo() -> sandbox::client::Result<()> {
//! use sandbox::client::ControlClient;
//! let control = ControlClient::new("http://127.0.0.1:8081");
//! let bot = control.create_bot("shop_bot", "Shop").await?;
//! let user = control.create_user("Sara", Some("sara"), Some("fa")).await?;
//! let sent = control.send(&bot.token, user, "/start").await?;
//! let reply = control
//!     .wait_for_bot_message(&bot.token, user, sent.message_id, |_| true, std::time::Duration::from_secs(5))
//!     .await?;
//! println!("{:?}", reply.text);
//! # Ok(()) }
//! ```

use std::time::Duration;

use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("sandbox request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("sandbox answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("timed out: {0}")]
    Timeout(String),
}

pub type Result<T> = std::result::Result<T, ClientError>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotInfo {
    pub token: String,
    pub id: i64,
    pub username: String,
}

/// A message the user sent (or edited): its update and message ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    pub update_id: i64,
    pub message_id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PressResult {
    pub update_id: i64,
    pub callback_query_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sender {
    Bot,
    User,
}

/// One message of a chat as the user sees it now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub message_id: i64,
    pub from: Sender,
    pub text: Option<String>,
    pub caption: Option<String>,
    /// Inline keyboard, reply keyboard, remove_keyboard or force_reply as sent.
    pub reply_markup: Option<Value>,
    pub photo_file_id: Option<String>,
    pub document_file_id: Option<String>,
    #[serde(default)]
    pub sticker_file_id: Option<String>,
    #[serde(default)]
    pub entities: Option<Value>,
    #[serde(default)]
    pub invoice: Option<Value>,
    #[serde(default)]
    pub successful_payment: Option<Value>,
    pub edited: bool,
}

impl ChatMessage {
    /// `(text, callback_data)` of every inline button with callback data.
    pub fn inline_buttons(&self) -> Vec<(String, String)> {
        self.reply_markup
            .as_ref()
            .and_then(|m| m.get("inline_keyboard"))
            .and_then(Value::as_array)
            .map(|rows| {
                rows.iter()
                    .filter_map(Value::as_array)
                    .flatten()
                    .filter_map(|b| {
                        Some((
                            b.get("text")?.as_str()?.to_string(),
                            b.get("callback_data")?.as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The callback_data of the first inline button whose text contains `label`.
    pub fn button_data(&self, label: &str) -> Option<String> {
        self.inline_buttons()
            .into_iter()
            .find(|(text, _)| text.contains(label))
            .map(|(_, data)| data)
    }

    /// Texts of the reply keyboard buttons, if this message shows a reply keyboard.
    pub fn keyboard_buttons(&self) -> Vec<String> {
        self.reply_markup
            .as_ref()
            .and_then(|m| m.get("keyboard"))
            .and_then(Value::as_array)
            .map(|rows| {
                rows.iter()
                    .filter_map(Value::as_array)
                    .flatten()
                    .filter_map(|b| b.get("text").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Text or caption, whichever the message has.
    pub fn body(&self) -> &str {
        self.text
            .as_deref()
            .or(self.caption.as_deref())
            .unwrap_or("")
    }
}

/// What the sandbox recorded about a button press.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackAnswer {
    pub callback_query_id: String,
    pub user_id: i64,
    pub message_id: i64,
    pub data: String,
    pub answered: bool,
    pub text: Option<String>,
    pub show_alert: bool,
    pub url: Option<String>,
}

/// The whole chat view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chat {
    pub messages: Vec<ChatMessage>,
    pub callback_answers: Vec<CallbackAnswer>,
    pub blocked: bool,
}

/// An error (and/or delay) the next `times` calls of `method` get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub token: String,
    /// Method name (any case), or "*" for all methods.
    pub method: String,
    pub error_code: Option<u16>,
    pub description: Option<String>,
    pub retry_after: Option<u32>,
    pub times: u32,
    pub delay_ms: Option<u64>,
}

impl Fault {
    pub fn error(token: &str, method: &str, error_code: u16, description: &str) -> Fault {
        Fault {
            token: token.to_string(),
            method: method.to_string(),
            error_code: Some(error_code),
            description: Some(description.to_string()),
            retry_after: None,
            times: 1,
            delay_ms: None,
        }
    }

    pub fn too_many_requests(token: &str, method: &str, retry_after: u32) -> Fault {
        Fault {
            retry_after: Some(retry_after),
            description: Some(format!("Too Many Requests: retry after {retry_after}")),
            ..Fault::error(token, method, 429, "")
        }
    }

    pub fn delay(token: &str, method: &str, delay_ms: u64) -> Fault {
        Fault {
            error_code: None,
            description: None,
            delay_ms: Some(delay_ms),
            ..Fault::error(token, method, 0, "")
        }
    }

    pub fn times(mut self, times: u32) -> Fault {
        self.times = times;
        self
    }
}

/// The result of paying an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayResult {
    /// "paid", "declined" or "timeout".
    pub status: String,
    pub telegram_payment_charge_id: Option<String>,
    pub update_id: Option<i64>,
    pub message_id: Option<i64>,
    pub error_message: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ControlClient {
    base: String,
    http: reqwest::Client,
}

impl ControlClient {
    /// `base_url` is the sandbox root, e.g. `http://127.0.0.1:8081`.
    pub fn new(base_url: &str) -> ControlClient {
        ControlClient {
            base: base_url.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn read<T: DeserializeOwned>(response: reqwest::Response) -> Result<T> {
        let status = response.status();
        if !status.is_success() {
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let message = body["error"].as_str().unwrap_or("").to_string();
            return Err(ClientError::Status {
                status: status.as_u16(),
                message,
            });
        }
        Ok(response.json().await?)
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await?;
        Self::read(response).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let response = self.http.get(format!("{}{path}", self.base)).send().await?;
        Self::read(response).await
    }

    pub async fn create_bot(&self, username: &str, first_name: &str) -> Result<BotInfo> {
        self.post(
            "/sandbox/bots",
            &json!({"username": username, "first_name": first_name}),
        )
        .await
    }

    /// All bots, in creation order (the first is the master bot in the demo).
    pub async fn bots(&self) -> Result<Vec<BotInfo>> {
        #[derive(Deserialize)]
        struct Bots {
            bots: Vec<BotInfo>,
        }
        let bots: Bots = self.get("/sandbox/bots").await?;
        Ok(bots.bots)
    }

    pub async fn create_user(
        &self,
        first_name: &str,
        username: Option<&str>,
        language_code: Option<&str>,
    ) -> Result<i64> {
        let created: Value = self
            .post(
                "/sandbox/users",
                &json!({"first_name": first_name, "username": username, "language_code": language_code}),
            )
            .await?;
        Ok(created["id"].as_i64().unwrap_or_default())
    }

    /// The user writes `text` to the bot (commands get their bot_command entity).
    pub async fn send(&self, token: &str, user_id: i64, text: &str) -> Result<Sent> {
        self.post(
            &format!("/sandbox/bots/{token}/send"),
            &json!({"user_id": user_id, "text": text}),
        )
        .await
    }

    /// The user sends a photo (PNG, JPEG, GIF or WebP bytes).
    pub async fn send_photo(
        &self,
        token: &str,
        user_id: i64,
        png: &[u8],
        caption: Option<&str>,
    ) -> Result<Sent> {
        let data = base64::engine::general_purpose::STANDARD.encode(png);
        self.post(
            &format!("/sandbox/bots/{token}/send_photo"),
            &json!({"user_id": user_id, "png_base64": data, "caption": caption}),
        )
        .await
    }

    pub async fn send_document(
        &self,
        token: &str,
        user_id: i64,
        bytes: &[u8],
        file_name: &str,
        caption: Option<&str>,
    ) -> Result<Sent> {
        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
        self.post(
            &format!("/sandbox/bots/{token}/send_document"),
            &json!({"user_id": user_id, "data_base64": data, "file_name": file_name, "caption": caption}),
        )
        .await
    }

    pub async fn send_sticker(
        &self,
        token: &str,
        user_id: i64,
        emoji: Option<&str>,
    ) -> Result<Sent> {
        self.post(
            &format!("/sandbox/bots/{token}/send_sticker"),
            &json!({"user_id": user_id, "emoji": emoji}),
        )
        .await
    }

    /// Any other message content, e.g. `json!({"contact": {...}})`.
    pub async fn send_raw(&self, token: &str, user_id: i64, message: Value) -> Result<Sent> {
        self.post(
            &format!("/sandbox/bots/{token}/send_raw"),
            &json!({"user_id": user_id, "message": message}),
        )
        .await
    }

    /// The user edits one of their text messages (an edited_message update).
    pub async fn edit(
        &self,
        token: &str,
        user_id: i64,
        message_id: i64,
        text: &str,
    ) -> Result<Sent> {
        self.post(
            &format!("/sandbox/bots/{token}/edit"),
            &json!({"user_id": user_id, "message_id": message_id, "text": text}),
        )
        .await
    }

    /// The user presses the inline button with `data` under a bot message.
    pub async fn press(
        &self,
        token: &str,
        user_id: i64,
        message_id: i64,
        data: &str,
    ) -> Result<PressResult> {
        self.post(
            &format!("/sandbox/bots/{token}/press"),
            &json!({"user_id": user_id, "message_id": message_id, "data": data}),
        )
        .await
    }

    /// Whether (and how) the bot answered a button press.
    pub async fn callback_answer(
        &self,
        token: &str,
        callback_query_id: &str,
    ) -> Result<CallbackAnswer> {
        self.get(&format!(
            "/sandbox/bots/{token}/callbacks/{callback_query_id}"
        ))
        .await
    }

    /// The chat's messages as the user sees them now.
    pub async fn chat(&self, token: &str, user_id: i64) -> Result<Vec<ChatMessage>> {
        Ok(self.chat_full(token, user_id).await?.messages)
    }

    pub async fn chat_full(&self, token: &str, user_id: i64) -> Result<Chat> {
        self.get(&format!("/sandbox/bots/{token}/chats/{user_id}"))
            .await
    }

    /// Polls the chat until a bot message newer than `after_message_id` matches.
    pub async fn wait_for_bot_message(
        &self,
        token: &str,
        user_id: i64,
        after_message_id: i64,
        predicate: impl Fn(&ChatMessage) -> bool,
        timeout: Duration,
    ) -> Result<ChatMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let messages = self.chat(token, user_id).await?;
            if let Some(found) = messages
                .iter()
                .find(|m| m.from == Sender::Bot && m.message_id > after_message_id && predicate(m))
            {
                return Ok(found.clone());
            }
            if tokio::time::Instant::now() >= deadline {
                let recent: Vec<String> = messages
                    .iter()
                    .rev()
                    .take(5)
                    .map(|m| format!("#{} {:?}: {}", m.message_id, m.from, m.body()))
                    .collect();
                return Err(ClientError::Timeout(format!(
                    "no matching bot message after #{after_message_id} within {timeout:?}; latest: {recent:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn fault(&self, fault: Fault) -> Result<()> {
        let body = serde_json::to_value(&fault).unwrap_or(Value::Null);
        let _: Value = self.post("/sandbox/faults", &body).await?;
        Ok(())
    }

    pub async fn clear_faults(&self) -> Result<()> {
        let response = self
            .http
            .delete(format!("{}/sandbox/faults", self.base))
            .send()
            .await?;
        let _: Value = Self::read(response).await?;
        Ok(())
    }

    pub async fn create_channel(&self, username: Option<&str>, title: &str) -> Result<i64> {
        let created: Value = self
            .post(
                "/sandbox/channels",
                &json!({"username": username, "title": title}),
            )
            .await?;
        Ok(created["id"].as_i64().unwrap_or_default())
    }

    /// Creates a "channel", "supergroup" or "group" (e.g. a staff group for notices).
    pub async fn create_chat(
        &self,
        kind: &str,
        username: Option<&str>,
        title: &str,
    ) -> Result<i64> {
        let created: Value = self
            .post(
                "/sandbox/channels",
                &json!({"username": username, "title": title, "type": kind}),
            )
            .await?;
        Ok(created["id"].as_i64().unwrap_or_default())
    }

    /// Messages in a channel or group, oldest first.
    pub async fn channel_messages(&self, channel_id: i64) -> Result<Vec<ChatMessage>> {
        #[derive(Deserialize)]
        struct Messages {
            messages: Vec<ChatMessage>,
        }
        let messages: Messages = self
            .get(&format!("/sandbox/channels/{channel_id}/messages"))
            .await?;
        Ok(messages.messages)
    }

    /// A member writes in a group; every bot in the group gets the update.
    pub async fn send_to_group(&self, channel_id: i64, user_id: i64, text: &str) -> Result<i64> {
        let sent: Value = self
            .post(
                &format!("/sandbox/channels/{channel_id}/send"),
                &json!({"user_id": user_id, "text": text}),
            )
            .await?;
        Ok(sent["message_id"].as_i64().unwrap_or_default())
    }

    /// Sets a user's (or bot's) status in a channel: creator, administrator, member,
    /// restricted, left or kicked.
    /// A group member presses an inline button on one of `token`'s messages in the group.
    pub async fn press_in_group(
        &self,
        chat_id: i64,
        token: &str,
        user_id: i64,
        message_id: i64,
        data: &str,
    ) -> Result<PressResult> {
        self.post(
            &format!("/sandbox/channels/{chat_id}/press"),
            &json!({"token": token, "user_id": user_id, "message_id": message_id, "data": data}),
        )
        .await
    }

    pub async fn set_member(&self, channel_id: i64, user_id: i64, status: &str) -> Result<()> {
        let _: Value = self
            .post(
                &format!("/sandbox/channels/{channel_id}/members"),
                &json!({"user_id": user_id, "status": status}),
            )
            .await?;
        Ok(())
    }

    pub async fn block(&self, user_id: i64, token: &str) -> Result<()> {
        let _: Value = self
            .post(
                &format!("/sandbox/users/{user_id}/block/{token}"),
                &json!({}),
            )
            .await?;
        Ok(())
    }

    pub async fn unblock(&self, user_id: i64, token: &str) -> Result<()> {
        let response = self
            .http
            .delete(format!(
                "{}/sandbox/users/{user_id}/block/{token}",
                self.base
            ))
            .send()
            .await?;
        let _: Value = Self::read(response).await?;
        Ok(())
    }

    /// The user pays the Stars invoice in bot message `message_id`.
    pub async fn pay(&self, token: &str, user_id: i64, message_id: i64) -> Result<PayResult> {
        self.post(
            &format!("/sandbox/bots/{token}/pay"),
            &json!({"user_id": user_id, "message_id": message_id}),
        )
        .await
    }

    /// The user pays an invoice link made by createInvoiceLink.
    pub async fn pay_link(
        &self,
        token: &str,
        user_id: i64,
        invoice_link: &str,
    ) -> Result<PayResult> {
        self.post(
            &format!("/sandbox/bots/{token}/pay"),
            &json!({"user_id": user_id, "invoice_link": invoice_link}),
        )
        .await
    }

    /// `{"user_id","spent","transactions":[...]}` of a user's Stars payments.
    pub async fn stars(&self, user_id: i64) -> Result<Value> {
        self.get(&format!("/sandbox/users/{user_id}/stars")).await
    }

    pub async fn file(&self, file_id: &str) -> Result<Vec<u8>> {
        let response = self
            .http
            .get(format!("{}/sandbox/files/{file_id}", self.base))
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(ClientError::Status {
                status: status.as_u16(),
                message: "file not found".into(),
            });
        }
        Ok(response.bytes().await?.to_vec())
    }
}
