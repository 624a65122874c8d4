//! Read replicas on the real streaming replicas `scripts/services.sh` starts
//! (`DATABASE_REPLICA_URL`, 127.0.0.1:5433, replaying at once, and
//! `DATABASE_DELAYED_REPLICA_URL`, 127.0.0.1:5434, applying each commit 2 s late): lookups
//! read the replica, a token issued a moment ago works at once (the miss falls back to the
//! primary), a revocation on one node is refused on every other within 100 ms although the
//! replica still shows the session live, a replica that goes away is skipped and used
//! again when it comes back, and read URLs that cannot serve are refused at startup.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::nodes::{Node, eventually};
use durin_core::testing::{client, user};
use durin_core::{Client, DigestKey, LoginOptions, StoreError, TokenStore, Transport};
use durin_sqlx::{PoolConfig, PostgresStore, ReplicaOptions};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The bound every node keeps for a revocation that returned elsewhere.
const REVOKED_WITHIN: Duration = Duration::from_millis(100);

fn replica_url() -> String {
    std::env::var("DATABASE_REPLICA_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5433/durin_test".to_owned())
}

fn delayed_replica_url() -> String {
    std::env::var("DATABASE_DELAYED_REPLICA_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5434/durin_test".to_owned())
}

/// `url` with `search_path` set to `schema`.
fn in_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// A new migrated schema, once the replica at `replica` has its tables.
async fn schema_on(replica: &str) -> String {
    let schema = common::new_schema().await;
    let primary = PostgresStore::connect(&in_schema(&common::database_url(), &schema))
        .await
        .expect("primary");
    primary.migrate().await.expect("migrate");
    primary.close().await;
    let pool = replica_pool(replica, &schema).await;
    eventually("the replica has the schema's tables", async || {
        sqlx::query_scalar::<_, bool>("SELECT to_regclass('durin_sessions') IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap_or(false)
    })
    .await;
    schema
}

async fn replica_pool(replica: &str, schema: &str) -> PgPool {
    PgPool::connect(&in_schema(replica, schema))
        .await
        .unwrap_or_else(|e| panic!("replica {replica} unreachable ({e}); run scripts/services.sh"))
}

async fn store_with(schema: &str, mut replicas: ReplicaOptions) -> Arc<PostgresStore> {
    for url in &mut replicas.read_urls {
        *url = in_schema(url, schema);
    }
    Arc::new(
        PostgresStore::connect_with_replicas(
            &in_schema(&common::database_url(), schema),
            &PoolConfig::default(),
            &replicas,
        )
        .await
        .expect("store with replicas"),
    )
}

fn server(store: &Arc<PostgresStore>, key: &DigestKey) -> Node<PostgresStore> {
    Node::server(store.clone(), Arc::new(store.channel()), key)
}

/// What the replica shows of session `id`: `None` absent, `Some(live)`.
async fn on_replica(pool: &PgPool, id: &str) -> Option<bool> {
    sqlx::query_scalar::<_, bool>("SELECT revoked_at IS NULL FROM durin_sessions WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .expect("replica query")
}

/// Polls `refused` until it holds, failing unless it does within [`REVOKED_WITHIN`].
async fn refused_within_bound(what: &str, mut refused: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if refused().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < REVOKED_WITHIN,
            "{what}: still accepted after {:?}",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_urls_that_cannot_serve_are_refused_at_startup() {
    let impatient = common::impatient();
    let open = async |read: &str| {
        PostgresStore::connect_with_replicas(
            &common::database_url(),
            &impatient,
            &ReplicaOptions::new().with_read_url(read),
        )
        .await
        .map(|_| ())
        .expect_err(read)
    };
    // The primary itself: not in recovery.
    let error = open("postgres://postgres:s3cret@127.0.0.1:5432/durin_test").await;
    let text = format!("{error} {:?}", error);
    assert!(
        text.contains("postgres://postgres:***@127.0.0.1:5432/durin_test"),
        "{text}"
    );
    assert!(text.contains("not a replica"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    // Unreachable.
    let error = open("postgres://postgres:s3cret@127.0.0.1:1/durin_test").await;
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    let text = format!("{error} {:?}", error);
    assert!(
        text.contains("127.0.0.1:1") && !text.contains("s3cret"),
        "{text}"
    );
    // Malformed.
    let error = open("postgres://h:notaport/db").await;
    let text = format!("{error:?}");
    assert!(text.contains("postgres://h:notaport/db"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lookups_read_the_replica() {
    let schema = schema_on(&replica_url()).await;
    let store = store_with(
        &schema,
        ReplicaOptions::new()
            .with_read_url(replica_url())
            .with_max_lag(Duration::from_secs(5)),
    )
    .await;
    let key = DigestKey::generate("replica");
    let node = server(&store, &key);
    node.live().await;
    let web = Client::new(client());
    node.durin.create_client(&web).await.unwrap();
    let login = node
        .durin
        .login(&user(), &web.name, LoginOptions::default())
        .await
        .unwrap();
    let digest = login.session.digest;
    let replica = replica_pool(&replica_url(), &schema).await;
    eventually("the replica has the session", async || {
        on_replica(&replica, login.session.id.as_str()).await == Some(true)
    })
    .await;
    eventually("lookups may read the replica", async || {
        store.reads_replicas()
    })
    .await;

    // pg_stat_database on the replica moves with uncached lookups.
    let fetched = async || -> i64 {
        let mut conn = replica.acquire().await.unwrap();
        sqlx::query("SELECT pg_stat_clear_snapshot()")
            .execute(&mut *conn)
            .await
            .unwrap();
        sqlx::query_scalar(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap()
    };
    let before = fetched().await;
    for _ in 0..300 {
        assert!(store.get(&digest).await.unwrap().is_some());
    }
    eventually(
        "the replica's pg_stat_database counting the lookups",
        async || fetched().await >= before + 300,
    )
    .await;
    node.shutdown().await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_primary_closed_the_replica_still_answers() {
    let schema = schema_on(&replica_url()).await;
    let store = store_with(
        &schema,
        ReplicaOptions::new()
            .with_read_url(replica_url())
            .with_max_lag(Duration::from_secs(5)),
    )
    .await;
    let key = DigestKey::generate("replica");
    // A subscription of the store's own channel: replica reads need a live one.
    let bus = durin_core::InvalidationBus::new(Arc::new(store.channel()));
    let subscriber = bus.spawn_subscriber();
    let web = Client::new(client());
    let plain = Arc::new(
        PostgresStore::connect(&in_schema(&common::database_url(), &schema))
            .await
            .unwrap(),
    );
    let writer = Node::cli(plain, Arc::new(store.channel()), &key);
    writer.durin.create_client(&web).await.unwrap();
    let login = writer
        .durin
        .login(&user(), &web.name, LoginOptions::default())
        .await
        .unwrap();
    let replica = replica_pool(&replica_url(), &schema).await;
    eventually("the replica has the session", async || {
        on_replica(&replica, login.session.id.as_str()).await == Some(true)
    })
    .await;
    eventually("lookups may read the replica", async || {
        store.reads_replicas()
    })
    .await;
    // The client's creation tombstoned its sessions up to its WAL position: a few polls
    // of the replica's replay position (every 100 ms) drop it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The primary's pool closed: only the replica can answer.
    store.pool().close().await;
    let found = store.get(&login.session.digest).await.unwrap();
    assert_eq!(found.map(|s| s.id.clone()), Some(login.session.id.clone()));
    subscriber.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revocations_are_refused_everywhere_although_the_replica_lags() {
    let schema = schema_on(&delayed_replica_url()).await;
    // A lag bound above the replica's 2 s delay: the tombstones, not the lag check, must
    // keep the revoked sessions out.
    let options = || {
        ReplicaOptions::new()
            .with_read_url(delayed_replica_url())
            .with_max_lag(Duration::from_secs(30))
            .with_poll_interval(Duration::from_millis(50))
    };
    let (sa, sb) = (
        store_with(&schema, options()).await,
        store_with(&schema, options()).await,
    );
    let key = DigestKey::generate("replica");
    let a = server(&sa, &key);
    let b = server(&sb, &key);
    let plain = Arc::new(
        PostgresStore::connect(&in_schema(&common::database_url(), &schema))
            .await
            .unwrap(),
    );
    let cli = Node::cli(plain.clone(), Arc::new(plain.channel()), &key);
    a.live().await;
    b.live().await;
    let web = Client::new(client());
    a.durin.create_client(&web).await.unwrap();
    let replica = replica_pool(&delayed_replica_url(), &schema).await;
    let u = user();

    // Read-your-writes: a login on A works on B at once, long before the replica has it.
    let login = a
        .durin
        .login(&u, &web.name, LoginOptions::default())
        .await
        .unwrap();
    b.durin
        .authenticate(&login.token, Transport::Header)
        .await
        .expect("a token issued on A works on B at once");
    assert_eq!(
        on_replica(&replica, login.session.id.as_str()).await,
        None,
        "the delayed replica already had the session"
    );

    // Each revocation: the session is on the replica and B reads the replica; the
    // revocation returns on one node and the others refuse within 100 ms while the
    // replica still shows the session live.
    let settle = async |id: &str| {
        eventually("the replica has the session", async || {
            on_replica(&replica, id).await == Some(true)
        })
        .await;
        for store in [&sa, &sb] {
            eventually("lookups may read the replica", async || {
                store.reads_replicas()
            })
            .await;
        }
    };

    // Logout on A.
    settle(login.session.id.as_str()).await;
    let auth = b
        .durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    a.durin
        .logout(
            &a.durin
                .authenticate(&login.token, Transport::Header)
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    drop(auth);
    let took = refused_within_bound("B after a logout on A", async || {
        b.durin
            .authenticate(&login.token, Transport::Header)
            .await
            .is_err()
    })
    .await;
    assert!(
        on_replica(&replica, login.session.id.as_str()).await == Some(true),
        "the replica had already applied the logout ({took:?})"
    );

    // Logout-all on B: A refuses.
    let second = a
        .durin
        .login(&u, &web.name, LoginOptions::default())
        .await
        .unwrap();
    settle(second.session.id.as_str()).await;
    a.durin
        .authenticate(&second.token, Transport::Header)
        .await
        .unwrap();
    b.durin.logout_all(&u).await.unwrap();
    refused_within_bound("A after a logout-all on B", async || {
        a.durin
            .authenticate(&second.token, Transport::Header)
            .await
            .is_err()
    })
    .await;
    assert_eq!(
        on_replica(&replica, second.session.id.as_str()).await,
        Some(true)
    );

    // A revocation by a CLI-like node without replicas: both refuse.
    let third = b
        .durin
        .login(&u, &web.name, LoginOptions::default())
        .await
        .unwrap();
    settle(third.session.id.as_str()).await;
    for node in [&a, &b] {
        node.durin
            .authenticate(&third.token, Transport::Header)
            .await
            .unwrap();
    }
    assert!(cli.durin.revoke(&third.session.id).await.unwrap().is_some());
    for node in [&a, &b] {
        refused_within_bound("a node after a CLI revocation", async || {
            node.durin
                .authenticate(&third.token, Transport::Header)
                .await
                .is_err()
        })
        .await;
    }
    assert_eq!(
        on_replica(&replica, third.session.id.as_str()).await,
        Some(true)
    );

    // Uncached lookups on the store itself: the replica's row is ignored.
    let found = sb.get(&third.session.digest).await.unwrap();
    assert!(
        found.is_none_or(|s| s.revoked_at.is_some()),
        "a revoked session read from the lagging replica"
    );
    a.shutdown().await;
    b.shutdown().await;
}

/// A TCP forwarder to `target` that can be cut (every connection dropped, the port
/// closed) and restored on the same port: a replica that goes away and comes back.
struct Proxy {
    port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut proxy = Proxy {
            port: listener.local_addr().unwrap().port(),
            target: target.to_owned(),
            tasks: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: TcpListener) {
        let target = self.target.clone();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    async fn restore(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_that_goes_away_is_skipped_and_used_again() {
    let schema = schema_on(&replica_url()).await;
    let target = replica_url()
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("host:port in DATABASE_REPLICA_URL")
        .to_owned();
    let mut proxy = Proxy::start(&target).await;
    let through = format!("postgres://postgres@127.0.0.1:{}/durin_test", proxy.port);
    let store = store_with(
        &schema,
        ReplicaOptions::new()
            .with_read_url(through)
            .with_max_lag(Duration::from_secs(5))
            .with_poll_interval(Duration::from_millis(50)),
    )
    .await;
    let key = DigestKey::generate("replica");
    let node = server(&store, &key);
    node.live().await;
    let web = Client::new(client());
    node.durin.create_client(&web).await.unwrap();
    let login = node
        .durin
        .login(&user(), &web.name, LoginOptions::default())
        .await
        .unwrap();
    eventually("lookups may read the replica", async || {
        store.reads_replicas()
    })
    .await;

    proxy.cut();
    // Every lookup still answers, from the primary.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        assert!(store.get(&login.session.digest).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !store.reads_replicas(),
        "a replica that went away is still used"
    );

    proxy.restore().await;
    eventually("the replica used again", async || store.reads_replicas()).await;
    assert!(store.get(&login.session.digest).await.unwrap().is_some());
    node.shutdown().await;
    proxy.cut();
}
