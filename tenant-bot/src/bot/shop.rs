//! Buying in the tenant bot: a plan, a renewal, a data pack or the free trial, paid from the
//! wallet; then the order is taken as far as it goes at once, and the person sees where it
//! stands while the notice sender brings them the link.
//!
//! Cheap checks (balance, a panel to put the account on) come before an order exists, so a
//! refused purchase leaves nothing behind; the order functions check again for races.

use shared::i18n::Arg;

use super::actions::{Action, Page};
use super::data_packs::DataPacks;
use super::screen::Screen;
use super::shop_screens;
use crate::fulfil::Progress;
use crate::handler::{Pressed, TenantBot, Who};
use crate::orders::{self, Kind, Order};
use crate::panels::placement::{self, Want};
use crate::plans::{self, Plan};
use crate::refusal::Refusal;
use crate::services::{self, Service};
use crate::settings::{self, Trial};
use crate::{wallet, Error, Result};

impl TenantBot {
    pub(crate) async fn on_shop_action(
        &self,
        pressed: &Pressed<'_>,
        who: &Who,
        action: Action,
    ) -> Result<()> {
        self.answer(pressed, None).await;
        let result = match action {
            Action::BuyWithWallet(plan) => self.buy(pressed, who, &plan).await,
            Action::RenewWithWallet(service) => self.renew(pressed, who, &service).await,
            Action::AddDataWithWallet(service, gb) => {
                self.add_data(pressed, who, &service, gb).await
            }
            Action::Trial => self.trial(pressed, who).await,
            Action::AddStarterPlans => self.add_starter_plans(pressed, who).await,
            other => return self.on_service_action(pressed, who, other).await,
        };
        match result {
            Err(Error::Refused(refusal)) => self.refused(pressed, who, &refusal).await,
            other => other,
        }
    }

    /// Shows a refusal where the button was pressed.
    pub(crate) async fn refused(
        &self,
        pressed: &Pressed<'_>,
        who: &Who,
        refusal: &Refusal,
    ) -> Result<()> {
        let screen = shop_screens::refusal(&self.inner.texts, who.locale, refusal);
        self.show_on(pressed.query, &screen).await
    }

    /// (Admins) the starter plans, once, into a shop that has none.
    async fn add_starter_plans(&self, pressed: &Pressed<'_>, who: &Who) -> Result<()> {
        let db = &self.inner.db;
        let t = &self.inner.texts;
        if !crate::admins::is_admin(db, who.id).await? {
            let screen = Screen::text(t.text(who.locale, "button_expired", &[]));
            return self.show_on(pressed.query, &screen).await;
        }
        let added = plans::add_starter_plans(db, self.now()).await?;
        let on_sale = plans::on_sale(db).await?;
        let mut screen = shop_screens::plans(t, who.locale, &on_sale, false);
        if added > 0 {
            let note = t.text(
                who.locale,
                "starter_plans_added",
                &[("count", Arg::Number(added as i64))],
            );
            screen.text = format!("{note}\n\n{}", screen.text);
        }
        self.show_on(pressed.query, &screen).await
    }

    async fn buy(&self, pressed: &Pressed<'_>, who: &Who, plan_id: &str) -> Result<()> {
        let plan = on_sale(&self.inner.db, plan_id).await?;
        if let Some(screen) = self
            .short_of(who, &plan.price, Page::Plan(plan.id.clone()))
            .await?
        {
            return self.show_on(pressed.query, &screen).await;
        }
        self.need_panel(want_for(&plan)).await?;
        let order = orders::create_new(&self.inner.db, who.id, &plan, self.now()).await?;
        self.pay_and_deliver(pressed, who, order).await
    }

    async fn renew(&self, pressed: &Pressed<'_>, who: &Who, service_id: &str) -> Result<()> {
        let service = self.own_service(who, service_id).await?;
        let plan = renewal_plan(&self.inner.db, &service).await?;
        if let Some(screen) = self
            .short_of(who, &plan.price, Page::Service(service.id.clone()))
            .await?
        {
            return self.show_on(pressed.query, &screen).await;
        }
        let order = orders::create_renew(&self.inner.db, &service, &plan, self.now()).await?;
        self.pay_and_deliver(pressed, who, order).await
    }

    async fn add_data(
        &self,
        pressed: &Pressed<'_>,
        who: &Who,
        service_id: &str,
        gb: i64,
    ) -> Result<()> {
        let service = self.own_service(who, service_id).await?;
        let packs: DataPacks = settings::get(&self.inner.db).await?;
        let price = packs.price_of(gb).ok_or(Refusal::PlanNotOnSale)?;
        if let Some(screen) = self
            .short_of(who, &price, Page::AddData(service.id.clone()))
            .await?
        {
            return self.show_on(pressed.query, &screen).await;
        }
        let bytes = gb.saturating_mul(plans::GIB);
        let order =
            orders::create_add_data(&self.inner.db, &service, bytes, price, self.now()).await?;
        self.pay_and_deliver(pressed, who, order).await
    }

    async fn trial(&self, pressed: &Pressed<'_>, who: &Who) -> Result<()> {
        let trial: Trial = settings::get(&self.inner.db).await?;
        if !trial.enabled {
            return Err(Refusal::TrialOff.into());
        }
        if orders::trial_used(&self.inner.db, who.id).await? {
            return Err(Refusal::TrialUsed.into());
        }
        self.need_panel(Want {
            panel_id: None,
            location: trial.location.clone(),
        })
        .await?;
        let order = orders::start_trial(&self.inner.db, who.id, &trial, self.now()).await?;
        self.deliver(pressed, who, &order).await
    }

    /// The person's own service, or the refusal that it is not theirs (or gone).
    pub(crate) async fn own_service(&self, who: &Who, id: &str) -> Result<Service> {
        services::of_user(&self.inner.db, who.id, id)
            .await?
            .ok_or_else(|| Refusal::NoSuchService.into())
    }

    /// The "not enough in the wallet" screen when the balance is short of `price`.
    async fn short_of(
        &self,
        who: &Who,
        price: &shared::money::Money,
        back: Page,
    ) -> Result<Option<Screen>> {
        let balance = wallet::balance(&self.inner.db, who.id).await?;
        if balance.minor() >= price.minor() {
            return Ok(None);
        }
        let can_top_up = !self.gateways().await?.methods().is_empty();
        Ok(Some(shop_screens::not_enough(
            &self.inner.texts,
            who.locale,
            balance,
            *price,
            back,
            can_top_up,
        )))
    }

    /// Refuses before anything is charged when no panel can take a new account.
    async fn need_panel(&self, want: Want) -> Result<()> {
        let candidates = placement::candidates(&self.inner.db).await?;
        if placement::choose(&candidates, &want).is_none() {
            return Err(Refusal::NoPanelAvailable.into());
        }
        Ok(())
    }

    async fn pay_and_deliver(&self, pressed: &Pressed<'_>, who: &Who, order: Order) -> Result<()> {
        let db = &self.inner.db;
        match orders::pay_from_wallet(db, who.id, &order.id, self.now()).await {
            Ok(paid) => self.deliver(pressed, who, &paid).await,
            Err(e) => {
                // Nothing was charged: the unpaid order is given up so it does not linger.
                orders::cancel(db, who.id, &order.id, self.now()).await?;
                match e {
                    Error::Refused(Refusal::NotEnoughBalance { balance, needed }) => {
                        let can_top_up = !self.gateways().await?.methods().is_empty();
                        let screen = shop_screens::not_enough(
                            &self.inner.texts,
                            who.locale,
                            balance,
                            needed,
                            Page::Home,
                            can_top_up,
                        );
                        self.show_on(pressed.query, &screen).await
                    }
                    other => Err(other),
                }
            }
        }
    }

    /// Takes a paid order as far as it goes now, and says where it stands. The link (or the
    /// refund) reaches the person through the notice sender, woken at once.
    async fn deliver(&self, pressed: &Pressed<'_>, who: &Who, order: &Order) -> Result<()> {
        let t = &self.inner.texts;
        let working = Screen::text(t.text(who.locale, "working", &[]));
        self.show_on(pressed.query, &working).await?;
        let progress = self.inner.fulfilment.advance(&order.id).await;
        if matches!(progress, Ok(Progress::Delivered { .. })) && !order.kind.creates_account() {
            // A renewal or added data: this screen is the news; no second message about it.
            crate::notices::mark_told(
                &self.inner.db,
                &crate::notices::done_key(&order.id),
                self.now(),
            )
            .await?;
        }
        self.wake_notices();
        let key = match progress {
            Ok(Progress::Delivered { .. }) if order.kind == Kind::AddData => "applied_data",
            Ok(Progress::Delivered { .. }) if order.kind == Kind::Renew => "applied_renew",
            Ok(Progress::Delivered { .. }) => "delivered_inline",
            Ok(Progress::WillRetry { .. }) => "will_retry",
            Ok(Progress::Refunded { .. }) => "refunded_inline",
            Ok(Progress::Idle) => "in_progress",
            Err(e) => {
                // Paid and recorded: the order worker finishes it on its next round.
                tracing::error!(order = %order.id, error = %e, "could not work on an order now");
                "in_progress"
            }
        };
        let screen = Screen::text(t.text(who.locale, key, &[])).with_row(vec![
            shop_screens::button(t, who.locale, "button_services", Page::Services),
            shop_screens::home_button(t, who.locale),
        ]);
        self.show_on(pressed.query, &screen).await
    }
}

/// A plan that is on sale, or the refusal that it is not.
async fn on_sale(db: &shared::db::Db, plan_id: &str) -> Result<Plan> {
    match plans::get(db, plan_id).await? {
        Some(plan) if !plan.hidden => Ok(plan),
        _ => Err(Refusal::PlanNotOnSale.into()),
    }
}

/// The plan a service renews with: its own, while on sale. Trials are not renewed.
pub(crate) async fn renewal_plan(db: &shared::db::Db, service: &Service) -> Result<Plan> {
    if service.is_trial {
        return Err(Refusal::NoSuchService.into());
    }
    match &service.plan_id {
        Some(id) => on_sale(db, id).await,
        None => Err(Refusal::PlanNotOnSale.into()),
    }
}

/// Where a plan's accounts may go (as the order worker will decide).
fn want_for(plan: &Plan) -> Want {
    Want {
        panel_id: plan.panel_id.clone(),
        location: plan.location.clone(),
    }
}
