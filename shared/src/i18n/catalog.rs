//! A message catalog: every bot text in every locale, loaded from TOML.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::template::{Template, TemplateError};
use super::{escape_html, Arg, Locale};
use crate::jalali::IRAN_UTC_OFFSET_SECONDS;

#[derive(Debug, thiserror::Error)]
pub enum I18nError {
    #[error("the {locale} texts are not valid TOML: {source}")]
    Toml {
        locale: Locale,
        #[source]
        source: toml::de::Error,
    },
    #[error("the {locale} text \"{key}\" is not a string: write it as {key} = \"...\"")]
    NotText { locale: Locale, key: String },
    #[error("the {locale} text \"{key}\" has a brace problem: {error}")]
    BadTemplate {
        locale: Locale,
        key: String,
        error: TemplateError,
    },
    #[error("cannot read the texts file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the texts of the default language are missing: create {path}")]
    MissingDefaultFile { path: PathBuf },
    #[error("the texts do not agree between languages:\n  - {}", problems.join("\n  - "))]
    Inconsistent { problems: Vec<String> },
}

/// All texts of one bot, per locale. Share it behind an `Arc`; lookups take `&self`.
#[derive(Debug)]
pub struct Catalog {
    texts: BTreeMap<Locale, BTreeMap<String, Template>>,
    utc_offset_seconds: i32,
    /// What was already warned about, so a busy bot does not repeat the same warning.
    warned: Mutex<HashSet<String>>,
}

impl Catalog {
    /// An empty catalog; every lookup gives the key itself.
    pub fn empty() -> Catalog {
        Catalog {
            texts: BTreeMap::new(),
            utc_offset_seconds: IRAN_UTC_OFFSET_SECONDS,
            warned: Mutex::new(HashSet::new()),
        }
    }

    /// Parses TOML sources, one per locale: `key = "text with {named} placeholders"`;
    /// tables and dotted keys give dotted names (`[buy]` + `title = ".."` is "buy.title").
    /// A later source for the same locale adds to and replaces texts of an earlier one.
    pub fn from_sources(sources: &[(Locale, &str)]) -> Result<Catalog, I18nError> {
        let mut catalog = Catalog::empty();
        for &(locale, source) in sources {
            catalog.add_source(locale, source)?;
        }
        Ok(catalog)
    }

    /// Loads `dir/fa.toml` and `dir/en.toml`. The default locale's file must exist; a missing
    /// file of another locale leaves that locale to fall back (and `check_consistency` says so).
    pub fn load_dir(dir: &Path) -> Result<Catalog, I18nError> {
        let mut catalog = Catalog::empty();
        for locale in Locale::ALL {
            let path = dir.join(format!("{}.toml", locale.as_code()));
            let source = match std::fs::read_to_string(&path) {
                Ok(source) => source,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if locale == Locale::DEFAULT {
                        return Err(I18nError::MissingDefaultFile { path });
                    }
                    continue;
                }
                Err(source) => return Err(I18nError::Io { path, source }),
            };
            catalog.add_source(locale, &source)?;
        }
        Ok(catalog)
    }

    /// Adds one TOML source for `locale` (for example a tenant's own wording over the defaults).
    pub fn add_source(&mut self, locale: Locale, source: &str) -> Result<(), I18nError> {
        let table: toml::Table = source
            .parse()
            .map_err(|source| I18nError::Toml { locale, source })?;
        let mut flat = Vec::new();
        flatten(locale, "", &table, &mut flat)?;
        for (key, text) in flat {
            self.set(locale, &key, &text)?;
        }
        Ok(())
    }

    /// Sets one text, replacing any earlier one.
    pub fn set(&mut self, locale: Locale, key: &str, text: &str) -> Result<(), I18nError> {
        let template = Template::parse(text).map_err(|error| I18nError::BadTemplate {
            locale,
            key: key.to_string(),
            error,
        })?;
        self.texts
            .entry(locale)
            .or_default()
            .insert(key.to_string(), template);
        Ok(())
    }

    /// Dates are shown at this offset from UTC; Iran's +03:30 unless changed.
    pub fn with_utc_offset(mut self, utc_offset_seconds: i32) -> Catalog {
        self.utc_offset_seconds = utc_offset_seconds;
        self
    }

    /// Whether `locale` itself has a text for `key` (no fallback).
    pub fn has(&self, locale: Locale, key: &str) -> bool {
        self.texts
            .get(&locale)
            .is_some_and(|texts| texts.contains_key(key))
    }

    /// The text for `key` in `locale`, placeholders filled from `args`.
    /// A key missing in `locale` falls back to the default locale (Fa), then to the key itself;
    /// a missing argument stays visible as `{name}`. Both are logged once as warnings.
    pub fn text(&self, locale: Locale, key: &str, args: &[(&str, Arg)]) -> String {
        self.render(locale, key, args, false)
    }

    /// Like [`Catalog::text`] for messages sent with Telegram's HTML parse mode: the text
    /// itself may hold HTML tags, every argument value is escaped (`&`, `<`, `>`).
    pub fn text_html(&self, locale: Locale, key: &str, args: &[(&str, Arg)]) -> String {
        self.render(locale, key, args, true)
    }

    /// The placeholder names of `key` in `locale` (falling back like [`Catalog::text`]),
    /// in order of first appearance; empty for an unknown key.
    pub fn placeholders(&self, locale: Locale, key: &str) -> Vec<String> {
        self.lookup(locale, key)
            .map(|(_, template)| template.placeholders())
            .unwrap_or_default()
    }

    /// Every key in every locale, with the same placeholders (in any order), and no bidi
    /// embedding, override or isolate characters in the wording. Lists every problem found.
    pub fn check_consistency(&self) -> Result<(), I18nError> {
        let mut problems = Vec::new();
        for key in self.keys() {
            let mut reference: Option<(Locale, BTreeSet<String>)> = None;
            for locale in Locale::ALL {
                let Some(template) = self.texts.get(&locale).and_then(|t| t.get(key)) else {
                    problems.push(format!("\"{key}\" has no {locale} text"));
                    continue;
                };
                if template.literal_text().chars().any(is_embedding_control) {
                    problems.push(format!(
                        "the {locale} text \"{key}\" contains invisible bidi control characters \
                         (U+202A-U+202E, U+2066-U+2069); remove them"
                    ));
                }
                let names: BTreeSet<String> = template.placeholders().into_iter().collect();
                match &reference {
                    None => reference = Some((locale, names)),
                    Some((first, expected)) if *expected != names => problems.push(format!(
                        "\"{key}\" has placeholders {} in {first} but {} in {locale}",
                        show_names(expected),
                        show_names(&names)
                    )),
                    Some(_) => {}
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(I18nError::Inconsistent { problems })
        }
    }

    /// Every key that has a text in at least one locale, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        let keys: BTreeSet<&str> = self
            .texts
            .values()
            .flat_map(|texts| texts.keys().map(String::as_str))
            .collect();
        keys.into_iter()
    }

    fn lookup(&self, locale: Locale, key: &str) -> Option<(Locale, &Template)> {
        [locale, Locale::DEFAULT]
            .into_iter()
            .find_map(|l| self.texts.get(&l)?.get(key).map(|t| (l, t)))
    }

    fn render(&self, locale: Locale, key: &str, args: &[(&str, Arg)], html: bool) -> String {
        let Some((found_in, template)) = self.lookup(locale, key) else {
            self.warn_once(format!("missing:{key}"), || {
                tracing::warn!(key, %locale, "bot text missing in every locale; showing its key");
            });
            return key.to_string();
        };
        if found_in != locale {
            self.warn_once(format!("fallback:{locale}:{key}"), || {
                tracing::warn!(key, %locale, fallback = %found_in, "bot text missing; using the default language");
            });
        }
        // Arguments are shown in the language of the text actually used.
        template.render(
            |name| {
                let (_, arg) = args.iter().find(|(n, _)| *n == name)?;
                let value = arg.render(found_in, self.utc_offset_seconds);
                Some(if html { escape_html(&value) } else { value })
            },
            |name| {
                self.warn_once(format!("arg:{found_in}:{key}:{name}"), || {
                    tracing::warn!(key, locale = %found_in, placeholder = name, "no value given for a placeholder; it stays visible");
                });
            },
        )
    }

    fn warn_once(&self, what: String, warn: impl FnOnce()) {
        let first_time = match self.warned.lock() {
            Ok(mut warned) => warned.insert(what),
            // A panic elsewhere poisoned the set: warning again is better than never.
            Err(_) => true,
        };
        if first_time {
            warn();
        }
    }
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog::empty()
    }
}

fn flatten(
    locale: Locale,
    prefix: &str,
    table: &toml::Table,
    out: &mut Vec<(String, String)>,
) -> Result<(), I18nError> {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match value {
            toml::Value::String(text) => out.push((key, text.clone())),
            toml::Value::Table(inner) => flatten(locale, &key, inner, out)?,
            _ => return Err(I18nError::NotText { locale, key }),
        }
    }
    Ok(())
}

fn is_embedding_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn show_names(names: &BTreeSet<String>) -> String {
    if names.is_empty() {
        return "none".to_string();
    }
    names
        .iter()
        .map(|n| format!("{{{n}}}"))
        .collect::<Vec<_>>()
        .join(" ")
}
