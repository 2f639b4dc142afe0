//! "My services": the list, one service with its usage, and what can be done to it: send the
//! link and QR code again, revoke the link (the old one dies on the panel), read the usage
//! from the panel now. Renewing and adding data are purchases (`shop`).

use std::collections::HashMap;

use shared::db::Db;
use shared::i18n::{Catalog, Locale};
use shared::panel::PanelError;

use super::actions::{Action, Page};
use super::data_packs::DataPacks;
use super::screen::{Image, Photo, Screen};
use super::service_screens::{self, Controls, Named};
use super::{format, qr, shop_screens, tips};
use crate::handler::{Pressed, TenantBot, Who};
use crate::plans::{self, Plan};
use crate::refusal::Refusal;
use crate::services::{self, Service};
use crate::{settings, wallet, Error, Result};

impl TenantBot {
    /// The pages about services; `None` when the service is gone or not theirs.
    pub(crate) async fn service_page(&self, who: &Who, page: &Page) -> Result<Option<Screen>> {
        let db = &self.inner.db;
        let t = &self.inner.texts;
        let (locale, now) = (who.locale, self.now());
        let id = match page {
            Page::Services => {
                let list = services::list_of_user(db, who.id).await?;
                let mut plans = PlanNames::default();
                let mut named = Vec::with_capacity(list.len());
                for service in &list {
                    let name = plans.name_of(db, t, locale, service).await?;
                    named.push(Named { service, name });
                }
                return Ok(Some(service_screens::list(t, locale, &named, now)));
            }
            Page::Service(id)
            | Page::Renew(id)
            | Page::AddData(id)
            | Page::Revoke(id)
            | Page::Tips(id) => id,
            _ => return Ok(None),
        };
        let Some(service) = services::of_user(db, who.id, id).await? else {
            return Ok(None);
        };
        let plan = plan_of(db, &service).await?;
        let named = Named {
            name: format::service_name(t, locale, &service, plan.as_ref()),
            service: &service,
        };
        let packs: DataPacks = settings::get(db).await?;
        Ok(Some(match page {
            Page::Renew(_) => match super::shop::renewal_plan(db, &service).await {
                Ok(plan) => {
                    let balance = wallet::balance(db, who.id).await?;
                    service_screens::renew(t, locale, &named, &plan, balance)
                }
                Err(Error::Refused(refusal)) => shop_screens::refusal(t, locale, &refusal),
                Err(e) => return Err(e),
            },
            Page::AddData(_) if can_add_data(&packs, &service) => {
                let balance = wallet::balance(db, who.id).await?;
                service_screens::add_data(
                    t,
                    locale,
                    &named,
                    &packs.packs(),
                    packs.price_per_gb(),
                    balance,
                )
            }
            Page::AddData(_) => shop_screens::refusal(t, locale, &Refusal::PlanNotOnSale),
            Page::Revoke(_) => service_screens::revoke(t, locale, &named),
            Page::Tips(_) => tips::screen(t, locale, &service.id),
            _ => {
                let renew = !service.is_trial && plan.as_ref().is_some_and(|p| !p.hidden);
                let controls = Controls {
                    renew,
                    add_data: can_add_data(&packs, &service),
                };
                service_screens::detail(t, locale, &named, controls, now)
            }
        }))
    }

    pub(crate) async fn on_service_action(
        &self,
        pressed: &Pressed<'_>,
        who: &Who,
        action: Action,
    ) -> Result<()> {
        let result = match action {
            Action::SendLink(id) => self.send_link(who, &id, "link_title").await,
            Action::RevokeNow(id) => self.revoke(pressed, who, &id).await,
            Action::Refresh(id) => self.refresh(pressed, who, &id).await,
            other => {
                tracing::warn!(?other, "an action reached the wrong handler");
                Ok(())
            }
        };
        match result {
            Err(Error::Refused(refusal)) => self.refused(pressed, who, &refusal).await,
            other => other,
        }
    }

    /// Sends the service's link as a QR code with the link in the caption.
    async fn send_link(&self, who: &Who, service_id: &str, title_key: &str) -> Result<()> {
        let service = self.own_service(who, service_id).await?;
        let plan = plan_of(&self.inner.db, &service).await?;
        let photo = link_photo(
            &self.inner.texts,
            who.locale,
            &service,
            plan.as_ref(),
            title_key,
        );
        self.send_link_photo(who, photo).await
    }

    async fn send_link_photo(&self, who: &Who, photo: LinkMessage) -> Result<()> {
        let sent = match photo {
            LinkMessage::Photo(photo) => self.try_send_photo(who.chat, &photo).await,
            LinkMessage::Text(screen) => self.try_send(who.chat, &screen).await,
        };
        match sent {
            Err(e) if shared::telegram::polling::is_unreachable_user(&e) => Ok(()),
            other => Ok(other?),
        }
    }

    /// A new link: the panel issues it and the old one stops working there.
    async fn revoke(&self, pressed: &Pressed<'_>, who: &Who, service_id: &str) -> Result<()> {
        let service = self.own_service(who, service_id).await?;
        let t = &self.inner.texts;
        let client = self
            .inner
            .fulfilment
            .registry()
            .client_by_id(&service.panel_id)
            .await?;
        let account = match client.revoke_subscription(&service.username).await {
            Ok(account) => account,
            Err(e) => return self.panel_failed(pressed, who, &service, e).await,
        };
        let now = self.now();
        services::update_from_account(&self.inner.db, &service.id, &account, false, now).await?;
        tracing::info!(service = %service.id, "subscription link revoked");
        let done =
            Screen::text(t.text(who.locale, "revoked", &[])).with_row(vec![shop_screens::button(
                t,
                who.locale,
                "button_back",
                Page::Service(service.id.clone()),
            )]);
        self.show_on(pressed.query, &done).await?;
        self.send_link(who, &service.id, "link_title_new").await
    }

    /// Reads the account from its panel and shows the service as it is now.
    async fn refresh(&self, pressed: &Pressed<'_>, who: &Who, service_id: &str) -> Result<()> {
        let service = self.own_service(who, service_id).await?;
        let client = self
            .inner
            .fulfilment
            .registry()
            .client_by_id(&service.panel_id)
            .await?;
        let now = self.now();
        match client.account(&service.username).await {
            Ok(Some(account)) => {
                services::update_from_account(&self.inner.db, &service.id, &account, false, now)
                    .await?;
            }
            Ok(None) => services::mark_deleted(&self.inner.db, &service.id, now).await?,
            Err(e) => return self.panel_failed(pressed, who, &service, e).await,
        }
        let page = Page::Service(service.id.clone());
        let screen = match self.service_page(who, &page).await? {
            Some(screen) => screen,
            None => shop_screens::refusal(&self.inner.texts, who.locale, &Refusal::NoSuchService),
        };
        self.show_on(pressed.query, &screen).await
    }

    /// The panel did not do what was asked: say so, and that nothing changed.
    async fn panel_failed(
        &self,
        pressed: &Pressed<'_>,
        who: &Who,
        service: &Service,
        error: PanelError,
    ) -> Result<()> {
        tracing::warn!(service = %service.id, error = %error, "a panel call for a service failed");
        let t = &self.inner.texts;
        let key = match error {
            PanelError::NotFound => "service_gone",
            _ => "panel_unreachable",
        };
        let screen =
            Screen::text(t.text(who.locale, key, &[])).with_row(vec![shop_screens::button(
                t,
                who.locale,
                "button_back",
                Page::Service(service.id.clone()),
            )]);
        self.show_on(pressed.query, &screen).await
    }
}

fn can_add_data(packs: &DataPacks, service: &Service) -> bool {
    packs.on_sale() && !service.is_trial && service.data_limit_bytes.is_some()
}

/// The plan a service was bought with, if it still exists.
pub async fn plan_of(db: &Db, service: &Service) -> Result<Option<Plan>> {
    match &service.plan_id {
        Some(id) => plans::get(db, id).await,
        None => Ok(None),
    }
}

/// Plan names looked up once per plan, for lists.
#[derive(Default)]
struct PlanNames {
    known: HashMap<String, Option<Plan>>,
}

impl PlanNames {
    async fn name_of(
        &mut self,
        db: &Db,
        t: &Catalog,
        locale: Locale,
        service: &Service,
    ) -> Result<String> {
        let plan = match &service.plan_id {
            Some(id) => {
                if !self.known.contains_key(id) {
                    self.known.insert(id.clone(), plans::get(db, id).await?);
                }
                self.known.get(id).cloned().flatten()
            }
            None => None,
        };
        Ok(format::service_name(t, locale, service, plan.as_ref()))
    }
}

/// A link as a QR photo, or as text when no QR code can be made of it.
pub enum LinkMessage {
    Photo(Photo),
    Text(Screen),
}

/// The link message of a service: its QR code, the link in the caption, and buttons.
pub fn link_photo(
    t: &Catalog,
    locale: Locale,
    service: &Service,
    plan: Option<&Plan>,
    title_key: &str,
) -> LinkMessage {
    let name = format::service_name(t, locale, service, plan);
    let caption =
        service_screens::link_caption(t, locale, title_key, &name, &service.subscription_url);
    let keyboard = service_screens::link_buttons(t, locale, &service.id);
    match qr::png(&service.subscription_url) {
        Ok(png) => LinkMessage::Photo(Photo {
            image: Image::Png(png),
            caption,
            keyboard,
        }),
        Err(e) => {
            tracing::warn!(service = %service.id, error = %e, "no QR code for a link");
            LinkMessage::Text(Screen {
                text: caption,
                keyboard,
            })
        }
    }
}
