//! Turns Telegram updates into calls on the core and sends what the core renders. The flows
//! live beside it: `shop` (buying and paying), `onboard` (setting up a bought bot) and `staff`
//! (the staff group's decisions).

use std::sync::Arc;

use shared::clock::Clock;
use shared::db::Db;
use shared::i18n::{Catalog, Locale};
use shared::panel::NetworkPolicy;
use shared::secret::Keyring;
use shared::telegram::command::command_name;
use shared::telegram::polling::UpdateHandler;
use shared::telegram::send::{answer_callback, edit_screen, ignore_unreachable_user, send_screen};
use shared::telegram::TelegramId;
use teloxide::types::{CallbackQuery, ChatId, Message, MessageId, Update, UpdateKind, User};
use teloxide::Bot;

use super::actions::{Action, Page};
use super::conversation::{self, Waiting};
use super::screens::{self, Screen};
use crate::billing::{packages, subscriptions};
use crate::checkout::Gateways;
use crate::customers::{self, Customer, TelegramProfile};
use crate::tenants::checks::Checks;
use crate::{Error, Result};

/// Longest text we treat as a normal message; longer ones get a polite note.
const LONG_TEXT_CHARS: usize = 1000;

/// What the bot needs besides Telegram and the database.
pub struct Services {
    pub gateways: Arc<Gateways>,
    /// Encrypts tenants' tokens and panel passwords; onboarding needs it.
    pub keyring: Option<Keyring>,
    pub checks: Arc<dyn Checks>,
    pub policy: NetworkPolicy,
    pub staff_chat: Option<i64>,
    pub clock: Arc<dyn Clock>,
    /// The tenant-bot image version new instances get; `None` = no provisioner here.
    pub image_version: Option<String>,
    /// Where tenant bots run, for restarts the customer asks for.
    pub runtime: Option<Arc<dyn provisioner::runtime::Runtime>>,
}

/// Everything the master bot needs to answer an update. Cheap to clone.
#[derive(Clone)]
pub struct MasterBot {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) bot: Bot,
    pub(super) db: Db,
    pub(super) texts: Catalog,
    pub(super) default_locale: Locale,
    pub(super) services: Services,
}

impl MasterBot {
    pub fn new(
        bot: Bot,
        db: Db,
        texts: Catalog,
        default_locale: Locale,
        services: Services,
    ) -> MasterBot {
        MasterBot {
            inner: Arc::new(Inner {
                bot,
                db,
                texts,
                default_locale,
                services,
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

    pub(super) fn now(&self) -> i64 {
        self.inner.services.clock.now()
    }

    /// Handles one update. Errors are for the caller to log.
    pub async fn handle(&self, update: Update) -> Result<()> {
        // Who to tell when something fails on our side: a person in a private chat.
        let private_user = update
            .chat()
            .filter(|c| c.is_private())
            .map(|c| c.id)
            .zip(update.from().map(|u| u.language_code.clone()));
        let result = match update.kind {
            UpdateKind::Message(message) => self.on_message(message).await,
            UpdateKind::CallbackQuery(query) => self.on_callback(query).await,
            UpdateKind::PreCheckoutQuery(query) => self.on_pre_checkout(query).await,
            // Edited messages, channel posts and the rest need no answer.
            _ => Ok(()),
        };
        if let (Err(_), Some((chat, language))) = (&result, private_user) {
            // The details go to the log; the person hears to try again, in their language.
            let locale = language
                .as_deref()
                .and_then(|code| code.split(['-', '_']).next())
                .and_then(Locale::from_code)
                .unwrap_or(self.inner.default_locale);
            let notice = screens::notice(&self.inner.texts, locale, "error_try_again");
            if let Err(e) = self.send(chat, &notice).await {
                tracing::debug!(error = %e, "could not tell the user about a failure");
            }
        }
        result
    }

    pub(super) async fn remember(&self, user: &User) -> Result<Customer> {
        let profile = TelegramProfile {
            id: TelegramId::new(user.id.0 as i64),
            first_name: user.first_name.clone(),
            username: user.username.clone(),
            language_code: user.language_code.clone(),
        };
        customers::upsert_from_telegram(&self.inner.db, &profile).await
    }

    async fn on_message(&self, message: Message) -> Result<()> {
        let Some(user) = message.from.as_ref() else {
            return Ok(());
        };
        if Some(message.chat.id.0) == self.inner.services.staff_chat {
            return self.on_staff_message(&message, user).await;
        }
        // The master bot talks to customers one to one.
        if !message.chat.is_private() {
            return Ok(());
        }
        let customer = self.remember(user).await?;
        let locale = customer.locale(self.inner.default_locale);
        let chat = message.chat.id;
        let t = &self.inner.texts;

        if let Some(payment) = message.successful_payment() {
            return self.on_stars_paid(&customer, locale, chat, payment).await;
        }
        if let Some(text) = message.text() {
            if text.starts_with('/') {
                let screen = match command_name(text).unwrap_or_default() {
                    "start" => {
                        conversation::clear(&self.inner.db, user.id.0 as i64).await?;
                        self.home(locale, &customer).await?
                    }
                    "mybots" | "bots" => self.my_bots(locale, &customer).await?,
                    "cancel" => {
                        conversation::clear(&self.inner.db, user.id.0 as i64).await?;
                        self.home(locale, &customer).await?
                    }
                    "link" => self.link_account(user, locale, text).await?,
                    "language" | "lang" => screens::choose_language(t, locale),
                    "help" => screens::notice(t, locale, "help"),
                    "support" => {
                        conversation::set(
                            &self.inner.db,
                            user.id.0 as i64,
                            &Waiting::SupportMessage,
                            self.now(),
                        )
                        .await?;
                        screens::notice(t, locale, "support_ask")
                    }
                    _ => screens::notice(t, locale, "unknown_command"),
                };
                return self.send(chat, &screen).await;
            }
        }

        let waiting = conversation::get(&self.inner.db, user.id.0 as i64).await?;
        if let Some(photo) = message.photo().and_then(|sizes| sizes.last()) {
            if let Some(Waiting::Receipt { payment_id }) = &waiting {
                let file_id = photo.file.id.to_string();
                return self
                    .on_receipt(&customer, locale, chat, payment_id, &file_id)
                    .await;
            }
        }
        if let Some(text) = message.text() {
            match waiting {
                Some(Waiting::CouponCode { package, months }) => {
                    return self
                        .on_coupon_code(&customer, locale, chat, &package, months, text)
                        .await;
                }
                Some(Waiting::SupportMessage) => {
                    conversation::clear(&self.inner.db, user.id.0 as i64).await?;
                    crate::support::open(
                        &self.inner.db,
                        self.now(),
                        &customer.id,
                        &customer.first_name,
                        user.id.0 as i64,
                        text,
                    )
                    .await?;
                    return self
                        .send(chat, &screens::notice(t, locale, "support_sent"))
                        .await;
                }
                Some(Waiting::Receipt { .. }) => {
                    return self
                        .send(chat, &screens::notice(t, locale, "receipt_needs_photo"))
                        .await;
                }
                _ => {}
            }
            if self
                .onboarding_answer(&customer, locale, &message, text)
                .await?
            {
                return Ok(());
            }
        }

        let screen = match message.text() {
            Some(text) if text.chars().count() > LONG_TEXT_CHARS => {
                screens::notice(t, locale, "text_too_long")
            }
            Some(_) => screens::notice(t, locale, "use_buttons"),
            None => screens::notice(t, locale, "unsupported_message"),
        };
        self.send(chat, &screen).await
    }

    async fn on_callback(&self, query: CallbackQuery) -> Result<()> {
        let t = &self.inner.texts;
        let action = query.data.as_deref().and_then(Action::decode);
        let in_staff_chat = query
            .message
            .as_ref()
            .is_some_and(|m| Some(m.chat().id.0) == self.inner.services.staff_chat);
        match action {
            Some(Action::StaffApprove(id)) if in_staff_chat => {
                return self.on_staff_approve(&query, &id).await
            }
            Some(Action::StaffReject(id)) if in_staff_chat => {
                return self.on_staff_reject(&query, &id).await
            }
            Some(Action::StaffAnswer(id)) if in_staff_chat => {
                return self.on_staff_answer(&query, &id).await
            }
            _ => {}
        }
        let customer = self.remember(&query.from).await?;
        let locale = customer.locale(self.inner.default_locale);
        let Some(action) = action else {
            self.answer(&query, Some(t.text(locale, "button_expired", &[])))
                .await;
            return Ok(());
        };
        let (locale, page, note) = match action {
            Action::Show(page) => (locale, page, None),
            Action::SetLocale(locale, page) => {
                customers::set_locale(
                    &self.inner.db,
                    TelegramId::new(query.from.id.0 as i64),
                    locale,
                )
                .await?;
                (locale, page, Some(t.text(locale, "language_set", &[])))
            }
            Action::Support => {
                self.answer(&query, None).await;
                conversation::set(
                    &self.inner.db,
                    query.from.id.0 as i64,
                    &Waiting::SupportMessage,
                    self.now(),
                )
                .await?;
                return self
                    .send(
                        ChatId(query.from.id.0 as i64),
                        &screens::notice(t, locale, "support_ask"),
                    )
                    .await;
            }
            Action::StaffApprove(_) | Action::StaffReject(_) | Action::StaffAnswer(_) => {
                self.answer(&query, Some(t.text(locale, "staff_only", &[])))
                    .await;
                return Ok(());
            }
            control @ (Action::PauseBot(_)
            | Action::ResumeBot(_)
            | Action::RestartBot(_)
            | Action::ChangeToken(_)
            | Action::AddPanel(_)) => {
                self.answer(&query, None).await;
                return self.bot_control(&query, &customer, locale, control).await;
            }
            other => {
                self.answer(&query, None).await;
                return self.on_shop_action(&query, &customer, locale, other).await;
            }
        };
        let (screen, note) = match self.page(locale, &customer, &page).await? {
            Some(screen) => (screen, note),
            None => (
                self.home(locale, &customer).await?,
                Some(t.text(locale, "package_gone", &[])),
            ),
        };
        self.answer(&query, note).await;
        self.show_on(&query, &screen).await
    }

    /// `/link CODE`: joins this Telegram user to the email account that made the code.
    async fn link_account(&self, user: &User, locale: Locale, text: &str) -> Result<Screen> {
        let t = &self.inner.texts;
        let code = text.split_whitespace().nth(1).unwrap_or_default();
        let profile = TelegramProfile {
            id: TelegramId::new(user.id.0 as i64),
            first_name: user.first_name.clone(),
            username: user.username.clone(),
            language_code: user.language_code.clone(),
        };
        let key = match crate::accounts::complete_link(&self.inner.db, self.now(), code, &profile)
            .await
        {
            Ok(_) => "link_done",
            Err(Error::Account(crate::accounts::AccountRefusal::TelegramHasOwnAccount)) => {
                "link_own_account"
            }
            Err(Error::Account(_)) => "link_bad_code",
            Err(e) => return Err(e),
        };
        Ok(screens::notice(t, locale, key))
    }

    /// Edits the message the button was on, or sends a new one when that cannot be done.
    pub(super) async fn show_on(&self, query: &CallbackQuery, screen: &Screen) -> Result<()> {
        match query.message.as_ref() {
            Some(message) => self.edit(message.chat().id, message.id(), screen).await,
            None => self.send(ChatId(query.from.id.0 as i64), screen).await,
        }
    }

    /// Renders a page; `None` when what it shows no longer exists.
    async fn page(
        &self,
        locale: Locale,
        customer: &Customer,
        page: &Page,
    ) -> Result<Option<Screen>> {
        let t = &self.inner.texts;
        let db = &self.inner.db;
        Ok(Some(match page {
            Page::Home => self.home(locale, customer).await?,
            Page::MyBots => self.my_bots(locale, customer).await?,
            Page::Package(code) => match packages::on_sale_by_code(db, code).await? {
                Some(p) => screens::package(t, locale, &p),
                None => return Ok(None),
            },
            Page::Periods(code) => match self.periods_new(locale, code).await? {
                Some(screen) => screen,
                None => return Ok(None),
            },
            Page::Methods(code, months) => {
                match self.methods_new(locale, customer, code, *months).await? {
                    Some(screen) => screen,
                    None => return Ok(None),
                }
            }
            Page::RenewPeriods(sub) => match self.periods_renew(locale, customer, sub).await? {
                Some(screen) => screen,
                None => return Ok(None),
            },
            Page::Invoices => self.invoices_page(locale, customer).await?,
            Page::Upgrade(sub) => match self.upgrade_choices(locale, customer, sub).await? {
                Some(screen) => screen,
                None => return Ok(None),
            },
            Page::UpgradeMethods(sub, code) => {
                match self.upgrade_methods(locale, customer, sub, code).await? {
                    Some(screen) => screen,
                    None => return Ok(None),
                }
            }
            Page::Bot(sub) => match self.bot_detail(locale, customer, sub).await? {
                Some(screen) => screen,
                None => return Ok(None),
            },
            Page::RenewMethods(sub, months) => {
                match self.methods_renew(locale, customer, sub, *months).await? {
                    Some(screen) => screen,
                    None => return Ok(None),
                }
            }
        }))
    }

    pub(super) async fn home(&self, locale: Locale, customer: &Customer) -> Result<Screen> {
        let on_sale = packages::on_sale(&self.inner.db).await?;
        let has_bots = !subscriptions::for_customer(&self.inner.db, &customer.id)
            .await?
            .is_empty();
        Ok(screens::home(
            &self.inner.texts,
            locale,
            &customer.first_name,
            &on_sale,
            has_bots,
        ))
    }

    pub(super) async fn answer(&self, query: &CallbackQuery, text: Option<String>) {
        answer_callback(&self.inner.bot, query, text).await;
    }

    pub(super) async fn send(&self, chat: ChatId, screen: &Screen) -> Result<()> {
        send_screen(&self.inner.bot, chat, screen)
            .await
            .or_else(ignore_unreachable_user)
    }

    pub(super) async fn edit(
        &self,
        chat: ChatId,
        message: MessageId,
        screen: &Screen,
    ) -> Result<()> {
        edit_screen(&self.inner.bot, chat, message, screen)
            .await
            .or_else(ignore_unreachable_user)
    }

    /// Shows a billing refusal to the customer, or passes any other error on.
    pub(super) async fn refused_or(
        &self,
        chat: ChatId,
        locale: Locale,
        error: Error,
    ) -> Result<()> {
        match error {
            Error::Refused(refusal) => {
                self.send(chat, &screens::refusal(&self.inner.texts, locale, &refusal))
                    .await
            }
            other => Err(other),
        }
    }
}

impl UpdateHandler for MasterBot {
    type Error = crate::Error;

    async fn handle(&self, update: Update) -> Result<()> {
        MasterBot::handle(self, update).await
    }
}
