//! Update throughput of one tenant bot through the sandbox Bot API (prints figures; not a test).
//!
//! The release `tenant-bot` binary runs as its own process on SQLite with one fake Marzban, as
//! the provisioner would run it. Simulated users, `in_flight` at a time, each send /start,
//! press Buy, press a plan, pay from their wallet and wait for the QR photo, always pressing
//! the buttons of the bot's last screen. Prints updates/s, answer latency per step, the bot
//! process's memory and CPU; then checks that every sale delivered exactly one panel account
//! and that the wallets add up (and exits with an error when they do not).
//!
//! Run: `cargo bench -p tenant-bot --bench throughput [-- users=1000 in_flight=64 limits=both
//! db=sqlite]` where `limits` is `lifted`, `telegram` (the sandbox enforces Telegram's 30
//! messages/s per bot and 1/s per chat) or `both`, and `db` is `sqlite` (a temporary file) or
//! `postgres` (a new database on the server at MADAR_TEST_POSTGRES_URL).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sandbox::client::ControlClient;
use sandbox::panels::{FakeMarzban, FakeMarzbanOptions};
use sandbox::state::StoredMessage;
use sandbox::{AppState, RateLimits, Sandbox, SandboxOptions};
use serde_json::Value;
use shared::db::{now_unix, Db, Engine, RowExt, Schema};
use shared::money::Money;
use shared::panel::{PanelCredentials, PanelKind};
use shared::secret::{Keyring, SecretString};
use shared::testdb::TestDb;
use tenant_bot::bot::actions::{Action, Page};
use tenant_bot::panels::{self, PanelInput, Source};
use tenant_bot::plans::{self, PlanDraft, GIB};
use tenant_bot::wallet::{self, Reason};

/// What every simulated user has in their wallet before they start.
const CREDIT: i64 = 150_000;
/// The shop: name, GB, days, price in Toman. Users spread over the plans by their number.
const PLANS: [(&str, i64, i64, i64); 3] = [
    ("Bronze", 5, 30, 30_000),
    ("Silver", 10, 30, 50_000),
    ("Gold", 50, 90, 120_000),
];
/// Longest wait for one answer before the user counts as failed.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a waiting user looks at their chat (in the sandbox's memory, no HTTP): the
/// resolution of the latency figures.
const LOOK_EVERY: Duration = Duration::from_millis(1);
const STEPS: [&str; 5] = [
    "/start -> home",
    "Buy -> plans",
    "plan -> its page",
    "pay -> first answer",
    "pay -> QR photo",
];
/// The steps that are one update and its answer (the photo is the purchase's delivery).
const ANSWER_STEPS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limits {
    Lifted,
    Telegram,
}

impl Limits {
    fn rate_limits(self) -> RateLimits {
        match self {
            Limits::Lifted => RateLimits::generous(),
            Limits::Telegram => RateLimits::default(),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Limits::Lifted => "Telegram's flood limits lifted (sandbox RateLimits::generous)",
            Limits::Telegram => {
                "Telegram's flood limits enforced by the sandbox (30 messages/s per bot, 1/s per chat, burst 3)"
            }
        }
    }
}

struct Args {
    users: usize,
    in_flight: usize,
    limits: Vec<Limits>,
    engine: Engine,
}

impl Args {
    /// `key=value` words; anything else (cargo passes `--bench`) is ignored.
    fn parse() -> anyhow::Result<Args> {
        let mut args = Args {
            users: 1_000,
            in_flight: 64,
            limits: vec![Limits::Lifted, Limits::Telegram],
            engine: Engine::Sqlite,
        };
        for word in std::env::args().skip(1) {
            let Some((key, value)) = word.split_once('=') else {
                continue;
            };
            match key {
                "users" => args.users = value.parse().context("users=<a number>")?,
                "in_flight" => args.in_flight = value.parse().context("in_flight=<a number>")?,
                "limits" => {
                    args.limits = match value {
                        "lifted" => vec![Limits::Lifted],
                        "telegram" => vec![Limits::Telegram],
                        "both" => vec![Limits::Lifted, Limits::Telegram],
                        other => bail!("limits={other}: use lifted, telegram or both"),
                    }
                }
                "db" => {
                    args.engine = match value {
                        "sqlite" => Engine::Sqlite,
                        "postgres" => Engine::Postgres,
                        other => bail!("db={other}: use sqlite or postgres"),
                    }
                }
                other => bail!("unknown argument {other}: use users=, in_flight=, limits= or db="),
            }
        }
        if args.users == 0 || args.in_flight == 0 {
            bail!("users and in_flight must be at least 1");
        }
        Ok(args)
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut all_right = true;
    for limits in &args.limits {
        all_right &= runtime.block_on(run(&args, *limits))?;
    }
    if !all_right {
        bail!("the bot sold something wrong: see the checks above");
    }
    Ok(())
}

// ------------------------------------------------------------------ one run

async fn run(args: &Args, limits: Limits) -> anyhow::Result<bool> {
    let dir = tempfile::tempdir()?;
    let options = SandboxOptions {
        limits: limits.rate_limits(),
        ..SandboxOptions::fast_for_tests()
    };
    let sandbox = Sandbox::start("127.0.0.1:0".parse()?, options)
        .await
        .context("start the sandbox")?;
    let marzban = FakeMarzban::start("127.0.0.1:0".parse()?, FakeMarzbanOptions::default())
        .await
        .context("start the fake Marzban")?;
    let control = ControlClient::new(&sandbox.url());
    let bot = control.create_bot("bench_shop_bot", "Bench VPN").await?;
    let mut users = Vec::with_capacity(args.users);
    for n in 0..args.users {
        let language = if n % 2 == 0 { "fa" } else { "en" };
        users.push(
            control
                .create_user(&format!("User {n}"), None, Some(language))
                .await?,
        );
    }
    let warm_up_user = control.create_user("Warm-up", None, Some("en")).await?;

    let data_key = Keyring::generate_key_line("bench");
    let keyring = Keyring::from_config(std::slice::from_ref(&data_key))?;
    // SQLite in a temporary directory, or a new PostgreSQL database (MADAR_TEST_POSTGRES_URL).
    let Some(test_db) = TestDb::fresh(args.engine, Schema::Tenant).await else {
        bail!("PostgreSQL cannot be reached: set MADAR_TEST_POSTGRES_URL to a server");
    };
    let (db, database_url) = (test_db.db.clone(), test_db.url.clone());
    let prices = open_shop(&db, &keyring, &marzban, &users).await?;

    let process = BotProcess::spawn(
        dir.path(),
        &bot.token,
        &data_key,
        &sandbox.url(),
        &database_url,
    )?;
    let bot_index = sandbox
        .state()
        .world()
        .bot_index(&bot.token)
        .context("the sandbox lost the bot")?;
    let telegram = Arc::new(Telegram {
        state: sandbox.state().clone(),
        control: control.clone(),
        token: bot.token.clone(),
        bot: bot_index,
    });
    // The bot has started and polls once it answers someone; that is not timed.
    telegram
        .say(warm_up_user, "/start")
        .await
        .context("the tenant bot did not answer a first /start")?;
    let idle = process.memory()?;
    let cpu_before = process.cpu_seconds()?;

    let began = Instant::now();
    let outcomes = drive(&telegram, &users, args.in_flight).await;
    let wall = began.elapsed();
    let busy = process.memory()?;
    let cpu = process.cpu_seconds()? - cpu_before;

    // The link message's last part (the import tips) may still be on its way.
    wait_for_notices(&db).await?;
    let status = process.stop().await?;
    let log = bot_log_summary(&dir.path().join("tenant-bot.log"));

    let report = Report {
        users: args.users,
        in_flight: args.in_flight,
        limits,
        engine: args.engine,
        wall,
        outcomes: &outcomes,
        idle,
        busy,
        cpu,
        own: memory_of("self")?,
    };
    report.print();
    println!("  bot process              {status}; warnings and errors it logged:");
    for line in log.iter().take(8) {
        println!("    {line}");
    }
    let checks = check_sales(&db, &telegram, &marzban, &users, &outcomes, &prices).await?;
    let all_right = checks.print();
    println!();

    test_db.cleanup().await?;
    sandbox.shutdown().await;
    Ok(all_right)
}

/// The tenant's shop as its admins would set it up: one Marzban panel, the plans, and money in
/// every user's wallet. Returns each plan's price by id.
async fn open_shop(
    db: &Db,
    keyring: &Keyring,
    marzban: &FakeMarzban,
    users: &[i64],
) -> anyhow::Result<BTreeMap<String, i64>> {
    let defaults = FakeMarzbanOptions::default();
    let now = now_unix();
    let panel = PanelInput {
        name: "Marzban DE".into(),
        kind: PanelKind::Marzban,
        url: marzban.url(),
        subscription_base: None,
        credentials: PanelCredentials::Password {
            username: defaults.admin_user,
            password: SecretString::new(defaults.admin_password),
        },
        weight: 1,
        capacity: None,
        location: None,
        inbounds: Vec::new(),
    };
    panels::insert(db, keyring, &panel, Source::Bot, None, now).await?;
    let mut prices = BTreeMap::new();
    for (order, (name, gb, days, toman)) in PLANS.into_iter().enumerate() {
        let draft = PlanDraft {
            name_fa: format!("{name} فا"),
            name_en: name.to_string(),
            data_bytes: Some(gb * GIB),
            days,
            price: Money::toman(toman),
            ip_limit: Some(2),
            location: None,
            panel_id: None,
            sort_order: order as i64,
        };
        let plan = plans::create(db, &draft, now).await?;
        prices.insert(plan.id, toman);
    }
    let mut tx = db.begin().await?;
    for user in users {
        let reference = format!("bench-credit:{user}");
        let credit = Money::toman(CREDIT);
        wallet::record(&mut tx, *user, credit, Reason::Admin, &reference, now).await?;
    }
    tx.commit().await?;
    Ok(prices)
}

// ------------------------------------------------------------------ the users

/// What one user lived through: how long each step took, and the plan they bought.
struct Journey {
    steps: [Duration; 5],
    plan_id: String,
}

type Outcome = Result<Journey, String>;

/// Every user's journey, `in_flight` at a time; in the order of `users`.
async fn drive(telegram: &Arc<Telegram>, users: &[i64], in_flight: usize) -> Vec<Outcome> {
    let users: Arc<Vec<i64>> = Arc::new(users.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..in_flight.min(users.len()) {
        let (telegram, users, next) = (telegram.clone(), users.clone(), next.clone());
        workers.spawn(async move {
            let mut done = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(user) = users.get(n) else {
                    return done;
                };
                let outcome = journey(&telegram, *user, n)
                    .await
                    .map_err(|e| format!("user {user}: {e:#}"));
                done.push((n, outcome));
            }
        });
    }
    let mut outcomes: Vec<(usize, Outcome)> = Vec::with_capacity(users.len());
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(done) => outcomes.extend(done),
            Err(e) => eprintln!("a simulated user panicked: {e}"),
        }
    }
    outcomes.sort_by_key(|(n, _)| *n);
    outcomes.into_iter().map(|(_, outcome)| outcome).collect()
}

/// /start, Buy, a plan (the n-th on the list, round robin), pay from the wallet, the photo.
async fn journey(telegram: &Telegram, user: i64, n: usize) -> anyhow::Result<Journey> {
    let home = telegram.say(user, "/start").await?;
    let buy = home
        .screen
        .button(|a| *a == Action::Show(Page::Plans))
        .with_context(|| format!("no button to the plans under {:?}", home.screen.text()))?;
    let plans = telegram.press(user, &home.screen, &buy).await?;
    let offers: Vec<(String, String)> = plans
        .screen
        .buttons()
        .into_iter()
        .filter_map(|(data, action)| match action {
            Action::Show(Page::Plan(id)) => Some((data, id)),
            _ => None,
        })
        .collect();
    let Some((data, plan_id)) = offers.get(n % offers.len().max(1)).cloned() else {
        bail!("no plan buttons under {:?}", plans.screen.text());
    };
    let page = telegram.press(user, &plans.screen, &data).await?;
    let pay = page
        .screen
        .button(|a| *a == Action::BuyWithWallet(plan_id.clone()))
        .with_context(|| format!("no pay-from-wallet button under {:?}", page.screen.text()))?;
    let newest = telegram.newest_message(user);
    let paid = telegram.press(user, &page.screen, &pay).await?;
    // The link comes as a new message with the QR photo; any other new message is a failure
    // (the bot's "try again", say).
    let ((photo, next), photo_seen) = telegram
        .wait(user, "the QR photo", |messages| {
            messages
                .iter()
                .find(|m| m.from_bot && !m.deleted && m.message_id > newest)
                .map(|m| (m.message.get("photo").is_some(), Screen::of(m)))
        })
        .await?;
    if !photo {
        bail!("the purchase ended in {:?}, not the QR photo", next.text());
    }
    Ok(Journey {
        steps: [
            home.latency(),
            plans.latency(),
            page.latency(),
            paid.latency(),
            photo_seen - paid.sent,
        ],
        plan_id,
    })
}

/// One bot message as the user sees it: enough to tell one screen from the next.
#[derive(Debug, Clone)]
struct Screen {
    id: i64,
    body: Value,
    markup: Option<Value>,
}

impl Screen {
    fn of(message: &StoredMessage) -> Screen {
        Screen {
            id: message.message_id,
            body: body_of(message).clone(),
            markup: message.shown_markup.clone(),
        }
    }

    /// The start of the text or caption, for error messages.
    fn text(&self) -> String {
        self.body.as_str().unwrap_or("").chars().take(100).collect()
    }

    fn differs_from(&self, message: &StoredMessage) -> bool {
        *body_of(message) != self.body || message.shown_markup != self.markup
    }

    /// `(callback data, what the bot's own decoder makes of it)` of every inline button.
    fn buttons(&self) -> Vec<(String, Action)> {
        let rows = self
            .markup
            .as_ref()
            .and_then(|m| m.get("inline_keyboard"))
            .and_then(Value::as_array);
        rows.into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|button| button.get("callback_data")?.as_str())
            .filter_map(|data| Some((data.to_string(), Action::decode(data)?)))
            .collect()
    }

    fn button(&self, wanted: impl Fn(&Action) -> bool) -> Option<String> {
        self.buttons()
            .into_iter()
            .find(|(_, action)| wanted(action))
            .map(|(data, _)| data)
    }
}

fn body_of(message: &StoredMessage) -> &Value {
    let m = &message.message;
    m.get("text")
        .or_else(|| m.get("caption"))
        .unwrap_or(&Value::Null)
}

/// The bot's answer to something a user did, and when each happened.
struct Reply {
    screen: Screen,
    sent: Instant,
    seen: Instant,
}

impl Reply {
    fn latency(&self) -> Duration {
        self.seen - self.sent
    }
}

/// The users' side of Telegram: acting through the control API, watching the sandbox's memory.
struct Telegram {
    state: AppState,
    control: ControlClient,
    token: String,
    bot: usize,
}

impl Telegram {
    /// Sends `text` and waits for the bot's first message after it.
    async fn say(&self, user: i64, text: &str) -> anyhow::Result<Reply> {
        let sent = Instant::now();
        let message = self.control.send(&self.token, user, text).await?;
        let after = message.message_id;
        let (screen, seen) = self
            .wait(user, "an answer to a message", |messages| {
                messages
                    .iter()
                    .find(|m| m.from_bot && !m.deleted && m.message_id > after)
                    .map(Screen::of)
            })
            .await?;
        Ok(Reply { screen, sent, seen })
    }

    /// Presses a button under `on` and waits for the screen to change (or a new message).
    async fn press(&self, user: i64, on: &Screen, data: &str) -> anyhow::Result<Reply> {
        let newest = self.newest_message(user);
        let sent = Instant::now();
        self.control.press(&self.token, user, on.id, data).await?;
        let (screen, seen) = self
            .wait(user, "an answer to a button", |messages| {
                let edited = messages
                    .iter()
                    .find(|m| m.message_id == on.id && !m.deleted && on.differs_from(m));
                let new = || {
                    messages
                        .iter()
                        .find(|m| m.from_bot && !m.deleted && m.message_id > newest)
                };
                edited.or_else(new).map(Screen::of)
            })
            .await?;
        Ok(Reply { screen, sent, seen })
    }

    /// Looks at the chat every `LOOK_EVERY` until `find` finds something; returns it and when.
    async fn wait<T>(
        &self,
        user: i64,
        what: &str,
        find: impl Fn(&[StoredMessage]) -> Option<T>,
    ) -> anyhow::Result<(T, Instant)> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            if let Some(found) = self.look(user, &find) {
                return Ok((found, Instant::now()));
            }
            if Instant::now() > deadline {
                bail!("waited {STEP_TIMEOUT:?} for {what}");
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
    }

    fn look<T>(&self, user: i64, find: impl Fn(&[StoredMessage]) -> Option<T>) -> Option<T> {
        let world = self.state.world();
        let chat = world.bots.get(self.bot)?.chats.get(&user)?;
        find(&chat.messages)
    }

    fn newest_message(&self, user: i64) -> i64 {
        self.look(user, |messages| messages.iter().map(|m| m.message_id).max())
            .unwrap_or(0)
    }

    /// How many photos the bot sent each user.
    fn photos(&self, users: &[i64]) -> Vec<usize> {
        users
            .iter()
            .map(|user| {
                self.look(*user, |messages| {
                    Some(
                        messages
                            .iter()
                            .filter(|m| m.from_bot && m.message.get("photo").is_some())
                            .count(),
                    )
                })
                .unwrap_or(0)
            })
            .collect()
    }
}

// ------------------------------------------------------------------ the bot's process

/// The `tenant-bot` binary, configured by variables as the provisioner does. Killed if dropped
/// while running (a failed benchmark leaves nothing behind).
struct BotProcess {
    child: Option<Child>,
    pid: u32,
}

impl BotProcess {
    fn spawn(
        dir: &Path,
        token: &str,
        data_key: &SecretString,
        telegram_url: &str,
        database_url: &str,
    ) -> anyhow::Result<BotProcess> {
        let log = std::fs::File::create(dir.join("tenant-bot.log"))?;
        let mut command = Command::new(env!("CARGO_BIN_EXE_tenant-bot"));
        for (key, _) in std::env::vars() {
            if key.starts_with("MADAR_") {
                command.env_remove(key);
            }
        }
        let child = command
            .env("MADAR_TENANT_ID", "t-bench")
            .env("MADAR_TENANT_BOT_TOKEN", token)
            .env("MADAR_TENANT_API_KEY", "bench-api-key")
            .env("MADAR_TENANT_DATA_KEY", data_key.expose())
            .env("MADAR_TENANT_TELEGRAM_API_URL", telegram_url)
            // Nothing listens there: heartbeats and the master link fail quietly.
            .env("MADAR_TENANT_MASTER_URL", "http://127.0.0.1:9")
            .env("MADAR_TENANT_DATABASE_URL", database_url)
            .env("MADAR_TENANT_PANEL_ALLOW", "127.0.0.1")
            .env("MADAR_LOG_FILTER", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("start the tenant-bot binary")?;
        let pid = child.id();
        Ok(BotProcess {
            child: Some(child),
            pid,
        })
    }

    fn memory(&self) -> anyhow::Result<Memory> {
        memory_of(&self.pid.to_string())
    }

    /// User and system CPU time so far, from /proc/<pid>/stat (in USER_HZ = 100 ticks).
    fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        // Fields after the command name (which may hold spaces): state is the first, then
        // utime and stime are the 12th and 13th.
        let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |i: usize| -> anyhow::Result<f64> {
            Ok(fields
                .get(i)
                .context("a short /proc stat line")?
                .parse::<f64>()?)
        };
        Ok((ticks(11)? + ticks(12)?) / 100.0)
    }

    /// SIGTERM, as the provisioner stops it, and its exit.
    async fn stop(mut self) -> anyhow::Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("the tenant bot was stopped already");
        };
        Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the tenant bot ignored SIGTERM for 15 s and was killed");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Memory {
    rss_kib: u64,
    peak_kib: u64,
}

/// VmRSS and VmHWM (the peak) of /proc/<pid>/status; `pid` may be "self".
fn memory_of(pid: &str) -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        let kib = line.split_whitespace().next().unwrap_or("");
        Ok(kib.parse()?)
    };
    Ok(Memory {
        rss_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
    })
}

/// Waits (up to 20 s) until every notice (the link messages) has been sent or given up.
async fn wait_for_notices(db: &Db) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM notices WHERE sent_at IS NULL AND dropped_at IS NULL",
        )
        .fetch_one(db.pool())
        .await?;
        if waiting == 0 || Instant::now() > deadline {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The bot's warnings and errors (JSON lines), counted by message, most frequent first.
fn bot_log_summary(path: &Path) -> Vec<String> {
    let Ok(log) = std::fs::read_to_string(path) else {
        return vec!["the log is unreadable".into()];
    };
    let mut counts = BTreeMap::<String, usize>::new();
    for line in log.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            *counts.entry(line.to_string()).or_default() += 1;
            continue;
        };
        let level = entry["level"].as_str().unwrap_or("?");
        if level != "WARN" && level != "ERROR" {
            continue;
        }
        let text = |key: &str| entry[key].as_str().unwrap_or("").to_string();
        let mut what = format!("{level} {}: {}", text("target"), text("message"));
        let error = text("error");
        if !error.is_empty() {
            what.push_str(&format!(" ({error})"));
        }
        *counts.entry(what).or_default() += 1;
    }
    let mut lines: Vec<(usize, String)> = counts.into_iter().map(|(w, n)| (n, w)).collect();
    lines.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    lines
        .into_iter()
        .map(|(n, what)| format!("{n:>5} x {what}"))
        .collect()
}

// ------------------------------------------------------------------ figures

struct Report<'a> {
    users: usize,
    in_flight: usize,
    limits: Limits,
    engine: Engine,
    wall: Duration,
    outcomes: &'a [Outcome],
    idle: Memory,
    busy: Memory,
    cpu: f64,
    own: Memory,
}

impl Report<'_> {
    fn print(&self) {
        let journeys: Vec<&Journey> = self
            .outcomes
            .iter()
            .filter_map(|o| o.as_ref().ok())
            .collect();
        let failures: Vec<&String> = self
            .outcomes
            .iter()
            .filter_map(|o| o.as_ref().err())
            .collect();
        // One message and three button presses per user; a failed user's updates are not counted.
        let updates = journeys.len() * ANSWER_STEPS;
        let seconds = self.wall.as_secs_f64();
        println!(
            "tenant-bot throughput: {} users, {} in flight; the release tenant-bot binary as its own process, {}, one fake Marzban",
            self.users, self.in_flight, self.engine
        );
        println!("  {}", self.limits.describe());
        println!(
            "  purchases completed      {} of {} ({} failed)",
            journeys.len(),
            self.users,
            failures.len()
        );
        for failure in failures.iter().take(3) {
            println!("    failed: {failure}");
        }
        println!(
            "  updates handled          {updates} ({} messages + {} button presses) in {seconds:.1} s: {:.0} updates/s, {:.1} purchases/s",
            journeys.len(),
            journeys.len() * (ANSWER_STEPS - 1),
            updates as f64 / seconds,
            journeys.len() as f64 / seconds,
        );
        println!(
            "  latency (ms, seen every {} ms)     p50      p95      p99      max",
            LOOK_EVERY.as_millis()
        );
        let times_of =
            |step: usize| -> Vec<Duration> { journeys.iter().map(|j| j.steps[step]).collect() };
        for (step, name) in STEPS.iter().enumerate().take(ANSWER_STEPS) {
            print_latency_row(name, &mut times_of(step));
        }
        let mut answers: Vec<Duration> = (0..ANSWER_STEPS).flat_map(times_of).collect();
        print_latency_row("every answer above", &mut answers);
        print_latency_row(STEPS[ANSWER_STEPS], &mut times_of(ANSWER_STEPS));
        let per_update = if updates > 0 {
            self.cpu * 1000.0 / updates as f64
        } else {
            0.0
        };
        println!(
            "  bot process (its own)    VmRSS idle {:.1} MiB, after the run {:.1} MiB, peak (VmHWM) {:.1} MiB; CPU {:.1} s ({per_update:.2} ms per update, {:.0}% of one core)",
            mib(self.idle.rss_kib),
            mib(self.busy.rss_kib),
            mib(self.busy.peak_kib),
            self.cpu,
            self.cpu * 100.0 / seconds,
        );
        println!(
            "  benchmark process        VmRSS {:.1} MiB, peak {:.1} MiB (the sandbox, the fake Marzban and the simulated users)",
            mib(self.own.rss_kib),
            mib(self.own.peak_kib),
        );
    }
}

fn print_latency_row(name: &str, times: &mut [Duration]) {
    times.sort();
    let ms = |p: usize| percentile(times, p).as_secs_f64() * 1000.0;
    let max = times.last().copied().unwrap_or_default().as_secs_f64() * 1000.0;
    println!(
        "    {name:<28} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
        ms(50),
        ms(95),
        ms(99),
        max
    );
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// ------------------------------------------------------------------ checks

struct Checks(Vec<(bool, String)>);

impl Checks {
    fn add(&mut self, ok: bool, what: String) {
        self.0.push((ok, what));
    }

    /// Prints every check; true when all passed.
    fn print(&self) -> bool {
        println!("  checks after the run:");
        for (ok, what) in &self.0 {
            println!("    [{}] {what}", if *ok { "ok" } else { "WRONG" });
        }
        self.0.iter().all(|(ok, _)| *ok)
    }
}

/// Every purchase delivered exactly one account and one photo, and the wallets add up.
async fn check_sales(
    db: &Db,
    telegram: &Telegram,
    marzban: &FakeMarzban,
    users: &[i64],
    outcomes: &[Outcome],
    prices: &BTreeMap<String, i64>,
) -> anyhow::Result<Checks> {
    let mut checks = Checks(Vec::new());
    let completed = outcomes.iter().filter(|o| o.is_ok()).count();

    let mut states = BTreeMap::new();
    let mut delivered = BTreeMap::<i64, Vec<(String, i64, String)>>::new();
    let rows = sqlx::query("SELECT telegram_id, state, plan_id, price_minor, username FROM orders")
        .fetch_all(db.pool())
        .await?;
    for row in &rows {
        let state: String = row.try_get("state")?;
        *states.entry(state.clone()).or_insert(0usize) += 1;
        if state == "delivered" {
            let user: i64 = row.try_get::<i64, _>("telegram_id")?;
            let plan: Option<String> = row.try_get("plan_id")?;
            delivered.entry(user).or_default().push((
                plan.unwrap_or_default(),
                row.try_get::<i64, _>("price_minor")?,
                row.try_get("username")?,
            ));
        }
    }
    let delivered_count: usize = delivered.values().map(Vec::len).sum();
    // Cancelled (nothing charged) and refunded (money back) orders are failed sales, not wrong
    // ones; an order still created, paid or provisioning after the run is money in limbo.
    let in_limbo: usize = ["created", "paid", "provisioning"]
        .iter()
        .filter_map(|state| states.get(*state))
        .sum();
    checks.add(
        delivered_count == completed && in_limbo == 0,
        format!(
            "orders by state {states:?}: {in_limbo} left unfinished; {delivered_count} delivered, {completed} seen complete by the users"
        ),
    );

    let photos = telegram.photos(users);
    let one_photo = photos.iter().filter(|n| **n == 1).count();
    checks.add(
        one_photo == completed && photos.iter().all(|n| *n <= 1),
        format!(
            "{one_photo} users got exactly one QR photo, {} more than one",
            photos.iter().filter(|n| **n > 1).count()
        ),
    );

    let services = sqlx::query("SELECT telegram_id, username FROM services")
        .fetch_all(db.pool())
        .await?;
    let mut service_names = BTreeSet::new();
    let mut per_user = BTreeMap::<i64, usize>::new();
    for row in &services {
        service_names.insert(row.try_get::<String, _>("username")?);
        *per_user
            .entry(row.try_get::<i64, _>("telegram_id")?)
            .or_default() += 1;
    }
    let order_names: BTreeSet<String> = delivered
        .values()
        .flatten()
        .map(|(_, _, name)| name.clone())
        .collect();
    let accounts = marzban.accounts();
    let account_names: BTreeSet<String> = accounts.iter().map(|a| a.username.clone()).collect();
    checks.add(
        services.len() == delivered_count
            && per_user.values().all(|n| *n == 1)
            && service_names == order_names,
        format!(
            "{} services in the bot, one per delivered order and per user",
            services.len()
        ),
    );
    checks.add(
        accounts.len() == delivered_count && account_names == order_names,
        format!(
            "{} accounts on the fake Marzban: exactly one per delivered order, no orphans",
            accounts.len()
        ),
    );

    let wrong_plans = outcomes
        .iter()
        .zip(users)
        .filter_map(|(outcome, user)| Some((outcome.as_ref().ok()?, user)))
        .filter(|(journey, user)| {
            let bought = delivered.get(user).map(Vec::as_slice).unwrap_or_default();
            !matches!(bought, [(plan, price, _)]
                if *plan == journey.plan_id && prices.get(plan) == Some(price))
        })
        .count();
    checks.add(
        wrong_plans == 0,
        format!("{wrong_plans} users charged for a plan other than the one they pressed"),
    );

    let balances = sqlx::query(
        "SELECT telegram_id, CAST(SUM(amount_minor) AS BIGINT) AS balance,
                CAST(SUM(CASE WHEN reason = 'refund' THEN 1 ELSE 0 END) AS BIGINT) AS refunds
         FROM wallet_entries GROUP BY telegram_id",
    )
    .fetch_all(db.pool())
    .await?;
    let (mut total, mut refunds, mut off) = (0i64, 0i64, 0usize);
    for row in &balances {
        let user = row.try_get::<i64, _>("telegram_id")?;
        let balance = row.try_get::<i64, _>("balance")?;
        total += balance;
        refunds += row.try_get::<i64, _>("refunds")?;
        let spent: i64 = delivered
            .get(&user)
            .map(|orders| orders.iter().map(|(_, price, _)| price).sum())
            .unwrap_or(0);
        if balance != CREDIT - spent {
            off += 1;
        }
    }
    let sold: i64 = delivered
        .values()
        .flatten()
        .map(|(_, price, _)| price)
        .sum();
    let expected = CREDIT * users.len() as i64 - sold;
    checks.add(
        off == 0 && balances.len() == users.len() && total == expected,
        format!(
            "wallets: {} in all = {} credited - {sold} sold ({expected} expected); {off} wallets off, {refunds} refunds",
            total,
            CREDIT * users.len() as i64
        ),
    );
    Ok(checks)
}
