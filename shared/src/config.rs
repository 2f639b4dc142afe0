//! Configuration: a TOML file overlaid by `MADAR_*` environment variables, validated once at
//! start-up. Every error names the setting (both its TOML key and its variable) and says what
//! is expected, so an operator can fix it without reading code.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::i18n::Locale;
use crate::secret::SecretString;
use crate::telemetry::LogFormat;

/// What went wrong while reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is not valid TOML: {message}")]
    Toml { path: PathBuf, message: String },
    #[error("unknown setting `{key}` in {path}; known settings are: {known}")]
    UnknownKey {
        key: String,
        path: PathBuf,
        known: String,
    },
    #[error("{env} (`{key}` in the configuration file) {problem}")]
    Invalid {
        key: &'static str,
        env: &'static str,
        problem: String,
    },
}

/// One setting: where it lives in the TOML file and which variable overrides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub key: &'static str,
    pub env: &'static str,
    pub help: &'static str,
}

impl Setting {
    pub const fn new(key: &'static str, env: &'static str, help: &'static str) -> Self {
        Setting { key, env, help }
    }

    fn invalid(&self, problem: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: self.key,
            env: self.env,
            problem: problem.into(),
        }
    }
}

/// Raw values gathered from the file and the environment, before they are parsed.
/// The environment wins over the file.
#[derive(Default)]
pub struct Sources {
    file: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
}

impl fmt::Debug for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets: show only which keys are present.
        f.debug_struct("Sources")
            .field("file_keys", &self.file.keys().collect::<Vec<_>>())
            .field("env_keys", &self.env.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Sources {
    /// Reads an optional TOML file and the process environment, and refuses keys in the file
    /// that are not among `settings` (a typo must not be silently ignored).
    pub fn load(file: Option<&Path>, settings: &[Setting]) -> Result<Sources, ConfigError> {
        let env = std::env::vars().filter(|(k, _)| k.starts_with("MADAR_"));
        Sources::from_parts(file, env, settings)
    }

    /// Like [`Sources::load`], with the environment given explicitly (for tests).
    pub fn from_parts(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        settings: &[Setting],
    ) -> Result<Sources, ConfigError> {
        let mut sources = Sources {
            env: env.into_iter().collect(),
            ..Sources::default()
        };
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Toml {
                        path: path.to_path_buf(),
                        message: e.message().to_string(),
                    })?;
            flatten("", &table, &mut sources.file);
            for key in sources.file.keys() {
                if !settings.iter().any(|s| s.key == key) {
                    return Err(ConfigError::UnknownKey {
                        key: key.clone(),
                        path: path.to_path_buf(),
                        known: settings
                            .iter()
                            .map(|s| s.key)
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
        }
        Ok(sources)
    }

    /// The raw value of a setting, trimmed; empty counts as unset.
    pub fn raw(&self, setting: &Setting) -> Option<&str> {
        self.env
            .get(setting.env)
            .or_else(|| self.file.get(setting.key))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    pub fn string(&self, setting: &Setting) -> Option<String> {
        self.raw(setting).map(str::to_string)
    }

    pub fn secret(&self, setting: &Setting) -> Option<SecretString> {
        self.raw(setting).map(SecretString::new)
    }

    /// A comma-separated list (TOML arrays are flattened to the same form).
    pub fn list(&self, setting: &Setting) -> Vec<String> {
        self.raw(setting)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Parses a value with `FromStr`, turning a failure into an error that names the setting.
    pub fn parsed<T>(&self, setting: &Setting, expected: &str) -> Result<Option<T>, ConfigError>
    where
        T: std::str::FromStr,
    {
        match self.raw(setting) {
            None => Ok(None),
            Some(raw) => raw.parse::<T>().map(Some).map_err(|_| {
                setting.invalid(format!(
                    "must be {expected}, but it is {}",
                    shown(setting, raw)
                ))
            }),
        }
    }

    pub fn bool(&self, setting: &Setting) -> Result<Option<bool>, ConfigError> {
        match self.raw(setting).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(None),
            Some("true" | "1" | "yes" | "on") => Ok(Some(true)),
            Some("false" | "0" | "no" | "off") => Ok(Some(false)),
            Some(other) => Err(setting.invalid(format!(
                "must be true or false, but it is {}",
                shown(setting, other)
            ))),
        }
    }
}

/// Shows a bad value in an error, unless the setting holds a secret.
fn shown(setting: &Setting, raw: &str) -> String {
    let lower = setting.key.to_ascii_lowercase();
    if ["token", "secret", "password", "key"]
        .iter()
        .any(|w| lower.contains(w))
    {
        "not in that form (value hidden: it is a secret)".to_string()
    } else {
        format!("`{raw}`")
    }
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Array(items) => {
                let joined = items
                    .iter()
                    .map(|i| match i {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                out.insert(key, joined);
            }
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The master's settings.

pub mod keys {
    use super::Setting;

    pub const DATA_DIR: Setting = Setting::new(
        "data_dir",
        "MADAR_DATA_DIR",
        "directory for the SQLite database, backups and demo files (default ./data)",
    );
    pub const DATABASE_URL: Setting = Setting::new(
        "database_url",
        "MADAR_DATABASE_URL",
        "sqlite://path/to/madar.db or postgres://user:pass@host/db (default: SQLite under data_dir)",
    );
    pub const DEFAULT_LOCALE: Setting = Setting::new(
        "default_locale",
        "MADAR_DEFAULT_LOCALE",
        "language for users whose Telegram language is neither fa nor en: fa (default) or en",
    );
    pub const HTTP_LISTEN: Setting = Setting::new(
        "http.listen",
        "MADAR_HTTP_LISTEN",
        "address of the HTTP server (health checks, webhook, panel), default 127.0.0.1:8080",
    );
    pub const TELEGRAM_BOT_TOKEN: Setting = Setting::new(
        "telegram.bot_token",
        "MADAR_TELEGRAM_BOT_TOKEN",
        "the master bot's token from @BotFather (required by `madar serve`)",
    );
    pub const TELEGRAM_API_URL: Setting = Setting::new(
        "telegram.api_url",
        "MADAR_TELEGRAM_API_URL",
        "Bot API server, default https://api.telegram.org",
    );
    pub const TELEGRAM_WEBHOOK_URL: Setting = Setting::new(
        "telegram.webhook_url",
        "MADAR_TELEGRAM_WEBHOOK_URL",
        "public HTTPS URL that reaches this server's /telegram/webhook; unset = long polling",
    );
    pub const TELEGRAM_WEBHOOK_SECRET: Setting = Setting::new(
        "telegram.webhook_secret",
        "MADAR_TELEGRAM_WEBHOOK_SECRET",
        "secret Telegram sends with each webhook delivery (1-256 of A-Z a-z 0-9 _ -)",
    );
    pub const LOG_FORMAT: Setting =
        Setting::new("log.format", "MADAR_LOG_FORMAT", "human (default) or json");
    pub const LOG_FILTER: Setting = Setting::new(
        "log.filter",
        "MADAR_LOG_FILTER",
        "tracing filter, default info",
    );
    pub const SECRET_KEYS: Setting = Setting::new(
        "secrets.keys",
        "MADAR_SECRET_KEYS",
        "encryption keys for secrets at rest, newest first: id:base64 (32 bytes), comma-separated",
    );

    pub const TELEGRAM_STAFF_CHAT_ID: Setting = Setting::new(
        "telegram.staff_chat_id",
        "MADAR_TELEGRAM_STAFF_CHAT_ID",
        "id of the staff group that gets orders, receipts and alerts (e.g. -1001234567890)",
    );
    pub const SMTP_URL: Setting = Setting::new(
        "smtp.url",
        "MADAR_SMTP_URL",
        "mail server: smtps://user:password@host:465 or smtp://host:587?tls=required; unset = no email",
    );
    pub const SMTP_FROM: Setting = Setting::new(
        "smtp.from",
        "MADAR_SMTP_FROM",
        "sender of Madar's email, e.g. Madar <no-reply@example.com>",
    );

    pub const HTTP_PUBLIC_URL: Setting = Setting::new(
        "http.public_url",
        "MADAR_HTTP_PUBLIC_URL",
        "the address customers' browsers and payment gateways reach this server at, e.g. https://madar.example.com",
    );
    pub const PAYMENTS_CARDS: Setting = Setting::new(
        "payments.cards",
        "MADAR_PAYMENTS_CARDS",
        "cards for card-to-card payments: number|owner|bank, comma-separated",
    );
    pub const PAYMENTS_CARD_AUTO_APPROVE_MINUTES: Setting = Setting::new(
        "payments.card_auto_approve_minutes",
        "MADAR_PAYMENTS_CARD_AUTO_APPROVE_MINUTES",
        "approve card receipts nobody decided after this many minutes; unset = never",
    );
    pub const PAYMENTS_ZARINPAL_MERCHANT_ID: Setting = Setting::new(
        "payments.zarinpal_merchant_id",
        "MADAR_PAYMENTS_ZARINPAL_MERCHANT_ID",
        "Zarinpal merchant id (36 characters); unset = Zarinpal off",
    );
    pub const PAYMENTS_ZARINPAL_URL: Setting = Setting::new(
        "payments.zarinpal_url",
        "MADAR_PAYMENTS_ZARINPAL_URL",
        "Zarinpal API base, default https://payment.zarinpal.com",
    );
    pub const PAYMENTS_NOWPAYMENTS_API_KEY: Setting = Setting::new(
        "payments.nowpayments_api_key",
        "MADAR_PAYMENTS_NOWPAYMENTS_API_KEY",
        "NowPayments API key; unset = crypto payments off",
    );
    pub const PAYMENTS_NOWPAYMENTS_IPN_SECRET: Setting = Setting::new(
        "payments.nowpayments_ipn_secret",
        "MADAR_PAYMENTS_NOWPAYMENTS_IPN_SECRET",
        "NowPayments IPN secret, to check the signature of its notifications",
    );
    pub const PAYMENTS_NOWPAYMENTS_URL: Setting = Setting::new(
        "payments.nowpayments_url",
        "MADAR_PAYMENTS_NOWPAYMENTS_URL",
        "NowPayments API base, default https://api.nowpayments.io",
    );
    pub const PAYMENTS_STARS: Setting = Setting::new(
        "payments.stars",
        "MADAR_PAYMENTS_STARS",
        "sell for Telegram Stars too: true or false (default false)",
    );

    pub const RUNTIME: Setting = Setting::new(
        "runtime.kind",
        "MADAR_RUNTIME",
        "where tenant bots run: docker (default), process (child processes, no isolation) or none",
    );
    pub const RUNTIME_DOCKER_HOST: Setting = Setting::new(
        "runtime.docker_host",
        "MADAR_RUNTIME_DOCKER_HOST",
        "Docker engine: unix:///var/run/docker.sock (default) or tcp://host:2375",
    );
    pub const RUNTIME_TENANT_MASTER_URL: Setting = Setting::new(
        "runtime.tenant_master_url",
        "MADAR_RUNTIME_TENANT_MASTER_URL",
        "how tenant bots reach this master for heartbeats (default: http.public_url)",
    );
    pub const RUNTIME_TENANT_TELEGRAM_API_URL: Setting = Setting::new(
        "runtime.tenant_telegram_api_url",
        "MADAR_RUNTIME_TENANT_TELEGRAM_API_URL",
        "the Bot API server tenant bots use (default: telegram.api_url)",
    );

    pub const ALL: &[Setting] = &[
        DATA_DIR,
        DATABASE_URL,
        DEFAULT_LOCALE,
        HTTP_LISTEN,
        TELEGRAM_BOT_TOKEN,
        TELEGRAM_API_URL,
        TELEGRAM_WEBHOOK_URL,
        TELEGRAM_WEBHOOK_SECRET,
        LOG_FORMAT,
        LOG_FILTER,
        SECRET_KEYS,
        TELEGRAM_STAFF_CHAT_ID,
        SMTP_URL,
        SMTP_FROM,
        HTTP_PUBLIC_URL,
        PAYMENTS_CARDS,
        PAYMENTS_CARD_AUTO_APPROVE_MINUTES,
        PAYMENTS_ZARINPAL_MERCHANT_ID,
        PAYMENTS_ZARINPAL_URL,
        PAYMENTS_NOWPAYMENTS_API_KEY,
        PAYMENTS_NOWPAYMENTS_IPN_SECRET,
        PAYMENTS_NOWPAYMENTS_URL,
        PAYMENTS_STARS,
        RUNTIME,
        RUNTIME_DOCKER_HOST,
        RUNTIME_TENANT_MASTER_URL,
        RUNTIME_TENANT_TELEGRAM_API_URL,
    ];
}

/// How the master bot receives updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateMode {
    LongPolling,
    Webhook { url: url::Url, secret: SecretString },
}

/// The master's validated configuration.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    pub data_dir: PathBuf,
    pub database_url: SecretString,
    pub default_locale: Locale,
    pub http_listen: SocketAddr,
    /// `None` only when the caller allowed it (the demo creates its own bot).
    pub bot_token: Option<SecretString>,
    pub telegram_api_url: url::Url,
    pub update_mode: UpdateMode,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub secret_keys: Vec<SecretString>,
    /// The staff group's chat id; `None` = staff are not notified in Telegram.
    pub staff_chat_id: Option<i64>,
    pub smtp: Option<SmtpConfig>,
    /// Where browsers and gateways reach this server (payment callbacks).
    pub public_url: url::Url,
    pub payments: PaymentsConfig,
    pub runtime: RuntimeConfig,
}

/// Where tenant bots run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    Docker,
    Process,
    None,
}

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub kind: RuntimeKind,
    pub docker_host: Option<String>,
    pub tenant_master_url: url::Url,
    pub tenant_telegram_api_url: url::Url,
}

/// Which payment methods are on, and their keys.
#[derive(Debug, Clone, Default)]
pub struct PaymentsConfig {
    pub cards: Vec<crate::payment::CardAccount>,
    pub card_auto_approve_minutes: Option<u32>,
    pub zarinpal: Option<(SecretString, String)>,
    /// API key, IPN secret, base URL.
    pub nowpayments: Option<(SecretString, SecretString, String)>,
    pub stars: bool,
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// Holds the password, so it is a secret.
    pub url: SecretString,
    pub from: String,
}

/// Which settings a command insists on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirements {
    pub bot_token: bool,
    pub secret_keys: bool,
}

impl MasterConfig {
    /// Loads and validates everything; `file` is the optional TOML file.
    pub fn load(file: Option<&Path>, needs: Requirements) -> Result<MasterConfig, ConfigError> {
        let sources = Sources::load(file, keys::ALL)?;
        MasterConfig::from_sources(&sources, needs)
    }

    pub fn from_sources(s: &Sources, needs: Requirements) -> Result<MasterConfig, ConfigError> {
        use keys::*;

        let data_dir = PathBuf::from(s.string(&DATA_DIR).unwrap_or_else(|| "./data".into()));
        let database_url = match s.secret(&DATABASE_URL) {
            Some(url) => {
                crate::db::Engine::from_url(url.expose())
                    .map_err(|e| DATABASE_URL.invalid(e.to_string()))?;
                url
            }
            None => SecretString::new(crate::db::sqlite_url(&data_dir.join("madar.db"))),
        };
        let default_locale = match s.raw(&DEFAULT_LOCALE) {
            None => Locale::DEFAULT,
            Some("fa") => Locale::Fa,
            Some("en") => Locale::En,
            Some(other) => {
                return Err(DEFAULT_LOCALE.invalid(format!("must be fa or en, but it is `{other}`")))
            }
        };
        let http_listen = s
            .parsed::<SocketAddr>(&HTTP_LISTEN, "an address with a port, like 127.0.0.1:8080")?
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));

        let bot_token = s.secret(&TELEGRAM_BOT_TOKEN);
        match &bot_token {
            Some(token) => {
                crate::telegram::BotToken::parse(token.expose())
                    .map_err(|e| TELEGRAM_BOT_TOKEN.invalid(e.to_string()))?;
            }
            None if needs.bot_token => {
                return Err(TELEGRAM_BOT_TOKEN.invalid(
                    "is not set: `madar serve` needs the master bot's token from @BotFather \
                     (it looks like 123456789:AAE...). To try Madar without Telegram, run `madar demo`.",
                ))
            }
            None => {}
        }
        let telegram_api_url = s
            .parsed::<url::Url>(&TELEGRAM_API_URL, "a URL like https://api.telegram.org")?
            .unwrap_or_else(default_telegram_api_url);
        if !matches!(telegram_api_url.scheme(), "http" | "https") {
            return Err(TELEGRAM_API_URL.invalid("must start with https:// or http://"));
        }
        let update_mode = match s.parsed::<url::Url>(
            &TELEGRAM_WEBHOOK_URL,
            "a public URL like https://madar.example.com/telegram/webhook",
        )? {
            None => UpdateMode::LongPolling,
            Some(url) => {
                let secret = s.secret(&TELEGRAM_WEBHOOK_SECRET).ok_or_else(|| {
                    TELEGRAM_WEBHOOK_SECRET.invalid(
                        "is not set, but a webhook URL is: set a random secret of 1-256 characters \
                         (A-Z a-z 0-9 _ -) so forged updates can be refused",
                    )
                })?;
                let valid = secret.expose().len() <= 256
                    && secret
                        .expose()
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !valid {
                    return Err(TELEGRAM_WEBHOOK_SECRET
                        .invalid("must be 1-256 characters of A-Z a-z 0-9 _ - (Telegram's rule)"));
                }
                UpdateMode::Webhook { url, secret }
            }
        };
        let log_format = s
            .parsed::<LogFormat>(&LOG_FORMAT, "human or json")?
            .unwrap_or(LogFormat::Human);
        let log_filter = s.string(&LOG_FILTER).unwrap_or_else(|| "info".into());

        let secret_keys: Vec<SecretString> = s
            .list(&SECRET_KEYS)
            .into_iter()
            .map(SecretString::new)
            .collect();
        if secret_keys.is_empty() && needs.secret_keys {
            let example = crate::secret::Keyring::generate_key_line("k1");
            return Err(SECRET_KEYS.invalid(format!(
                "is not set: Madar encrypts bot tokens and panel passwords with it. Add this freshly \
                 generated key to the configuration and keep a copy somewhere safe: \
                 MADAR_SECRET_KEYS={}",
                example.expose()
            )));
        }
        if !secret_keys.is_empty() {
            crate::secret::Keyring::from_config(&secret_keys)
                .map_err(|e| SECRET_KEYS.invalid(e.to_string()))?;
        }

        let staff_chat_id = s.parsed::<i64>(
            &TELEGRAM_STAFF_CHAT_ID,
            "a Telegram chat id (a whole number; groups are negative, like -1001234567890)",
        )?;
        let smtp = match s.secret(&SMTP_URL) {
            None => None,
            Some(url) => {
                let scheme_ok = ["smtp://", "smtps://"]
                    .iter()
                    .any(|scheme| url.expose().starts_with(scheme));
                if !scheme_ok {
                    return Err(SMTP_URL.invalid(
                        "must start with smtps:// (TLS) or smtp:// (add ?tls=required for STARTTLS)",
                    ));
                }
                let from = s.string(&SMTP_FROM).ok_or_else(|| {
                    SMTP_FROM.invalid("is not set, but a mail server is: set the sender address")
                })?;
                Some(SmtpConfig { url, from })
            }
        };

        let public_url =
            match s.parsed::<url::Url>(&HTTP_PUBLIC_URL, "a URL like https://madar.example.com")? {
                Some(url) => url,
                None => url::Url::parse(&format!("http://{http_listen}"))
                    .map_err(|e| HTTP_PUBLIC_URL.invalid(e.to_string()))?,
            };
        let payments = payments_config(s)?;
        let runtime = RuntimeConfig {
            kind: match s.raw(&RUNTIME) {
                None | Some("docker") => RuntimeKind::Docker,
                Some("process") => RuntimeKind::Process,
                Some("none") => RuntimeKind::None,
                Some(other) => {
                    return Err(RUNTIME.invalid(format!(
                        "must be docker, process or none, but it is `{other}`"
                    )))
                }
            },
            docker_host: s.string(&RUNTIME_DOCKER_HOST),
            tenant_master_url: s
                .parsed::<url::Url>(
                    &RUNTIME_TENANT_MASTER_URL,
                    "a URL like http://172.17.0.1:8080",
                )?
                .unwrap_or_else(|| public_url.clone()),
            tenant_telegram_api_url: s
                .parsed::<url::Url>(
                    &RUNTIME_TENANT_TELEGRAM_API_URL,
                    "a URL like https://api.telegram.org",
                )?
                .unwrap_or_else(|| telegram_api_url.clone()),
        };

        Ok(MasterConfig {
            data_dir,
            database_url,
            default_locale,
            http_listen,
            bot_token,
            telegram_api_url,
            update_mode,
            log_format,
            log_filter,
            secret_keys,
            staff_chat_id,
            smtp,
            public_url,
            payments,
            runtime,
        })
    }
}

fn payments_config(s: &Sources) -> Result<PaymentsConfig, ConfigError> {
    use keys::*;
    let mut cards = Vec::new();
    for item in s.list(&PAYMENTS_CARDS) {
        let parts: Vec<&str> = item.split('|').map(str::trim).collect();
        let [number, owner, bank] = parts.as_slice() else {
            return Err(
                PAYMENTS_CARDS.invalid("must list cards as number|owner|bank, separated by commas")
            );
        };
        let card = crate::payment::CardAccount::new(number, owner, bank)
            .map_err(|e| PAYMENTS_CARDS.invalid(e.to_string()))?;
        cards.push(card);
    }
    let card_auto_approve_minutes = s.parsed::<u32>(
        &PAYMENTS_CARD_AUTO_APPROVE_MINUTES,
        "a whole number of minutes",
    )?;
    let zarinpal = s.secret(&PAYMENTS_ZARINPAL_MERCHANT_ID).map(|id| {
        let base = s
            .string(&PAYMENTS_ZARINPAL_URL)
            .unwrap_or_else(|| "https://payment.zarinpal.com".into());
        (id, base)
    });
    let nowpayments = match s.secret(&PAYMENTS_NOWPAYMENTS_API_KEY) {
        None => None,
        Some(key) => {
            let secret = s.secret(&PAYMENTS_NOWPAYMENTS_IPN_SECRET).ok_or_else(|| {
                PAYMENTS_NOWPAYMENTS_IPN_SECRET.invalid(
                    "is not set, but a NowPayments API key is: without it notifications cannot be trusted",
                )
            })?;
            let base = s
                .string(&PAYMENTS_NOWPAYMENTS_URL)
                .unwrap_or_else(|| "https://api.nowpayments.io".into());
            Some((key, secret, base))
        }
    };
    Ok(PaymentsConfig {
        cards,
        card_auto_approve_minutes,
        zarinpal,
        nowpayments,
        stars: s.bool(&PAYMENTS_STARS)?.unwrap_or(false),
    })
}

pub fn default_telegram_api_url() -> url::Url {
    url::Url::parse("https://api.telegram.org").expect("a constant URL parses")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVE: Requirements = Requirements {
        bot_token: true,
        secret_keys: false,
    };

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load(
        file: Option<&str>,
        pairs: &[(&str, &str)],
        needs: Requirements,
    ) -> Result<MasterConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("madar.toml");
        if let Some(text) = file {
            std::fs::write(&path, text).unwrap();
        }
        let sources = Sources::from_parts(file.map(|_| path.as_path()), env(pairs), keys::ALL)?;
        MasterConfig::from_sources(&sources, needs)
    }

    const TOKEN: &str = "123456789:AAEhBP0av28MchQMDxWRaDcSDHHCMG5Rwrs";

    #[test]
    fn defaults_give_sqlite_under_the_data_dir_and_long_polling() {
        let c = load(None, &[("MADAR_TELEGRAM_BOT_TOKEN", TOKEN)], SERVE).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert!(c.database_url.expose().starts_with("sqlite://"));
        assert!(c.database_url.expose().contains("madar.db"));
        assert_eq!(c.update_mode, UpdateMode::LongPolling);
        assert_eq!(c.http_listen.port(), 8080);
        assert_eq!(c.default_locale, Locale::Fa);
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let c = load(
            Some("[http]\nlisten = \"127.0.0.1:9000\"\n[telegram]\nbot_token = \"1:x\"\n"),
            &[
                ("MADAR_HTTP_LISTEN", "127.0.0.1:9100"),
                ("MADAR_TELEGRAM_BOT_TOKEN", TOKEN),
            ],
            SERVE,
        )
        .unwrap();
        assert_eq!(c.http_listen.port(), 9100);
        assert_eq!(c.bot_token.unwrap().expose(), TOKEN);
    }

    #[test]
    fn a_missing_token_names_the_variable_and_suggests_the_demo() {
        let err = load(None, &[], SERVE).unwrap_err().to_string();
        assert!(err.contains("MADAR_TELEGRAM_BOT_TOKEN"), "{err}");
        assert!(err.contains("madar demo"), "{err}");
    }

    #[test]
    fn a_bad_address_names_the_variable_and_the_key_and_what_is_expected() {
        let err = load(
            None,
            &[
                ("MADAR_TELEGRAM_BOT_TOKEN", TOKEN),
                ("MADAR_HTTP_LISTEN", "localhost"),
            ],
            SERVE,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("MADAR_HTTP_LISTEN"), "{err}");
        assert!(err.contains("http.listen"), "{err}");
        assert!(err.contains("127.0.0.1:8080"), "{err}");
    }

    #[test]
    fn a_malformed_token_is_refused_without_echoing_it() {
        let err = load(
            None,
            &[("MADAR_TELEGRAM_BOT_TOKEN", "not-a-token-supersecret")],
            SERVE,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("MADAR_TELEGRAM_BOT_TOKEN"), "{err}");
        assert!(!err.contains("supersecret"), "{err}");
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error() {
        let err = load(Some("[htp]\nlisten = \"x\"\n"), &[], SERVE)
            .unwrap_err()
            .to_string();
        assert!(err.contains("htp.listen"), "{err}");
    }

    #[test]
    fn a_webhook_needs_a_valid_secret() {
        let base = [
            ("MADAR_TELEGRAM_BOT_TOKEN", TOKEN),
            (
                "MADAR_TELEGRAM_WEBHOOK_URL",
                "https://madar.example/telegram/webhook",
            ),
        ];
        let err = load(None, &base, SERVE).unwrap_err().to_string();
        assert!(err.contains("MADAR_TELEGRAM_WEBHOOK_SECRET"), "{err}");

        let mut with_bad = base.to_vec();
        with_bad.push(("MADAR_TELEGRAM_WEBHOOK_SECRET", "has spaces!"));
        assert!(load(None, &with_bad, SERVE).is_err());

        let mut with_good = base.to_vec();
        with_good.push(("MADAR_TELEGRAM_WEBHOOK_SECRET", "s3cret_-X"));
        let c = load(None, &with_good, SERVE).unwrap();
        assert!(matches!(c.update_mode, UpdateMode::Webhook { .. }));
    }

    #[test]
    fn missing_secret_keys_when_required_come_with_a_fresh_key_to_paste() {
        let needs = Requirements {
            bot_token: false,
            secret_keys: true,
        };
        let err = load(None, &[], needs).unwrap_err().to_string();
        assert!(err.contains("MADAR_SECRET_KEYS=k1:"), "{err}");
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let c = load(None, &[("MADAR_TELEGRAM_BOT_TOKEN", TOKEN)], SERVE).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("AAEhBP0av28"), "{shown}");
    }

    #[test]
    fn a_bad_database_url_is_explained() {
        let err = load(
            None,
            &[
                ("MADAR_TELEGRAM_BOT_TOKEN", TOKEN),
                ("MADAR_DATABASE_URL", "mysql://x"),
            ],
            SERVE,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("MADAR_DATABASE_URL"), "{err}");
        assert!(err.contains("sqlite://"), "{err}");
    }
}
