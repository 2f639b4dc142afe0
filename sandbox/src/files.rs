//! Uploaded files (photos, documents, stickers) and reading image sizes.

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::{json, Value};

use crate::state::random_string;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Photo,
    Document,
    Sticker,
}

impl FileKind {
    /// Telegram's file ids start with a kind-specific prefix; imitate that.
    fn id_prefix(self) -> &'static str {
        match self {
            FileKind::Photo => "AgACAgIAAxkBAAI",
            FileKind::Document => "BQACAgIAAxkBAAI",
            FileKind::Sticker => "CAACAgIAAxkBAAI",
        }
    }

    fn folder(self) -> &'static str {
        match self {
            FileKind::Photo => "photos",
            FileKind::Document => "documents",
            FileKind::Sticker => "stickers",
        }
    }
}

#[derive(Debug, Clone)]
pub struct StoredFile {
    pub file_id: String,
    pub file_unique_id: String,
    pub file_path: String,
    pub kind: FileKind,
    pub bytes: Bytes,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
    pub width: u32,
    pub height: u32,
}

impl StoredFile {
    /// `PhotoSize` array as Telegram returns it (a single size here: the original).
    pub fn photo_sizes_json(&self) -> Value {
        json!([{
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "width": self.width,
            "height": self.height,
            "file_size": self.bytes.len(),
        }])
    }

    pub fn document_json(&self) -> Value {
        let mut doc = json!({
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.bytes.len(),
        });
        if let Some(name) = &self.file_name {
            doc["file_name"] = json!(name);
        }
        if let Some(mime) = &self.mime_type {
            doc["mime_type"] = json!(mime);
        }
        doc
    }

    /// The Bot API `File` object (getFile).
    pub fn file_json(&self) -> Value {
        json!({
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.bytes.len(),
            "file_path": self.file_path,
        })
    }
}

#[derive(Debug, Default)]
pub struct FileStore {
    by_id: HashMap<String, StoredFile>,
    id_by_path: HashMap<String, String>,
    counter: u64,
}

impl FileStore {
    pub fn add(
        &mut self,
        kind: FileKind,
        bytes: Bytes,
        file_name: Option<String>,
        mime_type: Option<String>,
        size: Option<(u32, u32)>,
    ) -> StoredFile {
        self.counter += 1;
        let file_id = format!("{}{}", kind.id_prefix(), random_string(40));
        let file_unique_id = format!("AQAD{}", random_string(12));
        let extension = match (kind, &file_name) {
            (FileKind::Photo, _) => "jpg".to_string(),
            (FileKind::Sticker, _) => "webp".to_string(),
            (FileKind::Document, Some(name)) => name
                .rsplit_once('.')
                .map(|(_, ext)| ext.to_string())
                .filter(|ext| !ext.is_empty() && ext.chars().all(|c| c.is_ascii_alphanumeric()))
                .unwrap_or_else(|| "bin".to_string()),
            (FileKind::Document, None) => "bin".to_string(),
        };
        let file_path = format!("{}/file_{}.{}", kind.folder(), self.counter, extension);
        let (width, height) = size.unwrap_or((0, 0));
        let file = StoredFile {
            file_id: file_id.clone(),
            file_unique_id,
            file_path: file_path.clone(),
            kind,
            bytes,
            file_name,
            mime_type,
            width,
            height,
        };
        self.by_id.insert(file_id.clone(), file.clone());
        self.id_by_path.insert(file_path, file_id);
        file
    }

    pub fn get(&self, file_id: &str) -> Option<&StoredFile> {
        self.by_id.get(file_id)
    }

    pub fn by_path(&self, file_path: &str) -> Option<&StoredFile> {
        self.id_by_path
            .get(file_path)
            .and_then(|id| self.by_id.get(id))
    }
}

/// Width and height of a PNG, JPEG, GIF or WebP image read from its header, or `None`
/// when the bytes are not such an image (Telegram answers IMAGE_PROCESS_FAILED then).
pub fn image_size(bytes: &[u8]) -> Option<(u32, u32)> {
    png_size(bytes)
        .or_else(|| jpeg_size(bytes))
        .or_else(|| gif_size(bytes))
        .or_else(|| webp_size(bytes))
        .filter(|(w, h)| *w > 0 && *h > 0)
}

fn be_u16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

fn le_u16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_le_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

fn png_size(b: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if !b.starts_with(SIGNATURE) || b.get(12..16)? != b"IHDR" {
        return None;
    }
    Some((be_u32(b, 16)?, be_u32(b, 20)?))
}

fn jpeg_size(b: &[u8]) -> Option<(u32, u32)> {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut at = 2;
    loop {
        // Skip fill bytes before a marker.
        while *b.get(at)? == 0xFF && *b.get(at + 1)? == 0xFF {
            at += 1;
        }
        if *b.get(at)? != 0xFF {
            return None;
        }
        let marker = *b.get(at + 1)?;
        let length = be_u16(b, at + 2)? as usize;
        let is_start_of_frame =
            matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_start_of_frame {
            return Some((be_u16(b, at + 7)?, be_u16(b, at + 5)?));
        }
        if length < 2 {
            return None;
        }
        at += 2 + length;
    }
}

fn gif_size(b: &[u8]) -> Option<(u32, u32)> {
    if !(b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a")) {
        return None;
    }
    Some((le_u16(b, 6)?, le_u16(b, 8)?))
}

fn webp_size(b: &[u8]) -> Option<(u32, u32)> {
    if b.get(0..4)? != b"RIFF" || b.get(8..12)? != b"WEBP" {
        return None;
    }
    match b.get(12..16)? {
        b"VP8X" => {
            let w = u32::from_le_bytes([*b.get(24)?, *b.get(25)?, *b.get(26)?, 0]) + 1;
            let h = u32::from_le_bytes([*b.get(27)?, *b.get(28)?, *b.get(29)?, 0]) + 1;
            Some((w, h))
        }
        b"VP8 " => Some((le_u16(b, 26)? & 0x3FFF, le_u16(b, 28)? & 0x3FFF)),
        b"VP8L" => {
            let bits = u32::from_le_bytes([*b.get(21)?, *b.get(22)?, *b.get(23)?, *b.get(24)?]);
            Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        _ => None,
    }
}

/// A valid 1x1 PNG, handy for tests and the demo.
pub const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_png_size() {
        assert_eq!(image_size(TINY_PNG), Some((1, 1)));
    }

    #[test]
    fn reads_jpeg_size() {
        // SOI, APP0 (length 4), SOF0 with height 0x0102 and width 0x0304.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01,
            0x02, 0x03, 0x04, 0x03,
        ];
        assert_eq!(image_size(&jpeg), Some((0x0304, 0x0102)));
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(image_size(b"not an image at all"), None);
        assert_eq!(image_size(&TINY_PNG[..20]), None);
        assert_eq!(image_size(&[0xFF, 0xD8, 0xFF]), None);
    }
}
