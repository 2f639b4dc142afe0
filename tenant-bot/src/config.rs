//! The tenant bot's configuration: environment variables set by the provisioner. Secrets come
//! from files (`*_FILE`) so they never show in `docker inspect`; a plain variable also works.

use std::path::Path;
use std::time::Duration;

use shared::config::{ConfigError, Setting, Sources};
use shared::panel::NetworkPolicy;
use shared::secret::{Keyring, SecretString};
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
    pub const DATA_KEY: Setting = Setting::new(
        "tenant.data_key",
        "MADAR_TENANT_DATA_KEY",
        "this bot's key for secrets in its own database (id:base64-of-32-bytes)",
    );
    pub const DATA_KEY_FILE: Setting = Setting::new(
        "tenant.data_key_file",
        "MADAR_TENANT_DATA_KEY_FILE",
        "a file holding this bot's key for secrets in its own database",
    );
    pub const PANEL_ALLOW: Setting = Setting::new(
        "tenant.panel_allow",
        "MADAR_TENANT_PANEL_ALLOW",
        "non-public panel addresses this bot may call (comma-separated addresses, CIDR ranges or host names)",
    );
    pub const CONFIG_SECONDS: Setting = Setting::new(
        "tenant.config_seconds",
        "MADAR_TENANT_CONFIG_SECONDS",
        "seconds between fetches of this bot's configuration from the master",
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
        DATA_KEY,
        DATA_KEY_FILE,
        PANEL_ALLOW,
        CONFIG_SECONDS,
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
    /// Encrypts secrets in this bot's database (panel credentials); made by the master once
    /// per tenant.
    pub data_key: Keyring,
    /// Which non-public panel addresses may be called; strict unless the operator allows some.
    pub panel_network: NetworkPolicy,
    pub telegram_api_url: url::Url,
    pub master_url: url::Url,
    pub database_url: String,
    pub heartbeat_every: Duration,
    /// How often owner, channel, limits and panels are fetched from the master.
    pub config_every: Duration,
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

/// Key lines, newest first, separated by new lines or commas.
fn keyring(s: &Sources) -> Result<Keyring, ConfigError> {
    use keys::{DATA_KEY, DATA_KEY_FILE};
    let text = secret(s, &DATA_KEY, &DATA_KEY_FILE)?;
    let lines: Vec<SecretString> = text
        .expose()
        .split(['\n', ','])
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(SecretString::new)
        .collect();
    Keyring::from_config(&lines).map_err(|e| invalid(&DATA_KEY, e.to_string()))
}

fn seconds(s: &Sources, setting: &Setting, default: u64) -> Result<Duration, ConfigError> {
    let seconds = s
        .parsed::<u64>(setting, "a whole number of seconds")?
        .unwrap_or(default);
    if seconds == 0 {
        return Err(invalid(setting, "must be at least 1"));
    }
    Ok(Duration::from_secs(seconds))
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
        let panel_network = NetworkPolicy::from_lists(&s.list(&PANEL_ALLOW), &[])
            .map_err(|e| invalid(&PANEL_ALLOW, e.to_string()))?;
        Ok(TenantConfig {
            tenant_id,
            bot_token,
            api_key,
            data_key: keyring(s)?,
            panel_network,
            telegram_api_url: url(s, &TELEGRAM_API_URL)?,
            master_url: url(s, &MASTER_URL)?,
            database_url: s
                .string(&DATABASE_URL)
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string()),
            heartbeat_every: seconds(s, &HEARTBEAT_SECONDS, 30)?,
            config_every: seconds(s, &CONFIG_SECONDS, 60)?,
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
    const DATA_KEY: &str = "d1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    fn sources(pairs: &[(&str, &str)]) -> Sources {
        let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Sources::from_parts(None, env, keys::ALL).unwrap()
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("MADAR_TENANT_ID", "t1"),
            ("MADAR_TENANT_API_KEY", "key"),
            ("MADAR_TENANT_DATA_KEY", DATA_KEY),
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

    fn with_token(mut env: Vec<(&'static str, &'static str)>) -> Vec<(&'static str, &'static str)> {
        env.push(("MADAR_TENANT_BOT_TOKEN", TOKEN));
        env
    }

    fn without(
        env: Vec<(&'static str, &'static str)>,
        name: &str,
    ) -> Vec<(&'static str, &'static str)> {
        env.into_iter().filter(|(k, _)| *k != name).collect()
    }

    #[test]
    fn the_data_key_can_come_from_a_file_and_reads_what_the_same_key_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data_key");
        std::fs::write(&file, format!("{DATA_KEY}\n")).unwrap();
        let path = file.to_str().unwrap().to_string();
        let mut env = without(with_token(base()), "MADAR_TENANT_DATA_KEY");
        env.push(("MADAR_TENANT_DATA_KEY_FILE", &path));
        let config = TenantConfig::from_sources(&sources(&env)).unwrap();
        let same = Keyring::from_config(&[SecretString::new(DATA_KEY)]).unwrap();
        let stored = same.encrypt("panel password", "ctx").unwrap();
        assert_eq!(
            config.data_key.decrypt(&stored, "ctx").unwrap().expose(),
            "panel password"
        );
        let shown = format!("{config:?}");
        assert!(!shown.contains("AAAAAAAA"), "{shown}");
    }

    #[test]
    fn a_missing_data_key_names_both_ways_to_give_it() {
        let env = without(with_token(base()), "MADAR_TENANT_DATA_KEY");
        let err = TenantConfig::from_sources(&sources(&env))
            .unwrap_err()
            .to_string();
        assert!(err.contains("MADAR_TENANT_DATA_KEY "), "{err}");
        assert!(err.contains("MADAR_TENANT_DATA_KEY_FILE"), "{err}");
    }

    #[test]
    fn a_malformed_data_key_is_named_without_showing_it() {
        let mut env = without(with_token(base()), "MADAR_TENANT_DATA_KEY");
        env.push(("MADAR_TENANT_DATA_KEY", "d1:c2hvcnQ="));
        let err = TenantConfig::from_sources(&sources(&env))
            .unwrap_err()
            .to_string();
        assert!(err.contains("MADAR_TENANT_DATA_KEY"), "{err}");
        assert!(err.contains("32 bytes"), "{err}");
        assert!(!err.contains("c2hvcnQ"), "{err}");
    }

    #[test]
    fn panels_are_strict_by_default_and_the_operator_can_allow_addresses() {
        let config = TenantConfig::from_sources(&sources(&with_token(base()))).unwrap();
        assert_eq!(config.panel_network, NetworkPolicy::strict());
        assert_eq!(config.config_every, Duration::from_secs(60));

        let mut env = with_token(base());
        env.push(("MADAR_TENANT_PANEL_ALLOW", "127.0.0.1, 10.1.0.0/16"));
        env.push(("MADAR_TENANT_CONFIG_SECONDS", "5"));
        let config = TenantConfig::from_sources(&sources(&env)).unwrap();
        let expected =
            NetworkPolicy::from_lists(&["127.0.0.1".into(), "10.1.0.0/16".into()], &[]).unwrap();
        assert_eq!(config.panel_network, expected);
        assert_eq!(config.config_every, Duration::from_secs(5));
    }

    #[test]
    fn a_bad_panel_rule_and_a_zero_interval_are_named() {
        let mut env = with_token(base());
        env.push(("MADAR_TENANT_PANEL_ALLOW", "127.0.0.1, not a host"));
        let err = TenantConfig::from_sources(&sources(&env))
            .unwrap_err()
            .to_string();
        assert!(err.contains("MADAR_TENANT_PANEL_ALLOW"), "{err}");
        assert!(err.contains("not a host"), "{err}");

        let mut env = with_token(base());
        env.push(("MADAR_TENANT_CONFIG_SECONDS", "0"));
        let err = TenantConfig::from_sources(&sources(&env))
            .unwrap_err()
            .to_string();
        assert!(err.contains("MADAR_TENANT_CONFIG_SECONDS"), "{err}");
    }
}
