//! What the example servers share, so `axum-server` and `actix-server` take the same flags
//! and serve the same demo: the command line, the store, the seeded users and clients, the
//! [`Api`] of the HTTP contract, and the start-up banner.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, SaltString};
use async_trait::async_trait;
use clap::Parser;
use durin_core::{
    Backend, CacheConfig, Client, ClientName, Durin, DurinBuilder, Node, Rate, StoreError, UserId,
    parse_duration, parse_ttl,
};
/// What the durin layer leaves in a request's extensions (for [`logged_session`]).
pub use durin_http::AuthOutcome;
use durin_http::{Api, CredentialChecker, LoginGuardConfig};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub mod openapi;
mod page;
pub mod passwords;

pub use page::{PAGE_HEADERS, TOKENS_CLIENT_CAP, http_config, tokens_client};

use passwords::{PasswordVerifier, StoredHash};

/// The routes the example servers serve besides `durin_http::ROUTES` (which they mount
/// under `/api/`), as `(method, full path)`, each only as written (no trailing-slash
/// twin). Both servers mount their demo routes from this list, and the test of
/// `docs/http-api.md` checks the page lists exactly these.
pub const DEMO_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/me"),
    ("GET", "/api/me-anonymous"),
    ("GET", "/api/throttled"),
    ("GET", "/api/only-web"),
    ("GET", "/api/no-web"),
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("GET", "/"),
    ("GET", "/api/openapi.json"),
];

/// The flags of both example servers (documented in `docs/http-api.md`).
#[derive(Clone, Parser)]
#[command(
    version,
    about = "durin example server: per-client token authentication over HTTP"
)]
pub struct Args {
    /// Address to listen on (`127.0.0.1:0` picks a free port; the banner prints it).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,
    /// Where sessions and clients live: `sqlite:PATH`, `sqlite::memory:`,
    /// `postgres://...` or `redis://...`.
    #[arg(long, env = "DURIN_DATABASE_URL", default_value = "sqlite://durin.db")]
    pub database_url: String,
    /// A streaming replica of the PostgreSQL `--database-url` (repeatable): token lookups
    /// are spread over the healthy ones, everything else stays on the primary. Checked at
    /// startup (it must answer and be in recovery).
    #[arg(long = "read-database-url", value_name = "URL")]
    pub read_database_urls: Vec<String>,
    /// Where the PostgreSQL invalidation channel `LISTEN`s, when `--database-url` goes
    /// through a transaction-mode pooler (where `LISTEN` silently receives nothing).
    #[arg(long, value_name = "URL")]
    pub listen_database_url: Option<String>,
    /// A read replica further behind the primary than this is skipped.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_positive_duration)]
    pub max_replica_lag: Duration,
    /// A demo user, `NAME:PASSWORD` (repeatable). The password is kept as an argon2 hash.
    #[arg(long = "user", value_name = "NAME:PASSWORD", value_parser = UserParser)]
    pub users: Vec<(String, String)>,
    /// A client, `NAME[:TTL[:RATE]]` (repeatable): TTL like `30s`, `15m`, `10h`, `7d`,
    /// `never` (default `1d`); RATE like `5/m`; `NAME::RATE` keeps the default TTL.
    #[arg(long = "client", value_name = "NAME[:TTL[:RATE]]", value_parser = parse_client)]
    pub clients: Vec<Client>,
    /// The client of `apiaccess/` (created with TTL `never` unless `--client` declares it).
    #[arg(long, value_name = "NAME", value_parser = parse_client_name)]
    pub api_access_client: Option<ClientName>,
    /// The client of the named personal tokens of `tokens/` (created with TTL `never` and
    /// a cap of 100 tokens per user unless `--client` declares it).
    #[arg(long, value_name = "NAME", value_parser = parse_client_name)]
    pub tokens_client: Option<ClientName>,
    /// The throttle rate of clients without one, for throttled routes.
    #[arg(long, value_name = "RATE")]
    pub default_throttle: Option<Rate>,
    /// How long a token lookup stays in the in-process cache, like `60s`, `5m`, `500ms`;
    /// `0` turns the cache off (every request asks the store): then this is zero.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_cache_ttl)]
    pub cache_ttl: Duration,
    /// A client whose tokens may call `POST /api/introspect/` (repeatable; RFC 7662). A
    /// gateway gets an API key of such a client with the `durin` CLI.
    #[arg(long = "introspection-client", value_name = "NAME", value_parser = parse_client_name)]
    pub introspection_clients: Vec<ClientName>,
    /// How often to purge expired sessions (past their grace period) from the store, like
    /// `1h`, `10m`; `0` turns the purge off (run `durin purge-expired` from cron
    /// instead).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_cache_ttl)]
    pub purge_every: Duration,
    /// The sliding window of the failed-login limits (10 failures per address and
    /// username, 50 per address), like `15m`; housekeeping deletes attempts older
    /// than it.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_positive_duration)]
    pub login_window: Duration,
    /// Run as the only process on the store: accepts a backend without a shared
    /// invalidation channel, throttle or attempt limiter (every backend durin ships has
    /// them), keeping those in this process's memory.
    #[arg(long)]
    pub single_node: bool,
    /// How long a client may take to send a request's headers (from the connection's
    /// start, or from the end of the previous response on a kept-alive connection);
    /// past it the connection is closed. `0` turns it off.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_cache_ttl)]
    pub header_timeout: Duration,
    /// How long a connection may stay without a byte in either direction, between or
    /// within requests, before it is closed (a request being answered is finished
    /// first). `0` turns it off.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_cache_ttl)]
    pub idle_timeout: Duration,
    /// How long a client may take to send a request's body, from the end of its headers;
    /// past it the body read fails (413 `Request body too large.`, the answer to a body
    /// that could not be read) and the connection is closed. `0` turns it off.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_cache_ttl)]
    pub body_timeout: Duration,
    /// The key file used when `DURIN_SECRET` is not set (created on first run).
    #[arg(long, default_value = "durin.key")]
    pub key_file: PathBuf,
    /// A reverse proxy whose `X-Forwarded-For` / `Forwarded` headers are believed, as a
    /// CIDR like `10.0.0.0/8` or an address (repeatable). Without it those headers are
    /// ignored and the peer's address is the client's.
    #[arg(long = "trusted-proxy", value_name = "CIDR", value_parser = parse_cidr)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header the `--trusted-proxy` proxies write the client's address in, the only
    /// one read: `x-forwarded-for` (the default) or `forwarded` (RFC 7239).
    #[arg(long, value_enum, default_value_t = ProxyHeader::XForwardedFor)]
    pub trusted_proxy_header: ProxyHeader,
    /// Accept tokens imported from Django by `durin import` (django-rest-durin, DRF and
    /// knox: `Authorization: Token <hex>` or `Bearer <hex>`). Off by default: legacy
    /// tokens have no checksum, so malformed-but-hex ones reach the store.
    #[arg(long)]
    pub accept_legacy_tokens: bool,
    /// Do not serve `GET /api/openapi.json` (it then answers 404).
    #[arg(long)]
    pub no_openapi: bool,
    /// Do not serve `GET /metrics` (Prometheus text format; served without a token by
    /// default) and record no metrics.
    #[arg(long)]
    pub no_metrics: bool,
    /// How logs are written to stderr: `text` (for people) or `json` (one JSON object
    /// per line, for log collectors). Each request is logged at completion with its
    /// method, route template, status, latency and, when it authenticated, its session
    /// id (never the token).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// The header of `--trusted-proxy-header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProxyHeader {
    /// `X-Forwarded-For`.
    XForwardedFor,
    /// `Forwarded` (RFC 7239).
    Forwarded,
}

/// The log format of `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (tracing-subscriber's JSON formatter).
    Json,
}

/// A duration above zero, like `15m` or `2s`.
fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be above zero".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a /32 or /128).
fn parse_cidr(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            format!(
                "invalid --trusted-proxy: expected a CIDR like 10.0.0.0/8 or an address, got {s:?}"
            )
        })
}

fn parse_user(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((name, password)) if !name.is_empty() && !password.is_empty() => {
            Ok((name.to_owned(), password.to_owned()))
        }
        // The value is not echoed: it may hold a password.
        _ => Err("invalid --user value: expected NAME:PASSWORD (both non-empty)".to_owned()),
    }
}

/// `--user` through [`parse_user`], with an error that does not quote the value: clap's
/// own message for a rejected value repeats it (`invalid value 'alice-s3cret'`), and this
/// one holds a password.
#[derive(Clone, Copy)]
struct UserParser;

impl clap::builder::TypedValueParser for UserParser {
    type Value = (String, String);

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Self::Value, clap::Error> {
        let refuse = |message: String| {
            clap::Error::raw(
                clap::error::ErrorKind::InvalidValue,
                format!("{message} (the value is not shown: it may hold a password)\n"),
            )
            .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("invalid --user value: not UTF-8".to_owned()))?;
        parse_user(text).map_err(refuse)
    }
}

/// Every flag, the demo users' passwords redacted.
impl std::fmt::Debug for Args {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let users: Vec<String> = self
            .users
            .iter()
            .map(|(name, _)| format!("{name}:[redacted]"))
            .collect();
        f.debug_struct("Args")
            .field("bind", &self.bind)
            .field("database_url", &durin_connect::redact(&self.database_url))
            .field(
                "read_database_urls",
                &self
                    .read_database_urls
                    .iter()
                    .map(|u| durin_connect::redact(u))
                    .collect::<Vec<_>>(),
            )
            .field(
                "listen_database_url",
                &self
                    .listen_database_url
                    .as_deref()
                    .map(durin_connect::redact),
            )
            .field("max_replica_lag", &self.max_replica_lag)
            .field("users", &users)
            .field("clients", &self.clients)
            .field("api_access_client", &self.api_access_client)
            .field("default_throttle", &self.default_throttle)
            .field("cache_ttl", &self.cache_ttl)
            .field("key_file", &self.key_file)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("trusted_proxy_header", &self.trusted_proxy_header)
            .field("tokens_client", &self.tokens_client)
            .field("accept_legacy_tokens", &self.accept_legacy_tokens)
            .field("introspection_clients", &self.introspection_clients)
            .field("purge_every", &self.purge_every)
            .field("login_window", &self.login_window)
            .field("single_node", &self.single_node)
            .field("header_timeout", &self.header_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("no_openapi", &self.no_openapi)
            .field("no_metrics", &self.no_metrics)
            .field("log_format", &self.log_format)
            .finish_non_exhaustive()
    }
}

/// `0` (no cache: zero) or a positive duration.
fn parse_cache_ttl(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    parse_duration(s).map_err(|e| e.to_string())
}

fn parse_client_name(s: &str) -> Result<ClientName, String> {
    ClientName::new(s).map_err(|e| e.to_string())
}

/// `NAME[:TTL[:RATE]]`.
pub fn parse_client(s: &str) -> Result<Client, String> {
    let mut parts = s.splitn(3, ':');
    let name = parse_client_name(parts.next().unwrap_or_default())?;
    let mut client = Client::new(name);
    if let Some(ttl) = parts.next().filter(|t| !t.is_empty()) {
        client = client.with_token_ttl(parse_ttl(ttl).map_err(|e| e.to_string())?);
    }
    if let Some(rate) = parts.next().filter(|r| !r.is_empty()) {
        let rate: Rate = rate
            .parse()
            .map_err(|e: durin_core::ParseError| e.to_string())?;
        client = client.with_throttle_rate(Some(rate));
    }
    Ok(client)
}

/// Demo users: names and argon2 password hashes, checked in constant time, with bounded
/// concurrency and memory ([`passwords::PasswordVerifier`]).
pub struct Users {
    hashes: HashMap<String, StoredHash>,
    /// Verified for unknown names, so that they take as long as known ones.
    decoy: StoredHash,
    verifier: PasswordVerifier,
}

impl Users {
    /// Hashes the passwords (argon2id, random salts).
    ///
    /// # Errors
    /// When hashing fails.
    pub fn new(users: &[(String, String)]) -> anyhow::Result<Self> {
        let hash = |password: &str| -> anyhow::Result<StoredHash> {
            let mut bytes = [0u8; 16];
            getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("OS random: {e}"))?;
            let salt = SaltString::encode_b64(&bytes)
                .map_err(|e| anyhow::anyhow!("encoding a salt: {e}"))?;
            let phc = Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?
                .to_string();
            StoredHash::parse(&phc)
        };
        let mut hashes = HashMap::new();
        for (name, password) in users {
            hashes.insert(name.clone(), hash(password)?);
        }
        Ok(Users {
            hashes,
            decoy: hash("decoy password")?,
            verifier: PasswordVerifier::per_core(),
        })
    }
}

#[async_trait]
impl CredentialChecker for Users {
    async fn check(&self, username: &str, password: &str) -> Result<Option<UserId>, StoreError> {
        let known = self.hashes.get(username);
        let ok = self
            .verifier
            .verify(known.unwrap_or(&self.decoy), password)
            .await?;
        Ok((ok && known.is_some())
            .then(|| UserId::new(username).ok())
            .flatten())
    }
}

/// A running demo: the API over the store, its background tasks, and what to print.
pub struct Demo {
    /// The endpoints and service.
    pub api: Api,
    /// The flags.
    pub args: Args,
    node: Node,
    metrics: Option<PrometheusHandle>,
}

/// The content type of `GET /metrics` (Prometheus text exposition format 0.0.4).
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// The buckets of the store-latency histogram, in seconds: 100 µs to 5 s.
const STORE_LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The Prometheus recorder of this process, installed at most once: the `metrics`
/// recorder is global, and a process that starts several demos (a test) must not fail
/// on the second. `None` when another recorder was installed first.
static RECORDER: std::sync::OnceLock<Option<PrometheusHandle>> = std::sync::OnceLock::new();

/// Installs the Prometheus recorder (once per process) and returns its handle, which
/// renders `GET /metrics`. It must run before the service is built: metric handles are
/// registered with the recorder installed at that moment.
pub fn install_metrics() -> Option<PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("durin_store_operation_seconds".to_owned()),
                    &STORE_LATENCY_BUCKETS,
                )
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    // Histograms keep their samples until drained: upkeep drains them
                    // even when nobody scrapes.
                    let upkeep = handle.clone();
                    tokio::spawn(async move {
                        loop {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                            upkeep.run_upkeep();
                        }
                    });
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "another metrics recorder is installed; /metrics is off");
                    None
                }
            }
        })
        .clone()
}

/// How long a stopping server lets in-flight requests finish (SIGTERM, Ctrl-C).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Resolves at the first SIGTERM or Ctrl-C (SIGINT), for the servers' graceful shutdown.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: shutting down"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// How many log lines the background writer may hold before it drops new ones.
pub const LOG_BUFFER_LINES: usize = 128_000;

/// The lines the background log writer dropped (its buffer was full: stderr could not
/// keep up), set by [`init_tracing`].
static LOG_DROPS: std::sync::OnceLock<tracing_appender::non_blocking::ErrorCounter> =
    std::sync::OnceLock::new();

/// Keeps the background log writer of [`init_tracing`] alive: keep it for the whole
/// process (dropping it flushes the lines still buffered and stops the writer).
#[must_use = "the log writer stops when the guard is dropped"]
pub struct LogGuard(Option<tracing_appender::non_blocking::WorkerGuard>);

impl Drop for LogGuard {
    fn drop(&mut self) {
        let dropped = log_lines_dropped();
        if dropped > 0 {
            // Written directly: the writer is about to stop.
            eprintln!("{dropped} log lines were dropped: stderr did not keep up");
        }
        drop(self.0.take());
    }
}

/// How many log lines were dropped so far because stderr did not keep up (0 before
/// [`init_tracing`]); `GET /metrics` shows it as `durin_log_lines_dropped`.
pub fn log_lines_dropped() -> usize {
    LOG_DROPS.get().map_or(0, |c| c.dropped_lines())
}

/// Logs to stderr at `RUST_LOG` (default `info`), as text or one JSON object per line.
///
/// The lines go through a bounded queue to a background thread that writes them
/// (`tracing-appender`'s non-blocking writer), so a request never waits on stderr. Under
/// overload, when [`LOG_BUFFER_LINES`] lines are waiting, new lines are dropped rather
/// than slowing requests down; [`log_lines_dropped`] counts them. Keep the returned guard
/// for the life of the process: dropping it flushes what is buffered.
pub fn init_tracing(format: LogFormat) -> LogGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_BUFFER_LINES)
        .thread_name("durin-log")
        .finish(std::io::stderr());
    let _ = LOG_DROPS.set(writer.error_counter());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    LogGuard(Some(guard))
}

/// The session a request authenticated with, for its log line: read from the outcome the
/// durin layer left (`None` for no layer, no credentials or a refused token), without
/// building the refusal an extractor would, nor copying the session.
pub fn logged_session(outcome: Option<&AuthOutcome>) -> Option<Arc<durin_core::Session>> {
    outcome?
        .caller()
        .ok()
        .flatten()
        .map(|auth| Arc::clone(&auth.session))
}

/// The log target of the request lines ([`log_request`]), so `RUST_LOG` can pick them
/// (`RUST_LOG=warn,durin::request=info`).
pub const REQUEST_LOG_TARGET: &str = "durin::request";

/// Logs one finished request (`info`, target [`REQUEST_LOG_TARGET`]): its method, the
/// route template it matched (`/api/sessions/{id}`, never the raw path, so ids stay out
/// and lines group by route; `unmatched` when none did), the status, the latency in
/// milliseconds and, when it authenticated, the public session id. Never the token or
/// any header.
pub fn log_request(
    method: &str,
    route: Option<&str>,
    status: u16,
    latency: Duration,
    session: Option<&str>,
) {
    let route = route.unwrap_or("unmatched");
    let latency_ms = latency.as_secs_f64() * 1000.0;
    match session {
        Some(session) => tracing::info!(
            target: REQUEST_LOG_TARGET,
            method,
            route,
            status,
            latency_ms,
            session,
            "request"
        ),
        None => tracing::info!(
            target: REQUEST_LOG_TARGET,
            method,
            route,
            status,
            latency_ms,
            "request"
        ),
    }
}

impl Demo {
    /// Opens the store (migrating it), seeds the clients, and builds the service.
    ///
    /// A database that cannot be reached does not stop the server: it starts anyway,
    /// answers 503 where it needs the store, and keeps trying to migrate and seed in the
    /// background until the database comes back.
    ///
    /// # Errors
    /// A malformed flag, database URL or key file.
    pub async fn start(args: Args) -> anyhow::Result<Self> {
        let pool = durin_sqlx::PoolConfig::default()
            .with_acquire_timeout(Duration::from_secs(2))
            .with_statement_timeout(Some(Duration::from_secs(5)));
        let mut replicas = durin_sqlx::ReplicaOptions::new().with_max_lag(args.max_replica_lag);
        replicas.read_urls.clone_from(&args.read_database_urls);
        replicas.listen_url.clone_from(&args.listen_database_url);
        let backend = durin_connect::open_lazy_with_replicas(&args.database_url, &pool, &replicas)
            .await
            .with_context(|| "--database-url, --read-database-url, --listen-database-url")?;
        Self::start_with(args, backend).await
    }

    /// [`Demo::start`] on a backend of the caller's (a third-party store): everything
    /// but `--database-url` applies.
    ///
    /// # Errors
    /// A malformed flag or key file; a backend that cannot run several nodes without
    /// `--single-node`.
    pub async fn start_with(args: Args, backend: Arc<dyn Backend>) -> anyhow::Result<Self> {
        // Before anything registers a metric.
        let metrics = (!args.no_metrics).then(install_metrics).flatten();
        let key = durin_connect::load_key(&args.key_file)?;
        let mut clients = args.clients.clone();
        if let Some(api) = &args.api_access_client
            && !clients.iter().any(|c| &c.name == api)
        {
            clients.push(Client::new(api.clone()).with_token_ttl(None));
        }
        if let Some(tokens) = &args.tokens_client
            && !clients.iter().any(|c| &c.name == tokens)
        {
            clients.push(tokens_client(tokens.clone()));
        }
        // Migrate before the node subscribes: on a fresh SQLite file the subscriber's
        // first poll would otherwise race the migration for the write lock (nothing is
        // missed: the caches are empty and bypassed until the subscription is live).
        let migrated = backend.migrate().await;
        // One node of a deployment: the caches are fed by the store's invalidation
        // channel, and throttles and the failed-login limit live in the store, so every
        // limit and every revocation holds across all the nodes on this database. The
        // node also runs the purge (taking turns through the store's lease) and the
        // housekeeping of attempts and throttle state.
        let service = ServiceFlags::of(&args);
        let mut node = Node::builder(backend, key)
            .cache(CacheConfig {
                ttl: args.cache_ttl,
                ..CacheConfig::default()
            })
            .purge_every(args.purge_every)
            .attempt_window(args.login_window)
            .service(move |builder| service.apply(builder));
        if args.single_node {
            node = node.single_node();
        }
        let node = node.start()?;
        let durin = node.durin().clone();
        let seeded = match migrated {
            Ok(()) => seed(node.backend(), &durin, &clients).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = seeded {
            tracing::error!(error = %e, "the database is unreachable; answering 503 until it comes back");
            let (backend, durin, clients) =
                (node.backend().clone(), durin.clone(), clients.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    if seed(&backend, &durin, &clients).await.is_ok() {
                        tracing::info!("database reachable again: migrated and seeded");
                        break;
                    }
                }
            });
        }
        let users = Users::new(&args.users)?;
        let http = http_config()
            .with_trusted_proxies(args.trusted_proxies.clone())
            .with_forwarded_header(match args.trusted_proxy_header {
                ProxyHeader::XForwardedFor => durin_http::ForwardedHeader::XForwardedFor,
                ProxyHeader::Forwarded => durin_http::ForwardedHeader::Forwarded,
            })
            .with_accept_legacy_tokens(args.accept_legacy_tokens)
            .with_introspection_clients(args.introspection_clients.iter().cloned());
        // The failed-login limit is counted in the store, so it holds across every node.
        let api = Api::new(durin, http, Arc::new(users))
            .with_attempt_limiter(node.attempts())
            .with_login_guard(LoginGuardConfig::default().with_window(args.login_window));
        Ok(Demo {
            api,
            args,
            node,
            metrics,
        })
    }

    /// The body of `GET /metrics` (Prometheus text format), or `None` when metrics are
    /// off (`--no-metrics`): the route is not mounted then.
    pub fn metrics(&self) -> Option<String> {
        let handle = self.metrics.as_ref()?;
        metrics::gauge!("durin_log_lines_dropped").set(log_lines_dropped() as f64);
        Some(handle.render())
    }

    /// Whether `GET /metrics` is served.
    pub fn metrics_enabled(&self) -> bool {
        self.metrics.is_some()
    }

    /// Whether this node can serve: the store answers and the invalidation subscription
    /// is live (`GET /ready`). `/health` stays a liveness check.
    pub async fn ready(&self) -> bool {
        self.node.ready().await
    }

    /// The node under the API (its backend, cache and bus).
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Stops the background tasks (the purge, the invalidation subscriber) and closes
    /// the pools.
    pub async fn shutdown(&self) {
        self.node.shutdown().await;
    }

    /// The start-up banner: the address (first line, `listening on http://ADDR`, which
    /// scripts wait for) and a curl walkthrough.
    pub fn banner(&self, addr: SocketAddr) -> String {
        let user = self.args.users.first();
        // The password itself is never printed: the walkthrough reads it from $PASSWORD.
        let name = user.map_or("NAME", |(n, _)| n.as_str());
        let client = self
            .args
            .clients
            .first()
            .map_or("web".to_owned(), |c| c.name.to_string());
        format!(
            "listening on http://{addr}\n\
             \n\
             Try it (set PASSWORD to {name}'s password first):\n\
             \x20 TOKEN=$(curl -s -X POST http://{addr}/api/login/ -H 'Content-Type: application/json' \\\n\
             \x20   -d '{{\"username\":\"{name}\",\"password\":\"'\"$PASSWORD\"'\",\"client\":\"{client}\"}}' \\\n\
             \x20   | sed -E 's/.*\"token\":\"([^\"]+)\".*/\\1/')\n\
             \x20 curl -s http://{addr}/api/me -H \"Authorization: Bearer $TOKEN\"\n\
             \x20 curl -s http://{addr}/api/sessions/ -H \"Authorization: Bearer $TOKEN\"\n\
             \x20 curl -s -X POST http://{addr}/api/logout/ -H \"Authorization: Bearer $TOKEN\" -w '%{{http_code}}\\n'\n\
             \x20 curl -s http://{addr}/api/me -H \"Authorization: Bearer $TOKEN\"   # 401 now\n"
        )
    }
}

/// The service settings of the flags, applied when the node builds the service.
struct ServiceFlags {
    default_rate: Option<Rate>,
    api_access_client: Option<ClientName>,
    tokens_client: Option<ClientName>,
}

impl ServiceFlags {
    fn of(args: &Args) -> Self {
        ServiceFlags {
            default_rate: args.default_throttle,
            api_access_client: args.api_access_client.clone(),
            tokens_client: args.tokens_client.clone(),
        }
    }

    fn apply(self, mut builder: DurinBuilder) -> DurinBuilder {
        if let Some(rate) = self.default_rate {
            builder = builder.default_rate(rate);
        }
        if let Some(api) = self.api_access_client {
            builder = builder.api_access_client(api);
        }
        if let Some(tokens) = self.tokens_client {
            builder = builder.tokens_client(tokens);
        }
        builder
    }
}

/// Migrates and writes the clients of the flags, through the service so that nodes
/// already running hear of a changed policy.
async fn seed(
    backend: &Arc<dyn Backend>,
    durin: &Durin,
    clients: &[Client],
) -> Result<(), durin_core::AuthError> {
    backend.migrate().await?;
    for client in clients {
        durin.upsert_client(client).await?;
    }
    Ok(())
}

/// The body of the demo routes: `{"user", "client", "session"}`.
pub fn me(auth: &durin_core::Authenticated) -> serde_json::Value {
    serde_json::json!({
        "user": auth.user_id().as_str(),
        "client": auth.client.name.as_str(),
        "session": auth.session.id.as_str(),
    })
}

/// The body of `GET /api/me-anonymous`: the shape of [`me`] without a caller (empty
/// strings), built the same way, so a benchmark can compare an authenticated route with
/// an unauthenticated one answering the same JSON on the same server.
pub fn me_anonymous() -> serde_json::Value {
    serde_json::json!({
        "user": "",
        "client": "",
        "session": "",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_flags() {
        let c = parse_client("web").unwrap();
        assert_eq!(c.token_ttl, Some(durin_core::DEFAULT_TOKEN_TTL));
        let c = parse_client("mobile:30s:5/m").unwrap();
        assert_eq!(c.token_ttl, Some(Duration::from_secs(30)));
        assert_eq!(c.throttle_rate, Some("5/m".parse().unwrap()));
        let c = parse_client("cli::2/m").unwrap();
        assert_eq!(c.token_ttl, Some(durin_core::DEFAULT_TOKEN_TTL));
        assert!(c.throttle_rate.is_some());
        assert_eq!(parse_client("api:never").unwrap().token_ttl, None);
        assert!(parse_client("bad name").is_err());
        assert!(parse_client("web:soon").is_err());
        assert!(parse_client("web:1d:lots").is_err());
    }

    #[test]
    fn trusted_proxy_flag() {
        assert_eq!(parse_cidr("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_cidr("127.0.0.1").unwrap().to_string(), "127.0.0.1/32");
        assert_eq!(parse_cidr("::1").unwrap().to_string(), "::1/128");
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("proxy").is_err());
    }

    #[test]
    fn cache_ttl_flag() {
        assert_eq!(parse_cache_ttl("0"), Ok(Duration::ZERO));
        assert_eq!(parse_cache_ttl("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_cache_ttl("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_cache_ttl("-1s").is_err());
        assert!(parse_cache_ttl("soon").is_err());
        let args = Args::try_parse_from(["server"]).unwrap();
        assert_eq!(args.cache_ttl, CacheConfig::default().ttl);
        let args = Args::try_parse_from(["server", "--cache-ttl", "0"]).unwrap();
        assert!(args.cache_ttl.is_zero());
    }

    #[test]
    fn purge_every_flag() {
        let args = Args::try_parse_from(["server"]).unwrap();
        assert_eq!(args.purge_every, Duration::from_secs(3600));
        let args = Args::try_parse_from(["server", "--purge-every", "0"]).unwrap();
        assert!(args.purge_every.is_zero());
        let args = Args::try_parse_from(["server", "--purge-every", "10m"]).unwrap();
        assert_eq!(args.purge_every, Duration::from_secs(600));
        assert!(Args::try_parse_from(["server", "--purge-every", "soon"]).is_err());
    }

    #[test]
    fn secrets_stay_out_of_messages() {
        let e = parse_user("alice-s3cret").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
        let e = Args::try_parse_from(["server", "--user", "alice-s3cret"]).unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(e.to_string().contains("NAME:PASSWORD"), "{e}");
        let args = Args::try_parse_from([
            "server",
            "--user",
            "alice:s3cret",
            "--database-url",
            "postgres://u:pw1@h/x?password=pw2",
        ])
        .unwrap();
        let debug = format!("{args:?}");
        for secret in ["s3cret", "pw1", "pw2"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
}
