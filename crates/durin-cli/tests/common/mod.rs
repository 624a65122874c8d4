//! Shared by the CLI tests: fresh databases (a new SQLite file, a new PostgreSQL schema),
//! running the `durin` binary (plainly or on a pseudo-terminal), and store-side helpers.
//! An unreachable PostgreSQL fails the test with a message; nothing skips.

// Each test binary that includes this module uses part of it, and `pub` here only means
// "visible to the tests".
#![allow(dead_code, unreachable_pub)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use durin_core::testing::unique;
use durin_core::{
    Client, ClientName, DigestKey, Durin, LoginOptions, Session, SessionQuery, UserId,
};
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// Databases

/// The PostgreSQL test database.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/durin_test".to_owned())
}

/// A fresh, empty (unmigrated) database for one test.
pub struct Db {
    /// What `--database-url` gets.
    pub url: String,
    /// The PostgreSQL schema, dropped by [`Db::finish`].
    pub schema: Option<String>,
}

impl Db {
    /// A new SQLite file under the target's temp directory.
    pub fn sqlite() -> Db {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("durin-cli");
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join(format!("{}.db", unique("cli")));
        Db {
            url: format!("sqlite://{}", file.display()),
            schema: None,
        }
    }

    /// A new schema in the test database; the URL selects it with libpq's `options`
    /// parameter (`-c search_path=...`), which sqlx passes to the server.
    pub async fn postgres() -> Db {
        let base = database_url();
        let schema = unique("durin_cli").to_lowercase().replace('-', "_");
        let admin = sqlx::PgPool::connect(&base).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at {base} is unreachable ({e}): start it with scripts/services.sh \
                 or point DATABASE_URL at a server"
            )
        });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .expect("create schema");
        admin.close().await;
        let separator = if base.contains('?') { '&' } else { '?' };
        Db {
            url: format!("{base}{separator}options=-csearch_path%3D{schema}"),
            schema: Some(schema),
        }
    }

    /// A new key prefix in the Redis of `REDIS_URL` (default 127.0.0.1:6379).
    pub fn redis() -> Db {
        let base =
            std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let prefix = unique("cli").replace('-', "");
        Db {
            url: format!("{}/?prefix={prefix}", base.trim_end_matches('/')),
            schema: None,
        }
    }

    /// A new key prefix on the Redis Cluster of `REDIS_CLUSTER_URL` (default the
    /// cluster `scripts/services.sh` starts on 127.0.0.1:7001-7006).
    pub fn redis_cluster() -> Db {
        let base = std::env::var("REDIS_CLUSTER_URL").unwrap_or_else(|_| {
            "redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003".to_owned()
        });
        let prefix = unique("clic").replace('-', "");
        Db {
            url: format!("{}/?prefix={prefix}", base.trim_end_matches('/')),
            schema: None,
        }
    }

    /// The stores of this database, migrated, for setting up and checking from the test.
    pub async fn stores(&self) -> Stores {
        let backend = durin_connect::open(&self.url)
            .await
            .expect("open the test store");
        backend.migrate().await.expect("migrate the test store");
        Stores {
            tokens: backend.clone().tokens(),
            clients: backend.clone().clients(),
            admin: backend
                .clone()
                .admin()
                .expect("every built-in backend has admin"),
            settings: backend
                .settings()
                .expect("every built-in backend has settings"),
        }
    }

    /// Drops the PostgreSQL schema (a failed test keeps its schema for inspection).
    pub async fn finish(self) {
        if let Some(schema) = self.schema {
            let admin = sqlx::PgPool::connect(&database_url())
                .await
                .expect("reconnect to drop the schema");
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await
                .expect("drop schema");
            admin.close().await;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Running the binary

/// What one run of `durin` did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns the run.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "durin failed: {self:#?}");
        self
    }

    /// Asserts the exit code and that stderr contains each fragment.
    #[track_caller]
    pub fn fails(self, code: i32, fragments: &[&str]) -> Run {
        assert_eq!(self.code, code, "unexpected exit code: {self:#?}");
        for fragment in fragments {
            assert!(
                self.stderr.contains(fragment),
                "stderr lacks {fragment:?}: {self:#?}"
            );
        }
        self
    }

    /// Standard output as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// The binary with a clean environment: no `DURIN_*` variable leaks in from the shell.
fn command(db_url: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_durin"));
    for var in [
        "DURIN_DATABASE_URL",
        "DURIN_SECRET",
        "DURIN_API_ACCESS_CLIENT",
    ] {
        command.env_remove(var);
    }
    if let Some(url) = db_url {
        command.env("DURIN_DATABASE_URL", url);
    }
    command
}

/// Runs `durin ARGS` against `db`, with `env` set and `stdin` piped in (none: empty).
pub fn run_with(db: Option<&Db>, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut command = command(db.map(|db| db.url.as_str()));
    command
        .args(args)
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("run durin");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    let output = child.wait_with_output().expect("wait for durin");
    Run {
        code: output.status.code().expect("durin was killed by a signal"),
        stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
    }
}

/// Runs `durin ARGS` against `db`.
pub fn durin(db: &Db, args: &[&str]) -> Run {
    run_with(Some(db), args, &[], None)
}

/// Runs `durin ARGS` against `db` on a pseudo-terminal (util-linux `script`), typing
/// `input`; stdout holds everything the terminal showed.
pub fn durin_on_terminal(db: &Db, args: &[&str], input: &str) -> Run {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let line: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_durin"))
        .chain(args.iter().copied())
        .map(quote)
        .collect();
    let mut command = Command::new("script");
    for var in ["DURIN_SECRET", "DURIN_API_ACCESS_CLIENT"] {
        command.env_remove(var);
    }
    let mut child = command
        .args(["--quiet", "--echo", "never", "--return", "--command"])
        .arg(line.join(" "))
        .arg("/dev/null")
        .env("DURIN_DATABASE_URL", &db.url)
        .env("SHELL", "/bin/sh")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("util-linux `script` is needed for the terminal tests ({e}); apt-get install bsdutils")
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("type into the terminal");
    let output = child.wait_with_output().expect("wait for script");
    Run {
        code: output.status.code().expect("script was killed by a signal"),
        stdout: String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n"),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

// ---------------------------------------------------------------------------------------
// Helpers on the store side

pub fn name(s: &str) -> ClientName {
    ClientName::new(s).expect("valid client name")
}

pub fn user(s: &str) -> UserId {
    UserId::new(s).expect("valid user id")
}

/// A service over `stores` with a throwaway key, for issuing sessions to list.
pub fn service(stores: &Stores) -> Durin {
    Durin::builder(
        stores.tokens.clone(),
        stores.clients.clone(),
        DigestKey::generate("test"),
    )
    .client_cache_ttl(Duration::ZERO)
    .build()
}

/// Issues one session of `client` for each user.
pub async fn login_all(durin: &Durin, client: &str, users: &[&str]) -> Vec<Session> {
    let mut sessions = Vec::new();
    for u in users {
        let login = durin
            .login(&user(u), &name(client), LoginOptions::default())
            .await
            .expect("login");
        sessions.push(login.session);
    }
    sessions
}

pub async fn all_sessions(stores: &Stores, client: &str) -> Vec<Session> {
    stores
        .admin
        .list_sessions(&SessionQuery {
            user: None,
            client: Some(name(client)),
            after: None,
            limit: 1000,
        })
        .await
        .expect("list sessions")
}

pub async fn client_of(stores: &Stores, client: &str) -> Option<Client> {
    stores
        .clients
        .get_client(&name(client))
        .await
        .expect("get client")
}

/// A directory for key files, removed when dropped.
pub fn key_dir() -> tempfile::TempDir {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tempfile::tempdir_in(root).expect("temp dir")
}

/// The parts of a test database's backend the tests set up and check with.
pub struct Stores {
    /// Sessions.
    pub tokens: std::sync::Arc<dyn durin_core::TokenStore>,
    /// Clients.
    pub clients: std::sync::Arc<dyn durin_core::ClientStore>,
    /// Administration over all sessions.
    pub admin: std::sync::Arc<dyn durin_core::SessionAdmin>,
    /// Settings per (user, client).
    pub settings: std::sync::Arc<dyn durin_core::SettingsStore>,
}
