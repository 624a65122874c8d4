//! Several real server processes on one store, as behind a load balancer, plus the `durin`
//! CLI as one more process: what one node (or the CLI) revokes or changes, every node
//! honours; throttles and the failed-login limit hold across nodes. Every case runs on
//! PostgreSQL, Redis and one SQLite file.

use std::net::IpAddr;
use std::time::Duration;

use durin_contract::{ALICE, Cluster, Response, Server, client, eventually};
use reqwest::Method;
use serde_json::json;

/// A generous liveness bound; the documented propagation bounds (100 ms on PostgreSQL
/// and Redis, 1 s on SQLite) are measured by the propagation benches.
const DEADLINE: Duration = Duration::from_secs(10);

/// A loopback source address of its own for `case`, so that login limits of concurrent
/// cases (which count per address) do not interfere.
fn address(case: u8) -> IpAddr {
    IpAddr::from([127, 0, 3, case])
}

async fn refused_everywhere(cluster: &Cluster, token: &str, what: &str) {
    for (i, node) in cluster.nodes.iter().enumerate() {
        let what = format!("{what}: node {i} ({}) refusing the token", node.package);
        eventually(&what, DEADLINE, || async {
            node.get("/api/me", token).await.status == 401
        })
        .await;
    }
}

async fn accepted_everywhere(cluster: &Cluster, token: &str) {
    for node in &cluster.nodes {
        let r = node.get("/api/me", token).await;
        assert_eq!(
            r.status, 200,
            "{} on {}: {:?}",
            node.package, node.base, r.body
        );
    }
}

async fn login_on(node: &Server, local: IpAddr, password: &str) -> Response {
    node.send(
        client(Some(local))
            .post(node.url("/api/login/"))
            .json(&json!({"username": ALICE.0, "password": password, "client": "web"})),
    )
    .await
}

// --- revocations ------------------------------------------------------------------------

async fn a_logout_on_one_node_is_refused_on_every_node(c: Cluster) {
    let token = c.nodes[0].login(ALICE, "web").await;
    accepted_everywhere(&c, &token).await;
    assert_eq!(c.nodes[0].post("/api/logout/", &token).await.status, 204);
    refused_everywhere(&c, &token, "logout").await;
}

async fn logout_all_and_session_revocation_reach_every_node(c: Cluster) {
    let web = c.nodes[0].login(ALICE, "web").await;
    let cli = c.nodes[1].login(ALICE, "cli").await;
    accepted_everywhere(&c, &web).await;
    accepted_everywhere(&c, &cli).await;
    // DELETE sessions/{id} on node 2 ends the cli session everywhere.
    let sessions = c.nodes[2].get("/api/sessions/", &web).await;
    let cli_id = sessions
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["client"] == "cli")
        .expect("the cli session is listed")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = c.nodes[2]
        .delete(&format!("/api/sessions/{cli_id}"), &web)
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    refused_everywhere(&c, &cli, "session revoke").await;
    accepted_everywhere(&c, &web).await;
    // Logout-all on node 1 ends the rest.
    let api = c.nodes[0].post("/api/apiaccess/", &web).await;
    assert_eq!(api.status, 201, "{:?}", api.body);
    let api = api.body["token"].as_str().unwrap().to_owned();
    accepted_everywhere(&c, &api).await;
    assert_eq!(c.nodes[1].post("/api/logoutall/", &web).await.status, 204);
    refused_everywhere(&c, &web, "logout-all").await;
    refused_everywhere(&c, &api, "logout-all (API key)").await;
}

async fn cli_revocations_reach_every_node(c: Cluster) {
    let web = c.nodes[0].login(ALICE, "web").await;
    accepted_everywhere(&c, &web).await;
    let me = c.nodes[1].get("/api/me", &web).await;
    let id = me.body["session"].as_str().unwrap().to_owned();
    c.cli(&["session", "revoke", &id]).await.ok();
    refused_everywhere(&c, &web, "durin session revoke").await;

    let web = c.nodes[1].login(ALICE, "web").await;
    let cli = c.nodes[2].login(ALICE, "cli").await;
    accepted_everywhere(&c, &web).await;
    accepted_everywhere(&c, &cli).await;
    c.cli(&["session", "revoke-all", "--user", "alice"])
        .await
        .ok();
    refused_everywhere(&c, &web, "durin session revoke-all").await;
    refused_everywhere(&c, &cli, "durin session revoke-all").await;

    let created = c
        .cli(&["--json", "apikey", "create", "--user", "alice"])
        .await;
    let key: serde_json::Value = serde_json::from_str(created.ok()).expect("JSON");
    let key = key["token"]
        .as_str()
        .expect("the key is printed once")
        .to_owned();
    accepted_everywhere(&c, &key).await;
    c.cli(&["apikey", "revoke", "--user", "alice"]).await.ok();
    refused_everywhere(&c, &key, "durin apikey revoke").await;
}

async fn cli_client_changes_reach_every_node(c: Cluster) {
    // Warm every node's policy cache with the client.
    let before = c.nodes[0].login(ALICE, "mobile").await;
    accepted_everywhere(&c, &before).await;
    c.cli(&["client", "update", "mobile", "--ttl", "2h"])
        .await
        .ok();
    for (i, node) in c.nodes.iter().enumerate() {
        let what = format!("node {i} issuing 2h mobile tokens");
        eventually(&what, DEADLINE, || async {
            let r = node.login_response(ALICE, "mobile").await;
            let expiry = r.body["expiry"].as_str().unwrap_or_default().to_owned();
            let expiry = time::OffsetDateTime::parse(
                &expiry,
                &time::format_description::well_known::Rfc3339,
            );
            let now = durin_core::Clock::now(&durin_core::SystemClock).to_offset_date_time();
            expiry.is_ok_and(|e| e - now > time::Duration::minutes(100))
        })
        .await;
    }
    let token = c.nodes[1].login(ALICE, "mobile").await;
    accepted_everywhere(&c, &token).await;
    c.cli(&["client", "delete", "mobile", "--yes"]).await.ok();
    refused_everywhere(&c, &token, "durin client delete").await;
    for node in &c.nodes {
        let r = node.login_response(ALICE, "mobile").await;
        r.assert_error(400, "No client with that name.");
    }
}

// --- limits -----------------------------------------------------------------------------

async fn a_throttle_rate_holds_across_nodes(c: Cluster) {
    // cli: 2/m, a burst of 2 for the (user, client) pair, whichever node serves it.
    let token = c.nodes[0].login(ALICE, "cli").await;
    let mut statuses = Vec::new();
    for i in 0..9 {
        statuses.push(c.nodes[i % 3].get("/api/throttled", &token).await.status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        7,
        "{statuses:?}"
    );
}

async fn the_failed_login_limit_holds_across_nodes(c: Cluster) {
    let from = address(1);
    let mut statuses = Vec::new();
    for i in 0..15 {
        statuses.push(login_on(&c.nodes[i % 3], from, "wrong").await.status);
    }
    assert_eq!(&statuses[..10], &[400; 10], "{statuses:?}");
    assert_eq!(&statuses[10..], &[429; 5], "{statuses:?}");
    // The scope stays locked on every node, right password included; other addresses
    // are unaffected.
    for node in &c.nodes {
        let r = login_on(node, from, ALICE.1).await;
        assert_eq!(r.status, 429, "{:?}", r.body);
        assert!(r.header("retry-after").is_some());
        assert_eq!(login_on(node, address(2), ALICE.1).await.status, 200);
    }
}

async fn forty_concurrent_guesses_across_nodes_check_at_most_ten(c: Cluster) {
    let from = address(3);
    let c = std::sync::Arc::new(c);
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move { login_on(&c.nodes[i % 3], from, "wrong").await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let checked = statuses.iter().filter(|s| **s == 400).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (10, 30), "{statuses:?}");
}

async fn concurrent_api_key_creations_across_nodes_give_one_key(c: Cluster) {
    let token = c.nodes[0].login(ALICE, "web").await;
    let c = std::sync::Arc::new(c);
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (c, token) = (c.clone(), token.clone());
            tokio::spawn(async move { c.nodes[i % 3].post("/api/apiaccess/", &token).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        let r = task.await.unwrap();
        match r.status {
            201 => created += 1,
            400 => r.assert_error(400, "An API token was already issued to you."),
            other => panic!("{other}: {:?}", r.body),
        }
    }
    assert_eq!(created, 1);
}

// --- faults -----------------------------------------------------------------------------

/// Ends the subscription connections of the cluster's nodes from outside.
async fn kill_subscriptions(c: &Cluster) {
    match c.backend.as_str() {
        "postgres" => {
            let admin = sqlx::PgPool::connect(&c.database_url)
                .await
                .expect("connect");
            let killed: Vec<(bool,)> = sqlx::query_as(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND query ILIKE 'LISTEN %' AND query LIKE '%' || current_schema() || '%'",
            )
            .fetch_all(&admin)
            .await
            .expect("terminate the listeners");
            assert!(!killed.is_empty(), "no listener connection found to kill");
            admin.close().await;
        }
        "redis" => {
            let url = c.database_url.split('?').next().unwrap().to_owned();
            let prefix = c.database_url.split("prefix=").nth(1).unwrap().to_owned();
            let client = ::redis::Client::open(url).expect("redis url");
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .expect("connect");
            let list: String = ::redis::cmd("CLIENT")
                .arg("LIST")
                .query_async(&mut conn)
                .await
                .unwrap();
            let mut killed = 0;
            for line in list
                .lines()
                .filter(|l| l.contains(&format!("name=durin-inv:{prefix}:")))
            {
                let id = line.split(' ').find_map(|f| f.strip_prefix("id=")).unwrap();
                let _: i64 = ::redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("ID")
                    .arg(id)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                killed += 1;
            }
            assert!(killed > 0, "no subscriber connection found to kill");
        }
        "sqlite" => {
            // Hold the file's write lock for a while: every poll (and every request)
            // fails meanwhile, as a lost subscription does.
            use sqlx::ConnectOptions as _;
            let mut conn = c
                .database_url
                .parse::<sqlx::sqlite::SqliteConnectOptions>()
                .expect("sqlite url")
                .connect()
                .await
                .expect("open the file");
            sqlx::query("BEGIN EXCLUSIVE")
                .execute(&mut conn)
                .await
                .expect("lock");
            tokio::time::sleep(Duration::from_secs(3)).await;
            sqlx::query("ROLLBACK")
                .execute(&mut conn)
                .await
                .expect("unlock");
        }
        other => panic!("unknown backend {other}"),
    }
}

async fn a_dropped_subscription_recovers_and_answers_stay_correct(c: Cluster) {
    let token = c.nodes[0].login(ALICE, "web").await;
    accepted_everywhere(&c, &token).await;
    kill_subscriptions(&c).await;
    // Right after the kill: a revocation is refused everywhere (the caches are bypassed
    // until the nodes have resubscribed, or the message arrives).
    assert_eq!(c.nodes[0].post("/api/logout/", &token).await.status, 204);
    refused_everywhere(&c, &token, "logout after the subscriptions dropped").await;
    // Every node reports ready again by itself, without a restart.
    for (i, node) in c.nodes.iter().enumerate() {
        eventually(&format!("node {i} ready again"), DEADLINE, || async {
            node.send(node.http.get(node.url("/ready"))).await.status == 200
        })
        .await;
    }
    let fresh = c.nodes[1].login(ALICE, "web").await;
    accepted_everywhere(&c, &fresh).await;
    assert_eq!(
        c.nodes[2]
            .call(Method::POST, "/api/logout/", &fresh)
            .await
            .status,
        204
    );
    refused_everywhere(&c, &fresh, "logout after recovery").await;
}

macro_rules! nodes {
    ($($case:ident),* $(,)?) => {
        nodes!(@backend sqlite, [$($case),*]);
        nodes!(@backend postgres, [$($case),*]);
        nodes!(@backend redis, [$($case),*]);
    };
    (@backend $backend:ident, [$($case:ident),*]) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = stringify!($backend);
                    if !durin_contract::backend_selected(backend) {
                        return;
                    }
                    super::$case(durin_contract::Cluster::start(backend, 3, &[]).await).await;
                }
            )*
        }
    };
}

nodes!(
    a_logout_on_one_node_is_refused_on_every_node,
    logout_all_and_session_revocation_reach_every_node,
    cli_revocations_reach_every_node,
    cli_client_changes_reach_every_node,
    a_throttle_rate_holds_across_nodes,
    the_failed_login_limit_holds_across_nodes,
    forty_concurrent_guesses_across_nodes_check_at_most_ten,
    concurrent_api_key_creations_across_nodes_give_one_key,
    a_dropped_subscription_recovers_and_answers_stay_correct,
);
