//! Several nodes on one database: two store handles (two pools) on one PostgreSQL schema
//! or one SQLite file, each node with its own bus, cache and service. What one node
//! revokes, the other refuses; throttles and the failed-login limit hold across them; a
//! killed subscription is noticed, answered from the store, and recovered by itself.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::nodes::{BOUND, Gate, Node, eventually, wait_for_state};
use durin_core::Housekeeping;
use durin_core::testing::{client, now, unique, user};
use durin_core::{
    AttemptDecision, AttemptId, AttemptKey, AttemptLimiter, ChannelState, Client, ClientStore,
    DigestKey, InvalidationChannel, LoginOptions, Rate, Removal, Throttle, TokenStore, Transport,
};
use durin_sqlx::{PostgresStore, SqliteStore};
use sqlx::postgres::PgPoolOptions;

fn opts() -> LoginOptions {
    LoginOptions::default()
}

/// Two server nodes and a CLI-like publisher on `a`, `b`, `c`, with a client created.
async fn revocations_reach_every_node<S: TokenStore + ClientStore>(
    stores: [Arc<S>; 3],
    channel: impl Fn(&Arc<S>) -> Arc<dyn InvalidationChannel>,
) {
    let key = DigestKey::generate("nodes");
    let [a, b, c] = stores;
    let (ca, cb, cc) = (channel(&a), channel(&b), channel(&c));
    let a = Node::server(a, ca, &key);
    let b = Node::server(b, cb, &key);
    let cli = Node::cli(c, cc, &key);
    a.live().await;
    b.live().await;
    let web = Client::new(client());
    a.durin.create_client(&web).await.unwrap();
    let u = user();

    // Logout on A: B, whose cache holds the session, refuses it.
    let login = a.durin.login(&u, &web.name, opts()).await.unwrap();
    // A's own publications (the client, the login) reach B up to a poll later and may
    // drop what B just cached: once they have, three lookups cost at most one read.
    eventually("B serves the session from its cache", async || {
        let reads = b.counting.gets();
        for _ in 0..3 {
            b.durin
                .authenticate(&login.token, Transport::Header)
                .await
                .unwrap();
        }
        b.counting.gets() <= reads + 1
    })
    .await;
    let auth = a
        .durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    a.durin.logout(&auth).await.unwrap();
    eventually("B refusing a token logged out on A", async || {
        b.durin
            .authenticate(&login.token, Transport::Header)
            .await
            .is_err()
    })
    .await;

    // Logout-all on B: A refuses.
    let again = a.durin.login(&u, &web.name, opts()).await.unwrap();
    a.durin
        .authenticate(&again.token, Transport::Header)
        .await
        .unwrap();
    b.durin.logout_all(&u).await.unwrap();
    eventually("A refusing after logout-all on B", async || {
        a.durin
            .authenticate(&again.token, Transport::Header)
            .await
            .is_err()
    })
    .await;

    // A revocation by the CLI (a process that publishes and exits): both refuse.
    let third = b.durin.login(&u, &web.name, opts()).await.unwrap();
    for node in [&a, &b] {
        node.durin
            .authenticate(&third.token, Transport::Header)
            .await
            .unwrap();
    }
    assert!(cli.durin.revoke(&third.session.id).await.unwrap().is_some());
    for node in [&a, &b] {
        eventually("a node refusing a session the CLI revoked", async || {
            node.durin
                .authenticate(&third.token, Transport::Header)
                .await
                .is_err()
        })
        .await;
    }

    // A client change on A reaches B's policy cache (an hour long here).
    let fourth = a.durin.login(&u, &web.name, opts()).await.unwrap();
    b.durin
        .authenticate(&fourth.token, Transport::Header)
        .await
        .unwrap();
    let changed = Client::new(web.name.clone()).with_token_ttl(Some(Duration::from_secs(42)));
    a.durin.upsert_client(&changed).await.unwrap();
    eventually("B seeing the client's new TTL", async || {
        b.durin.client(&web.name).await.unwrap().unwrap().token_ttl == Some(Duration::from_secs(42))
    })
    .await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_revocations_reach_every_node() {
    let (a, b) = common::postgres_pair().await;
    let c = Arc::new(PostgresStore::from_pool(a.pool().clone()));
    revocations_reach_every_node([a, b, c], |s| Arc::new(s.channel())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_revocations_reach_every_process() {
    let (a, b) = common::sqlite_pair().await;
    let c = Arc::new(SqliteStore::from_pool(b.pool().clone()));
    revocations_reach_every_node([a, b, c], |s| Arc::new(s.channel())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_memory_nodes_of_one_process_share_the_log() {
    let a = common::sqlite_memory().await;
    let b = Arc::new(SqliteStore::from_pool(a.pool().clone()));
    let c = Arc::new(SqliteStore::from_pool(a.pool().clone()));
    revocations_reach_every_node([a, b, c], |s| Arc::new(s.channel())).await;
}

/// The subscription of node B is lost while A keeps changing things: B bypasses its
/// cache (every read reaches the store, and A's logout is refused at once), then
/// resubscribes by itself and serves from its cache again. `break_it` causes the loss
/// and keeps B from resubscribing; `repair` ends the outage.
async fn a_lost_subscription_is_noticed_and_recovered<S: TokenStore + ClientStore>(
    a: Node<S>,
    b: Node<S>,
    gate: Arc<Gate>,
    break_it: impl AsyncFnOnce(),
    repair: impl AsyncFnOnce(),
) {
    a.live().await;
    b.live().await;
    let web = Client::new(client());
    a.durin.create_client(&web).await.unwrap();
    let login = a.durin.login(&user(), &web.name, opts()).await.unwrap();
    b.durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    let auth = a
        .durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    assert_eq!(gate.subscriptions(), 1);

    break_it().await;
    wait_for_state(&b.bus, ChannelState::Down).await;
    assert_eq!(gate.losses(), 1, "the subscription reported its loss");
    assert!(!b.cache.is_trusted(), "B stops trusting its cache");

    // While down: A's logout (whose message B cannot get) is refused on B at once, and
    // every read on B reaches the store.
    a.durin.logout(&auth).await.unwrap();
    assert!(
        b.durin
            .authenticate(&login.token, Transport::Header)
            .await
            .is_err(),
        "B answers from the store while its subscription is down"
    );
    let fresh = a.durin.login(&user(), &web.name, opts()).await.unwrap();
    let reads = b.counting.gets();
    for _ in 0..3 {
        b.durin
            .authenticate(&fresh.token, Transport::Header)
            .await
            .unwrap();
    }
    assert_eq!(
        b.counting.gets(),
        reads + 3,
        "no read is served from the cache"
    );
    assert_eq!(
        b.bus.state(),
        ChannelState::Down,
        "still down: the outage holds"
    );

    repair().await;
    gate.set_closed(false);
    b.live().await;
    assert_eq!(gate.subscriptions(), 2, "B resubscribed by itself");

    // Back on the cache, and on the channel.
    let reads = b.counting.gets();
    for _ in 0..3 {
        b.durin
            .authenticate(&fresh.token, Transport::Header)
            .await
            .unwrap();
    }
    assert_eq!(
        b.counting.gets(),
        reads + 1,
        "B serves from its cache again"
    );
    let auth = a
        .durin
        .authenticate(&fresh.token, Transport::Header)
        .await
        .unwrap();
    a.durin.logout(&auth).await.unwrap();
    eventually("B refusing a logout on A after the recovery", async || {
        b.durin
            .authenticate(&fresh.token, Transport::Header)
            .await
            .is_err()
    })
    .await;
    a.shutdown().await;
    b.shutdown().await;
}

/// PostgreSQL: the listener's backend is terminated (`pg_terminate_backend`, found by
/// B's application name and its `LISTEN`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_killed_listener_is_noticed_and_recovered() {
    let schema = common::new_schema().await;
    let name = unique("durin-node-b");
    let a = Arc::new(common::postgres_in(&schema, PgPoolOptions::new(), None).await);
    a.migrate().await.unwrap();
    let b = Arc::new(common::postgres_in(&schema, PgPoolOptions::new(), Some(&name)).await);
    let key = DigestKey::generate("kill");
    // A long heartbeat, so the listener's last query stays its LISTEN.
    let gate = Gate::new(Arc::new(
        b.channel().with_heartbeat(Duration::from_secs(600)),
    ));
    let node_a = Node::server(a.clone(), Arc::new(a.channel()), &key);
    let node_b = Node::server(b, gate.clone(), &key);
    let admin = a.pool().clone();
    let kill = async || {
        gate.set_closed(true);
        let (killed,): (i64,) = sqlx::query_as(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = $1 AND query LIKE 'LISTEN %'",
        )
        .bind(&name)
        .fetch_one(&admin)
        .await
        .unwrap();
        assert_eq!(killed, 1, "B's listener is found and terminated");
    };
    a_lost_subscription_is_noticed_and_recovered(node_a, node_b, gate.clone(), kill, async || {})
        .await;
}

/// SQLite: B's poll fails (the log table is renamed away by another connection, which
/// also makes resubscribing fail until it is back).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_failing_poll_is_noticed_and_recovered() {
    let (a, b) = common::sqlite_pair().await;
    let key = DigestKey::generate("kill");
    let gate = Gate::new(Arc::new(b.channel()));
    let node_a = Node::server(a.clone(), Arc::new(a.channel()), &key);
    let node_b = Node::server(b, gate.clone(), &key);
    let rename = async |from: &str, to: &str| {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE {from} RENAME TO {to}"
        )))
        .execute(a.pool())
        .await
        .unwrap();
    };
    a_lost_subscription_is_noticed_and_recovered(
        node_a,
        node_b,
        gate.clone(),
        async || rename("durin_invalidations", "durin_invalidations_away").await,
        async || rename("durin_invalidations_away", "durin_invalidations").await,
    )
    .await;
}

/// Throttle checks from two handles at once (two pools: two nodes) share one rate.
async fn the_rate_holds_across_nodes(a: Arc<dyn Throttle>, b: Arc<dyn Throttle>) {
    let key = unique("shared");
    let rate: Rate = "10/m".parse().unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let throttle = if i % 2 == 0 { a.clone() } else { b.clone() };
            let key = key.clone();
            tokio::spawn(async move { throttle.check(&key, rate).await.unwrap() })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        if task.await.unwrap().is_allowed() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_throttle_rate_holds_across_nodes() {
    let (a, b) = common::postgres_pair().await;
    the_rate_holds_across_nodes(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_throttle_rate_holds_across_processes() {
    let (a, b) = common::sqlite_pair().await;
    the_rate_holds_across_nodes(a, b).await;
}

/// Reservations from two handles at once share one limit.
async fn the_attempt_limit_holds_across_nodes(
    a: Arc<dyn AttemptLimiter>,
    b: Arc<dyn AttemptLimiter>,
) {
    let pair = AttemptKey::new(&[unique("pair").as_bytes()], 10);
    let address = AttemptKey::new(&[unique("address").as_bytes()], 50);
    let t = now();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let limiter = if i % 2 == 0 { a.clone() } else { b.clone() };
            // Half list the keys the other way round: the locks are still taken in one
            // order, so nothing deadlocks.
            let keys = if i % 4 < 2 {
                [pair, address]
            } else {
                [address, pair]
            };
            tokio::spawn(async move {
                limiter
                    .reserve(&keys, AttemptId::generate(), Duration::from_secs(900), t)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut reserved = 0;
    for task in tasks {
        if task.await.unwrap() == AttemptDecision::Reserved {
            reserved += 1;
        }
    }
    assert_eq!(reserved, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_the_attempt_limit_holds_across_nodes() {
    let (a, b) = common::postgres_pair().await;
    the_attempt_limit_holds_across_nodes(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_the_attempt_limit_holds_across_processes() {
    let (a, b) = common::sqlite_pair().await;
    the_attempt_limit_holds_across_nodes(a, b).await;
}

/// Deployments in two schemas of one database use two channels: neither hears the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schemas_do_not_cross_talk() {
    let (one, two) = (common::postgres().await, common::postgres().await);
    let (first, second) = (one.channel(), two.channel());
    assert_ne!(first.name().await.unwrap(), second.name().await.unwrap());
    let mut subscription = second.subscribe().await.unwrap();
    first.publish("from the first schema").await.unwrap();
    second.publish("from the second schema").await.unwrap();
    let got = tokio::time::timeout(BOUND, subscription.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, "from the second schema");
}

/// An explicit name links stores whatever their schemas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_explicit_channel_name_is_shared() {
    let (one, two) = (common::postgres().await, common::postgres().await);
    let name = unique("durin-explicit");
    let first = one.channel().with_name(&name).unwrap();
    let second = two.channel().with_name(&name).unwrap();
    let mut subscription = second.subscribe().await.unwrap();
    first.publish("hello").await.unwrap();
    let got = tokio::time::timeout(BOUND, subscription.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, "hello");
}

/// A quiet subscription checks its connection every heartbeat and stays live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_quiet_subscription_survives_its_heartbeats() {
    let store = common::postgres().await;
    let channel = store.channel().with_heartbeat(Duration::from_millis(20));
    let mut subscription = channel.subscribe().await.unwrap();
    let publisher = channel.clone();
    let publish = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        publisher.publish("after some silence").await.unwrap();
    });
    let got = tokio::time::timeout(BOUND, subscription.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, "after some silence");
    publish.await.unwrap();
}

/// A payload NOTIFY cannot carry is refused before any I/O.
#[tokio::test]
async fn postgres_an_oversized_payload_is_refused() {
    let store = PostgresStore::connect_lazy(
        "postgres://postgres@127.0.0.1:1/none",
        &durin_sqlx::PoolConfig::default(),
    )
    .unwrap();
    let channel = store.channel().with_name("x").unwrap();
    let error = channel.publish(&"x".repeat(8000)).await.unwrap_err();
    assert!(!error.is_unavailable(), "{error:?}");
}

/// A subscriber that falls behind the log's pruning reports a loss instead of skipping
/// what it missed; one that kept up is not disturbed by pruning, and a new subscription
/// after a prune starts cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_subscriber_behind_the_pruning_reports_a_loss() {
    let store = common::sqlite_file().await;
    let channel = store
        .channel()
        .with_retention(Duration::from_secs(1))
        .with_poll_interval(Duration::from_millis(5));
    let mut behind = channel.subscribe().await.unwrap();
    let mut current = channel.subscribe().await.unwrap();
    channel.publish("one").await.unwrap();
    assert_eq!(current.next().await.unwrap(), "one");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(channel.prune().await.unwrap(), 1);
    let error = behind.next().await.unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
    let source = std::error::Error::source(&error).and_then(|e| e.downcast_ref());
    assert!(
        matches!(
            source,
            Some(durin_sqlx::Error::MissedInvalidations {
                last_seen: 0,
                pruned_through: 1
            })
        ),
        "{error:?}"
    );
    channel.publish("two").await.unwrap();
    assert_eq!(current.next().await.unwrap(), "two");
    let mut fresh = channel.subscribe().await.unwrap();
    channel.publish("three").await.unwrap();
    assert_eq!(fresh.next().await.unwrap(), "three");
    assert_eq!(current.next().await.unwrap(), "three");
}

/// Housekeeping deletes old attempts and throttle state that has passed, and nothing
/// that still counts.
async fn housekeeping_deletes_what_no_longer_counts<S>(store: Arc<S>)
where
    S: Housekeeping + AttemptLimiter + Throttle,
{
    let window = Duration::from_secs(900);
    let (old, recent) = (
        AttemptKey::new(&[b"old"], 10),
        AttemptKey::new(&[b"recent"], 10),
    );
    let t = now();
    let long_ago = t.saturating_sub(Duration::from_secs(3600));
    store
        .reserve(&[old], AttemptId::generate(), window, long_ago)
        .await
        .unwrap();
    store
        .reserve(&[recent], AttemptId::generate(), window, t)
        .await
        .unwrap();
    // 1000/s: the state is a millisecond ahead, soon past. 1/h: an hour ahead.
    store
        .check("fast", "1000/s".parse().unwrap())
        .await
        .unwrap();
    store.check("slow", "1/h".parse().unwrap()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let report = store.housekeeping(window).await.unwrap();
    assert_eq!(report.attempts, 1);
    assert_eq!(report.throttle_keys, 1);
    assert!(
        !store
            .check("slow", "1/h".parse().unwrap())
            .await
            .unwrap()
            .is_allowed(),
        "the live throttle state survived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_housekeeping_deletes_what_no_longer_counts() {
    housekeeping_deletes_what_no_longer_counts(common::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_housekeeping_deletes_what_no_longer_counts() {
    housekeeping_deletes_what_no_longer_counts(common::sqlite_file().await).await;
}

/// The housekeeping task runs without being asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_housekeeping_task_runs_on_its_interval() {
    let store = common::sqlite_memory().await;
    let key = AttemptKey::new(&[b"k"], 1);
    let window = Duration::from_secs(60);
    let long_ago = now().saturating_sub(Duration::from_secs(3600));
    store
        .reserve(&[key], AttemptId::generate(), window, long_ago)
        .await
        .unwrap();
    let node = durin_core::Node::builder(store.clone(), DigestKey::generate("k"))
        .purge_every(Duration::from_millis(20))
        .attempt_window(window)
        .start()
        .unwrap();
    // The attempt is gone once a reservation at its own time is admitted again.
    eventually("the housekeeping task purging an old attempt", async || {
        let id = AttemptId::generate();
        let decision = store.reserve(&[key], id, window, long_ago).await.unwrap();
        store.release(&[key], id).await.unwrap();
        decision == AttemptDecision::Reserved
    })
    .await;
    node.shutdown().await;
}

/// A process that publishes but never subscribes (the CLI) never trusts its cache: a
/// session removed behind its back (no message at all) is refused there at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_cli_node_never_trusts_its_cache() {
    let (a, b) = common::sqlite_pair().await;
    let key = DigestKey::generate("cli");
    let cli = Node::cli(b.clone(), Arc::new(b.channel()), &key);
    let web = Client::new(client());
    cli.durin.create_client(&web).await.unwrap();
    let login = cli.durin.login(&user(), &web.name, opts()).await.unwrap();
    cli.durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    a.remove(&login.session.id, Removal::Delete).await.unwrap();
    assert!(
        cli.durin
            .authenticate(&login.token, Transport::Header)
            .await
            .is_err()
    );
}
