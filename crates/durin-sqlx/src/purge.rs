//! A background task that purges expired sessions on an interval.

use std::time::Duration;

use durin_core::Durin;

/// The handle of a purge task from [`spawn_purge_task`]; dropping it stops the task.
#[derive(Debug)]
pub struct PurgeTask {
    handle: tokio::task::JoinHandle<()>,
}

impl PurgeTask {
    /// Stops the task.
    pub fn stop(self) {
        self.handle.abort();
    }
}

impl Drop for PurgeTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Runs [`Durin::purge_expired`] every `every` (first run after one interval) on the
/// current Tokio runtime, until the returned handle is dropped. Each run deletes in
/// batches of the service's `purge_batch`, so it never holds a long lock; failures are
/// logged (`warn`) and retried at the next tick.
///
/// # Panics
/// When called outside a Tokio runtime, or with a zero interval.
pub fn spawn_purge_task(durin: Durin, every: Duration) -> PurgeTask {
    assert!(!every.is_zero(), "purge interval must be positive");
    let handle = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            match durin.purge_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "purged expired sessions"),
                Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
            }
        }
    });
    PurgeTask { handle }
}
