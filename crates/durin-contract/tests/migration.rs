//! Migration from Django (issue 16): Django-shaped tables, created by the libraries' own
//! migrations (the DDL Django's `sqlmigrate` prints, checked in under
//! `crates/durin-cli/tests/fixtures/`), in PostgreSQL and in SQLite, filled the way the
//! libraries fill them; `durin import` moves them into each backend; both example
//! servers, started with `--accept-legacy-tokens`, then serve the old tokens.

use std::time::Duration;

use durin_contract::{Cluster, Response, Server, backend_selected};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha512};

const AUTH: [&str; 2] = [
    include_str!("../../durin-cli/tests/fixtures/django-auth.sqlite.sql"),
    include_str!("../../durin-cli/tests/fixtures/django-auth.postgres.sql"),
];
const DURIN: [&str; 2] = [
    include_str!("../../durin-cli/tests/fixtures/django-rest-durin.sqlite.sql"),
    include_str!("../../durin-cli/tests/fixtures/django-rest-durin.postgres.sql"),
];
const DRF: [&str; 2] = [
    include_str!("../../durin-cli/tests/fixtures/drf-authtoken.sqlite.sql"),
    include_str!("../../durin-cli/tests/fixtures/drf-authtoken.postgres.sql"),
];
const KNOX: [&str; 2] = [
    include_str!("../../durin-cli/tests/fixtures/knox.sqlite.sql"),
    include_str!("../../durin-cli/tests/fixtures/knox.postgres.sql"),
];

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("random");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A Django database with auth, django-rest-durin, DRF authtoken and knox migrated.
enum Django {
    Sqlite(sqlx::SqlitePool, String),
    Postgres(sqlx::PgPool, String, String),
}

impl Django {
    async fn create(kind: &str) -> Django {
        match kind {
            "sqlite" => {
                let path = std::env::temp_dir().join(format!("django-{}.sqlite3", random_hex(8)));
                let url = format!("sqlite://{}", path.display());
                let pool = sqlx::SqlitePool::connect(&format!("{url}?mode=rwc"))
                    .await
                    .expect("create the Django SQLite file");
                for ddl in [AUTH[0], DURIN[0], DRF[0], KNOX[0]] {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
                        .execute(&pool)
                        .await
                        .expect("Django's DDL");
                }
                Django::Sqlite(pool, url)
            }
            _ => {
                let base = std::env::var("DATABASE_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/durin_test".to_owned());
                let schema = format!("django_{}", random_hex(6));
                let admin = sqlx::PgPool::connect(&base).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL at {base} is unreachable ({e}); run scripts/services.sh")
                });
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&admin)
                    .await
                    .expect("create schema");
                admin.close().await;
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&url)
                    .await
                    .expect("connect");
                for ddl in [AUTH[1], DURIN[1], DRF[1], KNOX[1]] {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
                        .execute(&pool)
                        .await
                        .expect("Django's DDL");
                }
                Django::Postgres(pool, url, schema)
            }
        }
    }

    fn url(&self) -> &str {
        match self {
            Django::Sqlite(_, url) | Django::Postgres(_, url, _) => url,
        }
    }

    /// A timestamp `secs` from now, as Django stores it.
    fn at(&self, secs: i64) -> String {
        match self {
            Django::Sqlite(..) => {
                format!("strftime('%Y-%m-%d %H:%M:%f', 'now', '{secs:+} seconds')")
            }
            Django::Postgres(..) => format!("(now() + make_interval(secs => {secs}))"),
        }
    }

    fn interval(&self, secs: i64) -> String {
        match self {
            Django::Sqlite(..) => (secs * 1_000_000).to_string(),
            Django::Postgres(..) => format!("make_interval(secs => {secs})"),
        }
    }

    async fn exec(&self, sql: String) {
        match self {
            Django::Sqlite(pool, _) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(pool)
                .await
                .map(|_| ()),
            Django::Postgres(pool, ..) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(pool)
                .await
                .map(|_| ()),
        }
        .expect("fill the Django tables");
    }

    async fn drop(self) {
        match self {
            Django::Sqlite(pool, url) => {
                pool.close().await;
                let _ = std::fs::remove_file(url.trim_start_matches("sqlite://"));
            }
            Django::Postgres(pool, _, schema) => {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .execute(&pool)
                    .await;
                pool.close().await;
            }
        }
    }
}

/// The tokens the Django side handed out.
struct Tokens {
    durin_alice_web: String,
    durin_bob_mobile: String,
    durin_expired: String,
    drf_alice: String,
    drf_expired: String,
    knox_alice: String,
    knox_bob: String,
    knox_expired: String,
}

/// Fills the tables as the libraries do: durin and DRF keep `hexlify(urandom(n))`,
/// knox keeps `sha512(token).hexdigest()` and `token[:15]`.
async fn fill(db: &Django) -> Tokens {
    let t = Tokens {
        durin_alice_web: random_hex(32),
        durin_bob_mobile: random_hex(32),
        durin_expired: random_hex(32),
        drf_alice: random_hex(20),
        drf_expired: random_hex(20),
        knox_alice: random_hex(32),
        knox_bob: random_hex(32),
        knox_expired: random_hex(32),
    };
    let now = db.at(0);
    let mut sql = String::new();
    for (id, name) in [(1, "alice"), (2, "bob"), (3, "")] {
        sql.push_str(&format!(
            "INSERT INTO auth_user (id, password, last_login, is_superuser, username, \
             first_name, last_name, email, is_staff, is_active, date_joined) VALUES \
             ({id}, '!', NULL, false, '{name}', '', '', '', false, true, {now});\n"
        ));
    }
    sql.push_str(&format!(
        "INSERT INTO durin_client (id, name, token_ttl, throttle_rate) VALUES \
         (1, 'web', {}, ''), (2, 'mobile-app', {}, '5/m');\n",
        db.interval(86_400),
        db.interval(7 * 86_400),
    ));
    let durin_rows = [
        (&t.durin_alice_web, 1, 1, 3600),
        (&t.durin_bob_mobile, 2, 2, 86_400),
        (&t.durin_expired, 1, 2, -60),
        (&random_hex(32), 3, 1, 3600),
    ];
    for (token, user, client, expiry) in durin_rows {
        sql.push_str(&format!(
            "INSERT INTO durin_authtoken (token, created, expiry, client_id, user_id) VALUES \
             ('{token}', {now}, {}, {client}, {user});\n",
            db.at(expiry)
        ));
    }
    sql.push_str(&format!(
        "INSERT INTO authtoken_token (key, created, user_id) VALUES ('{}', {}, 1), ('{}', {}, 2);\n",
        t.drf_alice,
        db.at(-86_400),
        t.drf_expired,
        db.at(-40 * 86_400)
    ));
    for (token, user, expiry) in [
        (&t.knox_alice, 1, Some(36_000)),
        (&t.knox_bob, 2, None),
        (&t.knox_expired, 1, Some(-1)),
    ] {
        let digest: String = Sha512::digest(token.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let expiry = expiry.map_or("NULL".to_owned(), |e| db.at(e));
        sql.push_str(&format!(
            "INSERT INTO knox_authtoken (digest, token_key, created, user_id, expiry) VALUES \
             ('{digest}', '{}', {now}, {user}, {expiry});\n",
            &token[..15]
        ));
    }
    db.exec(sql).await;
    t
}

async fn import(cluster: &Cluster, db: &Django, library: &str) -> Value {
    let run = cluster
        .cli(&["import", library, "--source", db.url(), "--json"])
        .await;
    serde_json::from_str(run.ok()).expect("JSON")
}

async fn me(server: &Server, keyword: &str, token: &str) -> Response {
    server
        .send(
            server
                .http
                .get(server.url("/api/me"))
                .header("Authorization", format!("{keyword} {token}")),
        )
        .await
}

#[track_caller]
fn assert_me(r: &Response, user: &str, client: &str) {
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["user"], user);
    assert_eq!(r.body["client"], client);
}

async fn migrate_from(source: &str, backend: &str) {
    if !backend_selected(backend) {
        return;
    }
    let cluster = Cluster::start(
        backend,
        2,
        &[
            "--accept-legacy-tokens",
            "--client=gateway:never",
            "--introspection-client=gateway",
        ],
    )
    .await;
    let db = Django::create(source).await;
    let t = fill(&db).await;

    // django-rest-durin: `web` exists on the servers already (kept), `mobile-app` is new.
    let report = import(&cluster, &db, "django-rest-durin").await;
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(report["skipped"]["expired"], 1, "{report}");
    assert_eq!(report["skipped"]["unknown_user"], 1, "{report}");
    let actions: Vec<(String, String)> = report["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(actions.contains(&("web".into(), "kept".into())), "{report}");
    assert!(
        actions.contains(&("mobile-app".into(), "created".into())),
        "{report}"
    );
    let report = import(&cluster, &db, "drf-authtoken").await;
    assert_eq!(report["imported"], 1, "{report}");
    assert_eq!(report["skipped"]["expired"], 1, "{report}");
    let report = import(&cluster, &db, "knox").await;
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(report["skipped"]["expired"], 1, "{report}");

    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    // Old tokens authenticate, with `Token` (django-rest-durin's keyword) and `Bearer`.
    assert_me(&me(a, "Token", &t.durin_alice_web).await, "alice", "web");
    assert_me(&me(b, "Bearer", &t.durin_alice_web).await, "alice", "web");
    assert_me(
        &me(b, "Token", &t.durin_bob_mobile).await,
        "bob",
        "mobile-app",
    );
    assert_me(&me(a, "Token", &t.drf_alice).await, "alice", "legacy");
    // knox: the first use re-keys the session; the token keeps working on every node.
    assert_me(&me(a, "Token", &t.knox_alice).await, "alice", "legacy");
    assert_me(&me(b, "Token", &t.knox_alice).await, "alice", "legacy");
    assert_me(&me(a, "Bearer", &t.knox_alice).await, "alice", "legacy");
    assert_me(&me(b, "Token", &t.knox_bob).await, "bob", "legacy");
    // A legacy token introspects as it authenticates.
    let run = cluster
        .cli(&["apikey", "create", "--user=gw", "--client=gateway"])
        .await;
    let gateway = run.ok().trim().to_owned();
    for (token, user, client) in [
        (&t.durin_alice_web, "alice", "web"),
        (&t.knox_bob, "bob", "legacy"),
    ] {
        let r = b
            .send(
                b.http
                    .post(b.url("/api/introspect/"))
                    .bearer_auth(&gateway)
                    .form(&[("token", token.as_str())]),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["active"], true, "{:?}", r.body);
        assert_eq!(
            (&r.body["sub"], &r.body["client_id"]),
            (&json!(user), &json!(client))
        );
    }
    // Without --accept-legacy-tokens the same token is refused (before any I/O).
    let plain = Server::start_with(
        &a.package,
        backend,
        &durin_contract::standard_flags(),
        Some(&cluster.database_url),
    )
    .await;
    let refused = me(&plain, "Token", &t.durin_alice_web).await;
    assert_eq!(refused.status, 401, "{:?}", refused.body);
    plain.stop().await;
    // Expired imports were refused at import time: the servers do not know them.
    for expired in [&t.durin_expired, &t.drf_expired, &t.knox_expired] {
        assert_eq!(me(a, "Token", expired).await.status, 401);
    }
    // A second import changes nothing, re-keyed knox sessions included.
    for (library, count) in [("django-rest-durin", 2), ("drf-authtoken", 1), ("knox", 2)] {
        let report = import(&cluster, &db, library).await;
        assert_eq!(report["imported"], 0, "{library}: {report}");
        assert_eq!(report["skipped"]["duplicate"], count, "{library}: {report}");
    }
    // sessions/ lists the imported session; logout ends it.
    let sessions = b.get("/api/sessions/", &t.knox_alice).await;
    assert_eq!(sessions.status, 200, "{:?}", sessions.body);
    let listed = sessions.body.to_string();
    assert!(listed.contains("knox-"), "{listed}");
    let logout = a.post("/api/logout/", &t.knox_alice).await;
    assert_eq!(logout.status, 204, "{:?}", logout.body);
    durin_contract::eventually(
        "logout reaches the other node",
        Duration::from_secs(10),
        || async { me(b, "Token", &t.knox_alice).await.status == 401 },
    )
    .await;
    assert_eq!(me(a, "Token", &t.knox_alice).await.status, 401);
    let logout = b.post("/api/logout/", &t.durin_alice_web).await;
    assert_eq!(logout.status, 204, "{:?}", logout.body);
    assert_eq!(me(b, "Token", &t.durin_alice_web).await.status, 401);
    // Other imported sessions are untouched.
    assert_me(&me(a, "Token", &t.knox_bob).await, "bob", "legacy");
    db.drop().await;
    for node in cluster.nodes {
        node.stop().await;
    }
}

#[tokio::test]
async fn from_sqlite_to_sqlite() {
    migrate_from("sqlite", "sqlite").await;
}

#[tokio::test]
async fn from_postgres_to_sqlite() {
    migrate_from("postgres", "sqlite").await;
}

#[tokio::test]
async fn from_sqlite_to_postgres() {
    migrate_from("sqlite", "postgres").await;
}

#[tokio::test]
async fn from_postgres_to_postgres() {
    migrate_from("postgres", "postgres").await;
}

#[tokio::test]
async fn from_postgres_to_redis() {
    migrate_from("postgres", "redis").await;
}

#[tokio::test]
async fn from_sqlite_to_redis() {
    migrate_from("sqlite", "redis").await;
}
