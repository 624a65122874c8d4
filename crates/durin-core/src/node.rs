//! [`Node`]: one process on a shared store, built from any [`Backend`]. It owns what
//! every process needs and nobody should wire by hand: store metering, the token cache,
//! the invalidation bus and its subscriber, the purge task with its lease,
//! housekeeping, readiness and a graceful shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::backend::{Backend, Housekeeping, HousekeepingReport};
use crate::metered::{MeteredTokenStore, StoreMetrics};
use crate::{
    AttemptLimiter, CacheConfig, CachedTokenStore, ChannelState, DigestKey, Durin, DurinBuilder,
    InvalidationBus, Leases, MemoryAttemptLimiter, MemoryThrottle, PurgeRun, SessionAdmin,
    SessionId, SubscriberHandle, Throttle, TokenStore,
};

/// The default purge interval: one hour.
pub const DEFAULT_PURGE_EVERY: Duration = Duration::from_secs(3600);

/// The default attempt window housekeeping keeps: 15 minutes, the longest window of the
/// failed-login limits in durin-http.
pub const DEFAULT_ATTEMPT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Why a node could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The backend lacks what several nodes need to agree, and the node was not
    /// declared the only one ([`NodeBuilder::single_node`]).
    #[error(
        "the {backend} backend cannot run several nodes: it has no {}; run one process with it (single-node mode) or use a backend that shares them",
        missing.join(", no ")
    )]
    SingleNodeBackend {
        /// The backend's name.
        backend: &'static str,
        /// What it lacks: `invalidation channel`, `shared throttle`, `shared attempt limiter`.
        missing: Vec<&'static str>,
    },
}

/// The store traits of a node's token cache: the metered backend store under a cache.
type NodeCache = CachedTokenStore<MeteredTokenStore<Arc<dyn TokenStore>>>;

/// Builds a [`Node`] ([`Node::builder`]).
#[must_use]
pub struct NodeBuilder {
    backend: Arc<dyn Backend>,
    key: DigestKey,
    cache: CacheConfig,
    single_node: bool,
    tasks: bool,
    purge_every: Duration,
    attempt_window: Duration,
    service: Vec<Box<dyn FnOnce(DurinBuilder) -> DurinBuilder + Send>>,
}

impl NodeBuilder {
    /// The token cache's settings. Default: [`CacheConfig::default`] (60 s ceiling);
    /// a zero `ttl` turns caching off (this node's changes are still published).
    pub fn cache(mut self, cache: CacheConfig) -> Self {
        self.cache = cache;
        self
    }

    /// Declares this process the only one on its store: a backend without an
    /// invalidation channel, shared throttle or shared attempt limiter is then accepted,
    /// and what it lacks is kept in this process's memory. Default: several nodes,
    /// which such a backend refuses ([`NodeError::SingleNodeBackend`]).
    pub fn single_node(mut self) -> Self {
        self.single_node = true;
        self
    }

    /// A command that only reads and writes (an admin CLI): no subscriber and no purge
    /// task are started; its revocations are still published to the other nodes.
    /// Default: a server, with both.
    pub fn without_tasks(mut self) -> Self {
        self.tasks = false;
        self
    }

    /// How often the purge of expired sessions (and housekeeping) runs; zero turns it
    /// off. Default: [`DEFAULT_PURGE_EVERY`].
    pub fn purge_every(mut self, every: Duration) -> Self {
        self.purge_every = every;
        self
    }

    /// How long housekeeping keeps failed-login attempts: the longest window of the
    /// login limits. Default: [`DEFAULT_ATTEMPT_WINDOW`].
    pub fn attempt_window(mut self, window: Duration) -> Self {
        self.attempt_window = window;
        self
    }

    /// Adds settings to the service (`|b| b.api_access_client(..)`); the node has
    /// already given it the store, cache, bus, throttle and settings store.
    pub fn service(
        mut self,
        f: impl FnOnce(DurinBuilder) -> DurinBuilder + Send + 'static,
    ) -> Self {
        self.service.push(Box::new(f));
        self
    }

    /// Builds the node and, unless [`without_tasks`](Self::without_tasks), starts its
    /// subscriber and purge tasks on the current Tokio runtime.
    ///
    /// # Errors
    /// [`NodeError::SingleNodeBackend`] for a backend that cannot share what several
    /// nodes must agree on, unless [`single_node`](Self::single_node).
    ///
    /// # Panics
    /// With tasks, when called outside a Tokio runtime.
    pub fn start(self) -> Result<Node, NodeError> {
        let backend = self.backend;
        let name = backend.name();
        let channel = backend.clone().channel();
        let shared_throttle = backend.clone().throttle();
        let shared_attempts = backend.clone().attempts();
        if !self.single_node {
            let missing: Vec<&'static str> = [
                (channel.is_none(), "invalidation channel"),
                (shared_throttle.is_none(), "shared throttle"),
                (shared_attempts.is_none(), "shared attempt limiter"),
            ]
            .into_iter()
            .filter_map(|(absent, what)| absent.then_some(what))
            .collect();
            if !missing.is_empty() {
                return Err(NodeError::SingleNodeBackend {
                    backend: name,
                    missing,
                });
            }
        }
        let bus = channel.map(InvalidationBus::new);
        let metered = StoreMetrics::wrap(backend.clone().tokens(), name);
        let mut cache = CachedTokenStore::with_config(metered, self.cache);
        if let Some(bus) = &bus {
            cache = cache.with_bus(bus);
        }
        let cache: Arc<NodeCache> = Arc::new(cache);
        let throttle: Arc<dyn Throttle> =
            shared_throttle.unwrap_or_else(|| Arc::new(MemoryThrottle::new()));
        let attempts: Arc<dyn AttemptLimiter> =
            shared_attempts.unwrap_or_else(|| Arc::new(MemoryAttemptLimiter::new()));
        let mut builder = Durin::builder(cache.clone(), backend.clone().clients(), self.key)
            .hit_path(cache.clone())
            .throttle(throttle.clone());
        if let Some(bus) = &bus {
            builder = builder.bus(bus);
        }
        if let Some(settings) = backend.clone().settings() {
            builder = builder.settings_store(settings);
        }
        for f in self.service {
            builder = f(builder);
        }
        let durin = builder.build();
        let admin = backend.clone().admin().map(|admin| {
            // Removing a client's sessions forgets them from every node's cache.
            Arc::new(AdminThroughCache {
                admin,
                cache: cache.clone(),
            }) as Arc<dyn SessionAdmin>
        });
        let leases = backend.clone().leases();
        let housekeeping = backend.clone().housekeeping();
        let (subscriber, purge) = if self.tasks {
            let subscriber = bus.as_ref().map(|bus| bus.spawn_subscriber());
            let purge = (!self.purge_every.is_zero()).then(|| {
                PurgeTask::spawn(
                    durin.clone(),
                    leases.clone(),
                    housekeeping.map(|h| (h, self.attempt_window)),
                    self.purge_every,
                )
            });
            (subscriber, purge)
        } else {
            (None, None)
        };
        Ok(Node {
            backend,
            durin,
            bus,
            cache,
            throttle,
            attempts,
            admin,
            leases,
            subscriber: Mutex::new(subscriber),
            purge: Mutex::new(purge),
        })
    }
}

/// One process on a shared store: the service and everything around it.
///
/// ```no_run
/// # async fn demo(backend: std::sync::Arc<dyn durin_core::Backend>) -> Result<(), Box<dyn std::error::Error>> {
/// use durin_core::{ClientName, DigestKey, Node};
/// backend.migrate().await?;
/// let api = ClientName::new("api")?;
/// let node = Node::builder(backend, DigestKey::generate("k1"))
///     .service(move |b| b.api_access_client(api))
///     .start()?;
/// let durin = node.durin().clone();
/// // ... serve with `durin`; `node.ready().await` for a readiness probe ...
/// node.shutdown().await;
/// # Ok(()) }
/// ```
pub struct Node {
    backend: Arc<dyn Backend>,
    durin: Durin,
    bus: Option<Arc<InvalidationBus>>,
    cache: Arc<NodeCache>,
    throttle: Arc<dyn Throttle>,
    attempts: Arc<dyn AttemptLimiter>,
    admin: Option<Arc<dyn SessionAdmin>>,
    leases: Option<Arc<dyn Leases>>,
    subscriber: Mutex<Option<SubscriberHandle>>,
    purge: Mutex<Option<PurgeTask>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("backend", &self.backend.name())
            .field("bus", &self.bus)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node on `backend`, digesting tokens under `key`.
    pub fn builder(backend: Arc<dyn Backend>, key: DigestKey) -> NodeBuilder {
        NodeBuilder {
            backend,
            key,
            cache: CacheConfig::default(),
            single_node: false,
            tasks: true,
            purge_every: DEFAULT_PURGE_EVERY,
            attempt_window: DEFAULT_ATTEMPT_WINDOW,
            service: Vec::new(),
        }
    }

    /// The service.
    pub fn durin(&self) -> &Durin {
        &self.durin
    }

    /// The backend under this node.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The invalidation bus, when the backend has a channel.
    pub fn bus(&self) -> Option<&Arc<InvalidationBus>> {
        self.bus.as_ref()
    }

    /// The token cache (its size, whether it is trusted now).
    pub fn cache(&self) -> &Arc<NodeCache> {
        &self.cache
    }

    /// The throttle the service uses: the backend's, or one in this process's memory.
    pub fn throttle(&self) -> Arc<dyn Throttle> {
        self.throttle.clone()
    }

    /// The failed-login limiter: the backend's, or one in this process's memory.
    pub fn attempts(&self) -> Arc<dyn AttemptLimiter> {
        self.attempts.clone()
    }

    /// Administration over all sessions, when the backend has it; removals are
    /// forgotten by every node's cache.
    pub fn admin(&self) -> Option<Arc<dyn SessionAdmin>> {
        self.admin.clone()
    }

    /// Bulk import of sessions: the backend's, or one insert at a time.
    ///
    /// # Errors
    /// [`crate::StoreError`] when the backend fails (sessions inserted before stay).
    pub async fn import_sessions(
        &self,
        sessions: &[crate::Session],
        now: crate::Timestamp,
    ) -> Result<u64, crate::StoreError> {
        match self.backend.clone().import() {
            Some(import) => import.import_sessions(sessions, now).await,
            None => crate::import_each(&*self.backend.clone().tokens(), sessions, now).await,
        }
    }

    /// Runs the purge once now, taking turns through the backend's leases as the purge
    /// task does (under `holder`).
    ///
    /// # Errors
    /// [`crate::AuthError::Unavailable`].
    pub async fn purge_once(
        &self,
        holder: &str,
        lease: Duration,
    ) -> Result<PurgeRun, crate::AuthError> {
        match &self.leases {
            Some(leases) => {
                self.durin
                    .purge_expired_leased(&**leases, holder, lease)
                    .await
            }
            None => Ok(PurgeRun::Ran(self.durin.purge_expired().await?)),
        }
    }

    /// Gives the purge lease back if `holder` holds it (see [`Node::purge_once`]).
    ///
    /// # Errors
    /// [`crate::AuthError::Unavailable`] (the lease then ends at its expiry).
    pub async fn release_purge_lease(&self, holder: &str) -> Result<(), crate::AuthError> {
        match &self.leases {
            Some(leases) => self.durin.release_purge_lease(&**leases, holder).await,
            None => Ok(()),
        }
    }

    /// Where the invalidation subscription stands: `Live` for a backend without a
    /// channel (one process has nothing to hear).
    pub fn channel_state(&self) -> ChannelState {
        self.bus
            .as_ref()
            .map_or(ChannelState::Live, |bus| bus.state())
    }

    /// Whether this node can serve: the store answers and the invalidation subscription
    /// is live (while it is down the node still answers, from the store, but a load
    /// balancer should prefer the others).
    pub async fn ready(&self) -> bool {
        self.channel_state() == ChannelState::Live && self.backend.clone().ping().await.is_ok()
    }

    /// Stops the background tasks (the purge, giving its lease back; the subscriber)
    /// and closes the backend's connections. Call it once, after the last request.
    pub async fn shutdown(&self) {
        let purge = self.purge.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(purge) = purge {
            purge.stop_and_release().await;
        }
        let subscriber = self
            .subscriber
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(subscriber) = subscriber {
            subscriber.shutdown().await;
        }
        self.backend.close().await;
    }
}

/// The backend's session administration, with removals forgotten by the caches.
struct AdminThroughCache {
    admin: Arc<dyn SessionAdmin>,
    cache: Arc<NodeCache>,
}

#[async_trait::async_trait]
impl SessionAdmin for AdminThroughCache {
    async fn list_sessions(
        &self,
        query: &crate::SessionQuery,
    ) -> Result<Vec<crate::Session>, crate::StoreError> {
        self.admin.list_sessions(query).await
    }
    async fn count_client_sessions(
        &self,
        client: &crate::ClientName,
    ) -> Result<u64, crate::StoreError> {
        self.admin.count_client_sessions(client).await
    }
    async fn remove_client_sessions(
        &self,
        client: &crate::ClientName,
    ) -> Result<u64, crate::StoreError> {
        let result = self.admin.remove_client_sessions(client).await;
        self.cache.forget_all().await;
        result
    }
}

/// The running purge task of a node.
struct PurgeTask {
    handle: tokio::task::JoinHandle<()>,
    durin: Durin,
    leases: Option<Arc<dyn Leases>>,
    holder: String,
}

impl PurgeTask {
    /// Runs the purge (and housekeeping) every `every`, first after one interval. Each
    /// run purges only while this node holds the purge lease (one interval long), so
    /// one node purges per interval; housekeeping is idempotent and runs on every node.
    fn spawn(
        durin: Durin,
        leases: Option<Arc<dyn Leases>>,
        housekeeping: Option<(Arc<dyn Housekeeping>, Duration)>,
        every: Duration,
    ) -> PurgeTask {
        let holder = format!("node-{}", SessionId::generate().as_str());
        let (task_durin, task_leases, task_holder) =
            (durin.clone(), leases.clone(), holder.clone());
        let handle = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let run = match &task_leases {
                    Some(leases) => {
                        task_durin
                            .purge_expired_leased(&**leases, &task_holder, every)
                            .await
                    }
                    None => task_durin.purge_expired().await.map(PurgeRun::Ran),
                };
                match run {
                    Ok(PurgeRun::Ran(0)) => {}
                    Ok(PurgeRun::Ran(n)) => tracing::info!(purged = n, "purged expired sessions"),
                    Ok(PurgeRun::Skipped) => {
                        tracing::debug!("another node holds the purge lease; skipped");
                    }
                    Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
                }
                if let Some((store, window)) = &housekeeping {
                    match store.housekeeping(*window).await {
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
            leases,
            holder,
        }
    }

    async fn stop_and_release(self) {
        self.handle.abort();
        if let Some(leases) = &self.leases
            && let Err(e) = self
                .durin
                .release_purge_lease(&**leases, &self.holder)
                .await
        {
            tracing::warn!(error = %e, "releasing the purge lease failed; it expires by itself");
        }
    }
}

impl Drop for PurgeTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}
