//! Customer accounts by email and password (argon2id), email verification, password reset,
//! and linking an email account with the customer's Telegram account so both are one customer.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use rand::Rng;
use serde_json::json;
use sha2::{Digest, Sha256};
use shared::clock::{DAY, MINUTE};
use shared::db::{new_id, Db};

use crate::customers::{self, Customer, TelegramProfile};
use crate::outbox::{self, args, Channel, NewMessage};
use crate::{Error, Result};

/// Why an account request was refused; each says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountRefusal {
    #[error("that is not an email address")]
    BadEmail,
    #[error("the password must have at least 10 characters")]
    WeakPassword,
    #[error("an account with this email exists; sign in or reset the password")]
    EmailTaken,
    #[error("the email or password is wrong")]
    WrongCredentials,
    #[error("the code is wrong or has expired; ask for a new one")]
    BadCode,
    #[error(
        "this Telegram account already has its own subscriptions; contact support to merge them"
    )]
    TelegramHasOwnAccount,
}

const MIN_PASSWORD_CHARS: usize = 10;
const VERIFY_TTL: i64 = 2 * DAY;
const RESET_TTL: i64 = 30 * MINUTE;
const LINK_TTL: i64 = 15 * MINUTE;

fn normalize_email(raw: &str) -> Result<String, AccountRefusal> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(AccountRefusal::BadEmail)
    }
}

fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Corrupt(format!("hashing a password: {e}")))
}

fn password_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

fn hash_code(code: &str) -> String {
    hex::encode(Sha256::digest(code.trim().to_uppercase().as_bytes()))
}

/// A code people can type: groups of letters and digits without look-alikes.
fn new_code(groups: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..groups)
        .map(|_| {
            (0..4)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

async fn store_code(
    db: &Db,
    customer_id: &str,
    purpose: &str,
    ttl: i64,
    now: i64,
    groups: usize,
) -> Result<String> {
    let code = new_code(groups);
    sqlx::query(
        "INSERT INTO customer_codes (code_hash, customer_id, purpose, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hash_code(&code))
    .bind(customer_id)
    .bind(purpose)
    .bind(now + ttl)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(code)
}

/// Uses a code once; returns its customer.
async fn use_code(db: &Db, code: &str, purpose: &str, now: i64) -> Result<String> {
    let customer: Option<String> = sqlx::query_scalar(
        "UPDATE customer_codes SET used_at = $1
         WHERE code_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1
         RETURNING customer_id",
    )
    .bind(now)
    .bind(hash_code(code))
    .bind(purpose)
    .fetch_optional(db.pool())
    .await?;
    customer.ok_or_else(|| Error::Account(AccountRefusal::BadCode))
}

/// Creates an account and emails a verification code.
pub async fn register(
    db: &Db,
    now: i64,
    email: &str,
    password: &str,
    first_name: &str,
) -> Result<Customer> {
    let email = normalize_email(email).map_err(Error::Account)?;
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::Account(AccountRefusal::WeakPassword));
    }
    let hash = hash_password(password)?;
    let id = new_id();
    let inserted = sqlx::query(
        "INSERT INTO customers (id, first_name, email, password_hash, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(&id)
    .bind(first_name.trim())
    .bind(&email)
    .bind(hash)
    .bind(now)
    .execute(db.pool())
    .await;
    match inserted {
        Ok(_) => {}
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(Error::Account(AccountRefusal::EmailTaken))
        }
        Err(e) => return Err(e.into()),
    }
    send_verification(db, now, &id).await?;
    customers::get(db, &id)
        .await?
        .ok_or_else(|| Error::Corrupt("a new customer vanished".into()))
}

/// Emails a (new) verification code.
pub async fn send_verification(db: &Db, now: i64, customer_id: &str) -> Result<()> {
    let code = store_code(db, customer_id, "verify_email", VERIFY_TTL, now, 3).await?;
    let message = NewMessage {
        key: format!("email:verify:{customer_id}:{}", hash_code(&code)),
        channel: Channel::Email,
        recipient: customer_id,
        template: "email_verification",
        args: args([("code", json!(code))]),
    };
    outbox::enqueue(db.pool(), &message, now).await?;
    Ok(())
}

pub async fn verify_email(db: &Db, now: i64, code: &str) -> Result<Customer> {
    let id = use_code(db, code, "verify_email", now).await?;
    sqlx::query("UPDATE customers SET email_verified_at = $1, updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(&id)
        .execute(db.pool())
        .await?;
    customers::get(db, &id)
        .await?
        .ok_or_else(|| Error::Corrupt("a verified customer vanished".into()))
}

/// Checks an email and password. Takes as long whether or not the email exists.
pub async fn sign_in(db: &Db, email: &str, password: &str) -> Result<Customer> {
    let email = normalize_email(email).unwrap_or_default();
    let row: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT id, password_hash FROM customers WHERE email = $1")
            .bind(&email)
            .fetch_optional(db.pool())
            .await?;
    // Without an account, verify against a real hash anyway, so timing tells nothing.
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let (id, stored) = match row {
        Some((id, Some(hash))) => (Some(id), hash),
        _ => (
            None,
            DUMMY
                .get_or_init(|| hash_password("no such account").unwrap_or_default())
                .clone(),
        ),
    };
    let matches = password_matches(password, &stored);
    match id {
        Some(id) if matches => customers::get(db, &id)
            .await?
            .ok_or_else(|| Error::Corrupt("a customer vanished".into())),
        _ => Err(Error::Account(AccountRefusal::WrongCredentials)),
    }
}

/// Emails a password reset code (silently does nothing for an unknown email).
pub async fn request_password_reset(db: &Db, now: i64, email: &str) -> Result<()> {
    let Ok(email) = normalize_email(email) else {
        return Ok(());
    };
    let id: Option<String> = sqlx::query_scalar("SELECT id FROM customers WHERE email = $1")
        .bind(&email)
        .fetch_optional(db.pool())
        .await?;
    let Some(id) = id else { return Ok(()) };
    let code = store_code(db, &id, "reset_password", RESET_TTL, now, 3).await?;
    let message = NewMessage {
        key: format!("email:reset:{id}:{}", hash_code(&code)),
        channel: Channel::Email,
        recipient: &id,
        template: "password_reset",
        args: args([("code", json!(code))]),
    };
    outbox::enqueue(db.pool(), &message, now).await?;
    Ok(())
}

pub async fn reset_password(db: &Db, now: i64, code: &str, new_password: &str) -> Result<()> {
    if new_password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::Account(AccountRefusal::WeakPassword));
    }
    let id = use_code(db, code, "reset_password", now).await?;
    sqlx::query("UPDATE customers SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(hash_password(new_password)?)
        .bind(now)
        .bind(&id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// A short code the signed-in customer sends to the master bot (`/link CODE`).
pub async fn start_link(db: &Db, now: i64, customer_id: &str) -> Result<String> {
    store_code(db, customer_id, "link_telegram", LINK_TTL, now, 2).await
}

/// Joins the Telegram user to the account the code belongs to. A Telegram-only customer
/// record with nothing bought is folded into the account; one with subscriptions is refused.
pub async fn complete_link(
    db: &Db,
    now: i64,
    code: &str,
    profile: &TelegramProfile,
) -> Result<Customer> {
    let account = use_code(db, code, "link_telegram", now).await?;
    let mut tx = db.begin().await?;
    let existing: Option<String> =
        sqlx::query_scalar("SELECT id FROM customers WHERE telegram_id = $1")
            .bind(profile.id.get())
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(other) = existing.filter(|other| *other != account) {
        let bought: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM subscriptions WHERE customer_id = $1")
                .bind(&other)
                .fetch_one(&mut *tx)
                .await?;
        let paid: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invoices WHERE customer_id = $1")
            .bind(&other)
            .fetch_one(&mut *tx)
            .await?;
        if bought > 0 || paid > 0 {
            return Err(Error::Account(AccountRefusal::TelegramHasOwnAccount));
        }
        sqlx::query("DELETE FROM customer_codes WHERE customer_id = $1")
            .bind(&other)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM customers WHERE id = $1")
            .bind(&other)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "UPDATE customers SET telegram_id = $1, username = $2, telegram_locale = $3, updated_at = $4
         WHERE id = $5",
    )
    .bind(profile.id.get())
    .bind(&profile.username)
    .bind(&profile.language_code)
    .bind(now)
    .bind(&account)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    customers::get(db, &account)
        .await?
        .ok_or_else(|| Error::Corrupt("a linked customer vanished".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_lowercased() {
        assert_eq!(
            normalize_email(" Sara@Example.COM ").unwrap(),
            "sara@example.com"
        );
        for bad in [
            "",
            "sara",
            "sara@",
            "@example.com",
            "sara@example",
            "sa ra@example.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn codes_are_typeable_and_compared_without_case() {
        let code = new_code(2);
        assert_eq!(code.len(), 9);
        assert_eq!(hash_code(&code.to_lowercase()), hash_code(&code));
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(password_matches("correct horse battery", &hash));
        assert!(!password_matches("wrong", &hash));
    }
}
