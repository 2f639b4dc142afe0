//! Answers end users: turns Telegram updates into calls on the shop's core and sends what the
//! screens render. The flows live in `crate::bot` beside it: `shop` (buying, the trial),
//! `services_ui` (what people bought), `sender` (notices), `join` (the mandatory channel),
//! `setup` (the payment setup, for admins).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use shared::clock::{Clock, DAY};
use shared::db::Db;
use shared::i18n::{Catalog, Locale};
use shared::secret::Keyring;
use shared::telegram::command::command_name;
use shared::telegram::polling::{with_rate_limit_retry, UpdateHandler};
use shared::telegram::send::{answer_callback, edit_screen, ignore_unreachable_user, send_screen};
use teloxide::payloads::SendPhotoSetters;
use teloxide::requests::Requester;
use teloxide::types::{
    CallbackQuery, ChatId, InputFile, Message, MessageId, ParseMode, Update, UpdateKind, User,
};
use teloxide::{Bot, RequestError};
use tokio::sync::Notify;

use crate::bot::actions::{Action, Page};
use crate::bot::join::{self, Gate};
use crate::bot::screen::{keyboard, Image, Photo, Screen};
use crate::bot::shop_screens;
use crate::bot::users::{self, Admission, EndUser, Payload, Profile};
use crate::fulfil::Fulfilment;
use crate::notices::{self, Notice};
use crate::payments::GatewayUrls;
use crate::settings::{self, Channel, Limits};
use crate::{admins, Result};

/// Longest text we treat as a normal message; longer ones get a polite note.
const LONG_TEXT_CHARS: usize = 1000;

/// What the bot is built from.
pub struct Parts {
    pub telegram: Bot,
    pub db: Db,
    pub texts: Catalog,
    /// The bot's display name as the tenant set it in @BotFather.
    pub bot_name: String,
    pub fulfilment: Fulfilment,
    pub clock: Arc<dyn Clock>,
    /// The bot's data key: opens the payment gateways' secrets.
    pub keyring: Keyring,
    pub gateway_urls: GatewayUrls,
}

/// Everything the tenant bot needs to answer an update. Cheap to clone.
#[derive(Clone)]
pub struct TenantBot {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) bot: Bot,
    pub(crate) db: Db,
    pub(crate) texts: Catalog,
    pub(crate) bot_name: String,
    pub(crate) fulfilment: Fulfilment,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) keyring: Keyring,
    pub(crate) gateway_urls: GatewayUrls,
    /// Wakes the notice sender: something was stored that someone should hear at once.
    pub(crate) notices_due: Arc<Notify>,
    updates_handled: AtomicU64,
}

/// The person an update is from, as the bot knows them.
#[derive(Debug, Clone)]
pub(crate) struct Who {
    pub(crate) id: i64,
    pub(crate) chat: ChatId,
    pub(crate) locale: Locale,
    pub(crate) user: EndUser,
    /// One of the shop's admins when this update came in (actions check again).
    pub(crate) is_admin: bool,
}

/// A pressed button, answered exactly once (Telegram allows one answer per press).
pub(crate) struct Pressed<'a> {
    pub(crate) query: &'a CallbackQuery,
    answered: AtomicBool,
}

impl TenantBot {
    pub fn new(parts: Parts) -> TenantBot {
        TenantBot {
            inner: Arc::new(Inner {
                bot: parts.telegram,
                db: parts.db,
                texts: parts.texts,
                bot_name: parts.bot_name,
                fulfilment: parts.fulfilment,
                clock: parts.clock,
                keyring: parts.keyring,
                gateway_urls: parts.gateway_urls,
                notices_due: Arc::new(Notify::new()),
                updates_handled: AtomicU64::new(0),
            }),
        }
    }

    pub fn telegram(&self) -> &Bot {
        &self.inner.bot
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn texts(&self) -> &Catalog {
        &self.inner.texts
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    /// End users in this bot's database, for the master; `None` when it cannot be read now.
    pub async fn end_users(&self) -> Option<i64> {
        users::count(&self.inner.db).await.ok()
    }

    pub fn updates_handled(&self) -> u64 {
        self.inner.updates_handled.load(Ordering::Relaxed)
    }

    /// Tells the notice sender to look for due notices now rather than at its next tick.
    pub fn wake_notices(&self) {
        self.inner.notices_due.notify_one();
    }

    /// What wakes the notice sender, for other parts that store notices (the timers).
    pub fn notices_ready(&self) -> Arc<Notify> {
        self.inner.notices_due.clone()
    }

    /// Handles one update. Errors are for the caller to log; the person is told to try again.
    pub async fn handle(&self, update: Update) -> Result<()> {
        let private_user = update
            .chat()
            .filter(|c| c.is_private())
            .map(|c| c.id)
            .zip(update.from().map(|u| u.id.0 as i64));
        let result = match update.kind {
            UpdateKind::Message(message) => self.on_message(message).await,
            UpdateKind::CallbackQuery(query) => self.on_callback(query).await,
            UpdateKind::PreCheckoutQuery(query) => self.on_pre_checkout(query).await,
            _ => Ok(()),
        };
        self.inner.updates_handled.fetch_add(1, Ordering::Relaxed);
        if let (Err(e), Some((chat, user))) = (&result, private_user) {
            // The details go to the log; the person hears to try again, in their language.
            tracing::error!(error = %e, "an update failed");
            let locale = users::locale_of(&self.inner.db, user)
                .await
                .unwrap_or_default();
            let screen = shop_screens::notice(&self.inner.texts, locale, "error_try_again");
            if let Err(e) = self.send(chat, &screen).await {
                tracing::debug!(error = %e, "could not tell the user about a failure");
            }
        }
        result
    }

    /// Remembers the person; `None` when the package has no room for a new one (they and the
    /// admins have been told).
    async fn admit(&self, from: &User, payload: Option<&Payload>) -> Result<Option<Who>> {
        let db = &self.inner.db;
        let id = from.id.0 as i64;
        let limits: Limits = settings::get(db).await?;
        let is_admin = admins::is_admin(db, id).await?;
        let profile = Profile {
            telegram_id: id,
            first_name: from.first_name.clone(),
            username: from.username.clone(),
            language_code: from.language_code.clone(),
        };
        let now = self.now();
        let user = match users::admit(db, &profile, payload, limits.max_end_users, is_admin, now)
            .await?
        {
            Admission::Known(user) | Admission::New(user) => user,
            Admission::Refused => {
                let limit = limits.max_end_users.unwrap_or_default();
                let key = format!("end-user-limit:{}", now.div_euclid(DAY));
                notices::to_admins(db, &Notice::EndUserLimitReached { limit }, &key, now).await?;
                self.wake_notices();
                let locale = Locale::from_telegram(from.language_code.as_deref());
                let screen = Screen::text(self.inner.texts.text(locale, "not_taking_users", &[]));
                self.send(ChatId(id), &screen).await?;
                return Ok(None);
            }
        };
        Ok(Some(Who {
            id,
            chat: ChatId(id),
            locale: user.locale(),
            user,
            is_admin,
        }))
    }

    /// The mandatory channel: `Gate::Open` for admins and members.
    async fn gate(&self, who: &Who, fresh: bool) -> Result<Gate> {
        let channel: Channel = settings::get(&self.inner.db).await?;
        if channel.chat.is_none() || admins::is_admin(&self.inner.db, who.id).await? {
            return Ok(Gate::Open);
        }
        join::check(
            &self.inner.bot,
            &self.inner.db,
            &channel,
            &who.user,
            fresh,
            self.now(),
        )
        .await
    }

    async fn on_message(&self, message: Message) -> Result<()> {
        if !message.chat.is_private() {
            return Ok(());
        }
        let Some(from) = message.from.as_ref() else {
            return Ok(());
        };
        let text = message.text().unwrap_or_default();
        let command = command_name(text);
        let payload = match command {
            Some("start") => text
                .split_once(char::is_whitespace)
                .and_then(|(_, p)| Payload::parse(p)),
            _ => None,
        };
        let Some(who) = self.admit(from, payload.as_ref()).await? else {
            return Ok(());
        };
        let t = &self.inner.texts;
        // Money Telegram has taken is recorded whatever else holds the person back.
        if message.successful_payment().is_some() {
            self.on_payment_message(&who, &message).await?;
            return Ok(());
        }
        if let Gate::MustJoin { url } = self.gate(&who, false).await? {
            return self
                .send(who.chat, &shop_screens::join(t, who.locale, url.as_deref()))
                .await;
        }
        if command.is_none() && self.on_setup_message(&who, &message).await? {
            return Ok(());
        }
        if command.is_none() && self.on_payment_message(&who, &message).await? {
            return Ok(());
        }
        let screen = match command {
            Some("start") if matches!(payload, Some(Payload::Payment(_))) => {
                crate::bot::conversation::clear(&self.inner.db, who.id).await?;
                match &payload {
                    Some(Payload::Payment(id)) => self.on_return(&who, id).await?,
                    _ => self.home(&who).await?,
                }
            }
            Some("start") | Some("menu") | Some("cancel") => {
                crate::bot::conversation::clear(&self.inner.db, who.id).await?;
                self.home(&who).await?
            }
            Some("language") | Some("lang") => shop_screens::language(t, who.locale),
            Some("services") => self.page(&who, &Page::Services).await?.unwrap_or_default(),
            Some("wallet") => self.page(&who, &Page::Wallet).await?.unwrap_or_default(),
            Some("buy") => self.page(&who, &Page::Plans).await?.unwrap_or_default(),
            Some("help") => shop_screens::notice(t, who.locale, "help"),
            Some("setup") => self.setup_command(&who).await?,
            Some(_) => shop_screens::notice(t, who.locale, "unknown_command"),
            None if text.chars().count() > LONG_TEXT_CHARS => {
                shop_screens::notice(t, who.locale, "text_too_long")
            }
            None if message.text().is_some() => shop_screens::notice(t, who.locale, "use_buttons"),
            None => shop_screens::notice(t, who.locale, "unsupported_message"),
        };
        self.send(who.chat, &screen).await
    }

    async fn on_callback(&self, query: CallbackQuery) -> Result<()> {
        let pressed = Pressed {
            query: &query,
            answered: AtomicBool::new(false),
        };
        let result = self.on_press(&pressed).await;
        // Every press is answered, so the button stops spinning whatever happened.
        self.answer(&pressed, None).await;
        result
    }

    async fn on_press(&self, pressed: &Pressed<'_>) -> Result<()> {
        let query = pressed.query;
        let t = &self.inner.texts;
        let action = query.data.as_deref().and_then(Action::decode);
        let Some(who) = self.admit(&query.from, None).await? else {
            return Ok(());
        };
        let Some(action) = action else {
            self.answer(pressed, Some(t.text(who.locale, "button_expired", &[])))
                .await;
            return Ok(());
        };
        let fresh = action == Action::CheckJoined;
        match self.gate(&who, fresh).await? {
            Gate::Open if fresh => {
                self.answer(pressed, Some(t.text(who.locale, "joined_thanks", &[])))
                    .await;
                let home = self.home(&who).await?;
                return self.show_on(query, &home).await;
            }
            Gate::Open => {}
            Gate::MustJoin { .. } if fresh => {
                self.answer(pressed, Some(t.text(who.locale, "join_still_not", &[])))
                    .await;
                return Ok(());
            }
            Gate::MustJoin { url } => {
                self.answer(pressed, None).await;
                let screen = shop_screens::join(t, who.locale, url.as_deref());
                return self.show_on(query, &screen).await;
            }
        }
        match action {
            Action::Show(page) => self.show_page(pressed, &who, &page, None).await,
            Action::SetLocale(locale, page) => {
                users::set_locale(&self.inner.db, who.id, locale, self.now()).await?;
                let who = Who { locale, ..who };
                let note = t.text(locale, "language_set", &[]);
                self.show_page(pressed, &who, &page, Some(note)).await
            }
            Action::CheckJoined => Ok(()),
            Action::Setup(setup) => self.on_setup_action(pressed, &who, setup).await,
            pay @ (Action::TopUpWith(..)
            | Action::CustomTopUp
            | Action::PayPlanWith(..)
            | Action::CheckPayment(_)
            | Action::Approve(_)
            | Action::Reject(_)) => match self.on_pay_action(pressed, &who, pay).await {
                Err(crate::Error::Refused(refusal)) => {
                    self.answer(pressed, None).await;
                    self.refused(pressed, &who, &refusal).await
                }
                other => other,
            },
            other => self.on_shop_action(pressed, &who, other).await,
        }
    }

    /// Shows `page` on the pressed message; when what it shows is gone, the home menu.
    async fn show_page(
        &self,
        pressed: &Pressed<'_>,
        who: &Who,
        page: &Page,
        note: Option<String>,
    ) -> Result<()> {
        let (screen, note) = match self.page(who, page).await? {
            Some(screen) => (screen, note),
            None => (
                self.home(who).await?,
                Some(self.inner.texts.text(who.locale, "item_gone", &[])),
            ),
        };
        self.answer(pressed, note).await;
        self.show_on(pressed.query, &screen).await
    }

    /// Renders a page; `None` when what it shows no longer exists (or is not theirs).
    pub(crate) async fn page(&self, who: &Who, page: &Page) -> Result<Option<Screen>> {
        let t = &self.inner.texts;
        Ok(Some(match page {
            Page::Home => self.home(who).await?,
            Page::Language => shop_screens::language(t, who.locale),
            Page::Plans => {
                let plans = crate::plans::on_sale(&self.inner.db).await?;
                let is_admin = plans.is_empty() && admins::is_admin(&self.inner.db, who.id).await?;
                shop_screens::plans(t, who.locale, &plans, is_admin)
            }
            Page::Plan(id) => match crate::plans::get(&self.inner.db, id).await? {
                Some(plan) if !plan.hidden => {
                    let balance = crate::wallet::balance(&self.inner.db, who.id).await?;
                    let offered = Self::priced(&self.gateways().await?, plan.price);
                    shop_screens::plan(t, who.locale, &plan, balance, &offered)
                }
                _ => return Ok(None),
            },
            Page::Wallet => {
                let balance = crate::wallet::balance(&self.inner.db, who.id).await?;
                let history = crate::wallet::history(&self.inner.db, who.id, 10).await?;
                let can_top_up = !self.gateways().await?.methods().is_empty();
                shop_screens::wallet(t, who.locale, balance, &history, can_top_up)
            }
            Page::TopUp | Page::TopUpMethods(_) => return self.pay_page(who, page).await,
            Page::Services
            | Page::Service(_)
            | Page::Renew(_)
            | Page::AddData(_)
            | Page::Revoke(_)
            | Page::Tips(_) => return self.service_page(who, page).await,
        }))
    }

    pub(crate) async fn home(&self, who: &Who) -> Result<Screen> {
        let trial: settings::Trial = settings::get(&self.inner.db).await?;
        let offer_trial =
            trial.enabled && !crate::orders::trial_used(&self.inner.db, who.id).await?;
        Ok(shop_screens::home(
            &self.inner.texts,
            who.locale,
            &who.user.first_name,
            &self.inner.bot_name,
            offer_trial,
            who.is_admin,
        ))
    }

    /// Answers a button press once; later calls do nothing.
    pub(crate) async fn answer(&self, pressed: &Pressed<'_>, text: Option<String>) {
        if pressed.answered.swap(true, Ordering::SeqCst) {
            return;
        }
        answer_callback(&self.inner.bot, pressed.query, text).await;
    }

    /// Edits the message the button was on, or sends a new one when that cannot be done
    /// (a photo has no text to edit).
    pub(crate) async fn show_on(&self, query: &CallbackQuery, screen: &Screen) -> Result<()> {
        match query.regular_message() {
            Some(message) if message.text().is_some() => {
                self.edit(message.chat.id, message.id, screen).await
            }
            _ => self.send(ChatId(query.from.id.0 as i64), screen).await,
        }
    }

    pub(crate) async fn send(&self, chat: ChatId, screen: &Screen) -> Result<()> {
        self.try_send(chat, screen)
            .await
            .or_else(ignore_unreachable_user)
    }

    /// Sends a screen and passes every Telegram error on (the notice sender needs to know).
    pub(crate) async fn try_send(&self, chat: ChatId, screen: &Screen) -> Result<(), RequestError> {
        send_screen(&self.inner.bot, chat, screen).await
    }

    pub(crate) async fn try_send_photo(
        &self,
        chat: ChatId,
        photo: &Photo,
    ) -> Result<(), RequestError> {
        with_rate_limit_retry(|| async {
            let file = match &photo.image {
                Image::Png(png) => InputFile::memory(png.clone()).file_name("qr.png"),
                Image::FileId(id) => InputFile::file_id(id.clone().into()),
            };
            let mut request = self
                .inner
                .bot
                .send_photo(chat, file)
                .caption(photo.caption.clone())
                .parse_mode(ParseMode::Html);
            if let Some(markup) = keyboard(&photo.keyboard) {
                request = request.reply_markup(markup);
            }
            request.await.map(|_| ())
        })
        .await
    }

    async fn edit(&self, chat: ChatId, message: MessageId, screen: &Screen) -> Result<()> {
        edit_screen(&self.inner.bot, chat, message, screen)
            .await
            .or_else(ignore_unreachable_user)
    }
}

impl UpdateHandler for TenantBot {
    type Error = crate::Error;

    async fn handle(&self, update: Update) -> Result<()> {
        TenantBot::handle(self, update).await
    }
}
