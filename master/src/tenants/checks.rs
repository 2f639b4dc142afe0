//! The real checks behind onboarding: Telegram's getMe and getChatMember with the tenant's own
//! token, and a real login to the panel.

use async_trait::async_trait;
use shared::panel::{
    self, NetworkPolicy, PanelCredentials, PanelError, PanelKind, PanelOptions, PanelUrl,
};
use shared::secret::SecretString;
use shared::telegram::BotToken;
use teloxide::requests::Requester;
use teloxide::types::{ChatMemberKind, Recipient, UserId};
use teloxide::{ApiError, RequestError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    pub id: i64,
    pub username: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenProblem {
    /// Telegram says the token is wrong or revoked.
    Refused,
    Unreachable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelProblem {
    NotFound,
    /// The tenant's bot must be an administrator of the channel to check members.
    BotNotAdmin,
    Unreachable(String),
}

#[async_trait]
pub trait Checks: Send + Sync {
    async fn bot(&self, token: &BotToken) -> Result<BotIdentity, TokenProblem>;
    async fn channel(&self, token: &BotToken, channel: &str) -> Result<(), ChannelProblem>;
    async fn panel(
        &self,
        kind: PanelKind,
        url: PanelUrl,
        username: &str,
        password: &SecretString,
    ) -> Result<(), PanelError>;
}

/// Checks against the real (or sandboxed) Telegram and panels.
pub struct LiveChecks {
    pub telegram_api_url: url::Url,
    pub policy: NetworkPolicy,
}

impl LiveChecks {
    fn bot_client(&self, token: &BotToken) -> Result<teloxide::Bot, String> {
        shared::telegram::polling::bot(token.expose(), self.telegram_api_url.clone())
            .map_err(|e| e.to_string())
    }
}

#[async_trait]
impl Checks for LiveChecks {
    async fn bot(&self, token: &BotToken) -> Result<BotIdentity, TokenProblem> {
        let bot = self.bot_client(token).map_err(TokenProblem::Unreachable)?;
        match bot.get_me().await {
            Ok(me) => Ok(BotIdentity {
                id: me.id.0 as i64,
                username: me.username().to_string(),
                name: me.first_name.clone(),
            }),
            Err(RequestError::Api(ApiError::InvalidToken)) => Err(TokenProblem::Refused),
            Err(e) => Err(TokenProblem::Unreachable(e.to_string())),
        }
    }

    async fn channel(&self, token: &BotToken, channel: &str) -> Result<(), ChannelProblem> {
        let bot = self
            .bot_client(token)
            .map_err(ChannelProblem::Unreachable)?;
        let chat = Recipient::ChannelUsername(channel.to_string());
        let me = UserId(token.bot_id() as u64);
        match bot.get_chat_member(chat, me).await {
            Ok(member) => match member.kind {
                ChatMemberKind::Owner(_) | ChatMemberKind::Administrator(_) => Ok(()),
                _ => Err(ChannelProblem::BotNotAdmin),
            },
            Err(RequestError::Api(ApiError::ChatNotFound)) => Err(ChannelProblem::NotFound),
            Err(RequestError::Api(_)) => Err(ChannelProblem::BotNotAdmin),
            Err(e) => Err(ChannelProblem::Unreachable(e.to_string())),
        }
    }

    async fn panel(
        &self,
        kind: PanelKind,
        url: PanelUrl,
        username: &str,
        password: &SecretString,
    ) -> Result<(), PanelError> {
        let credentials = PanelCredentials::Password {
            username: username.to_string(),
            password: password.clone(),
        };
        let options = PanelOptions {
            network: self.policy.clone(),
            ..PanelOptions::default()
        };
        panel::connect(kind, url, credentials, options)
            .await
            .map(|_| ())
    }
}
