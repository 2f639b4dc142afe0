//! Gathers a Bot API call's parameters from the query string and a JSON, form or
//! multipart body, and reads them the lenient way Telegram does ("42" and 42 are both
//! integers; JSON-typed parameters may arrive as JSON text).

use std::collections::HashMap;

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use bytes::Bytes;
use serde_json::{Map, Value};

use super::ApiError;

/// An uploaded multipart file part.
#[derive(Debug, Clone)]
pub struct Upload {
    pub bytes: Bytes,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
}

/// How a file parameter (photo, document) was given.
#[derive(Debug, Clone)]
pub enum InputFile {
    Upload(Upload),
    FileId(String),
    Url(String),
}

/// A chat_id: a number or "@username".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatRef {
    Id(i64),
    Username(String),
}

#[derive(Debug, Default, Clone)]
pub struct Params {
    fields: Map<String, Value>,
    files: HashMap<String, Upload>,
}

const MAX_BODY: usize = 60 * 1024 * 1024;

impl Params {
    pub async fn from_request(request: Request) -> Result<Params, ApiError> {
        let mut params = Params::default();
        if let Some(query) = request.uri().query() {
            params.add_form(query.as_bytes());
        }
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with("multipart/form-data") {
            let mut multipart = Multipart::from_request(request, &())
                .await
                .map_err(|e| ApiError::bad_request(format!("invalid multipart body: {e}")))?;
            while let Some(field) = multipart
                .next_field()
                .await
                .map_err(|e| ApiError::bad_request(format!("invalid multipart body: {e}")))?
            {
                let name = field.name().unwrap_or("").to_string();
                let file_name = field.file_name().map(str::to_string);
                let part_type = field.content_type().map(str::to_string);
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| ApiError::bad_request(format!("invalid multipart body: {e}")))?;
                match file_name {
                    Some(file_name) => {
                        params.files.insert(
                            name,
                            Upload {
                                bytes,
                                file_name: (!file_name.is_empty()).then_some(file_name),
                                content_type: part_type,
                            },
                        );
                    }
                    None => {
                        let text = String::from_utf8_lossy(&bytes).into_owned();
                        params.fields.insert(name, Value::String(text));
                    }
                }
            }
            return Ok(params);
        }
        let body = axum::body::to_bytes(request.into_body(), MAX_BODY)
            .await
            .map_err(|_| ApiError::new(413, "Request Entity Too Large"))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(params);
        }
        if content_type.starts_with("application/json") {
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(map)) => params.fields.extend(map),
                Ok(_) | Err(_) => {
                    return Err(ApiError::bad_request("can't parse JSON object"));
                }
            }
        } else {
            params.add_form(&body);
        }
        Ok(params)
    }

    fn add_form(&mut self, form: &[u8]) {
        for (key, value) in url::form_urlencoded::parse(form) {
            self.fields
                .insert(key.into_owned(), Value::String(value.into_owned()));
        }
    }

    /// Builds parameters directly (used by tests and in-process callers).
    pub fn from_json(fields: Map<String, Value>) -> Params {
        Params {
            fields,
            files: HashMap::new(),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.fields.get(name).is_some_and(|v| !v.is_null()) || self.files.contains_key(name)
    }

    /// A string parameter; numbers and booleans are accepted as their text.
    pub fn str(&self, name: &str) -> Option<String> {
        match self.fields.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// A required string: missing or empty gives 400 "`<name>` is empty".
    pub fn required_str(&self, name: &str) -> Result<String, ApiError> {
        self.str(name)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::bad_request(format!("{name} is empty")))
    }

    pub fn i64(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("invalid {name} specified"))),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid {name} specified"))),
            Some(_) => Err(ApiError::bad_request(format!("invalid {name} specified"))),
        }
    }

    pub fn required_i64(&self, name: &str, missing: &str) -> Result<i64, ApiError> {
        self.i64(name)?
            .ok_or_else(|| ApiError::bad_request(missing))
    }

    pub fn bool(&self, name: &str) -> bool {
        match self.fields.get(name) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => matches!(s.trim(), "true" | "True" | "1"),
            Some(Value::Number(n)) => n.as_i64().unwrap_or(0) != 0,
            _ => false,
        }
    }

    /// A JSON-typed parameter, given as JSON or as JSON text.
    pub fn json(&self, name: &str) -> Result<Option<Value>, ApiError> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s)
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("can't parse {name} JSON object"))),
            Some(other) => Ok(Some(other.clone())),
        }
    }

    pub fn chat_id(&self) -> Result<ChatRef, ApiError> {
        self.chat_ref("chat_id")
    }

    pub fn chat_ref(&self, name: &str) -> Result<ChatRef, ApiError> {
        let raw = self.required_str(name)?;
        let raw = raw.trim();
        if let Ok(id) = raw.parse::<i64>() {
            return Ok(ChatRef::Id(id));
        }
        if let Some(username) = raw.strip_prefix('@') {
            if !username.is_empty() {
                return Ok(ChatRef::Username(username.to_string()));
            }
        }
        Err(ApiError::chat_not_found())
    }

    /// A file parameter: an upload (directly or via "attach://name"), a file_id or a URL.
    pub fn input_file(&self, name: &str) -> Option<InputFile> {
        if let Some(upload) = self.files.get(name) {
            return Some(InputFile::Upload(upload.clone()));
        }
        let value = self.str(name)?;
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        if let Some(attached) = value.strip_prefix("attach://") {
            return self.files.get(attached).cloned().map(InputFile::Upload);
        }
        if value.starts_with("http://") || value.starts_with("https://") {
            return Some(InputFile::Url(value.to_string()));
        }
        Some(InputFile::FileId(value.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(value: Value) -> Params {
        match value {
            Value::Object(map) => Params::from_json(map),
            _ => Params::default(),
        }
    }

    #[test]
    fn reads_numbers_from_text_and_json() {
        let p = params(json!({"a": "42", "b": 7, "c": "x"}));
        assert_eq!(p.i64("a").unwrap(), Some(42));
        assert_eq!(p.i64("b").unwrap(), Some(7));
        assert_eq!(p.i64("missing").unwrap(), None);
        assert!(p.i64("c").is_err());
    }

    #[test]
    fn reads_json_typed_parameters_given_as_text() {
        let p = params(json!({"m": "{\"a\":1}", "n": {"a": 2}, "bad": "{"}));
        assert_eq!(p.json("m").unwrap(), Some(json!({"a": 1})));
        assert_eq!(p.json("n").unwrap(), Some(json!({"a": 2})));
        assert!(p.json("bad").is_err());
    }

    #[test]
    fn chat_ids() {
        let p = params(json!({"a": "-100123", "b": "@chan", "c": "nope"}));
        assert_eq!(p.chat_ref("a").unwrap(), ChatRef::Id(-100123));
        assert_eq!(p.chat_ref("b").unwrap(), ChatRef::Username("chan".into()));
        assert_eq!(
            p.chat_ref("c").unwrap_err().description,
            "Bad Request: chat not found"
        );
        assert_eq!(
            p.chat_ref("d").unwrap_err().description,
            "Bad Request: d is empty"
        );
    }
}
