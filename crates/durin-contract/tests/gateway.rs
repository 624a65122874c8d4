//! Gateways, black-box: RFC 7662 token introspection (`POST /api/introspect/`) and
//! forward-auth (`GET`/`HEAD /api/auth/`) on every selected example server and backend,
//! a revocation on one node reaching another node's introspection, and the real nginx
//! (`examples/nginx/nginx.conf`) in front of a small upstream.

use std::time::Duration;

use durin_contract::{ALICE, BOB, Cluster, Server, eventually, standard_flags};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FORBIDDEN: &str = "You do not have permission to perform this action.";
const NOT_PROVIDED: &str = "Authentication credentials were not provided.";

/// The standard flags plus a `gateway` client (tokens that never expire) allowed to
/// introspect. It is also the API-access client: a gateway's key is an API key (a
/// password login through an introspection client is refused).
fn gateway_flags() -> Vec<String> {
    let mut flags: Vec<String> = standard_flags()
        .into_iter()
        .filter(|f| !f.starts_with("--api-access-client="))
        .collect();
    flags.push("--client=gateway:never".to_owned());
    flags.push("--introspection-client=gateway".to_owned());
    flags.push("--api-access-client=gateway".to_owned());
    flags
}

/// An API key of the `gateway` client for `user`, issued through `apiaccess/`.
async fn gateway_key(s: &Server, user: (&str, &str)) -> String {
    let web = s.login(user, "web").await;
    let r = s.post("/api/apiaccess/", &web).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["token"].as_str().expect("token").to_owned()
}

/// Runs `case` on a server with the gateway client allowed to introspect.
async fn on_gateway_server<F, Fut>(package: &'static str, backend: &'static str, case: F)
where
    F: FnOnce(Server) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    case(Server::start_with(package, backend, &gateway_flags(), None).await).await;
}

/// A well-formed token (right prefix, length and checksum) that was never issued.
fn never_issued() -> String {
    durin_core::TokenString::generate(&durin_core::TokenPrefix::default())
        .expose_secret()
        .to_owned()
}

/// `POST /api/introspect/` as the gateway `caller`, with a form body.
async fn introspect(s: &Server, caller: &str, form: &[(&str, &str)]) -> durin_contract::Response {
    s.send(
        s.http
            .post(s.url("/api/introspect/"))
            .header("Authorization", format!("Bearer {caller}"))
            .form(form),
    )
    .await
}

fn unix_now() -> i64 {
    durin_core::Clock::now(&durin_core::SystemClock).as_millis() / 1000
}

// --- introspection ---------------------------------------------------------------------

async fn introspection_describes_an_active_token(s: Server) {
    let gateway = gateway_key(&s, BOB).await;
    let token = s.login(ALICE, "web").await;
    let before = unix_now();
    let r = introspect(&s, &gateway, &[("token", &token)]).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let body = r.body.as_object().expect("an object");
    let keys: Vec<&str> = body.keys().map(String::as_str).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "active",
            "client_id",
            "exp",
            "iat",
            "scope",
            "sub",
            "token_type",
            "username"
        ],
        "{body:?}"
    );
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["client_id"], "web");
    assert_eq!(body["username"], "alice");
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["scope"], "");
    let iat = body["iat"].as_i64().expect("iat in seconds");
    let exp = body["exp"].as_i64().expect("exp in seconds");
    assert!((before - 5..=unix_now()).contains(&iat), "{iat}");
    // The web client's TTL is the default day.
    assert_eq!(exp - iat, 86_400, "{body:?}");
    // JSON works too, and the hint is accepted (and ignored).
    let r = s
        .send(
            s.http
                .post(s.url("/api/introspect"))
                .header("Authorization", format!("Bearer {gateway}"))
                .json(&json!({"token": token, "token_type_hint": "refresh_token"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["active"], true);
    // A token that never expires has no `exp`; the gateway may introspect itself.
    let r = introspect(&s, &gateway, &[("token", &gateway)]).await;
    assert_eq!(r.body["active"], true, "{:?}", r.body);
    assert_eq!(r.body["client_id"], "gateway");
    assert!(r.body.get("exp").is_none(), "{:?}", r.body);
}

async fn introspection_never_says_why_a_token_is_inactive(s: Server) {
    let gateway = gateway_key(&s, BOB).await;
    let revoked = s.login(ALICE, "web").await;
    assert_eq!(s.get("/api/me", &revoked).await.status, 200);
    assert_eq!(s.post("/api/logout/", &revoked).await.status, 204);
    let expired = s.login(ALICE, "mobile").await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    s.get("/api/me", &expired)
        .await
        .assert_error(401, "The given token has expired.");
    let mut flipped = never_issued();
    flipped.replace_range(10..11, if &flipped[10..11] == "a" { "b" } else { "a" });
    for token in [
        revoked.as_str(),
        expired.as_str(),
        &never_issued(),
        &flipped,
        "garbage",
        "durin_short",
    ] {
        let r = introspect(&s, &gateway, &[("token", token)]).await;
        assert_eq!(r.status, 200, "{token}: {:?}", r.body);
        assert_eq!(r.body, json!({"active": false}), "{token}");
    }
}

async fn introspection_is_only_for_introspection_clients(s: Server) {
    // No credentials: 401 with the challenge.
    let r = s
        .send(
            s.http
                .post(s.url("/api/introspect/"))
                .form(&[("token", "x")]),
        )
        .await;
    r.assert_error(401, NOT_PROVIDED);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"api\""));
    // A token of another client: 403, before the body is looked at.
    let web = s.login(ALICE, "web").await;
    introspect(&s, &web, &[("token", &web)])
        .await
        .assert_error(403, FORBIDDEN);
    introspect(&s, &web, &[]).await.assert_error(403, FORBIDDEN);
    // A revoked gateway key cannot introspect.
    let gateway = gateway_key(&s, BOB).await;
    assert_eq!(s.post("/api/logout/", &gateway).await.status, 204);
    let r = introspect(&s, &gateway, &[("token", &web)]).await;
    r.assert_error(401, "Invalid token.");
}

async fn special_clients_refuse_password_logins(s: Server) {
    // The introspection client (here also the API-access client) and the tokens
    // client issue tokens only through their endpoints: a password login through them
    // answers as for an unknown client, after the credentials were checked.
    for client in ["gateway"] {
        let r = s
            .send(s.http.post(s.url("/api/login/")).json(&json!({
                "username": BOB.0, "password": BOB.1, "client": client,
            })))
            .await;
        r.assert_error(400, "No client with that name.");
    }
    let r = s
        .send(s.http.post(s.url("/api/login/")).json(&json!({
            "username": BOB.0, "password": "wrong", "client": "gateway",
        })))
        .await;
    assert_eq!(
        r.body,
        json!({"non_field_errors": ["Unable to log in with provided credentials."]})
    );
    // A gateway's key (an API key of an introspection client) manages no account.
    let gateway = gateway_key(&s, BOB).await;
    s.post("/api/logoutall/", &gateway)
        .await
        .assert_error(403, FORBIDDEN);
    // The API key a password login used to evict is untouched.
    let key = gateway_key(&s, ALICE).await;
    let _ = s
        .send(s.http.post(s.url("/api/login/")).json(&json!({
            "username": ALICE.0, "password": ALICE.1, "client": "gateway",
        })))
        .await;
    assert_eq!(s.get("/api/me", &key).await.status, 200);
}

async fn a_malformed_introspection_body_is_400(s: Server) {
    let gateway = gateway_key(&s, BOB).await;
    let required = json!({"token": ["This field is required."]});
    let r = introspect(&s, &gateway, &[("token_type_hint", "access_token")]).await;
    assert_eq!((r.status, &r.body), (400, &required));
    let r = introspect(&s, &gateway, &[("token", "")]).await;
    assert_eq!(
        (r.status, &r.body),
        (400, &json!({"token": ["This field may not be blank."]}))
    );
    for body in ["not json", "[1]", r#"{"token": 5}"#, ""] {
        let r = s
            .send(
                s.http
                    .post(s.url("/api/introspect/"))
                    .header("Authorization", format!("Bearer {gateway}"))
                    .header("Content-Type", "application/json")
                    .body(body),
            )
            .await;
        assert_eq!((r.status, &r.body), (400, &required), "{body:?}");
    }
}

// --- forward-auth ----------------------------------------------------------------------

async fn forward_auth_answers_204_with_the_identity(s: Server) {
    let token = s.login(ALICE, "web").await;
    let session = s.get("/api/me", &token).await.body["session"].clone();
    for path in ["/api/auth/", "/api/auth"] {
        for method in [Method::GET, Method::HEAD] {
            let r = s.call(method.clone(), path, &token).await;
            assert_eq!(r.status, 204, "{method} {path}: {:?}", r.body);
            assert_eq!(r.body, Value::Null);
            assert_eq!(r.header("x-durin-user"), Some("alice"));
            assert_eq!(r.header("x-durin-client"), Some("web"));
            assert_eq!(r.header("x-durin-session"), session.as_str());
            assert_eq!(r.header("x-durin-scopes"), Some(""));
        }
    }
}

async fn forward_auth_refuses_with_the_challenge(s: Server) {
    for method in [Method::GET, Method::HEAD] {
        let r = s
            .send(s.http.request(method.clone(), s.url("/api/auth/")))
            .await;
        assert_eq!(r.status, 401, "{method}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"api\""));
        assert!(r.header("x-durin-user").is_none());
    }
    let r = s.get("/api/auth/", &never_issued()).await;
    r.assert_error(401, "Invalid token.");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"api\", error=\"invalid_token\"")
    );
    s.get("/api/auth/", "garbage")
        .await
        .assert_error(401, "Invalid token.");
    let r = s
        .send(
            s.http
                .get(s.url("/api/auth/"))
                .header("Authorization", "Bearer"),
        )
        .await;
    r.assert_error(401, "Invalid token header. No credentials provided.");
    // Right after logout, this token is refused.
    let token = s.login(ALICE, "web").await;
    assert_eq!(s.get("/api/auth/", &token).await.status, 204);
    assert_eq!(s.post("/api/logout/", &token).await.status, 204);
    s.get("/api/auth/", &token)
        .await
        .assert_error(401, "Invalid token.");
}

/// A browser's cross-origin `POST` carries the durin cookie; the proxy asks `GET auth/`
/// with the original method in `X-Original-Method`. The cookie counts only for a safe
/// original method or a request whose Origin names the host.
async fn forward_auth_checks_the_origin_of_cookie_requests(s: Server) {
    let r = s
        .send(s.http.post(s.url("/api/login/")).json(&json!({
            "username": ALICE.0, "password": ALICE.1, "client": "web", "transport": "cookie",
        })).header("Origin", s.base.clone()))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let cookie = r
        .header("set-cookie")
        .expect("set-cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let host = s.base.trim_start_matches("http://").to_owned();
    let ask = |method: Option<&str>, origin: Option<&str>| {
        let mut request = s
            .http
            .get(s.url("/api/auth/"))
            .header("Cookie", cookie.clone());
        if let Some(method) = method {
            request = request.header("X-Original-Method", method);
        }
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        s.send(request)
    };
    // A safe original method: the cookie counts.
    let r = ask(Some("GET"), None).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(r.header("x-durin-user"), Some("alice"));
    // An unsafe one from another site, or with no Origin at all: ignored (401).
    for origin in [Some("https://evil.example"), None] {
        let r = ask(Some("POST"), origin).await;
        r.assert_error(401, NOT_PROVIDED);
        assert!(r.header("x-durin-user").is_none());
    }
    // No method header: counted as unsafe.
    ask(None, Some("https://evil.example"))
        .await
        .assert_error(401, NOT_PROVIDED);
    let r = s
        .send(
            s.http
                .get(s.url("/api/auth/"))
                .header("Cookie", cookie.clone())
                .header("X-Forwarded-Method", "DELETE")
                .header("Origin", "https://evil.example"),
        )
        .await;
    r.assert_error(401, NOT_PROVIDED);
    // Same origin: it counts.
    let own = format!("http://{host}");
    assert_eq!(ask(Some("POST"), Some(&own)).await.status, 204);
    // The header transport needs no Origin (a browser never adds it by itself).
    let token = s.login(ALICE, "web").await;
    let r = s
        .send(
            s.http
                .get(s.url("/api/auth/"))
                .bearer_auth(&token)
                .header("X-Original-Method", "POST")
                .header("Origin", "https://evil.example"),
        )
        .await;
    assert_eq!(r.status, 204);
}

async fn gateways_answer_503_when_the_store_is_down(s: Server) {
    let (package, backend) = (s.package.clone(), s.backend.clone());
    let gateway = gateway_key(&s, BOB).await;
    let token = s.login(ALICE, "web").await;
    s.stop().await;
    let dead = match backend.as_str() {
        "sqlite" => "sqlite:///nonexistent-durin-dir/sub/durin.db".to_owned(),
        "postgres" => "postgres://postgres@127.0.0.1:1/durin".to_owned(),
        "redis" => "redis://127.0.0.1:1".to_owned(),
        "redis-cluster" => "redis+cluster://127.0.0.1:1".to_owned(),
        other => panic!("unknown backend {other}"),
    };
    let s = Server::start_with(&package, &backend, &gateway_flags(), Some(&dead)).await;
    for method in [Method::GET, Method::HEAD] {
        let r = s.call(method.clone(), "/api/auth/", &token).await;
        assert_eq!(r.status, 503, "{method}: {:?}", r.body);
    }
    s.get("/api/auth/", &token)
        .await
        .assert_error(503, "Authentication service unavailable.");
    introspect(&s, &gateway, &[("token", &token)])
        .await
        .assert_error(503, "Authentication service unavailable.");
    // Malformed input is still refused before any I/O.
    s.get("/api/auth/", "garbage")
        .await
        .assert_error(401, "Invalid token.");
}

durin_contract::server_cases!(
    on_gateway_server,
    [
        introspection_describes_an_active_token,
        introspection_never_says_why_a_token_is_inactive,
        introspection_is_only_for_introspection_clients,
        a_malformed_introspection_body_is_400,
        forward_auth_answers_204_with_the_identity,
        forward_auth_refuses_with_the_challenge,
        forward_auth_checks_the_origin_of_cookie_requests,
        special_clients_refuse_password_logins,
        gateways_answer_503_when_the_store_is_down,
    ]
);

// --- many nodes ------------------------------------------------------------------------

/// A logout on node A reaches node B's introspection and forward-auth, although B had
/// the token in its cache: they check revocation exactly as authentication does. The
/// gateway's key comes from the `durin` CLI.
async fn a_revocation_on_another_node_reaches_introspection(backend: &str) {
    if !durin_contract::backend_selected(backend) {
        return;
    }
    let cluster = Cluster::start(
        backend,
        2,
        &["--client=gateway:never", "--introspection-client=gateway"],
    )
    .await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    // A gateway gets an API key of an introspection client with the CLI.
    let run = cluster
        .cli(&["apikey", "create", "--user=gw", "--client=gateway"])
        .await;
    let gateway = run.ok().trim().to_owned();
    assert!(gateway.starts_with("durin_"), "{run:?}");
    // A key of an introspection client manages no account, however it was issued.
    a.post("/api/logoutall/", &gateway)
        .await
        .assert_error(403, FORBIDDEN);
    a.get("/api/sessions/", &gateway)
        .await
        .assert_error(403, FORBIDDEN);
    let token = a.login(ALICE, "web").await;
    // B caches the session.
    assert_eq!(
        introspect(b, &gateway, &[("token", &token)]).await.body["active"],
        true
    );
    assert_eq!(b.get("/api/auth/", &token).await.status, 204);
    assert_eq!(a.post("/api/logout/", &token).await.status, 204);
    eventually(
        "the revocation reaches B's introspection",
        Duration::from_secs(10),
        || async {
            introspect(b, &gateway, &[("token", &token)]).await.body == json!({"active": false})
        },
    )
    .await;
    b.get("/api/auth/", &token)
        .await
        .assert_error(401, "Invalid token.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_another_node_reaches_introspection_on_sqlite() {
    a_revocation_on_another_node_reaches_introspection("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_another_node_reaches_introspection_on_postgres() {
    a_revocation_on_another_node_reaches_introspection("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_another_node_reaches_introspection_on_redis() {
    a_revocation_on_another_node_reaches_introspection("redis").await;
}

// --- the real nginx --------------------------------------------------------------------

/// The nginx binary: on `PATH` or Debian's `/usr/sbin/nginx`. Panics when absent
/// (`scripts/services.sh` installs it): this test must not pass without running.
fn nginx_binary() -> std::path::PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([std::path::PathBuf::from("/usr/sbin")]);
    for dir in candidates {
        let nginx = dir.join("nginx");
        if nginx.is_file() {
            return nginx;
        }
    }
    panic!("nginx is not installed: run scripts/services.sh (apt-get install nginx)");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .expect("local addr")
        .port()
}

/// A tiny upstream application: answers every request 200 with the `X-Durin-*` and
/// `Authorization` headers it received, one per line, lower-cased.
async fn upstream() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                    if request.len() > 64 * 1024 {
                        return;
                    }
                }
                let text = String::from_utf8_lossy(&request).to_lowercase();
                let seen: Vec<&str> = text
                    .lines()
                    .filter(|l| {
                        l.starts_with("x-durin-")
                            || l.starts_with("authorization")
                            || l.starts_with("cookie")
                    })
                    .collect();
                let body = format!("upstream\n{}\n", seen.join("\n"));
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (port, task)
}

/// nginx runs `examples/nginx/nginx.conf` unchanged but for its three ports.
async fn nginx_in_front_of_an_upstream(package: &str) {
    if !durin_contract::selected(package, "sqlite") {
        return;
    }
    let nginx = nginx_binary();
    let s = Server::start(package, "sqlite").await;
    let (app_port, app) = upstream().await;
    let durin_port = s.base.rsplit(':').next().expect("port");
    let proxy_port = free_port();
    let example = include_str!("../../../examples/nginx/nginx.conf");
    for port in ["127.0.0.1:8080", "127.0.0.1:8000", "127.0.0.1:9000"] {
        assert!(example.contains(port), "the example names {port}");
    }
    let config = example
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{proxy_port}"))
        .replace("127.0.0.1:8000", &format!("127.0.0.1:{durin_port}"))
        .replace("127.0.0.1:9000", &format!("127.0.0.1:{app_port}"));
    let prefix =
        std::env::temp_dir().join(format!("durin-nginx-{proxy_port}-{}", std::process::id()));
    std::fs::create_dir_all(&prefix).expect("nginx prefix");
    let conf = prefix.join("nginx.conf");
    std::fs::write(&conf, config).expect("write nginx.conf");
    // In the foreground, one process (no privilege drop to a worker user), killed on drop.
    let mut child = tokio::process::Command::new(&nginx)
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&conf)
        .args(["-g", "daemon off; master_process off;"])
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", nginx.display()));
    let base = format!("http://127.0.0.1:{proxy_port}");
    let http = durin_contract::client(None);
    eventually("nginx listens", Duration::from_secs(10), || async {
        http.get(format!("{base}/")).send().await.is_ok()
    })
    .await;
    let get = |token: Option<String>| {
        let mut request = http.get(format!("{base}/some/page?x=1"));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        // A client cannot forge the identity headers.
        request = request.header("X-Durin-User", "root");
        async move {
            let response = request.send().await.expect("request through nginx");
            let status = response.status().as_u16();
            let challenge = response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            (status, challenge, response.text().await.expect("body"))
        }
    };
    // Without a token: 401 with durin's challenge; the upstream never sees the request.
    let (status, challenge, body) = get(None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(challenge.as_deref(), Some("Bearer realm=\"api\""));
    assert!(!body.contains("upstream"), "{body}");
    // With a token: 200 from the upstream, with the identity durin gave.
    let token = s.login(ALICE, "web").await;
    let session = s.get("/api/me", &token).await.body["session"]
        .as_str()
        .expect("session")
        .to_owned();
    let (status, _, body) = get(Some(token.clone())).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("upstream\n"), "{body}");
    assert!(body.contains("x-durin-user: alice\n"), "{body}");
    assert!(!body.contains("root"), "{body}");
    assert!(body.contains("x-durin-client: web\n"), "{body}");
    assert!(
        body.contains(&format!("x-durin-session: {}\n", session.to_lowercase())),
        "{body}"
    );
    assert!(
        !body.contains("authorization"),
        "the token reached the upstream: {body}"
    );
    // The cookie transport through nginx: a safe method passes, and the cookie (the
    // token) never reaches the upstream; a cross-origin POST is refused (the CSRF rule
    // sees the original method), a same-origin one passes.
    let r = s
        .send(
            s.http
                .post(s.url("/api/login/"))
                .header("Origin", s.base.clone())
                .json(&serde_json::json!({
                    // Another client: a second web login would end `token`.
                    "username": ALICE.0, "password": ALICE.1, "client": "plain", "transport": "cookie",
                })),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let cookie = r
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("cookie")
        .to_owned();
    let through = |method: reqwest::Method, origin: Option<String>| {
        let mut request = http
            .request(method, format!("{base}/some/page"))
            .header("Cookie", cookie.clone());
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        async move {
            let response = request.send().await.expect("request through nginx");
            let status = response.status().as_u16();
            (status, response.text().await.expect("body"))
        }
    };
    let (status, body) = through(reqwest::Method::GET, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("x-durin-user: alice\n"), "{body}");
    assert!(
        !body.contains("cookie"),
        "the cookie reached the upstream: {body}"
    );
    let (status, body) = through(
        reqwest::Method::POST,
        Some("https://evil.example".to_owned()),
    )
    .await;
    assert_eq!(status, 401, "a cross-origin POST got through: {body}");
    assert!(!body.contains("upstream"), "{body}");
    let (status, body) = through(reqwest::Method::POST, Some(base.clone())).await;
    assert_eq!(status, 200, "{body}");
    // Right after logout: 401.
    assert_eq!(s.post("/api/logout/", &token).await.status, 204);
    let (status, challenge, body) = get(Some(token)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        challenge.as_deref(),
        Some("Bearer realm=\"api\", error=\"invalid_token\"")
    );
    let _ = child.kill().await;
    app.abort();
    s.stop().await;
    let _ = std::fs::remove_dir_all(&prefix);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_in_front_of_an_upstream_on_axum_server() {
    nginx_in_front_of_an_upstream("axum-server").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_in_front_of_an_upstream_on_actix_server() {
    nginx_in_front_of_an_upstream("actix-server").await;
}
