//! A message the bot sends or edits, as plain data: Telegram HTML and rows of buttons. Screens
//! are built by pure functions (`shop_screens`, `service_screens`, `notice_text`) and turned
//! into Telegram's types only when sent. The types are the master bot's too
//! (`shared::telegram::screen`), here with this bot's actions.

use shared::telegram::screen;

use super::actions::Action;

pub use shared::telegram::screen::keyboard;

pub type Button = screen::Button<Action>;
/// What pressing a button does: a callback to the bot, or opening a link.
pub type Target = screen::Target<Action>;
pub type Screen = screen::Screen<Action>;

/// A photo with a caption (the QR code of a link, a receipt) and buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    pub image: Image,
    pub caption: String,
    pub keyboard: Vec<Vec<Button>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    /// A picture made here (a QR code).
    Png(Vec<u8>),
    /// A picture Telegram has already (a receipt a user sent).
    FileId(String),
}
