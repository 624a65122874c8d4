//! Cache invalidation across nodes: what one node tells the others to forget, the channel
//! that carries it, and the bus that publishes and subscribes on each node.
//!
//! Several server processes (and the `durin` CLI) share one store; each server caches
//! sessions and client policies. A change on one node must reach the others' caches at
//! once, so:
//!
//! - every write that ends or changes a session publishes an [`Invalidation`] on the
//!   [`InvalidationBus`] after the store write and before the call returns;
//! - each node runs one subscriber task ([`InvalidationBus::spawn_subscriber`]) that feeds
//!   what it receives to its caches ([`InvalidationSink`]);
//! - notifications can be lost while a subscription is down, so a cache stops trusting
//!   itself (every read goes to the store) from the moment the subscription is lost until
//!   a new one is live, and forgets everything when it is. The cache's TTL ceiling is the
//!   last bound, not the plan.
//!
//! Backends implement [`InvalidationChannel`]: PostgreSQL with `LISTEN`/`NOTIFY`, Redis
//! with a stream, SQLite with a polled log table. Channels carry opaque text payloads;
//! [`Invalidation::encode`] and [`Invalidation::decode`] are the one wire format.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::{ClientName, SessionId, StoreError, TokenDigest, UserId};

/// What other nodes must forget.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invalidation {
    /// The sessions with these digests changed or ended.
    Digests(Vec<TokenDigest>),
    /// Every session of this user ended (logout-all), except the given one.
    User {
        /// The user.
        user: UserId,
        /// The session that survived, if any.
        except: Option<SessionId>,
    },
    /// The policy of this client changed, or the client was deleted.
    Client(ClientName),
    /// Forget everything (a bulk change, such as deleting a client's sessions).
    All,
}

/// A payload that is not an [`Invalidation`]. Subscribers log it and go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed invalidation: {0}")]
pub struct DecodeError(String);

#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u8,
    #[serde(flatten)]
    body: Wire,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Wire {
    Digests {
        digests: Vec<TokenDigest>,
    },
    User {
        user: String,
        except: Option<String>,
    },
    Client {
        client: String,
    },
    All,
}

/// The wire format version.
const WIRE_VERSION: u8 = 1;

impl Invalidation {
    /// The most digests one payload carries (PostgreSQL's `NOTIFY` takes at most 8000
    /// bytes); [`InvalidationBus::publish`] splits longer lists.
    pub const MAX_DIGESTS: usize = 64;

    /// The longest payload [`Invalidation::decode`] reads.
    pub const MAX_PAYLOAD: usize = 8000;

    /// The payload text: compact JSON with a version, e.g.
    /// `{"v":1,"kind":"digests","digests":["…64 hex…"]}`.
    pub fn encode(&self) -> String {
        let body = match self {
            Invalidation::Digests(digests) => Wire::Digests {
                digests: digests.clone(),
            },
            Invalidation::User { user, except } => Wire::User {
                user: user.as_str().to_owned(),
                except: except.as_ref().map(|id| id.as_str().to_owned()),
            },
            Invalidation::Client(client) => Wire::Client {
                client: client.as_str().to_owned(),
            },
            Invalidation::All => Wire::All,
        };
        serde_json::to_string(&Envelope {
            v: WIRE_VERSION,
            body,
        })
        .expect("an invalidation always serialises")
    }

    /// Reads a payload written by [`Invalidation::encode`].
    ///
    /// # Errors
    /// [`DecodeError`] for anything else: too long, not JSON, an unknown version or kind,
    /// a bad digest, user id, session id or client name.
    pub fn decode(payload: &str) -> Result<Self, DecodeError> {
        if payload.len() > Self::MAX_PAYLOAD {
            return Err(DecodeError(format!("{} bytes", payload.len())));
        }
        let envelope: Envelope =
            serde_json::from_str(payload).map_err(|e| DecodeError(e.to_string()))?;
        if envelope.v != WIRE_VERSION {
            return Err(DecodeError(format!("unknown version {}", envelope.v)));
        }
        let bad = |what: &str, e: crate::ParseError| DecodeError(format!("{what}: {e}"));
        Ok(match envelope.body {
            Wire::Digests { digests } => Invalidation::Digests(digests),
            Wire::User { user, except } => Invalidation::User {
                user: UserId::new(user).map_err(|e| bad("user", e))?,
                except: except
                    .map(SessionId::new)
                    .transpose()
                    .map_err(|e| bad("except", e))?,
            },
            Wire::Client { client } => {
                Invalidation::Client(ClientName::new(client).map_err(|e| bad("client", e))?)
            }
            Wire::All => Invalidation::All,
        })
    }

    /// This invalidation as payloads of at most [`Invalidation::MAX_DIGESTS`] digests.
    fn payloads(&self) -> Vec<String> {
        match self {
            Invalidation::Digests(digests) if digests.len() > Self::MAX_DIGESTS => digests
                .chunks(Self::MAX_DIGESTS)
                .map(|chunk| Invalidation::Digests(chunk.to_vec()).encode())
                .collect(),
            other => vec![other.encode()],
        }
    }
}

/// One node's live subscription to an [`InvalidationChannel`].
#[async_trait]
pub trait Subscription: Send + 'static {
    /// The next payload. An error means the subscription is lost and messages may have
    /// been missed (a dropped connection, a gap in a replayable log): the bus stops
    /// trusting the caches and subscribes again. A channel never hides a loss behind a
    /// silent reconnection. It need not be cancel-safe: the bus drops a pending call only
    /// when it shuts down.
    ///
    /// # Errors
    /// [`StoreError`] when the subscription is lost.
    async fn next(&mut self) -> Result<String, StoreError>;
}

/// Carries invalidation payloads between the nodes that share a store.
///
/// Implementations: `durin_sqlx::PgChannel` (`LISTEN`/`NOTIFY`), `durin_sqlx::SqliteChannel`
/// (a polled log table), `durin_redis::RedisChannel` (a stream). A conformance suite
/// (`durin_core::invalidation_channel_tests!`, feature `testing`) checks each.
#[async_trait]
pub trait InvalidationChannel: Send + Sync + 'static {
    /// Sends `payload` to every node subscribed now, this one included. When it returns
    /// `Ok`, every subscription that was live before the call will deliver it.
    ///
    /// # Errors
    /// [`StoreError`] when the channel cannot be reached.
    async fn publish(&self, payload: &str) -> Result<(), StoreError>;

    /// Opens a subscription. It returns once the subscription is live: every payload
    /// published after it returns is delivered (or the subscription reports its loss).
    ///
    /// # Errors
    /// [`StoreError`] when the channel cannot be reached.
    async fn subscribe(&self) -> Result<Box<dyn Subscription>, StoreError>;
}

/// Something holding cached state that other nodes' changes can make stale: the token
/// cache, the client-policy cache.
pub trait InvalidationSink: Send + Sync + 'static {
    /// Forgets what `invalidation` names.
    fn apply(&self, invalidation: &Invalidation);
    /// The subscription is down: stop serving from the cache until [`resume`](Self::resume).
    fn suspend(&self);
    /// A subscription is live again: forget everything, then trust the cache again.
    fn resume(&self);
}

/// The state of a node's subscription, for readiness checks and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelState {
    /// No subscription yet (the subscriber has not started, or is subscribing).
    Connecting,
    /// Subscribed: the caches are trusted.
    Live,
    /// The subscription was lost; the subscriber is retrying and the caches are bypassed.
    Down,
}

impl ChannelState {
    /// A stable lowercase name (`connecting`, `live`, `down`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelState::Connecting => "connecting",
            ChannelState::Live => "live",
            ChannelState::Down => "down",
        }
    }
}

/// Publishes this node's invalidations and feeds other nodes' to this node's caches.
///
/// Create one per process over the store's channel, hand it to the caches
/// (`CachedTokenStore::with_bus`, `DurinBuilder::bus`), then start its subscriber:
///
/// ```
/// # use std::sync::Arc;
/// # use durin_core::{InvalidationBus, InvalidationChannel};
/// # async fn wire(channel: Arc<dyn InvalidationChannel>) {
/// let bus = InvalidationBus::new(channel);
/// // ... CachedTokenStore::new(store).with_bus(&bus), Durin::builder(..).bus(&bus) ...
/// let subscriber = bus.spawn_subscriber();
/// // at shutdown:
/// subscriber.shutdown().await;
/// # }
/// ```
///
/// Until the first subscription is live, registered caches are bypassed: a node that
/// starts while its channel is down answers from the store, never from a stale cache.
pub struct InvalidationBus {
    channel: Arc<dyn InvalidationChannel>,
    sinks: Mutex<Vec<Arc<dyn InvalidationSink>>>,
    state: watch::Sender<ChannelState>,
    /// Payloads whose publication failed, retried by the subscriber task.
    outbox: Mutex<VecDeque<String>>,
    metrics: BusMetrics,
}

/// The most payloads kept for a retry after failed publications.
const OUTBOX_LIMIT: usize = 10_000;

struct BusMetrics {
    published: metrics::Counter,
    publish_failed: metrics::Counter,
    received: metrics::Counter,
    malformed: metrics::Counter,
    state: metrics::Gauge,
}

impl BusMetrics {
    fn new() -> Self {
        BusMetrics {
            published: metrics::counter!("durin_invalidations_published_total"),
            publish_failed: metrics::counter!("durin_invalidations_publish_failures_total"),
            received: metrics::counter!("durin_invalidations_received_total"),
            malformed: metrics::counter!("durin_invalidations_malformed_total"),
            state: metrics::gauge!("durin_invalidation_channel_live"),
        }
    }
}

impl std::fmt::Debug for InvalidationBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvalidationBus")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl InvalidationBus {
    /// A bus over `channel`, not yet subscribed.
    pub fn new(channel: Arc<dyn InvalidationChannel>) -> Arc<Self> {
        Arc::new(InvalidationBus {
            channel,
            sinks: Mutex::new(Vec::new()),
            state: watch::Sender::new(ChannelState::Connecting),
            outbox: Mutex::new(VecDeque::new()),
            metrics: BusMetrics::new(),
        })
    }

    /// Registers a cache to be fed. It is suspended at once unless a subscription is
    /// live.
    pub fn register(&self, sink: Arc<dyn InvalidationSink>) {
        let mut sinks = self.sinks.lock().unwrap_or_else(|e| e.into_inner());
        // Under the lock that state changes also take, so no transition is missed.
        if *self.state.borrow() != ChannelState::Live {
            sink.suspend();
        }
        sinks.push(sink);
    }

    /// The subscription's state now.
    pub fn state(&self) -> ChannelState {
        *self.state.borrow()
    }

    /// A receiver that sees every change of [`InvalidationBus::state`].
    pub fn watch_state(&self) -> watch::Receiver<ChannelState> {
        self.state.subscribe()
    }

    /// Publishes `invalidation` to every node (split into payloads of at most
    /// [`Invalidation::MAX_DIGESTS`] digests). A failed publication is retried twice at
    /// once, then kept and retried by the subscriber task every second; it is logged at
    /// `error`, since other nodes then learn of the change late (at worst when their
    /// cache TTL ceiling passes).
    pub async fn publish(&self, invalidation: &Invalidation) {
        for payload in invalidation.payloads() {
            if let Err(error) = self.send(&payload).await {
                self.metrics.publish_failed.increment(1);
                tracing::error!(%error, "could not publish a cache invalidation; retrying in the background");
                let mut outbox = self.outbox.lock().unwrap_or_else(|e| e.into_inner());
                if outbox.len() >= OUTBOX_LIMIT {
                    outbox.pop_front();
                }
                outbox.push_back(payload);
            }
        }
    }

    async fn send(&self, payload: &str) -> Result<(), StoreError> {
        let mut last = None;
        for pause in [
            Duration::ZERO,
            Duration::from_millis(10),
            Duration::from_millis(50),
        ] {
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            match self.channel.publish(payload).await {
                Ok(()) => {
                    self.metrics.published.increment(1);
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    /// Retries what failed to publish; stops at the first failure.
    async fn flush_outbox(&self) {
        loop {
            let next = self
                .outbox
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front();
            let Some(payload) = next else { return };
            if self.channel.publish(&payload).await.is_err() {
                self.outbox
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_front(payload);
                return;
            }
            self.metrics.published.increment(1);
        }
    }

    /// Applies an invalidation received from the channel (or from a test) to every
    /// registered cache.
    pub fn deliver(&self, invalidation: &Invalidation) {
        let sinks = self.sinks.lock().unwrap_or_else(|e| e.into_inner());
        for sink in sinks.iter() {
            sink.apply(invalidation);
        }
    }

    fn set_state(&self, state: ChannelState) {
        let sinks = self.sinks.lock().unwrap_or_else(|e| e.into_inner());
        // The caches change first and the state is published after, so whoever sees the
        // new state (readiness, a test) also sees caches that agree with it.
        let before = *self.state.borrow();
        match state {
            ChannelState::Live => sinks.iter().for_each(|s| s.resume()),
            _ if before == ChannelState::Live => sinks.iter().for_each(|s| s.suspend()),
            _ => {}
        }
        self.state.send_replace(state);
        self.metrics.state.set(if state == ChannelState::Live {
            1.0
        } else {
            0.0
        });
    }

    fn receive(&self, payload: &str) {
        match Invalidation::decode(payload) {
            Ok(invalidation) => {
                self.metrics.received.increment(1);
                self.deliver(&invalidation);
            }
            Err(error) => {
                self.metrics.malformed.increment(1);
                tracing::warn!(%error, "ignoring a malformed invalidation message");
            }
        }
    }

    /// Starts the subscriber task on the current tokio runtime: it subscribes, resumes
    /// the caches once the subscription is live, applies what arrives, and on a loss
    /// suspends the caches and subscribes again (backing off from 50 ms to 2 s).
    pub fn spawn_subscriber(self: &Arc<Self>) -> SubscriberHandle {
        let (stop, stopped) = watch::channel(false);
        let bus = self.clone();
        let mut retry_stopped = stopped.clone();
        let retry_bus = self.clone();
        let retry = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = retry_stopped.changed() => return,
                    _ = every.tick() => retry_bus.flush_outbox().await,
                }
            }
        });
        let task = tokio::spawn(async move {
            bus.run(stopped).await;
            let _ = retry.await;
        });
        SubscriberHandle {
            stop,
            task: Some(task),
        }
    }

    async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        const FIRST_PAUSE: Duration = Duration::from_millis(50);
        let mut pause = FIRST_PAUSE;
        loop {
            let subscribed = tokio::select! {
                _ = stop.changed() => return,
                s = tokio::time::timeout(Duration::from_secs(5), self.channel.subscribe()) => s,
            };
            match subscribed {
                Ok(Ok(mut subscription)) => {
                    self.set_state(ChannelState::Live);
                    tracing::info!("invalidation channel subscribed");
                    let since = tokio::time::Instant::now();
                    loop {
                        // Only shutdown races `next`, so channels need not make it
                        // cancel-safe.
                        tokio::select! {
                            _ = stop.changed() => {
                                self.set_state(ChannelState::Down);
                                return;
                            }
                            next = subscription.next() => match next {
                                Ok(payload) => self.receive(&payload),
                                Err(error) => {
                                    tracing::warn!(%error, "invalidation subscription lost; bypassing the caches until it is back");
                                    break;
                                }
                            },
                        }
                    }
                    self.set_state(ChannelState::Down);
                    if since.elapsed() > Duration::from_secs(10) {
                        pause = FIRST_PAUSE;
                    }
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "could not subscribe to the invalidation channel");
                    self.set_state(ChannelState::Down);
                }
                Err(_) => {
                    tracing::warn!("subscribing to the invalidation channel timed out");
                    self.set_state(ChannelState::Down);
                }
            }
            tokio::select! {
                _ = stop.changed() => return,
                _ = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }
}

/// The running subscriber task of an [`InvalidationBus`]. Dropping it stops the task.
#[must_use = "dropping the handle stops the subscriber"]
#[derive(Debug)]
pub struct SubscriberHandle {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SubscriberHandle {
    /// Stops the task and waits until it has stopped (the caches are left suspended).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SubscriberHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn round_trip(invalidation: Invalidation) {
        let payload = invalidation.encode();
        assert_eq!(
            Invalidation::decode(&payload).unwrap(),
            invalidation,
            "{payload}"
        );
    }

    #[test]
    fn every_kind_round_trips() {
        round_trip(Invalidation::Digests(vec![TokenDigest::from_bytes(
            [7; 32],
        )]));
        round_trip(Invalidation::User {
            user: UserId::new("alice").unwrap(),
            except: Some(SessionId::generate()),
        });
        round_trip(Invalidation::User {
            user: UserId::new("bob").unwrap(),
            except: None,
        });
        round_trip(Invalidation::Client(ClientName::new("web").unwrap()));
        round_trip(Invalidation::All);
    }

    #[test]
    fn malformed_payloads_are_errors() {
        for payload in [
            "",
            "null",
            "{}",
            r#"{"v":2,"kind":"all"}"#,
            r#"{"v":1,"kind":"nope"}"#,
            r#"{"v":1,"kind":"digests","digests":["zz"]}"#,
            r#"{"v":1,"kind":"client","client":"has space"}"#,
            r#"{"v":1,"kind":"user","user":""}"#,
        ] {
            assert!(Invalidation::decode(payload).is_err(), "{payload}");
        }
        assert!(Invalidation::decode(&"x".repeat(9000)).is_err());
    }

    #[test]
    fn long_digest_lists_are_split_to_fit_a_notify() {
        let digests: Vec<TokenDigest> = (0..150u8)
            .map(|i| TokenDigest::from_bytes([i; 32]))
            .collect();
        let payloads = Invalidation::Digests(digests.clone()).payloads();
        assert_eq!(payloads.len(), 3);
        let mut back = Vec::new();
        for p in &payloads {
            assert!(p.len() < Invalidation::MAX_PAYLOAD, "{}", p.len());
            match Invalidation::decode(p).unwrap() {
                Invalidation::Digests(d) => back.extend(d),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(back, digests);
    }
}
