//! `provision` benchmark (prints figures; not a test): from writing desired=running to the
//! tenant bot's first answer to /start through the sandbox, for 1, 10 and 50 tenants at once
//! (p50 / p95 / max); then the idle memory of a tenant-bot container and the image size.
//!
//! Needs the Docker engine and the static tenant-bot (docker/build-tenant-bot.sh).
//! Run: `cargo bench --workspace --bench provision` (or `-- 1 10` for some sizes only).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::Harness;
use provisioner::runtime::Runtime;
use provisioner::store::{self, Desired};
use shared::db::Engine;

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1, 10, 50]
    } else {
        sizes
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(sizes));
}

async fn run(sizes: Vec<usize>) {
    println!("provision benchmark (Docker engine, SQLite master database)");
    let mut idle_reported = false;
    for n in sizes {
        let Some(h) = Harness::start(Engine::Sqlite).await else {
            eprintln!("cannot run: Docker or the static tenant-bot binary is missing");
            std::process::exit(1);
        };
        let mut settings = h.settings();
        if let Some(parallelism) = std::env::var("MADAR_BENCH_PARALLELISM")
            .ok()
            .and_then(|p| p.parse().ok())
        {
            settings.parallelism = parallelism;
        }
        let parallelism = settings.parallelism;
        let reconciler = provisioner::reconcile::Reconciler::new(
            h.db.db.clone(),
            h.runtime.clone(),
            h.keyring.clone(),
            settings,
        );
        let (shutdown, task) = common::run_loop(&reconciler);

        let mut bots = Vec::new();
        for i in 0..n {
            let bot = h
                .control
                .create_bot(&format!("bench{i}_bot"), &format!("Bench {i}"))
                .await
                .expect("create bot");
            let user = h
                .control
                .create_user("Bench", None, Some("en"))
                .await
                .expect("create user");
            bots.push((h.tenant(&format!("b{i}")), bot, user));
        }
        // All desired states written at once, then /start sent right away (Telegram queues
        // the update until the bot polls).
        let started = Instant::now();
        let mut sent = Vec::new();
        for (tenant, bot, user) in &bots {
            let written = Instant::now();
            store::set_desired(
                &h.db.db,
                tenant,
                Desired::Running,
                &h.spec(&bot.token),
                &h.keyring,
            )
            .await
            .expect("desired running");
            reconciler.wake();
            let message = h
                .control
                .send(&bot.token, *user, "/start")
                .await
                .expect("send /start");
            sent.push((written, message.message_id));
        }
        let waits = bots
            .iter()
            .zip(&sent)
            .map(|((tenant, bot, user), (written, message_id))| {
                let h = &h;
                async move {
                    let answer = h
                        .control
                        .wait_for_bot_message(
                            &bot.token,
                            *user,
                            *message_id,
                            |_| true,
                            Duration::from_secs(120),
                        )
                        .await;
                    match answer {
                        Ok(_) => Some(written.elapsed()),
                        Err(e) => {
                            let instance = store::get(&h.db.db, tenant).await;
                            let logs = h.runtime.logs(tenant, 20).await;
                            eprintln!("{tenant} did not answer: {e}\n{instance:#?}\n{logs:#?}");
                            None
                        }
                    }
                }
            });
        let answers: Vec<Option<Duration>> = futures::future::join_all(waits).await;
        let unanswered = answers.iter().filter(|a| a.is_none()).count();
        if unanswered > 0 {
            println!("{unanswered} of {n} tenants did not answer within 120 s");
        }
        let mut latencies: Vec<Duration> = answers.into_iter().flatten().collect();
        latencies.sort();
        println!(
            "{n:>3} tenants at once (parallelism {parallelism}): p50 {:>6.2} s  p95 {:>6.2} s  max {:>6.2} s  (all answered in {:.2} s)",
            percentile(&latencies, 50).as_secs_f64(),
            percentile(&latencies, 95).as_secs_f64(),
            latencies.last().copied().unwrap_or_default().as_secs_f64(),
            started.elapsed().as_secs_f64(),
        );

        if !idle_reported {
            idle_reported = true;
            tokio::time::sleep(Duration::from_secs(5)).await;
            let mut rss = Vec::new();
            let mut usage = Vec::new();
            let mut vm_rss = Vec::new();
            for (tenant, _, _) in &bots {
                let stats = h.runtime.stats(tenant).await.expect("stats");
                rss.push(stats.rss_bytes);
                usage.push(stats.memory_bytes);
                vm_rss.push(main_process_vm_rss(&h, tenant).await);
            }
            vm_rss.sort();
            rss.sort();
            usage.sort();
            println!(
                "idle tenant-bot container: RSS {:.1} MiB (max {:.1} MiB), memory use as docker stats shows it {:.1} MiB",
                mib(rss[rss.len() / 2]),
                mib(rss.last().copied().unwrap_or(0)),
                mib(usage[usage.len() / 2]),
            );
            println!(
                "idle tenant-bot process (PID 1 in the container): VmRSS {:.1} MiB (max {:.1} MiB), file-backed pages included",
                mib(vm_rss[vm_rss.len() / 2]),
                mib(vm_rss.last().copied().unwrap_or(0)),
            );
            let tag = provisioner::image::image_tag(&h.image_version);
            if let Ok(Some(image)) = provisioner::image::inspect(&h.docker, &tag).await {
                println!(
                    "image {}: {:.1} MB",
                    image.tag,
                    image.size_bytes as f64 / 1e6
                );
            }
        }
        shutdown.cancel();
        let _ = task.await;
        h.finish().await;
    }
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// VmRSS of the container's main process, read from the host's /proc.
async fn main_process_vm_rss(h: &Harness, tenant: &str) -> u64 {
    let name = provisioner::runtime::docker::DockerRuntime::container_name(tenant);
    let pid = h
        .docker
        .inspect_container(
            &name,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .ok()
        .and_then(|c| c.state)
        .and_then(|s| s.pid)
        .unwrap_or(0);
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|kib| kib * 1024)
        .unwrap_or(0)
}
