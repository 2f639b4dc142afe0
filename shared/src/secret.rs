//! Secrets: values that must never reach a log, and their encryption at rest.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// A secret value from configuration or the database. `Debug` and `Display` never show it;
/// call [`SecretString::expose`] at the one place that needs the real value.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

// ---------------------------------------------------------------------------------------------
// Encryption at rest
// ---------------------------------------------------------------------------------------------

/// The prefix of every value written by this version of the format.
const FORMAT_VERSION: &str = "v1";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const MAX_KEY_ID_LEN: usize = 16;
/// Secrets are tokens, passwords and keys; anything this large is a mistake, not a secret.
pub const MAX_PLAINTEXT_LEN: usize = 1024 * 1024;

/// What went wrong with a key or an encrypted value. Messages never contain key material or
/// plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("no encryption key is configured: add a line \"id:base64-of-32-bytes\" (32 random bytes) to the secret keys setting")]
    NoKeys,
    #[error("secret key #{position} is not of the form \"id:base64-of-32-bytes\": {problem}")]
    BadKeyLine {
        /// 1-based position in the configured list (newest first).
        position: usize,
        problem: &'static str,
    },
    #[error("secret key id \"{id}\" appears more than once: give every key its own id (for example k1, k2, ...)")]
    DuplicateKeyId { id: String },
    #[error("the value to encrypt is {len} bytes; at most {MAX_PLAINTEXT_LEN} bytes can be stored as a secret")]
    TooLong { len: usize },
    #[error("the stored secret is not in the \"v1:<key-id>:<data>\" format: {problem}; it was damaged or was never encrypted by Madar")]
    Malformed { problem: &'static str },
    #[error("the stored secret was encrypted with key \"{id}\", which is not configured: add that key back to the secret keys setting (after the newest one)")]
    UnknownKey { id: String },
    #[error("the stored secret could not be decrypted with key \"{id}\": it was changed, copied from another record, or the key \"{id}\" in the configuration is not the one it was written with")]
    DecryptionFailed { id: String },
}

/// The configured encryption keys, newest first. New values are always encrypted with the
/// newest key; older keys are kept so that values written under them can still be read and
/// re-encrypted ([`Keyring::rotate`]).
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<NamedKey>,
}

#[derive(Clone)]
struct NamedKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

/// Shows the key ids only, never the keys.
impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("key_ids", &self.key_ids().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// Keys from configuration, newest first: each "id:base64-of-32-bytes" (id = 1..16 chars
    /// of `[a-z0-9-]`). Surrounding whitespace is ignored.
    pub fn from_config(keys: &[SecretString]) -> Result<Keyring, SecretError> {
        if keys.is_empty() {
            return Err(SecretError::NoKeys);
        }
        let mut parsed: Vec<NamedKey> = Vec::with_capacity(keys.len());
        for (index, line) in keys.iter().enumerate() {
            let key = parse_key_line(line.expose()).map_err(|problem| SecretError::BadKeyLine {
                position: index + 1,
                problem,
            })?;
            if parsed.iter().any(|k| k.id == key.id) {
                return Err(SecretError::DuplicateKeyId { id: key.id });
            }
            parsed.push(key);
        }
        Ok(Keyring { keys: parsed })
    }

    /// A fresh random key line "id:base64-of-32-bytes" for configuration (install scripts,
    /// the demo). `id` should be 1-16 characters of `[a-z0-9-]`; `from_config` rejects others.
    pub fn generate_key_line(id: &str) -> SecretString {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        SecretString::new(format!("{id}:{}", STANDARD.encode(key)))
    }

    /// The id of the key new values are encrypted with.
    pub fn newest_key_id(&self) -> &str {
        self.newest().id.as_str()
    }

    /// All configured key ids, newest first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    /// Encrypts with the newest key into `"v1:<key-id>:<base64url nonce||ciphertext>"`.
    /// `context` is bound as associated data (for example "tenant:42:bot_token"), so a value
    /// copied to another record or field does not decrypt there.
    pub fn encrypt(&self, plaintext: &str, context: &str) -> Result<String, SecretError> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(SecretError::TooLong {
                len: plaintext.len(),
            });
        }
        let key = self.newest();
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: context.as_bytes(),
        };
        // The AEAD only refuses messages far larger than MAX_PLAINTEXT_LEN.
        let ciphertext = key
            .cipher
            .encrypt(&nonce, payload)
            .map_err(|_| SecretError::TooLong {
                len: plaintext.len(),
            })?;
        let mut data = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        data.extend_from_slice(&nonce);
        data.extend_from_slice(&ciphertext);
        Ok(format!(
            "{FORMAT_VERSION}:{}:{}",
            key.id,
            URL_SAFE_NO_PAD.encode(data)
        ))
    }

    /// Decrypts a value written by [`Keyring::encrypt`] with the same `context`.
    pub fn decrypt(&self, stored: &str, context: &str) -> Result<SecretString, SecretError> {
        let parsed = parse_stored(stored)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == parsed.key_id)
            .ok_or_else(|| SecretError::UnknownKey {
                id: parsed.key_id.to_string(),
            })?;
        let data = URL_SAFE_NO_PAD
            .decode(parsed.data)
            .map_err(|_| SecretError::Malformed {
                problem: "the data part is not base64url",
            })?;
        if data.len() < NONCE_LEN + TAG_LEN {
            return Err(SecretError::Malformed {
                problem: "the data part is too short",
            });
        }
        let (nonce, ciphertext) = data.split_at(NONCE_LEN);
        let payload = Payload {
            msg: ciphertext,
            aad: context.as_bytes(),
        };
        let plaintext = key
            .cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| SecretError::DecryptionFailed { id: key.id.clone() })?;
        String::from_utf8(plaintext)
            .map(SecretString::new)
            .map_err(|_| SecretError::Malformed {
                problem: "the decrypted value is not UTF-8 text",
            })
    }

    /// True when `stored` is a well-formed value written under a key other than the newest,
    /// so [`Keyring::rotate`] should re-encrypt it. False for values under the newest key and
    /// for values that cannot be parsed at all (decrypting them reports why).
    pub fn needs_rotation(&self, stored: &str) -> bool {
        parse_stored(stored).is_ok_and(|parsed| parsed.key_id != self.newest_key_id())
    }

    /// Re-encrypts `stored` under the newest key. A value already under the newest key is
    /// checked (decrypted) and returned unchanged.
    pub fn rotate(&self, stored: &str, context: &str) -> Result<String, SecretError> {
        let plaintext = self.decrypt(stored, context)?;
        if self.needs_rotation(stored) {
            self.encrypt(plaintext.expose(), context)
        } else {
            Ok(stored.to_string())
        }
    }

    fn newest(&self) -> &NamedKey {
        // `from_config` refuses an empty list and is the only constructor.
        &self.keys[0]
    }
}

fn parse_key_line(line: &str) -> Result<NamedKey, &'static str> {
    let line = line.trim();
    let (id, encoded) = line
        .split_once(':')
        .ok_or("there is no ':' between the id and the key")?;
    if !is_valid_key_id(id) {
        return Err("the id must be 1-16 characters of a-z, 0-9 and '-'");
    }
    let bytes = STANDARD
        .decode(encoded.trim())
        .map_err(|_| "the key is not valid base64")?;
    if bytes.len() != KEY_LEN {
        return Err("the key must be exactly 32 bytes (44 base64 characters)");
    }
    let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
        .map_err(|_| "the key must be exactly 32 bytes (44 base64 characters)")?;
    Ok(NamedKey {
        id: id.to_string(),
        cipher,
    })
}

fn is_valid_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

struct StoredParts<'a> {
    key_id: &'a str,
    data: &'a str,
}

fn parse_stored(stored: &str) -> Result<StoredParts<'_>, SecretError> {
    let mut parts = stored.splitn(3, ':');
    let (Some(version), Some(key_id), Some(data)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(SecretError::Malformed {
            problem: "it does not have three ':'-separated parts",
        });
    };
    if version != FORMAT_VERSION {
        return Err(SecretError::Malformed {
            problem: "the version is not v1",
        });
    }
    if !is_valid_key_id(key_id) {
        return Err(SecretError::Malformed {
            problem: "the key id is not 1-16 characters of a-z, 0-9 and '-'",
        });
    }
    Ok(StoredParts { key_id, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(lines: &[&SecretString]) -> Keyring {
        let owned: Vec<SecretString> = lines.iter().map(|s| (*s).clone()).collect();
        Keyring::from_config(&owned).expect("valid keys")
    }

    #[test]
    fn round_trip() {
        let k1 = Keyring::generate_key_line("k1");
        let keys = ring(&[&k1]);
        let stored = keys
            .encrypt("123456:ABC-bot-token", "tenant:42:bot_token")
            .expect("encrypt");
        assert!(stored.starts_with("v1:k1:"), "{stored}");
        assert!(!stored.contains("ABC-bot-token"));
        let plain = keys
            .decrypt(&stored, "tenant:42:bot_token")
            .expect("decrypt");
        assert_eq!(plain.expose(), "123456:ABC-bot-token");
        // Fresh nonce each time.
        let again = keys
            .encrypt("123456:ABC-bot-token", "tenant:42:bot_token")
            .expect("encrypt");
        assert_ne!(stored, again);
        // Empty and non-ASCII values work too.
        for value in ["", "رمز عبور ۱۲۳"] {
            let s = keys.encrypt(value, "c").expect("encrypt");
            assert_eq!(keys.decrypt(&s, "c").expect("decrypt").expose(), value);
        }
    }

    #[test]
    fn rotation() {
        let k1 = Keyring::generate_key_line("k1");
        let k2 = Keyring::generate_key_line("k2");
        let old_ring = ring(&[&k1]);
        let old = old_ring
            .encrypt("panel-password", "panel:7:password")
            .expect("encrypt");
        assert!(!old_ring.needs_rotation(&old));

        // A new key is added in front; the old one stays for reading.
        let new_ring = ring(&[&k2, &k1]);
        assert_eq!(new_ring.newest_key_id(), "k2");
        assert_eq!(new_ring.key_ids().collect::<Vec<_>>(), ["k2", "k1"]);
        assert_eq!(
            new_ring
                .decrypt(&old, "panel:7:password")
                .expect("old decrypts")
                .expose(),
            "panel-password"
        );
        assert!(new_ring.needs_rotation(&old));

        let rotated = new_ring.rotate(&old, "panel:7:password").expect("rotate");
        assert!(rotated.starts_with("v1:k2:"), "{rotated}");
        assert!(!new_ring.needs_rotation(&rotated));
        assert_eq!(
            new_ring
                .decrypt(&rotated, "panel:7:password")
                .expect("decrypt")
                .expose(),
            "panel-password"
        );
        // Rotating a current value leaves it as it is.
        assert_eq!(
            new_ring.rotate(&rotated, "panel:7:password"),
            Ok(rotated.clone())
        );
        // Rotation checks the context too.
        assert!(new_ring.rotate(&old, "panel:8:password").is_err());

        // Once k1 is dropped, the rotated value still reads; the old one names the missing key.
        let only_new = ring(&[&k2]);
        assert!(only_new.decrypt(&rotated, "panel:7:password").is_ok());
        assert_eq!(
            only_new.decrypt(&old, "panel:7:password").map(|_| ()),
            Err(SecretError::UnknownKey { id: "k1".into() })
        );
    }

    #[test]
    fn wrong_context_fails() {
        let keys = ring(&[&Keyring::generate_key_line("k1")]);
        let stored = keys
            .encrypt("token", "tenant:42:bot_token")
            .expect("encrypt");
        assert_eq!(
            keys.decrypt(&stored, "tenant:43:bot_token").map(|_| ()),
            Err(SecretError::DecryptionFailed { id: "k1".into() })
        );
    }

    #[test]
    fn same_id_with_another_key_fails() {
        let stored = ring(&[&Keyring::generate_key_line("k1")])
            .encrypt("token", "c")
            .expect("encrypt");
        let other = ring(&[&Keyring::generate_key_line("k1")]);
        assert!(matches!(
            other.decrypt(&stored, "c"),
            Err(SecretError::DecryptionFailed { .. })
        ));
    }

    #[test]
    fn tampered_ciphertext_fails() {
        let keys = ring(&[&Keyring::generate_key_line("k1")]);
        let stored = keys
            .encrypt("gateway-api-key", "gw:1:key")
            .expect("encrypt");
        let (head, data) = stored.rsplit_once(':').expect("three parts");
        let mut bytes = URL_SAFE_NO_PAD.decode(data).expect("base64");
        for position in [0, NONCE_LEN, bytes.len() - 1] {
            bytes[position] ^= 0x01;
            let tampered = format!("{head}:{}", URL_SAFE_NO_PAD.encode(&bytes));
            assert!(
                matches!(
                    keys.decrypt(&tampered, "gw:1:key"),
                    Err(SecretError::DecryptionFailed { .. })
                ),
                "flipping byte {position} was not detected"
            );
            bytes[position] ^= 0x01;
        }
        // Truncated and garbage values are clear errors, not panics.
        for bad in [
            "",
            "v1",
            "v1:k1",
            "v1:k1:",
            "v1:k1:!!!",
            "v2:k1:AAAA",
            "v1:K1:AAAA",
            &stored[..stored.len() - 4],
        ] {
            let result = keys.decrypt(bad, "gw:1:key");
            assert!(result.is_err(), "{bad:?} decrypted");
            assert!(!keys.needs_rotation(bad), "{bad:?}");
        }
    }

    #[test]
    fn bad_key_lines_are_rejected_without_showing_the_key() {
        let good = Keyring::generate_key_line("k1");
        let key_part = good.expose().split_once(':').expect("colon").1.to_string();
        let cases = [
            key_part.clone(),
            format!("K1:{key_part}"),
            format!(":{key_part}"),
            format!("a-very-long-key-id-x:{key_part}"),
            "k1:not base64!".to_string(),
            format!("k1:{}", STANDARD.encode([7u8; 16])),
        ];
        for line in cases {
            let err = Keyring::from_config(&[SecretString::new(line.clone())])
                .expect_err("must be rejected");
            assert!(
                matches!(err, SecretError::BadKeyLine { position: 1, .. }),
                "{err:?}"
            );
            assert!(!err.to_string().contains(&key_part), "{err}");
        }
        assert_eq!(
            Keyring::from_config(&[]).map(|_| ()),
            Err(SecretError::NoKeys)
        );
        let second = Keyring::generate_key_line("k1");
        assert_eq!(
            Keyring::from_config(&[good.clone(), second]).map(|_| ()),
            Err(SecretError::DuplicateKeyId { id: "k1".into() })
        );
        // Surrounding whitespace is fine.
        let padded = SecretString::new(format!("  {}\n", good.expose()));
        assert!(Keyring::from_config(&[padded]).is_ok());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let line = Keyring::generate_key_line("k1");
        let key_part = line.expose().split_once(':').expect("colon").1.to_string();
        assert_eq!(format!("{line:?}"), "[redacted]");
        assert_eq!(format!("{line}"), "[redacted]");
        let keys = ring(&[&line]);
        let shown = format!("{keys:?} {keys:#?}");
        assert!(shown.contains("k1"), "{shown}");
        assert!(!shown.contains(&key_part), "{shown}");
        let stored = keys.encrypt("hunter2", "c").expect("encrypt");
        let plain = keys.decrypt(&stored, "c").expect("decrypt");
        assert_eq!(format!("{plain:?} {plain}"), "[redacted] [redacted]");
        let err = keys.decrypt(&stored, "other").expect_err("wrong context");
        assert!(!format!("{err} {err:?}").contains("hunter2"));
    }

    #[test]
    fn too_long_is_an_error() {
        let keys = ring(&[&Keyring::generate_key_line("k1")]);
        let huge = "x".repeat(MAX_PLAINTEXT_LEN + 1);
        assert_eq!(
            keys.encrypt(&huge, "c"),
            Err(SecretError::TooLong {
                len: MAX_PLAINTEXT_LEN + 1
            })
        );
    }

    #[test]
    fn generated_lines_are_valid_and_distinct() {
        let a = Keyring::generate_key_line("k-2026");
        let b = Keyring::generate_key_line("k-2026");
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("k-2026:"));
        assert_eq!(a.expose().len(), "k-2026:".len() + 44);
        assert!(Keyring::from_config(&[a]).is_ok());
    }
}
