//! A background task that purges expired sessions on an interval, and the housekeeping of
//! what several nodes share (attempts, throttle state, the SQLite invalidation log).

use std::sync::Arc;
use std::time::Duration;

use durin_core::{Durin, PurgeRun, StoreError};

/// What one [`Housekeeping::purge_housekeeping`] run deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HousekeepingReport {
    /// Failed-login attempts older than the window.
    pub attempts: u64,
    /// Throttle keys whose state is in the past (the same as no state).
    pub throttle_keys: u64,
    /// SQLite invalidation-log rows older than the channel's default retention (60 s).
    pub invalidations: u64,
}

/// Deletes the shared state that no longer matters. Every row it deletes would be
/// ignored or overwritten anyway, so running it is never required for correctness, only
/// to bound the tables; it is safe to run from every node at once.
#[async_trait::async_trait]
pub trait Housekeeping: Send + Sync + 'static {
    /// Deletes attempts made more than `attempt_window` ago (the longest window of the
    /// login limits: older attempts no longer count), throttle rows whose theoretical
    /// arrival time has passed, and (SQLite) invalidation-log rows past the default
    /// retention. Each is one statement (the log: one short transaction); the throttle
    /// delete scans its table, which holds one row per recently throttled key.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails (what was already deleted stays deleted).
    async fn purge_housekeeping(
        &self,
        attempt_window: Duration,
    ) -> Result<HousekeepingReport, StoreError>;
}

/// The handle of a purge task from [`spawn_purge_task`]; dropping it stops the task.
#[derive(Debug)]
pub struct PurgeTask {
    handle: tokio::task::JoinHandle<()>,
    durin: Durin,
    holder: String,
}

impl PurgeTask {
    /// Stops the task.
    pub fn stop(self) {
        self.handle.abort();
    }

    /// Stops the task and gives the purge lease back (if this task holds it), so
    /// another node purges at its next run instead of after the lease expires.
    pub async fn stop_and_release(self) {
        self.handle.abort();
        if let Err(e) = self.durin.release_purge_lease(&self.holder).await {
            tracing::warn!(error = %e, "releasing the purge lease failed; it expires by itself");
        }
    }

    /// This task's holder name for the purge lease (random, one per task).
    pub fn holder(&self) -> &str {
        &self.holder
    }
}

impl Drop for PurgeTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Runs the purge of expired sessions every `every` (first run after one interval) on
/// the current Tokio runtime, until the returned handle is dropped. Each run deletes in
/// batches of the service's `purge_batch`, so it never holds a long lock; failures are
/// logged (`warn`) and retried at the next tick.
///
/// Nodes sharing a store take turns: each run is [`Durin::purge_expired_leased`] under
/// this task's random holder name with a lease of `every`, so one node purges per
/// interval while the others skip; when that node stops (its task is dropped, and the
/// lease is released on [`PurgeTask::stop_and_release`]) or dies, another takes over
/// within one lease (`every`). Runs are counted in `durin_purge_runs_total`.
///
/// # Panics
/// When called outside a Tokio runtime, or with a zero interval.
pub fn spawn_purge_task(durin: Durin, every: Duration) -> PurgeTask {
    spawn(durin, None, every)
}

/// [`spawn_purge_task`] plus, at each run, `store`'s [`Housekeeping`] with
/// `attempt_window` (use the longest window of the login limits, 15 minutes by default
/// in durin-http). Failures are logged (`warn`) and retried at the next tick.
///
/// ```no_run
/// # async fn demo(durin: durin_core::Durin, store: std::sync::Arc<durin_sqlx::PostgresStore>) {
/// use std::time::Duration;
/// let _task = durin_sqlx::spawn_housekeeping_task(
///     durin,
///     store,
///     Duration::from_secs(15 * 60),
///     Duration::from_secs(600),
/// );
/// # }
/// ```
///
/// # Panics
/// When called outside a Tokio runtime, or with a zero interval.
pub fn spawn_housekeeping_task(
    durin: Durin,
    store: Arc<dyn Housekeeping>,
    attempt_window: Duration,
    every: Duration,
) -> PurgeTask {
    spawn(durin, Some((store, attempt_window)), every)
}

fn spawn(
    durin: Durin,
    housekeeping: Option<(Arc<dyn Housekeeping>, Duration)>,
    every: Duration,
) -> PurgeTask {
    assert!(!every.is_zero(), "purge interval must be positive");
    let holder = format!("node-{}", durin_core::SessionId::generate().as_str());
    let (task_durin, task_holder) = (durin.clone(), holder.clone());
    let handle = tokio::spawn(async move {
        let (durin, holder) = (task_durin, task_holder);
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            match durin.purge_expired_leased(&holder, every).await {
                Ok(PurgeRun::Ran(0)) => {}
                Ok(PurgeRun::Ran(n)) => tracing::info!(purged = n, "purged expired sessions"),
                Ok(PurgeRun::Skipped) => {
                    tracing::debug!("another node holds the purge lease; skipped");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
            }
            if let Some((store, window)) = &housekeeping {
                match store.purge_housekeeping(*window).await {
                    Ok(report) if report == HousekeepingReport::default() => {}
                    Ok(report) => tracing::info!(
                        attempts = report.attempts,
                        throttle_keys = report.throttle_keys,
                        invalidations = report.invalidations,
                        "housekeeping"
                    ),
                    Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
                }
            }
        }
    });
    PurgeTask {
        handle,
        durin,
        holder,
    }
}
