//! A message a bot sends or edits, as plain data: Telegram HTML and rows of buttons. Each bot
//! has its own callback actions, so these types are generic over them; screens are built by
//! pure functions and turned into Telegram's types only when sent (`keyboard`).

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

/// What a bot's button presses are: anything that encodes into callback data (at most
/// `callback::MAX_DATA_BYTES` bytes).
pub trait CallbackData {
    fn encode(&self) -> String;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button<A> {
    pub label: String,
    pub target: Target<A>,
}

/// What pressing a button does: a callback to the bot, or opening a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<A> {
    Action(A),
    Url(String),
}

impl<A> Button<A> {
    pub fn action(label: String, action: A) -> Button<A> {
        Button {
            label,
            target: Target::Action(action),
        }
    }

    pub fn url(label: String, url: String) -> Button<A> {
        Button {
            label,
            target: Target::Url(url),
        }
    }
}

/// A message the bot sends or edits: Telegram HTML and rows of inline buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screen<A> {
    pub text: String,
    pub keyboard: Vec<Vec<Button<A>>>,
}

// Written out because a derived `Default` would ask the action type to have one too.
impl<A> Default for Screen<A> {
    fn default() -> Screen<A> {
        Screen::text(String::new())
    }
}

impl<A> Screen<A> {
    /// Text alone, no buttons.
    pub fn text(text: String) -> Screen<A> {
        Screen {
            text,
            keyboard: Vec::new(),
        }
    }

    pub fn with_row(mut self, row: Vec<Button<A>>) -> Screen<A> {
        self.keyboard.push(row);
        self
    }
}

/// Telegram's inline keyboard for `rows`; `None` when there are no buttons. A URL that does
/// not parse is left out rather than failing the whole message.
pub fn keyboard<A: CallbackData>(rows: &[Vec<Button<A>>]) -> Option<InlineKeyboardMarkup> {
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

#[cfg(test)]
mod tests {
    use teloxide::types::InlineKeyboardButtonKind;

    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Press(&'static str);

    impl CallbackData for Press {
        fn encode(&self) -> String {
            self.0.to_string()
        }
    }

    #[test]
    fn a_screen_without_buttons_has_no_keyboard() {
        let screen: Screen<Press> = Screen::text("hello".into());
        assert!(keyboard(&screen.keyboard).is_none());
    }

    #[test]
    fn buttons_become_callbacks_and_links_and_a_bad_link_is_left_out() {
        let screen = Screen::text("menu".into())
            .with_row(vec![
                Button::action("Buy".into(), Press("buy")),
                Button::url("Site".into(), "https://example.com/".into()),
            ])
            .with_row(vec![Button::url("Broken".into(), "not a url".into())]);
        let markup = keyboard(&screen.keyboard).unwrap();
        assert_eq!(markup.inline_keyboard.len(), 2);
        let first = &markup.inline_keyboard[0];
        assert_eq!(
            first[0].kind,
            InlineKeyboardButtonKind::CallbackData("buy".into())
        );
        assert!(matches!(first[1].kind, InlineKeyboardButtonKind::Url(_)));
        assert!(markup.inline_keyboard[1].is_empty());
    }
}
