//! Usage sync of 10,000 accounts from the fake Marzban, in pages (never one call per user).
//! Prints figures; target: under 2 s per sync. Run: `cargo bench -p shared --bench panel_sync`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use sandbox::panels::{FakeMarzban, FakeMarzbanOptions, SeedRequest};
use shared::panel::{
    connect, NetRule, NetworkPolicy, PageRequest, Panel, PanelCredentials, PanelKind, PanelOptions,
    PanelUrl,
};
use shared::secret::SecretString;

const ACCOUNTS: u32 = 10_000;
const PAGE_SIZE: u32 = 1_000;
const RUNS: usize = 7;

/// One full sync: every page, summing usage as the sync job would store it.
async fn sync(panel: &dyn Panel) -> anyhow::Result<(u64, u64, u32)> {
    let mut offset = 0;
    let mut seen = 0;
    let mut used = 0;
    let mut calls = 0;
    loop {
        let page = panel
            .list_accounts(PageRequest {
                offset,
                limit: PAGE_SIZE,
            })
            .await?;
        calls += 1;
        if page.accounts.is_empty() {
            break;
        }
        seen += page.accounts.len() as u64;
        used += page.accounts.iter().map(|a| a.used_bytes).sum::<u64>();
        offset += page.accounts.len() as u64;
        if offset >= page.total {
            break;
        }
    }
    Ok((seen, used, calls))
}

async fn run() -> anyhow::Result<()> {
    let fake = FakeMarzban::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        FakeMarzbanOptions::default(),
    )
    .await
    .context("start the fake Marzban")?;
    let seeded = fake
        .control()
        .seed(&SeedRequest {
            prefix: "user".into(),
            count: ACCOUNTS,
            limit_bytes: 50 << 30,
            used_bytes: 1 << 20,
        })
        .await?;
    anyhow::ensure!(
        seeded == ACCOUNTS,
        "seeded {seeded} accounts, not {ACCOUNTS}"
    );

    let policy = NetworkPolicy::strict().allow(NetRule::parse("127.0.0.1")?);
    let panel = connect(
        PanelKind::Marzban,
        PanelUrl::parse(&fake.url(), &policy)?,
        PanelCredentials::Password {
            username: "admin".into(),
            password: SecretString::new("admin-password"),
        },
        PanelOptions {
            network: policy,
            ..PanelOptions::default()
        },
    )
    .await?;

    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    let mut calls = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        let (seen, used, made) = sync(panel.as_ref()).await?;
        times.push(started.elapsed());
        anyhow::ensure!(seen == u64::from(ACCOUNTS), "synced {seen} accounts");
        anyhow::ensure!(
            used == u64::from(ACCOUNTS) << 20,
            "wrong usage total {used}"
        );
        calls = made;
    }
    times.sort();
    let p50 = times[RUNS / 2];
    println!("panel_sync: {ACCOUNTS} accounts from the fake Marzban, pages of {PAGE_SIZE} ({calls} calls per sync), {RUNS} runs");
    println!(
        "  p50 {:.1} ms   min {:.1} ms   max {:.1} ms   ({:.0} accounts/s at p50; target < 2000 ms)",
        p50.as_secs_f64() * 1000.0,
        times[0].as_secs_f64() * 1000.0,
        times[RUNS - 1].as_secs_f64() * 1000.0,
        f64::from(ACCOUNTS) / p50.as_secs_f64()
    );
    fake.shutdown().await;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}
