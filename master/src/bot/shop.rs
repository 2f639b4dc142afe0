//! Buying in the master bot: periods, payment methods with their prices, coupons, checkout
//! (card receipt, gateway link, Telegram Stars, wallet), cancelling, renewing, "My bots".

use serde_json::json;
use shared::money::{Currency, Money};
use shared::payment::stars::{self, StarsInvoice};
use shared::payment::PendingPayment;
use shared::telegram::screen::CallbackData;
use teloxide::types::{CallbackQuery, ChatId, PreCheckoutQuery, SuccessfulPayment};

use super::actions::{Action, OnboardingChoice};
use super::conversation::{self, Waiting};
use super::handler::MasterBot;
use super::screens::{self, BotRow, Buying, Screen};
use crate::billing::coupons;
use crate::billing::orders::{self, OrderKind, OrderRequest};
use crate::billing::packages::{self, Package};
use crate::billing::payments::{self, Method, PaymentStatus};
use crate::billing::subscriptions::{self, Status, Subscription};
use crate::billing::{wallet, Refusal};
use crate::checkout::{self, CheckoutView};
use crate::customers::Customer;
use crate::outbox::{self, args, Channel, NewMessage};
use crate::{tenants, Result};
use shared::i18n::Locale;

fn currency_of(method: Method) -> Currency {
    match method {
        Method::NowPayments => Currency::Usd,
        Method::Stars => Currency::Xtr,
        Method::Card | Method::Zarinpal | Method::Wallet => Currency::Toman,
    }
}

impl MasterBot {
    pub(super) async fn periods_new(&self, locale: Locale, code: &str) -> Result<Option<Screen>> {
        let Some(package) = packages::on_sale_by_code(&self.inner.db, code).await? else {
            return Ok(None);
        };
        let choices = period_prices(&package);
        Ok(Some(screens::periods(
            &self.inner.texts,
            locale,
            package.name(locale),
            &choices,
            Buying::New { package: code },
        )))
    }

    pub(super) async fn methods_new(
        &self,
        locale: Locale,
        customer: &Customer,
        code: &str,
        months: i64,
    ) -> Result<Option<Screen>> {
        let Some(package) = packages::on_sale_by_code(&self.inner.db, code).await? else {
            return Ok(None);
        };
        let mut priced: Vec<(Method, Money)> = self
            .inner
            .services
            .gateways
            .offered()
            .into_iter()
            .filter_map(|(method, currency)| package.price(months, currency).map(|p| (method, p)))
            .collect();
        if let Some(price) = package.price(months, Currency::Toman) {
            let balance = wallet::balance(&self.inner.db, &customer.id, Currency::Toman).await?;
            if balance.minor() >= price.minor() && price.minor() > 0 {
                priced.push((Method::Wallet, price));
            }
        }
        let coupon = match self.waiting_for(customer).await? {
            Some(Waiting::CouponReady {
                package: for_package,
                months: for_months,
                code: coupon,
            }) if for_package == code && for_months == months => Some(coupon),
            _ => None,
        };
        Ok(Some(screens::methods(
            &self.inner.texts,
            locale,
            package.name(locale),
            months,
            &priced,
            coupon.as_deref(),
            Buying::New { package: code },
        )))
    }

    async fn waiting_for(&self, customer: &Customer) -> Result<Option<Waiting>> {
        match customer.telegram_id {
            Some(id) => conversation::get(&self.inner.db, id.get()).await,
            None => Ok(None),
        }
    }

    async fn owned_subscription(
        &self,
        customer: &Customer,
        id: &str,
    ) -> Result<Option<(Subscription, Package)>> {
        let Some(sub) = subscriptions::owned(&self.inner.db, id, &customer.id).await? else {
            return Ok(None);
        };
        let terms = sub.next_terms.as_ref().unwrap_or(&sub.terms);
        let Some(package) = packages::by_code(&self.inner.db, &terms.package_code).await? else {
            return Ok(None);
        };
        Ok(Some((sub, package)))
    }

    /// The price of renewing for `months`: what was bought keeps its price.
    fn renewal_price(sub: &Subscription, package: &Package, months: i64) -> Option<Money> {
        let terms = sub.next_terms.as_ref().unwrap_or(&sub.terms);
        if terms.period_months == months {
            terms.price().ok()
        } else {
            package.price(months, sub.currency)
        }
    }

    pub(super) async fn periods_renew(
        &self,
        locale: Locale,
        customer: &Customer,
        sub_id: &str,
    ) -> Result<Option<Screen>> {
        let Some((sub, package)) = self.owned_subscription(customer, sub_id).await? else {
            return Ok(None);
        };
        let mut months: Vec<i64> = package.prices.iter().map(|p| p.period_months).collect();
        months.sort_unstable();
        months.dedup();
        let choices: Vec<(i64, Money)> = months
            .into_iter()
            .filter_map(|m| Self::renewal_price(&sub, &package, m).map(|p| (m, p)))
            .collect();
        Ok(Some(screens::periods(
            &self.inner.texts,
            locale,
            package.name(locale),
            &choices,
            Buying::Renew {
                subscription: sub_id,
            },
        )))
    }

    pub(super) async fn methods_renew(
        &self,
        locale: Locale,
        customer: &Customer,
        sub_id: &str,
        months: i64,
    ) -> Result<Option<Screen>> {
        let Some((sub, package)) = self.owned_subscription(customer, sub_id).await? else {
            return Ok(None);
        };
        let Some(price) = Self::renewal_price(&sub, &package, months) else {
            return Ok(None);
        };
        let mut priced: Vec<(Method, Money)> = self
            .inner
            .services
            .gateways
            .offered()
            .into_iter()
            .filter(|(_, currency)| *currency == sub.currency)
            .map(|(method, _)| (method, price))
            .collect();
        let balance = wallet::balance(&self.inner.db, &customer.id, sub.currency).await?;
        if balance.minor() >= price.minor() {
            priced.push((Method::Wallet, price));
        }
        Ok(Some(screens::methods(
            &self.inner.texts,
            locale,
            package.name(locale),
            months,
            &priced,
            None,
            Buying::Renew {
                subscription: sub_id,
            },
        )))
    }

    pub(super) async fn my_bots(&self, locale: Locale, customer: &Customer) -> Result<Screen> {
        let db = &self.inner.db;
        let tenants = tenants::of_customer(db, &customer.id).await?;
        let mut rows = Vec::new();
        for sub in subscriptions::for_customer(db, &customer.id).await? {
            if sub.status == Status::Deleted {
                continue;
            }
            let bot = tenants
                .iter()
                .find(|t| t.subscription_id == sub.id)
                .and_then(|t| t.bot_username.clone())
                .map(|name| format!("@{name}"));
            let package = match locale {
                Locale::Fa => sub.terms.name_fa.clone(),
                Locale::En => sub.terms.name_en.clone(),
            };
            rows.push(BotRow {
                subscription_id: sub.id.clone(),
                bot,
                package,
                status_key: screens::status_key(sub.status),
                ends_at: sub.current_period_end,
                renewable: sub.status != Status::Cancelled,
            });
        }
        Ok(screens::my_bots(&self.inner.texts, locale, &rows))
    }

    pub(super) async fn on_shop_action(
        &self,
        query: &CallbackQuery,
        customer: &Customer,
        locale: Locale,
        action: Action,
    ) -> Result<()> {
        let chat = ChatId(query.from.id.0 as i64);
        match action {
            Action::Pay(code, months, method) => {
                let coupon = match self.waiting_for(customer).await? {
                    Some(Waiting::CouponReady {
                        package,
                        months: m,
                        code: coupon,
                    }) if package == code && m == months => Some(coupon),
                    _ => None,
                };
                let request = OrderRequest {
                    customer_id: customer.id.clone(),
                    kind: OrderKind::New,
                    package_code: code.clone(),
                    period_months: months,
                    currency: currency_of(method),
                    coupon,
                    subscription_id: None,
                };
                self.place_and_pay(query, customer, locale, request, method)
                    .await
            }
            Action::RenewPay(sub_id, months, method) => {
                let Some((sub, package)) = self.owned_subscription(customer, &sub_id).await? else {
                    return self
                        .refused_or(chat, locale, Refusal::NoSubscription.into())
                        .await;
                };
                let request = OrderRequest {
                    customer_id: customer.id.clone(),
                    kind: OrderKind::Renew,
                    package_code: package.code.clone(),
                    period_months: months,
                    currency: sub.currency,
                    coupon: None,
                    subscription_id: Some(sub_id),
                };
                self.place_and_pay(query, customer, locale, request, method)
                    .await
            }
            Action::UpgradePay(sub_id, code, method) => {
                let Some(sub) = subscriptions::owned(&self.inner.db, &sub_id, &customer.id).await?
                else {
                    return self
                        .refused_or(chat, locale, Refusal::NoSubscription.into())
                        .await;
                };
                let request = super::manage::upgrade_request(customer, &sub, &code);
                self.place_and_pay(query, customer, locale, request, method)
                    .await
            }
            Action::Downgrade(sub_id, code) => {
                self.downgrade(query, customer, locale, &sub_id, &code)
                    .await
            }
            Action::CancelAtEnd(sub_id, cancel) => {
                let owned = subscriptions::owned(&self.inner.db, &sub_id, &customer.id)
                    .await?
                    .is_some();
                if owned {
                    subscriptions::cancel_at_period_end(
                        &self.inner.db,
                        &sub_id,
                        cancel,
                        self.now(),
                    )
                    .await?;
                }
                match self.bot_detail(locale, customer, &sub_id).await? {
                    Some(screen) => self.show_on(query, &screen).await,
                    None => Ok(()),
                }
            }
            Action::Trial(code) => {
                let db = &self.inner.db;
                let Some(package) = packages::on_sale_by_code(db, &code).await? else {
                    return self
                        .refused_or(chat, locale, Refusal::PackageNotOnSale.into())
                        .await;
                };
                match subscriptions::start_trial(db, self.now(), &customer.id, &package).await {
                    Ok(_) => {
                        let t = &self.inner.texts;
                        self.send(chat, &screens::notice(t, locale, "trial_started"))
                            .await?;
                        let prompt = crate::tenants::onboarding::Prompt::first();
                        self.send(chat, &screens::onboarding(t, locale, &prompt))
                            .await
                    }
                    Err(e) => self.refused_or(chat, locale, e).await,
                }
            }
            Action::Coupon(code, months) => {
                conversation::set(
                    &self.inner.db,
                    chat.0,
                    &Waiting::CouponCode {
                        package: code,
                        months,
                    },
                    self.now(),
                )
                .await?;
                self.send(
                    chat,
                    &screens::notice(&self.inner.texts, locale, "coupon_ask"),
                )
                .await
            }
            Action::CancelPayment(payment_id) => {
                self.cancel_payment(query, customer, locale, &payment_id)
                    .await
            }
            Action::Onboarding(choice) => {
                self.onboarding_choice(query, customer, locale, choice)
                    .await
            }
            _ => Ok(()),
        }
    }

    async fn place_and_pay(
        &self,
        query: &CallbackQuery,
        customer: &Customer,
        locale: Locale,
        request: OrderRequest,
        method: Method,
    ) -> Result<()> {
        let chat = ChatId(query.from.id.0 as i64);
        let db = &self.inner.db;
        let now = self.now();
        let (order, invoice) = match orders::place(db, now, &request).await {
            Ok(placed) => placed,
            Err(e) => return self.refused_or(chat, locale, e).await,
        };
        if request.coupon.is_some() {
            conversation::clear(db, chat.0).await?;
        }
        let notice = NewMessage {
            key: format!("staff:new_order:{}", order.id),
            channel: Channel::Staff,
            recipient: "",
            template: "staff_new_order",
            args: args([
                ("customer_name", json!(customer.first_name)),
                ("telegram_id", json!(chat.0.to_string())),
                ("package", json!(order.terms.name_en)),
                ("months", json!(order.period_months)),
                ("kind", json!(order.kind.as_str())),
                ("amount_minor", json!(invoice.amount.minor())),
                ("currency", json!(invoice.amount.currency().as_code())),
            ]),
        };
        outbox::enqueue(db.pool(), &notice, now).await?;
        if invoice.status == orders::InvoiceStatus::Paid {
            // Nothing to pay (a full coupon): the outbox tells the rest.
            checkout::after(
                db,
                now,
                &invoice.id,
                &payments::Outcome::Applied {
                    invoice_paid: true,
                    credited_to_wallet: false,
                    subscription_id: None,
                },
            )
            .await?;
            return self
                .show_on(query, &self.my_bots(locale, customer).await?)
                .await;
        }
        let name = match locale {
            Locale::Fa => order.terms.name_fa.clone(),
            Locale::En => order.terms.name_en.clone(),
        };
        let description = format!(
            "Madar {} — {} month(s)",
            order.terms.name_en, order.period_months
        );
        let view = match checkout::begin(
            db,
            &self.inner.services.gateways,
            now,
            &invoice,
            method,
            &description,
        )
        .await
        {
            Ok(view) => view,
            Err(e) => return self.refused_or(chat, locale, e).await,
        };
        let t = &self.inner.texts;
        match view {
            CheckoutView::Card {
                payment_id,
                card,
                amount,
            } => {
                conversation::set(
                    db,
                    chat.0,
                    &Waiting::Receipt {
                        payment_id: payment_id.clone(),
                    },
                    now,
                )
                .await?;
                self.show_on(
                    query,
                    &screens::checkout_card(t, locale, &payment_id, &card, amount),
                )
                .await
            }
            CheckoutView::Redirect { url, amount } => {
                self.show_on(query, &screens::checkout_redirect(t, locale, &url, amount))
                    .await
            }
            CheckoutView::Stars { payment_id, amount } => {
                let title = t.text(
                    locale,
                    "stars_title",
                    &[("name", shared::i18n::Arg::Text(&name))],
                );
                let description = t.text(
                    locale,
                    "stars_description",
                    &[
                        ("name", shared::i18n::Arg::Text(&name)),
                        ("months", shared::i18n::Arg::Number(order.period_months)),
                    ],
                );
                let title: String = title.chars().take(32).collect();
                let invoice = StarsInvoice::new(&title, &description, &payment_id, amount)
                    .map_err(|e| crate::Error::Payment(e.to_string()))?;
                invoice
                    .send(&self.inner.bot, chat)
                    .await
                    .map_err(|e| crate::Error::Payment(e.to_string()))?;
                Ok(())
            }
            CheckoutView::Settled(_) => {
                self.show_on(query, &self.my_bots(locale, customer).await?)
                    .await
            }
        }
    }

    async fn cancel_payment(
        &self,
        query: &CallbackQuery,
        customer: &Customer,
        locale: Locale,
        payment_id: &str,
    ) -> Result<()> {
        let db = &self.inner.db;
        let now = self.now();
        if let Some(payment) = payments::get(db, payment_id).await? {
            if payment.customer_id == customer.id && payment.applied_at.is_none() {
                payments::close(
                    db,
                    now,
                    &payment.id,
                    PaymentStatus::Failed,
                    "cancelled by the customer",
                    None,
                )
                .await?;
                orders::cancel(db, &payment.invoice_id, &customer.id, now).await?;
            }
        }
        conversation::clear(db, query.from.id.0 as i64).await?;
        self.show_on(
            query,
            &screens::notice(&self.inner.texts, locale, "payment_cancelled"),
        )
        .await
    }

    pub(super) async fn on_coupon_code(
        &self,
        customer: &Customer,
        locale: Locale,
        chat: ChatId,
        package: &str,
        months: i64,
        text: &str,
    ) -> Result<()> {
        let db = &self.inner.db;
        let now = self.now();
        let refusal = match coupons::find(db, text).await? {
            None => Some(Refusal::CouponUnknown),
            Some(c) if c.expires_at.is_some_and(|at| at <= now) => Some(Refusal::CouponExpired),
            Some(c) if c.max_uses.is_some_and(|max| c.uses >= max) => Some(Refusal::CouponUsedUp),
            Some(_) => None,
        };
        if let Some(refusal) = refusal {
            conversation::clear(db, chat.0).await?;
            return self.refused_or(chat, locale, refusal.into()).await;
        }
        let code = coupons::normalize(text);
        conversation::set(
            db,
            chat.0,
            &Waiting::CouponReady {
                package: package.to_string(),
                months,
                code: code.clone(),
            },
            now,
        )
        .await?;
        let t = &self.inner.texts;
        self.send(
            chat,
            &screens::notice_with(
                t,
                locale,
                "coupon_ready",
                &[("code", shared::i18n::Arg::Code(&code))],
            ),
        )
        .await?;
        match self.methods_new(locale, customer, package, months).await? {
            Some(screen) => self.send(chat, &screen).await,
            None => Ok(()),
        }
    }

    pub(super) async fn on_receipt(
        &self,
        customer: &Customer,
        locale: Locale,
        chat: ChatId,
        payment_id: &str,
        file_id: &str,
    ) -> Result<()> {
        let db = &self.inner.db;
        let now = self.now();
        let t = &self.inner.texts;
        let Some(payment) = payments::get(db, payment_id).await? else {
            conversation::clear(db, chat.0).await?;
            return self
                .send(chat, &screens::notice(t, locale, "button_expired"))
                .await;
        };
        let card = self
            .inner
            .services
            .gateways
            .card
            .as_ref()
            .map(|g| g.card_for(&payment.invoice_id).number.digits().to_string())
            .unwrap_or_default();
        let attached = payment.customer_id == customer.id
            && payments::attach_receipt(db, now, &payment.id, file_id, &card).await?;
        conversation::clear(db, chat.0).await?;
        if !attached {
            return self
                .send(chat, &screens::notice(t, locale, "refusal_invoice"))
                .await;
        }
        let buttons = json!([[
            {"text": "✅", "data": Action::StaffApprove(payment.id.clone()).encode()},
            {"text": "❌", "data": Action::StaffReject(payment.id.clone()).encode()},
        ]]);
        let message = NewMessage {
            key: format!("staff:receipt:{}:{file_id}", payment.id),
            channel: Channel::Staff,
            recipient: "",
            template: "staff_receipt",
            args: args([
                ("customer_name", json!(customer.first_name)),
                ("telegram_id", json!(chat.0.to_string())),
                ("amount_minor", json!(payment.amount.minor())),
                ("currency", json!(payment.amount.currency().as_code())),
                ("card", json!(card)),
                ("photo", json!(file_id)),
                ("buttons", buttons),
            ]),
        };
        outbox::enqueue(db.pool(), &message, now).await?;
        self.send(chat, &screens::notice(t, locale, "receipt_received"))
            .await
    }

    /// Telegram asks before taking Stars: answer at once (it waits 10 seconds at most).
    pub(super) async fn on_pre_checkout(&self, query: PreCheckoutQuery) -> Result<()> {
        let customer = self.remember(&query.from).await?;
        let locale = customer.locale(self.inner.default_locale);
        let payment = payments::get(&self.inner.db, &query.invoice_payload).await?;
        let check = match &payment {
            Some(p)
                if p.customer_id == customer.id
                    && p.method == Method::Stars
                    && p.applied_at.is_none()
                    && p.status == PaymentStatus::Pending =>
            {
                stars::check_pre_checkout(
                    &query,
                    &PendingPayment {
                        invoice_id: p.id.clone(),
                        amount: p.amount,
                        provider_ref: None,
                    },
                )
            }
            _ => Err(stars::CheckoutRefusal::WrongPayload {
                expected: String::new(),
                got: query.invoice_payload.clone(),
            }),
        };
        stars::answer_pre_checkout(&self.inner.bot, &query, &check, locale)
            .await
            .map_err(|e| crate::Error::Payment(e.to_string()))
    }

    pub(super) async fn on_stars_paid(
        &self,
        _customer: &Customer,
        _locale: Locale,
        _chat: ChatId,
        payment: &SuccessfulPayment,
    ) -> Result<()> {
        let paid = stars::parse_successful_payment(payment)
            .map_err(|e| crate::Error::Payment(e.to_string()))?;
        checkout::stars_paid(
            &self.inner.db,
            self.now(),
            &paid.payload,
            &paid.charge_id,
            paid.amount,
        )
        .await?;
        Ok(())
    }

    async fn onboarding_choice(
        &self,
        query: &CallbackQuery,
        customer: &Customer,
        locale: Locale,
        choice: OnboardingChoice,
    ) -> Result<()> {
        use crate::tenants::onboarding::Input;
        use shared::panel::PanelKind;
        let input = match choice {
            OnboardingChoice::ItsMe => Input::ItsMe,
            OnboardingChoice::Skip => Input::Skip,
            OnboardingChoice::Marzban => Input::Kind(PanelKind::Marzban),
            OnboardingChoice::Xui => Input::Kind(PanelKind::Xui),
        };
        let chat = ChatId(query.from.id.0 as i64);
        self.onboarding_step(customer, locale, chat, query.from.id.0 as i64, input, None)
            .await
            .map(|_| ())
    }
}

/// The periods a package is sold for, priced in Toman when it has a Toman price.
fn period_prices(package: &Package) -> Vec<(i64, Money)> {
    let mut months: Vec<i64> = package.prices.iter().map(|p| p.period_months).collect();
    months.sort_unstable();
    months.dedup();
    months
        .into_iter()
        .filter_map(|m| {
            package
                .price(m, Currency::Toman)
                .or_else(|| {
                    package
                        .prices
                        .iter()
                        .find(|p| p.period_months == m)
                        .map(|p| p.amount)
                })
                .map(|p| (m, p))
        })
        .collect()
}
