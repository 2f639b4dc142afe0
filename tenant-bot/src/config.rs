//! The tenant bot's configuration: environment variables set by the provisioner. Secrets come
//! from files (`*_FILE`) so they never show in `docker inspect`; a plain variable also works.

use std::path::Path;
use std::time::Duration;

use shared::config::{ConfigError, Setting, Sources};
use shared::secret::SecretString;
use shared::telegram::BotToken;
use shared::telemetry::LogFormat;

pub mod keys {
    use shared::config::Setting;

    pub const TENANT_ID: Setting = Setting::new(
        "tenant.id",
        "MADAR_TENANT_ID",
        "the tenant this bot belongs to",
    );
    pub const BOT_TOKEN: Setting = Setting::new(
        "tenant.bot_token",
        "MADAR_TENANT_BOT_TOKEN",
        "the tenant's bot token",
    );
    pub const BOT_TOKEN_FILE: Setting = Setting::new(
        "tenant.bot_token_file",
        "MADAR_TENANT_BOT_TOKEN_FILE",
        "a file holding the tenant's bot token",
    );
    pub const API_KEY: Setting = Setting::new(
        "tenant.api_key",
        "MADAR_TENANT_API_KEY",
        "this bot's key for the master's internal API",
    );
    pub const API_KEY_FILE: Setting = Setting::new(
        "tenant.api_key_file",
        "MADAR_TENANT_API_KEY_FILE",
        "a file holding this bot's key for the master's internal API",
    );
    pub const TELEGRAM_API_URL: Setting = Setting::new(
        "tenant.telegram_api_url",
        "MADAR_TENANT_TELEGRAM_API_URL",
        "the Bot API server",
    );
    pub const MASTER_URL: Setting = Setting::new(
        "tenant.master_url",
        "MADAR_TENANT_MASTER_URL",
        "the master's base URL for heartbeats",
    );
    pub const DATABASE_URL: Setting = Setting::new(
        "tenant.database_url",
        "MADAR_TENANT_DATABASE_URL",
        "this bot's own database",
    );
    pub const HEARTBEAT_SECONDS: Setting = Setting::new(
        "tenant.heartbeat_seconds",
        "MADAR_TENANT_HEARTBEAT_SECONDS",
        "seconds between heartbeats",
    );
    pub const LOG_FORMAT: Setting = Setting::new("log.format", "MADAR_LOG_FORMAT", "human or json");
    pub const LOG_FILTER: Setting =
        Setting::new("log.filter", "MADAR_LOG_FILTER", "tracing filter");

    pub const ALL: &[Setting] = &[
        TENANT_ID,
        BOT_TOKEN,
        BOT_TOKEN_FILE,
        API_KEY,
        API_KEY_FILE,
        TELEGRAM_API_URL,
        MASTER_URL,
        DATABASE_URL,
        HEARTBEAT_SECONDS,
        LOG_FORMAT,
        LOG_FILTER,
    ];
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite:///data/tenant.db";

#[derive(Debug, Clone)]
pub struct TenantConfig {
    pub tenant_id: String,
    pub bot_token: BotToken,
    pub api_key: SecretString,
    pub telegram_api_url: url::Url,
    pub master_url: url::Url,
    pub database_url: String,
    pub heartbeat_every: Duration,
    pub log_format: LogFormat,
    pub log_filter: String,
}

fn invalid(setting: &Setting, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: setting.key,
        env: setting.env,
        problem: problem.into(),
    }
}

/// A secret from its variable, or from the file its `_FILE` variable names.
fn secret(s: &Sources, plain: &Setting, file: &Setting) -> Result<SecretString, ConfigError> {
    if let Some(value) = s.secret(plain) {
        return Ok(value);
    }
    let Some(path) = s.string(file) else {
        return Err(invalid(
            plain,
            format!(
                "is not set, and neither is {} (a file holding it)",
                file.env
            ),
        ));
    };
    let text = std::fs::read_to_string(Path::new(&path))
        .map_err(|e| invalid(file, format!("names {path}, which cannot be read: {e}")))?;
    let value = text.trim();
    if value.is_empty() {
        return Err(invalid(file, format!("names {path}, which is empty")));
    }
    Ok(SecretString::new(value))
}

fn url(s: &Sources, setting: &Setting) -> Result<url::Url, ConfigError> {
    s.parsed::<url::Url>(setting, "a URL like http://10.0.0.1:8080")?
        .ok_or_else(|| invalid(setting, "is not set"))
}

impl TenantConfig {
    pub fn from_env() -> Result<TenantConfig, ConfigError> {
        TenantConfig::from_sources(&Sources::load(None, keys::ALL)?)
    }

    pub fn from_sources(s: &Sources) -> Result<TenantConfig, ConfigError> {
        use keys::*;
        let tenant_id = s
            .string(&TENANT_ID)
            .ok_or_else(|| invalid(&TENANT_ID, "is not set"))?;
        let token = secret(s, &BOT_TOKEN, &BOT_TOKEN_FILE)?;
        let bot_token =
            BotToken::parse(token.expose()).map_err(|e| invalid(&BOT_TOKEN, e.to_string()))?;
        let api_key = secret(s, &API_KEY, &API_KEY_FILE)?;
        let seconds = s
            .parsed::<u64>(&HEARTBEAT_SECONDS, "a whole number of seconds")?
            .unwrap_or(30);
        if seconds == 0 {
            return Err(invalid(&HEARTBEAT_SECONDS, "must be at least 1"));
        }
        Ok(TenantConfig {
            tenant_id,
            bot_token,
            api_key,
            telegram_api_url: url(s, &TELEGRAM_API_URL)?,
            master_url: url(s, &MASTER_URL)?,
            database_url: s
                .string(&DATABASE_URL)
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string()),
            heartbeat_every: Duration::from_secs(seconds),
            log_format: s
                .parsed::<LogFormat>(&LOG_FORMAT, "human or json")?
                .unwrap_or(LogFormat::Json),
            log_filter: s.string(&LOG_FILTER).unwrap_or_else(|| "info".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "123456789:AAEhBP0av28MchQMDxWRaDcSDHHCMG5Rwrs";

    fn sources(pairs: &[(&str, &str)]) -> Sources {
        let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Sources::from_parts(None, env, keys::ALL).unwrap()
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("MADAR_TENANT_ID", "t1"),
            ("MADAR_TENANT_API_KEY", "key"),
            ("MADAR_TENANT_TELEGRAM_API_URL", "http://127.0.0.1:1"),
            ("MADAR_TENANT_MASTER_URL", "http://127.0.0.1:2"),
        ]
    }

    #[test]
    fn the_token_can_come_from_a_file_and_never_shows_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
        let mut env = base();
        let path = file.to_str().unwrap().to_string();
        env.push(("MADAR_TENANT_BOT_TOKEN_FILE", &path));
        let config = TenantConfig::from_sources(&sources(&env)).unwrap();
        assert_eq!(config.bot_token.expose(), TOKEN);
        assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
        let shown = format!("{config:?}");
        assert!(!shown.contains("AAEh"), "{shown}");
        assert!(!shown.contains("\"key\""), "{shown}");
    }

    #[test]
    fn a_missing_token_names_both_ways_to_give_it() {
        let err = TenantConfig::from_sources(&sources(&base()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("MADAR_TENANT_BOT_TOKEN"), "{err}");
        assert!(err.contains("MADAR_TENANT_BOT_TOKEN_FILE"), "{err}");
    }

    #[test]
    fn an_unreadable_token_file_is_named() {
        let mut env = base();
        env.push(("MADAR_TENANT_BOT_TOKEN_FILE", "/nonexistent/token"));
        let err = TenantConfig::from_sources(&sources(&env))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/token"), "{err}");
    }
}
