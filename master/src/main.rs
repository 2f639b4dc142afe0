//! `madar`: the command line of the control plane.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use master::demo::{self, DemoOptions};
use shared::config::{MasterConfig, Requirements};
use shared::db::{Db, Schema};
use shared::telemetry::{self, LogFormat};
use tokio_util::sync::CancellationToken;

/// Exit codes a script can act on (after sysexits.h).
const EXIT_FAILURE: u8 = 1;
const EXIT_CONFIG: u8 = 78;

#[derive(Parser)]
#[command(
    name = "madar",
    version,
    about = "Madar: sell white-label VPN bots to VPN businesses"
)]
struct Cli {
    /// Configuration file (TOML). Every setting can also come from a MADAR_* variable.
    #[arg(long, short, global = true, env = "MADAR_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum ImageAction {
    /// Build the tenant-bot image from the static binary (docker/build-tenant-bot.sh makes it).
    Build,
}

#[derive(Subcommand)]
enum Command {
    /// Run the master bot and the HTTP server (the default when a bot token is configured).
    Serve,
    /// Try Madar with no configuration: a local Telegram sandbox, a demo bot, SQLite
    /// (the default when no bot token is configured).
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        http_listen: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:8081")]
        sandbox_listen: SocketAddr,
        #[arg(long, default_value = "./data/demo")]
        data_dir: PathBuf,
    },
    /// Bring the database schema up to date and exit.
    Migrate,
    /// The tenant-bot image.
    Image {
        #[command(subcommand)]
        action: ImageAction,
    },
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("madar: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let command = cli
        .command
        .unwrap_or_else(|| default_command(cli.config.as_deref()));
    let result = match command {
        Command::Version => {
            println!("madar {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Serve => serve(cli.config).await,
        Command::Migrate => migrate(cli.config).await,
        Command::Image {
            action: ImageAction::Build,
        } => build_image(cli.config).await,
        Command::Demo {
            http_listen,
            sandbox_listen,
            data_dir,
        } => {
            run_demo(DemoOptions {
                http_listen,
                sandbox_listen,
                data_dir,
                tenant_bot: None,
            })
            .await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("madar: {e}");
            tracing::error!(error = %e, "madar stopped");
            match e {
                master::Error::Config(_) | master::Error::TokenRefused => {
                    ExitCode::from(EXIT_CONFIG)
                }
                _ => ExitCode::from(EXIT_FAILURE),
            }
        }
    }
}

/// With no command: serve when a bot token is configured, otherwise the demo.
fn default_command(file: Option<&std::path::Path>) -> Command {
    let needs = Requirements {
        bot_token: false,
        secret_keys: false,
    };
    match MasterConfig::load(file, needs) {
        Ok(config) if config.bot_token.is_none() => Command::Demo {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            sandbox_listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            data_dir: config.data_dir.join("demo"),
        },
        // A token, or a configuration error that `serve` will explain.
        _ => Command::Serve,
    }
}

fn load_config(file: Option<PathBuf>, needs: Requirements) -> master::Result<MasterConfig> {
    let config = MasterConfig::load(file.as_deref(), needs)?;
    if let Err(e) = telemetry::init(config.log_format, &config.log_filter) {
        eprintln!("madar: logging is not set up: {e}");
    }
    Ok(config)
}

async fn serve(file: Option<PathBuf>) -> master::Result<()> {
    let config = load_config(
        file,
        Requirements {
            bot_token: true,
            secret_keys: false,
        },
    )?;
    let stop = CancellationToken::new();
    shared::signals::cancel_on_signal(stop.clone());
    let extras = master::app::Extras {
        runtime: master::provisioning::from_config(&config).await?,
        image_version: Some(master::provisioning::VERSION.to_string()),
        ..master::app::Extras::default()
    };
    let app = master::app::start_with(&config, extras).await?;
    shared::signals::forward(stop, app.shutdown_token());
    app.wait().await
}

async fn build_image(file: Option<PathBuf>) -> master::Result<()> {
    let config = load_config(
        file,
        Requirements {
            bot_token: false,
            secret_keys: false,
        },
    )?;
    let binary = provisioner::image::locate_binary(None);
    let docker = provisioner::runtime::docker::connect(config.runtime.docker_host.as_deref())
        .await
        .map_err(|e| {
            master::Error::Provisioner(format!("the Docker engine cannot be reached: {e}"))
        })?;
    let version = master::provisioning::VERSION;
    let info = provisioner::image::build_image(&docker, &binary, version)
        .await
        .map_err(|e| master::Error::Provisioner(format!("{e} (binary: {})", binary.display())))?;
    println!(
        "Built {} ({:.1} MB) from {}",
        provisioner::image::image_tag(version),
        info.size_bytes as f64 / 1_000_000.0,
        binary.display()
    );
    Ok(())
}

async fn migrate(file: Option<PathBuf>) -> master::Result<()> {
    let config = load_config(
        file,
        Requirements {
            bot_token: false,
            secret_keys: false,
        },
    )?;
    let db = Db::open(config.database_url.expose(), Schema::Master).await?;
    db.close().await;
    println!("The {} database is up to date.", db.engine());
    Ok(())
}

async fn run_demo(options: DemoOptions) -> master::Result<()> {
    if let Err(e) = telemetry::init(LogFormat::Human, "warn,master=info,madar=info") {
        eprintln!("madar: logging is not set up: {e}");
    }
    let token = CancellationToken::new();
    shared::signals::cancel_on_signal(token.clone());
    let demo = demo::start(&options).await?;
    // Whoever started us may have stopped reading; that is no reason to stop the demo.
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", demo.banner()).and_then(|()| out.flush());
    }
    token.cancelled().await;
    demo.shutdown().await
}
