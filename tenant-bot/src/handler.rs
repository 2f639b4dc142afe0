//! Answers end users. At this stage: /start greets them with the tenant's bot name, in their
//! language, and remembers them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use shared::db::{now_unix, Db};
use shared::i18n::{escape_html, Arg, Catalog, Locale};
use shared::telegram::polling::{is_unreachable_user, with_rate_limit_retry, UpdateHandler};
use teloxide::payloads::SendMessageSetters;
use teloxide::requests::Requester;
use teloxide::types::{Message, ParseMode, Update, UpdateKind, User};
use teloxide::Bot;

use crate::Result;

#[derive(Clone)]
pub struct TenantBot {
    inner: Arc<Inner>,
}

struct Inner {
    bot: Bot,
    db: Db,
    texts: Catalog,
    /// The bot's display name as the tenant set it in @BotFather.
    bot_name: String,
    updates_handled: AtomicU64,
}

impl TenantBot {
    pub fn new(bot: Bot, db: Db, texts: Catalog, bot_name: String) -> TenantBot {
        TenantBot {
            inner: Arc::new(Inner {
                bot,
                db,
                texts,
                bot_name,
                updates_handled: AtomicU64::new(0),
            }),
        }
    }

    pub fn telegram(&self) -> &Bot {
        &self.inner.bot
    }

    /// End users in this bot's database, for the master; `None` when it cannot be read now.
    pub async fn end_users(&self) -> Option<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM end_users")
            .fetch_one(self.inner.db.pool())
            .await
            .ok()
    }

    pub fn updates_handled(&self) -> u64 {
        self.inner.updates_handled.load(Ordering::Relaxed)
    }

    pub async fn handle(&self, update: Update) -> Result<()> {
        let result = match update.kind {
            UpdateKind::Message(message) => self.on_message(message).await,
            _ => Ok(()),
        };
        self.inner.updates_handled.fetch_add(1, Ordering::Relaxed);
        result
    }

    async fn on_message(&self, message: Message) -> Result<()> {
        if !message.chat.is_private() {
            return Ok(());
        }
        let Some(user) = message.from.as_ref() else {
            return Ok(());
        };
        self.remember(user).await?;
        let locale = Locale::from_telegram(user.language_code.as_deref());
        let t = &self.inner.texts;
        let is_start = message
            .text()
            .and_then(|t| t.split_whitespace().next())
            .map(|command| command == "/start" || command.starts_with("/start@"))
            .unwrap_or(false);
        let text = if is_start {
            let name = escape_html(&user.first_name);
            let bot_name = escape_html(&self.inner.bot_name);
            format!(
                "{}\n{}",
                t.text(
                    locale,
                    "welcome",
                    &[
                        ("name", Arg::Text(&name)),
                        ("bot_name", Arg::Text(&bot_name))
                    ],
                ),
                t.text(locale, "welcome_soon", &[])
            )
        } else {
            t.text(locale, "use_start", &[])
        };
        let chat = message.chat.id;
        let sent = with_rate_limit_retry(|| async {
            self.inner
                .bot
                .send_message(chat, text.clone())
                .parse_mode(ParseMode::Html)
                .await
        })
        .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) if is_unreachable_user(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn remember(&self, user: &User) -> Result<()> {
        let now = now_unix();
        sqlx::query(
            "INSERT INTO end_users (telegram_id, first_name, username, telegram_locale, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (telegram_id) DO UPDATE SET
                 first_name = excluded.first_name,
                 username = excluded.username,
                 telegram_locale = excluded.telegram_locale,
                 updated_at = excluded.updated_at",
        )
        .bind(user.id.0 as i64)
        .bind(&user.first_name)
        .bind(&user.username)
        .bind(&user.language_code)
        .bind(now)
        .execute(self.inner.db.pool())
        .await?;
        Ok(())
    }
}

impl UpdateHandler for TenantBot {
    type Error = crate::Error;

    async fn handle(&self, update: Update) -> Result<()> {
        TenantBot::handle(self, update).await
    }
}
