//! Library code used by more than one Madar binary, one job per module.

pub mod clock;
pub mod config;
pub mod conversation;
pub mod db;
pub mod i18n;
pub mod jalali;
pub mod money;
pub mod panel;
pub mod payment;
pub mod secret;
pub mod service;
pub mod signals;
pub mod telegram;
pub mod telemetry;
pub mod tenant_link;

#[cfg(feature = "testing")]
pub mod testdb;
