//! `durin store copy`: runs the real binary between SQLite, PostgreSQL, Redis and a Redis
//! Cluster (new file, schema or key prefix per test), checking the counts, that a rerun
//! copies nothing twice, and that tokens issued on the source authenticate on the target
//! with the same server key.

mod common;

use std::sync::Arc;
use std::time::Duration;

use durin_core::{
    Clock as _, DigestKey, Durin, LoginOptions, ManualClock, Removal, SessionId, SystemClock,
    TokenHasher, TokenPrefix, TokenString, Transport,
};
use serde_json::{Map, Value, json};

use common::{Db, Stores, durin, key_dir, name, run_with, user};

/// A service over `stores` with the server's key (the client cache off: the tests
/// create clients from the CLI).
fn server(stores: &Stores, key: &DigestKey) -> Durin {
    Durin::builder(stores.tokens.clone(), stores.clients.clone(), key.clone())
        .client_cache_ttl(Duration::ZERO)
        .api_access_client(name("api"))
        .build()
}

/// What the source holds that must work on the target.
struct Issued {
    /// A login token of `web` (with a refresh token), `alice`.
    login: TokenString,
    refresh: TokenString,
    /// An API key of `bob` (client `api`, created by the CLI).
    api_key: String,
    /// A named token of `carol` (client `tokens`, created by the CLI).
    named: String,
    /// A token of `frank` (client `web`) whose session id and digest carry no routing
    /// tag, as `durin import` writes them: on a cluster it is found through pointers.
    untagged: TokenString,
}

/// Fills `db`: clients `web` (refresh tokens), `short` (1 h) and the CLI's `api` and
/// `tokens`; a login with refresh token, an API key, a named token, an expired and a
/// revoked session; settings for alice on web.
async fn fill(db: &Db, key_file: &str, key: &DigestKey) -> Issued {
    durin(
        db,
        &[
            "client",
            "create",
            "web",
            "--refresh-ttl",
            "14d",
            "--max-tokens",
            "5",
        ],
    )
    .ok();
    durin(
        db,
        &[
            "client",
            "create",
            "short",
            "--ttl",
            "1h",
            "--max-tokens",
            "5",
        ],
    )
    .ok();
    let api_key = durin(
        db,
        &["apikey", "create", "--user", "bob", "--key-file", key_file],
    )
    .ok()
    .stdout
    .trim()
    .to_owned();
    let named = durin(
        db,
        &[
            "token",
            "create",
            "--user",
            "carol",
            "--name",
            "laptop",
            "--key-file",
            key_file,
        ],
    )
    .ok()
    .stdout
    .trim()
    .to_owned();
    let stores = db.stores().await;
    let service = server(&stores, key);
    let mut context = Map::new();
    context.insert("device".into(), json!("phone"));
    let login = service
        .login(
            &user("alice"),
            &name("web"),
            LoginOptions {
                context,
                ..LoginOptions::default()
            },
        )
        .await
        .expect("login");
    // Expired half an hour ago (no refresh token; still kept by every store): skipped.
    let past = Durin::builder(stores.tokens.clone(), stores.clients.clone(), key.clone())
        .client_cache_ttl(Duration::ZERO)
        .clock(Arc::new(ManualClock::new(
            SystemClock
                .now()
                .saturating_sub(Duration::from_secs(90 * 60)),
        )))
        .build();
    past.login(&user("dave"), &name("short"), LoginOptions::default())
        .await
        .expect("old login");
    // Revoked and kept for audit: skipped.
    let revoked = service
        .login(&user("erin"), &name("short"), LoginOptions::default())
        .await
        .expect("login");
    stores
        .tokens
        .remove(
            &revoked.session.id,
            Removal::Revoke {
                at: SystemClock.now(),
            },
        )
        .await
        .expect("revoke");
    // An untagged session (an id and a token made without routing tag), like an import.
    let untagged = TokenString::generate(&TokenPrefix::new("durin").unwrap());
    let mut legacy = login.session.clone();
    legacy.id = SessionId::new("legacy-frank").unwrap();
    legacy.user_id = user("frank");
    legacy.digest = TokenHasher::new(key.clone()).digest(&untagged);
    legacy.refresh = None;
    let imported = durin_core::import_each(&*stores.tokens, &[legacy], SystemClock.now())
        .await
        .expect("import");
    assert_eq!(imported, 1);
    let mut settings = Map::new();
    settings.insert("theme".into(), json!("dark"));
    stores
        .settings
        .put_settings(&user("alice"), &name("web"), &settings)
        .await
        .expect("settings");
    Issued {
        login: login.token,
        refresh: login.refresh_token.expect("web issues refresh tokens"),
        api_key,
        named,
        untagged,
    }
}

fn copy(from: &Db, to: &Db) -> Value {
    let run = run_with(
        None,
        &[
            "--json", "store", "copy", "--from", &from.url, "--to", &to.url, "--batch", "2",
        ],
        &[],
        None,
    )
    .ok();
    assert!(
        run.stderr.contains("store copy: sessions:"),
        "progress: {run:#?}"
    );
    run.json()
}

async fn copy_between(from: Db, to: Db) {
    let dir = key_dir();
    let key_file = dir.path().join("durin.key");
    let key = durin_connect::load_key(&key_file).expect("server key");
    let issued = fill(&from, key_file.to_str().unwrap(), &key).await;

    let first = copy(&from, &to);
    assert_eq!(
        first["clients"],
        json!({ "copied": 4, "already_there": 0 }),
        "{first:#}"
    );
    assert_eq!(
        first["sessions"],
        json!({
            "read": 6,
            "copied": 4,
            "already_there": 0,
            "skipped_expired": 1,
            "skipped_revoked": 1,
        }),
        "{first:#}"
    );
    assert_eq!(
        first["settings"],
        json!({ "copied": 1, "already_there": 0 }),
        "{first:#}"
    );

    // A rerun copies nothing twice.
    let again = copy(&from, &to);
    assert_eq!(
        again["clients"],
        json!({ "copied": 0, "already_there": 4 }),
        "{again:#}"
    );
    assert_eq!(again["sessions"]["copied"], 0, "{again:#}");
    assert_eq!(again["sessions"]["already_there"], 4, "{again:#}");
    assert_eq!(
        again["settings"],
        json!({ "copied": 0, "already_there": 1 }),
        "{again:#}"
    );

    // The tokens issued on the source work on the target with the same key.
    let stores = to.stores().await;
    let target = server(&stores, &key);
    let alice = target
        .authenticate(&issued.login, Transport::Header)
        .await
        .expect("the login token works on the target");
    assert_eq!(alice.user_id(), &user("alice"));
    assert_eq!(alice.client.name, name("web"));
    assert_eq!(alice.session.context["device"], json!("phone"));
    let bob = target
        .authenticate_str(&issued.api_key, Transport::Header)
        .await
        .expect("the API key works on the target");
    assert_eq!(bob.user_id(), &user("bob"));
    assert_eq!(bob.client.name, name("api"));
    let carol = target
        .authenticate_str(&issued.named, Transport::Header)
        .await
        .expect("the named token works on the target");
    assert_eq!(carol.user_id(), &user("carol"));
    assert_eq!(
        carol.session.name.as_ref().map(|n| n.as_str().to_owned()),
        Some("laptop".to_owned())
    );
    let frank = target
        .authenticate(&issued.untagged, Transport::Header)
        .await
        .expect("the untagged token works on the target");
    assert_eq!(frank.user_id(), &user("frank"));
    // The refresh token too: it rotates on the target.
    let refreshed = target
        .refresh(&issued.refresh)
        .await
        .expect("the refresh token works on the target");
    assert_eq!(refreshed.session.id, alice.session.id);
    // The settings came along.
    let settings = stores
        .settings
        .get_settings(&user("alice"), &name("web"))
        .await
        .unwrap()
        .expect("settings copied");
    assert_eq!(settings["theme"], json!("dark"));
    // What was skipped is not there.
    assert!(
        stores
            .tokens
            .list_by_user(&user("dave"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        stores
            .tokens
            .list_by_user(&user("erin"))
            .await
            .unwrap()
            .is_empty()
    );

    from.finish().await;
    to.finish().await;
}

#[tokio::test]
async fn sqlite_to_postgres() {
    copy_between(Db::sqlite(), Db::postgres().await).await;
}

#[tokio::test]
async fn postgres_to_redis() {
    copy_between(Db::postgres().await, Db::redis()).await;
}

#[tokio::test]
async fn redis_to_redis_cluster() {
    copy_between(Db::redis(), Db::redis_cluster()).await;
}

#[tokio::test]
async fn redis_cluster_to_sqlite() {
    copy_between(Db::redis_cluster(), Db::sqlite()).await;
}

#[tokio::test]
async fn sqlite_to_sqlite() {
    copy_between(Db::sqlite(), Db::sqlite()).await;
}

#[tokio::test]
async fn postgres_to_redis_cluster() {
    copy_between(Db::postgres().await, Db::redis_cluster()).await;
}

#[tokio::test]
async fn redis_cluster_to_postgres() {
    copy_between(Db::redis_cluster(), Db::postgres().await).await;
}

#[tokio::test]
async fn redis_to_sqlite() {
    copy_between(Db::redis(), Db::sqlite()).await;
}

#[tokio::test]
async fn include_dead_copies_expired_and_revoked_sessions_and_same_store_is_refused() {
    let (from, to) = (Db::sqlite(), Db::sqlite());
    let dir = key_dir();
    let key_file = dir.path().join("durin.key");
    let key = durin_connect::load_key(&key_file).expect("server key");
    fill(&from, key_file.to_str().unwrap(), &key).await;
    let run = run_with(
        None,
        &[
            "--json",
            "store",
            "copy",
            "--from",
            &from.url,
            "--to",
            &to.url,
            "--include-dead",
        ],
        &[],
        None,
    )
    .ok()
    .json();
    assert_eq!(run["sessions"]["copied"], 6, "{run:#}");
    assert_eq!(run["sessions"]["skipped_expired"], 0, "{run:#}");

    // Text output: a table of counts.
    let text = run_with(
        None,
        &["store", "copy", "--from", &from.url, "--to", &to.url],
        &[],
        None,
    )
    .ok();
    assert!(text.stdout.contains("ALREADY THERE"), "{text:#?}");

    run_with(
        None,
        &["store", "copy", "--from", &from.url, "--to", &from.url],
        &[],
        None,
    )
    .fails(2, &["--from and --to are the same store"]);
}
