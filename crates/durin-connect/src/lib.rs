//! Opens any durin store from a URL into a [`durin_core::Backend`], for binaries that
//! take `--database-url`: the `durin` admin CLI and the example servers. A
//! [`durin_core::Node`] built on the backend runs the rest.
//!
//! | URL | backend |
//! |---|---|
//! | `sqlite:path`, `sqlite://path`, `sqlite::memory:` | [`durin_sqlx::SqliteStore`] |
//! | `postgres://...`, `postgresql://...` | [`durin_sqlx::PostgresStore`] |
//! | `redis://host:port[/db][?prefix=P]`, `rediss://...` | [`durin_redis::RedisStore`] (key prefix `P`, default `durin`) |
//! | `redis+cluster://HOST:PORT[,HOST:PORT...][/?prefix=P][&wait_replicas=N]` | the same on a Redis Cluster ([`durin_redis::RedisStore::open_url`]) |
//!
//! Each backend is a cargo feature, all on by default; a URL of a backend the build leaves
//! out is refused with [`ConnectError::FeatureDisabled`], naming the feature:
//!
//! | feature | URLs | pulls in |
//! |---|---|---|
//! | `sqlite` (default) | `sqlite:` | durin-sqlx's `sqlite` (sqlx's SQLite driver) |
//! | `postgres` (default) | `postgres://`, `postgresql://` | durin-sqlx's `postgres` (sqlx's PostgreSQL driver) |
//! | `redis` (default) | `redis://`, `rediss://`, `redis+cluster://` | durin-redis |
//!
//! durin-sqlx itself is always a dependency (for [`durin_sqlx::PoolConfig`]), without a
//! driver unless `sqlite` or `postgres` is on.
//!
//! Every backend durin ships is a multi-node backend: its throttle, failed-login limit
//! and invalidation channel live in the store. A server runs
//!
//! ```no_run
//! # async fn demo(key: durin_core::DigestKey) -> Result<(), Box<dyn std::error::Error>> {
//! let backend = durin_connect::open("postgres://app@db/app").await?;
//! backend.migrate().await?;
//! let node = durin_core::Node::builder(backend, key).start()?;
//! let durin = node.durin().clone();
//! // ... serve ...
//! node.shutdown().await;
//! # Ok(()) }
//! ```

use std::fmt;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use durin_core::{Backend, DigestKey, StoreError};
#[cfg(feature = "postgres")]
use durin_sqlx::PostgresStore;
#[cfg(feature = "sqlite")]
use durin_sqlx::SqliteStore;

/// Which kind of backend a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// SQLite (a file or in memory).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// Redis.
    Redis,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.feature())
    }
}

impl Kind {
    /// The cargo feature of durin-connect that opens it (also its backend name).
    fn feature(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
            Kind::Redis => "redis",
        }
    }
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL's scheme is not one durin knows.
    #[error(
        "unsupported database URL {0:?}: use sqlite:PATH, sqlite::memory:, postgres://USER@HOST/DB or redis://HOST:PORT"
    )]
    UnsupportedUrl(String),
    /// The URL names a backend this build leaves out (a cargo feature of durin-connect).
    #[error("{scheme}: URLs need durin-connect's `{feature}` feature, which this build leaves out")]
    FeatureDisabled {
        /// The URL's scheme.
        scheme: String,
        /// The feature that would open it.
        feature: &'static str,
    },
    /// The backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens the backend `url` names (see the table in the crate docs). Does not migrate.
///
/// # Errors
/// [`ConnectError::UnsupportedUrl`], [`ConnectError::FeatureDisabled`], or the backend's
/// error (unreachable: `Unavailable`).
pub async fn open(url: &str) -> Result<Arc<dyn Backend>, ConnectError> {
    open_with(url, &durin_sqlx::PoolConfig::default()).await
}

/// [`open`] with pool settings for the SQL backends.
///
/// # Errors
/// As [`open`].
pub async fn open_with(
    url: &str,
    pool: &durin_sqlx::PoolConfig,
) -> Result<Arc<dyn Backend>, ConnectError> {
    let _ = pool; // unused when neither SQL feature is on
    match kind_of(url)? {
        #[cfg(feature = "sqlite")]
        Kind::Sqlite => Ok(Arc::new(SqliteStore::connect_with(url, pool).await?)),
        #[cfg(feature = "postgres")]
        Kind::Postgres => Ok(Arc::new(PostgresStore::connect_with(url, pool).await?)),
        #[cfg(feature = "redis")]
        Kind::Redis if url.starts_with("redis+cluster:") => Ok(Arc::new(
            durin_redis::RedisStore::open_url(url)
                .await
                .map_err(StoreError::from)?,
        )),
        #[cfg(feature = "redis")]
        Kind::Redis => {
            let (url, config) = redis_config(url)?;
            let store = durin_redis::RedisStore::connect_with(&url, config)
                .await
                .map_err(StoreError::from)?;
            Ok(Arc::new(store))
        }
        #[allow(unreachable_patterns)] // reachable only when a feature is off
        kind => Err(disabled(url, kind)),
    }
}

/// Like [`open_with`], but connections open on first use: it fails only for a malformed
/// or unsupported URL, and while the backend is unreachable every operation answers
/// [`StoreError::Unavailable`] (HTTP 503) until it comes back. For servers that must
/// start, and answer, whatever the state of their database.
///
/// # Errors
/// [`ConnectError::UnsupportedUrl`], [`ConnectError::FeatureDisabled`];
/// [`StoreError::Backend`] for a malformed URL.
pub fn open_lazy(
    url: &str,
    pool: &durin_sqlx::PoolConfig,
) -> Result<Arc<dyn Backend>, ConnectError> {
    let _ = pool; // unused when neither SQL feature is on
    match kind_of(url)? {
        #[cfg(feature = "sqlite")]
        Kind::Sqlite => Ok(Arc::new(SqliteStore::connect_lazy(url, pool)?)),
        #[cfg(feature = "postgres")]
        Kind::Postgres => Ok(Arc::new(PostgresStore::connect_lazy(url, pool)?)),
        #[cfg(feature = "redis")]
        Kind::Redis if url.starts_with("redis+cluster:") => Ok(Arc::new(
            durin_redis::RedisStore::open_url_lazy(url).map_err(StoreError::from)?,
        )),
        #[cfg(feature = "redis")]
        Kind::Redis => {
            let (url, config) = redis_config(url)?;
            let store =
                durin_redis::RedisStore::connect_lazy(&url, config).map_err(StoreError::from)?;
            Ok(Arc::new(store))
        }
        #[allow(unreachable_patterns)] // reachable only when a feature is off
        kind => Err(disabled(url, kind)),
    }
}

/// [`open_lazy`] for PostgreSQL with read replicas and a listen URL
/// ([`durin_sqlx::ReplicaOptions`]): the primary's connections open on first use, while
/// each replica is connected and checked now (a malformed or unreachable read URL, or one
/// that is not a replica, is an error naming it, password redacted).
///
/// # Errors
/// As [`open_lazy`]; [`StoreError::Backend`] when `replicas` is not empty and `url` is
/// not PostgreSQL; the replicas' errors.
#[cfg(feature = "postgres")]
pub async fn open_lazy_with_replicas(
    url: &str,
    pool: &durin_sqlx::PoolConfig,
    replicas: &durin_sqlx::ReplicaOptions,
) -> Result<Arc<dyn Backend>, ConnectError> {
    if replicas.read_urls.is_empty() && replicas.listen_url.is_none() {
        return open_lazy(url, pool);
    }
    match kind_of(url)? {
        Kind::Postgres => Ok(Arc::new(
            PostgresStore::connect_lazy(url, pool)?
                .with_replicas(pool, replicas)
                .await?,
        )),
        _ => Err(ConnectError::Store(StoreError::backend(format!(
            "read replicas and a listen URL need a postgres:// database URL, not {}",
            redact(url)
        )))),
    }
}

/// Which kind of backend `url` names, before any feature is considered.
///
/// # Errors
/// [`ConnectError::UnsupportedUrl`] for a scheme durin does not know.
pub fn kind_of(url: &str) -> Result<Kind, ConnectError> {
    match url.split(':').next().unwrap_or_default() {
        "sqlite" => Ok(Kind::Sqlite),
        "postgres" | "postgresql" => Ok(Kind::Postgres),
        "redis" | "rediss" | "redis+cluster" => Ok(Kind::Redis),
        _ => Err(ConnectError::UnsupportedUrl(redact(url))),
    }
}

/// The error for a backend whose feature is off.
fn disabled(url: &str, kind: Kind) -> ConnectError {
    ConnectError::FeatureDisabled {
        scheme: url.split(':').next().unwrap_or_default().to_owned(),
        feature: kind.feature(),
    }
}

/// Splits durin's `prefix` query parameter off a Redis URL.
#[cfg(feature = "redis")]
fn redis_config(url: &str) -> Result<(String, durin_redis::RedisConfig), ConnectError> {
    let mut config = durin_redis::RedisConfig::new();
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), config));
    };
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("prefix", prefix)) if !prefix.is_empty() => config = config.with_prefix(prefix),
            Some(("prefix", _)) => {
                return Err(ConnectError::UnsupportedUrl(format!(
                    "{}: the prefix must not be empty",
                    redact(url)
                )));
            }
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, config))
}

/// The environment variable holding the server secret.
pub const SECRET_ENV: &str = "DURIN_SECRET";

/// Why the server key could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The key file could not be read or created.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// The key file does not hold 32 or more bytes as hex.
    #[error(
        "key file {0} must hold at least 64 hex digits (a 32-byte key); delete it to generate a new one (this logs every user out)"
    )]
    Malformed(String),
    /// The key file may be read by its group or by others (the key forges nothing, but
    /// with a copy of the store it lets an attacker test guessed tokens offline).
    #[error(
        "key file {path} is readable by group or others (mode {mode:03o}); run `chmod 600 {path}`"
    )]
    Permissions {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// `DURIN_SECRET` is set but shorter than 32 bytes.
    #[error(
        "DURIN_SECRET holds {0} bytes; it must hold at least 32 (e.g. 64 hex digits from `openssl rand -hex 32`)"
    )]
    ShortSecret(usize),
}

/// The shortest `DURIN_SECRET` accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// The server's digest key, as every durin binary finds it: the `DURIN_SECRET`
/// environment variable (its bytes are the HMAC key, at least 32 of them) when set, else
/// the hex in `key_file`, created with 32 random bytes (mode 0600) when it does not exist.
///
/// Creation is safe against processes starting together: the key is written to a
/// temporary file in the same directory (mode 0600), synced, then hard-linked into place,
/// which never overwrites; the loser of a race reads the winner's file. A key file that
/// its group or others may read is refused.
///
/// The CLI and the server must use the same key: tokens are stored as digests under it.
///
/// # Errors
/// [`KeyFileError`] when the secret is too short, or the file cannot be read, created or
/// parsed, or is readable by others.
pub fn load_key(key_file: &Path) -> Result<DigestKey, KeyFileError> {
    if let Some(secret) = std::env::var_os(SECRET_ENV).filter(|s| !s.is_empty()) {
        return secret_key(secret.into_encoded_bytes());
    }
    match read_key_file(key_file) {
        Err(KeyFileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            create_key_file(key_file)
        }
        other => other,
    }
}

/// The key `DURIN_SECRET`'s bytes make, refusing fewer than [`MIN_SECRET_LEN`].
fn secret_key(bytes: Vec<u8>) -> Result<DigestKey, KeyFileError> {
    if bytes.len() < MIN_SECRET_LEN {
        return Err(KeyFileError::ShortSecret(bytes.len()));
    }
    Ok(DigestKey::new("env", bytes).expect("a non-empty secret is a valid key"))
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads an existing key file, refusing one that its group or others may read.
fn read_key_file(key_file: &Path) -> Result<DigestKey, KeyFileError> {
    let io = io_error(key_file);
    let mut file = std::fs::File::open(key_file).map_err(&io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata().map_err(&io)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Permissions {
                path: key_file.display().to_string(),
                mode,
            });
        }
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text).map_err(&io)?;
    let bytes = from_hex(text.trim())
        .filter(|b| b.len() >= 32)
        .ok_or_else(|| KeyFileError::Malformed(key_file.display().to_string()))?;
    Ok(DigestKey::new("file", bytes).expect("32+ bytes make a valid key"))
}

/// Creates the key file atomically: a complete temporary file is linked into place, so
/// no process ever reads a partly written key; if another process won, its key is read.
fn create_key_file(key_file: &Path) -> Result<DigestKey, KeyFileError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);

    let io = io_error(key_file);
    let dir = match key_file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = key_file
        .file_name()
        .map_or_else(|| "durin.key".into(), |n| n.to_string_lossy().into_owned());
    let key = DigestKey::generate("file");
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&tmp) {
            Ok(file) => break (tmp, file),
            // A leftover of a crashed process that had our pid: take the next name.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
    };
    let written = file
        .write_all(to_hex(key.expose_secret()).as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all());
    drop(file);
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, key_file));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            // Make the new name durable too (best effort: not every platform can open a
            // directory).
            #[cfg(unix)]
            if let Ok(dir) = std::fs::File::open(dir) {
                let _ = dir.sync_all();
            }
            Ok(key)
        }
        // Another process linked its key first: use theirs (it is complete: it was
        // written and synced before being linked).
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key_file(key_file),
        Err(e) => Err(io(e)),
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// The URL without its password, for messages: the password of the user info
/// (`postgres://app:***@db/app`) and the value of every query parameter that may hold a
/// secret (`?password=***`, `sslpassword`, `secret`, `token`, `key`...).
pub fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &base[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &base[..scheme_end + 3],
                    &userinfo[..colon],
                    &base[at..]
                ),
                None => base.to_owned(),
            }
        }
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((name, _)) if secret_param(name) => format!("{name}=***"),
                _ => param.to_owned(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

/// Whether a URL query parameter may hold a secret.
fn secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["pass", "pwd", "secret", "token", "key", "auth", "cred"]
        .iter()
        .any(|word| name.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cret@db/app"),
            "postgres://app:***@db/app"
        );
        assert_eq!(redact("postgres://app@db/app"), "postgres://app@db/app");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
        assert_eq!(
            redact("postgres://h/x?password=s3cretpw"),
            "postgres://h/x?password=***"
        );
        assert_eq!(
            redact("postgres://u:p@h/x?sslmode=require&sslpassword=s3&application_name=a"),
            "postgres://u:***@h/x?sslmode=require&sslpassword=***&application_name=a"
        );
        assert_eq!(
            redact("redis://h:6379/0?prefix=app&Password=x@y"),
            "redis://h:6379/0?prefix=app&Password=***"
        );
    }

    #[test]
    fn a_key_file_is_created_once_and_read_back() {
        let dir = std::env::temp_dir().join(format!("durin-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("durin.key");
        let _ = std::fs::remove_file(&path);
        // (DURIN_SECRET is not set in the test environment.)
        let first = load_key(&path).unwrap();
        let again = load_key(&path).unwrap();
        assert_eq!(first.expose_secret(), again.expose_secret());
        assert_eq!(first.expose_secret().len(), 32);
        std::fs::write(&path, "not hex").unwrap();
        assert!(matches!(load_key(&path), Err(KeyFileError::Malformed(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_short_secret_is_refused() {
        assert!(matches!(
            secret_key(b"too short".to_vec()),
            Err(KeyFileError::ShortSecret(9))
        ));
        assert!(secret_key(vec![b'x'; 31]).is_err());
        assert_eq!(
            secret_key(vec![b'x'; 32]).unwrap().expose_secret().len(),
            32
        );
    }

    #[tokio::test]
    async fn unknown_schemes_are_refused_with_the_accepted_forms() {
        let Err(err) = open("mysql://root:pw@localhost/x").await else {
            panic!("mysql is not a durin backend");
        };
        let msg = err.to_string();
        assert!(msg.contains("mysql://root:***@localhost/x"), "{msg}");
        assert!(msg.contains("sqlite:"), "{msg}");
    }

    #[cfg(feature = "redis")]
    #[test]
    fn the_redis_prefix_is_read_off_the_url() {
        let (url, config) = redis_config("redis://127.0.0.1:6379/2?prefix=app1").unwrap();
        assert_eq!(url, "redis://127.0.0.1:6379/2");
        assert_eq!(config.prefix(), "app1");
        let (url, config) = redis_config("redis://h/?protocol=resp3&prefix=x").unwrap();
        assert_eq!(url, "redis://h/?protocol=resp3");
        assert_eq!(config.prefix(), "x");
        assert!(redis_config("redis://h/?prefix=").is_err());
    }

    #[test]
    fn a_disabled_backend_names_its_feature() {
        let e = disabled("redis://127.0.0.1:6379", Kind::Redis);
        assert_eq!(
            e.to_string(),
            "redis: URLs need durin-connect's `redis` feature, which this build leaves out"
        );
        assert_eq!(kind_of("postgresql://h/db").unwrap(), Kind::Postgres);
        assert_eq!(
            kind_of("redis+cluster://h:7001,h:7002").unwrap(),
            Kind::Redis
        );
        assert!(matches!(
            kind_of("mysql://h/db"),
            Err(ConnectError::UnsupportedUrl(_))
        ));
    }

    #[cfg(not(feature = "redis"))]
    #[tokio::test]
    async fn urls_of_a_disabled_backend_are_refused() {
        let pool = durin_sqlx::PoolConfig::default();
        let Err(e) = open_lazy("redis://127.0.0.1:6379", &pool) else {
            panic!("the redis feature is off");
        };
        assert!(
            matches!(
                e,
                ConnectError::FeatureDisabled {
                    feature: "redis",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_memory_opens_and_migrates() {
        let backend = open("sqlite::memory:").await.unwrap();
        assert_eq!(backend.name(), "sqlite");
        backend.migrate().await.unwrap();
        assert!(backend.clients().list_clients().await.unwrap().is_empty());
    }
}
