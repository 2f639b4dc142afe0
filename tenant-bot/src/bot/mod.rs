//! The end users' side of the bot: what they see and press. `actions` (callback data),
//! `screen` and the `*_screens` modules (pure rendering), and the flows on `TenantBot`
//! (`shop`, `services_ui`, `sender`), with the small helpers they use.

pub mod actions;
pub mod conversation;
pub mod data_packs;
pub mod format;
pub mod join;
pub mod notice_text;
pub mod pay;
pub mod pay_screens;
pub mod qr;
pub mod screen;
pub mod sender;
pub mod service_screens;
pub mod services_ui;
pub mod setup;
pub mod setup_actions;
pub mod setup_input;
pub mod setup_screens;
pub mod shop;
pub mod shop_screens;
pub mod tips;
pub mod users;
