//! `sandbox serve --addr 127.0.0.1:8081`: the Telegram Bot API stand-in as a process.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use sandbox::{RateLimits, Sandbox, SandboxOptions};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "sandbox", about = "Local stand-in for the Telegram Bot API")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Bot API, the control API and the chat page.
    Serve(Serve),
}

#[derive(Parser)]
struct Serve {
    /// Loopback address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081", env = "SANDBOX_ADDR")]
    addr: SocketAddr,
    /// Messages per second one bot may send overall.
    #[arg(long, default_value_t = RateLimits::default().per_bot_per_second)]
    per_bot_per_second: u32,
    /// Messages per second one bot may send to one private chat.
    #[arg(long, default_value_t = RateLimits::default().per_private_chat_per_second)]
    per_private_chat_per_second: u32,
    /// Messages per minute one bot may send to one group or channel.
    #[arg(long, default_value_t = RateLimits::default().per_group_per_minute)]
    per_group_per_minute: u32,
    /// No rate limits worth mentioning (for load tests).
    #[arg(long)]
    no_rate_limits: bool,
    /// Seconds a bot has to answer a pre_checkout_query.
    #[arg(long, default_value_t = 10)]
    pre_checkout_timeout_secs: u64,
    /// Pre-create a bot, as `username:first_name` (repeatable; the first is the master bot).
    #[arg(long = "bot", value_name = "USERNAME:FIRST_NAME")]
    bots: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match cli.command {
        Command::Serve(serve) => runtime.block_on(run(serve)),
    }
}

async fn run(serve: Serve) -> anyhow::Result<()> {
    let limits = if serve.no_rate_limits {
        RateLimits::generous()
    } else {
        RateLimits {
            per_bot_per_second: serve.per_bot_per_second,
            per_private_chat_per_second: serve.per_private_chat_per_second,
            per_group_per_minute: serve.per_group_per_minute,
        }
    };
    let options = SandboxOptions {
        limits,
        pre_checkout_timeout: Duration::from_secs(serve.pre_checkout_timeout_secs),
        ..SandboxOptions::default()
    };
    let mut bots = Vec::new();
    for spec in &serve.bots {
        let Some((username, first_name)) = spec.split_once(':') else {
            bail!("--bot takes USERNAME:FIRST_NAME, got {spec:?}");
        };
        bots.push((username.to_string(), first_name.to_string()));
    }
    let sandbox = Sandbox::start(serve.addr, options).await?;
    let url = sandbox.url();
    {
        let mut world = sandbox.state().world();
        for (username, first_name) in &bots {
            let bot = world.create_bot(username, first_name);
            println!("bot @{} token {}", bot.username, bot.token);
        }
    }
    println!("sandbox Bot API root: {url}  (chat page: {url}/)");
    wait_for_stop_signal().await?;
    tracing::info!("shutting down");
    sandbox.shutdown().await;
    Ok(())
}

/// Ctrl-C, or SIGTERM (how containers and process managers stop us).
async fn wait_for_stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("listening for SIGTERM")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("waiting for Ctrl-C")?,
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
