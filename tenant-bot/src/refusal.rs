//! Why the shop said no: a value the bot turns into a message in the user's language
//! (`refusal.<key>` in the texts). Each names what was wrong and what to do.

use shared::money::Money;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The plan was hidden or removed since the user saw it.
    PlanNotOnSale,
    NotEnoughBalance {
        balance: Money,
        needed: Money,
    },
    /// No panel in rotation can take a new account for this plan now.
    NoPanelAvailable,
    TrialOff,
    TrialUsed,
    /// The service is not this user's, or is gone.
    NoSuchService,
    /// The order is not in a state where this can be done (paid twice, cancelled...).
    OrderNotPayable,
    /// The tenant's package allows no more end users.
    EndUserLimit,
    /// The tenant's package allows no more panels.
    PanelLimit {
        allowed: i64,
    },
    /// The user must join the tenant's channel first.
    MustJoinChannel,
    /// A payment step said no.
    Payment(crate::payments::PaymentRefusal),
}

impl Refusal {
    /// The text key of the message for this refusal.
    pub fn key(&self) -> &'static str {
        match self {
            Refusal::PlanNotOnSale => "refusal.plan_not_on_sale",
            Refusal::NotEnoughBalance { .. } => "refusal.not_enough_balance",
            Refusal::NoPanelAvailable => "refusal.no_panel_available",
            Refusal::TrialOff => "refusal.trial_off",
            Refusal::TrialUsed => "refusal.trial_used",
            Refusal::NoSuchService => "refusal.no_such_service",
            Refusal::OrderNotPayable => "refusal.order_not_payable",
            Refusal::EndUserLimit => "refusal.end_user_limit",
            Refusal::PanelLimit { .. } => "refusal.panel_limit",
            Refusal::MustJoinChannel => "refusal.must_join_channel",
            Refusal::Payment(refusal) => refusal.key(),
        }
    }
}
