//! The buttons of the payment setup (admins only), as callback data under the `su` prefix.
//! A card is named by its 16 digits rather than its place in the list, so a stale "remove"
//! button can never remove another card than the one it showed.

/// What a payment-setup button asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupAction {
    /// The setup screen (also "back" from a question, which stops waiting for the answer).
    Show,
    /// Ask for a new card: number, then holder, then bank.
    AddCard,
    /// "Remove this card?" for the card with these digits.
    AskRemoveCard(String),
    /// Remove the card with these digits (confirmed).
    RemoveCard(String),
    /// Ask for the Zarinpal merchant id.
    SetZarinpal,
    ClearZarinpal,
    /// Ask for the NowPayments API key, then the IPN secret.
    SetNowPayments,
    ClearNowPayments,
    /// Offer Telegram Stars (true) or stop offering them.
    Stars(bool),
    /// Ask how many Toman one star is worth.
    SetStarRate,
    /// Ask how many Toman one US dollar is worth.
    SetUsdRate,
    /// Ask after how many minutes undecided receipts are approved.
    SetAutoApprove,
    /// Admins decide every receipt.
    AutoApproveOff,
}

/// The first field of every setup button's data.
pub const PREFIX: &str = "su";

/// A card number inside callback data: exactly 16 ASCII digits.
fn is_card_digits(text: &str) -> bool {
    text.len() == 16 && text.chars().all(|c| c.is_ascii_digit())
}

impl SetupAction {
    pub fn encode(&self) -> String {
        let rest = match self {
            SetupAction::Show => return PREFIX.to_string(),
            SetupAction::AddCard => "ac".to_string(),
            SetupAction::AskRemoveCard(digits) => format!("rc:{digits}"),
            SetupAction::RemoveCard(digits) => format!("rm:{digits}"),
            SetupAction::SetZarinpal => "zs".to_string(),
            SetupAction::ClearZarinpal => "zc".to_string(),
            SetupAction::SetNowPayments => "ns".to_string(),
            SetupAction::ClearNowPayments => "nc".to_string(),
            SetupAction::Stars(true) => "st:1".to_string(),
            SetupAction::Stars(false) => "st:0".to_string(),
            SetupAction::SetStarRate => "sr".to_string(),
            SetupAction::SetUsdRate => "ur".to_string(),
            SetupAction::SetAutoApprove => "aa".to_string(),
            SetupAction::AutoApproveOff => "ao".to_string(),
        };
        format!("{PREFIX}:{rest}")
    }

    /// Parses the fields after the prefix; anything unknown is `None`.
    pub fn decode(rest: &[&str]) -> Option<SetupAction> {
        Some(match rest {
            [] => SetupAction::Show,
            ["ac"] => SetupAction::AddCard,
            ["rc", digits] if is_card_digits(digits) => {
                SetupAction::AskRemoveCard(digits.to_string())
            }
            ["rm", digits] if is_card_digits(digits) => SetupAction::RemoveCard(digits.to_string()),
            ["zs"] => SetupAction::SetZarinpal,
            ["zc"] => SetupAction::ClearZarinpal,
            ["ns"] => SetupAction::SetNowPayments,
            ["nc"] => SetupAction::ClearNowPayments,
            ["st", "1"] => SetupAction::Stars(true),
            ["st", "0"] => SetupAction::Stars(false),
            ["sr"] => SetupAction::SetStarRate,
            ["ur"] => SetupAction::SetUsdRate,
            ["aa"] => SetupAction::SetAutoApprove,
            ["ao"] => SetupAction::AutoApproveOff,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::actions::{Action, MAX_DATA_BYTES};
    use shared::telegram::screen::CallbackData;

    const CARD: &str = "6037991234567810";

    #[test]
    fn setup_buttons_round_trip_within_telegrams_limit() {
        for setup in [
            SetupAction::Show,
            SetupAction::AddCard,
            SetupAction::AskRemoveCard(CARD.into()),
            SetupAction::RemoveCard(CARD.into()),
            SetupAction::SetZarinpal,
            SetupAction::ClearZarinpal,
            SetupAction::SetNowPayments,
            SetupAction::ClearNowPayments,
            SetupAction::Stars(true),
            SetupAction::Stars(false),
            SetupAction::SetStarRate,
            SetupAction::SetUsdRate,
            SetupAction::SetAutoApprove,
            SetupAction::AutoApproveOff,
        ] {
            let action = Action::Setup(setup);
            let data = action.encode();
            assert!(data.len() <= MAX_DATA_BYTES, "{data}");
            assert_eq!(Action::decode(&data), Some(action));
        }
    }

    #[test]
    fn forged_setup_data_is_not_an_action() {
        for data in [
            "su:",
            "su:xx",
            "su:rc:123",
            "su:rm:60379912345678101",
            "su:rm:603799123456781a",
            "su:st:2",
            "su:ac:1",
        ] {
            assert_eq!(Action::decode(data), None, "{data}");
        }
    }
}
