//! Usage sync of 10,000 services from the fake Marzban into the tenant's own database (SQLite,
//! the default), in pages: the job the tenant bot runs on a timer. Prints figures; target:
//! under 2 s per sync. Run: `cargo bench -p tenant-bot --bench usage_sync`.

use std::time::{Duration, Instant};

use anyhow::Context;
use sandbox::panels::{FakeMarzban, FakeMarzbanOptions, SeedRequest};
use shared::db::{new_id, Db, Schema};
use shared::panel::{NetRule, NetworkPolicy, PanelCredentials, PanelKind, PanelOptions};
use shared::secret::{Keyring, SecretString};
use tenant_bot::panels::{self, PanelInput, Registry, Source};
use tenant_bot::usage;

const ACCOUNTS: u32 = 10_000;
const RUNS: usize = 7;

async fn run() -> anyhow::Result<()> {
    let fake = FakeMarzban::start("127.0.0.1:0".parse()?, FakeMarzbanOptions::default())
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
    let dir = tempfile::tempdir()?;
    let db = Db::open(
        &shared::db::sqlite_url(&dir.path().join("tenant.db")),
        Schema::Tenant,
    )
    .await?;
    let keyring = Keyring::from_config(&[Keyring::generate_key_line("bench")])?;
    let options = PanelOptions {
        network: NetworkPolicy::strict().allow(NetRule::parse("127.0.0.1")?),
        ..PanelOptions::default()
    };
    let registry = Registry::new(db.clone(), keyring.clone(), options);
    let input = PanelInput {
        name: "bench".into(),
        kind: PanelKind::Marzban,
        url: fake.url(),
        subscription_base: None,
        credentials: PanelCredentials::Password {
            username: "admin".into(),
            password: SecretString::new("admin-password"),
        },
        weight: 1,
        capacity: None,
        location: None,
        inbounds: vec![],
    };
    let now = shared::db::now_unix();
    let panel_id = panels::insert(&db, &keyring, &input, Source::Bot, None, now).await?;
    let mut tx = db.begin().await?;
    for n in 0..ACCOUNTS {
        sqlx::query(
            "INSERT INTO services (id, telegram_id, panel_id, username, is_trial, used_bytes,
                 status, subscription_url, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 0, 0, 'active', '', $5, $5)",
        )
        .bind(new_id())
        .bind(1_000_000 + i64::from(n))
        .bind(&panel_id)
        .bind(format!("user{n}"))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;

    let mut times = Vec::with_capacity(RUNS);
    let mut last = None;
    for run in 0..RUNS {
        // Some traffic between syncs, so every run writes changes too.
        for n in (run as u32..ACCOUNTS).step_by(50) {
            fake.control()
                .add_traffic(&format!("user{n}"), 1 << 20)
                .await?;
        }
        let start = Instant::now();
        let report = usage::sync_all(&db, &registry, shared::db::now_unix()).await?;
        times.push(start.elapsed());
        last = Some(report);
    }
    times.sort();
    let median = times[RUNS / 2];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let report = last.context("no run")?;
    println!(
        "usage sync of {seeded} accounts from the fake Marzban into SQLite (pages of {}):",
        usage::PAGE_SIZE
    );
    println!(
        "  runs {RUNS}: median {:.0} ms, min {:.0} ms, max {:.0} ms (target < 2000 ms)",
        ms(median),
        ms(times[0]),
        ms(times[RUNS - 1])
    );
    println!(
        "  last run: {} pages, {} services updated, {} gone, {} panels failed",
        report.pages, report.updated, report.gone, report.failed_panels
    );
    db.close().await;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}
