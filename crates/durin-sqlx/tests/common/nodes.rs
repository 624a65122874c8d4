//! Several nodes in one process, as several servers would run: each has its own store
//! handle (its own pool), `InvalidationBus`, `CachedTokenStore` and `Durin`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use durin_core::testing::CountingStore;
use durin_core::{
    CachedTokenStore, ChannelState, ClientStore, DigestKey, Durin, InvalidationBus,
    InvalidationChannel, StoreError, SubscriberHandle, Subscription, TokenStore,
};

/// A generous liveness bound for what is asynchronous (deliveries, resubscriptions): a
/// bound, not a latency target (the propagation bench measures latency).
pub const BOUND: Duration = Duration::from_secs(10);

/// The token-store stack of a node: a cache over a read-counting wrapper of the store.
pub type Cache<S> = CachedTokenStore<Arc<CountingStore<Arc<S>>>>;

/// One node.
pub struct Node<S> {
    /// The service.
    pub durin: Durin,
    /// The node's bus.
    pub bus: Arc<InvalidationBus>,
    /// The node's token cache.
    pub cache: Arc<Cache<S>>,
    /// Counts the token reads that reach the store (past the cache).
    pub counting: Arc<CountingStore<Arc<S>>>,
    subscriber: Option<SubscriberHandle>,
}

impl<S: TokenStore + ClientStore> Node<S> {
    /// A server node over `store`, subscribed to `channel` (call [`Node::live`] to wait for
    /// the subscription).
    pub fn server(store: Arc<S>, channel: Arc<dyn InvalidationChannel>, key: &DigestKey) -> Self {
        let mut node = Self::cli(store, channel, key);
        node.subscriber = Some(node.bus.spawn_subscriber());
        node
    }

    /// A node that publishes but never subscribes, as the `durin` CLI does: its cache is
    /// never trusted, so every read goes to the store.
    pub fn cli(store: Arc<S>, channel: Arc<dyn InvalidationChannel>, key: &DigestKey) -> Self {
        let bus = InvalidationBus::new(channel);
        let counting = Arc::new(CountingStore::counting(store.clone()));
        let cache = Arc::new(CachedTokenStore::new(counting.clone()).with_bus(&bus));
        let durin = Durin::builder(cache.clone(), store, key.clone())
            .bus(&bus)
            .client_cache_ttl(Duration::from_secs(3600))
            .build();
        Node {
            durin,
            bus,
            cache,
            counting,
            subscriber: None,
        }
    }

    /// Waits until the node's subscription is live and its cache trusted again (the bus
    /// announces the state just before it resumes the caches).
    pub async fn live(&self) {
        wait_for_state(&self.bus, ChannelState::Live).await;
        eventually("the cache trusted again", async || self.cache.is_trusted()).await;
    }

    /// Stops the subscriber.
    pub async fn shutdown(mut self) {
        if let Some(subscriber) = self.subscriber.take() {
            subscriber.shutdown().await;
        }
    }
}

/// Waits (bounded) until `bus` is in `state`.
pub async fn wait_for_state(bus: &InvalidationBus, state: ChannelState) {
    let mut watch = bus.watch_state();
    tokio::time::timeout(BOUND, watch.wait_for(|s| *s == state))
        .await
        .unwrap_or_else(|_| panic!("the bus did not reach {} within {BOUND:?}", state.as_str()))
        .expect("the bus is alive");
}

/// Polls `check` every 2 ms until it holds; panics after [`BOUND`].
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + BOUND;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("{what} did not happen within {BOUND:?}");
}

/// A channel wrapper for fault tests: counts subscriptions and losses, and while closed
/// refuses new subscriptions (the channel's server unreachable), so an outage lasts as
/// long as the test needs.
pub struct Gate {
    inner: Arc<dyn InvalidationChannel>,
    closed: AtomicBool,
    subscriptions: AtomicUsize,
    losses: Arc<AtomicUsize>,
}

impl Gate {
    /// Wraps `inner`, open.
    pub fn new(inner: Arc<dyn InvalidationChannel>) -> Arc<Self> {
        Arc::new(Gate {
            inner,
            closed: AtomicBool::new(false),
            subscriptions: AtomicUsize::new(0),
            losses: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Refuses (or again admits) new subscriptions.
    pub fn set_closed(&self, closed: bool) {
        self.closed.store(closed, Ordering::SeqCst);
    }

    /// How many subscriptions went live.
    pub fn subscriptions(&self) -> usize {
        self.subscriptions.load(Ordering::SeqCst)
    }

    /// How many live subscriptions reported a loss.
    pub fn losses(&self) -> usize {
        self.losses.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl InvalidationChannel for Gate {
    async fn publish(&self, payload: &str) -> Result<(), StoreError> {
        self.inner.publish(payload).await
    }

    async fn subscribe(&self) -> Result<Box<dyn Subscription>, StoreError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::unavailable("the gate is closed"));
        }
        let inner = self.inner.subscribe().await?;
        self.subscriptions.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(Counted {
            inner,
            losses: self.losses.clone(),
        }))
    }
}

struct Counted {
    inner: Box<dyn Subscription>,
    losses: Arc<AtomicUsize>,
}

#[async_trait]
impl Subscription for Counted {
    async fn next(&mut self) -> Result<String, StoreError> {
        let next = self.inner.next().await;
        if next.is_err() {
            self.losses.fetch_add(1, Ordering::SeqCst);
        }
        next
    }
}
