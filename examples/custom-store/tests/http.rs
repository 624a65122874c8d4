//! `VecStore` served over real HTTP by the axum example server's own code: a third-party
//! backend gets the whole contract (login, the cache, logout, readiness) from a `Node`,
//! started in a few lines.

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Parser as _;
use custom_store::VecStore;
use server_common::{Args, Demo};

fn args(dir: &std::path::Path, extra: &[&str]) -> Args {
    let key = dir.join("durin.key");
    let mut argv = vec![
        "server".to_owned(),
        "--user=alice:wonderland".to_owned(),
        "--client=web".to_owned(),
        format!("--key-file={}", key.display()),
    ];
    argv.extend(extra.iter().map(|s| (*s).to_owned()));
    Args::try_parse_from(argv).expect("valid flags")
}

fn scratch() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "durin-custom-store-{}",
        durin_core::SessionId::generate().as_str()
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vec_store_is_served_over_http() {
    let dir = scratch();
    // The server's code, on this backend: VecStore lives in one process's memory, so the
    // node is declared the only one.
    let demo = Demo::start_with(args(&dir, &["--single-node"]), Arc::new(VecStore::new()))
        .await
        .expect("the demo starts on VecStore");
    let demo = Arc::new(demo);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    let app = axum_server::app(&demo).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::new();
    let login = http
        .post(format!("{base}/api/login/"))
        .json(&serde_json::json!({"username": "alice", "password": "wonderland", "client": "web"}))
        .send()
        .await
        .expect("login answers");
    assert_eq!(login.status(), 200);
    let body: serde_json::Value = login.json().await.expect("a JSON body");
    let token = body["token"].as_str().expect("a token").to_owned();

    let me = |token: String| {
        let http = http.clone();
        let url = format!("{base}/api/me");
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("me answers")
        }
    };
    let answer = me(token.clone()).await;
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.expect("a JSON body");
    assert_eq!(body["user"], "alice");
    assert_eq!(body["client"], "web");
    // Twice more: the node's cache answers, and still says the same.
    assert_eq!(me(token.clone()).await.status(), 200);

    let ready = http
        .get(format!("{base}/ready"))
        .send()
        .await
        .expect("ready answers");
    assert_eq!(ready.status(), 200, "a single node on VecStore is ready");

    let logout = http
        .post(format!("{base}/api/logout/"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("logout answers");
    assert_eq!(logout.status(), 204);
    assert_eq!(
        me(token).await.status(),
        401,
        "refused at once, cache included"
    );
    demo.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_process_store_is_refused_for_several_nodes() {
    let dir = scratch();
    let Err(error) = Demo::start_with(args(&dir, &[]), Arc::new(VecStore::new())).await else {
        panic!("VecStore has no shared channel, throttle or attempt limiter");
    };
    let message = format!("{error:#}");
    assert!(message.contains("cannot run several nodes"), "{message}");
    assert!(message.contains("invalidation channel"), "{message}");
    let _ = std::fs::remove_dir_all(&dir);
}
