//! Checkout: billing meets the payment gateways. Starting a payment, and turning what a
//! gateway reports (a Zarinpal callback, a NowPayments IPN, a Stars payment, a staff decision
//! on a card receipt) into an exactly-once `payments::confirm`, then telling the people
//! concerned through the outbox.

use serde_json::json;
use shared::config::MasterConfig;
use shared::db::Db;
use shared::money::{Currency, Money};
use shared::payment::card::{AutoApprove, CardToCardGateway};
use shared::payment::nowpayments::{NowPaymentsConfig, NowPaymentsGateway};
use shared::payment::zarinpal::{self, ZarinpalConfig, ZarinpalGateway};
use shared::payment::{CardAccount, Checkout, Gateway, PaymentRequest, PendingPayment, Verdict};

use crate::billing::orders::Invoice;
use crate::billing::payments::{self, Method, Outcome, Payment, PaymentStatus};
use crate::outbox::{self, args, Channel, NewMessage};
use crate::{tenants, Error, Result};

/// The payment methods this platform offers, from its configuration.
pub struct Gateways {
    pub card: Option<CardToCardGateway>,
    pub auto_approve: AutoApprove,
    pub zarinpal: Option<ZarinpalGateway>,
    pub nowpayments: Option<NowPaymentsGateway>,
    pub stars: bool,
    pub public_url: url::Url,
}

impl Gateways {
    pub fn from_config(config: &MasterConfig) -> Result<Gateways> {
        let p = &config.payments;
        let card = if p.cards.is_empty() {
            None
        } else {
            Some(
                CardToCardGateway::new(p.cards.clone())
                    .map_err(|e| Error::Payment(e.to_string()))?,
            )
        };
        let zarinpal = match &p.zarinpal {
            Some((merchant, base)) => Some(
                ZarinpalGateway::new(ZarinpalConfig::new(merchant.clone(), base.clone()))
                    .map_err(|e| Error::Payment(e.to_string()))?,
            ),
            None => None,
        };
        let nowpayments = match &p.nowpayments {
            Some((key, secret, base)) => Some(
                NowPaymentsGateway::new(NowPaymentsConfig::new(
                    key.clone(),
                    secret.clone(),
                    base.clone(),
                ))
                .map_err(|e| Error::Payment(e.to_string()))?,
            ),
            None => None,
        };
        Ok(Gateways {
            card,
            auto_approve: match p.card_auto_approve_minutes {
                Some(minutes) if minutes > 0 => AutoApprove::After { minutes },
                _ => AutoApprove::Off,
            },
            zarinpal,
            nowpayments,
            stars: p.stars,
            public_url: config.public_url.clone(),
        })
    }

    /// The methods on offer, with the currency each is paid in, in display order.
    pub fn offered(&self) -> Vec<(Method, Currency)> {
        let mut methods = Vec::new();
        if self.card.is_some() {
            methods.push((Method::Card, Currency::Toman));
        }
        if self.zarinpal.is_some() {
            methods.push((Method::Zarinpal, Currency::Toman));
        }
        if self.nowpayments.is_some() {
            methods.push((Method::NowPayments, Currency::Usd));
        }
        if self.stars {
            methods.push((Method::Stars, Currency::Xtr));
        }
        methods
    }

    fn url(&self, path: &str) -> String {
        let mut url = self.public_url.clone();
        url.set_path(path);
        url.to_string()
    }
}

pub const ZARINPAL_CALLBACK_PATH: &str = "/payments/zarinpal/callback";
pub const NOWPAYMENTS_IPN_PATH: &str = "/payments/nowpayments/ipn";

/// What the buyer is shown to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckoutView {
    Card {
        payment_id: String,
        card: CardAccount,
        amount: Money,
    },
    Redirect {
        url: String,
        amount: Money,
    },
    /// The bot sends a Stars invoice whose payload is the payment's id.
    Stars {
        payment_id: String,
        amount: Money,
    },
    Settled(Outcome),
}

/// Starts paying `invoice` with `method`.
pub async fn begin(
    db: &Db,
    gateways: &Gateways,
    now: i64,
    invoice: &Invoice,
    method: Method,
    description: &str,
) -> Result<CheckoutView> {
    if method == Method::Wallet {
        let outcome = payments::pay_from_wallet(db, now, &invoice.id).await?;
        after(db, now, &invoice.id, &outcome).await?;
        return Ok(CheckoutView::Settled(outcome));
    }
    let payment = payments::open(db, now, &invoice.id, method).await?;
    let request = PaymentRequest {
        return_url: Some(gateways.url(ZARINPAL_CALLBACK_PATH)),
        notify_url: Some(gateways.url(NOWPAYMENTS_IPN_PATH)),
        customer_ref: Some(format!("customer:{}", invoice.customer_id)),
        ..PaymentRequest::new(&payment.id, invoice.amount, description)
    };
    let gateway: &dyn Gateway = match method {
        Method::Card => {
            let card = gateways
                .card
                .as_ref()
                .ok_or_else(|| Error::Payment("card-to-card is not configured".into()))?
                .card_for(&invoice.id)
                .clone();
            return Ok(CheckoutView::Card {
                payment_id: payment.id,
                card,
                amount: invoice.amount,
            });
        }
        Method::Stars => {
            return Ok(CheckoutView::Stars {
                payment_id: payment.id,
                amount: invoice.amount,
            })
        }
        Method::Zarinpal => gateways
            .zarinpal
            .as_ref()
            .map(|g| g as &dyn Gateway)
            .ok_or_else(|| Error::Payment("Zarinpal is not configured".into()))?,
        Method::NowPayments => gateways
            .nowpayments
            .as_ref()
            .map(|g| g as &dyn Gateway)
            .ok_or_else(|| Error::Payment("NowPayments is not configured".into()))?,
        Method::Wallet => return Err(Error::Corrupt("wallet handled above".into())),
    };
    match gateway
        .start(&request)
        .await
        .map_err(|e| Error::Payment(e.to_string()))?
    {
        Checkout::Redirect { url, provider_ref } => {
            payments::set_provider_ref(db, now, &payment.id, &provider_ref).await?;
            Ok(CheckoutView::Redirect {
                url,
                amount: invoice.amount,
            })
        }
        other => Err(Error::Payment(format!("unexpected checkout {other:?}"))),
    }
}

/// What a gateway callback did, for the page the buyer's browser lands on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackResult {
    Paid,
    AlreadyPaid,
    Failed,
    Pending,
    /// Money arrived that does not match: staff look at it.
    Mismatch,
    Unknown,
}

/// The buyer's browser came back from Zarinpal.
pub async fn zarinpal_callback(
    db: &Db,
    gateways: &Gateways,
    now: i64,
    query: &str,
) -> Result<CallbackResult> {
    let Some(gateway) = &gateways.zarinpal else {
        return Ok(CallbackResult::Unknown);
    };
    let callback = match zarinpal::parse_callback(query) {
        Ok(callback) => callback,
        Err(e) => {
            tracing::warn!(error = %e, "a Zarinpal callback that does not parse");
            return Ok(CallbackResult::Unknown);
        }
    };
    let Some(payment) =
        payments::by_provider_ref(db, Method::Zarinpal, &callback.authority).await?
    else {
        tracing::warn!("a Zarinpal callback for an authority we never issued");
        return Ok(CallbackResult::Unknown);
    };
    if !callback.status_ok {
        payments::close(
            db,
            now,
            &payment.id,
            PaymentStatus::Failed,
            "cancelled at Zarinpal",
            None,
        )
        .await?;
        return Ok(CallbackResult::Failed);
    }
    let pending = PendingPayment {
        invoice_id: payment.id.clone(),
        amount: payment.amount,
        provider_ref: Some(callback.authority),
    };
    let verdict = gateway
        .verify(&pending)
        .await
        .map_err(|e| Error::Payment(e.to_string()))?;
    apply_verdict(db, now, &payment, verdict).await
}

/// NowPayments posted an IPN. Unsigned or badly signed ones are refused (and logged).
pub async fn nowpayments_ipn(
    db: &Db,
    gateways: &Gateways,
    now: i64,
    body: &[u8],
    signature: Option<&str>,
) -> Result<Option<CallbackResult>> {
    let Some(gateway) = &gateways.nowpayments else {
        return Ok(None);
    };
    let event = match gateway.verify_ipn(body, signature) {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!(error = %e, "a NowPayments IPN was refused");
            return Ok(None);
        }
    };
    let Some(order_id) = event.order_id.clone() else {
        return Ok(Some(CallbackResult::Unknown));
    };
    let Some(payment) = payments::get(db, &order_id).await? else {
        tracing::warn!(%order_id, "a NowPayments IPN for a payment we do not know");
        return Ok(Some(CallbackResult::Unknown));
    };
    let pending = PendingPayment {
        invoice_id: payment.id.clone(),
        amount: payment.amount,
        provider_ref: Some(event.payment_id.clone()),
    };
    let verdict = event
        .verdict(&pending)
        .map_err(|e| Error::Payment(e.to_string()))?;
    apply_verdict(db, now, &payment, verdict).await.map(Some)
}

/// A Stars payment arrived in the bot.
pub async fn stars_paid(
    db: &Db,
    now: i64,
    payment_id: &str,
    charge_id: &str,
    amount: Money,
) -> Result<CallbackResult> {
    let Some(payment) = payments::get(db, payment_id).await? else {
        return Ok(CallbackResult::Unknown);
    };
    // The charge id is what a refund needs; store it before anything else.
    payments::set_provider_ref(db, now, &payment.id, charge_id).await?;
    let verdict = if amount == payment.amount {
        Verdict::Paid {
            provider_ref: charge_id.to_string(),
            amount,
            already_verified: false,
            reference: Some(charge_id.to_string()),
        }
    } else {
        Verdict::Mismatch {
            provider_ref: charge_id.to_string(),
            expected: payment.amount,
            got: Some(amount),
        }
    };
    apply_verdict(db, now, &payment, verdict).await
}

/// Staff approved a card receipt (or it was auto-approved).
pub async fn approve_receipt(db: &Db, now: i64, payment_id: &str, staff: &str) -> Result<Outcome> {
    let payment = payments::get(db, payment_id)
        .await?
        .ok_or_else(|| Error::Corrupt(format!("approval of unknown payment {payment_id}")))?;
    let outcome = payments::confirm(db, now, &payment.id, payment.amount, Some(staff)).await?;
    after(db, now, &payment.invoice_id, &outcome).await?;
    Ok(outcome)
}

/// Staff rejected a card receipt; the buyer is told why.
pub async fn reject_receipt(
    db: &Db,
    now: i64,
    payment_id: &str,
    staff: &str,
    reason: &str,
) -> Result<bool> {
    let Some(payment) = payments::get(db, payment_id).await? else {
        return Ok(false);
    };
    let rejected = payments::close(
        db,
        now,
        &payment.id,
        PaymentStatus::Rejected,
        reason,
        Some(staff),
    )
    .await?;
    if rejected {
        let message = NewMessage {
            key: format!("telegram:receipt_rejected:{}", payment.id),
            channel: Channel::Telegram,
            recipient: &payment.customer_id,
            template: "receipt_rejected",
            args: args([
                ("reason", json!(reason)),
                ("amount_minor", json!(payment.amount.minor())),
            ]),
        };
        outbox::enqueue(db.pool(), &message, now).await?;
    }
    Ok(rejected)
}

/// Approves receipts nobody decided within the configured time. Safe to run twice.
pub async fn auto_approve_due(db: &Db, gateways: &Gateways, now: i64) -> Result<usize> {
    if gateways.auto_approve == AutoApprove::Off {
        return Ok(0);
    }
    let mut approved = 0;
    for payment in payments::with_status(db, PaymentStatus::InReview).await? {
        let submitted = payments::reviewed_since(db, &payment.id).await?;
        if payment.method == Method::Card && gateways.auto_approve.is_due(submitted, now) {
            if let Outcome::Applied { .. } =
                approve_receipt(db, now, &payment.id, "auto-approve").await?
            {
                approved += 1;
            }
        }
    }
    Ok(approved)
}

async fn apply_verdict(
    db: &Db,
    now: i64,
    payment: &Payment,
    verdict: Verdict,
) -> Result<CallbackResult> {
    let received = match &verdict {
        Verdict::Pending => return Ok(CallbackResult::Pending),
        Verdict::Failed { reason } => {
            payments::close(db, now, &payment.id, PaymentStatus::Failed, reason, None).await?;
            return Ok(CallbackResult::Failed);
        }
        Verdict::Paid { amount, .. } => *amount,
        Verdict::PartiallyPaid { paid, .. } | Verdict::Mismatch { got: paid, .. } => match paid {
            Some(money) => *money,
            None => {
                let detail = "the provider reports a different amount without saying how much";
                payments::flag_mismatch(db, now, &payment.id, detail).await?;
                let outcome = Outcome::Mismatch {
                    expected: payment.amount,
                    got: Money::zero(payment.amount.currency()),
                };
                after(db, now, &payment.invoice_id, &outcome).await?;
                return Ok(CallbackResult::Mismatch);
            }
        },
    };
    let outcome = payments::confirm(db, now, &payment.id, received, None).await?;
    after(db, now, &payment.invoice_id, &outcome).await?;
    Ok(match outcome {
        Outcome::Applied { .. } => CallbackResult::Paid,
        Outcome::AlreadyApplied => CallbackResult::AlreadyPaid,
        Outcome::Mismatch { .. } => CallbackResult::Mismatch,
        Outcome::Closed { .. } => CallbackResult::Failed,
    })
}

/// Tells the customer and staff what a payment did, and starts onboarding for a new bot.
pub async fn after(db: &Db, now: i64, invoice_id: &str, outcome: &Outcome) -> Result<()> {
    let Some(invoice) = crate::billing::orders::invoice(db, invoice_id).await? else {
        return Ok(());
    };
    let customer = invoice.customer_id.as_str();
    let amount = json!(invoice.amount.minor());
    let currency = json!(invoice.amount.currency().as_code());
    let mut messages = Vec::new();
    match outcome {
        Outcome::Applied {
            invoice_paid: true,
            subscription_id,
            ..
        } => {
            messages.push((
                Channel::Telegram,
                customer,
                "payment_received",
                format!("paid:{invoice_id}"),
            ));
            messages.push((
                Channel::Email,
                customer,
                "payment_received",
                format!("paid:{invoice_id}"),
            ));
            messages.push((
                Channel::Staff,
                "",
                "staff_payment_applied",
                format!("paid:{invoice_id}"),
            ));
            if let Some(subscription_id) = subscription_id {
                for tenant in tenants::of_customer(db, customer).await? {
                    if &tenant.subscription_id == subscription_id && !tenant.is_onboarded() {
                        let key = format!("onboarding:{}", tenant.id);
                        messages.push((Channel::Telegram, customer, "onboarding_ask_token", key));
                    }
                }
            }
        }
        Outcome::Applied {
            credited_to_wallet: true,
            ..
        } => {
            messages.push((
                Channel::Telegram,
                customer,
                "payment_credited",
                format!("credited:{invoice_id}"),
            ));
        }
        Outcome::Mismatch { got, .. } => {
            let key = format!("mismatch:{invoice_id}:{}", got.minor());
            messages.push((Channel::Telegram, customer, "payment_mismatch", key.clone()));
            messages.push((Channel::Staff, "", "staff_payment_mismatch", key));
        }
        _ => {}
    }
    for (channel, recipient, template, key) in messages {
        let message = NewMessage {
            key: format!("{}:{key}:{template}", channel.as_str()),
            channel,
            recipient,
            template,
            args: args([
                ("amount_minor", amount.clone()),
                ("currency", currency.clone()),
                ("invoice", json!(invoice_id)),
                ("customer", json!(customer)),
            ]),
        };
        outbox::enqueue(db.pool(), &message, now).await?;
    }
    Ok(())
}
