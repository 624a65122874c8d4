//! A primary of a Redis Cluster killed under traffic (SIGKILL): a private cluster of 3
//! primaries and 3 replicas (its own `redis-server` processes on free loopback ports,
//! killed at the end), logins acknowledged after `WAIT 1`, then authentications and
//! logins from several tasks while one primary dies and its replica takes over. Every
//! answer must be right or unavailable (503), never a refusal of a live session, and
//! once the replica has taken over every session works again: what was acknowledged
//! survived.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::config;
use durin_core::testing::user;
use durin_core::{
    AuthError, Client, ClientName, DigestKey, Durin, LoginOptions, RoutingTag, TokenString,
    Transport, UserId,
};
use durin_redis::RedisStore;

/// Six `redis-server`s in cluster mode, killed on drop.
struct PrivateCluster {
    nodes: Vec<(u16, Child)>,
    dir: PathBuf,
}

/// A port free for the node and for its cluster bus (port + 10000).
fn free_port(taken: &[u16]) -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        if port < 50_000
            && !taken.contains(&port)
            && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok()
        {
            return port;
        }
    }
}

fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl PrivateCluster {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(durin_core::testing::unique("durin-failover"));
        let mut ports = Vec::new();
        let mut nodes = Vec::new();
        for _ in 0..6 {
            let port = free_port(&ports);
            ports.push(port);
            let node_dir = dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir).unwrap();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&node_dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server runs (scripts/services.sh installs it)");
            nodes.push((port, child));
        }
        let cluster = PrivateCluster { nodes, dir };
        for &port in &ports {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !cli(port, &["ping"]).contains("PONG") {
                assert!(Instant::now() < deadline, "node {port} did not start");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let status = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "redis-cli --cluster create");
        cluster.wait_ok(Duration::from_secs(20));
        // Every primary has its replica attached.
        let deadline = Instant::now() + Duration::from_secs(20);
        while cluster
            .nodes
            .iter()
            .filter(|(port, _)| cli(*port, &["role"]).starts_with("slave"))
            .filter(|(port, _)| {
                cli(*port, &["info", "replication"]).contains("master_link_status:up")
            })
            .count()
            < 3
        {
            assert!(Instant::now() < deadline, "replicas did not sync");
            std::thread::sleep(Duration::from_millis(100));
        }
        cluster
    }

    fn url(&self) -> String {
        let seeds: Vec<String> = self
            .nodes
            .iter()
            .map(|(port, _)| format!("127.0.0.1:{port}"))
            .collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    /// Waits until every live node says `cluster_state:ok`.
    fn wait_ok(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let ok = self
                .nodes
                .iter()
                .all(|(port, _)| cli(*port, &["cluster", "info"]).contains("cluster_state:ok"));
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster is not ok");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the five live nodes count three primaries again (the dead primary's
    /// replica took over) and say `cluster_state:ok`.
    fn wait_failover(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while self
            .nodes
            .iter()
            .filter(|(port, _)| cli(*port, &["role"]).starts_with("master"))
            .count()
            < 3
        {
            assert!(Instant::now() < deadline, "no replica took over");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.wait_ok(deadline.saturating_duration_since(Instant::now()));
    }

    /// SIGKILLs the primary serving `key`'s slot; returns its port.
    fn kill_primary_of(&mut self, key: &str) -> u16 {
        let slot: u16 = cli(self.nodes[0].0, &["cluster", "keyslot", key])
            .trim()
            .parse()
            .unwrap();
        let index = self
            .nodes
            .iter()
            .position(|(port, _)| {
                cli(*port, &["role"]).starts_with("master")
                    && cli(*port, &["cluster", "countkeysinslot", &slot.to_string()])
                        .trim()
                        .parse::<u64>()
                        .is_ok_and(|n| n > 0)
            })
            .expect("a primary holds the key");
        let (port, mut child) = self.nodes.remove(index);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        port
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.nodes {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_primary_loses_no_acknowledged_session_and_answers_only_right_or_unavailable() {
    let mut cluster = PrivateCluster::start();
    let store = Arc::new(
        RedisStore::connect_with(&cluster.url(), config().with_wait_replicas(1))
            .await
            .unwrap(),
    );
    let durin =
        Arc::new(Durin::builder(store.clone(), store.clone(), DigestKey::generate("k1")).build());
    let web = ClientName::new("web").unwrap();
    durin
        .upsert_client(&Client::new(web.clone()))
        .await
        .unwrap();

    // 60 users' sessions, each acknowledged after one replica confirmed it.
    let mut sessions: Vec<(UserId, TokenString)> = Vec::new();
    for _ in 0..60 {
        let u = user();
        let login = durin
            .login(&u, &web, LoginOptions::default())
            .await
            .unwrap();
        sessions.push((u, login.token));
    }
    let sessions = Arc::new(sessions);

    let stop = Arc::new(AtomicBool::new(false));
    let (right, unavailable) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let (durin, sessions, stop) = (durin.clone(), sessions.clone(), stop.clone());
        let (right, unavailable) = (right.clone(), unavailable.clone());
        let web = web.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = worker;
            while !stop.load(Ordering::Relaxed) {
                let (u, token) = &sessions[i % sessions.len()];
                match durin.authenticate(token, Transport::Header).await {
                    Ok(auth) => {
                        assert_eq!(&auth.session.user_id, u, "authenticated as someone else");
                        right.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(AuthError::Unavailable(_)) => {
                        unavailable.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(other) => panic!("a live session was refused: {other:?}"),
                }
                // Logins go on too: issued, or unavailable.
                if i % 10 == 0 {
                    match durin.login(&user(), &web, LoginOptions::default()).await {
                        Ok(_) | Err(AuthError::Unavailable(_)) => {}
                        Err(other) => panic!("a login failed otherwise: {other:?}"),
                    }
                }
                i += 4;
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(500)).await;
    // The partition of the first user: kill the primary that holds it.
    let partition = format!(
        "{{{}:{}}}",
        store.config().prefix(),
        RoutingTag::for_user(&sessions[0].0)
    );
    let killed = cluster.kill_primary_of(&partition);
    let killed_at = Instant::now();
    eprintln!("killed the primary on port {killed}");
    cluster.wait_failover(Duration::from_secs(30));
    eprintln!("a replica took over after {:?}", killed_at.elapsed());

    // Once the replica took over, every acknowledged session authenticates again.
    let deadline = Instant::now() + Duration::from_secs(20);
    'recovered: loop {
        let mut all = true;
        for (u, token) in sessions.iter() {
            match durin.authenticate(token, Transport::Header).await {
                Ok(auth) => assert_eq!(&auth.session.user_id, u),
                Err(AuthError::Unavailable(_)) => all = false,
                Err(other) => panic!("an acknowledged session was lost: {other:?}"),
            }
        }
        if all {
            break 'recovered;
        }
        assert!(Instant::now() < deadline, "the store did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "every session authenticates again {:?} after the kill",
        killed_at.elapsed()
    );
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let (right, unavailable) = (
        right.load(Ordering::Relaxed),
        unavailable.load(Ordering::Relaxed),
    );
    eprintln!("{right} right answers, {unavailable} unavailable");
    assert!(right > 0);
}
