//! The harness of the black-box contract suite (`tests/contract.rs`): it starts a real
//! example server binary on a free loopback port, in a scratch directory, against a fresh
//! database, and drives it over HTTP with reqwest.
//!
//! Which servers and backends run:
//!
//! - `DURIN_CONTRACT_SERVERS` (default `axum-server,actix-server`): comma-separated names
//!   of server binaries that take the contract's flags; each is built on demand with
//!   `cargo build --bin NAME` when missing from the target directory;
//! - `DURIN_CONTRACT_BACKENDS` (default `sqlite,postgres,redis`): `sqlite` (a file in the
//!   scratch directory), `postgres` (a fresh schema per server in `DATABASE_URL`'s
//!   database), `redis` (a fresh key prefix per server at `REDIS_URL`), `redis-cluster`
//!   (a fresh key prefix per server on the Redis Cluster of `REDIS_CLUSTER_URL`, default
//!   `redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003`).
//!
//! A case whose server or backend is not selected passes without running and says so on
//! stderr; `scripts/test.sh` selects them all, so CI runs every case everywhere.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The standard demo users.
pub const ALICE: (&str, &str) = ("alice", "wonderland");
/// A second user.
pub const BOB: (&str, &str) = ("bob", "builder");

/// The flags of the standard server every case starts unless it needs others.
pub fn standard_flags() -> Vec<String> {
    [
        "--user=alice:wonderland",
        "--user=bob:builder",
        "--client=web",
        "--client=cli::2/m",
        "--client=mobile:1s",
        "--client=forever:never",
        "--client=plain",
        "--api-access-client=api",
    ]
    .map(String::from)
    .to_vec()
}

fn list(var: &str, default: &str) -> Vec<String> {
    std::env::var(var)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether `server` on `backend` is selected; prints why not when it is not.
pub fn selected(server: &str, backend: &str) -> bool {
    let servers = list("DURIN_CONTRACT_SERVERS", "axum-server,actix-server");
    let backends = list("DURIN_CONTRACT_BACKENDS", "sqlite,postgres,redis");
    let ok = servers.iter().any(|s| s == server) && backends.iter().any(|b| b == backend);
    if !ok {
        eprintln!(
            "not selected: {server} on {backend} (DURIN_CONTRACT_SERVERS={servers:?}, DURIN_CONTRACT_BACKENDS={backends:?})"
        );
    }
    ok
}

/// Whether `backend` is selected for any server (multi-node cases mix the servers);
/// prints why not when it is not.
pub fn backend_selected(backend: &str) -> bool {
    let backends = list("DURIN_CONTRACT_BACKENDS", "sqlite,postgres,redis");
    let ok = backends.iter().any(|b| b == backend);
    if !ok {
        eprintln!("not selected: backend {backend} (DURIN_CONTRACT_BACKENDS={backends:?})");
    }
    ok
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("OS random");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The target directory holding this test binary (`target/debug`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/debug/deps/contract-HASH -> target/debug
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .to_path_buf()
}

/// The server binary `name`, built first (`cargo build --bin NAME`, with `--release`
/// when this binary is a release build, as benches are) when missing.
pub fn binary(name: &str) -> PathBuf {
    let dir = target_dir();
    let path = dir.join(name);
    if !path.exists() {
        // The package that holds each binary (a bare `--bin` only searches the
        // package of the current directory).
        let package = match name {
            "actix-server" => "actix-server-example",
            "durin" => "durin-cli",
            other => other,
        };
        let mut cargo = std::process::Command::new(env!("CARGO"));
        cargo.args(["build", "-p", package, "--bin", name]);
        if dir.ends_with("release") {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("run cargo build");
        assert!(status.success(), "cargo build --bin {name} failed");
    }
    assert!(path.exists(), "no binary at {}", path.display());
    path
}

/// A database URL for a fresh, isolated database of `backend`.
pub async fn database_url(backend: &str, scratch: &std::path::Path) -> String {
    match backend {
        "sqlite" => format!("sqlite://{}", scratch.join("durin.db").display()),
        "postgres" => {
            let base = std::env::var("DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/durin_test".to_owned());
            let schema = format!("contract_{}", random_suffix());
            let admin = sqlx::PgPool::connect(&base).await.unwrap_or_else(|e| {
                panic!("PostgreSQL at {base} is unreachable ({e}); run scripts/services.sh")
            });
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&admin)
                .await
                .expect("create schema");
            admin.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}options=-c%20search_path%3D{schema}")
        }
        "redis" => {
            let base =
                std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
            let base = base.trim_end_matches('/');
            format!("{base}/?prefix=contract{}", random_suffix())
        }
        "redis-cluster" => {
            let base = std::env::var("REDIS_CLUSTER_URL").unwrap_or_else(|_| {
                "redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003".to_owned()
            });
            let base = base.trim_end_matches('/');
            format!("{base}/?prefix=contract{}", random_suffix())
        }
        other => panic!("unknown backend {other}"),
    }
}

/// The name the store of `backend` reports (`Backend::name`, the `backend` label of the
/// store metrics): `redis` for `redis-cluster`, the backend itself otherwise.
pub fn store_name(backend: &str) -> &str {
    match backend {
        "redis-cluster" => "redis",
        other => other,
    }
}

/// A URL of `backend` that nothing answers (port 1), for outage cases.
pub fn unreachable_database_url(backend: &str) -> String {
    match backend {
        "sqlite" => "sqlite:///nonexistent-durin-dir/sub/durin.db".to_owned(),
        "postgres" => "postgres://postgres@127.0.0.1:1/durin".to_owned(),
        "redis" => "redis://127.0.0.1:1".to_owned(),
        "redis-cluster" => "redis+cluster://127.0.0.1:1".to_owned(),
        other => panic!("unknown backend {other}"),
    }
}

/// A running server.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The server's package name.
    pub package: String,
    /// The backend it runs on.
    pub backend: String,
    child: Child,
    _scratch: Scratch,
    /// A client with a 10 s timeout.
    pub http: reqwest::Client,
    /// The lines the server wrote to stderr, when started by [`Server::start_logging`]
    /// (otherwise its stderr is the test's).
    logs: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
}

/// Where a started server's stderr goes.
enum Stderr<'a> {
    /// The test's stderr, at `RUST_LOG=warn`.
    Inherit,
    /// Kept for [`Server::logs`], at this `RUST_LOG`.
    Capture(&'a str),
    /// A file, at this `RUST_LOG` (unset when `None`).
    File(Option<&'a str>, &'a std::path::Path),
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Server {
    /// Starts `package`'s binary on `backend` with the standard flags.
    pub async fn start(package: &str, backend: &str) -> Server {
        Server::start_with(package, backend, &standard_flags(), None).await
    }

    /// Starts `package`'s binary with `flags`, on `backend` or on `database_url` when
    /// given. Waits for its `listening on http://ADDR` line.
    pub async fn start_with(
        package: &str,
        backend: &str,
        flags: &[String],
        database_url: Option<&str>,
    ) -> Server {
        Server::spawn(package, backend, flags, database_url, Stderr::Inherit).await
    }

    /// Starts `package`'s binary with `flags` on a fresh database of `backend`, at
    /// `RUST_LOG=rust_log`, keeping every line it writes to stderr (its logs) for
    /// [`Server::logs`].
    pub async fn start_logging(
        package: &str,
        backend: &str,
        flags: &[String],
        rust_log: &str,
    ) -> Server {
        Server::spawn(package, backend, flags, None, Stderr::Capture(rust_log)).await
    }

    /// Starts `package`'s binary with `flags` on a fresh database of `backend`, its
    /// stderr (its logs) written to `log_file`, at `RUST_LOG=rust_log`, or with `RUST_LOG`
    /// unset (the server's default, `info`: a line per request) when `None`. For the
    /// benches that measure what logging costs.
    pub async fn start_log_file(
        package: &str,
        backend: &str,
        flags: &[String],
        rust_log: Option<&str>,
        log_file: &std::path::Path,
    ) -> Server {
        Server::spawn(
            package,
            backend,
            flags,
            None,
            Stderr::File(rust_log, log_file),
        )
        .await
    }

    /// The stderr lines kept so far (empty unless started by [`Server::start_logging`]).
    pub fn logs(&self) -> Vec<String> {
        self.logs
            .as_ref()
            .map(|logs| logs.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .unwrap_or_default()
    }

    async fn spawn(
        package: &str,
        backend: &str,
        flags: &[String],
        database_url: Option<&str>,
        stderr: Stderr<'_>,
    ) -> Server {
        let scratch = std::env::temp_dir().join(format!("durin-contract-{}", random_suffix()));
        std::fs::create_dir_all(&scratch).expect("scratch dir");
        let url = match database_url {
            Some(url) => url.to_owned(),
            None => self::database_url(backend, &scratch).await,
        };
        let mut command = Command::new(binary(package));
        command
            .current_dir(&scratch)
            .arg("--bind=127.0.0.1:0")
            .arg(format!("--database-url={url}"))
            .args(flags)
            .env_remove("DURIN_SECRET")
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        match stderr {
            Stderr::Inherit => command.env("RUST_LOG", "warn").stderr(Stdio::inherit()),
            Stderr::Capture(rust_log) => command.env("RUST_LOG", rust_log).stderr(Stdio::piped()),
            Stderr::File(rust_log, path) => {
                match rust_log {
                    Some(rust_log) => command.env("RUST_LOG", rust_log),
                    None => command.env_remove("RUST_LOG"),
                };
                let file = std::fs::File::create(path).expect("create the log file");
                command.stderr(Stdio::from(file))
            }
        };
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {package}: {e}"));
        let logs = child.stderr.take().map(|stderr| {
            let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let kept = logs.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    kept.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            });
            logs
        });
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    return addr.trim().to_owned();
                }
            }
            panic!("{package} exited before listening");
        })
        .await
        .unwrap_or_else(|_| panic!("{package} did not start within 60 s"));
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Server {
            base,
            package: package.to_owned(),
            backend: backend.to_owned(),
            child,
            _scratch: Scratch(scratch),
            http: client(None),
            logs,
        }
    }

    /// The absolute URL of `path` (`/api/me`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Logs `user` in through `client`; returns the response.
    pub async fn login_response(&self, user: (&str, &str), client: &str) -> Response {
        self.send(
            self.http
                .post(self.url("/api/login/"))
                .json(&serde_json::json!({
                    "username": user.0, "password": user.1, "client": client,
                })),
        )
        .await
    }

    /// Logs in and returns the token (panics unless 200).
    pub async fn login(&self, user: (&str, &str), client: &str) -> String {
        let r = self.login_response(user, client).await;
        assert_eq!(r.status, 200, "login {client}: {:?}", r.body);
        r.body["token"].as_str().expect("token").to_owned()
    }

    /// Sends a request and reads the answer.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Response {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Response {
            status,
            headers,
            body,
        }
    }

    /// `METHOD path` with `Authorization: Bearer token`.
    pub async fn call(&self, method: reqwest::Method, path: &str, token: &str) -> Response {
        self.send(
            self.http
                .request(method, self.url(path))
                .header("Authorization", format!("Bearer {token}")),
        )
        .await
    }

    /// `GET path` with the token.
    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.call(reqwest::Method::GET, path, token).await
    }

    /// `POST path` with the token.
    pub async fn post(&self, path: &str, token: &str) -> Response {
        self.call(reqwest::Method::POST, path, token).await
    }

    /// `DELETE path` with the token.
    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.call(reqwest::Method::DELETE, path, token).await
    }

    /// The server process's id (to sample its memory).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits up to `deadline` for the server to exit by itself; its exit code (`None`
    /// for a signal), or panics (and kills it) when it is still running.
    pub async fn wait_exit(mut self, deadline: Duration) -> Option<i32> {
        match tokio::time::timeout(deadline, self.child.wait()).await {
            Ok(status) => status.expect("wait for the server").code(),
            Err(_) => {
                let _ = self.child.kill().await;
                panic!("{} did not exit within {deadline:?}", self.package);
            }
        }
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Several server processes on one database and one server key: the nodes of a
/// deployment behind a load balancer. Node `i` runs the `i`-th selected server binary in
/// turn (`axum-server`, `actix-server`, `axum-server`...), so the nodes also prove that
/// both integrations interoperate on one store.
pub struct Cluster {
    /// The running nodes.
    pub nodes: Vec<Server>,
    /// The database they share (also for the `durin` CLI).
    pub database_url: String,
    /// The server key file they share (also for the `durin` CLI).
    pub key_file: PathBuf,
    /// The backend.
    pub backend: String,
    _scratch: Scratch,
}

impl Cluster {
    /// Starts `count` nodes on one fresh database of `backend` with the standard flags
    /// plus `extra`. Nodes start one after the other (the first creates the key file).
    pub async fn start(backend: &str, count: usize, extra: &[&str]) -> Cluster {
        let scratch = std::env::temp_dir().join(format!("durin-cluster-{}", random_suffix()));
        std::fs::create_dir_all(&scratch).expect("scratch dir");
        let database_url = database_url(backend, &scratch).await;
        Self::start_on(scratch, database_url, backend, count, extra).await
    }

    /// [`Cluster::start`] on PostgreSQL, each node also reading the streaming replica at
    /// `replica` (a `postgres://` URL of the test database on the replica; the cluster's
    /// schema is added) through `--read-database-url`.
    pub async fn start_with_replica(count: usize, extra: &[&str], replica: &str) -> Cluster {
        let scratch = std::env::temp_dir().join(format!("durin-cluster-{}", random_suffix()));
        std::fs::create_dir_all(&scratch).expect("scratch dir");
        let database_url = database_url("postgres", &scratch).await;
        let options = database_url.split_once('?').map_or("", |(_, q)| q);
        let sep = if replica.contains('?') { '&' } else { '?' };
        let mut flags: Vec<String> = extra.iter().map(|f| f.to_string()).collect();
        flags.push(format!("--read-database-url={replica}{sep}{options}"));
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        Self::start_on(scratch, database_url, "postgres", count, &flags).await
    }

    async fn start_on(
        scratch: PathBuf,
        database_url: String,
        backend: &str,
        count: usize,
        extra: &[&str],
    ) -> Cluster {
        let key_file = scratch.join("durin.key");
        let mut flags = standard_flags();
        flags.extend(extra.iter().map(|f| f.to_string()));
        flags.push(format!("--key-file={}", key_file.display()));
        let servers = list("DURIN_CONTRACT_SERVERS", "axum-server,actix-server");
        let mut nodes = Vec::with_capacity(count);
        for i in 0..count {
            let package = &servers[i % servers.len()];
            nodes.push(Server::start_with(package, backend, &flags, Some(&database_url)).await);
        }
        Cluster {
            nodes,
            database_url,
            key_file,
            backend: backend.to_owned(),
            _scratch: Scratch(scratch),
        }
    }

    /// Runs the `durin` admin CLI on the cluster's database and key; returns its exit
    /// code and output.
    pub async fn cli(&self, args: &[&str]) -> CliRun {
        let output = Command::new(binary("durin"))
            .arg(format!("--database-url={}", self.database_url))
            .arg(format!("--key-file={}", self.key_file.display()))
            .args(args)
            .env_remove("DURIN_SECRET")
            .env("RUST_LOG", "warn")
            .output()
            .await
            .expect("run durin");
        CliRun {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// What a `durin` CLI run printed.
#[derive(Debug)]
pub struct CliRun {
    /// The exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CliRun {
    /// Asserts a zero exit code and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "durin failed: {self:?}");
        &self.stdout
    }
}

/// Polls `check` every 5 ms until it holds; panics after `deadline`. A liveness bound
/// for asynchronous effects (a revocation reaching another node), not a latency target:
/// the propagation benches measure latency.
pub async fn eventually<F, Fut>(what: &str, deadline: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        if start.elapsed() > deadline {
            panic!("{what}: not within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// An HTTP client, bound to a local address when given (another loopback address makes
/// another client address for the login throttle).
pub fn client(local: Option<std::net::IpAddr>) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .local_address(local)
        .build()
        .expect("reqwest client")
}

/// A response: status, headers and JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Response {
    /// The status.
    pub status: u16,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON (a string if it was not JSON).
    pub body: Value,
}

impl Response {
    /// The `detail` message.
    pub fn detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or_default()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a `{"detail": ...}` error.
    #[track_caller]
    pub fn assert_error(&self, status: u16, detail: &str) {
        assert_eq!(self.status, status, "{:?}", self.body);
        assert_eq!(self.detail(), detail, "{:?}", self.body);
    }
}

/// A small HTTP load generator for the integration crates' throughput benches.
pub mod load {
    use std::time::{Duration, Instant};

    /// Requests per second of `GET url` (with `authorization` when given) from
    /// `in_flight` concurrent loops over `budget`, on one shared keep-alive client.
    /// Panics on a non-2xx answer, so a misconfigured bench cannot measure errors.
    pub async fn throughput(
        url: &str,
        authorization: Option<&str>,
        in_flight: usize,
        budget: Duration,
    ) -> f64 {
        throughput_answering(url, authorization, in_flight, budget, None).await
    }

    /// [`throughput`], but every answer must have status `expected` (any 2xx when
    /// `None`), so a baseline may be a refusal.
    pub async fn throughput_answering(
        url: &str,
        authorization: Option<&str>,
        in_flight: usize,
        budget: Duration,
        expected: Option<u16>,
    ) -> f64 {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(in_flight)
            .build()
            .expect("client");
        let start = Instant::now();
        let tasks: Vec<_> = (0..in_flight)
            .map(|_| {
                let (http, url) = (http.clone(), url.to_owned());
                let authorization = authorization.map(str::to_owned);
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while start.elapsed() < budget {
                        let mut request = http.get(&url);
                        if let Some(value) = &authorization {
                            request = request.header("Authorization", value);
                        }
                        let response = request.send().await.expect("request");
                        let status = response.status();
                        assert!(
                            expected.map_or(status.is_success(), |e| status.as_u16() == e),
                            "{url}: {status}"
                        );
                        response.bytes().await.expect("body");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.expect("load task");
        }
        total as f64 / start.elapsed().as_secs_f64()
    }

    /// Requests per second of `GET url` from `in_flight` concurrent loops over `budget`,
    /// each request with the next of `authorizations` (loop `i` starts `i / in_flight` of
    /// the way through the list), so the server sees as many distinct credentials as the
    /// list holds rather than one hot one. Panics on a non-2xx answer.
    pub async fn throughput_each(
        url: &str,
        authorizations: &std::sync::Arc<[String]>,
        in_flight: usize,
        budget: Duration,
    ) -> f64 {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(in_flight)
            .build()
            .expect("client");
        let start = Instant::now();
        let count = authorizations.len().max(1);
        let tasks: Vec<_> = (0..in_flight)
            .map(|i| {
                let (http, url) = (http.clone(), url.to_owned());
                let authorizations = authorizations.clone();
                tokio::spawn(async move {
                    let mut n = 0u64;
                    let mut next = i * count / in_flight.max(1);
                    while start.elapsed() < budget {
                        let mut request = http.get(&url);
                        if let Some(value) = authorizations.get(next % count) {
                            request = request.header("Authorization", value);
                        }
                        next += 1;
                        let response = request.send().await.expect("request");
                        let status = response.status();
                        assert!(status.is_success(), "{url}: {status}");
                        response.bytes().await.expect("body");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.expect("load task");
        }
        total as f64 / start.elapsed().as_secs_f64()
    }

    /// The median of `values` (0 for none).
    pub fn median(mut values: Vec<f64>) -> f64 {
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(0.0)
    }

    /// Interleaves `rounds` measurements of a baseline route and an authenticated one
    /// (to cancel drift) and returns the median requests per second of each: the load
    /// generator shares the machine with the server, and a median is not moved by one
    /// round that another process slowed. The authenticated
    /// route gets `authorization`; the baseline gets a foreign-scheme header of the same
    /// length (`Basic ...`, which durin leaves alone), so the client sends the same bytes
    /// to both and the difference is the server's authentication.
    pub async fn compare(
        baseline: &str,
        authenticated: &str,
        authorization: &str,
        in_flight: usize,
        rounds: usize,
        budget: Duration,
    ) -> (f64, f64) {
        let foreign = format!(
            "Basic {}",
            "x".repeat(authorization.len().saturating_sub(6))
        );
        // Warm up both routes (connections, caches).
        throughput(
            baseline,
            Some(&foreign),
            in_flight,
            Duration::from_millis(300),
        )
        .await;
        throughput(
            authenticated,
            Some(authorization),
            in_flight,
            Duration::from_millis(300),
        )
        .await;
        let (mut base, mut auth) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            base.push(throughput(baseline, Some(&foreign), in_flight, budget).await);
            auth.push(throughput(authenticated, Some(authorization), in_flight, budget).await);
        }
        (median(base), median(auth))
    }

    /// Like [`compare`] on one route: `url` with a foreign-scheme header of the same
    /// length (durin leaves it alone, the route answers 401 without touching the store)
    /// against `url` with `authorization` (200). Returns (unauthenticated, authenticated)
    /// requests per second.
    pub async fn compare_unauthenticated(
        url: &str,
        authorization: &str,
        in_flight: usize,
        rounds: usize,
        budget: Duration,
    ) -> (f64, f64) {
        let foreign = format!(
            "Basic {}",
            "x".repeat(authorization.len().saturating_sub(6))
        );
        let warm_up = Duration::from_millis(300);
        throughput_answering(url, Some(&foreign), in_flight, warm_up, Some(401)).await;
        throughput_answering(url, Some(authorization), in_flight, warm_up, None).await;
        let (mut base, mut auth) = (0.0, 0.0);
        for _ in 0..rounds {
            base += throughput_answering(url, Some(&foreign), in_flight, budget, Some(401)).await;
            auth += throughput_answering(url, Some(authorization), in_flight, budget, None).await;
        }
        (base / rounds as f64, auth / rounds as f64)
    }
}

/// Runs `case` on a fresh server of `package` on `backend` with the standard flags (the
/// runner of most [`server_cases!`] suites).
pub async fn on_standard_server<F, Fut>(package: &'static str, backend: &'static str, case: F)
where
    F: FnOnce(Server) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    case(Server::start(package, backend).await).await;
}

/// Runs `case` with the names of the server package and the backend, for cases that
/// start their servers themselves (a [`server_cases!`] runner).
pub async fn by_name<F, Fut>(package: &'static str, backend: &'static str, case: F)
where
    F: FnOnce(&'static str, &'static str) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    case(package, backend).await;
}

/// Stamps one `#[tokio::test]` per case, per example server and per backend:
/// `server_cases!(run, [a, b])` in a test file makes `axum_server::sqlite::a`,
/// `actix_server::redis::b` and so on, each calling `run(package, backend, a)` unless
/// that server or backend is not selected ([`selected`]). `run` is a function in scope of
/// the test file ([`on_standard_server`], [`by_name`], or the file's own, e.g. one that
/// starts the server with other flags).
#[macro_export]
macro_rules! server_cases {
    ($run:ident, [$($case:ident),* $(,)?]) => {
        $crate::server_cases!(@server $run, axum_server, "axum-server", [$($case),*]);
        $crate::server_cases!(@server $run, actix_server, "actix-server", [$($case),*]);
    };
    (@server $run:ident, $server:ident, $package:literal, [$($case:ident),*]) => {
        mod $server {
            $crate::server_cases!(@backend $run, $package, sqlite, [$($case),*]);
            $crate::server_cases!(@backend $run, $package, postgres, [$($case),*]);
            $crate::server_cases!(@backend $run, $package, redis, [$($case),*]);
            $crate::server_cases!(@backend $run, $package, redis_cluster, [$($case),*]);
        }
    };
    (@backend $run:ident, $package:literal, $backend:ident, [$($case:ident),*]) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    // Module names cannot hold '-': `redis_cluster` is `redis-cluster`.
                    let backend = match stringify!($backend) {
                        "redis_cluster" => "redis-cluster",
                        other => other,
                    };
                    if !$crate::selected($package, backend) {
                        return;
                    }
                    super::super::$run($package, backend, super::super::$case).await;
                }
            )*
        }
    };
}
