//! Madar's control plane: the master bot, the HTTP server, billing and (later) the web panel.

pub mod accounts;
pub mod app;
pub mod billing;
pub mod bot;
pub mod checkout;
pub mod customers;
pub mod demo;
pub mod error;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod notify;
pub mod outbox;
pub mod provisioning;
pub mod support;
pub mod tenants;
pub mod texts;

pub use error::{Error, Result};
