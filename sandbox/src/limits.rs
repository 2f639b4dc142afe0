//! Telegram's flood limits as token buckets: one for the bot overall, one per chat.

use std::collections::HashMap;
use std::time::Instant;

use crate::RateLimits;

/// Private chats may take a short burst above the steady rate, like on Telegram.
const PRIVATE_CHAT_BURST: f64 = 3.0;

#[derive(Debug, Clone)]
struct TokenBucket {
    tokens: f64,
    capacity: f64,
    per_second: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(capacity: f64, per_second: f64, now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: capacity,
            capacity,
            per_second,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
    }

    /// Seconds until one token is available (0 when one is available now).
    fn wait_seconds(&self) -> f64 {
        if self.tokens >= 1.0 {
            0.0
        } else if self.per_second <= 0.0 {
            60.0
        } else {
            (1.0 - self.tokens) / self.per_second
        }
    }
}

/// The flood-limit state of one bot.
#[derive(Debug, Default)]
pub struct BotLimiter {
    overall: Option<TokenBucket>,
    per_chat: HashMap<i64, TokenBucket>,
}

impl BotLimiter {
    /// Counts one message to `chat_id`; `Err(retry_after_seconds)` when over a limit
    /// (nothing is counted then).
    pub fn check(&mut self, limits: &RateLimits, chat_id: i64, is_group: bool) -> Result<(), u32> {
        let now = Instant::now();
        let per_bot = f64::from(limits.per_bot_per_second.max(1));
        let overall = self
            .overall
            .get_or_insert_with(|| TokenBucket::new(per_bot, per_bot, now));
        overall.refill(now);
        let chat = self.per_chat.entry(chat_id).or_insert_with(|| {
            if is_group {
                let per_minute = f64::from(limits.per_group_per_minute.max(1));
                TokenBucket::new(per_minute, per_minute / 60.0, now)
            } else {
                let per_second = f64::from(limits.per_private_chat_per_second.max(1));
                TokenBucket::new(per_second.max(PRIVATE_CHAT_BURST), per_second, now)
            }
        });
        chat.refill(now);
        let wait = overall.wait_seconds().max(chat.wait_seconds());
        if wait > 0.0 {
            return Err((wait.ceil() as u32).max(1));
        }
        overall.tokens -= 1.0;
        chat.tokens -= 1.0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_chat_allows_a_small_burst_then_asks_to_wait() {
        let mut limiter = BotLimiter::default();
        let limits = RateLimits::default();
        for _ in 0..3 {
            assert_eq!(limiter.check(&limits, 1, false), Ok(()));
        }
        assert_eq!(limiter.check(&limits, 1, false), Err(1));
        // Another chat is not affected.
        assert_eq!(limiter.check(&limits, 2, false), Ok(()));
    }

    #[test]
    fn overall_limit_spans_chats() {
        let mut limiter = BotLimiter::default();
        let limits = RateLimits {
            per_bot_per_second: 5,
            ..RateLimits::default()
        };
        for chat in 0..5 {
            assert_eq!(limiter.check(&limits, chat, false), Ok(()));
        }
        assert_eq!(limiter.check(&limits, 99, false), Err(1));
    }

    #[test]
    fn group_limit_is_per_minute() {
        let mut limiter = BotLimiter::default();
        let limits = RateLimits {
            per_group_per_minute: 2,
            ..RateLimits::default()
        };
        assert!(limiter.check(&limits, -100, true).is_ok());
        assert!(limiter.check(&limits, -100, true).is_ok());
        let wait = limiter.check(&limits, -100, true).unwrap_err();
        assert!((25..=30).contains(&wait), "{wait}");
    }
}
