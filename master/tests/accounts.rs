//! Email accounts: sign up, verify, sign in, reset the password, and link the Telegram account
//! so both are one customer. On SQLite and PostgreSQL.

use master::accounts::{self, AccountRefusal};
use master::customers::{self, TelegramProfile};
use master::outbox;
use master::Error;
use shared::db::{Db, Engine, Schema};
use shared::telegram::TelegramId;
use shared::testdb::TestDb;

const NOW: i64 = 1_795_257_600;

fn refused<T: std::fmt::Debug>(result: Result<T, Error>) -> AccountRefusal {
    match result {
        Err(Error::Account(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The code in the last email of a kind: read from the outbox the sender would deliver.
async fn emailed_code(db: &Db, template: &str) -> String {
    let rows = outbox::due(db, i64::MAX, 1000).await.unwrap();
    let message = rows.iter().rev().find(|m| m.template == template).unwrap();
    message.args["code"].as_str().unwrap().to_string()
}

async fn a_customer_signs_up_by_email_and_links_telegram(engine: Engine) {
    let Some(t) = TestDb::fresh(engine, Schema::Master).await else {
        return;
    };
    let db = &t.db;

    assert_eq!(
        refused(accounts::register(db, NOW, "not-an-email", "long enough pw", "Sara").await),
        AccountRefusal::BadEmail
    );
    assert_eq!(
        refused(accounts::register(db, NOW, "sara@example.com", "short", "Sara").await),
        AccountRefusal::WeakPassword
    );
    let sara = accounts::register(db, NOW, "Sara@Example.com", "correct horse battery", "Sara")
        .await
        .unwrap();
    assert_eq!(sara.email.as_deref(), Some("sara@example.com"));
    assert_eq!(
        refused(
            accounts::register(db, NOW, "sara@example.com", "another long password", "Sara").await
        ),
        AccountRefusal::EmailTaken
    );
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM customers WHERE id = $1")
        .bind(&sara.id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert!(stored.starts_with("$argon2id$") && !stored.contains("correct horse"));

    // Verification by the emailed code, once.
    let code = emailed_code(db, "email_verification").await;
    assert_eq!(
        refused(accounts::verify_email(db, NOW, "WRONG-CODE-XXXX").await),
        AccountRefusal::BadCode
    );
    accounts::verify_email(db, NOW + 60, &code.to_lowercase())
        .await
        .unwrap();
    assert_eq!(
        refused(accounts::verify_email(db, NOW + 61, &code).await),
        AccountRefusal::BadCode
    );

    // Sign in, with the wrong password, and for an unknown email: the same answer.
    assert_eq!(
        accounts::sign_in(db, "SARA@example.com", "correct horse battery")
            .await
            .unwrap()
            .id,
        sara.id
    );
    assert_eq!(
        refused(accounts::sign_in(db, "sara@example.com", "wrong").await),
        AccountRefusal::WrongCredentials
    );
    assert_eq!(
        refused(accounts::sign_in(db, "nobody@example.com", "whatever").await),
        AccountRefusal::WrongCredentials
    );

    // Password reset by an emailed code that expires.
    accounts::request_password_reset(db, NOW, "sara@example.com")
        .await
        .unwrap();
    accounts::request_password_reset(db, NOW, "nobody@example.com")
        .await
        .unwrap();
    let reset = emailed_code(db, "password_reset").await;
    assert_eq!(
        refused(accounts::reset_password(db, NOW + 3600, &reset, "a brand new password").await),
        AccountRefusal::BadCode,
        "expired after 30 minutes"
    );
    accounts::request_password_reset(db, NOW, "sara@example.com")
        .await
        .unwrap();
    let reset = emailed_code(db, "password_reset").await;
    accounts::reset_password(db, NOW + 60, &reset, "a brand new password")
        .await
        .unwrap();
    accounts::sign_in(db, "sara@example.com", "a brand new password")
        .await
        .unwrap();

    // Sara had talked to the bot before: that Telegram-only record folds into her account.
    let profile = TelegramProfile {
        id: TelegramId::new(5150),
        first_name: "Sara".into(),
        username: Some("sara".into()),
        language_code: Some("fa".into()),
    };
    customers::upsert_from_telegram(db, &profile).await.unwrap();
    let link = accounts::start_link(db, NOW, &sara.id).await.unwrap();
    let linked = accounts::complete_link(db, NOW + 30, &link, &profile)
        .await
        .unwrap();
    assert_eq!(linked.id, sara.id);
    assert_eq!(linked.telegram_id, Some(TelegramId::new(5150)));
    let found = customers::find_by_telegram_id(db, TelegramId::new(5150))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, sara.id, "one customer, reachable both ways");
    assert_eq!(
        refused(accounts::complete_link(db, NOW + 40, &link, &profile).await),
        AccountRefusal::BadCode
    );
    t.cleanup().await.unwrap();
}

shared::on_both_engines!(a_customer_signs_up_by_email_and_links_telegram);
