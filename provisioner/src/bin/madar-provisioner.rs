//! A small operator's tool for the Docker side of the provisioner: build the tenant-bot
//! image, and look at tenant containers (list, logs, stats). The master (`madar`) offers the
//! same through `madar image build`; this one needs no master configuration.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use futures::StreamExt;
use provisioner::image;
use provisioner::runtime::docker::{DockerRuntime, DockerSettings};
use provisioner::runtime::{LogStream, Runtime};

#[derive(Parser)]
#[command(name = "madar-provisioner", version, about)]
struct Cli {
    /// The Docker engine: unix:///path/docker.sock, tcp://host:2375 or http://host:2375
    /// (default: DOCKER_HOST or the local socket).
    #[arg(long, env = "MADAR_DOCKER_HOST", global = true)]
    docker_host: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The tenant-bot image.
    Image {
        #[command(subcommand)]
        action: ImageAction,
    },
    /// Tenant containers and their state.
    Containers,
    /// A tenant container's output.
    Logs {
        tenant_id: String,
        #[arg(long, default_value_t = 100)]
        tail: usize,
        /// Keep printing new lines.
        #[arg(long, short)]
        follow: bool,
    },
    /// A tenant container's memory, CPU time and processes.
    Stats { tenant_id: String },
}

#[derive(Subcommand)]
enum ImageAction {
    /// Builds madar/tenant-bot:<version> from the static binary (rebuilds if present).
    Build(ImageArgs),
    /// Builds it only when the engine does not have it.
    Ensure(ImageArgs),
}

#[derive(clap::Args)]
struct ImageArgs {
    /// The static tenant-bot binary (default: $MADAR_TENANT_BOT_BINARY, then
    /// target/static/..., then `tenant-bot` next to this program).
    #[arg(long)]
    binary: Option<PathBuf>,
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
    version: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let docker = provisioner::runtime::docker::connect(cli.docker_host.as_deref())
        .await
        .context("connecting to the Docker engine")?;
    match cli.command {
        Command::Image { action } => {
            let (args, force) = match action {
                ImageAction::Build(args) => (args, true),
                ImageAction::Ensure(args) => (args, false),
            };
            let cwd = std::env::current_dir().ok();
            let binary = args
                .binary
                .unwrap_or_else(|| image::locate_binary(cwd.as_deref()));
            let built = if force {
                image::build_image(&docker, &binary, &args.version).await?
            } else {
                image::ensure_image(&docker, &binary, &args.version).await?
            };
            println!(
                "{} {} ({:.1} MB)",
                built.tag,
                built.id,
                built.size_bytes as f64 / 1e6
            );
        }
        Command::Containers => {
            let runtime = DockerRuntime::from_client(docker, DockerSettings::default());
            for c in runtime.list().await? {
                println!(
                    "{}\t{:?}\tversion {}\trestarts {}\tspec {}",
                    c.tenant_id,
                    c.state,
                    c.version.unwrap_or_default(),
                    c.restart_count,
                    c.spec_hash.unwrap_or_default()
                );
            }
        }
        Command::Logs {
            tenant_id,
            tail,
            follow,
        } => {
            let runtime = DockerRuntime::from_client(docker, DockerSettings::default());
            for line in runtime.logs(&tenant_id, tail).await? {
                print_line(line.stream, &line.text);
            }
            if follow {
                let mut lines = runtime.follow_logs(&tenant_id).await?;
                while let Some(line) = lines.next().await {
                    let line = line?;
                    print_line(line.stream, &line.text);
                }
            }
        }
        Command::Stats { tenant_id } => {
            let runtime = DockerRuntime::from_client(docker, DockerSettings::default());
            let stats = runtime.stats(&tenant_id).await?;
            println!(
                "memory {:.1} MiB (rss {:.1} MiB) of {:.1} MiB, cpu {:.2} s, {} processes",
                stats.memory_bytes as f64 / 1048576.0,
                stats.rss_bytes as f64 / 1048576.0,
                stats.memory_limit_bytes as f64 / 1048576.0,
                stats.cpu_total_ns as f64 / 1e9,
                stats.pids
            );
        }
    }
    Ok(())
}

fn print_line(stream: LogStream, text: &str) {
    match stream {
        LogStream::Stdout => println!("{text}"),
        LogStream::Stderr => eprintln!("{text}"),
    }
}
