//! The tenant bot: one white-label VPN sales bot per tenant, run by the provisioner in its own
//! container with its own database. At this stage it greets end users with the tenant's bot
//! name and reports a heartbeat to the master; sales come next.

pub mod app;
pub mod config;
pub mod error;
pub mod handler;
pub mod heartbeat;
pub mod texts;

pub use error::{Error, Result};
