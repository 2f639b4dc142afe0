//! The Bot API surface: `/bot<token>/<method>` and `/file/bot<token>/<file_path>`.
//!
//! Every request's parameters (query string, JSON, form or multipart body) are gathered
//! into one `Params`; the method name is matched case-insensitively and dispatched to
//! one module per method family.

pub(crate) mod chats;
pub mod known_methods;
mod media;
mod messages;
mod params;
pub(crate) mod payments;
mod profile;
mod updates;

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::state::AppState;
pub use params::{ChatRef, InputFile, Params, Upload};

/// A Bot API error: `{"ok":false,"error_code":N,"description":"..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: u16,
    pub description: String,
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(code: u16, description: impl Into<String>) -> ApiError {
        ApiError {
            code,
            description: description.into(),
            retry_after: None,
        }
    }

    /// 400 `"Bad Request: <detail>"`.
    pub fn bad_request(detail: impl AsRef<str>) -> ApiError {
        ApiError::new(400, format!("Bad Request: {}", detail.as_ref()))
    }

    /// 403 `"Forbidden: <detail>"`.
    pub fn forbidden(detail: impl AsRef<str>) -> ApiError {
        ApiError::new(403, format!("Forbidden: {}", detail.as_ref()))
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(401, "Unauthorized")
    }

    pub fn not_found() -> ApiError {
        ApiError::new(404, "Not Found")
    }

    pub fn too_many_requests(retry_after: u32) -> ApiError {
        ApiError {
            code: 429,
            description: format!("Too Many Requests: retry after {retry_after}"),
            retry_after: Some(retry_after),
        }
    }

    pub fn chat_not_found() -> ApiError {
        ApiError::bad_request("chat not found")
    }

    pub fn to_json(&self) -> Value {
        let mut body =
            json!({"ok": false, "error_code": self.code, "description": self.description});
        if let Some(seconds) = self.retry_after {
            body["parameters"] = json!({"retry_after": seconds});
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::BAD_REQUEST);
        (status, axum::Json(self.to_json())).into_response()
    }
}

pub type ApiResult = Result<Value, ApiError>;

fn ok(result: Value) -> Response {
    axum::Json(json!({"ok": true, "result": result})).into_response()
}

/// Entry point for every path the control API and the page do not claim.
pub async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    if let Some(rest) = path.strip_prefix("/file/bot") {
        return download(&state, rest);
    }
    let Some((token, method)) = path
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
    else {
        return ApiError::not_found().into_response();
    };
    let token = percent_decode(token);
    let method = method.trim_end_matches('/').to_ascii_lowercase();
    if state.world().bot(&token).is_none() {
        return ApiError::unauthorized().into_response();
    }
    let params = match Params::from_request(request).await {
        Ok(params) => params,
        Err(error) => return error.into_response(),
    };
    tracing::debug!(bot = %token.split(':').next().unwrap_or(""), %method, "bot api call");
    if let Some(error) = injected_fault(&state, &token, &method).await {
        return error.into_response();
    }
    match call(&state, &token, &method, &params).await {
        Ok(result) => ok(result),
        Err(error) => error.into_response(),
    }
}

/// Applies a fault injected through the control API: a delay and/or an error.
async fn injected_fault(state: &AppState, token: &str, method: &str) -> Option<ApiError> {
    let fault = state.world().take_fault(token, method)?;
    if fault.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(fault.delay_ms)).await;
    }
    let code = fault.error_code?;
    let description = fault.description.unwrap_or_else(|| match code {
        400 => "Bad Request".to_string(),
        401 => "Unauthorized".to_string(),
        403 => "Forbidden".to_string(),
        404 => "Not Found".to_string(),
        409 => "Conflict".to_string(),
        429 => format!(
            "Too Many Requests: retry after {}",
            fault.retry_after.unwrap_or(1)
        ),
        502 => "Bad Gateway".to_string(),
        _ => "Internal Server Error".to_string(),
    });
    let retry_after = match code {
        429 => Some(fault.retry_after.unwrap_or(1).max(1)),
        _ => fault.retry_after,
    };
    Some(ApiError {
        code,
        description,
        retry_after,
    })
}

/// The Bot API methods the sandbox simulates (names as in the Bot API documentation).
pub const IMPLEMENTED_METHODS: &[&str] = &[
    "getMe",
    "getUpdates",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "editMessageCaption",
    "deleteMessage",
    "copyMessage",
    "forwardMessage",
    "sendChatAction",
    "answerCallbackQuery",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "sendPhoto",
    "sendDocument",
    "getFile",
    "getChatMember",
    "getChat",
    "sendInvoice",
    "createInvoiceLink",
    "answerPreCheckoutQuery",
    "refundStarPayment",
    "setMyName",
    "getMyName",
    "setMyDescription",
    "getMyDescription",
    "setMyShortDescription",
    "getMyShortDescription",
    "setChatMenuButton",
    "getChatMenuButton",
    "logOut",
    "close",
];

async fn call(state: &AppState, token: &str, method: &str, p: &Params) -> ApiResult {
    match method {
        "getme" => updates::get_me(state, token),
        "getupdates" => updates::get_updates(state, token, p).await,
        "setwebhook" => updates::set_webhook(state, token, p),
        "deletewebhook" => updates::delete_webhook(state, token, p),
        "getwebhookinfo" => updates::get_webhook_info(state, token),
        "sendmessage" => messages::send_message(state, token, p),
        "editmessagetext" => messages::edit_message_text(state, token, p),
        "editmessagereplymarkup" => messages::edit_message_reply_markup(state, token, p),
        "editmessagecaption" => messages::edit_message_caption(state, token, p),
        "deletemessage" => messages::delete_message(state, token, p),
        "copymessage" => messages::copy_message(state, token, p, false),
        "forwardmessage" => messages::copy_message(state, token, p, true),
        "sendchataction" => messages::send_chat_action(state, token, p),
        "answercallbackquery" => messages::answer_callback_query(state, token, p),
        "setmycommands" => messages::set_my_commands(state, token, p),
        "getmycommands" => messages::get_my_commands(state, token, p),
        "deletemycommands" => messages::delete_my_commands(state, token, p),
        "sendphoto" => media::send_photo(state, token, p).await,
        "senddocument" => media::send_document(state, token, p).await,
        "getfile" => media::get_file(state, p),
        "getchatmember" => chats::get_chat_member(state, token, p),
        "getchat" => chats::get_chat(state, token, p),
        "sendinvoice" => payments::send_invoice(state, token, p),
        "createinvoicelink" => payments::create_invoice_link(state, token, p),
        "answerprecheckoutquery" => payments::answer_pre_checkout_query(state, token, p),
        "refundstarpayment" => payments::refund_star_payment(state, token, p),
        "setmyname" => profile::set_my_name(state, token, p),
        "getmyname" => profile::get_my_name(state, token, p),
        "setmydescription" => profile::set_my_description(state, token, p),
        "getmydescription" => profile::get_my_description(state, token, p),
        "setmyshortdescription" => profile::set_my_short_description(state, token, p),
        "getmyshortdescription" => profile::get_my_short_description(state, token, p),
        "setchatmenubutton" => profile::set_chat_menu_button(state, token, p),
        "getchatmenubutton" => profile::get_chat_menu_button(state, token, p),
        "logout" | "close" => Ok(json!(true)),
        _ if known_methods::is_known(method) => {
            tracing::warn!(%method, "bot api method not simulated by the sandbox");
            Err(ApiError::bad_request(format!(
                "method {method} is not simulated by the sandbox"
            )))
        }
        _ => Err(ApiError::not_found()),
    }
}

/// `/file/bot<token>/<file_path>`: the bytes of a file, for its own bot's token.
fn download(state: &AppState, rest: &str) -> Response {
    let Some((token, file_path)) = rest.split_once('/') else {
        return ApiError::not_found().into_response();
    };
    let token = percent_decode(token);
    let world = state.world();
    if world.bot(&token).is_none() {
        return ApiError::unauthorized().into_response();
    }
    match world.files.by_path(&percent_decode(file_path)) {
        Some(file) => file_response(file),
        None => ApiError::not_found().into_response(),
    }
}

/// A stored file as an HTTP response with a fitting content type.
pub fn file_response(file: &crate::files::StoredFile) -> Response {
    let content_type = file
        .mime_type
        .clone()
        .unwrap_or_else(|| sniff_content_type(&file.bytes).to_string());
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(file.bytes.clone()))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn sniff_content_type(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        "image/jpeg"
    } else if bytes.starts_with(b"GIF8") {
        "image/gif"
    } else if bytes.starts_with(b"RIFF") {
        "image/webp"
    } else {
        "application/octet-stream"
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Shared;
    use crate::SandboxOptions;

    #[test]
    fn implemented_methods_are_real_bot_api_methods() {
        for method in IMPLEMENTED_METHODS {
            assert!(
                known_methods::KNOWN_METHODS.contains(method),
                "{method} is not in the Bot API spec"
            );
        }
    }

    #[tokio::test]
    async fn every_implemented_method_is_dispatched() {
        let state = Shared::new(SandboxOptions::fast_for_tests());
        let token = state.world().create_bot("dispatch_bot", "D").token.clone();
        for method in IMPLEMENTED_METHODS {
            let lowercase = method.to_ascii_lowercase();
            if let Err(error) = call(&state, &token, &lowercase, &Params::default()).await {
                assert_ne!(error.code, 404, "{method}");
                assert!(
                    !error.description.contains("not simulated"),
                    "{method}: {}",
                    error.description
                );
            }
        }
        let unknown = call(&state, &token, "nosuchmethod", &Params::default()).await;
        assert_eq!(unknown, Err(ApiError::not_found()));
    }
}
