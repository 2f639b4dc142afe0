//! The onboarding dialogue after the first payment: the tenant's bot token, the admin, an
//! optional channel, and the first panel. Each answer is checked for real before moving on
//! (getMe, getChatMember, a panel login), and the step is stored, so the dialogue resumes after
//! a restart or a day later.

use serde::{Deserialize, Serialize};
use shared::db::Db;
use shared::panel::{NetworkPolicy, PanelError, PanelKind, PanelUrl};
use shared::secret::{Keyring, SecretString};
use shared::telegram::BotToken;

use super::checks::{ChannelProblem, Checks, TokenProblem};
use super::{panel_password_context, token_context, Tenant};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Token,
    Admin,
    Channel,
    PanelKind,
    PanelUrl,
    PanelUsername,
    PanelPassword,
    Done,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Token => "token",
            Step::Admin => "admin",
            Step::Channel => "channel",
            Step::PanelKind => "panel_kind",
            Step::PanelUrl => "panel_url",
            Step::PanelUsername => "panel_username",
            Step::PanelPassword => "panel_password",
            Step::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Result<Step> {
        Ok(match s {
            "token" => Step::Token,
            "admin" => Step::Admin,
            "channel" => Step::Channel,
            "panel_kind" => Step::PanelKind,
            "panel_url" => Step::PanelUrl,
            "panel_username" => Step::PanelUsername,
            "panel_password" => Step::PanelPassword,
            "done" => Step::Done,
            other => return Err(Error::Corrupt(format!("onboarding step {other}"))),
        })
    }
}

/// Answers kept until the panel is validated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    /// A live bot's token is being replaced: after the token, back to done.
    #[serde(default)]
    pub changing_token: bool,
    pub panel_kind: Option<String>,
    pub panel_url: Option<String>,
    pub panel_username: Option<String>,
}

/// What the customer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Text(String),
    ItsMe,
    Skip,
    Kind(PanelKind),
}

/// A button the prompt offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    ItsMe,
    Skip,
    Marzban,
    Xui,
}

/// What to say next: a text key with its arguments and the buttons to offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
    pub choices: Vec<Choice>,
    /// The customer's message held a secret (a token or password): delete it from the chat.
    pub forget_message: bool,
}

impl Prompt {
    /// The question that starts adding a panel.
    pub fn panel_kind() -> Prompt {
        Prompt::say("onboarding_ask_panel_kind").offering(&[Choice::Marzban, Choice::Xui])
    }

    /// The first question, for a bot that was just bought.
    pub fn first() -> Prompt {
        Prompt::say("onboarding_ask_token")
    }

    fn say(key: &'static str) -> Prompt {
        Prompt {
            key,
            args: Vec::new(),
            choices: Vec::new(),
            forget_message: false,
        }
    }

    fn with(mut self, name: &'static str, value: impl Into<String>) -> Prompt {
        self.args.push((name, value.into()));
        self
    }

    fn offering(mut self, choices: &[Choice]) -> Prompt {
        self.choices = choices.to_vec();
        self
    }

    fn secret(mut self) -> Prompt {
        self.forget_message = true;
        self
    }
}

/// What the dialogue needs from the outside world.
pub struct Context<'a> {
    pub db: &'a Db,
    pub keyring: &'a Keyring,
    pub checks: &'a dyn Checks,
    pub policy: &'a NetworkPolicy,
}

/// The question for the step the tenant is at.
pub fn prompt_for(tenant: &Tenant) -> Prompt {
    match tenant.onboarding_step {
        Step::Token => Prompt::say("onboarding_ask_token"),
        Step::Admin => Prompt::say("onboarding_ask_admin").offering(&[Choice::ItsMe]),
        Step::Channel => Prompt::say("onboarding_ask_channel").offering(&[Choice::Skip]),
        Step::PanelKind => {
            Prompt::say("onboarding_ask_panel_kind").offering(&[Choice::Marzban, Choice::Xui])
        }
        Step::PanelUrl => Prompt::say(match tenant.draft.panel_kind.as_deref() {
            Some("xui") => "onboarding_ask_panel_url_xui",
            _ => "onboarding_ask_panel_url_marzban",
        }),
        Step::PanelUsername => Prompt::say("onboarding_ask_panel_username"),
        Step::PanelPassword => Prompt::say("onboarding_ask_panel_password"),
        Step::Done => Prompt::say("onboarding_done")
            .with("bot", tenant.bot_username.clone().unwrap_or_default()),
    }
}

/// Takes one answer. `buyer` is the Telegram id of the customer talking.
pub async fn advance(
    ctx: &Context<'_>,
    tenant: &Tenant,
    buyer: i64,
    input: Input,
    now: i64,
) -> Result<Prompt> {
    match (tenant.onboarding_step, input) {
        (Step::Token, Input::Text(text)) => token(ctx, tenant, &text, now).await,
        (Step::Admin, Input::ItsMe) => admin(ctx, tenant, buyer, now).await,
        (Step::Admin, Input::Text(text)) => match text.trim().parse::<i64>() {
            Ok(id) if id > 0 => admin(ctx, tenant, id, now).await,
            _ => Ok(Prompt::say("onboarding_admin_invalid").offering(&[Choice::ItsMe])),
        },
        (Step::Channel, Input::Skip) => channel(ctx, tenant, None, now).await,
        (Step::Channel, Input::Text(text)) => match channel_username(&text) {
            Some(name) => channel(ctx, tenant, Some(name), now).await,
            None => Ok(Prompt::say("onboarding_channel_invalid").offering(&[Choice::Skip])),
        },
        (Step::PanelKind, Input::Kind(kind)) => {
            let draft = super::onboarding::Draft {
                panel_kind: Some(kind_code(kind).to_string()),
                ..tenant.draft.clone()
            };
            let mut next = tenant.clone();
            next.onboarding_step = Step::PanelUrl;
            next.draft = draft;
            save(ctx.db, &next, now).await?;
            Ok(prompt_for(&next))
        }
        (Step::PanelUrl, Input::Text(text)) => match PanelUrl::parse(&text, ctx.policy) {
            Ok(url) => {
                let mut next = tenant.clone();
                next.draft.panel_url = Some(url.as_str().to_string());
                next.onboarding_step = Step::PanelUsername;
                save(ctx.db, &next, now).await?;
                Ok(prompt_for(&next))
            }
            Err(e) => Ok(panel_problem(&e)),
        },
        (Step::PanelUsername, Input::Text(text)) => {
            let name = text.trim();
            if name.is_empty() || name.chars().count() > 64 {
                return Ok(Prompt::say("onboarding_ask_panel_username"));
            }
            let mut next = tenant.clone();
            next.draft.panel_username = Some(name.to_string());
            next.onboarding_step = Step::PanelPassword;
            save(ctx.db, &next, now).await?;
            Ok(prompt_for(&next))
        }
        (Step::PanelPassword, Input::Text(text)) => panel(ctx, tenant, &text, now).await,
        // Anything else at a step (a stray button, a sticker's text) repeats the question.
        _ => Ok(prompt_for(tenant)),
    }
}

async fn token(ctx: &Context<'_>, tenant: &Tenant, text: &str, now: i64) -> Result<Prompt> {
    let Ok(token) = BotToken::parse(text) else {
        return Ok(Prompt::say("onboarding_token_malformed").secret());
    };
    if let Some(other) = super::by_bot_id(ctx.db, token.bot_id()).await? {
        if other.id != tenant.id {
            return Ok(Prompt::say("onboarding_token_in_use").secret());
        }
    }
    let identity = match ctx.checks.bot(&token).await {
        Ok(identity) => identity,
        Err(TokenProblem::Refused) => return Ok(Prompt::say("onboarding_token_refused").secret()),
        Err(TokenProblem::Unreachable(_)) => {
            return Ok(Prompt::say("onboarding_telegram_unreachable").secret())
        }
    };
    let encrypted = ctx
        .keyring
        .encrypt(token.expose(), &token_context(&tenant.id))
        .map_err(|e| Error::Corrupt(format!("encrypting a token: {e}")))?;
    let next_step = if tenant.draft.changing_token {
        Step::Done
    } else {
        Step::Admin
    };
    let saved = sqlx::query(
        "UPDATE tenants SET bot_id = $1, bot_username = $2, bot_token_enc = $3,
             onboarding_step = $6, onboarding_draft = '{}', live_notified_at = NULL, updated_at = $4
         WHERE id = $5",
    )
    .bind(identity.id)
    .bind(&identity.username)
    .bind(encrypted)
    .bind(now)
    .bind(&tenant.id)
    .bind(next_step.as_str())
    .execute(ctx.db.pool())
    .await;
    match saved {
        Ok(_) => {}
        // Another tenant took this bot in the meantime (the column is unique).
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Ok(Prompt::say("onboarding_token_in_use").secret())
        }
        Err(e) => return Err(e.into()),
    }
    if next_step == Step::Done {
        return Ok(Prompt::say("token_changed")
            .with("bot", identity.username)
            .secret());
    }
    Ok(Prompt::say("onboarding_token_ok")
        .with("bot", identity.username)
        .offering(&[Choice::ItsMe])
        .secret())
}

async fn admin(ctx: &Context<'_>, tenant: &Tenant, admin: i64, now: i64) -> Result<Prompt> {
    sqlx::query(
        "UPDATE tenants SET admin_telegram_id = $1, onboarding_step = 'channel', updated_at = $2
         WHERE id = $3",
    )
    .bind(admin)
    .bind(now)
    .bind(&tenant.id)
    .execute(ctx.db.pool())
    .await?;
    Ok(Prompt::say("onboarding_ask_channel").offering(&[Choice::Skip]))
}

async fn channel(
    ctx: &Context<'_>,
    tenant: &Tenant,
    name: Option<String>,
    now: i64,
) -> Result<Prompt> {
    if let Some(name) = &name {
        let token = tenant
            .bot_token(ctx.keyring)?
            .ok_or_else(|| Error::Corrupt("onboarding past the token step without one".into()))?;
        let token = BotToken::parse(token.expose())
            .map_err(|_| Error::Corrupt("a stored token does not parse".into()))?;
        let bot = tenant.bot_username.clone().unwrap_or_default();
        match ctx.checks.channel(&token, name).await {
            Ok(()) => {}
            Err(ChannelProblem::NotFound) => {
                return Ok(Prompt::say("onboarding_channel_not_found")
                    .with("channel", name.clone())
                    .with("bot", bot)
                    .offering(&[Choice::Skip]))
            }
            Err(ChannelProblem::BotNotAdmin) => {
                return Ok(Prompt::say("onboarding_channel_not_admin")
                    .with("channel", name.clone())
                    .with("bot", bot)
                    .offering(&[Choice::Skip]))
            }
            Err(ChannelProblem::Unreachable(_)) => {
                return Ok(Prompt::say("onboarding_telegram_unreachable").offering(&[Choice::Skip]))
            }
        }
    }
    sqlx::query(
        "UPDATE tenants SET channel = $1, onboarding_step = 'panel_kind', updated_at = $2 WHERE id = $3",
    )
    .bind(&name)
    .bind(now)
    .bind(&tenant.id)
    .execute(ctx.db.pool())
    .await?;
    Ok(Prompt::say("onboarding_ask_panel_kind").offering(&[Choice::Marzban, Choice::Xui]))
}

async fn panel(ctx: &Context<'_>, tenant: &Tenant, password: &str, now: i64) -> Result<Prompt> {
    let draft = &tenant.draft;
    let (Some(kind), Some(url), Some(username)) = (
        draft.panel_kind.as_deref().and_then(kind_of),
        draft.panel_url.as_deref(),
        draft.panel_username.as_deref(),
    ) else {
        // A draft lost its answers: start the panel questions again.
        let mut next = tenant.clone();
        next.onboarding_step = Step::PanelKind;
        save(ctx.db, &next, now).await?;
        return Ok(prompt_for(&next));
    };
    let url = match PanelUrl::parse(url, ctx.policy) {
        Ok(url) => url,
        Err(e) => return back_to(ctx, tenant, Step::PanelUrl, now, panel_problem(&e)).await,
    };
    let password = SecretString::new(password.trim());
    match ctx
        .checks
        .panel(kind, url.clone(), username, &password)
        .await
    {
        Ok(()) => {}
        Err(PanelError::WrongCredentials) => {
            let prompt = Prompt::say("onboarding_panel_wrong_credentials").secret();
            return back_to(ctx, tenant, Step::PanelUsername, now, prompt).await;
        }
        Err(e) => {
            let prompt = panel_problem(&e).secret();
            return back_to(ctx, tenant, Step::PanelUrl, now, prompt).await;
        }
    }
    let panel_id = shared::db::new_id();
    let password_enc = ctx
        .keyring
        .encrypt(
            password.expose(),
            &panel_password_context(&tenant.id, &panel_id),
        )
        .map_err(|e| Error::Corrupt(format!("encrypting a password: {e}")))?;
    let mut tx = ctx.db.begin().await?;
    sqlx::query(
        "INSERT INTO tenant_panels (id, tenant_id, kind, url, username, password_enc, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&panel_id)
    .bind(&tenant.id)
    .bind(kind_code(kind))
    .bind(url.as_str())
    .bind(username)
    .bind(password_enc)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE tenants SET onboarding_step = 'done', onboarding_draft = '{}', onboarded_at = $1,
             live_notified_at = NULL, updated_at = $1
         WHERE id = $2",
    )
    .bind(now)
    .bind(&tenant.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // A bot already live got one more panel; a new one finished its set-up.
    let key = if tenant.onboarded_at.is_some() {
        "panel_added"
    } else {
        "onboarding_done"
    };
    Ok(Prompt::say(key)
        .with("bot", tenant.bot_username.clone().unwrap_or_default())
        .secret())
}

async fn back_to(
    ctx: &Context<'_>,
    tenant: &Tenant,
    step: Step,
    now: i64,
    prompt: Prompt,
) -> Result<Prompt> {
    let mut next = tenant.clone();
    next.onboarding_step = step;
    save(ctx.db, &next, now).await?;
    Ok(prompt)
}

async fn save(db: &Db, tenant: &Tenant, now: i64) -> Result<()> {
    let draft = serde_json::to_string(&tenant.draft)
        .map_err(|e| Error::Corrupt(format!("onboarding draft: {e}")))?;
    sqlx::query(
        "UPDATE tenants SET onboarding_step = $1, onboarding_draft = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(tenant.onboarding_step.as_str())
    .bind(draft)
    .bind(now)
    .bind(&tenant.id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Each panel problem gets its own message saying what to do.
fn panel_problem(e: &PanelError) -> Prompt {
    let key = match e {
        PanelError::WrongCredentials => "onboarding_panel_wrong_credentials",
        PanelError::Unreachable(_) => "onboarding_panel_unreachable",
        PanelError::BadTls(_) => "onboarding_panel_bad_tls",
        PanelError::WrongBasePath => "onboarding_panel_wrong_base_path",
        PanelError::Timeout => "onboarding_panel_timeout",
        PanelError::RefusedAddress { .. } => "onboarding_panel_refused_address",
        PanelError::InvalidUrl(_) => "onboarding_panel_invalid_url",
        _ => "onboarding_panel_other",
    };
    Prompt::say(key)
}

fn kind_code(kind: PanelKind) -> &'static str {
    match kind {
        PanelKind::Marzban => "marzban",
        PanelKind::Xui => "xui",
    }
}

fn kind_of(code: &str) -> Option<PanelKind> {
    match code {
        "marzban" => Some(PanelKind::Marzban),
        "xui" => Some(PanelKind::Xui),
        _ => None,
    }
}

/// `@name`, `name`, `t.me/name` or `https://t.me/name` -> `@name`.
pub fn channel_username(text: &str) -> Option<String> {
    let text = text.trim();
    let name = text
        .strip_prefix("https://t.me/")
        .or_else(|| text.strip_prefix("http://t.me/"))
        .or_else(|| text.strip_prefix("t.me/"))
        .or_else(|| text.strip_prefix('@'))
        .unwrap_or(text)
        .trim_end_matches('/');
    let valid = (5..=32).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    valid.then(|| format!("@{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_are_normalised_and_checked() {
        assert_eq!(channel_username("@my_vpn"), Some("@my_vpn".into()));
        assert_eq!(
            channel_username("https://t.me/my_vpn/"),
            Some("@my_vpn".into())
        );
        assert_eq!(channel_username("my_vpn"), Some("@my_vpn".into()));
        assert_eq!(channel_username("@ab"), None);
        assert_eq!(channel_username("@1abcde"), None);
        assert_eq!(channel_username("https://evil.example/x"), None);
    }

    #[test]
    fn steps_round_trip() {
        for step in [
            Step::Token,
            Step::Admin,
            Step::Channel,
            Step::PanelKind,
            Step::PanelUrl,
            Step::PanelUsername,
            Step::PanelPassword,
            Step::Done,
        ] {
            assert_eq!(Step::parse(step.as_str()).unwrap(), step);
        }
    }
}
