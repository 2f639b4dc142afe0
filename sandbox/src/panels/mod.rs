//! Fake VPN panels: Marzban 0.8.x and 3x-UI 2.x / 3.x, faithful to their APIs (auth rules,
//! errors, units, status recomputation, subscriptions), with `/_sandbox/...` control routes
//! to add traffic, take a panel down, slow it, fail the next calls of a path, expire
//! sessions, seed many accounts and list every account.

mod common;
mod control;
mod marzban;
mod xui;

pub use common::{FailRule, FakeAccount, FakePanelError, SeedRequest};
pub use control::{ControlError, PanelControl};
pub use marzban::{FakeMarzban, FakeMarzbanOptions, MarzbanInbound};
pub use xui::{FakeXui, FakeXuiOptions, XuiGeneration, XuiInbound};
