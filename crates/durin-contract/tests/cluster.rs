//! Cases of the contract that depend on the backend's URL, on the Redis Cluster (backend
//! `redis-cluster`, selected by `DURIN_CONTRACT_BACKENDS`): an unreachable cluster answers
//! 503 as the other stores do. The rest of the contract runs on the cluster through
//! `server_cases!`.

use durin_contract::{ALICE, Server, standard_flags, unreachable_database_url};

async fn an_unreachable_cluster_answers_503(package: &'static str) {
    let backend = "redis-cluster";
    if !durin_contract::selected(package, backend) {
        return;
    }
    let s = Server::start(package, backend).await;
    let token = s.login(ALICE, "web").await;
    s.stop().await;
    let dead = unreachable_database_url(backend);
    let s = Server::start_with(package, backend, &standard_flags(), Some(&dead)).await;
    s.get("/api/me", &token)
        .await
        .assert_error(503, "Authentication service unavailable.");
    let r = s.login_response(ALICE, "web").await;
    assert_eq!(r.status, 503, "{:?}", r.body);
    s.get("/api/me", "garbage")
        .await
        .assert_error(401, "Invalid token.");
    assert_eq!(s.send(s.http.get(s.url("/health"))).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_server_an_unreachable_cluster_answers_503() {
    an_unreachable_cluster_answers_503("axum-server").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_server_an_unreachable_cluster_answers_503() {
    an_unreachable_cluster_answers_503("actix-server").await;
}
