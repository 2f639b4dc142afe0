//! The customer's controls of a bought bot: status, stop and start, restart, change token.

use shared::i18n::{Arg, Locale};
use teloxide::types::{CallbackQuery, ChatId};

use super::actions::Action;
use super::handler::MasterBot;
use super::screens::{self, BotDetail, Screen};
use crate::billing::subscriptions;
use crate::customers::Customer;
use crate::{tenants, Result};

impl MasterBot {
    pub(super) async fn bot_detail(
        &self,
        locale: Locale,
        customer: &Customer,
        sub_id: &str,
    ) -> Result<Option<Screen>> {
        let db = &self.inner.db;
        let Some(sub) = subscriptions::owned(db, sub_id, &customer.id).await? else {
            return Ok(None);
        };
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
            status_key: screens::status_key(sub.status),
            ends_at: sub.current_period_end,
            state: instance.as_ref().map(|i| i.state.as_str().to_string()),
            reason: instance.as_ref().and_then(|i| i.reason.clone()),
            up_since: instance.as_ref().and_then(|i| i.bot_started_at),
            version: instance.as_ref().and_then(|i| i.heartbeat_version.clone()),
            updates_handled: instance.as_ref().and_then(|i| i.updates_handled),
            end_users: instance
                .as_ref()
                .and_then(|i| i.end_users)
                .map(|count| (count, sub.terms.max_end_users)),
            limits,
            paused: tenant.as_ref().is_some_and(|t| t.paused),
            cancel_at_period_end: sub.cancel_at_period_end,
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
        let owned = subscriptions::owned(db, &sub_id, &customer.id)
            .await?
            .is_some();
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
            Action::AddPanel(_) => {
                let allowed = subscriptions::get(db, &sub_id)
                    .await?
                    .and_then(|s| s.terms.max_panels);
                let used = tenants::panels(db, &tenant.id).await?.len() as i64;
                if allowed.is_some_and(|max| used >= max) {
                    let refusal = crate::billing::Refusal::OverLimit {
                        limit: crate::billing::refusal::Limit::Panels,
                        used,
                        allowed: allowed.unwrap_or_default(),
                    };
                    return self.refused_or(chat, locale, refusal.into()).await;
                }
                tenants::begin_adding_panel(db, &tenant.id, now).await?;
                let prompt = crate::tenants::onboarding::Prompt::panel_kind();
                return self
                    .send(chat, &screens::onboarding(t, locale, &prompt))
                    .await;
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

    pub(super) async fn upgrade_choices(
        &self,
        locale: Locale,
        customer: &Customer,
        sub_id: &str,
    ) -> Result<Option<Screen>> {
        let db = &self.inner.db;
        let Some(sub) = subscriptions::owned(db, sub_id, &customer.id).await? else {
            return Ok(None);
        };
        let choices = crate::billing::packages::on_sale(db)
            .await?
            .into_iter()
            .filter(|p| {
                crate::billing::terms::Terms::of(p, sub.period_months, sub.currency)
                    .is_ok_and(|terms| terms.rank() > sub.terms.rank())
            })
            .map(|p| (p.code.clone(), p.name(locale).to_string()))
            .collect::<Vec<_>>();
        Ok(Some(screens::upgrades(
            &self.inner.texts,
            locale,
            sub_id,
            &choices,
        )))
    }

    pub(super) async fn upgrade_methods(
        &self,
        locale: Locale,
        customer: &Customer,
        sub_id: &str,
        code: &str,
    ) -> Result<Option<Screen>> {
        let db = &self.inner.db;
        let Some(sub) = subscriptions::owned(db, sub_id, &customer.id).await? else {
            return Ok(None);
        };
        let Some(package) = crate::billing::packages::on_sale_by_code(db, code).await? else {
            return Ok(None);
        };
        let request = upgrade_request(customer, &sub, code);
        let price = match crate::billing::orders::price(db, self.now(), &request).await {
            Ok(price) => price,
            Err(crate::Error::Refused(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut priced: Vec<(crate::billing::payments::Method, shared::money::Money)> = self
            .inner
            .services
            .gateways
            .offered()
            .into_iter()
            .filter(|(_, currency)| *currency == sub.currency)
            .map(|(method, _)| (method, price))
            .collect();
        let balance = crate::billing::wallet::balance(db, &customer.id, sub.currency).await?;
        if balance.minor() >= price.minor() {
            priced.push((crate::billing::payments::Method::Wallet, price));
        }
        Ok(Some(screens::methods(
            &self.inner.texts,
            locale,
            package.name(locale),
            sub.period_months,
            &priced,
            None,
            screens::Buying::Upgrade {
                subscription: sub_id,
                package: code,
            },
        )))
    }

    pub(super) async fn invoices_page(
        &self,
        locale: Locale,
        customer: &Customer,
    ) -> Result<Screen> {
        use crate::billing::orders::InvoiceStatus;
        let invoices = crate::billing::orders::invoices_of(&self.inner.db, &customer.id).await?;
        let rows: Vec<(i64, shared::money::Money, &'static str)> = invoices
            .iter()
            .take(15)
            .map(|i| {
                let key = match i.status {
                    InvoiceStatus::Open => "invoice_open",
                    InvoiceStatus::Paid => "invoice_paid",
                    InvoiceStatus::Expired => "invoice_expired",
                    InvoiceStatus::Cancelled => "invoice_cancelled",
                };
                (
                    i.paid_at
                        .unwrap_or(i.expires_at - crate::billing::INVOICE_TTL),
                    i.amount,
                    key,
                )
            })
            .collect();
        Ok(screens::invoices(&self.inner.texts, locale, &rows))
    }

    /// Schedules a smaller package for the next period, if the tenant fits in it.
    pub(super) async fn downgrade(
        &self,
        query: &CallbackQuery,
        customer: &Customer,
        locale: Locale,
        sub_id: &str,
        code: &str,
    ) -> Result<()> {
        let db = &self.inner.db;
        let chat = ChatId(query.from.id.0 as i64);
        let t = &self.inner.texts;
        let sub = subscriptions::owned(db, sub_id, &customer.id).await?;
        let package = crate::billing::packages::on_sale_by_code(db, code).await?;
        let (Some(sub), Some(package)) = (sub, package) else {
            return self
                .send(chat, &screens::notice(t, locale, "button_expired"))
                .await;
        };
        let tenants = tenants::by_subscription(db, sub_id).await?;
        let mut panels = 0;
        for tenant in &tenants {
            panels += tenants::panels(db, &tenant.id).await?.len() as i64;
        }
        // End users are counted by the tenant bots themselves and reported in heartbeats.
        let mut end_users = 0;
        for tenant in &tenants {
            if let Some(instance) = provisioner::store::get(db, &tenant.id)
                .await
                .map_err(|e| crate::Error::Provisioner(e.to_string()))?
            {
                end_users += instance.end_users.unwrap_or(0);
            }
        }
        let usage = subscriptions::Usage {
            bots: tenants.len() as i64,
            end_users,
            panels,
        };
        match subscriptions::schedule_downgrade(db, &sub, &package, usage, self.now()).await {
            Ok(_) => {
                let name = package.name(locale).to_string();
                let screen = screens::notice_with(
                    t,
                    locale,
                    "downgrade_scheduled",
                    &[
                        ("name", Arg::Text(&name)),
                        ("date", Arg::Date(sub.current_period_end)),
                    ],
                );
                self.send(chat, &screen).await
            }
            Err(e) => self.refused_or(chat, locale, e).await,
        }
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

pub(super) fn upgrade_request(
    customer: &Customer,
    sub: &crate::billing::subscriptions::Subscription,
    code: &str,
) -> crate::billing::orders::OrderRequest {
    crate::billing::orders::OrderRequest {
        customer_id: customer.id.clone(),
        kind: crate::billing::orders::OrderKind::Upgrade,
        package_code: code.to_string(),
        period_months: sub.period_months,
        currency: sub.currency,
        coupon: None,
        subscription_id: Some(sub.id.clone()),
    }
}
