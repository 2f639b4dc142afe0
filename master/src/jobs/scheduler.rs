//! Runs jobs on cron schedules (the `cron` crate), reading time from an injectable clock.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use shared::clock::Clock;
use tokio_util::sync::CancellationToken;

/// A job's schedule, e.g. `0 */5 * * * *` (seconds first, as the cron crate reads it).
pub fn parse(expression: &str) -> Result<cron::Schedule, String> {
    cron::Schedule::from_str(expression)
        .map_err(|e| format!("`{expression}` is not a cron schedule: {e}"))
}

/// Seconds from `now` until the schedule's next time.
pub fn seconds_until_next(schedule: &cron::Schedule, now: i64) -> i64 {
    let Some(at) = chrono::DateTime::from_timestamp(now, 0) else {
        return 60;
    };
    schedule
        .after(&at)
        .next()
        .map(|next| (next.timestamp() - now).max(1))
        .unwrap_or(60)
}

/// Calls `job` at every time of `schedule` until `shutdown`. A failed run is logged and the
/// next one comes at its time; a run is never cut in the middle by the schedule.
pub async fn every<F, Fut>(
    name: &'static str,
    schedule: cron::Schedule,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
    mut job: F,
) where
    F: FnMut(i64) -> Fut,
    Fut: Future<Output = crate::Result<()>>,
{
    loop {
        let wait = seconds_until_next(&schedule, clock.now());
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(wait as u64)) => {}
        }
        let started = std::time::Instant::now();
        match job(clock.now()).await {
            Ok(()) => tracing::debug!(job = name, took = ?started.elapsed(), "job ran"),
            Err(e) => tracing::error!(job = name, error = %e, "job failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_run_follows_the_schedule() {
        let every_five_minutes = parse("0 */5 * * * *").unwrap();
        assert_eq!(seconds_until_next(&every_five_minutes, 0), 300);
        assert_eq!(seconds_until_next(&every_five_minutes, 299), 1);
        assert!(parse("every minute").is_err());
    }
}
