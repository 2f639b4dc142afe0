//! Logging and tracing set-up for every Madar binary: human-readable or JSON lines on stderr.
//!
//! Secrets never reach the log because they travel as [`crate::secret::SecretString`], whose
//! `Debug` and `Display` print `"[redacted]"`.

use std::fmt;
use std::io::IsTerminal;
use std::str::FromStr;

use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// The environment variable that, when set and not empty, replaces the configured filter.
pub const FILTER_ENV: &str = "RUST_LOG";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One readable line per event, for a terminal.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Human => "human",
            LogFormat::Json => "json",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A log format name that is neither "human" nor "json".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log format \"{0}\": use \"human\" or \"json\"")]
pub struct ParseLogFormatError(String);

impl FromStr for LogFormat {
    type Err = ParseLogFormatError;

    /// "human" or "json", in any letter case, surrounding spaces ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "human" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            _ => Err(ParseLogFormatError(s.to_string())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("the log filter {origin} \"{filter}\" is not valid ({reason}); use directives such as \"info\" or \"info,madar=debug,sqlx=warn\"")]
    BadFilter {
        /// Where the filter came from: "setting" or "RUST_LOG".
        origin: &'static str,
        filter: String,
        reason: String,
    },
}

/// Installs the global logger: events at or above `filter` (for example "info,madar=debug")
/// are written to stderr in `format`. `RUST_LOG`, when set and not empty, overrides `filter`.
/// Also forwards records of crates that use the `log` crate.
///
/// Calling it again, or after something else installed a global logger (a test harness),
/// changes nothing and returns `Ok`.
pub fn init(format: LogFormat, filter: &str) -> Result<(), TelemetryError> {
    let rust_log = std::env::var(FILTER_ENV).ok();
    let filter = build_filter(filter, rust_log.as_deref())?;
    let writer = BoxMakeWriter::new(std::io::stderr);
    // `try_init` fails only when a global logger is already installed: that is the
    // documented no-op.
    // Colours only for a person at a terminal, never in files or log collectors.
    let colours = format == LogFormat::Human && std::io::stderr().is_terminal();
    let _already_installed = subscriber(format, filter, writer, colours).try_init();
    Ok(())
}

/// Checks a filter string without installing anything (for configuration checks).
pub fn validate_filter(filter: &str) -> Result<(), TelemetryError> {
    parse_filter(filter, "setting").map(|_| ())
}

fn build_filter(configured: &str, rust_log: Option<&str>) -> Result<EnvFilter, TelemetryError> {
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        Some(from_env) => parse_filter(from_env, FILTER_ENV),
        None => parse_filter(configured, "setting"),
    }
}

fn parse_filter(filter: &str, origin: &'static str) -> Result<EnvFilter, TelemetryError> {
    EnvFilter::builder()
        .parse(filter)
        .map_err(|e| TelemetryError::BadFilter {
            origin,
            filter: filter.to_string(),
            reason: e.to_string(),
        })
}

type BoxedSubscriber = Box<dyn tracing::Subscriber + Send + Sync + 'static>;

fn subscriber(
    format: LogFormat,
    filter: EnvFilter,
    writer: BoxMakeWriter,
    colours: bool,
) -> BoxedSubscriber {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(colours)
        .with_target(true);
    match format {
        LogFormat::Human => Box::new(builder.finish()),
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf8")
        }
    }

    fn capture(format: LogFormat, filter: &str, emit: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let writer = {
            let buffer = buffer.clone();
            BoxMakeWriter::new(move || buffer.clone())
        };
        let filter = build_filter(filter, None).expect("valid filter");
        tracing::subscriber::with_default(subscriber(format, filter, writer, false), emit);
        buffer.text()
    }

    #[test]
    fn parses_formats() {
        assert_eq!("human".parse(), Ok(LogFormat::Human));
        assert_eq!(" JSON ".parse(), Ok(LogFormat::Json));
        let err = "xml".parse::<LogFormat>().expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "unknown log format \"xml\": use \"human\" or \"json\""
        );
        assert_eq!(LogFormat::Json.to_string(), "json");
        assert_eq!(LogFormat::default(), LogFormat::Human);
    }

    #[test]
    fn filters_are_checked() {
        assert!(validate_filter("info").is_ok());
        assert!(validate_filter("info,madar=debug,sqlx=warn").is_ok());
        let err = validate_filter("info,madar=loud").expect_err("bad level");
        let message = err.to_string();
        assert!(message.contains("madar=loud"), "{message}");
        // RUST_LOG wins when set, and its errors name it.
        assert!(build_filter("info", Some("debug")).is_ok());
        assert!(build_filter("info", Some("  ")).is_ok());
        let err = build_filter("info", Some("x=nope")).expect_err("bad env");
        assert!(err.to_string().contains("RUST_LOG"), "{err}");
    }

    #[test]
    fn human_output_respects_the_filter() {
        let out = capture(LogFormat::Human, "info,madar_noisy=warn", || {
            tracing::info!(tenant = 42, "bot started");
            tracing::debug!("hidden debug");
            tracing::info!(target: "madar_noisy", "hidden by target");
        });
        assert!(out.contains("bot started"), "{out}");
        assert!(out.contains("tenant=42"), "{out}");
        assert!(!out.contains("hidden"), "{out}");
    }

    #[test]
    fn json_output_is_one_object_per_line() {
        let token = crate::secret::SecretString::new("123:SECRET-TOKEN");
        let out = capture(LogFormat::Json, "info", || {
            tracing::info!(tenant = 42, token = ?token, "bot started");
            tracing::warn!("second");
        });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        let first: serde_json::Value = serde_json::from_str(lines[0]).expect("json");
        assert_eq!(first["message"], "bot started");
        assert_eq!(first["tenant"], 42);
        assert_eq!(first["level"], "INFO");
        assert_eq!(first["token"], "[redacted]");
        assert!(!out.contains("SECRET-TOKEN"));
    }

    #[test]
    fn init_twice_is_harmless() {
        assert!(init(LogFormat::Human, "warn").is_ok());
        assert!(init(LogFormat::Json, "info").is_ok());
    }
}
