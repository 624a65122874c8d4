//! The OpenAPI document the example servers serve at `GET /api/openapi.json` is true.
//!
//! On every server and backend: the document is OpenAPI 3.1 and lists exactly the routes
//! the servers mount (`durin_http::ROUTES` under `/api/` and `server_common::DEMO_ROUTES`);
//! real requests then produce every documented (path, method, status), and each real
//! answer is checked against the document: its status must be documented for that
//! operation, its body must validate (JSON Schema 2020-12, `$ref`s resolved against the
//! document's components) against the schema of its content type, a response documented
//! without content must have no body, and every header the document marks `required` must
//! be present and match its schema. `--no-openapi` turns the route off (404).

use std::collections::BTreeSet;

use durin_contract::{ALICE, BOB, Response, Server, by_name, standard_flags};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

/// (path, method, status) the example servers cannot produce, and why. Everything else
/// the document lists must be seen.
const NOT_PRODUCIBLE: &[(&str, &str, u16, &str)] = &[
    (
        "/api/token/refresh/",
        "post",
        200,
        "no flag of the example servers makes a client issue refresh tokens",
    ),
    (
        "/api/settings/",
        "get",
        404,
        "the example servers always have a settings store",
    ),
    (
        "/api/settings/",
        "put",
        404,
        "the example servers always have a settings store",
    ),
];

/// A path parameter that names no session.
const UNKNOWN_ID: &str = "0123456789abcdefghijkl";

/// The document, and the statuses seen so far.
struct Spec {
    doc: Value,
    seen: BTreeSet<(String, String, u16)>,
}

impl Spec {
    /// Fetches the document from `s` (no credentials) and checks its version.
    async fn fetch(s: &Server) -> Spec {
        let r = s.send(s.http.get(s.url("/api/openapi.json"))).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let version = r.body["openapi"].as_str().unwrap_or_default();
        assert!(version.starts_with("3.1."), "openapi: {version:?}");
        let mut spec = Spec {
            doc: r.body.clone(),
            seen: BTreeSet::new(),
        };
        spec.check("get", "/api/openapi.json", &r);
        spec
    }

    /// Every (path, method) of the document.
    fn operations(&self) -> Vec<(String, String)> {
        let mut ops = Vec::new();
        for (path, item) in self.doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                ops.push((path.clone(), method.clone()));
            }
        }
        ops
    }

    fn operation(&self, path: &str, method: &str) -> &Value {
        let op = &self.doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        op
    }

    /// Every documented (path, method, status).
    fn documented(&self) -> BTreeSet<(String, String, u16)> {
        let mut all = BTreeSet::new();
        for (path, method) in self.operations() {
            for status in self.operation(&path, &method)["responses"]
                .as_object()
                .expect("responses")
                .keys()
            {
                let status = status.parse().expect("a numeric status");
                all.insert((path.clone(), method.clone(), status));
            }
        }
        all
    }

    /// A validator of `schema` (a schema of this document).
    fn validator(&self, schema: &Value) -> jsonschema::Validator {
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        jsonschema::draft202012::new(&root)
            .unwrap_or_else(|e| panic!("invalid schema {schema}: {e}"))
    }

    /// Checks a real answer of `method path` (the document's path) against the document.
    #[track_caller]
    fn check(&mut self, method: &str, path: &str, r: &Response) {
        let what = format!("{} {path} → {}", method.to_ascii_uppercase(), r.status);
        let documented = &self.operation(path, method)["responses"][r.status.to_string()];
        assert!(
            documented.is_object(),
            "{what} is not documented: {:?}",
            r.body
        );
        let documented = documented.clone();
        match documented.get("content").and_then(Value::as_object) {
            None => assert!(
                r.body.is_null(),
                "{what}: a body where none is documented: {:?}",
                r.body
            ),
            Some(content) if method == "head" => {
                panic!("{what}: HEAD documented with content {content:?}")
            }
            Some(content) => {
                let media = r
                    .header("content-type")
                    .unwrap_or_default()
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase();
                let schema = &content.get(&media).unwrap_or_else(|| {
                    panic!(
                        "{what}: content type {media:?} is not documented: {:?}",
                        r.body
                    )
                })["schema"];
                let validator = self.validator(schema);
                let errors: Vec<String> = validator
                    .iter_errors(&r.body)
                    .map(|e| e.to_string())
                    .collect();
                assert!(
                    errors.is_empty(),
                    "{what}: {:?} does not match {schema}: {errors:?}",
                    r.body
                );
            }
        }
        if let Some(headers) = documented.get("headers").and_then(Value::as_object) {
            for (name, header) in headers {
                match r.header(name) {
                    Some(value) => {
                        let validator = self.validator(&header["schema"]);
                        assert!(
                            validator.is_valid(&json!(value)),
                            "{what}: header {name}: {value:?} does not match {}",
                            header["schema"]
                        );
                    }
                    None => assert!(
                        header["required"] != true,
                        "{what}: the required header {name} is missing"
                    ),
                }
            }
        }
        self.seen
            .insert((path.to_owned(), method.to_owned(), r.status));
    }

    /// Sends `request` (for `method path`, the document's path) and checks the answer.
    async fn call(
        &mut self,
        s: &Server,
        method: &str,
        path: &str,
        request: RequestBuilder,
    ) -> Response {
        let r = s.send(request).await;
        self.check(method, path, &r);
        r
    }
}

/// A request for `method path` (the document's path) with `{id}` filled in and, for the
/// endpoints that read one, an acceptable body; `token` in the `Authorization` header.
fn request(s: &Server, method: &str, path: &str, token: Option<&str>) -> RequestBuilder {
    let method_ = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("method");
    let mut request = s
        .http
        .request(method_, s.url(&path.replace("{id}", UNKNOWN_ID)));
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    match (method, path) {
        ("post", "/api/login/") => request.json(&json!({
            "username": ALICE.0, "password": ALICE.1, "client": "plain",
        })),
        ("post", "/api/token/refresh/") => {
            request.json(&json!({ "refresh_token": token.unwrap_or("durin_x") }))
        }
        ("post", "/api/introspect/") => request.json(&json!({ "token": token.unwrap_or("x") })),
        ("post", "/api/tokens/") => request.json(&json!({ "name": "generic" })),
        ("put", "/api/settings/") => request.json(&json!({})),
        _ => request,
    }
}

fn flags(extra: &[&str]) -> Vec<String> {
    let mut flags = standard_flags();
    flags.extend(extra.iter().map(|f| (*f).to_owned()));
    flags
}

/// A database URL of `backend` that cannot be reached.
fn unreachable(backend: &str) -> &'static str {
    match backend {
        "sqlite" => "sqlite:///nonexistent-durin-dir/sub/durin.db",
        "postgres" => "postgres://postgres@127.0.0.1:1/durin",
        "redis" => "redis://127.0.0.1:1",
        "redis-cluster" => "redis+cluster://127.0.0.1:1",
        other => panic!("unknown backend {other}"),
    }
}

/// The `name=value` of the token cookie a cookie login set.
fn cookie(r: &Response) -> String {
    let set = r.header("set-cookie").expect("Set-Cookie");
    set.split(';').next().expect("name=value").to_owned()
}

async fn the_document_holds_for_every_answer(package: &'static str, backend: &'static str) {
    let s = Server::start_with(
        package,
        backend,
        &flags(&[
            "--tokens-client=pat",
            "--introspection-client=gw",
            "--client=gw:never",
        ])
        .into_iter()
        // The gateway's key is an API key of gw: a password login through an
        // introspection client is refused.
        .map(|f| {
            if f == "--api-access-client=api" {
                "--api-access-client=gw".to_owned()
            } else {
                f
            }
        })
        .collect::<Vec<_>>(),
        None,
    )
    .await;
    let mut spec = Spec::fetch(&s).await;

    // The document lists exactly what the servers mount.
    let documented: BTreeSet<(String, String)> = spec
        .operations()
        .into_iter()
        .map(|(path, method)| (method.to_ascii_uppercase(), path))
        .collect();
    let mounted: BTreeSet<(String, String)> = durin_http::ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), format!("/api/{}", r.path)))
        .chain(
            server_common::DEMO_ROUTES
                .iter()
                .map(|(m, p)| ((*m).to_owned(), (*p).to_owned())),
        )
        .collect();
    assert_eq!(
        documented, mounted,
        "the document and the mounted routes differ"
    );
    // The check can fail: an undocumented path is not served.
    let r = s.send(s.http.get(s.url("/api/not-documented"))).await;
    assert_eq!(r.status, 404);

    // Every authenticated operation: 401 without credentials.
    for (path, method) in spec.operations() {
        if spec.operation(&path, &method).get("security").is_some() {
            let r = spec
                .call(&s, &method, &path, request(&s, &method, &path, None))
                .await;
            assert_eq!(r.status, 401, "{method} {path}");
        }
    }

    // Every unsafe operation through the cookie without an Origin: 403 (CSRF).
    let login = s
        .send(
            s.http
                .post(s.url("/api/login/"))
                .json(&json!({
                    "username": BOB.0, "password": BOB.1, "client": "web", "transport": "cookie",
                }))
                .header("Origin", s.base.clone()),
        )
        .await;
    spec.check("post", "/api/login/", &login);
    let bob_cookie = cookie(&login);
    for (path, method) in spec.operations() {
        let op = spec.operation(&path, &method);
        let cookie_scheme = op["security"]
            .as_array()
            .is_some_and(|alternatives| alternatives.iter().any(|a| a.get("cookie").is_some()));
        if cookie_scheme && !matches!(method.as_str(), "get" | "head") {
            let request = request(&s, &method, &path, None).header("Cookie", &bob_cookie);
            let r = spec.call(&s, &method, &path, request).await;
            r.assert_error(403, "CSRF Failed: Origin checking failed.");
        }
    }

    let t = s.login(ALICE, "web").await;
    let auth = |request: RequestBuilder, token: &str| {
        request.header("Authorization", format!("Bearer {token}"))
    };

    // Login: JSON and form, field errors, no client, the failed-login limit.
    let r = spec
        .call(
            &s,
            "post",
            "/api/login/",
            request(&s, "post", "/api/login/", None),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let form = s.http.post(s.url("/api/login")).form(&[
        ("username", ALICE.0),
        ("password", ALICE.1),
        ("client", "forever"),
    ]);
    assert_eq!(spec.call(&s, "post", "/api/login/", form).await.status, 200);
    let r = spec
        .call(
            &s,
            "post",
            "/api/login/",
            s.http.post(s.url("/api/login/")).json(&json!({})),
        )
        .await;
    assert_eq!(r.body["username"], json!(["This field is required."]));
    let r = spec
        .call(
            &s,
            "post",
            "/api/login/",
            s.http
                .post(s.url("/api/login/"))
                .json(&json!({"username": "a", "password": "b"})),
        )
        .await;
    r.assert_error(400, "No client specified.");
    for attempt in 1..=11 {
        let wrong = s.http.post(s.url("/api/login/")).json(&json!({
            "username": "mallory", "password": "guess", "client": "web",
        }));
        let r = spec.call(&s, "post", "/api/login/", wrong).await;
        let expected = if attempt <= 10 { 400 } else { 429 };
        assert_eq!(r.status, expected, "attempt {attempt}: {:?}", r.body);
    }

    // Refresh and token refresh.
    let r = spec
        .call(
            &s,
            "post",
            "/api/refresh/",
            auth(s.http.post(s.url("/api/refresh/")), &t),
        )
        .await;
    assert_eq!(r.status, 200);
    let path = "/api/token/refresh/";
    let r = spec
        .call(&s, "post", path, s.http.post(s.url(path)).json(&json!({})))
        .await;
    assert_eq!(r.status, 400);
    let r = spec
        .call(
            &s,
            "post",
            path,
            s.http
                .post(s.url(path))
                .json(&json!({"refresh_token": "durin_nope"})),
        )
        .await;
    assert_eq!(r.status, 401);

    // Sessions.
    let plain = s.login(ALICE, "plain").await;
    let r = spec
        .call(
            &s,
            "get",
            "/api/sessions/",
            auth(s.http.get(s.url("/api/sessions/")), &t),
        )
        .await;
    let sessions = r.body.as_array().expect("a list").clone();
    let id_of = |current: bool, client: &str| {
        sessions
            .iter()
            .find(|x| x["is_current"] == current && x["client"] == client)
            .and_then(|x| x["id"].as_str())
            .expect("a session")
            .to_owned()
    };
    let (current, other) = (id_of(true, "web"), id_of(false, "plain"));
    let one = "/api/sessions/{id}";
    for (id, status) in [(current, 400), (UNKNOWN_ID.to_owned(), 404), (other, 204)] {
        let request = auth(s.http.delete(s.url(&format!("/api/sessions/{id}"))), &t);
        assert_eq!(spec.call(&s, "delete", one, request).await.status, status);
    }
    let r = spec.get_plain(&s, &plain, "/api/me").await;
    assert_eq!(r.status, 401, "the revoked session");

    // Logout.
    let plain = s.login(ALICE, "plain").await;
    let r = spec
        .call(
            &s,
            "post",
            "/api/logout/",
            auth(s.http.post(s.url("/api/logout/")), &plain),
        )
        .await;
    assert_eq!(r.status, 204);

    // API access: none yet, issued, again, shown, deleted.
    let path = "/api/apiaccess/";
    for (method, status) in [
        ("get", 404),
        ("delete", 404),
        ("post", 201),
        ("post", 400),
        ("get", 200),
        ("delete", 204),
    ] {
        let request = auth(request(&s, method, path, None), &t);
        assert_eq!(
            spec.call(&s, method, path, request).await.status,
            status,
            "{method} {path}"
        );
    }

    // Named tokens.
    let path = "/api/tokens/";
    let create = |name: &str| auth(s.http.post(s.url(path)).json(&json!({ "name": name })), &t);
    let r = spec.call(&s, "post", path, create("ci")).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().expect("id").to_owned();
    assert_eq!(spec.call(&s, "post", path, create("ci")).await.status, 400);
    assert_eq!(
        spec.call(&s, "get", path, auth(s.http.get(s.url(path)), &t))
            .await
            .status,
        200
    );
    // Just over durin-axum's 1 MiB (and actix-web's 256 KiB), so little is left unread;
    // on a client of its own: a server may close the connection after refusing a body.
    let fresh = durin_contract::client(None);
    let huge = auth(
        fresh
            .post(s.url(path))
            .header("content-type", "application/json"),
        &t,
    )
    .body(vec![b' '; 1024 * 1024 + 1]);
    assert_eq!(spec.call(&s, "post", path, huge).await.status, 413);
    // Every other route that reads a body refuses one over its 64 KiB limit alike
    // (introspection only for a caller that may introspect: others get 403 unread).
    let gateway = {
        let bob = s.login(BOB, "web").await;
        let r = s.post("/api/apiaccess/", &bob).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body["token"].as_str().expect("key").to_owned()
    };
    // Least privilege: an API key (as a named token) manages nothing; a cookie login
    // without this site's Origin is refused (login CSRF).
    for (method, path) in [
        ("post", "/api/logoutall/"),
        ("get", "/api/sessions/"),
        ("delete", "/api/sessions/{id}"),
        ("get", "/api/apiaccess/"),
        ("post", "/api/apiaccess/"),
        ("delete", "/api/apiaccess/"),
        ("get", "/api/tokens/"),
        ("post", "/api/tokens/"),
        ("delete", "/api/tokens/{id}"),
        ("get", "/api/settings/"),
        ("put", "/api/settings/"),
    ] {
        let r = spec
            .call(&s, method, path, request(&s, method, path, Some(&gateway)))
            .await;
        assert_eq!(r.status, 403, "{method} {path}: {:?}", r.body);
    }
    let r = spec
        .call(
            &s,
            "post",
            "/api/login/",
            s.http.post(s.url("/api/login/")).json(&json!({
                "username": BOB.0, "password": BOB.1, "client": "web", "transport": "cookie",
            })),
        )
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    for over in ["/api/login/", "/api/token/refresh/", "/api/introspect/"] {
        let caller = if over == "/api/introspect/" {
            &gateway
        } else {
            &t
        };
        let request = auth(
            durin_contract::client(None)
                .post(s.url(over))
                .header("content-type", "application/json"),
            caller,
        )
        .body(vec![b' '; 64 * 1024 + 1]);
        assert_eq!(
            spec.call(&s, "post", over, request).await.status,
            413,
            "{over}"
        );
    }
    let one = "/api/tokens/{id}";
    for (id, status) in [(id.as_str(), 204), (UNKNOWN_ID, 404)] {
        let request = auth(s.http.delete(s.url(&format!("/api/tokens/{id}"))), &t);
        assert_eq!(spec.call(&s, "delete", one, request).await.status, status);
    }

    // Settings.
    let path = "/api/settings/";
    let put = |body: Vec<u8>| {
        auth(
            s.http
                .put(s.url(path))
                .header("content-type", "application/json"),
            &t,
        )
        .body(body)
    };
    assert_eq!(
        spec.call(&s, "get", path, auth(s.http.get(s.url(path)), &t))
            .await
            .status,
        200
    );
    assert_eq!(
        spec.call(&s, "put", path, put(br#"{"theme": "dark"}"#.to_vec()))
            .await
            .status,
        200
    );
    assert_eq!(
        spec.call(&s, "put", path, put(b"[1]".to_vec()))
            .await
            .status,
        400
    );
    let big = format!(r#"{{"x": "{}"}}"#, "a".repeat(17 * 1024));
    assert_eq!(
        spec.call(&s, "put", path, put(big.into_bytes()))
            .await
            .status,
        413
    );

    // Introspection: active, inactive, missing token, a client that may not.
    let path = "/api/introspect/";
    let introspect = |token: &str, body: Value| auth(s.http.post(s.url(path)).json(&body), token);
    let r = spec
        .call(
            &s,
            "post",
            path,
            introspect(&gateway, json!({ "token": t })),
        )
        .await;
    assert_eq!(r.body["active"], true, "{:?}", r.body);
    let r = spec
        .call(
            &s,
            "post",
            path,
            introspect(&gateway, json!({ "token": "nope" })),
        )
        .await;
    assert_eq!(r.body, json!({ "active": false }));
    assert_eq!(
        spec.call(&s, "post", path, introspect(&gateway, json!({})))
            .await
            .status,
        400
    );
    assert_eq!(
        spec.call(&s, "post", path, introspect(&t, json!({ "token": t })))
            .await
            .status,
        403
    );

    // Forward-auth.
    for method in ["get", "head"] {
        let r = spec
            .call(
                &s,
                method,
                "/api/auth/",
                auth(request(&s, method, "/api/auth/", None), &t),
            )
            .await;
        assert_eq!(r.status, 204);
    }

    // The demo routes.
    assert_eq!(spec.get_plain(&s, &t, "/api/me").await.status, 200);
    assert_eq!(spec.get_plain(&s, &t, "/api/only-web").await.status, 200);
    assert_eq!(spec.get_plain(&s, &t, "/api/no-web").await.status, 403);
    let plain = s.login(ALICE, "plain").await;
    assert_eq!(
        spec.get_plain(&s, &plain, "/api/only-web").await.status,
        403
    );
    assert_eq!(spec.get_plain(&s, &plain, "/api/no-web").await.status, 200);
    let cli = s.login(ALICE, "cli").await; // 2/m: two pass, the third is throttled
    let statuses = [
        spec.get_plain(&s, &cli, "/api/throttled").await.status,
        spec.get_plain(&s, &cli, "/api/throttled").await.status,
        spec.get_plain(&s, &cli, "/api/throttled").await.status,
    ];
    assert_eq!(statuses, [200, 200, 429]);
    for path in ["/health", "/ready", "/"] {
        assert_eq!(
            spec.call(&s, "get", path, s.http.get(s.url(path)))
                .await
                .status,
            200,
            "{path}"
        );
    }

    // Logout-all, last: it ends bob's cookie session too.
    let bob = s.login(BOB, "forever").await;
    let r = spec
        .call(
            &s,
            "post",
            "/api/logoutall/",
            auth(s.http.post(s.url("/api/logoutall/")), &bob),
        )
        .await;
    assert_eq!(r.status, 204);

    // A server without a tokens client or an API-access client: those routes are 404.
    // With --no-openapi.
    let bare_flags: Vec<String> = flags(&["--no-openapi"])
        .into_iter()
        .filter(|f| !f.starts_with("--api-access-client"))
        .collect();
    let bare = Server::start_with(package, backend, &bare_flags, None).await;
    let token = bare.login(ALICE, "web").await;
    for (method, path) in [
        ("get", "/api/tokens/"),
        ("post", "/api/tokens/"),
        ("delete", "/api/tokens/{id}"),
        ("post", "/api/apiaccess/"),
    ] {
        let r = spec
            .call(
                &bare,
                method,
                path,
                request(&bare, method, path, Some(&token)),
            )
            .await;
        r.assert_error(404, "Not found.");
    }
    let r = bare
        .send(bare.http.get(bare.url("/api/openapi.json")))
        .await;
    assert_eq!(r.status, 404, "--no-openapi: {:?}", r.body);
    bare.stop().await;

    // A server whose store is down: every operation answers as documented (503 wherever
    // the store is needed).
    let down = Server::start_with(
        package,
        backend,
        &flags(&[
            "--tokens-client=pat",
            "--introspection-client=gw",
            "--client=gw:never",
        ]),
        Some(unreachable(backend)),
    )
    .await;
    for (path, method) in spec.operations() {
        let r = spec
            .call(
                &down,
                &method,
                &path,
                request(&down, &method, &path, Some(&t)),
            )
            .await;
        // Routes that need no store (`/metrics` once the servers serve it).
        let public = [
            "/health",
            "/",
            "/api/openapi.json",
            "/metrics",
            "/api/me-anonymous",
        ];
        if !public.contains(&path.as_str()) {
            assert_eq!(r.status, 503, "{method} {path}: {:?}", r.body);
        }
    }
    down.stop().await;
    s.stop().await;

    // Every documented answer was seen, except those the servers cannot give.
    let exempt: BTreeSet<(String, String, u16)> = NOT_PRODUCIBLE
        .iter()
        .map(|(path, method, status, _)| ((*path).to_owned(), (*method).to_owned(), *status))
        .collect();
    let expected: BTreeSet<_> = spec.documented().difference(&exempt).cloned().collect();
    let missing: Vec<_> = expected.difference(&spec.seen).collect();
    assert!(
        missing.is_empty(),
        "documented but never produced: {missing:?}"
    );
    let exempt_seen: Vec<_> = exempt.intersection(&spec.seen).collect();
    assert!(
        exempt_seen.is_empty(),
        "NOT_PRODUCIBLE lists answers that were produced: {exempt_seen:?}"
    );
    for (path, method, status) in &exempt {
        assert!(
            spec.documented()
                .contains(&(path.clone(), method.clone(), *status)),
            "NOT_PRODUCIBLE lists {method} {path} {status}, which is not documented"
        );
    }
}

impl Spec {
    /// `GET path` (a demo route) with `token`, checked.
    async fn get_plain(&mut self, s: &Server, token: &str, path: &str) -> Response {
        let request = s
            .http
            .get(s.url(path))
            .header("Authorization", format!("Bearer {token}"));
        self.call(s, "get", path, request).await
    }
}

durin_contract::server_cases!(by_name, [the_document_holds_for_every_answer]);

/// The checks can fail: a wrong body, an undocumented status, a missing required header,
/// a body where none is documented are each refused (on the servers' own document).
#[test]
fn the_check_refuses_what_the_document_does_not_allow() {
    let doc = server_common::openapi::document(&server_common::http_config());
    let doc: Value = serde_json::from_str(&doc.to_json().expect("JSON")).expect("JSON");
    let answer = |status: u16, headers: &[(&'static str, &str)], body: Value| {
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().expect("header value"));
        }
        Response {
            status,
            headers: map,
            body,
        }
    };
    let json_type = ("content-type", "application/json");
    let challenge = (
        "www-authenticate",
        "Bearer realm=\"api\", error=\"invalid_token\"",
    );
    let refused = |method: &'static str, path: &'static str, r: Response| {
        let doc = doc.clone();
        let outcome = std::panic::catch_unwind(move || {
            let mut spec = Spec {
                doc,
                seen: BTreeSet::new(),
            };
            spec.check(method, path, &r);
        });
        assert!(outcome.is_err(), "{method} {path} passed");
    };
    let expiry = json!({ "expiry": "2026-01-01T00:00:00.000000Z" });
    // What passes.
    let mut spec = Spec {
        doc: doc.clone(),
        seen: BTreeSet::new(),
    };
    spec.check(
        "post",
        "/api/refresh/",
        &answer(200, &[json_type], expiry.clone()),
    );
    let invalid = json!({ "detail": "Invalid token." });
    spec.check(
        "get",
        "/api/me",
        &answer(401, &[json_type, challenge], invalid.clone()),
    );
    assert_eq!(spec.seen.len(), 2);
    // What does not.
    refused(
        "post",
        "/api/refresh/",
        answer(200, &[json_type], json!({ "expiry": "yesterday" })),
    );
    refused(
        "post",
        "/api/refresh/",
        answer(200, &[json_type], json!({ "expiry": null, "token": "x" })),
    );
    refused(
        "post",
        "/api/refresh/",
        answer(418, &[json_type], expiry.clone()),
    );
    refused(
        "post",
        "/api/refresh/",
        answer(200, &[("content-type", "text/plain")], expiry),
    );
    refused("get", "/api/me", answer(401, &[json_type], invalid.clone()));
    refused(
        "get",
        "/api/me",
        answer(401, &[json_type, ("www-authenticate", "Basic")], invalid),
    );
    refused("post", "/api/logout/", answer(204, &[json_type], json!({})));
    refused(
        "post",
        "/api/login/",
        answer(400, &[json_type], json!({ "username": "required" })),
    );
    refused(
        "post",
        "/api/not-a-route/",
        answer(200, &[json_type], json!({})),
    );
}
