//! The message catalog end to end: TOML sources, fallback, placeholders, formatting, checks.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use shared::i18n::{Arg, Catalog, I18nError, Locale};
use shared::money::Money;

/// 2026-11-21 00:00:00 UTC.
const NOV_21_2026: i64 = 1_795_219_200;

const FA: &str = r#"
welcome = "سلام {name}! به ربات خوش آمدید."
only_fa = "فقط فارسی"

[buy]
confirm = "سفارش {plan} به مبلغ {price} تا {expires} معتبر است."
link = "لینک اشتراک شما:\n{link}"
count = "{count} کاربر"
"#;

const EN: &str = r#"
welcome = "Hi {name}! Welcome to the bot."
buy.confirm = "Order {plan} for {price} is valid until {expires}."
buy.link = "Your subscription link:\n{link}"
buy.count = "{count} users"
html = "<b>{name}</b> paid {price}"
"#;

fn catalog() -> Catalog {
    Catalog::from_sources(&[(Locale::Fa, FA), (Locale::En, EN)]).expect("valid catalog")
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with warnings captured; returns them as text.
fn warnings_of(f: impl FnOnce()) -> String {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = buffer.0.lock().expect("lock").clone();
    String::from_utf8(bytes).expect("utf8")
}

#[test]
fn persian_text_with_formatted_arguments() {
    let c = catalog();
    let text = c.text(
        Locale::Fa,
        "buy.confirm",
        &[
            ("plan", Arg::Text("طلایی ۳۰ روزه")),
            ("price", Arg::Money(Money::toman(120_000))),
            ("expires", Arg::Date(NOV_21_2026)),
        ],
    );
    assert_eq!(
        text,
        "سفارش طلایی ۳۰ روزه به مبلغ ۱۲۰٬۰۰۰ تومان تا ۳۰ آبان ۱۴۰۵ معتبر است."
    );
    assert_eq!(
        c.text(Locale::Fa, "buy.count", &[("count", Arg::Number(1250))]),
        "۱٬۲۵۰ کاربر"
    );
}

#[test]
fn english_text_with_formatted_arguments() {
    let c = catalog();
    let text = c.text(
        Locale::En,
        "buy.confirm",
        &[
            ("plan", Arg::Text("Gold 30")),
            ("price", Arg::Money(Money::usd_cents(499))),
            ("expires", Arg::Date(NOV_21_2026)),
        ],
    );
    assert_eq!(text, "Order Gold 30 for $4.99 is valid until 21 Nov 2026.");
}

#[test]
fn codes_stay_verbatim_and_unmarked_in_persian_text() {
    let c = catalog();
    let link = "https://sub.example.com/sub/AbC123-456";
    let text = c.text(Locale::Fa, "buy.link", &[("link", Arg::Code(link))]);
    assert_eq!(text, format!("لینک اشتراک شما:\n{link}"));
    // Digits inside the link are not converted, and no invisible marks were added anywhere.
    assert!(text.contains("123-456"));
    let invisible = |ch: char| matches!(ch, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}' | '\u{FEFF}');
    assert!(!text.chars().any(invisible), "{text:?}");
    // Marks smuggled into a code are removed.
    let dirty = format!("\u{2067}{link}\u{2069}\u{200F}");
    assert_eq!(
        c.text(Locale::Fa, "buy.link", &[("link", Arg::Code(&dirty))]),
        format!("لینک اشتراک شما:\n{link}")
    );
}

#[test]
fn a_name_cannot_flip_the_text() {
    let c = catalog();
    let text = c.text(
        Locale::En,
        "welcome",
        &[("name", Arg::Text("\u{202E}nilA"))],
    );
    assert_eq!(text, "Hi nilA! Welcome to the bot.");
}

#[test]
fn missing_key_falls_back_to_persian_then_to_the_key() {
    let c = catalog();
    let logs = warnings_of(|| {
        assert_eq!(c.text(Locale::En, "only_fa", &[]), "فقط فارسی");
        assert_eq!(c.text(Locale::En, "only_fa", &[]), "فقط فارسی");
        assert_eq!(c.text(Locale::Fa, "no.such.key", &[]), "no.such.key");
        assert_eq!(c.text(Locale::En, "no.such.key", &[]), "no.such.key");
    });
    // One warning per problem, not one per call.
    assert_eq!(logs.matches("only_fa").count(), 1, "{logs}");
    assert_eq!(logs.matches("no.such.key").count(), 1, "{logs}");
    assert!(logs.contains("WARN"), "{logs}");
}

#[test]
fn fallback_text_renders_arguments_in_its_own_language() {
    let c = Catalog::from_sources(&[(Locale::Fa, "price = \"قیمت: {p}\"")]).expect("valid");
    assert_eq!(
        c.text(Locale::En, "price", &[("p", Arg::Number(1000))]),
        "قیمت: ۱٬۰۰۰"
    );
}

#[test]
fn missing_argument_stays_visible_and_warns() {
    let c = catalog();
    let logs = warnings_of(|| {
        assert_eq!(
            c.text(Locale::En, "welcome", &[]),
            "Hi {name}! Welcome to the bot."
        );
    });
    assert!(logs.contains("name"), "{logs}");
    // Unused arguments are fine.
    assert_eq!(
        c.text(
            Locale::En,
            "welcome",
            &[("name", Arg::Text("Sara")), ("extra", Arg::Number(1))]
        ),
        "Hi Sara! Welcome to the bot."
    );
}

#[test]
fn html_variant_escapes_arguments_only() {
    let c = catalog();
    let text = c.text_html(
        Locale::En,
        "html",
        &[
            ("name", Arg::Text("<Tom & Jerry>")),
            ("price", Arg::Money(Money::usd_cents(100))),
        ],
    );
    assert_eq!(text, "<b>&lt;Tom &amp; Jerry&gt;</b> paid $1.00");
}

#[test]
fn placeholders_and_keys() {
    let c = catalog();
    assert_eq!(
        c.placeholders(Locale::Fa, "buy.confirm"),
        ["plan", "price", "expires"]
    );
    assert_eq!(c.placeholders(Locale::En, "only_fa"), Vec::<String>::new());
    assert_eq!(c.placeholders(Locale::En, "welcome"), ["name"]);
    assert!(c.placeholders(Locale::En, "nope").is_empty());
    let keys: Vec<&str> = c.keys().collect();
    assert_eq!(
        keys,
        [
            "buy.confirm",
            "buy.count",
            "buy.link",
            "html",
            "only_fa",
            "welcome"
        ]
    );
    assert!(c.has(Locale::Fa, "buy.link"));
    assert!(!c.has(Locale::En, "only_fa"));
}

#[test]
fn consistency_check_lists_every_problem() {
    let err = catalog().check_consistency().expect_err("inconsistent");
    let I18nError::Inconsistent { problems } = &err else {
        panic!("unexpected error {err}");
    };
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        err.to_string().contains("\"only_fa\" has no en text"),
        "{err}"
    );
    assert!(err.to_string().contains("\"html\" has no fa text"), "{err}");

    let mismatched = Catalog::from_sources(&[
        (Locale::Fa, "a = \"{x} {y}\"\nb = \"\u{202B}متن\u{202C}\""),
        (Locale::En, "a = \"{y} {z}\"\nb = \"text\""),
    ])
    .expect("valid");
    let message = mismatched
        .check_consistency()
        .expect_err("mismatch")
        .to_string();
    assert!(
        message.contains("\"a\" has placeholders {x} {y} in fa but {y} {z} in en"),
        "{message}"
    );
    assert!(message.contains("bidi"), "{message}");

    let good = Catalog::from_sources(&[
        (Locale::Fa, "a = \"{x} و {y}\""),
        (Locale::En, "a = \"{y} and {x}\""),
    ])
    .expect("valid");
    assert!(good.check_consistency().is_ok());
}

#[test]
fn bad_sources_are_clear_errors() {
    let err = Catalog::from_sources(&[(Locale::Fa, "a = ")]).expect_err("bad toml");
    assert!(
        matches!(
            err,
            I18nError::Toml {
                locale: Locale::Fa,
                ..
            }
        ),
        "{err}"
    );

    let err = Catalog::from_sources(&[(Locale::En, "[menu]\nsize = 3")]).expect_err("number");
    assert_eq!(
        err.to_string(),
        "the en text \"menu.size\" is not a string: write it as menu.size = \"...\""
    );

    let err = Catalog::from_sources(&[(Locale::Fa, "a = \"۵۰٪ {off\"")]).expect_err("brace");
    assert!(
        matches!(&err, I18nError::BadTemplate { key, .. } if key == "a"),
        "{err}"
    );
}

#[test]
fn later_sources_override_earlier_ones() {
    let mut c = catalog();
    c.add_source(Locale::Fa, "welcome = \"درود {name}\"")
        .expect("valid");
    c.set(Locale::En, "welcome", "Hello {name}").expect("valid");
    assert_eq!(
        c.text(Locale::Fa, "welcome", &[("name", Arg::Text("سارا"))]),
        "درود سارا"
    );
    assert_eq!(
        c.text(Locale::En, "welcome", &[("name", Arg::Text("Sara"))]),
        "Hello Sara"
    );
    assert_eq!(c.text(Locale::Fa, "only_fa", &[]), "فقط فارسی");
}

#[test]
fn dates_use_the_catalog_offset() {
    let late = NOV_21_2026 + 21 * 3600; // 00:30 on 22 Nov in Tehran
    let c = Catalog::from_sources(&[(Locale::Fa, "d = \"{d}\""), (Locale::En, "d = \"{d}\"")])
        .expect("valid");
    assert_eq!(
        c.text(Locale::Fa, "d", &[("d", Arg::Date(late))]),
        "۱ آذر ۱۴۰۵"
    );
    assert_eq!(
        c.text(Locale::En, "d", &[("d", Arg::DateTime(late))]),
        "22 Nov 2026, 00:30"
    );
    let utc = c.with_utc_offset(0);
    assert_eq!(
        utc.text(Locale::En, "d", &[("d", Arg::Date(late))]),
        "21 Nov 2026"
    );
}

#[test]
fn load_dir_reads_both_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("fa.toml"), FA).expect("write");
    std::fs::write(dir.path().join("en.toml"), EN).expect("write");
    let c = Catalog::load_dir(dir.path()).expect("loads");
    assert_eq!(
        c.text(Locale::En, "welcome", &[("name", Arg::Text("Sara"))]),
        "Hi Sara! Welcome to the bot."
    );

    // Without English the Persian texts still load; without Persian it is an error.
    std::fs::remove_file(dir.path().join("en.toml")).expect("remove");
    assert!(Catalog::load_dir(dir.path()).is_ok());
    std::fs::remove_file(dir.path().join("fa.toml")).expect("remove");
    let err = Catalog::load_dir(dir.path()).expect_err("no default");
    assert!(matches!(err, I18nError::MissingDefaultFile { .. }), "{err}");
    assert!(err.to_string().contains("fa.toml"), "{err}");
}

/// Every catalog shipped under templates/bot/<bot>/ loads and is consistent.
#[test]
fn shipped_bot_templates_are_consistent() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates/bot");
    let entries = std::fs::read_dir(&root).expect("templates/bot exists");
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if !path.is_dir() {
            continue;
        }
        let catalog =
            Catalog::load_dir(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        catalog
            .check_consistency()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            catalog.keys().next().is_some(),
            "{} is empty",
            path.display()
        );
    }
}

#[test]
fn catalog_and_keyring_can_be_shared_between_tasks() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Catalog>();
    assert_send_sync::<shared::secret::Keyring>();
    assert_send_sync::<Money>();
}
