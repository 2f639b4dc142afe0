//! Onboarding in the chat: the customer's answers go to the dialogue in `tenants::onboarding`,
//! its questions come back as messages. Messages holding a token or password are deleted.

use teloxide::requests::Requester;
use teloxide::types::{ChatId, Message};

use super::handler::MasterBot;
use super::screens;
use crate::customers::Customer;
use crate::tenants::onboarding::{self, Context, Input, Step};
use crate::{tenants, Result};
use shared::i18n::Locale;

impl MasterBot {
    /// Gives a text to the customer's bot that is being set up, if any. True when it was used.
    pub(super) async fn onboarding_answer(
        &self,
        customer: &Customer,
        locale: Locale,
        message: &Message,
        text: &str,
    ) -> Result<bool> {
        let buyer = message.chat.id.0;
        self.onboarding_step(
            customer,
            locale,
            message.chat.id,
            buyer,
            Input::Text(text.to_string()),
            Some(message),
        )
        .await
    }

    /// Runs one step of onboarding for the customer's first bot not yet set up.
    pub(super) async fn onboarding_step(
        &self,
        customer: &Customer,
        locale: Locale,
        chat: ChatId,
        buyer: i64,
        input: Input,
        message: Option<&Message>,
    ) -> Result<bool> {
        let db = &self.inner.db;
        let Some(tenant) = tenants::of_customer(db, &customer.id)
            .await?
            .into_iter()
            .find(|t| !t.is_onboarded())
        else {
            return Ok(false);
        };
        let services = &self.inner.services;
        let Some(keyring) = &services.keyring else {
            tracing::error!("onboarding needs MADAR_SECRET_KEYS to encrypt tokens and passwords");
            self.send(
                chat,
                &screens::notice(&self.inner.texts, locale, "error_try_again"),
            )
            .await?;
            return Ok(true);
        };
        let ctx = Context {
            db,
            keyring,
            checks: services.checks.as_ref(),
            policy: &services.policy,
        };
        let prompt = onboarding::advance(&ctx, &tenant, buyer, input, self.now()).await?;
        if prompt.forget_message {
            if let Some(message) = message {
                // Best effort: the secret is already stored encrypted either way.
                if let Err(e) = self
                    .inner
                    .bot
                    .delete_message(message.chat.id, message.id)
                    .await
                {
                    tracing::debug!(error = %e, "could not delete a message holding a secret");
                }
            }
        }
        if let Some(done) = tenants::get(db, &tenant.id).await? {
            if done.onboarding_step == Step::Done {
                // Start it now rather than at the next sync, before the customer is told.
                self.sync_now().await;
            }
        }
        self.send(
            chat,
            &screens::onboarding(&self.inner.texts, locale, &prompt),
        )
        .await?;
        Ok(true)
    }
}
