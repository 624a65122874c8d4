//! Runs the real `durin` binary against SQLite (a new file per test) and PostgreSQL (a new
//! schema per test in the database of `DATABASE_URL`), Redis (a new key prefix per test
//! at `REDIS_URL`) and a Redis Cluster (a new key prefix per test at `REDIS_CLUSTER_URL`),
//! checking output and exit codes.
//! An unreachable PostgreSQL fails the tests with a message; nothing skips.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use durin_core::{
    Client, Clock as _, DigestKey, Durin, ManualClock, Renewal, SystemClock, TokenPrefix, Transport,
};

use common::{
    Db, all_sessions, client_of, database_url, durin, durin_on_terminal, key_dir, login_all, name,
    run_with, service, user,
};

/// Stamps one test per backend for each `async fn name(db: &Db)` listed.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::Db::sqlite();
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::Db::postgres().await;
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::Db::redis();
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod redis_cluster {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::Db::redis_cluster();
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}

/// Stamps one test per SQL backend (the schema-specific cases) for each `async fn name(db: &Db)` listed.
macro_rules! on_sql_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite_schema {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::Db::sqlite();
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres_schema {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::Db::postgres().await;
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}

on_sql_backends!(
    migrate_is_idempotent_and_no_migrate_skips_it,
    bad_input_exits_2_says_what_is_accepted_and_writes_nothing,
);

on_every_backend!(
    client_lifecycle_create_show_update_delete,
    duplicate_and_unknown_clients_are_refused_with_exit_1,
    session_list_pages_through_every_session,
    session_revoke_and_revoke_all,
    apikey_create_issues_keys_the_service_accepts,
    named_tokens_are_created_listed_and_revoked,
    settings_are_shown_and_cleared,
    client_delete_asks_before_deleting_sessions,
    purge_expired_deletes_only_sessions_past_the_grace,
);

// ---------------------------------------------------------------------------------------
// The tests run on every backend

async fn migrate_is_idempotent_and_no_migrate_skips_it(db: &Db) {
    // A fresh database has no tables: with --no-migrate, nothing creates them.
    durin(db, &["--no-migrate", "client", "list"]).fails(1, &["listing clients"]);

    let first = durin(db, &["migrate"]).ok();
    assert!(first.stdout.contains("up to date"), "{first:#?}");
    let again = durin(db, &["--json", "migrate"]).ok().json();
    let backend = if db.schema.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(
        again,
        serde_json::json!({ "backend": backend, "migrated": true })
    );

    let listed = durin(db, &["--no-migrate", "client", "list"]).ok();
    assert!(listed.stdout.contains("no clients"), "{listed:#?}");
}

async fn client_lifecycle_create_show_update_delete(db: &Db) {
    let created = durin(
        db,
        &[
            "client",
            "create",
            "web",
            "--ttl",
            "10h",
            "--throttle-rate",
            "100/m",
            "--max-tokens",
            "3",
            "--renew",
            "sliding:1h",
            "--max-lifetime",
            "30d",
            "--refresh-ttl",
            "14d",
            "--scopes",
            "read,write",
            "--prefix",
            "web",
        ],
    )
    .ok();
    assert!(
        created.stdout.starts_with("created client web\n"),
        "{created:#?}"
    );
    let expected = Client::new(name("web"))
        .with_token_ttl(Some(Duration::from_secs(36_000)))
        .with_throttle_rate(Some("100/m".parse().unwrap()))
        .with_max_tokens_per_user(std::num::NonZeroU32::new(3).unwrap())
        .with_renewal(Renewal::Sliding {
            min_interval: Duration::from_secs(3600),
        })
        .with_max_lifetime(Some(Duration::from_secs(30 * 86_400)))
        .with_refresh_ttl(Some(Duration::from_secs(14 * 86_400)))
        .with_scopes(["read", "write"])
        .with_prefix(Some(TokenPrefix::new("web").unwrap()));

    let stores = db.stores().await;
    assert_eq!(client_of(&stores, "web").await.as_ref(), Some(&expected));
    let shown: Client =
        serde_json::from_value(durin(db, &["--json", "client", "show", "web"]).ok().json())
            .expect("client show --json is the Client serde form");
    assert_eq!(shown, expected);

    let table = durin(db, &["client", "show", "web"]).ok().stdout;
    for line in [
        "token ttl            10h",
        "throttle rate        100/m",
        "max tokens per user  3",
        "renew                sliding:1h",
        "max lifetime         30d",
        "refresh ttl          2w",
        "scopes               read,write",
        "sessions             0",
    ] {
        assert!(table.contains(line), "{line:?} missing from\n{table}");
    }

    durin(db, &["client", "create", "mobile"]).ok();
    let list = durin(db, &["client", "list"]).ok().stdout;
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 3, "{list}");
    assert!(lines[0].starts_with("NAME    TTL  RATE"), "{list}");
    let mobile: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        mobile,
        ["mobile", "1d", "-", "1", "explicit", "-", "-", "-", "-"]
    );
    let web: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        web,
        [
            "web",
            "10h",
            "100/m",
            "3",
            "sliding:1h",
            "30d",
            "2w",
            "read,write",
            "web"
        ]
    );
    let listed: Vec<Client> =
        serde_json::from_value(durin(db, &["client", "list", "--json"]).ok().json()).unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1], expected);

    // Only the options given change.
    durin(db, &["client", "update", "web", "--ttl", "2h"]).ok();
    let expected = expected.with_token_ttl(Some(Duration::from_secs(7200)));
    assert_eq!(client_of(&stores, "web").await.as_ref(), Some(&expected));

    // "none", "never" and "" clear what they clear.
    let cleared = durin(
        db,
        &[
            "--json",
            "client",
            "update",
            "web",
            "--throttle-rate",
            "none",
            "--max-lifetime",
            "never",
            "--refresh-ttl",
            "never",
            "--scopes",
            "",
            "--prefix",
            "",
            "--renew",
            "none",
        ],
    )
    .ok()
    .json();
    let expected = Client::new(name("web"))
        .with_token_ttl(Some(Duration::from_secs(7200)))
        .with_max_tokens_per_user(std::num::NonZeroU32::new(3).unwrap())
        .with_renewal(Renewal::None);
    assert_eq!(serde_json::from_value::<Client>(cleared).unwrap(), expected);
    assert_eq!(client_of(&stores, "web").await.as_ref(), Some(&expected));

    // No sessions: no question asked.
    let deleted = durin(db, &["client", "delete", "web"]).ok();
    assert_eq!(deleted.stdout, "deleted client web and 0 session(s)\n");
    assert_eq!(client_of(&stores, "web").await, None);
    durin(db, &["client", "show", "web"]).fails(1, &["no client web"]);
}

async fn bad_input_exits_2_says_what_is_accepted_and_writes_nothing(db: &Db) {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["client", "create", "web", "--ttl", "5 parsecs"],
            &[
                "invalid duration \"5 parsecs\"",
                "expected a positive whole number",
            ],
        ),
        (
            &["client", "create", "web", "--ttl", "0s"],
            &["must be positive", "never"],
        ),
        (
            &["client", "create", "web", "--throttle-rate", "5/fortnight"],
            &["invalid throttle rate \"5/fortnight\"", "expected N/PERIOD"],
        ),
        (
            &["client", "create", "has space"],
            &["invalid client name \"has space\"", "letters, digits"],
        ),
        (
            &["client", "create", &"x".repeat(65)],
            &["1 to 64 characters"],
        ),
        (
            &["client", "create", "web", "--max-tokens", "0"],
            &["--max-tokens", "0 is not in 1.."],
        ),
        (
            &["client", "create", "web", "--renew", "sometimes"],
            &["invalid renewal \"sometimes\"", "sliding:INTERVAL"],
        ),
        (
            &["client", "create", "web", "--scopes", "read,,write"],
            &["invalid scopes", "comma-separated"],
        ),
        (
            &["client", "create", "web", "--prefix", "Web"],
            &["invalid prefix \"Web\"", "lower-case"],
        ),
        (
            &["client", "update", "web"],
            &["nothing to change", "--ttl"],
        ),
        (
            &["session", "list", "--limit", "5000"],
            &["5000 is not in 1..=1000"],
        ),
        (
            &["session", "list", "--after", "not/an/id"],
            &["invalid session id"],
        ),
        (&["session", "revoke", "a b"], &["invalid session id"]),
        (&["session", "revoke-all"], &["--user <USER>"]),
        (&["apikey", "create", "--user", ""], &["invalid user id"]),
        (&["client", "frobnicate"], &["unrecognized subcommand"]),
    ];
    for (args, fragments) in cases {
        let run = durin(db, args);
        assert_eq!(run.code, 2, "{args:?}: {run:#?}");
        for fragment in *fragments {
            assert!(
                run.stderr.contains(fragment),
                "{args:?} lacks {fragment:?}: {run:#?}"
            );
        }
        assert!(run.stdout.is_empty(), "{args:?}: {run:#?}");
    }
    // Nothing was written: not even the schema (validation precedes the migration).
    durin(db, &["--no-migrate", "client", "list"]).fails(1, &["listing clients"]);
    assert_eq!(
        durin(db, &["--json", "client", "list"]).ok().json(),
        serde_json::json!([])
    );
}

async fn duplicate_and_unknown_clients_are_refused_with_exit_1(db: &Db) {
    durin(db, &["client", "create", "web", "--ttl", "1h"]).ok();
    durin(db, &["client", "create", "web", "--ttl", "2h"])
        .fails(1, &["client web already exists", "durin client update web"]);
    let stores = db.stores().await;
    assert_eq!(
        client_of(&stores, "web").await.unwrap().token_ttl,
        Some(Duration::from_secs(3600)),
        "the duplicate changed nothing"
    );
    durin(db, &["client", "update", "nope", "--ttl", "1h"]).fails(1, &["no client nope"]);
    durin(db, &["client", "delete", "nope", "--yes"]).fails(1, &["no client nope"]);
    assert_eq!(client_of(&stores, "nope").await, None);
}

async fn session_list_pages_through_every_session(db: &Db) {
    durin(db, &["client", "create", "web", "--max-tokens", "10"]).ok();
    durin(db, &["client", "create", "mobile", "--max-tokens", "10"]).ok();
    let stores = db.stores().await;
    let durin_service = service(&stores);
    let users = ["u0", "u1", "u2", "u3", "u4", "u5", "u6"];
    let web = login_all(&durin_service, "web", &users).await;
    let mobile = login_all(&durin_service, "mobile", &["u0", "u0"]).await;

    // Follow the JSON cursors through --client web, three at a time.
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut args = vec![
            "--json", "session", "list", "--client", "web", "--limit", "3",
        ];
        if let Some(cursor) = &after {
            args.extend(["--after", cursor.as_str()]);
        }
        let page = durin(db, &args).ok().json();
        let sessions = page["sessions"].as_array().expect("sessions array");
        sizes.push(sessions.len());
        for s in sessions {
            let keys: BTreeSet<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
            let expected: BTreeSet<&str> = [
                "id",
                "user",
                "client",
                "created",
                "expiry",
                "last_used",
                "revoked",
                "scopes",
                "context",
            ]
            .into();
            assert_eq!(keys, expected);
            assert_eq!(s["client"], "web");
            seen.push(s["id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(Some(next), seen.last().map(String::as_str));
                after = Some(next.to_owned());
            }
            None => {
                assert!(page["next"].is_null());
                break;
            }
        }
    }
    assert_eq!(sizes, [3, 3, 1]);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "pages are ordered by id without repeats");
    let mut created: Vec<String> = web.iter().map(|s| s.id.to_string()).collect();
    created.sort();
    assert_eq!(seen, created);

    // The table's hint is a command that prints the next page.
    let first = durin(db, &["session", "list", "--client", "web", "--limit", "3"])
        .ok()
        .stdout;
    let (table, hint) = first.split_once("\nnext: ").expect("a next hint");
    assert_eq!(table.lines().count(), 4, "{first}");
    assert!(table.starts_with("ID "), "{first}");
    assert_eq!(
        hint.trim(),
        format!(
            "durin session list --client web --limit 3 --after {}",
            seen[2]
        )
    );
    let words: Vec<&str> = hint.split_whitespace().skip(1).collect();
    let second = durin(db, &words).ok().stdout;
    for id in &seen[3..6] {
        assert!(second.contains(id.as_str()), "{second}");
    }
    assert!(second.contains("next: "), "{second}");

    // Filters, a page that fits, and no digest anywhere.
    let u0 = durin(db, &["--json", "session", "list", "--user", "u0"]).ok();
    let page = u0.json();
    assert_eq!(page["sessions"].as_array().unwrap().len(), 3);
    assert!(page["next"].is_null());
    let everything = durin(db, &["--json", "session", "list", "--limit", "1000"]).ok();
    assert_eq!(everything.json()["sessions"].as_array().unwrap().len(), 9);
    for s in web.iter().chain(&mobile) {
        let hex = s.digest.to_hex();
        assert!(!everything.stdout.contains(&hex) && !u0.stdout.contains(&hex));
    }
    assert!(!everything.stdout.contains("digest"));
    let empty = durin(db, &["session", "list", "--user", "nobody"]).ok();
    assert_eq!(empty.stdout, "no sessions\n");
}

async fn session_revoke_and_revoke_all(db: &Db) {
    durin(db, &["client", "create", "web", "--max-tokens", "5"]).ok();
    durin(db, &["client", "create", "mobile"]).ok();
    let stores = db.stores().await;
    let service = service(&stores);
    let alice_web = login_all(&service, "web", &["alice", "alice"]).await;
    let alice_mobile = login_all(&service, "mobile", &["alice"]).await;
    let bob = login_all(&service, "web", &["bob"]).await;

    let target = alice_web[0].id.to_string();
    let revoked = durin(db, &["session", "revoke", &target]).ok();
    assert_eq!(
        revoked.stdout,
        format!("revoked session {target} (user alice, client web)\n")
    );
    assert_eq!(
        stores.tokens.get_by_id(&alice_web[0].id).await.unwrap(),
        None
    );
    durin(db, &["session", "revoke", &target]).fails(1, &[&format!("no session {target}")]);

    let json = durin(
        db,
        &["--json", "session", "revoke", alice_web[1].id.as_str()],
    )
    .ok()
    .json();
    assert_eq!(json["revoked"]["id"], alice_web[1].id.as_str());
    assert_eq!(json["revoked"]["user"], "alice");

    let all = durin(db, &["--json", "session", "revoke-all", "--user", "alice"])
        .ok()
        .json();
    assert_eq!(all, serde_json::json!({ "user": "alice", "revoked": 1 }));
    assert_eq!(
        stores.tokens.get_by_id(&alice_mobile[0].id).await.unwrap(),
        None
    );
    assert!(
        stores.tokens.get_by_id(&bob[0].id).await.unwrap().is_some(),
        "other users keep their sessions"
    );
    let none = durin(db, &["session", "revoke-all", "--user", "alice"]).ok();
    assert_eq!(none.stdout, "revoked 0 session(s) of user alice\n");
}

async fn named_tokens_are_created_listed_and_revoked(db: &Db) {
    let dir = key_dir();
    let key_file = dir.path().join("durin.key");
    let server_key = durin_connect::load_key(&key_file).expect("server key");
    let key_arg = key_file.to_str().unwrap();
    let create = |name: &'static str, extra: &'static [&'static str]| {
        let mut args = vec![
            "token",
            "create",
            "--user",
            "alice",
            "--name",
            name,
            "--key-file",
            key_arg,
        ];
        args.extend_from_slice(extra);
        durin(db, &args)
    };
    let laptop = create("laptop", &["--expires", "30d"]).ok();
    let token = laptop.stdout.trim_end_matches('\n').to_owned();
    assert!(
        token.starts_with("durin_") && !token.contains('\n'),
        "{laptop:#?}"
    );
    assert!(
        laptop.stderr.contains("created client tokens"),
        "{laptop:#?}"
    );
    assert!(laptop.stderr.contains("shown only once"), "{laptop:#?}");
    create("ci", &["--expires", "never"]).ok();
    create("laptop", &[]).fails(1, &["already holds a live token named \"laptop\""]);
    create("x", &["--scopes", "admin"]).fails(1, &["does not offer scope \"admin\""]);
    durin(
        db,
        &[
            "token",
            "create",
            "--user",
            "alice",
            "--name",
            "",
            "--key-file",
            key_arg,
        ],
    )
    .fails(2, &["may not be blank"]);
    let long = "n".repeat(65);
    durin(
        db,
        &[
            "token",
            "create",
            "--user",
            "alice",
            "--name",
            &long,
            "--key-file",
            key_arg,
        ],
    )
    .fails(2, &["no more than 64 characters"]);

    // A server configured with the same tokens client accepts the token.
    let stores = db.stores().await;
    let server = Durin::builder(stores.tokens.clone(), stores.clients.clone(), server_key)
        .tokens_client(name("tokens"))
        .build();
    let auth = server
        .authenticate_str(&token, Transport::Header)
        .await
        .expect("the server accepts the CLI's token");
    assert_eq!(auth.session.name.as_ref().unwrap().as_str(), "laptop");

    let listed = durin(db, &["--json", "token", "list", "--user", "alice"])
        .ok()
        .json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["laptop", "ci"]);
    assert!(listed[1]["expiry"].is_null(), "{listed}");
    assert!(
        !listed.to_string().contains(&token),
        "the list never shows a token"
    );
    let table = durin(db, &["token", "list", "--user", "alice"]).ok();
    assert!(
        table.stdout.contains("laptop") && table.stdout.contains("never"),
        "{table:#?}"
    );

    let id = listed[0]["id"].as_str().unwrap().to_owned();
    durin(db, &["token", "revoke", &id]).ok();
    assert!(
        server
            .authenticate_str(&token, Transport::Header)
            .await
            .is_err()
    );
    durin(db, &["token", "revoke", &id]).fails(1, &["no named token"]);
    let left = durin(db, &["--json", "token", "list", "--user", "alice"])
        .ok()
        .json();
    assert_eq!(left.as_array().unwrap().len(), 1);
}

async fn settings_are_shown_and_cleared(db: &Db) {
    let stores = db.stores().await;
    let settings = serde_json::json!({"theme": "dark"});
    stores
        .settings
        .put_settings(&user("alice"), &name("web"), settings.as_object().unwrap())
        .await
        .unwrap();
    let shown = durin(
        db,
        &["settings", "show", "--user", "alice", "--client", "web"],
    )
    .ok()
    .json();
    assert_eq!(shown, settings);
    let other = durin(
        db,
        &["settings", "show", "--user", "alice", "--client", "mobile"],
    )
    .ok()
    .json();
    assert_eq!(other, serde_json::json!({}));
    let cleared = durin(
        db,
        &["settings", "clear", "--user", "alice", "--client", "web"],
    )
    .ok();
    assert!(cleared.stdout.contains("cleared"), "{cleared:#?}");
    let again = durin(
        db,
        &["settings", "clear", "--user", "alice", "--client", "web"],
    )
    .ok();
    assert!(again.stdout.contains("had no settings"), "{again:#?}");
    assert_eq!(
        stores
            .settings
            .get_settings(&user("alice"), &name("web"))
            .await
            .unwrap(),
        None
    );
}

async fn apikey_create_issues_keys_the_service_accepts(db: &Db) {
    let dir = key_dir();
    let key_file = dir.path().join("durin.key");
    // The server generates its key file at first start; the CLI reads the same file.
    let server_key = durin_connect::load_key(&key_file).expect("server key");
    let key_arg = key_file.to_str().unwrap();

    let issued = durin(
        db,
        &["apikey", "create", "--user", "alice", "--key-file", key_arg],
    )
    .ok();
    let token = issued.stdout.trim_end_matches('\n');
    assert!(
        token.starts_with("durin_") && !token.contains('\n'),
        "{issued:#?}"
    );
    assert!(issued.stderr.contains("created client api"), "{issued:#?}");
    assert!(issued.stderr.contains("shown only once"), "{issued:#?}");

    let stores = db.stores().await;
    let api = client_of(&stores, "api")
        .await
        .expect("the API client was created");
    assert_eq!(api.token_ttl, None, "API keys never expire");

    // A server with the same stores and key accepts the key.
    let server = Durin::builder(stores.tokens.clone(), stores.clients.clone(), server_key)
        .api_access_client(name("api"))
        .build();
    let auth = server
        .authenticate_str(token, Transport::Header)
        .await
        .expect("the server accepts the CLI's key");
    assert_eq!(auth.user_id(), &user("alice"));
    assert_eq!(auth.client.name, name("api"));
    assert_eq!(
        server.api_key(&user("alice")).await.unwrap().id,
        auth.session.id
    );

    durin(
        db,
        &["apikey", "create", "--user", "alice", "--key-file", key_arg],
    )
    .fails(
        1,
        &[
            "user alice already holds a live API key",
            "durin apikey revoke --user alice",
        ],
    );

    // The client comes from DURIN_API_ACCESS_CLIENT; --json prints token and session.
    let bob = run_with(
        Some(db),
        &[
            "--json",
            "apikey",
            "create",
            "--user",
            "bob",
            "--scopes",
            "read",
            "--key-file",
            key_arg,
        ],
        &[("DURIN_API_ACCESS_CLIENT", "scripts")],
        None,
    )
    .ok();
    let json = bob.json();
    let bob_token = json["token"].as_str().expect("token");
    assert_eq!(json["session"]["client"], "scripts");
    assert_eq!(json["session"]["user"], "bob");
    assert_eq!(json["session"]["scopes"], serde_json::json!(["read"]));
    assert!(json["session"]["expiry"].is_null());
    assert!(!bob.stdout.contains("digest"));
    let bob_auth = server
        .authenticate_str(bob_token, Transport::Header)
        .await
        .expect("accepted");
    assert!(bob_auth.has_scope("read") && !bob_auth.has_scope("write"));

    // A client's scope list is enforced.
    durin(db, &["client", "create", "readers", "--scopes", "read"]).ok();
    durin(
        db,
        &[
            "apikey",
            "create",
            "--user",
            "carol",
            "--client",
            "readers",
            "--scopes",
            "write",
            "--key-file",
            key_arg,
        ],
    )
    .fails(
        1,
        &["client readers does not allow scope(s) write; it allows read"],
    );

    durin(db, &["apikey", "revoke", "--user", "alice"]).ok();
    assert!(
        server
            .authenticate_str(token, Transport::Header)
            .await
            .is_err()
    );
    durin(db, &["apikey", "revoke", "--user", "alice"])
        .fails(1, &["user alice has no API key of client api"]);
    let revoked = run_with(
        Some(db),
        &["--json", "apikey", "revoke", "--user", "bob"],
        &[("DURIN_API_ACCESS_CLIENT", "scripts")],
        None,
    )
    .ok()
    .json();
    assert_eq!(
        revoked,
        serde_json::json!({ "user": "bob", "client": "scripts", "revoked": true })
    );
    assert!(
        server
            .authenticate_str(bob_token, Transport::Header)
            .await
            .is_err()
    );
}

async fn client_delete_asks_before_deleting_sessions(db: &Db) {
    durin(db, &["client", "create", "web", "--max-tokens", "5"]).ok();
    let stores = db.stores().await;
    let service = service(&stores);
    login_all(&service, "web", &["alice", "bob"]).await;

    // No terminal to ask on: refused, whatever stdin holds.
    durin(db, &["client", "delete", "web"]).fails(1, &["no terminal", "--yes"]);
    run_with(Some(db), &["client", "delete", "web"], &[], Some("y\n"))
        .fails(1, &["no terminal", "--yes"]);
    assert!(client_of(&stores, "web").await.is_some());
    assert_eq!(all_sessions(&stores, "web").await.len(), 2);

    // On a terminal: "n" keeps everything, "y" deletes the client and its sessions.
    let kept = durin_on_terminal(db, &["client", "delete", "web"], "n\n");
    assert_eq!(kept.code, 1, "{kept:#?}");
    assert!(
        kept.stdout.contains("client web has 2 session(s)"),
        "{kept:#?}"
    );
    assert!(kept.stdout.contains("[y/N]"), "{kept:#?}");
    assert!(kept.stdout.contains("kept client web"), "{kept:#?}");
    assert!(client_of(&stores, "web").await.is_some());
    assert_eq!(all_sessions(&stores, "web").await.len(), 2);

    let deleted = durin_on_terminal(db, &["client", "delete", "web"], "y\n");
    assert_eq!(deleted.code, 0, "{deleted:#?}");
    assert!(
        deleted
            .stdout
            .contains("deleted client web and 2 session(s)"),
        "{deleted:#?}"
    );
    assert_eq!(client_of(&stores, "web").await, None);
    assert!(all_sessions(&stores, "web").await.is_empty());

    // --yes deletes without asking.
    durin(db, &["client", "create", "mobile"]).ok();
    login_all(&service, "mobile", &["alice"]).await;
    let json = durin(db, &["--json", "client", "delete", "mobile", "--yes"])
        .ok()
        .json();
    assert_eq!(
        json,
        serde_json::json!({ "deleted": "mobile", "sessions_removed": 1 })
    );
    assert!(all_sessions(&stores, "mobile").await.is_empty());
}

async fn purge_expired_deletes_only_sessions_past_the_grace(db: &Db) {
    durin(
        db,
        &[
            "client",
            "create",
            "short",
            "--ttl",
            "1h",
            "--max-tokens",
            "10",
        ],
    )
    .ok();
    let stores = db.stores().await;
    let now = SystemClock.now();
    let at = |ago: Duration| -> Durin {
        let clock = ManualClock::new(now.saturating_sub(ago));
        Durin::builder(
            stores.tokens.clone(),
            stores.clients.clone(),
            DigestKey::generate("test"),
        )
        .clock(Arc::new(clock))
        .build()
    };
    // Expired a day ago: past the one-hour grace.
    let old = login_all(&at(Duration::from_secs(25 * 3600)), "short", &["a", "b"]).await;
    // Expired half an hour ago: still inside the grace.
    let recent = login_all(&at(Duration::from_secs(90 * 60)), "short", &["c"]).await;
    // Live.
    let live = login_all(&at(Duration::ZERO), "short", &["d"]).await;

    let purged = durin(db, &["purge-expired"]).ok();
    assert!(
        purged.stdout.starts_with("purged 2 session(s)"),
        "{purged:#?}"
    );
    for s in &old {
        assert_eq!(stores.tokens.get_by_id(&s.id).await.unwrap(), None);
    }
    for s in recent.iter().chain(&live) {
        assert!(stores.tokens.get_by_id(&s.id).await.unwrap().is_some());
    }
    let again = durin(db, &["--json", "purge-expired"]).ok().json();
    assert_eq!(again, serde_json::json!({ "purged": 0 }));

    // The table marks the recent one expired and the other live.
    let table = durin(db, &["session", "list"]).ok().stdout;
    let state = |id: &str| -> String {
        let line = table.lines().find(|l| l.starts_with(id)).expect("listed");
        line.split_whitespace().rev().nth(1).unwrap().to_owned()
    };
    assert_eq!(state(recent[0].id.as_str()), "expired");
    assert_eq!(state(live[0].id.as_str()), "live");
}

// ---------------------------------------------------------------------------------------
// Single-backend tests

/// Redis has no schema: `migrate` says so and succeeds.
#[tokio::test]
async fn migrate_on_redis_has_nothing_to_do() {
    let db = Db::redis();
    let run = durin(&db, &["migrate"]).ok();
    assert!(!run.stdout.is_empty(), "{run:#?}");
    durin(&db, &["client", "create", "web"]).ok();
    let clients = durin(&db, &["--json", "client", "list"]).ok().json();
    assert_eq!(clients.as_array().map(Vec::len), Some(1), "{clients}");
}

#[tokio::test]
async fn postgres_url_options_select_the_schema() {
    let a = Db::postgres().await;
    let b = Db::postgres().await;
    durin(&a, &["client", "create", "web"]).ok();
    assert_eq!(
        durin(&b, &["--json", "client", "list"]).ok().json(),
        serde_json::json!([])
    );
    let listed = durin(&a, &["--json", "client", "list"]).ok().json();
    assert_eq!(listed[0]["name"], "web");

    // The tables landed in a's schema, not in public.
    let pool = sqlx::PgPool::connect(&database_url())
        .await
        .expect("connect");
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
    )
    .bind(a.schema.as_deref().unwrap())
    .fetch_one(&pool)
    .await
    .expect("count tables");
    assert!(
        tables >= 2,
        "durin's tables are in the test's schema ({tables})"
    );
    pool.close().await;
    a.finish().await;
    b.finish().await;
}

#[tokio::test]
async fn an_unreachable_database_exits_1_with_the_reason() {
    let run = run_with(
        None,
        &[
            "--database-url",
            "postgres://durin:s3cret@127.0.0.1:1/durin",
            "client",
            "list",
        ],
        &[],
        None,
    );
    run.fails(
        1,
        &[
            "opening the database postgres://durin:***@127.0.0.1:1/durin",
            "store unavailable",
        ],
    );
}

#[tokio::test]
async fn database_url_problems_and_bad_values_exit_2_before_any_io() {
    run_with(None, &["client", "list"], &[], None)
        .fails(2, &["no database", "--database-url", "DURIN_DATABASE_URL"]);
    run_with(
        None,
        &["--database-url", "mysql://root:pw@db/x", "client", "list"],
        &[],
        None,
    )
    .fails(
        2,
        &[
            "unsupported database URL",
            "mysql://root:***@db/x",
            "sqlite:",
        ],
    );
    // Nothing listens on port 1: exit 2 (not 1) proves the value was refused first.
    run_with(
        None,
        &[
            "--database-url",
            "postgres://127.0.0.1:1/x",
            "client",
            "create",
            "web",
            "--ttl",
            "-5m",
        ],
        &[],
        None,
    )
    .fails(2, &["negative"]);
    let help = run_with(None, &["--help"], &[], None).ok();
    assert!(help.stdout.contains("purge-expired"), "{help:#?}");
}

#[tokio::test]
async fn apikey_create_needs_the_servers_key_and_never_invents_one() {
    let db = Db::sqlite();
    let dir = key_dir();
    let missing = dir.path().join("durin.key");
    let missing_arg = missing.to_str().unwrap();
    durin(
        &db,
        &[
            "apikey",
            "create",
            "--user",
            "alice",
            "--key-file",
            missing_arg,
        ],
    )
    .fails(1, &["no server key", "DURIN_SECRET", "--key-file"]);
    assert!(!missing.exists(), "the CLI created a key file");
    assert_eq!(
        durin(&db, &["--json", "client", "list"]).ok().json(),
        serde_json::json!([])
    );

    // DURIN_SECRET wins over the (missing) file, as in the servers.
    let secret = "a shared secret that the server also has in DURIN_SECRET";
    let issued = run_with(
        Some(&db),
        &[
            "apikey",
            "create",
            "--user",
            "alice",
            "--key-file",
            missing_arg,
        ],
        &[("DURIN_SECRET", secret)],
        None,
    )
    .ok();
    let stores = db.stores().await;
    let server = Durin::builder(
        stores.tokens.clone(),
        stores.clients.clone(),
        DigestKey::new("env", secret.as_bytes().to_vec()).unwrap(),
    )
    .build();
    let auth = server
        .authenticate_str(issued.stdout.trim(), Transport::Header)
        .await
        .expect("accepted under DURIN_SECRET");
    assert_eq!(auth.user_id(), &user("alice"));

    // A malformed key file is reported, not replaced (mode 0600: one that others may
    // read is refused before it is even parsed).
    std::fs::write(&missing, "not hex").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&missing, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    durin(
        &db,
        &[
            "apikey",
            "create",
            "--user",
            "bob",
            "--key-file",
            missing_arg,
        ],
    )
    .fails(1, &["reading the server key", "64 hex digits"]);
    assert_eq!(std::fs::read_to_string(&missing).unwrap(), "not hex");
}
