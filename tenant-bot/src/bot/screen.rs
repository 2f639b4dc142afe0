//! A message the bot sends or edits, as plain data: Telegram HTML and rows of buttons. Screens
//! are built by pure functions (`shop_screens`, `service_screens`, `notice_text`) and turned
//! into Telegram's types only when sent.

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

use super::actions::Action;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub label: String,
    pub target: Target,
}

/// What pressing a button does: a callback to the bot, or opening a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Action(Action),
    Url(String),
}

impl Button {
    pub fn action(label: String, action: Action) -> Button {
        Button {
            label,
            target: Target::Action(action),
        }
    }

    pub fn url(label: String, url: String) -> Button {
        Button {
            label,
            target: Target::Url(url),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Screen {
    pub text: String,
    pub keyboard: Vec<Vec<Button>>,
}

impl Screen {
    pub fn text(text: String) -> Screen {
        Screen {
            text,
            keyboard: Vec::new(),
        }
    }

    pub fn with_row(mut self, row: Vec<Button>) -> Screen {
        self.keyboard.push(row);
        self
    }
}

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

/// Telegram's inline keyboard for `rows`; `None` when there are no buttons. A URL that does
/// not parse is left out rather than failing the whole message.
pub fn keyboard(rows: &[Vec<Button>]) -> Option<InlineKeyboardMarkup> {
    if rows.is_empty() {
        return None;
    }
    let rows = rows.iter().map(|row| {
        row.iter()
            .filter_map(|b| match &b.target {
                Target::Action(action) => Some(InlineKeyboardButton::callback(
                    b.label.clone(),
                    action.encode(),
                )),
                Target::Url(url) => url::Url::parse(url)
                    .ok()
                    .map(|url| InlineKeyboardButton::url(b.label.clone(), url)),
            })
            .collect::<Vec<_>>()
    });
    Some(InlineKeyboardMarkup::new(rows))
}
