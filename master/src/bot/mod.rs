//! The master bot: greets customers and shows the packages on sale, in Persian or English.
//!
//! `screens` and `actions` are the core (no Telegram types); `handler` turns Telegram updates
//! into calls on the core and sends what it renders; `runner` receives the updates, by long
//! polling or webhook.

pub mod actions;
pub mod conversation;
pub mod handler;
mod manage;
mod onboard;
pub mod runner;
pub mod screens;
mod shop;
mod staff;

pub use handler::{MasterBot, Services};
