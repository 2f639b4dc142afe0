//! Starting a payment: a row first (so whatever the gateway does later finds it), then the
//! gateway's checkout, remembered on the row.

use shared::db::Db;
use shared::money::Money;
use shared::payment::card::CardAccount;
use shared::payment::stars::{StarsGateway, StarsInvoice};
use shared::payment::{self as gateway, Gateway, Method, PaymentError, PaymentRequest};

use super::setup::Gateways;
use super::store::{self, NewPayment, Payment, Status, Stored};
use super::PaymentRefusal;
use crate::orders::{self, State};
use crate::refusal::Refusal;
use crate::wallet::CURRENCY;
use crate::{Error, Result};

/// What the money is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// Add this much (Toman) to the wallet.
    TopUp(Money),
    /// Pay this order (its price goes into the wallet, then pays it).
    Order(String),
}

/// What the user is shown to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkout {
    /// Transfer `amount` to `card`, then send a photo of the receipt.
    Card {
        payment_id: String,
        card: CardAccount,
        amount: Money,
    },
    /// Open `url` and pay `amount` (Toman at Zarinpal, USD at NowPayments); the wallet gets
    /// `credit`. Zarinpal sends the buyer back to the bot, which then checks the payment.
    Redirect {
        payment_id: String,
        method: Method,
        url: String,
        amount: Money,
        credit: Money,
    },
    /// Send a Stars invoice for `amount` (XTR) whose payload is the payment id.
    Stars {
        payment_id: String,
        amount: Money,
        credit: Money,
    },
}

impl Checkout {
    pub fn payment_id(&self) -> &str {
        match self {
            Checkout::Card { payment_id, .. }
            | Checkout::Redirect { payment_id, .. }
            | Checkout::Stars { payment_id, .. } => payment_id,
        }
    }

    /// The Stars invoice to send (`StarsInvoice::send`), with the UI's title and description.
    pub fn stars_invoice(
        &self,
        title: &str,
        description: &str,
    ) -> Option<Result<StarsInvoice, PaymentError>> {
        match self {
            Checkout::Stars {
                payment_id, amount, ..
            } => Some(StarsInvoice::new(title, description, payment_id, *amount)),
            _ => None,
        }
    }
}

/// Opens a payment of `purpose` with `method` for a user.
pub async fn start(
    db: &Db,
    gateways: &Gateways,
    telegram_id: i64,
    purpose: &Purpose,
    method: Method,
    now: i64,
) -> Result<Checkout> {
    if !gateways.offers(method) {
        return Err(PaymentRefusal::MethodOff.into());
    }
    let (credit, order_id) = match purpose {
        Purpose::TopUp(amount) => {
            if amount.currency() != CURRENCY || amount.minor() <= 0 {
                return Err(PaymentRefusal::BadAmount.into());
            }
            (*amount, None)
        }
        Purpose::Order(order_id) => {
            let order = orders::of_user(db, telegram_id, order_id)
                .await?
                .filter(|o| o.state == State::Created && o.price.minor() > 0)
                .ok_or(Refusal::OrderNotPayable)?;
            (order.price, Some(order.id))
        }
    };
    let amount = gateways
        .price(method, credit)
        .ok_or(PaymentRefusal::MethodOff)?;
    let new = NewPayment {
        telegram_id,
        order_id: order_id.as_deref(),
        method,
        amount,
        credit,
    };
    let payment = store::insert(db, &new, now).await?;
    match open_at_gateway(db, gateways, &payment, now).await {
        Ok(checkout) => Ok(checkout),
        Err(e) => {
            // Never offered to the buyer: close it so nobody waits for it.
            let detail = format!("could not start: {e}");
            store::close(
                db,
                &payment.id,
                &[Status::Pending],
                Status::Failed,
                &detail,
                now,
            )
            .await?;
            Err(e)
        }
    }
}

async fn open_at_gateway(
    db: &Db,
    gateways: &Gateways,
    payment: &Payment,
    now: i64,
) -> Result<Checkout> {
    let request = PaymentRequest {
        customer_ref: Some(format!("tg:{}", payment.telegram_id)),
        return_url: Some(gateways.return_link(&payment.id)),
        notify_url: gateways.urls.nowpayments_ipn.clone(),
        // Shown by the gateway: the shop's bot and our id, nothing else about the user.
        ..PaymentRequest::new(
            &payment.id,
            payment.amount,
            format!("@{} {}", gateways.urls.bot_username, payment.id),
        )
    };
    let answer = match payment.method {
        Method::CardToCard => started(gateways.card.as_ref())?.start(&request).await?,
        Method::Zarinpal => started(gateways.zarinpal.as_ref())?.start(&request).await?,
        Method::NowPayments => {
            started(gateways.nowpayments.as_ref())?
                .start(&request)
                .await?
        }
        Method::TelegramStars => StarsGateway.start(&request).await?,
    };
    match answer {
        gateway::Checkout::CardToCard { card, amount } => {
            let stored = Stored::default();
            let number = Some(card.number.digits());
            store::set_started(db, &payment.id, None, &stored, number, now).await?;
            Ok(Checkout::Card {
                payment_id: payment.id.clone(),
                card,
                amount,
            })
        }
        gateway::Checkout::Redirect { url, provider_ref } => {
            // Zarinpal's authority is what verify needs; a NowPayments invoice id is not a
            // payment id (those come with IPNs), so it is kept aside.
            let (provider_ref, invoice_id) = match payment.method {
                Method::NowPayments => (None, Some(provider_ref)),
                _ => (Some(provider_ref), None),
            };
            let stored = Stored {
                url: Some(url.clone()),
                invoice_id,
            };
            store::set_started(db, &payment.id, provider_ref.as_deref(), &stored, None, now)
                .await?;
            Ok(Checkout::Redirect {
                payment_id: payment.id.clone(),
                method: payment.method,
                url,
                amount: payment.amount,
                credit: payment.credit,
            })
        }
        gateway::Checkout::TelegramInvoice { .. } => Ok(Checkout::Stars {
            payment_id: payment.id.clone(),
            amount: payment.amount,
            credit: payment.credit,
        }),
    }
}

fn started<G>(gateway: Option<&G>) -> Result<&G> {
    gateway.ok_or_else(|| Error::Refused(Refusal::Payment(PaymentRefusal::MethodOff)))
}
