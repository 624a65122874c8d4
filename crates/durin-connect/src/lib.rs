//! Opens any durin store from a URL, for binaries that take `--database-url`: the
//! `durin` admin CLI and the example servers.
//!
//! | URL | store |
//! |---|---|
//! | `sqlite:path`, `sqlite://path`, `sqlite::memory:` | [`durin_sqlx::SqliteStore`] |
//! | `postgres://...`, `postgresql://...` | [`durin_sqlx::PostgresStore`] |
//! | `redis://host:port[/db][?prefix=P]`, `rediss://...` | [`durin_redis::RedisStore`] and [`durin_redis::RedisThrottle`] (key prefix `P`, default `durin`) |
//!
//! ```no_run
//! # async fn demo() -> Result<(), durin_connect::ConnectError> {
//! let stores = durin_connect::open("sqlite://durin.db").await?;
//! stores.migrate().await?;
//! let clients = stores.clients.list_clients().await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use durin_core::{
    ClientStore, DigestKey, SessionAdmin, SettingsStore, StoreError, Throttle, TokenStore,
};
use durin_sqlx::{PostgresStore, SqliteStore};

/// Which backend a URL named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// SQLite (a file or in memory).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// Redis.
    Redis,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Redis => "redis",
        })
    }
}

/// One backend, seen through every trait durin needs.
#[derive(Clone)]
pub struct Stores {
    /// Sessions.
    pub tokens: Arc<dyn TokenStore>,
    /// Clients.
    pub clients: Arc<dyn ClientStore>,
    /// Administration over all sessions.
    pub admin: Arc<dyn SessionAdmin>,
    /// Settings per (user, client).
    pub settings: Arc<dyn SettingsStore>,
    /// A throttle shared by every process on this backend, when it has one (Redis);
    /// `None` means an in-process throttle is the right choice.
    pub throttle: Option<Arc<dyn Throttle>>,
    /// Which backend this is.
    pub backend: Backend,
    sql: Sql,
}

#[derive(Clone)]
enum Sql {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PostgresStore>),
    None,
}

impl fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stores")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
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
    /// The backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens the store `url` names (see the table in the crate docs). Does not migrate.
///
/// # Errors
/// [`ConnectError::UnsupportedUrl`], or the backend's error (unreachable: `Unavailable`).
pub async fn open(url: &str) -> Result<Stores, ConnectError> {
    open_with(url, &durin_sqlx::PoolConfig::default()).await
}

/// [`open`] with pool settings for the SQL backends.
///
/// # Errors
/// As [`open`].
pub async fn open_with(url: &str, pool: &durin_sqlx::PoolConfig) -> Result<Stores, ConnectError> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "sqlite" => Ok(Stores::sqlite(Arc::new(
            SqliteStore::connect_with(url, pool).await?,
        ))),
        "postgres" | "postgresql" => Ok(Stores::postgres(Arc::new(
            PostgresStore::connect_with(url, pool).await?,
        ))),
        "redis" | "rediss" => {
            let (url, config) = redis_config(url)?;
            let store = durin_redis::RedisStore::connect_with(&url, config)
                .await
                .map_err(StoreError::from)?;
            Ok(Stores::redis(Arc::new(store)))
        }
        _ => Err(ConnectError::UnsupportedUrl(redact(url))),
    }
}

/// Like [`open_with`], but connections open on first use: it fails only for a malformed
/// or unsupported URL, and while the backend is unreachable every operation answers
/// [`StoreError::Unavailable`] (HTTP 503) until it comes back. For servers that must
/// start, and answer, whatever the state of their database.
///
/// # Errors
/// [`ConnectError::UnsupportedUrl`]; [`StoreError::Backend`] for a malformed URL.
pub fn open_lazy(url: &str, pool: &durin_sqlx::PoolConfig) -> Result<Stores, ConnectError> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "sqlite" => Ok(Stores::sqlite(Arc::new(SqliteStore::connect_lazy(
            url, pool,
        )?))),
        "postgres" | "postgresql" => Ok(Stores::postgres(Arc::new(PostgresStore::connect_lazy(
            url, pool,
        )?))),
        "redis" | "rediss" => {
            let (url, config) = redis_config(url)?;
            let store =
                durin_redis::RedisStore::connect_lazy(&url, config).map_err(StoreError::from)?;
            Ok(Stores::redis(Arc::new(store)))
        }
        _ => Err(ConnectError::UnsupportedUrl(redact(url))),
    }
}

/// Splits durin's `prefix` query parameter off a Redis URL.
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

impl Stores {
    fn redis(store: Arc<durin_redis::RedisStore>) -> Self {
        let throttle = durin_redis::RedisThrottle::from_store(&store);
        Stores {
            tokens: store.clone(),
            clients: store.clone(),
            admin: store.clone(),
            settings: store,
            throttle: Some(Arc::new(throttle)),
            backend: Backend::Redis,
            sql: Sql::None,
        }
    }

    fn sqlite(store: Arc<SqliteStore>) -> Self {
        Stores {
            tokens: store.clone(),
            clients: store.clone(),
            admin: store.clone(),
            settings: store.clone(),
            throttle: None,
            backend: Backend::Sqlite,
            sql: Sql::Sqlite(store),
        }
    }

    fn postgres(store: Arc<PostgresStore>) -> Self {
        Stores {
            tokens: store.clone(),
            clients: store.clone(),
            admin: store.clone(),
            settings: store.clone(),
            throttle: None,
            backend: Backend::Postgres,
            sql: Sql::Postgres(store),
        }
    }

    /// Applies pending migrations (SQL backends; a no-op for Redis).
    ///
    /// # Errors
    /// [`StoreError`] when a migration fails.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.sql {
            Sql::Sqlite(store) => store.migrate().await,
            Sql::Postgres(store) => store.migrate().await,
            Sql::None => Ok(()),
        }
    }

    /// Whether this backend has schema migrations.
    pub fn has_migrations(&self) -> bool {
        matches!(self.backend, Backend::Sqlite | Backend::Postgres)
    }
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
}

/// The server's digest key, as every durin binary finds it: the `DURIN_SECRET`
/// environment variable (its bytes are the HMAC key) when set, else the hex in
/// `key_file`, created with 32 random bytes (mode 0600) when it does not exist.
///
/// The CLI and the server must use the same key: tokens are stored as digests under it.
///
/// # Errors
/// [`KeyFileError`] when the file cannot be read, created or parsed.
pub fn load_key(key_file: &Path) -> Result<DigestKey, KeyFileError> {
    if let Some(secret) = std::env::var_os(SECRET_ENV).filter(|s| !s.is_empty()) {
        let bytes = secret.into_encoded_bytes();
        return Ok(DigestKey::new("env", bytes).expect("a non-empty secret is a valid key"));
    }
    let io = |source| KeyFileError::Io {
        path: key_file.display().to_string(),
        source,
    };
    match std::fs::read_to_string(key_file) {
        Ok(text) => {
            let bytes = from_hex(text.trim())
                .filter(|b| b.len() >= 32)
                .ok_or_else(|| KeyFileError::Malformed(key_file.display().to_string()))?;
            Ok(DigestKey::new("file", bytes).expect("32+ bytes make a valid key"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = DigestKey::generate("file");
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(key_file) {
                Ok(mut file) => {
                    file.write_all(to_hex(key.expose_secret()).as_bytes())
                        .and_then(|()| file.write_all(b"\n"))
                        .map_err(io)?;
                    Ok(key)
                }
                // Another process created it meanwhile: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_key(key_file),
                Err(e) => Err(io(e)),
            }
        }
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

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
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

    #[tokio::test]
    async fn unknown_schemes_are_refused_with_the_accepted_forms() {
        let err = open("mysql://root:pw@localhost/x").await.unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("mysql://root:***@localhost/x"), "{msg}");
        assert!(msg.contains("sqlite:"), "{msg}");
    }

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

    #[tokio::test]
    async fn sqlite_memory_opens_and_migrates() {
        let stores = open("sqlite::memory:").await.unwrap();
        assert_eq!(stores.backend, Backend::Sqlite);
        stores.migrate().await.unwrap();
        assert!(stores.clients.list_clients().await.unwrap().is_empty());
    }
}
