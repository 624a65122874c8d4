//! Three server processes on PostgreSQL, each reading the streaming replica that
//! `scripts/services.sh` starts 2 s behind the primary (`DATABASE_DELAYED_REPLICA_URL`,
//! 127.0.0.1:5434), without a token cache so that every request reads the store: a token
//! works on every node at once, lookups are answered by the replica
//! (`durin_store_reads_total{target="replica"}`), and a logout or a logout-all is refused
//! on every node within 100 ms, long before the replica applies it (durin-sqlx's
//! `tests/replica.rs` checks the replica's row at that moment).

use std::time::Duration;

use durin_contract::{ALICE, Cluster, Server, eventually};

/// The bound every node keeps for a revocation that returned elsewhere.
const BOUND: Duration = Duration::from_millis(100);

fn delayed_replica() -> String {
    std::env::var("DATABASE_DELAYED_REPLICA_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5434/durin_test".to_owned())
}

async fn replica_reads(node: &Server) -> f64 {
    let text = node.get("/metrics", "").await.body;
    let text = text.as_str().unwrap_or_default().to_owned();
    text.lines()
        .find(|l| l.starts_with("durin_store_reads_total{target=\"replica\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Waits until every node answers `token` from the replica (its reads counter moves).
async fn served_by_the_replica(cluster: &Cluster, token: &str) {
    for node in &cluster.nodes {
        eventually(
            "a node reading the replica",
            Duration::from_secs(15),
            || async {
                let before = replica_reads(node).await;
                assert_eq!(node.get("/api/me", token).await.status, 200);
                replica_reads(node).await > before
            },
        )
        .await;
    }
}

async fn refused_within_bound(cluster: &Cluster, token: &str, what: &str) {
    for (i, node) in cluster.nodes.iter().enumerate() {
        let took = eventually(&format!("{what}: node {i}"), BOUND, || async {
            node.get("/api/me", token).await.status == 401
        })
        .await;
        assert!(took <= BOUND, "{what}: node {i} took {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revocations_hold_on_every_node_through_a_lagging_replica() {
    let cluster = Cluster::start_with_replica(
        3,
        &["--cache-ttl=0", "--max-replica-lag=30s"],
        &delayed_replica(),
    )
    .await;

    // Read-your-writes: a fresh token works on every node at once.
    let token = cluster.nodes[0].login(ALICE, "web").await;
    for node in &cluster.nodes {
        assert_eq!(node.get("/api/me", &token).await.status, 200);
    }
    served_by_the_replica(&cluster, &token).await;
    assert_eq!(
        cluster.nodes[0].post("/api/logout/", &token).await.status,
        204
    );
    refused_within_bound(&cluster, &token, "logout").await;

    let token = cluster.nodes[1].login(ALICE, "web").await;
    served_by_the_replica(&cluster, &token).await;
    assert_eq!(
        cluster.nodes[2]
            .post("/api/logoutall/", &token)
            .await
            .status,
        204
    );
    refused_within_bound(&cluster, &token, "logout-all").await;
}
