//! `tenant-bot`: PID 1 of a tenant's container. Configured entirely by the provisioner through
//! environment variables and secret files; stops cleanly on SIGTERM.

use std::process::ExitCode;

use tenant_bot::config::TenantConfig;

const EXIT_FAILURE: u8 = 1;
const EXIT_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tenant-bot: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    runtime.block_on(run())
}

async fn run() -> ExitCode {
    let config = match TenantConfig::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("tenant-bot: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Err(e) = shared::telemetry::init(config.log_format, &config.log_filter) {
        eprintln!("tenant-bot: logging is not set up: {e}");
    }
    // Signals are caught from the start: a container stopped while starting stops cleanly.
    let stop = tokio_util::sync::CancellationToken::new();
    shared::signals::cancel_on_signal(stop.clone());
    let app = match tenant_bot::app::start(&config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "tenant bot could not start");
            eprintln!("tenant-bot: {e}");
            return match e {
                tenant_bot::Error::TokenRefused | tenant_bot::Error::Config(_) => {
                    ExitCode::from(EXIT_CONFIG)
                }
                _ => ExitCode::from(EXIT_FAILURE),
            };
        }
    };
    shared::signals::forward(stop, app.shutdown_token());
    match app.wait().await {
        Ok(()) => {
            tracing::info!("tenant bot stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "tenant bot failed");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
