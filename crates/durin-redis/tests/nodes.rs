//! Several nodes on one Redis: cache invalidations through the stream (`RedisChannel`)
//! and the shared failed-login limit. Each case runs two nodes on two connections under
//! one key prefix, as two application processes would. The fault cases kill a
//! subscriber's connection with `CLIENT KILL` (found by its `CLIENT SETNAME`), and trim
//! or delete the stream under it, inside a `MULTI` so that what they publish lands
//! strictly after the connection died. Waits are bounded polls, never timing assertions.

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{cluster_config, cluster_store_with, config, raw_connection, store_with};
use durin_core::testing::{CountingStore, client, digest, now, unique, user};
use durin_core::{
    AttemptDecision, AttemptId, AttemptKey, AttemptLimiter, AuthError, CachedTokenStore,
    ChannelState, Client, ClientName, DigestKey, Durin, Invalidation, InvalidationBus,
    InvalidationChannel, InvalidationSink, LoginOptions, SubscriberHandle, Subscription, Transport,
};
use durin_redis::redis::aio::MultiplexedConnection;
use durin_redis::{RedisConfig, RedisStore};

/// A liveness bound for what the tests wait on, not a latency target.
const BOUND: Duration = Duration::from_secs(10);

/// Polls `check` every 10 ms until it holds, for at most [`BOUND`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + BOUND;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {BOUND:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Records what a bus feeds its caches, and how often it suspends and resumes them.
#[derive(Default)]
struct Probe {
    applied: Mutex<Vec<Invalidation>>,
    suspends: AtomicUsize,
    resumes: AtomicUsize,
}

impl Probe {
    fn saw(&self, invalidation: &Invalidation) -> bool {
        self.applied
            .lock()
            .unwrap()
            .iter()
            .any(|seen| seen == invalidation)
    }
    fn suspends(&self) -> usize {
        self.suspends.load(Ordering::SeqCst)
    }
    fn resumes(&self) -> usize {
        self.resumes.load(Ordering::SeqCst)
    }
}

impl InvalidationSink for Probe {
    fn apply(&self, invalidation: &Invalidation) {
        self.applied.lock().unwrap().push(invalidation.clone());
    }
    fn suspend(&self) {
        self.suspends.fetch_add(1, Ordering::SeqCst);
    }
    fn resume(&self) {
        self.resumes.fetch_add(1, Ordering::SeqCst);
    }
}

/// One application process: its own connection, bus, subscriber and token cache.
struct Node {
    durin: Durin,
    bus: Arc<InvalidationBus>,
    /// Counts the reads that pass the cache.
    reads: Arc<CountingStore<Arc<RedisStore>>>,
    subscriber_name: String,
    probe: Arc<Probe>,
    _subscriber: SubscriberHandle,
}

/// On the Redis Cluster (`cluster`) or the one server.
async fn node_on(cluster: bool, config: RedisConfig, key: &DigestKey) -> Node {
    let store = Arc::new(if cluster {
        cluster_store_with(config).await
    } else {
        store_with(config).await
    });
    let channel = store.channel();
    let subscriber_name = channel.subscriber_name().to_owned();
    let bus = InvalidationBus::new(Arc::new(channel));
    let reads = Arc::new(CountingStore::counting(store.clone()));
    let cached = Arc::new(CachedTokenStore::new(reads.clone()).with_bus(&bus));
    let durin = Durin::builder(cached, store, key.clone())
        .bus(&bus)
        .client_cache_ttl(Duration::from_secs(3600))
        .build();
    let subscriber = bus.spawn_subscriber();
    let mut state = bus.watch_state();
    tokio::time::timeout(BOUND, state.wait_for(|s| *s == ChannelState::Live))
        .await
        .expect("the subscriber goes live")
        .unwrap();
    // Registered once live, so it counts only later losses.
    let probe = Arc::new(Probe::default());
    bus.register(probe.clone());
    Node {
        durin,
        bus,
        reads,
        subscriber_name,
        probe,
        _subscriber: subscriber,
    }
}

/// Two nodes under one fresh prefix with one digest key, and a client created on A.
async fn nodes() -> (Node, Node, ClientName, RedisConfig) {
    nodes_on(false).await
}

/// [`nodes`] on the Redis Cluster (`cluster`) or the one server.
async fn nodes_on(cluster: bool) -> (Node, Node, ClientName, RedisConfig) {
    let config = if cluster { cluster_config() } else { config() };
    let key = DigestKey::generate("nodes");
    let a = node_on(cluster, config.clone(), &key).await;
    let b = node_on(cluster, config.clone(), &key).await;
    let web = Client::new(client());
    a.durin.create_client(&web).await.unwrap();
    (a, b, web.name, config)
}

fn opts() -> LoginOptions {
    LoginOptions::default()
}

/// The id of the connection named `name` in `CLIENT LIST`, if there is one.
async fn connection_id(conn: &mut MultiplexedConnection, name: &str) -> Option<u64> {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(conn)
        .await
        .unwrap();
    let wanted = format!("name={name}");
    list.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        if !fields.contains(&wanted.as_str()) {
            return None;
        }
        fields
            .iter()
            .find_map(|f| f.strip_prefix("id="))
            .and_then(|id| id.parse().ok())
    })
}

/// Waits for the connection named `name` (other than `not`) and returns its id.
async fn wait_for_connection(
    conn: &mut MultiplexedConnection,
    name: &str,
    not: Option<u64>,
) -> u64 {
    let deadline = Instant::now() + BOUND;
    loop {
        if let Some(id) = connection_id(conn, name).await
            && Some(id) != not
        {
            return id;
        }
        assert!(
            Instant::now() < deadline,
            "no connection named {name} within {BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `XADD` of one payload as `RedisChannel::publish` writes it, trimming to about
/// `max_len`.
fn xadd(pipe: &mut redis::Pipeline, key: &str, max_len: u64, payload: &str) {
    pipe.cmd("XADD")
        .arg(key)
        .arg("MAXLEN")
        .arg("~")
        .arg(max_len)
        .arg("*")
        .arg("p")
        .arg(payload)
        .ignore();
}

/// Kills the connection `id` and then, in the same transaction, publishes `payloads`
/// on `key`: they land strictly after the connection died.
async fn kill_then_publish(
    conn: &mut MultiplexedConnection,
    id: u64,
    key: &str,
    max_len: u64,
    payloads: &[String],
) {
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .ignore();
    for payload in payloads {
        xadd(&mut pipe, key, max_len, payload);
    }
    pipe.query_async::<()>(conn).await.unwrap();
}

fn probe_payload() -> Invalidation {
    Invalidation::Digests(vec![digest()])
}

/// A logout, a logout-all and a client change on node A are seen on node B, whose
/// cache held the session; a revocation on B is seen on A.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_on_one_node_is_refused_on_the_other() {
    revocations_propagate(false).await;
}

/// The same on the Redis Cluster: the stream on its slot's primary, each subscriber on
/// a cluster connection of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_a_revocation_on_one_node_is_refused_on_the_other() {
    revocations_propagate(true).await;
}

async fn revocations_propagate(cluster: bool) {
    let (a, b, web, _) = nodes_on(cluster).await;
    let u = user();
    let login = a.durin.login(&u, &web, opts()).await.unwrap();
    for _ in 0..3 {
        b.durin
            .authenticate(&login.token, Transport::Header)
            .await
            .unwrap();
    }
    let reads = b.reads.gets();
    b.durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    assert_eq!(
        b.reads.gets(),
        reads,
        "node B serves the session from its cache"
    );
    let auth = a
        .durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    a.durin.logout(&auth).await.unwrap();
    eventually("node B refusing the logged-out token", || async {
        matches!(
            b.durin.authenticate(&login.token, Transport::Header).await,
            Err(AuthError::InvalidToken(_))
        )
    })
    .await;

    let again = a.durin.login(&u, &web, opts()).await.unwrap();
    b.durin
        .authenticate(&again.token, Transport::Header)
        .await
        .unwrap();
    a.durin.logout_all(&u).await.unwrap();
    eventually("node B refusing after logout-all", || async {
        b.durin
            .authenticate(&again.token, Transport::Header)
            .await
            .is_err()
    })
    .await;

    let third = b.durin.login(&u, &web, opts()).await.unwrap();
    a.durin
        .authenticate(&third.token, Transport::Header)
        .await
        .unwrap();
    b.durin.revoke(&third.session.id).await.unwrap();
    eventually("node A refusing a session revoked on B", || async {
        a.durin
            .authenticate(&third.token, Transport::Header)
            .await
            .is_err()
    })
    .await;

    let changed = Client::new(web.clone()).with_token_ttl(Some(Duration::from_secs(42)));
    assert!(b.durin.client(&web).await.unwrap().is_some());
    a.durin.upsert_client(&changed).await.unwrap();
    eventually("node B seeing the new client policy", || async {
        b.durin.client(&web).await.unwrap().unwrap().token_ttl == Some(Duration::from_secs(42))
    })
    .await;
    assert_eq!(b.probe.suspends(), 0, "no loss was reported");
}

/// Killing node B's subscriber connection loses nothing: what is published while it is
/// dead is replayed once it has reconnected by itself, no loss is reported (the caches
/// stay trusted), and a later logout on A is refused on B.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_subscriber_connection_reconnects_and_replays_what_it_missed() {
    let (a, b, web, config) = nodes().await;
    let mut raw = raw_connection().await;
    let login = a.durin.login(&user(), &web, opts()).await.unwrap();
    b.durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    let stream = format!("{}:inv", config.prefix());

    let first = wait_for_connection(&mut raw, &b.subscriber_name, None).await;
    let missed = probe_payload();
    kill_then_publish(&mut raw, first, &stream, 10_000, &[missed.encode()]).await;
    eventually(
        "node B replaying what was published after its connection died",
        || async { b.probe.saw(&missed) },
    )
    .await;
    let second = wait_for_connection(&mut raw, &b.subscriber_name, Some(first)).await;
    assert_ne!(first, second);

    // Killed again while idle; the logout on A goes out meanwhile.
    kill_then_publish(&mut raw, second, &stream, 10_000, &[]).await;
    let auth = a
        .durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    a.durin.logout(&auth).await.unwrap();
    eventually("node B refusing the logged-out token", || async {
        b.durin
            .authenticate(&login.token, Transport::Header)
            .await
            .is_err()
    })
    .await;
    wait_for_connection(&mut raw, &b.subscriber_name, Some(second)).await;

    assert_eq!(b.probe.suspends(), 0, "no loss was reported");
    assert_eq!(b.bus.state(), ChannelState::Live);
    let fresh = a.durin.login(&user(), &web, opts()).await.unwrap();
    b.durin
        .authenticate(&fresh.token, Transport::Header)
        .await
        .unwrap();
    let reads = b.reads.gets();
    b.durin
        .authenticate(&fresh.token, Transport::Header)
        .await
        .unwrap();
    assert_eq!(b.reads.gets(), reads, "node B still trusts its cache");
}

/// When the stream was trimmed past node B's last id while its connection was dead, B
/// reports the loss: its bus goes down (caches bypassed) and live again (caches
/// flushed), by itself; then its cache serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_trimmed_past_a_subscriber_reports_a_loss() {
    let (a, b, web, config) = nodes().await;
    let mut raw = raw_connection().await;
    let login = a.durin.login(&user(), &web, opts()).await.unwrap();
    for _ in 0..2 {
        b.durin
            .authenticate(&login.token, Transport::Header)
            .await
            .unwrap();
    }
    let stream = format!("{}:inv", config.prefix());
    let id = wait_for_connection(&mut raw, &b.subscriber_name, None).await;
    // 1,500 entries trimmed to about 1,000: the first ones, B's last id among them, go.
    let burst: Vec<String> = (0..1500).map(|_| probe_payload().encode()).collect();
    kill_then_publish(&mut raw, id, &stream, 1000, &burst).await;

    eventually(
        "node B reporting the loss and subscribing again",
        || async { b.probe.suspends() == 1 && b.probe.resumes() == 1 },
    )
    .await;
    eventually("node B live again", || async {
        b.bus.state() == ChannelState::Live
    })
    .await;
    let reads = b.reads.gets();
    b.durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    assert_eq!(b.reads.gets(), reads + 1, "the cache was flushed");
    b.durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    assert_eq!(b.reads.gets(), reads + 1, "and serves again");
}

/// The subscription itself: killed while idle, it replays on its next read what was
/// published meanwhile, in order and without an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscription_resumes_from_its_last_id_after_a_dropped_connection() {
    let store = store_with(config()).await;
    let channel = store.channel();
    let mut raw = raw_connection().await;
    let mut subscription = channel.subscribe().await.unwrap();
    channel.publish("before").await.unwrap();
    assert_eq!(next(&mut subscription).await.unwrap(), "before");
    let id = wait_for_connection(&mut raw, channel.subscriber_name(), None).await;
    let missed: Vec<String> = (0..5).map(|i| format!("missed {i}")).collect();
    kill_then_publish(&mut raw, id, channel.key(), 10_000, &missed).await;
    for payload in &missed {
        assert_eq!(&next(&mut subscription).await.unwrap(), payload);
    }
    channel.publish("after").await.unwrap();
    assert_eq!(next(&mut subscription).await.unwrap(), "after");
}

/// The subscription reports a loss when its last id is gone: the stream deleted (as by a
/// Redis restarted without persistence) while its connection was dead, or a burst past
/// the stream's length between two reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscription_reports_a_loss_when_its_last_id_is_gone() {
    let store = store_with(config()).await;
    let channel = store.channel();
    let mut raw = raw_connection().await;

    let mut deleted = channel.subscribe().await.unwrap();
    let id = wait_for_connection(&mut raw, channel.subscriber_name(), None).await;
    redis::pipe()
        .atomic()
        .cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .ignore()
        .cmd("DEL")
        .arg(channel.key())
        .ignore()
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    channel.publish("after the restart").await.unwrap();
    let error = next(&mut deleted).await.unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");

    // Connected all along: 1,500 entries land between two reads.
    let mut behind = channel.subscribe().await.unwrap();
    let mut pipe = redis::pipe();
    pipe.atomic();
    for i in 0..1500 {
        xadd(&mut pipe, channel.key(), 1000, &format!("burst {i}"));
    }
    pipe.query_async::<()>(&mut raw).await.unwrap();
    let error = loop {
        // A first batch may be delivered before the check that follows it; the loss is
        // reported at the latest after it.
        match next(&mut behind).await {
            Ok(payload) => assert!(payload.starts_with("burst "), "{payload}"),
            Err(error) => break error,
        }
    };
    assert!(error.is_unavailable(), "{error:?}");
}

/// A stream deleted and recreated with a new entry under the subscription's last id (as
/// when both happen within one millisecond) is still a loss: the entry's content differs.
#[tokio::test]
async fn a_recreated_stream_reusing_the_last_id_is_a_loss() {
    let store = store_with(config()).await;
    let channel = store.channel();
    let mut raw = raw_connection().await;
    let mut subscription = channel.subscribe().await.unwrap();
    let id = wait_for_connection(&mut raw, channel.subscriber_name(), None).await;
    // The subscription's start marker is the newest entry.
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(channel.key())
        .arg("-")
        .arg("+")
        .query_async(&mut raw)
        .await
        .unwrap();
    let marker = entries.ids.last().expect("the start marker").id.clone();
    redis::pipe()
        .atomic()
        .cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .ignore()
        .cmd("DEL")
        .arg(channel.key())
        .ignore()
        .cmd("XADD")
        .arg(channel.key())
        .arg(&marker)
        .arg("p")
        .arg("another stream's entry")
        .ignore()
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    let error = next(&mut subscription).await.unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
}

/// A subscription's next payload, within [`BOUND`].
async fn next(subscription: &mut Box<dyn Subscription>) -> Result<String, durin_core::StoreError> {
    tokio::time::timeout(BOUND, subscription.next())
        .await
        .expect("an answer within the bound")
}

/// 40 concurrent reservations spread over two nodes (two connections) against a limit
/// of 10 admit exactly 10; a released attempt frees its slot for the other node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_attempt_limit_holds_across_nodes() {
    let config = config();
    let a: Arc<dyn AttemptLimiter> = Arc::new(store_with(config.clone()).await);
    let b: Arc<dyn AttemptLimiter> = Arc::new(store_with(config).await);
    attempt_limit_across(a, b).await;
}

/// The same on the Redis Cluster (every attempt key in the `{prefix}` slot).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_the_attempt_limit_holds_across_nodes() {
    let config = cluster_config();
    let a: Arc<dyn AttemptLimiter> = Arc::new(cluster_store_with(config.clone()).await);
    let b: Arc<dyn AttemptLimiter> = Arc::new(cluster_store_with(config).await);
    attempt_limit_across(a, b).await;
}

async fn attempt_limit_across(a: Arc<dyn AttemptLimiter>, b: Arc<dyn AttemptLimiter>) {
    let pair = AttemptKey::new(&[b"pair", unique("addr").as_bytes(), b"alice"], 10);
    let address = AttemptKey::new(&[b"address", unique("addr").as_bytes()], 50);
    let window = Duration::from_secs(900);
    let t = now();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let limiter = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let id = AttemptId::generate();
                let decision = limiter
                    .reserve(&[pair, address], id, window, t)
                    .await
                    .unwrap();
                (id, decision)
            })
        })
        .collect();
    let mut reserved = Vec::new();
    for task in tasks {
        let (id, decision) = task.await.unwrap();
        if decision == AttemptDecision::Reserved {
            reserved.push(id);
        }
    }
    assert_eq!(reserved.len(), 10);
    assert!(matches!(
        b.reserve(&[pair], AttemptId::generate(), window, t)
            .await
            .unwrap(),
        AttemptDecision::Refused { .. }
    ));
    a.release(&[pair, address], reserved[0]).await.unwrap();
    assert_eq!(
        b.reserve(&[pair], AttemptId::generate(), window, t)
            .await
            .unwrap(),
        AttemptDecision::Reserved
    );
}

/// An attempt key is one sorted set that expires when its newest attempt leaves the
/// window: Redis bounds the memory without a purge.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attempt_keys_expire_with_their_window() {
    let config = config();
    let store = store_with(config.clone()).await;
    let key = AttemptKey::new(&[unique("scope").as_bytes()], 3);
    let window = Duration::from_secs(60);
    let t = now();
    store
        .reserve(&[key], AttemptId::generate(), window, t)
        .await
        .unwrap();
    let mut raw = raw_connection().await;
    let name = format!("{}:la:{}", config.prefix(), key.to_hex());
    let (kind, count, ttl): (String, u64, i64) = redis::pipe()
        .cmd("TYPE")
        .arg(&name)
        .cmd("ZCARD")
        .arg(&name)
        .cmd("PTTL")
        .arg(&name)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!((kind.as_str(), count), ("zset", 1));
    assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
    assert_eq!(
        store.purge_attempts(t).await.unwrap(),
        0,
        "nothing to purge"
    );
}
