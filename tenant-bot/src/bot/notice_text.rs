//! Each stored [`Notice`] as the message its reader gets, in their language.

use shared::db::Db;
use shared::i18n::{Arg, Catalog, Locale};
use shared::money::{Currency, Money};

use super::actions::Page;
use super::pay_screens;
use super::screen::{Image, Photo, Screen};
use super::services_ui::{link_photo, plan_of, LinkMessage};
use super::shop_screens::{button, home_button};
use super::{format, tips};
use crate::notices::Notice;
use crate::services;
use crate::Result;

/// What to send for a notice.
pub enum Outgoing {
    Text(Screen),
    Photo(Photo),
    /// A link (QR photo), then the import tips.
    Link {
        link: LinkMessage,
        then: Screen,
    },
}

fn money(minor: i64, currency: &str) -> Money {
    Money::new(
        minor,
        Currency::from_code(currency).unwrap_or(Currency::Toman),
    )
}

/// The message for `notice`; `None` when there is nothing to tell any more (the service it
/// is about is gone).
pub async fn render(
    db: &Db,
    t: &Catalog,
    locale: Locale,
    notice: &Notice,
) -> Result<Option<Outgoing>> {
    let text = |key: &str, args: &[(&str, Arg)]| t.text_html(locale, key, args);
    let screen = match notice {
        Notice::Delivered { service_id, .. } => {
            let Some(service) = services::get(db, service_id).await? else {
                return Ok(None);
            };
            let plan = plan_of(db, &service).await?;
            let link = link_photo(t, locale, &service, plan.as_ref(), "delivered_title");
            let then = tips::screen(t, locale, &service.id);
            return Ok(Some(Outgoing::Link { link, then }));
        }
        Notice::Applied { service_id, .. } => {
            let Some(service) = services::get(db, service_id).await? else {
                return Ok(None);
            };
            let plan = plan_of(db, &service).await?;
            let name = format::service_name(t, locale, &service, plan.as_ref());
            Screen::text(text("notice.applied", &[("name", Arg::Text(&name))])).with_row(vec![
                button(
                    t,
                    locale,
                    "button_service",
                    Page::Service(service.id.clone()),
                ),
            ])
        }
        Notice::Refunded {
            amount_minor,
            currency,
            ..
        } => Screen::text(text(
            "notice.refunded",
            &[("amount", Arg::Money(money(*amount_minor, currency)))],
        ))
        .with_row(vec![button(t, locale, "button_wallet", Page::Wallet)]),
        Notice::OrderFailed {
            order_id,
            telegram_id,
            error,
        } => Screen::text(text(
            "notice.order_failed",
            &[
                ("order", Arg::Code(order_id)),
                ("user", Arg::Code(&telegram_id.to_string())),
                ("error", Arg::Text(error)),
            ],
        )),
        Notice::ExpiryReminder { service_id, days } => {
            let Some(service) = services::get(db, service_id).await? else {
                return Ok(None);
            };
            let plan = plan_of(db, &service).await?;
            let name = format::service_name(t, locale, &service, plan.as_ref());
            let date = service.expire_at.unwrap_or_default();
            Screen::text(text(
                "notice.expiry_reminder",
                &[
                    ("name", Arg::Text(&name)),
                    ("days", Arg::Number(*days)),
                    ("date", Arg::Date(date)),
                ],
            ))
            .with_row(vec![button(
                t,
                locale,
                "button_service",
                Page::Service(service.id.clone()),
            )])
        }
        Notice::DataReminder {
            service_id,
            percent,
        } => {
            let Some(service) = services::get(db, service_id).await? else {
                return Ok(None);
            };
            let plan = plan_of(db, &service).await?;
            let name = format::service_name(t, locale, &service, plan.as_ref());
            let left = service
                .data_limit_bytes
                .map(|limit| format::size(t, locale, limit - service.used_bytes))
                .unwrap_or_default();
            Screen::text(text(
                "notice.data_reminder",
                &[
                    ("name", Arg::Text(&name)),
                    ("percent", Arg::Number(*percent)),
                    ("left", Arg::Text(&left)),
                ],
            ))
            .with_row(vec![button(
                t,
                locale,
                "button_service",
                Page::Service(service.id.clone()),
            )])
        }
        Notice::PanelDown { panel, reason } => Screen::text(text(
            "notice.panel_down",
            &[("panel", Arg::Text(panel)), ("reason", Arg::Text(reason))],
        )),
        Notice::PanelUp { panel } => {
            Screen::text(text("notice.panel_up", &[("panel", Arg::Text(panel))]))
        }
        Notice::EndUserLimitReached { limit } => Screen::text(text(
            "notice.end_user_limit",
            &[("limit", Arg::Number(*limit))],
        )),
        Notice::PanelLimitReached { limit } => Screen::text(text(
            "notice.panel_limit",
            &[("limit", Arg::Number(*limit))],
        )),
        Notice::ReceiptToReview { payment_id } => {
            let Some(payment) = crate::payments::get(db, payment_id).await? else {
                return Ok(None);
            };
            let screen = pay_screens::receipt(t, locale, &payment);
            return Ok(Some(match payment.receipt_file_id {
                Some(file_id) => Outgoing::Photo(Photo {
                    image: Image::FileId(file_id),
                    caption: screen.text,
                    keyboard: screen.keyboard,
                }),
                None => Outgoing::Text(screen),
            }));
        }
        Notice::PaymentCredited {
            amount_minor,
            currency,
            ..
        } => Screen::text(text(
            "notice.payment_credited",
            &[("amount", Arg::Money(money(*amount_minor, currency)))],
        ))
        .with_row(vec![button(t, locale, "button_wallet", Page::Wallet)]),
        Notice::PaymentMismatch {
            payment_id,
            telegram_id,
            detail,
        } => Screen::text(text(
            "notice.payment_mismatch",
            &[
                ("payment", Arg::Code(payment_id)),
                ("user", Arg::Code(&telegram_id.to_string())),
                ("detail", Arg::Text(detail)),
            ],
        )),
        Notice::PaymentRejected { reason, .. } => Screen::text(text(
            "notice.payment_rejected",
            &[("reason", Arg::Text(reason))],
        ))
        .with_row(vec![home_button(t, locale)]),
    };
    Ok(Some(Outgoing::Text(screen)))
}
