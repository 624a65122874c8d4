//! Races through the `Durin` service on Redis. Every case runs two service instances on
//! two separate connections under one key prefix, as two application processes would,
//! and spreads the racing requests over both; on one server, and again on the Redis
//! Cluster (`REDIS_CLUSTER_URL`), where each user's writes are scripts on its slot.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{cluster_config, cluster_store_with, config, store_with};
use durin_core::testing::{client, user};
use durin_core::{
    AuthError, Client, DigestKey, Durin, Login, LoginOptions, TokenStore, Transport, UserId,
};
use durin_redis::RedisStore;

struct Nodes {
    a: Durin,
    b: Durin,
    store: Arc<RedisStore>,
}

impl Nodes {
    fn pick(&self, i: usize) -> Durin {
        if i.is_multiple_of(2) {
            self.a.clone()
        } else {
            self.b.clone()
        }
    }
}

/// Two services sharing one key prefix and digest key, each on its own connection; with
/// `audit`, removals keep revoked records.
/// On the Redis Cluster (`cluster`) or the one server.
async fn nodes_on(cluster: bool, clients: &[Client], audit: bool) -> Nodes {
    let key = DigestKey::generate("race");
    let node = |store: Arc<RedisStore>| {
        let builder = Durin::builder(store.clone(), store, key.clone());
        if audit { builder.audit_mode() } else { builder }.build()
    };
    let (a, b) = if cluster {
        let config = cluster_config();
        (
            cluster_store_with(config.clone()).await,
            cluster_store_with(config).await,
        )
    } else {
        let config = config();
        (store_with(config.clone()).await, store_with(config).await)
    };
    let store = Arc::new(a);
    let a = node(store.clone());
    let b = node(Arc::new(b));
    for c in clients {
        a.create_client(c).await.unwrap();
    }
    Nodes { a, b, store }
}

async fn authenticates(durin: &Durin, login: &Login) -> bool {
    durin
        .authenticate(&login.token, Transport::Header)
        .await
        .is_ok()
}

async fn live_sessions(store: &RedisStore, user: &UserId) -> usize {
    let now = durin_core::testing::now();
    let sessions = store.list_by_user(user).await.unwrap();
    sessions.iter().filter(|s| s.is_live(now)).count()
}

async fn racing_logins(cluster: bool, max: u32, logins: usize) {
    let web =
        Client::new(client()).with_max_tokens_per_user(std::num::NonZeroU32::new(max).unwrap());
    let nodes = nodes_on(cluster, std::slice::from_ref(&web), false).await;
    let u = user();
    let tasks: Vec<_> = (0..logins)
        .map(|i| {
            let (durin, u, name) = (nodes.pick(i), u.clone(), web.name.clone());
            tokio::spawn(async move { durin.login(&u, &name, LoginOptions::default()).await })
        })
        .collect();
    let mut issued = Vec::new();
    for task in tasks {
        issued.push(task.await.unwrap().unwrap());
    }
    let mut working = 0;
    for login in &issued {
        working += usize::from(authenticates(&nodes.a, login).await);
    }
    assert_eq!(working, max as usize, "{logins} racing logins, cap {max}");
    assert_eq!(live_sessions(&nodes.store, &u).await, max as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_logins_with_a_cap_of_one_leave_exactly_one_session() {
    racing_logins(false, 1, 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_fifty_concurrent_logins_with_a_cap_of_one_leave_exactly_one_session() {
    racing_logins(true, 1, 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_concurrent_logins_with_a_cap_of_three_leave_exactly_three() {
    racing_logins(false, 3, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_thirty_concurrent_logins_with_a_cap_of_three_leave_exactly_three() {
    racing_logins(true, 3, 30).await;
}

/// Whether the session is stored and not revoked, read from the store itself.
async fn live_in_store(store: &RedisStore, id: &durin_core::SessionId) -> bool {
    store
        .get_by_id(id)
        .await
        .unwrap()
        .is_some_and(|s| s.revoked_at.is_none())
}

/// One logout-all on node B raced by 20 logins spread over both nodes. Each racing login,
/// once it has completed, looks at a session issued before the race: if that one is still
/// live, the logout-all has not taken effect yet, so it must take this login too.
/// `Err` says what survived.
async fn logout_all_round(nodes: &Arc<Nodes>, all: &[Client]) -> Result<(), String> {
    // The last client is the witness's own: no racing login evicts it.
    let (clients, witness_client) = all.split_at(all.len() - 1);
    let u = user();
    let mut before = Vec::new();
    for (i, c) in clients.iter().cycle().take(6).enumerate() {
        let durin = nodes.pick(i);
        before.push(
            durin
                .login(&u, &c.name, LoginOptions::default())
                .await
                .unwrap(),
        );
    }
    let witness = nodes
        .a
        .login(&u, &witness_client[0].name, LoginOptions::default())
        .await
        .unwrap();
    let witness_id = witness.session.id.clone();
    before.push(witness);
    let racers: Vec<_> = (0..20)
        .map(|i| {
            let (nodes, durin, u) = (nodes.clone(), nodes.pick(i), u.clone());
            let (name, witness) = (clients[i % clients.len()].name.clone(), witness_id.clone());
            tokio::spawn(async move {
                let login = durin
                    .login(&u, &name, LoginOptions::default())
                    .await
                    .unwrap();
                let finished = Instant::now();
                let must_go = live_in_store(&nodes.store, &witness).await;
                (login, finished, must_go)
            })
        })
        .collect();
    let logout = {
        let (durin, u) = (nodes.b.clone(), u.clone());
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            let started = Instant::now();
            (durin.logout_all(&u).await.unwrap(), started)
        })
    };
    let (_, logout_started) = logout.await.unwrap();
    let mut racers_done = Vec::new();
    for racer in racers {
        racers_done.push(racer.await.unwrap());
    }
    for login in &before {
        if authenticates(&nodes.a, login).await {
            return Err("a session issued before logout-all survived it".into());
        }
    }
    for (login, finished, must_go) in &racers_done {
        if *finished < logout_started && authenticates(&nodes.a, login).await {
            return Err("a login finished before logout-all began survived it".into());
        }
        if *must_go && authenticates(&nodes.a, login).await {
            return Err("a login that completed before logout-all took effect survived it".into());
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_all_racing_logins_leaves_nothing_issued_before_it() {
    logout_all_racing_logins(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_logout_all_racing_logins_leaves_nothing_issued_before_it() {
    logout_all_racing_logins(true).await;
}

async fn logout_all_racing_logins(cluster: bool) {
    // Three clients the logins race on, and the witness's.
    let clients: Vec<Client> = (0..4)
        .map(|_| {
            Client::new(client()).with_max_tokens_per_user(std::num::NonZeroU32::new(5).unwrap())
        })
        .collect();
    for audit in [false, true] {
        let nodes = Arc::new(nodes_on(cluster, &clients, audit).await);
        for _ in 0..5 {
            if let Err(e) = logout_all_round(&nodes, &clients).await {
                panic!("{e} (audit {audit})");
            }
        }
        // The same check against a deliberately broken store (remove_user lists, waits,
        // then deletes): it must fail, or it proves nothing.
        let broken = Arc::new(broken_nodes(&nodes, audit));
        // Rounds until one catches it (bounded): a round whose logins all land outside
        // the broken store's window proves nothing either way (on the cluster, WAIT
        // stretches the rounds).
        let mut caught = false;
        for _ in 0..20 {
            if logout_all_round(&broken, &clients).await.is_err() {
                caught = true;
                break;
            }
        }
        assert!(
            caught,
            "the check let a list-then-delete remove_user through (audit {audit})"
        );
    }
}

/// The same store as `nodes`, under services whose token store is a non-atomic
/// list-then-delete `remove_user` ([`durin_core::testing::ListThenRemove`]).
fn broken_nodes(nodes: &Nodes, audit: bool) -> Nodes {
    let key = DigestKey::generate("broken");
    let node = || {
        let broken = Arc::new(durin_core::testing::ListThenRemove::new(
            nodes.store.clone(),
            std::time::Duration::from_millis(200),
        ));
        let builder = Durin::builder(broken, nodes.store.clone(), key.clone());
        if audit { builder.audit_mode() } else { builder }.build()
    };
    Nodes {
        a: node(),
        b: node(),
        store: nodes.store.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn renew_racing_revoke_never_resurrects_the_session() {
    renew_racing_revoke(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_renew_racing_revoke_never_resurrects_the_session() {
    renew_racing_revoke(true).await;
}

async fn renew_racing_revoke(cluster: bool) {
    let web = Client::new(client());
    for audit in [false, true] {
        let nodes = Arc::new(nodes_on(cluster, std::slice::from_ref(&web), audit).await);
        for round in 0..30 {
            let u = user();
            let login = nodes
                .a
                .login(&u, &web.name, LoginOptions::default())
                .await
                .unwrap();
            let auth = nodes
                .b
                .authenticate(&login.token, Transport::Header)
                .await
                .unwrap();
            let renew = {
                let (durin, auth) = (nodes.pick(round), auth.clone());
                tokio::spawn(async move { durin.renew(&auth).await })
            };
            let revoke = {
                let (durin, auth) = (nodes.pick(round + 1), auth.clone());
                tokio::spawn(async move { durin.logout(&auth).await })
            };
            match renew.await.unwrap() {
                Ok(_) | Err(AuthError::InvalidToken(_)) => {}
                Err(other) => panic!("renew failed otherwise: {other:?}"),
            }
            revoke.await.unwrap().unwrap();
            assert!(
                !authenticates(&nodes.a, &login).await,
                "round {round}, audit {audit}"
            );
            let stored = nodes.store.get_by_id(&login.session.id).await.unwrap();
            if audit {
                let kept = stored.expect("kept for audit");
                assert!(
                    kept.revoked_at.is_some(),
                    "round {round}: revocation undone"
                );
            } else {
                assert_eq!(stored, None, "round {round}: session resurrected");
            }
        }
    }
}
