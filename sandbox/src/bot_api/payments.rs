//! Telegram Stars: sendInvoice, createInvoiceLink, answerPreCheckoutQuery,
//! refundStarPayment. The paying user's side is the control API's `pay` route.

use serde_json::{json, Map, Value};

use super::messages::{bot_index, reply_markup, resolve_target, store_bot_message};
use super::{ApiError, ApiResult, Params};
use crate::state::{
    now_unix, random_string, AppState, CheckoutAnswer, Invoice, InvoiceLink, StoredMessage,
};

/// Most Stars one invoice may ask for.
const MAX_STARS: i64 = 10_000;

/// Checks the invoice parameters shared by sendInvoice and createInvoiceLink.
fn invoice_from(p: &Params) -> Result<Invoice, ApiError> {
    let title = p.required_str("title")?;
    if title.chars().count() > 32 {
        return Err(ApiError::bad_request("TITLE_INVALID"));
    }
    let description = p.required_str("description")?;
    if description.chars().count() > 255 {
        return Err(ApiError::bad_request("DESCRIPTION_INVALID"));
    }
    let payload = p.required_str("payload")?;
    if payload.len() > 128 {
        return Err(ApiError::bad_request("INVOICE_PAYLOAD_INVALID"));
    }
    let currency = p.required_str("currency")?;
    let provider_token = p.str("provider_token").unwrap_or_default();
    // The sandbox simulates Telegram Stars only; other currencies need a provider.
    if currency != "XTR" || !provider_token.is_empty() {
        return Err(ApiError::bad_request("PAYMENT_PROVIDER_INVALID"));
    }
    let prices = p
        .json("prices")?
        .ok_or_else(|| ApiError::bad_request("prices is empty"))?;
    let prices = prices
        .as_array()
        .ok_or_else(|| ApiError::bad_request("can't parse prices JSON object"))?;
    let [price] = prices.as_slice() else {
        return Err(ApiError::bad_request("STARS_INVOICE_INVALID"));
    };
    let amount = price["amount"]
        .as_i64()
        .or_else(|| price["amount"].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0);
    if price["label"].as_str().unwrap_or("").is_empty() || !(1..=MAX_STARS).contains(&amount) {
        return Err(ApiError::bad_request("STARS_INVOICE_INVALID"));
    }
    Ok(Invoice {
        title,
        description,
        payload,
        currency,
        total_amount: amount,
    })
}

pub fn invoice_json(invoice: &Invoice) -> Value {
    json!({
        "title": invoice.title,
        "description": invoice.description,
        "start_parameter": "",
        "currency": invoice.currency,
        "total_amount": invoice.total_amount,
    })
}

pub fn send_invoice(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let chat = p.chat_id()?;
    let invoice = invoice_from(p)?;
    let markup = reply_markup(p)?;
    if let Some(markup) = &markup {
        let first_is_pay = markup
            .inline
            .as_ref()
            .and_then(|m| m["inline_keyboard"][0][0].get("pay"))
            .and_then(Value::as_bool)
            == Some(true);
        if !first_is_pay {
            return Err(ApiError::bad_request("REPLY_MARKUP_BUY_EMPTY"));
        }
    }
    let mut world = state.world();
    let bot = bot_index(&world, token)?;
    let target = resolve_target(&world, bot, &chat)?;
    let mut content = Map::new();
    content.insert("invoice".into(), invoice_json(&invoice));
    store_bot_message(
        &state.options.limits,
        &mut world,
        bot,
        target,
        content,
        markup,
        Some(invoice),
    )
}

pub fn create_invoice_link(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let invoice = invoice_from(p)?;
    let mut world = state.world();
    let bot_id = world.bot(token).ok_or_else(ApiError::unauthorized)?.id;
    let slug = random_string(20);
    world
        .invoice_links
        .insert(slug.clone(), InvoiceLink { bot_id, invoice });
    Ok(json!(format!("https://t.me/${slug}")))
}

pub fn answer_pre_checkout_query(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let id = p
        .str("pre_checkout_query_id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("QUERY_ID_INVALID"))?;
    if !p.has("ok") {
        return Err(ApiError::bad_request("ok is empty"));
    }
    let answer = if p.bool("ok") {
        CheckoutAnswer::Ok
    } else {
        let message = p.str("error_message").unwrap_or_default();
        if message.trim().is_empty() {
            return Err(ApiError::bad_request("ERROR_MESSAGE_EMPTY"));
        }
        CheckoutAnswer::Declined(message)
    };
    let mut world = state.world();
    let bot = world.bot_mut(token).ok_or_else(ApiError::unauthorized)?;
    let waiting = bot
        .checkouts
        .remove(&id)
        .ok_or_else(|| ApiError::bad_request("QUERY_ID_INVALID"))?;
    // The payer may have given up already (timeout); the answer is then moot.
    let _ = waiting.send(answer);
    Ok(json!(true))
}

pub fn refund_star_payment(state: &AppState, token: &str, p: &Params) -> ApiResult {
    let user_id = p.required_i64("user_id", "user_id is empty")?;
    let charge_id = p.required_str("telegram_payment_charge_id")?;
    let mut world = state.world();
    let bot_id = world.bot(token).ok_or_else(ApiError::unauthorized)?.id;
    let charge = world
        .charges
        .get_mut(&charge_id)
        .filter(|c| c.bot_id == bot_id && c.user_id == user_id)
        .ok_or_else(|| ApiError::bad_request("CHARGE_NOT_FOUND"))?;
    if charge.refunded {
        return Err(ApiError::bad_request("CHARGE_ALREADY_REFUNDED"));
    }
    charge.refunded = true;
    let refunded = json!({
        "currency": "XTR",
        "total_amount": charge.amount,
        "invoice_payload": charge.payload,
        "telegram_payment_charge_id": charge.charge_id,
    });
    // Telegram posts a refunded_payment service message in the user's chat.
    let Some(user) = world.users.get(&user_id).cloned() else {
        return Ok(json!(true));
    };
    let bot = world.bot_mut(token).ok_or_else(ApiError::unauthorized)?;
    let chat = bot.chat_mut(user_id);
    let message_id = chat.next_message_id();
    let message = json!({
        "message_id": message_id,
        "from": user.to_json(),
        "chat": user.private_chat_json(),
        "date": now_unix(),
        "refunded_payment": refunded,
    });
    chat.messages.push(StoredMessage {
        message_id,
        from_bot: false,
        message: message.clone(),
        shown_markup: None,
        deleted: false,
        edited: false,
        invoice: None,
    });
    bot.push_update("message", message);
    Ok(json!(true))
}
