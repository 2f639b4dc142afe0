//! The payment setup, from the bot: the shop's admins add and remove cards, set or clear the
//! Zarinpal and NowPayments keys, turn Telegram Stars on or off, and set the rates and the
//! receipts' auto-approval. Everything lands in the `PaymentSetup` setting, which the bot
//! reads again for every payment, so a change applies from the next one.
//!
//! Every press and every answer checks that the person is an admin now; to anyone else the
//! buttons are stale and `/setup` is an unknown command. Answers that are secrets are sealed
//! with the bot's data key before they are stored, their messages are deleted from the chat,
//! and they are never logged.

use shared::i18n::Arg;
use shared::secret::SecretString;
use teloxide::requests::Requester;
use teloxide::types::Message;

use super::conversation::{self, Waiting};
use super::screen::Screen;
use super::setup_actions::SetupAction;
use super::setup_input::{self as input, InputProblem, SetupStep};
use super::setup_screens::{self, MAX_CARDS};
use super::shop_screens;
use crate::handler::{Pressed, TenantBot, Who};
use crate::payments::setup::{Card, NowPaymentsSetup, ZarinpalSetup};
use crate::payments::PaymentSetup;
use crate::{admins, settings, Result};

/// Binds the API key held between the two NowPayments questions to the admin who gave it.
fn pending_key_context(telegram_id: i64) -> String {
    format!("tenant-setup:nowpayments-api-key-pending:{telegram_id}")
}

/// What an answer comes to: the setup again (with a note), or the next question.
enum Next {
    Saved { note: String },
    Ask(SetupStep),
    Retry(InputProblem, SetupStep),
}

impl TenantBot {
    /// A setup button. Non-admins hear that the button is stale, and nothing changes.
    pub(crate) async fn on_setup_action(
        &self,
        pressed: &Pressed<'_>,
        who: &Who,
        action: SetupAction,
    ) -> Result<()> {
        let t = &self.inner.texts;
        if !admins::is_admin(&self.inner.db, who.id).await? {
            let stale = t.text(who.locale, "button_expired", &[]);
            self.answer(pressed, Some(stale)).await;
            return Ok(());
        }
        self.answer(pressed, None).await;
        let screen = self.setup_press(who, action).await?;
        self.show_on(pressed.query, &screen).await
    }

    /// `/setup`: the setup for admins; to anyone else, a command the bot does not know.
    pub(crate) async fn setup_command(&self, who: &Who) -> Result<Screen> {
        let t = &self.inner.texts;
        if !admins::is_admin(&self.inner.db, who.id).await? {
            return Ok(shop_screens::notice(t, who.locale, "unknown_command"));
        }
        self.stop_waiting(who).await?;
        self.setup_screen(who, None).await
    }

    /// A message answering a setup question; `false` when the bot waits for no such answer.
    pub(crate) async fn on_setup_message(&self, who: &Who, message: &Message) -> Result<bool> {
        let db = &self.inner.db;
        let Some(Waiting::Setup { step }) = conversation::get(db, who.id).await? else {
            return Ok(false);
        };
        if !admins::is_admin(db, who.id).await? {
            // No longer an admin: the question is void.
            conversation::clear(db, who.id).await?;
            return Ok(false);
        }
        let t = &self.inner.texts;
        let Some(text) = message.text() else {
            let screen = shop_screens::notice(t, who.locale, "setup.send_text");
            self.send(who.chat, &screen).await?;
            return Ok(true);
        };
        let secret = step.takes_secret();
        let next = self.setup_answer(who, step, text).await;
        if secret {
            // Best effort, and whatever the answer was: a secret should not stay in the chat.
            if let Err(e) = self
                .inner
                .bot
                .delete_message(message.chat.id, message.id)
                .await
            {
                tracing::debug!(error = %e, "could not delete a message holding a secret");
            }
        }
        let screen = match next {
            Ok(Next::Saved { note }) => {
                conversation::clear(db, who.id).await?;
                self.setup_screen(who, Some(&note)).await?
            }
            Ok(Next::Ask(step)) => {
                let screen = setup_screens::question(t, who.locale, &step);
                self.wait_for(who, step).await?;
                screen
            }
            Ok(Next::Retry(problem, step)) => setup_screens::retry(t, who.locale, &problem, &step),
            Err(e) => {
                // The question cannot be answered (say, a sealed key that no longer opens):
                // start again rather than fail every answer after this one.
                conversation::clear(db, who.id).await?;
                return Err(e);
            }
        };
        self.send(who.chat, &screen).await?;
        Ok(true)
    }

    async fn setup_press(&self, who: &Who, action: SetupAction) -> Result<Screen> {
        let t = &self.inner.texts;
        let locale = who.locale;
        let note = match action {
            SetupAction::Show => {
                self.stop_waiting(who).await?;
                return self.setup_screen(who, None).await;
            }
            SetupAction::AddCard => {
                let setup = self.payment_setup().await?;
                if setup.cards.len() >= MAX_CARDS {
                    let max = Arg::Number(MAX_CARDS as i64);
                    t.text(locale, "setup.saved.too_many_cards", &[("max", max)])
                } else {
                    return self.ask(who, SetupStep::CardNumber).await;
                }
            }
            SetupAction::AskRemoveCard(digits) => {
                let setup = self.payment_setup().await?;
                match setup.cards.iter().find(|c| c.number == digits) {
                    Some(card) => return Ok(setup_screens::confirm_remove(t, locale, card)),
                    None => t.text(locale, "setup.saved.card_gone", &[]),
                }
            }
            SetupAction::RemoveCard(digits) => {
                let mut setup = self.payment_setup().await?;
                let before = setup.cards.len();
                setup.cards.retain(|c| c.number != digits);
                if setup.cards.len() == before {
                    t.text(locale, "setup.saved.card_gone", &[])
                } else {
                    self.save(&setup).await?;
                    t.text(locale, "setup.saved.card_removed", &[])
                }
            }
            SetupAction::SetZarinpal => return self.ask(who, SetupStep::ZarinpalMerchant).await,
            SetupAction::ClearZarinpal => {
                self.change(|setup| setup.zarinpal = None).await?;
                t.text(locale, "setup.saved.zarinpal_cleared", &[])
            }
            SetupAction::SetNowPayments => return self.ask(who, SetupStep::NowPaymentsKey).await,
            SetupAction::ClearNowPayments => {
                self.change(|setup| setup.nowpayments = None).await?;
                t.text(locale, "setup.saved.nowpayments_cleared", &[])
            }
            SetupAction::Stars(on) => {
                let setup = self.change(|setup| setup.stars = on).await?;
                let has_rate = setup.rates.toman_per_star.is_some_and(|r| r > 0);
                let key = match (on, has_rate) {
                    (true, true) => "setup.saved.stars_on",
                    (true, false) => "setup.saved.stars_on_no_rate",
                    (false, _) => "setup.saved.stars_off",
                };
                t.text(locale, key, &[])
            }
            SetupAction::SetStarRate => return self.ask(who, SetupStep::TomanPerStar).await,
            SetupAction::SetUsdRate => return self.ask(who, SetupStep::TomanPerUsd).await,
            SetupAction::SetAutoApprove => {
                return self.ask(who, SetupStep::AutoApproveMinutes).await
            }
            SetupAction::AutoApproveOff => {
                self.change(|setup| setup.card_auto_approve_minutes = None)
                    .await?;
                t.text(locale, "setup.saved.auto_approve_off", &[])
            }
        };
        self.setup_screen(who, Some(&note)).await
    }

    /// Checks an answer and, when it completes something, stores it.
    async fn setup_answer(&self, who: &Who, step: SetupStep, text: &str) -> Result<Next> {
        let t = &self.inner.texts;
        let keyring = &self.inner.keyring;
        let saved = |key: &str| Next::Saved {
            note: t.text(who.locale, key, &[]),
        };
        Ok(match step {
            SetupStep::CardNumber => match input::card_number(text) {
                Err(problem) => Next::Retry(problem, SetupStep::CardNumber),
                Ok(number) => {
                    let setup = self.payment_setup().await?;
                    if setup.cards.iter().any(|c| c.number == number) {
                        Next::Retry(InputProblem::CardOnListAlready, SetupStep::CardNumber)
                    } else {
                        Next::Ask(SetupStep::CardHolder { number })
                    }
                }
            },
            SetupStep::CardHolder { number } => match input::name(text) {
                Err(problem) => Next::Retry(problem, SetupStep::CardHolder { number }),
                Ok(holder) => Next::Ask(SetupStep::CardBank { number, holder }),
            },
            SetupStep::CardBank { number, holder } => match input::name(text) {
                Err(problem) => Next::Retry(problem, SetupStep::CardBank { number, holder }),
                Ok(bank) => {
                    let card = Card::new(&number, &holder, &bank)?;
                    let mut setup = self.payment_setup().await?;
                    // Added twice (two admins, a double send): kept once.
                    if !setup.cards.iter().any(|c| c.number == card.number) {
                        setup.cards.push(card);
                        self.save(&setup).await?;
                    }
                    saved("setup.saved.card_added")
                }
            },
            SetupStep::ZarinpalMerchant => match input::merchant_id(text) {
                Err(problem) => Next::Retry(problem, SetupStep::ZarinpalMerchant),
                Ok(id) => {
                    let zarinpal = ZarinpalSetup::new(keyring, &SecretString::new(id))?;
                    self.change(|setup| setup.zarinpal = Some(zarinpal)).await?;
                    saved("setup.saved.zarinpal")
                }
            },
            SetupStep::NowPaymentsKey => match input::gateway_key(text) {
                Err(problem) => Next::Retry(problem, SetupStep::NowPaymentsKey),
                Ok(key) => {
                    let sealed_key = keyring.encrypt(&key, &pending_key_context(who.id))?;
                    Next::Ask(SetupStep::NowPaymentsSecret { sealed_key })
                }
            },
            SetupStep::NowPaymentsSecret { sealed_key } => match input::gateway_key(text) {
                Err(problem) => Next::Retry(problem, SetupStep::NowPaymentsSecret { sealed_key }),
                Ok(ipn_secret) => {
                    let api_key = keyring.decrypt(&sealed_key, &pending_key_context(who.id))?;
                    let ipn_secret = SecretString::new(ipn_secret);
                    let nowpayments = NowPaymentsSetup::new(keyring, &api_key, &ipn_secret)?;
                    self.change(|setup| setup.nowpayments = Some(nowpayments))
                        .await?;
                    saved("setup.saved.nowpayments")
                }
            },
            SetupStep::TomanPerStar => match input::whole_number(text, input::MAX_TOMAN_PER_STAR) {
                Err(problem) => Next::Retry(problem, SetupStep::TomanPerStar),
                Ok(rate) => {
                    self.change(|setup| setup.rates.toman_per_star = Some(rate))
                        .await?;
                    saved("setup.saved.star_rate")
                }
            },
            SetupStep::TomanPerUsd => match input::whole_number(text, input::MAX_TOMAN_PER_USD) {
                Err(problem) => Next::Retry(problem, SetupStep::TomanPerUsd),
                Ok(rate) => {
                    self.change(|setup| setup.rates.toman_per_usd = Some(rate))
                        .await?;
                    saved("setup.saved.usd_rate")
                }
            },
            SetupStep::AutoApproveMinutes => {
                let minutes =
                    input::whole_number(text, input::MAX_AUTO_APPROVE_MINUTES).and_then(|m| {
                        u32::try_from(m).map_err(|_| InputProblem::Number {
                            min: 1,
                            max: input::MAX_AUTO_APPROVE_MINUTES,
                        })
                    });
                match minutes {
                    Err(problem) => Next::Retry(problem, SetupStep::AutoApproveMinutes),
                    Ok(minutes) => {
                        self.change(|setup| setup.card_auto_approve_minutes = Some(minutes))
                            .await?;
                        Next::Saved {
                            note: t.text(
                                who.locale,
                                "setup.saved.auto_approve",
                                &[("minutes", Arg::Number(i64::from(minutes)))],
                            ),
                        }
                    }
                }
            }
        })
    }

    async fn setup_screen(&self, who: &Who, note: Option<&str>) -> Result<Screen> {
        let setup = self.payment_setup().await?;
        Ok(setup_screens::setup(
            &self.inner.texts,
            who.locale,
            &setup,
            note,
        ))
    }

    async fn payment_setup(&self) -> Result<PaymentSetup> {
        settings::get(&self.inner.db).await
    }

    async fn save(&self, setup: &PaymentSetup) -> Result<()> {
        settings::set(&self.inner.db, setup, self.now()).await
    }

    /// Reads the setup, changes one part, stores it; returns what was stored.
    async fn change(&self, edit: impl FnOnce(&mut PaymentSetup)) -> Result<PaymentSetup> {
        let mut setup = self.payment_setup().await?;
        edit(&mut setup);
        self.save(&setup).await?;
        Ok(setup)
    }

    /// Asks the question of `step` and waits for its answer.
    async fn ask(&self, who: &Who, step: SetupStep) -> Result<Screen> {
        let screen = setup_screens::question(&self.inner.texts, who.locale, &step);
        self.wait_for(who, step).await?;
        Ok(screen)
    }

    async fn wait_for(&self, who: &Who, step: SetupStep) -> Result<()> {
        let waiting = Waiting::Setup { step };
        conversation::set(&self.inner.db, who.id, &waiting, self.now()).await
    }

    /// Forgets a setup question left unanswered (other conversations are not the setup's).
    async fn stop_waiting(&self, who: &Who) -> Result<()> {
        let db = &self.inner.db;
        if let Some(Waiting::Setup { .. }) = conversation::get(db, who.id).await? {
            conversation::clear(db, who.id).await?;
        }
        Ok(())
    }
}
