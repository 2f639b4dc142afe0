//! Paying through the tenant's gateways (`crate::payments`): topping up the wallet, paying a
//! plan directly, card-to-card receipts and their review by the shop's admins, coming back
//! from Zarinpal, and Telegram Stars. Money always lands in the wallet first; an order it was
//! for is then paid from there and delivered at once.

use shared::i18n::Locale;
use shared::money::Money;
use shared::payment::stars;
use shared::payment::Method;
use teloxide::types::{Message, PreCheckoutQuery};

use super::actions::{Action, Page};
use super::conversation::{self, Waiting};
use super::pay_screens::{self, Priced};
use super::screen::Screen;
use super::shop_screens;
use crate::fulfil::Progress;
use crate::handler::{Pressed, TenantBot, Who};
use crate::payments::{self, Approval, Checkout, Gateways, Outcome, Purpose};
use crate::payments::{Receipt, Rejection};
use crate::refusal::Refusal;
use crate::{orders, plans, Error, Result};

/// The smallest and largest top-up a person may type.
const MIN_TOP_UP: i64 = 1_000;
const MAX_TOP_UP: i64 = 1_000_000_000;

impl TenantBot {
    /// The gateways as the tenant set them up now.
    pub(crate) async fn gateways(&self) -> Result<Gateways> {
        crate::payments::load_gateways(
            &self.inner.db,
            &self.inner.keyring,
            &self.inner.gateway_urls,
        )
        .await
    }

    /// Each method on offer with what `toman` costs in it.
    pub(crate) fn priced(gateways: &Gateways, toman: Money) -> Vec<Priced> {
        gateways
            .methods()
            .into_iter()
            .filter_map(|m| gateways.price(m, toman).map(|price| (m, price)))
            .collect()
    }

    pub(crate) async fn pay_page(&self, who: &Who, page: &Page) -> Result<Option<Screen>> {
        let t = &self.inner.texts;
        Ok(Some(match page {
            Page::TopUp => pay_screens::top_up(t, who.locale),
            Page::TopUpMethods(toman) => {
                let amount = Money::toman(*toman);
                let offered = Self::priced(&self.gateways().await?, amount);
                pay_screens::top_up_methods(t, who.locale, amount, &offered)
            }
            _ => return Ok(None),
        }))
    }

    pub(crate) async fn on_pay_action(
        &self,
        pressed: &Pressed<'_>,
        who: &Who,
        action: Action,
    ) -> Result<()> {
        let db = &self.inner.db;
        let now = self.now();
        match action {
            Action::TopUpWith(toman, method) => {
                let purpose = Purpose::TopUp(Money::toman(toman));
                self.start_payment(pressed, who, &purpose, method).await
            }
            Action::PayPlanWith(plan_id, method) => {
                let plan = match plans::get(db, &plan_id).await? {
                    Some(plan) if !plan.hidden => plan,
                    _ => return Err(Refusal::PlanNotOnSale.into()),
                };
                self.need_panel_for(&plan).await?;
                let order = orders::create_new(db, who.id, &plan, now).await?;
                let purpose = Purpose::Order(order.id.clone());
                let started = self.start_payment(pressed, who, &purpose, method).await;
                if started.is_err() {
                    // Not offered to the buyer: nothing waits for this order.
                    orders::cancel(db, who.id, &order.id, now).await?;
                }
                started
            }
            Action::CustomTopUp => {
                conversation::set(db, who.id, &Waiting::TopUpAmount, now).await?;
                let screen = Screen::text(self.inner.texts.text(who.locale, "pay.ask_amount", &[]))
                    .with_row(vec![shop_screens::button(
                        &self.inner.texts,
                        who.locale,
                        "button_back",
                        Page::TopUp,
                    )]);
                self.show_on(pressed.query, &screen).await
            }
            Action::CheckPayment(payment_id) => {
                let screen = self.check_payment(who, &payment_id).await?;
                self.show_on(pressed.query, &screen).await
            }
            Action::Approve(payment_id) => {
                let t = &self.inner.texts;
                let key = match payments::approve(db, &payment_id, who.id, now).await? {
                    Approval::Approved(confirmed) => {
                        if let Some(order_id) = confirmed.order_to_fulfil() {
                            self.fulfil_now(order_id).await;
                        }
                        self.wake_notices();
                        "pay.approved"
                    }
                    Approval::AlreadyApproved => "pay.already_decided",
                };
                self.answer(pressed, Some(t.text(who.locale, key, &[])))
                    .await;
                self.send(who.chat, &Screen::text(t.text(who.locale, key, &[])))
                    .await
            }
            Action::Reject(payment_id) => {
                if !crate::admins::is_admin(db, who.id).await? {
                    return Err(payments::PaymentRefusal::NotAnAdmin.into());
                }
                let waiting = Waiting::RejectReason { payment_id };
                conversation::set(db, who.id, &waiting, now).await?;
                let t = &self.inner.texts;
                self.send(
                    who.chat,
                    &Screen::text(t.text(who.locale, "pay.ask_reason", &[])),
                )
                .await
            }
            other => {
                tracing::warn!(?other, "an action reached the wrong handler");
                Ok(())
            }
        }
    }

    async fn need_panel_for(&self, plan: &plans::Plan) -> Result<()> {
        let want = crate::panels::placement::Want {
            panel_id: plan.panel_id.clone(),
            location: plan.location.clone(),
        };
        let candidates = crate::panels::placement::candidates(&self.inner.db).await?;
        if crate::panels::placement::choose(&candidates, &want).is_none() {
            return Err(Refusal::NoPanelAvailable.into());
        }
        Ok(())
    }

    async fn start_payment(
        &self,
        pressed: &Pressed<'_>,
        who: &Who,
        purpose: &Purpose,
        method: Method,
    ) -> Result<()> {
        let gateways = self.gateways().await?;
        let now = self.now();
        let checkout = payments::start(&self.inner.db, &gateways, who.id, purpose, method, now)
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "a payment could not be started"))?;
        let t = &self.inner.texts;
        let screen = match &checkout {
            Checkout::Card {
                payment_id,
                card,
                amount,
            } => {
                let waiting = Waiting::Receipt {
                    payment_id: payment_id.clone(),
                };
                conversation::set(&self.inner.db, who.id, &waiting, now).await?;
                pay_screens::card(
                    t,
                    who.locale,
                    *amount,
                    card.number.digits(),
                    &card.owner,
                    &card.bank,
                )
            }
            Checkout::Redirect {
                payment_id,
                method,
                url,
                amount,
                ..
            } => pay_screens::redirect(t, who.locale, *method, url, *amount, payment_id),
            Checkout::Stars { credit, .. } => {
                let title = t.text(who.locale, "pay.stars_title", &[]);
                let description = t.text(
                    who.locale,
                    "pay.stars_description",
                    &[("amount", shared::i18n::Arg::Money(*credit))],
                );
                if let Some(invoice) = checkout.stars_invoice(&title, &description) {
                    invoice?.send(&self.inner.bot, who.chat).await?;
                }
                Screen::text(t.text(who.locale, "pay.stars_sent", &[]))
            }
        };
        self.show_on(pressed.query, &screen).await
    }

    /// Asks the gateway about a payment (the "I've paid" button, the return from Zarinpal).
    async fn check_payment(&self, who: &Who, payment_id: &str) -> Result<Screen> {
        let db = &self.inner.db;
        let mine = payments::get(db, payment_id)
            .await?
            .is_some_and(|p| p.telegram_id == who.id);
        if !mine {
            return Err(payments::PaymentRefusal::NoSuchPayment.into());
        }
        let gateways = self.gateways().await?;
        let outcome = payments::check(db, &gateways, payment_id, self.now()).await?;
        Ok(self.settled(who.locale, &outcome, payment_id).await)
    }

    /// What a payment came to; an order it paid is delivered now.
    async fn settled(&self, locale: Locale, outcome: &Outcome, payment_id: &str) -> Screen {
        let delivery = match outcome {
            Outcome::Credited(confirmed) => match confirmed.order_to_fulfil() {
                Some(order_id) => Some(self.fulfil_now(order_id).await),
                None => None,
            },
            _ => None,
        };
        self.wake_notices();
        pay_screens::outcome(&self.inner.texts, locale, outcome, payment_id, delivery)
    }

    /// Takes a just-paid order as far as it goes; returns the text key of where it stands.
    pub(crate) async fn fulfil_now(&self, order_id: &str) -> &'static str {
        let progress = self.inner.fulfilment.advance(order_id).await;
        self.wake_notices();
        match progress {
            Ok(Progress::Delivered { .. }) => "pay.order_delivered",
            Ok(Progress::Refunded { .. }) => "refunded_inline",
            Ok(Progress::WillRetry { .. }) | Ok(Progress::Idle) => "in_progress",
            Err(e) => {
                tracing::error!(order = order_id, error = %e, "could not work on a paid order now");
                "in_progress"
            }
        }
    }

    /// `/start pay_<id>`: back from a payment page.
    pub(crate) async fn on_return(&self, who: &Who, payment_id: &str) -> Result<Screen> {
        match self.check_payment(who, payment_id).await {
            Err(Error::Refused(refusal)) => Ok(shop_screens::refusal(
                &self.inner.texts,
                who.locale,
                &refusal,
            )),
            other => other,
        }
    }

    /// A message that answers something the bot waits for, or a Stars payment; `true` when
    /// it was one of those and has been answered.
    pub(crate) async fn on_payment_message(&self, who: &Who, message: &Message) -> Result<bool> {
        let db = &self.inner.db;
        let t = &self.inner.texts;
        let now = self.now();
        if let Some(paid) = message.successful_payment() {
            let outcome = payments::stars_paid(db, paid, now).await?;
            let payment_id = paid.invoice_payload.clone();
            let screen = self.settled(who.locale, &outcome, &payment_id).await;
            self.send(who.chat, &screen).await?;
            return Ok(true);
        }
        let Some(waiting) = conversation::get(db, who.id).await? else {
            return Ok(false);
        };
        let screen = match (waiting, message.photo(), message.text()) {
            (Waiting::Receipt { payment_id }, Some(sizes), _) => {
                let Some(largest) = sizes.last() else {
                    return Ok(false);
                };
                let file_id = largest.file.id.to_string();
                let key =
                    match payments::submit_receipt(db, who.id, &payment_id, &file_id, now).await {
                        Ok(Receipt::Sent) | Ok(Receipt::AlreadyInReview) => "pay.receipt_sent",
                        Err(Error::Refused(refusal)) => {
                            conversation::clear(db, who.id).await?;
                            let screen = shop_screens::refusal(t, who.locale, &refusal);
                            self.send(who.chat, &screen).await?;
                            return Ok(true);
                        }
                        Err(e) => return Err(e),
                    };
                conversation::clear(db, who.id).await?;
                self.wake_notices();
                shop_screens::notice(t, who.locale, key)
            }
            (Waiting::Receipt { .. }, None, _) => {
                shop_screens::notice(t, who.locale, "pay.receipt_needs_photo")
            }
            (Waiting::TopUpAmount, _, Some(text)) => {
                match Money::parse(text, crate::wallet::CURRENCY) {
                    Ok(amount) if (MIN_TOP_UP..=MAX_TOP_UP).contains(&amount.minor()) => {
                        conversation::clear(db, who.id).await?;
                        let offered = Self::priced(&self.gateways().await?, amount);
                        pay_screens::top_up_methods(t, who.locale, amount, &offered)
                    }
                    _ => shop_screens::refusal(
                        t,
                        who.locale,
                        &Refusal::Payment(payments::PaymentRefusal::BadAmount),
                    ),
                }
            }
            (Waiting::RejectReason { payment_id }, _, Some(reason)) => {
                conversation::clear(db, who.id).await?;
                let key = match payments::reject(db, &payment_id, who.id, reason, now).await {
                    Ok(Rejection::Rejected) => "pay.rejected_done",
                    Ok(Rejection::AlreadyRejected) => "pay.already_decided",
                    Err(Error::Refused(refusal)) => {
                        let screen = shop_screens::refusal(t, who.locale, &refusal);
                        self.send(who.chat, &screen).await?;
                        return Ok(true);
                    }
                    Err(e) => return Err(e),
                };
                self.wake_notices();
                shop_screens::notice(t, who.locale, key)
            }
            _ => return Ok(false),
        };
        self.send(who.chat, &screen).await?;
        Ok(true)
    }

    /// Telegram asks whether a Stars invoice may be paid; answered at once.
    pub(crate) async fn on_pre_checkout(&self, query: PreCheckoutQuery) -> Result<()> {
        let check = payments::pre_checkout(&self.inner.db, &query).await?;
        let locale = super::users::locale_of(&self.inner.db, query.from.id.0 as i64)
            .await
            .unwrap_or_default();
        stars::answer_pre_checkout(&self.inner.bot, &query, &check, locale).await?;
        Ok(())
    }
}
