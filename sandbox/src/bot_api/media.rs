//! sendPhoto, sendDocument and getFile.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Map, Value};

use super::messages::{
    bot_index, format_text, put_text, reply_markup, reply_to, resolve_target, store_bot_message,
    TextKind,
};
use super::{ApiError, ApiResult, InputFile, Params};
use crate::files::{image_size, FileKind, StoredFile};
use crate::state::AppState;

/// Telegram's Bot API download limit for getFile.
const GET_FILE_LIMIT: usize = 20 * 1024 * 1024;
/// Upload limits: photos 10 MB, other files 50 MB.
const PHOTO_LIMIT: usize = 10 * 1024 * 1024;
const DOCUMENT_LIMIT: usize = 50 * 1024 * 1024;

/// New bytes to store, or a file the sandbox already has.
enum Source {
    New {
        bytes: Bytes,
        file_name: Option<String>,
        mime_type: Option<String>,
    },
    Existing(StoredFile),
}

fn is_loopback_url(raw: &str) -> bool {
    match url::Url::parse(raw)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Downloads a file given by URL; only loopback URLs are fetched.
async fn fetch(state: &AppState, url: &str) -> Result<Source, ApiError> {
    let failed = || ApiError::bad_request("wrong file identifier/HTTP URL specified");
    if !is_loopback_url(url) {
        tracing::warn!(%url, "the sandbox fetches only loopback URLs");
        return Err(ApiError::bad_request("failed to get HTTP URL content"));
    }
    let response = state
        .http
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|_| failed())?;
    if !response.status().is_success() {
        return Err(failed());
    }
    let mime_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let file_name = url
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && !n.contains('?'))
        .map(str::to_string);
    let bytes = response.bytes().await.map_err(|_| failed())?;
    Ok(Source::New {
        bytes,
        file_name,
        mime_type,
    })
}

async fn source(
    state: &AppState,
    p: &Params,
    name: &str,
    kind: FileKind,
) -> Result<Source, ApiError> {
    match p.input_file(name) {
        None => Err(ApiError::bad_request(format!(
            "there is no {name} in the request"
        ))),
        Some(InputFile::Upload(upload)) => Ok(Source::New {
            bytes: upload.bytes,
            file_name: upload.file_name,
            mime_type: upload.content_type,
        }),
        Some(InputFile::Url(url)) => fetch(state, &url).await,
        Some(InputFile::FileId(file_id)) => {
            let world = state.world();
            let file =
                world.files.get(&file_id).cloned().ok_or_else(|| {
                    ApiError::bad_request("wrong file identifier/HTTP URL specified")
                })?;
            if file.kind != kind {
                return Err(ApiError::bad_request(format!(
                    "can't use file of type {:?} as {:?}",
                    file.kind, kind
                )));
            }
            Ok(Source::Existing(file))
        }
    }
}

async fn send_media(state: &AppState, token: &str, p: &Params, kind: FileKind) -> ApiResult {
    let field = match kind {
        FileKind::Photo => "photo",
        _ => "document",
    };
    let chat = p.chat_id()?;
    let caption = format_text(p, &p.str("caption").unwrap_or_default(), TextKind::Caption)?;
    let markup = reply_markup(p)?;
    let source = source(state, p, field, kind).await?;
    let limit = match kind {
        FileKind::Photo => PHOTO_LIMIT,
        _ => DOCUMENT_LIMIT,
    };
    if let Source::New { bytes, .. } = &source {
        if bytes.is_empty() {
            return Err(ApiError::bad_request(format!(
                "there is no {field} in the request"
            )));
        }
        if bytes.len() > limit {
            return Err(ApiError::new(413, "Request Entity Too Large"));
        }
    }
    let mut world = state.world();
    let bot = bot_index(&world, token)?;
    let target = resolve_target(&world, bot, &chat)?;
    let replied = reply_to(&world, bot, target, p)?;
    let file = match source {
        Source::Existing(file) => file,
        Source::New {
            bytes,
            file_name,
            mime_type,
        } => {
            let size = match kind {
                FileKind::Photo => Some(
                    image_size(&bytes)
                        .ok_or_else(|| ApiError::bad_request("IMAGE_PROCESS_FAILED"))?,
                ),
                _ => None,
            };
            let mime_type =
                mime_type.filter(|m| m != "application/octet-stream" || kind != FileKind::Photo);
            world.files.add(kind, bytes, file_name, mime_type, size)
        }
    };
    let mut content = Map::new();
    if let Some(replied) = replied {
        content.insert("reply_to_message".into(), replied);
    }
    let media: Value = match kind {
        FileKind::Photo => file.photo_sizes_json(),
        _ => file.document_json(),
    };
    content.insert(field.into(), media);
    put_text(&mut content, caption, TextKind::Caption);
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

pub async fn send_photo(state: &AppState, token: &str, p: &Params) -> ApiResult {
    send_media(state, token, p, FileKind::Photo).await
}

pub async fn send_document(state: &AppState, token: &str, p: &Params) -> ApiResult {
    send_media(state, token, p, FileKind::Document).await
}

pub fn get_file(state: &AppState, p: &Params) -> ApiResult {
    let file_id = p.required_str("file_id")?;
    let world = state.world();
    let file = world
        .files
        .get(file_id.trim())
        .ok_or_else(|| ApiError::bad_request("invalid file id"))?;
    if file.bytes.len() > GET_FILE_LIMIT {
        return Err(ApiError::bad_request("file is too big"));
    }
    Ok(file.file_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls_are_fetched() {
        assert!(is_loopback_url("http://127.0.0.1:8080/a.png"));
        assert!(is_loopback_url("http://localhost/a.png"));
        assert!(is_loopback_url("http://[::1]/a.png"));
        assert!(!is_loopback_url("https://example.com/a.png"));
        assert!(!is_loopback_url("http://10.0.0.1/a.png"));
        assert!(!is_loopback_url("not a url"));
    }
}
