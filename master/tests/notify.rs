//! The outbox delivered: a reminder reaches the customer in Telegram and by email, in their
//! language, once; an undeliverable one is closed with its reason. On both engines.

use std::sync::Arc;
use std::time::Duration;

use master::customers::{self, TelegramProfile};
use master::mail::Mailer;
use master::notify::{Delivery, Notifier};
use master::outbox::{self, args, Channel, NewMessage};
use sandbox::client::ControlClient;
use sandbox::smtp::SmtpSink;
use sandbox::{Sandbox, SandboxOptions};
use serde_json::json;
use shared::config::SmtpConfig;
use shared::db::{Engine, Schema};
use shared::i18n::Locale;
use shared::secret::SecretString;
use shared::telegram::TelegramId;
use shared::testdb::TestDb;

const NOW: i64 = 1_795_257_600; // 2026-11-21 10:40 UTC

async fn reminders_reach_customers_by_telegram_and_email_once(engine: Engine) {
    let Some(t) = TestDb::fresh(engine, Schema::Master).await else {
        return;
    };
    let db = &t.db;
    let sandbox = Sandbox::start(
        "127.0.0.1:0".parse().unwrap(),
        SandboxOptions::fast_for_tests(),
    )
    .await
    .unwrap();
    let control = ControlClient::new(&sandbox.url());
    let bot = control
        .create_bot("madar_notify_bot", "Madar")
        .await
        .unwrap();
    let sink = SmtpSink::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();

    // Sara talks Persian and has written to the bot; Alex has only an email address.
    let sara_tg = control.create_user("Sara", None, Some("fa")).await.unwrap();
    control.send(&bot.token, sara_tg, "/start").await.unwrap();
    let sara = customers::upsert_from_telegram(
        db,
        &TelegramProfile {
            id: TelegramId::new(sara_tg),
            first_name: "Sara".into(),
            username: None,
            language_code: Some("fa".into()),
        },
    )
    .await
    .unwrap();
    sqlx::query("UPDATE customers SET email = 'sara@example.com' WHERE id = $1")
        .bind(&sara.id)
        .execute(db.pool())
        .await
        .unwrap();
    let alex = customers::upsert_from_telegram(
        db,
        &TelegramProfile {
            id: TelegramId::new(999_999),
            first_name: "Alex".into(),
            username: None,
            language_code: Some("en".into()),
        },
    )
    .await
    .unwrap();

    let reminder = |channel: Channel, who: &'static str, customer: String| (channel, who, customer);
    for (channel, who, customer) in [
        reminder(Channel::Telegram, "sara", sara.id.clone()),
        reminder(Channel::Email, "sara", sara.id.clone()),
        reminder(Channel::Email, "alex", alex.id.clone()),
    ] {
        let message = NewMessage {
            key: format!("{}:reminder:7:{who}", channel.as_str()),
            channel,
            recipient: &customer,
            template: "subscription_reminder",
            args: args([
                ("package_fa", json!("استارتر")),
                ("package_en", json!("Starter")),
                ("date", json!(NOW + 7 * 86_400)),
            ]),
        };
        assert!(outbox::enqueue(db.pool(), &message, NOW).await.unwrap());
        assert!(
            !outbox::enqueue(db.pool(), &message, NOW).await.unwrap(),
            "once per key"
        );
    }

    let notifier = Notifier {
        db: db.clone(),
        telegram: Some(
            shared::telegram::polling::bot(&bot.token, url::Url::parse(&sandbox.url()).unwrap())
                .unwrap(),
        ),
        texts: Arc::new(master::texts::catalog().unwrap()),
        mailer: Some(
            Mailer::new(&SmtpConfig {
                url: SecretString::new(sink.url()),
                from: "Madar <no-reply@madar.test>".into(),
            })
            .unwrap(),
        ),
        staff_chat: None,
        default_locale: Locale::Fa,
    };
    let delivery = notifier.deliver_due(NOW).await.unwrap();
    // Alex has no email address: his email is closed as undeliverable, not retried.
    assert_eq!(
        delivery,
        Delivery {
            sent: 2,
            skipped: 1,
            failed: 0
        }
    );
    assert_eq!(
        notifier.deliver_due(NOW + 600).await.unwrap(),
        Delivery::default()
    );

    let chat = control
        .wait_for_bot_message(&bot.token, sara_tg, 0, |_| true, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(chat.body().contains("استارتر"), "{}", chat.body());
    assert!(
        chat.body().contains("۷ آذر ۱۴۰۵"),
        "a Jalali date: {}",
        chat.body()
    );

    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec!["sara@example.com".to_string()]);
    let parsed = mailparse::parse_mail(mails[0].data.as_bytes()).unwrap();
    let subject = parsed
        .headers
        .iter()
        .find(|h| h.get_key().eq_ignore_ascii_case("subject"))
        .unwrap()
        .get_value();
    assert!(subject.contains("استارتر"), "{subject}");
    let body = parsed.get_body().unwrap();
    assert!(body.contains("سلام Sara"), "{body}");

    sandbox.shutdown().await;
    t.cleanup().await.unwrap();
}

shared::on_both_engines!(reminders_reach_customers_by_telegram_and_email_once);
