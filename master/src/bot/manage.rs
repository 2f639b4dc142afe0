//! The customer's controls of a bought bot: status, stop and start, restart, change token.

use shared::i18n::{Arg, Locale};
use teloxide::types::{CallbackQuery, ChatId};

use super::actions::Action;
use super::handler::MasterBot;
use super::screens::{self, BotDetail, Screen};
use crate::billing::subscriptions::{self, Status};
use crate::customers::Customer;
use crate::{tenants, Result};

fn status_key(status: Status) -> &'static str {
    match status {
        Status::Trial => "subscription_status_trial",
        Status::Active => "subscription_status_active",
        Status::Grace => "subscription_status_grace",
        Status::Suspended => "subscription_status_suspended",
        Status::Cancelled => "subscription_status_cancelled",
        Status::Deleted => "subscription_status_deleted",
    }
}

impl MasterBot {
    pub(super) async fn bot_detail(
        &self,
        locale: Locale,
        customer: &Customer,
        sub_id: &str,
    ) -> Result<Option<Screen>> {
        let db = &self.inner.db;
        let Some(sub) = subscriptions::get(db, sub_id).await? else {
            return Ok(None);
        };
        if sub.customer_id != customer.id {
            return Ok(None);
        }
        let tenant = tenants::by_subscription(db, sub_id)
            .await?
            .into_iter()
            .next();
        let instance = match &tenant {
            Some(t) => provisioner::store::get(db, &t.id)
                .await
                .map_err(|e| crate::Error::Provisioner(e.to_string()))?,
            None => None,
        };
        let t = &self.inner.texts;
        let limit = |value: Option<i64>, counted: &str, unlimited: &str| match value {
            Some(count) => t.text(locale, counted, &[("count", Arg::Number(count))]),
            None => t.text(locale, unlimited, &[]),
        };
        let limits = t.text(
            locale,
            "limits",
            &[
                (
                    "bots",
                    Arg::Text(&limit(sub.terms.max_bots, "limit_bots", "unlimited_bots")),
                ),
                (
                    "users",
                    Arg::Text(&limit(
                        sub.terms.max_end_users,
                        "limit_users",
                        "unlimited_users",
                    )),
                ),
                (
                    "panels",
                    Arg::Text(&limit(
                        sub.terms.max_panels,
                        "limit_panels",
                        "unlimited_panels",
                    )),
                ),
            ],
        );
        let detail = BotDetail {
            subscription_id: sub.id.clone(),
            bot: tenant
                .as_ref()
                .and_then(|t| t.bot_username.clone())
                .map(|name| format!("@{name}")),
            package: match locale {
                Locale::Fa => sub.terms.name_fa.clone(),
                Locale::En => sub.terms.name_en.clone(),
            },
            status_key: status_key(sub.status),
            ends_at: sub.current_period_end,
            state: instance.as_ref().map(|i| i.state.as_str().to_string()),
            reason: instance.as_ref().and_then(|i| i.reason.clone()),
            up_since: instance.as_ref().and_then(|i| i.bot_started_at),
            version: instance.as_ref().and_then(|i| i.heartbeat_version.clone()),
            updates_handled: instance.as_ref().and_then(|i| i.updates_handled),
            limits,
            paused: tenant.as_ref().is_some_and(|t| t.paused),
            controllable: tenant.as_ref().is_some_and(|t| t.is_onboarded())
                && sub.status.keeps_bot_running(),
        };
        Ok(Some(screens::bot_detail(t, locale, &detail)))
    }

    pub(super) async fn bot_control(
        &self,
        query: &CallbackQuery,
        customer: &Customer,
        locale: Locale,
        action: Action,
    ) -> Result<()> {
        let db = &self.inner.db;
        let t = &self.inner.texts;
        let chat = ChatId(query.from.id.0 as i64);
        let sub_id = match &action {
            Action::PauseBot(s)
            | Action::ResumeBot(s)
            | Action::RestartBot(s)
            | Action::ChangeToken(s) => s.clone(),
            _ => return Ok(()),
        };
        let owned = subscriptions::get(db, &sub_id)
            .await?
            .is_some_and(|s| s.customer_id == customer.id);
        let tenant = tenants::by_subscription(db, &sub_id)
            .await?
            .into_iter()
            .next();
        let (Some(tenant), true) = (tenant, owned) else {
            return self
                .send(chat, &screens::notice(t, locale, "button_expired"))
                .await;
        };
        let now = self.now();
        let note = match action {
            Action::PauseBot(_) => {
                tenants::set_paused(db, &tenant.id, true, now).await?;
                "bot_paused_done"
            }
            Action::ResumeBot(_) => {
                tenants::set_paused(db, &tenant.id, false, now).await?;
                "bot_resumed_done"
            }
            Action::RestartBot(_) => match &self.inner.services.runtime {
                Some(runtime) => match runtime.restart(&tenant.id).await {
                    Ok(()) => "bot_restarted",
                    Err(e) => {
                        tracing::warn!(tenant = %tenant.id, error = %e, "restart asked by the customer failed");
                        "bot_not_running_here"
                    }
                },
                None => "bot_not_running_here",
            },
            Action::ChangeToken(_) => {
                tenants::begin_token_change(db, &tenant.id, now).await?;
                "ask_new_token"
            }
            _ => return Ok(()),
        };
        self.sync_now().await;
        self.send(chat, &screens::notice(t, locale, note)).await?;
        if let Some(screen) = self.bot_detail(locale, customer, &sub_id).await? {
            self.show_on(query, &screen).await?;
        }
        Ok(())
    }

    /// Applies desired-state changes at once instead of at the next scheduled sync.
    pub(super) async fn sync_now(&self) {
        let services = &self.inner.services;
        if let (Some(keyring), Some(image)) = (&services.keyring, &services.image_version) {
            if let Err(e) = tenants::desired::sync(&self.inner.db, keyring, image, self.now()).await
            {
                tracing::warn!(error = %e, "desired-state sync failed");
            }
        }
    }
}
