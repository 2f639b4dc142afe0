//! The tenant's channel that end users must join before using the bot. Membership is checked
//! with getChatMember and remembered for a few hours, so most messages cost no extra call.

use shared::clock::HOUR;
use shared::db::Db;
use teloxide::requests::Requester;
use teloxide::types::{ChatId, Recipient, UserId};
use teloxide::Bot;

use super::users::{self, EndUser};
use crate::settings::Channel;
use crate::Result;

/// A membership seen this recently is trusted without asking Telegram again.
pub const RECHECK_AFTER_SECONDS: i64 = 6 * HOUR;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Not a member: show the channel's link (when there is one) and "I've joined".
    MustJoin {
        url: Option<String>,
    },
}

/// Whether `user` may go on. `fresh` asks Telegram even when a recent membership is known
/// (the "I've joined" button).
pub async fn check(
    bot: &Bot,
    db: &Db,
    channel: &Channel,
    user: &EndUser,
    fresh: bool,
    now: i64,
) -> Result<Gate> {
    let Some(chat) = channel
        .chat
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    else {
        return Ok(Gate::Open);
    };
    let recent = user
        .joined_channel_at
        .is_some_and(|at| now - at < RECHECK_AFTER_SECONDS);
    if recent && !fresh {
        return Ok(Gate::Open);
    }
    let recipient = match chat.parse::<i64>() {
        Ok(id) => Recipient::Id(ChatId(id)),
        Err(_) => Recipient::ChannelUsername(format!("@{}", chat.trim_start_matches('@'))),
    };
    let user_id = UserId(u64::try_from(user.telegram_id).unwrap_or_default());
    match bot.get_chat_member(recipient, user_id).await {
        Ok(member) if member.kind.is_present() => {
            users::set_joined_channel(db, user.telegram_id, Some(now)).await?;
            Ok(Gate::Open)
        }
        Ok(_) => {
            users::set_joined_channel(db, user.telegram_id, None).await?;
            Ok(Gate::MustJoin {
                url: join_url(channel),
            })
        }
        Err(e) => {
            // A misconfigured channel (the bot is not its admin, it was renamed) must not lock
            // every customer out of the shop: let them in and leave a trace for the tenant.
            tracing::warn!(channel = chat, error = %e, "cannot check channel membership; letting the user in");
            Ok(Gate::Open)
        }
    }
}

/// The link of the "join" button: the invite link, else `https://t.me/<name>` for a public
/// channel.
pub fn join_url(channel: &Channel) -> Option<String> {
    if let Some(link) = channel
        .invite_link
        .as_deref()
        .filter(|l| !l.trim().is_empty())
    {
        return Some(link.trim().to_string());
    }
    let chat = channel.chat.as_deref()?.trim();
    if chat.parse::<i64>().is_ok() {
        return None;
    }
    Some(format!("https://t.me/{}", chat.trim_start_matches('@')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_join_button_opens_the_invite_link_or_the_public_channel() {
        let public = Channel {
            chat: Some("@nimbus_news".into()),
            invite_link: None,
        };
        assert_eq!(
            join_url(&public).as_deref(),
            Some("https://t.me/nimbus_news")
        );
        let private = Channel {
            chat: Some("-1001234".into()),
            invite_link: Some("https://t.me/+AbCd".into()),
        };
        assert_eq!(join_url(&private).as_deref(), Some("https://t.me/+AbCd"));
        let no_link = Channel {
            chat: Some("-1001234".into()),
            invite_link: None,
        };
        assert_eq!(join_url(&no_link), None);
    }
}
