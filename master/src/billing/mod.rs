//! Billing: what is for sale and, later, orders, invoices and subscriptions.

pub mod packages;
