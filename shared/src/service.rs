//! A running program's parts (bot loop, HTTP server, jobs...) as tasks with one stop token:
//! it runs until a stop is asked for or a part ends, then stops the rest and reports the first
//! failure. Both the master and the tenant bot are built this way.

use std::future::Future;

use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

pub struct Service<E> {
    shutdown: CancellationToken,
    tasks: JoinSet<Result<(), E>>,
    /// Turns a part that panicked into the program's error type.
    panicked: fn(JoinError) -> E,
}

impl<E: std::fmt::Display + Send + 'static> Service<E> {
    pub fn new(panicked: fn(JoinError) -> E) -> Service<E> {
        Service {
            shutdown: CancellationToken::new(),
            tasks: JoinSet::new(),
            panicked,
        }
    }

    /// Cancelled when the service is asked to stop; parts watch it.
    pub fn token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub fn spawn<F>(&mut self, part: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        self.tasks.spawn(part);
    }

    /// Runs until a stop is asked for or a part ends; then stops the rest.
    pub async fn wait(mut self) -> Result<(), E> {
        let first = tokio::select! {
            _ = self.shutdown.cancelled() => Ok(()),
            Some(joined) = self.tasks.join_next() => self.flatten(joined),
        };
        self.shutdown.cancel();
        let rest = self.finish().await;
        first.and(rest)
    }

    /// Asks every part to stop and waits for them.
    pub async fn shutdown(mut self) -> Result<(), E> {
        self.shutdown.cancel();
        self.finish().await
    }

    async fn finish(&mut self) -> Result<(), E> {
        let mut result = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            if let Err(e) = self.flatten(joined) {
                tracing::error!(error = %e, "a part failed while stopping");
                result = Err(e);
            }
        }
        result
    }

    fn flatten(&self, joined: Result<Result<(), E>, JoinError>) -> Result<(), E> {
        joined.unwrap_or_else(|e| Err((self.panicked)(e)))
    }
}
