//! The tenant bot: one white-label VPN sales bot per tenant, run by the provisioner in its own
//! container with its own database. It sells VPN accounts on the tenant's panels, keeps every
//! order until it is delivered or refunded, and reports a heartbeat to the master.

pub mod admins;
pub mod app;
pub mod bot;
pub mod config;
pub mod error;
pub mod fulfil;
pub mod handler;
pub mod heartbeat;
pub mod inbox;
pub mod jobs;
pub mod master_api;
pub mod master_link;
pub mod notices;
pub mod orders;
pub mod panels;
pub mod payments;
pub mod plans;
pub mod refusal;
pub mod services;
pub mod settings;
pub mod texts;
pub mod usage;
pub mod wallet;

pub use error::{Error, Result};
