//! The one seam between durin and a store: [`Backend`], implemented once per store. A
//! [`crate::Node`] built from any backend runs everything else a process needs.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::{
    AttemptLimiter, ClientName, ClientStore, InvalidationChannel, Leases, SessionAdmin,
    SessionImport, SettingsStore, StoreError, Throttle, TokenStore,
};

/// A store, as durin sees it: where tokens and clients live, and which of the optional
/// abilities it has. Implement it once per store; [`crate::Node`] builds a process on
/// any backend (metering, cache, invalidation bus, purge, housekeeping, readiness,
/// shutdown).
///
/// Only [`tokens`](Backend::tokens), [`clients`](Backend::clients) and
/// [`name`](Backend::name) are required. Each optional ability defaults to "none":
///
/// | ability | without it |
/// |---|---|
/// | [`channel`](Backend::channel), [`throttle`](Backend::throttle), [`attempts`](Backend::attempts) | one process only: the node keeps caches, rates and the failed-login limit in memory, and refuses to start as one of several nodes ([`crate::NodeError::SingleNodeBackend`]) |
/// | [`admin`](Backend::admin) | no listing of every session (the CLI's `session list`), and deleting a client leaves its sessions to expire (they stop authenticating at once anyway) |
/// | [`settings`](Backend::settings) | `settings/` answers 404 |
/// | [`leases`](Backend::leases) | every node runs the purge (idempotent, so only repeated) |
/// | [`housekeeping`](Backend::housekeeping) | nothing to bound: the backend's attempts and throttle state expire by themselves |
/// | [`import`](Backend::import) | imports insert one session at a time ([`crate::import_each`]) |
///
/// The methods take `self: Arc<Self>`, so a backend that is one object implementing
/// every trait hands out clones of itself (`self as Arc<dyn TokenStore>`).
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A fixed, bounded name for metrics and logs (`postgres`, `sqlite`, `redis`,
    /// `memory`, or a third-party backend's own), never configuration.
    fn name(&self) -> &'static str;

    /// Where sessions live.
    fn tokens(self: Arc<Self>) -> Arc<dyn TokenStore>;

    /// Where clients live.
    fn clients(self: Arc<Self>) -> Arc<dyn ClientStore>;

    /// Administration over all sessions (paged listing, per-client counts and removal).
    fn admin(self: Arc<Self>) -> Option<Arc<dyn SessionAdmin>> {
        None
    }

    /// Settings per (user, client).
    fn settings(self: Arc<Self>) -> Option<Arc<dyn SettingsStore>> {
        None
    }

    /// A throttle whose state lives in the store, so a rate holds across nodes.
    fn throttle(self: Arc<Self>) -> Option<Arc<dyn Throttle>> {
        None
    }

    /// The failed-login limit, kept in the store so it holds across nodes.
    fn attempts(self: Arc<Self>) -> Option<Arc<dyn AttemptLimiter>> {
        None
    }

    /// The channel that carries cache invalidations between the nodes on this store.
    fn channel(self: Arc<Self>) -> Option<Arc<dyn InvalidationChannel>> {
        None
    }

    /// Leases, so nodes take turns at the purge.
    fn leases(self: Arc<Self>) -> Option<Arc<dyn Leases>> {
        None
    }

    /// Bounds the shared state that grows with traffic (attempts, throttle state,
    /// invalidation logs), run with each purge.
    fn housekeeping(self: Arc<Self>) -> Option<Arc<dyn Housekeeping>> {
        None
    }

    /// Bulk import of sessions.
    fn import(self: Arc<Self>) -> Option<Arc<dyn SessionImport>> {
        None
    }

    /// Whether this backend has schema migrations ([`migrate`](Backend::migrate) does
    /// something).
    fn has_migrations(&self) -> bool {
        false
    }

    /// Applies pending schema migrations. Default: nothing to migrate.
    ///
    /// # Errors
    /// [`StoreError`] when a migration fails.
    async fn migrate(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Whether the store answers, for readiness checks. Default: one client read.
    ///
    /// # Errors
    /// [`StoreError`] when it does not.
    async fn ping(self: Arc<Self>) -> Result<(), StoreError> {
        let probe = ClientName::new("durin-ready-probe").map_err(StoreError::from)?;
        self.clients().get_client(&probe).await.map(drop)
    }

    /// Closes connections (pools). Default: nothing (connections close when dropped).
    async fn close(&self) {}
}

/// What one [`Housekeeping::housekeeping`] run deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HousekeepingReport {
    /// Failed-login attempts older than the window.
    pub attempts: u64,
    /// Throttle keys whose state is in the past (the same as no state).
    pub throttle_keys: u64,
    /// Invalidation-log entries past their retention.
    pub invalidations: u64,
}

impl HousekeepingReport {
    /// A report of what was deleted.
    pub fn new(attempts: u64, throttle_keys: u64, invalidations: u64) -> Self {
        HousekeepingReport {
            attempts,
            throttle_keys,
            invalidations,
        }
    }
}

/// Deletes the shared state that no longer matters. Every entry it deletes would be
/// ignored or overwritten anyway, so running it is never required for correctness,
/// only to bound the tables; it is safe to run from every node at once.
#[async_trait]
pub trait Housekeeping: Send + Sync + 'static {
    /// Deletes attempts made more than `attempt_window` ago (the longest window of the
    /// login limits: older attempts no longer count), throttle state whose theoretical
    /// arrival time has passed, and invalidation-log entries past their retention.
    ///
    /// # Errors
    /// [`StoreError`] when the store fails (what was already deleted stays deleted).
    async fn housekeeping(
        &self,
        attempt_window: Duration,
    ) -> Result<HousekeepingReport, StoreError>;
}
