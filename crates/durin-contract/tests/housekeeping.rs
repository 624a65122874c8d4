//! Housekeeping is tested, not assumed: a server that sees failed logins from many
//! addresses and throttled requests leaves attempt and throttle state in its store, and
//! that state shrinks back to nothing once its windows have passed, on every backend
//! (SQL tables on PostgreSQL and SQLite, keys on Redis), without anyone running a
//! command. The node's purge task runs housekeeping every `--purge-every`.

use std::time::Duration;

use durin_contract::{ALICE, Server, backend_selected, database_url, eventually, standard_flags};

/// Attempt and throttle rows in the SQL store at `$pool` (a PostgreSQL or SQLite pool).
macro_rules! sql_counts {
    ($pool:expr) => {{
        let pool = $pool;
        let mut counts = [0u64; 2];
        for (i, table) in ["durin_login_attempts", "durin_throttle"].iter().enumerate() {
            let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM {table}"
            )))
            .fetch_one(&pool)
            .await
            .expect("count rows");
            counts[i] = u64::try_from(n).expect("a count");
        }
        pool.close().await;
        (counts[0], counts[1])
    }};
}

/// Attempt and throttle entries the store holds now.
async fn state(backend: &str, url: &str) -> (u64, u64) {
    match backend {
        "redis" => {
            let (base, prefix) = url.split_once("/?prefix=").expect("a prefixed Redis URL");
            let client = redis::Client::open(base).expect("a Redis URL");
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .expect("Redis is reachable");
            let mut count = async |pattern: String| -> u64 {
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(pattern)
                    .query_async(&mut conn)
                    .await
                    .expect("KEYS");
                keys.len() as u64
            };
            let attempts = count(format!("*{prefix}*:la:*")).await;
            let throttle = count(format!("*{prefix}*:t:*")).await;
            (attempts, throttle)
        }
        "postgres" => sql_counts!(sqlx::PgPool::connect(url).await.expect("PostgreSQL")),
        "sqlite" => sql_counts!(sqlx::SqlitePool::connect(url).await.expect("SQLite")),
        other => panic!("unknown backend {other}"),
    }
}

async fn attempts_and_throttle_shrink_back(package: &str, backend: &str) {
    let scratch = std::env::temp_dir().join(format!(
        "durin-housekeeping-{}",
        durin_core::SessionId::generate().as_str()
    ));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let url = database_url(backend, &scratch).await;
    let mut flags = standard_flags();
    flags.extend(
        [
            "--client=fast::5/s",
            "--trusted-proxy=127.0.0.1",
            "--login-window=2s",
            "--purge-every=1s",
        ]
        .map(String::from),
    );
    let server = Server::start_with(package, backend, &flags, Some(&url)).await;
    // Failed logins from 40 addresses (behind the trusted proxy), each for a fresh
    // username: every one leaves attempt entries.
    for i in 0..40u32 {
        let response = server
            .send(
                server
                    .http
                    .post(server.url("/api/login/"))
                    .header("X-Forwarded-For", format!("198.51.100.{}", i + 1))
                    .json(&serde_json::json!({
                        "username": format!("nobody{i}"),
                        "password": "wrong",
                        "client": "web",
                    })),
            )
            .await;
        assert_eq!(response.status, 400, "a failed login: {}", response.body);
    }
    // Throttled requests: 5/s admits 5, the rest are refused.
    let token = server.login(ALICE, "fast").await;
    let mut throttled = 0;
    for _ in 0..10 {
        if server.get("/api/throttled", &token).await.status == 429 {
            throttled += 1;
        }
    }
    assert!(throttled > 0, "the fast client was throttled");
    let (attempts, throttle) = state(backend, &url).await;
    assert!(
        attempts > 0,
        "failed logins left attempt entries on {backend}"
    );
    assert!(
        throttle > 0,
        "throttled requests left throttle state on {backend}"
    );
    eventually(
        &format!("attempts and throttle state on {backend} shrinking back to nothing"),
        Duration::from_secs(20),
        async || state(backend, &url).await == (0, 0),
    )
    .await;
    server.stop().await;
    let _ = std::fs::remove_dir_all(&scratch);
}

macro_rules! cases {
    ($($name:ident: $package:literal on $backend:literal;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            if backend_selected($backend) && durin_contract::selected($package, $backend) {
                attempts_and_throttle_shrink_back($package, $backend).await;
            }
        }
    )*};
}

cases! {
    axum_sqlite_housekeeping_shrinks_attempts_and_throttle: "axum-server" on "sqlite";
    axum_postgres_housekeeping_shrinks_attempts_and_throttle: "axum-server" on "postgres";
    axum_redis_housekeeping_shrinks_attempts_and_throttle: "axum-server" on "redis";
    actix_sqlite_housekeeping_shrinks_attempts_and_throttle: "actix-server" on "sqlite";
    actix_postgres_housekeeping_shrinks_attempts_and_throttle: "actix-server" on "postgres";
    actix_redis_housekeeping_shrinks_attempts_and_throttle: "actix-server" on "redis";
}
