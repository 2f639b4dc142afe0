//! Billing: what is for sale, orders and their invoices, payments applied exactly once,
//! subscriptions, wallets and coupons. The core knows nothing of Telegram or HTTP.

pub mod coupons;
pub mod orders;
pub mod packages;
pub mod payments;
pub mod refusal;
pub mod subscriptions;
pub mod terms;
pub mod wallet;

pub use refusal::Refusal;

use shared::clock::DAY;

/// A billing month. VPN businesses count a month as 30 days; so do we.
pub const MONTH: i64 = 30 * DAY;
/// How long an unpaid invoice stays payable.
pub const INVOICE_TTL: i64 = DAY;
