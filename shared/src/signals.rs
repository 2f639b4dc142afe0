//! Clean stops: SIGINT and SIGTERM cancel a token the whole program listens to. (As PID 1 in a
//! container a process gets no default signal handling, so this is needed there too.)

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGINT or SIGTERM. The handlers are installed before this
/// returns, so a signal that arrives right after is never the default (abrupt) exit.
/// Must be called inside a Tokio runtime.
pub fn cancel_on_signal(token: CancellationToken) {
    let streams = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    let (mut terminate, mut interrupt) = match streams {
        (Ok(terminate), Ok(interrupt)) => (terminate, interrupt),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM/SIGINT; stop with SIGKILL");
            return;
        }
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        tracing::info!("stopping");
        token.cancel();
    });
}

/// Cancels `target` once `source` is cancelled: hands a stop asked for during start-up on to
/// what was started.
pub fn forward(source: CancellationToken, target: CancellationToken) {
    tokio::spawn(async move {
        source.cancelled().await;
        target.cancel();
    });
}
