//! Everything the sandbox remembers: bots, users, chats, channels, updates, files, payments.
//!
//! One `World` behind one mutex. The lock is never held across an `.await`; waiting
//! (long polls, webhook deliveries, payments) uses `watch`/`oneshot` channels instead.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Map, Value};
use tokio::sync::{oneshot, watch};

use crate::files::FileStore;
use crate::limits::BotLimiter;
use crate::SandboxOptions;

pub type AppState = Arc<Shared>;

/// State shared by every request handler and background task.
pub struct Shared {
    pub options: SandboxOptions,
    world: Mutex<World>,
    /// Used for webhook deliveries and loopback file URLs.
    pub http: reqwest::Client,
    shutdown: watch::Sender<bool>,
}

impl Shared {
    pub fn new(options: SandboxOptions) -> AppState {
        let (shutdown, _) = watch::channel(false);
        Arc::new(Shared {
            options,
            world: Mutex::new(World::default()),
            // No proxy: deliveries must go straight to loopback.
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap_or_default(),
            shutdown,
        })
    }

    /// Locks the world. A panic elsewhere must not take the whole sandbox down, so a
    /// poisoned lock is recovered.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn begin_shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Resolves when the sandbox is shutting down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn random_string(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Update kinds a bot receives when it never said which it wants.
pub fn allowed_by_default(kind: &str) -> bool {
    !matches!(
        kind,
        "chat_member" | "message_reaction" | "message_reaction_count"
    )
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub first_name: String,
    pub username: Option<String>,
    pub language_code: Option<String>,
}

impl User {
    /// The Bot API `User` object.
    pub fn to_json(&self) -> Value {
        let mut user = json!({"id": self.id, "is_bot": false, "first_name": self.first_name});
        if let Some(username) = &self.username {
            user["username"] = json!(username);
        }
        if let Some(code) = &self.language_code {
            user["language_code"] = json!(code);
        }
        user
    }

    /// The Bot API `Chat` object of this user's private chat.
    pub fn private_chat_json(&self) -> Value {
        let mut chat = json!({"id": self.id, "type": "private", "first_name": self.first_name});
        if let Some(username) = &self.username {
            chat["username"] = json!(username);
        }
        chat
    }
}

/// A message as stored in a chat.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub message_id: i64,
    pub from_bot: bool,
    /// The Bot API `Message` object as it is now.
    pub message: Value,
    /// The markup the user sees under the message: inline keyboards, and also reply
    /// keyboards (which Telegram does not echo back in `Message`).
    pub shown_markup: Option<Value>,
    pub deleted: bool,
    pub edited: bool,
    pub invoice: Option<Invoice>,
}

/// A message that is not deleted, by id. Messages are stored in id order.
pub fn find_message(messages: &[StoredMessage], message_id: i64) -> Option<&StoredMessage> {
    let index = messages
        .binary_search_by_key(&message_id, |m| m.message_id)
        .ok()?;
    messages.get(index).filter(|m| !m.deleted)
}

pub fn find_message_mut(
    messages: &mut [StoredMessage],
    message_id: i64,
) -> Option<&mut StoredMessage> {
    let index = messages
        .binary_search_by_key(&message_id, |m| m.message_id)
        .ok()?;
    messages.get_mut(index).filter(|m| !m.deleted)
}

/// What a Telegram Stars invoice asks for.
#[derive(Debug, Clone)]
pub struct Invoice {
    pub title: String,
    pub description: String,
    pub payload: String,
    pub currency: String,
    pub total_amount: i64,
}

/// A bot's private chat with one user.
#[derive(Debug, Default)]
pub struct PrivateChat {
    /// The user pressed Start (wrote to the bot) at least once.
    pub started: bool,
    pub blocked: bool,
    pub messages: Vec<StoredMessage>,
    next_message_id: i64,
}

impl PrivateChat {
    pub fn next_message_id(&mut self) -> i64 {
        self.next_message_id += 1;
        self.next_message_id
    }

    pub fn find(&self, message_id: i64) -> Option<&StoredMessage> {
        find_message(&self.messages, message_id)
    }

    pub fn find_mut(&mut self, message_id: i64) -> Option<&mut StoredMessage> {
        find_message_mut(&mut self.messages, message_id)
    }
}

/// The sandbox's record of one callback query (a button press).
#[derive(Debug, Clone)]
pub struct CallbackRecord {
    pub id: String,
    pub user_id: i64,
    pub message_id: i64,
    pub data: String,
    pub answered: bool,
    pub text: Option<String>,
    pub show_alert: bool,
    pub url: Option<String>,
}

impl CallbackRecord {
    pub fn to_json(&self) -> Value {
        json!({
            "callback_query_id": self.id,
            "user_id": self.user_id,
            "message_id": self.message_id,
            "data": self.data,
            "answered": self.answered,
            "text": self.text,
            "show_alert": self.show_alert,
            "url": self.url,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: String,
    pub secret_token: Option<String>,
    pub max_connections: u32,
    pub last_error_date: Option<i64>,
    pub last_error_message: Option<String>,
    /// Changes whenever the webhook is set or removed, so an old delivery task stops.
    pub epoch: u64,
}

/// How a bot answered a pre_checkout_query.
#[derive(Debug, Clone)]
pub enum CheckoutAnswer {
    Ok,
    Declined(String),
}

/// Telegram keeps unconfirmed updates for 24 hours.
pub const UPDATE_RETENTION_SECS: i64 = 24 * 60 * 60;

/// A queued update and when it was made (unix seconds).
#[derive(Debug, Clone)]
pub struct Queued {
    pub at: i64,
    pub update: Value,
}

impl Queued {
    pub fn update_id(&self) -> i64 {
        self.update["update_id"].as_i64().unwrap_or(0)
    }
}

/// A bot account.
pub struct Bot {
    pub id: i64,
    pub token: String,
    pub username: String,
    pub first_name: String,
    /// Updates not yet confirmed (getUpdates) or delivered (webhook), oldest first.
    pub queue: VecDeque<Queued>,
    next_update_id: i64,
    pub allowed_updates: Option<Vec<String>>,
    /// Bumped on every new update and every new getUpdates call, to wake waiters.
    wake: watch::Sender<u64>,
    /// Which getUpdates call is the current one; older concurrent ones end with 409.
    pub poll_generation: u64,
    pub webhook: Option<Webhook>,
    pub webhook_epoch: u64,
    pub chats: HashMap<i64, PrivateChat>,
    pub callbacks: HashMap<String, CallbackRecord>,
    /// setMyCommands, keyed by "scope json|language".
    pub commands: BTreeMap<String, Value>,
    /// setMyName/Description/ShortDescription, keyed by "field|language".
    pub profile: BTreeMap<String, String>,
    /// setChatMenuButton per chat (None = the default for all chats).
    pub menu_buttons: HashMap<Option<i64>, Value>,
    pub limiter: BotLimiter,
    pub checkouts: HashMap<String, oneshot::Sender<CheckoutAnswer>>,
}

impl Bot {
    fn new(id: i64, token: String, username: String, first_name: String) -> Bot {
        let (wake, _) = watch::channel(0);
        Bot {
            id,
            token,
            username,
            first_name,
            queue: VecDeque::new(),
            next_update_id: rand::thread_rng().gen_range(100_000..900_000),
            allowed_updates: None,
            wake,
            poll_generation: 0,
            webhook: None,
            webhook_epoch: 0,
            chats: HashMap::new(),
            callbacks: HashMap::new(),
            commands: BTreeMap::new(),
            profile: BTreeMap::new(),
            menu_buttons: HashMap::new(),
            limiter: BotLimiter::default(),
            checkouts: HashMap::new(),
        }
    }

    /// The bot as a Bot API `User`.
    pub fn user_json(&self) -> Value {
        json!({"id": self.id, "is_bot": true, "first_name": self.first_name, "username": self.username})
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.wake.subscribe()
    }

    pub fn wake_waiters(&self) {
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn wants(&self, kind: &str) -> bool {
        match &self.allowed_updates {
            Some(list) if !list.is_empty() => list.iter().any(|k| k == kind),
            _ => allowed_by_default(kind),
        }
    }

    /// Queues an update of `kind` (e.g. "message") unless the bot filtered that kind
    /// out; returns its update_id either way.
    pub fn push_update(&mut self, kind: &str, payload: Value) -> i64 {
        self.next_update_id += 1;
        let update_id = self.next_update_id;
        if self.wants(kind) {
            let mut update = Map::new();
            update.insert("update_id".into(), json!(update_id));
            update.insert(kind.into(), payload);
            self.queue.push_back(Queued {
                at: now_unix(),
                update: Value::Object(update),
            });
            self.wake_waiters();
        }
        update_id
    }

    /// Forgets updates older than Telegram keeps them.
    pub fn drop_expired(&mut self) {
        let oldest_kept = now_unix() - UPDATE_RETENTION_SECS;
        while self.queue.front().is_some_and(|q| q.at < oldest_kept) {
            self.queue.pop_front();
        }
    }

    pub fn chat_mut(&mut self, user_id: i64) -> &mut PrivateChat {
        self.chats.entry(user_id).or_default()
    }
}

/// What kind of shared chat a `Channel` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatKind {
    Channel,
    Supergroup,
    Group,
}

impl ChatKind {
    pub fn parse(text: &str) -> Option<ChatKind> {
        match text {
            "channel" => Some(ChatKind::Channel),
            "supergroup" => Some(ChatKind::Supergroup),
            "group" => Some(ChatKind::Group),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChatKind::Channel => "channel",
            ChatKind::Supergroup => "supergroup",
            ChatKind::Group => "group",
        }
    }
}

/// A channel or group chat: for membership checks, staff groups and channel posts.
#[derive(Debug)]
pub struct Channel {
    pub id: i64,
    pub kind: ChatKind,
    pub username: Option<String>,
    pub title: String,
    /// user or bot id -> status (creator|administrator|member|left|kicked|restricted)
    pub members: HashMap<i64, String>,
    pub messages: Vec<StoredMessage>,
    next_message_id: i64,
}

impl Channel {
    pub fn chat_json(&self) -> Value {
        let mut chat = json!({"id": self.id, "type": self.kind.as_str(), "title": self.title});
        if let Some(username) = &self.username {
            chat["username"] = json!(username);
        }
        chat
    }

    pub fn next_message_id(&mut self) -> i64 {
        self.next_message_id += 1;
        self.next_message_id
    }

    /// Whether `id` (a user or bot) is in the chat now.
    pub fn is_member(&self, id: i64) -> bool {
        self.members
            .get(&id)
            .is_some_and(|s| !matches!(s.as_str(), "left" | "kicked"))
    }
}

/// An error injected through the control API.
#[derive(Debug, Clone)]
pub struct Fault {
    pub token: String,
    /// Lowercase method name, or "*" for every method.
    pub method: String,
    pub error_code: Option<u16>,
    pub description: Option<String>,
    pub retry_after: Option<u32>,
    pub delay_ms: u64,
    pub times: u32,
}

/// A completed Stars payment.
#[derive(Debug, Clone)]
pub struct Charge {
    pub charge_id: String,
    pub bot_id: i64,
    pub user_id: i64,
    pub amount: i64,
    pub payload: String,
    pub date: i64,
    pub refunded: bool,
}

impl Charge {
    pub fn to_json(&self) -> Value {
        json!({
            "telegram_payment_charge_id": self.charge_id,
            "bot_id": self.bot_id,
            "user_id": self.user_id,
            "amount": self.amount,
            "invoice_payload": self.payload,
            "date": self.date,
            "refunded": self.refunded,
        })
    }
}

/// An invoice link made by createInvoiceLink.
#[derive(Debug, Clone)]
pub struct InvoiceLink {
    pub bot_id: i64,
    pub invoice: Invoice,
}

#[derive(Default)]
pub struct World {
    /// In creation order (the first is the master bot in the demo). Never shrinks, so
    /// the indexes below stay valid.
    pub bots: Vec<Bot>,
    bot_by_token: HashMap<String, usize>,
    bot_by_id: HashMap<i64, usize>,
    pub users: BTreeMap<i64, User>,
    pub channels: BTreeMap<i64, Channel>,
    pub files: FileStore,
    pub faults: Vec<Fault>,
    pub charges: HashMap<String, Charge>,
    pub invoice_links: HashMap<String, InvoiceLink>,
    next_user_seq: i64,
    next_bot_seq: i64,
    next_channel_seq: i64,
}

impl World {
    pub fn bot_index(&self, token: &str) -> Option<usize> {
        self.bot_by_token.get(token).copied()
    }

    pub fn bot(&self, token: &str) -> Option<&Bot> {
        self.bot_index(token).and_then(|i| self.bots.get(i))
    }

    pub fn bot_mut(&mut self, token: &str) -> Option<&mut Bot> {
        self.bot_index(token).and_then(|i| self.bots.get_mut(i))
    }

    pub fn bot_by_id(&self, id: i64) -> Option<&Bot> {
        self.bot_by_id.get(&id).and_then(|&i| self.bots.get(i))
    }

    /// Creates a bot with a Telegram-shaped token `<id>:<35 characters>`.
    pub fn create_bot(&mut self, username: &str, first_name: &str) -> &Bot {
        self.next_bot_seq += 1;
        let id = 7_000_000_000 + self.next_bot_seq;
        let token = format!("{id}:AA{}", random_string(33));
        let index = self.bots.len();
        self.bot_by_token.insert(token.clone(), index);
        self.bot_by_id.insert(id, index);
        self.bots.push(Bot::new(
            id,
            token,
            username.to_string(),
            first_name.to_string(),
        ));
        &self.bots[index]
    }

    pub fn create_user(
        &mut self,
        first_name: &str,
        username: Option<&str>,
        language_code: Option<&str>,
    ) -> i64 {
        self.next_user_seq += 1;
        let id = 100_000_000 + self.next_user_seq;
        self.users.insert(
            id,
            User {
                id,
                first_name: first_name.to_string(),
                username: username.map(str::to_string),
                language_code: language_code.map(str::to_string),
            },
        );
        id
    }

    pub fn create_channel(&mut self, username: Option<&str>, title: &str) -> i64 {
        self.create_chat(ChatKind::Channel, username, title)
    }

    /// Creates a channel, supergroup or (basic) group with Telegram-shaped ids.
    pub fn create_chat(&mut self, kind: ChatKind, username: Option<&str>, title: &str) -> i64 {
        self.next_channel_seq += 1;
        let id = match kind {
            ChatKind::Group => -400_000_000 - self.next_channel_seq,
            _ => -1_001_000_000_000 - self.next_channel_seq,
        };
        self.channels.insert(
            id,
            Channel {
                id,
                kind,
                username: username.map(|u| u.trim_start_matches('@').to_string()),
                title: title.to_string(),
                members: HashMap::new(),
                messages: Vec::new(),
                next_message_id: 0,
            },
        );
        id
    }

    pub fn channel_by_username(&self, username: &str) -> Option<&Channel> {
        let wanted = username.trim_start_matches('@');
        self.channels.values().find(|c| {
            c.username
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(wanted))
        })
    }

    /// Takes the next injected fault for this bot and method, if any.
    pub fn take_fault(&mut self, token: &str, method: &str) -> Option<Fault> {
        let index = self
            .faults
            .iter()
            .position(|f| f.token == token && (f.method == method || f.method == "*"))?;
        let fault = self.faults[index].clone();
        if self.faults[index].times <= 1 {
            self.faults.remove(index);
        } else {
            self.faults[index].times -= 1;
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_expire_after_a_day_and_respect_allowed_updates() {
        let mut world = World::default();
        let token = world.create_bot("expiry_bot", "E").token.clone();
        let bot = world.bot_mut(&token).unwrap();
        let first = bot.push_update("message", json!({}));
        let second = bot.push_update("message", json!({}));
        assert!(second > first);
        bot.queue[0].at -= UPDATE_RETENTION_SECS + 1;
        bot.drop_expired();
        assert_eq!(bot.queue.len(), 1);
        assert_eq!(bot.queue[0].update_id(), second);
        // chat_member is not delivered unless asked for.
        bot.push_update("chat_member", json!({}));
        assert_eq!(bot.queue.len(), 1);
        bot.allowed_updates = Some(vec!["chat_member".into()]);
        bot.push_update("chat_member", json!({}));
        bot.push_update("message", json!({}));
        assert_eq!(bot.queue.len(), 2);
    }
}
