//! Named personal tokens (`GET/POST tokens/`, `DELETE tokens/{id}`), settings per
//! (user, client) (`GET/PUT settings/`), the cookie transport they are used with from the
//! sessions page, and the page itself (`GET /`): black-box, on every selected server and
//! backend, as `docs/http-api.md` says.

use durin_contract::by_name;
use durin_contract::{ALICE, BOB, Response, Server, standard_flags};
use reqwest::Method;
use serde_json::{Value, json};

const NAME_TAKEN: &str = "A token with this name already exists.";
const INVALID: &str = "Invalid token.";
const FORBIDDEN: &str = "You do not have permission to perform this action.";

/// The standard server plus a tokens client `pat` (created by the server: TTL never,
/// cap 100).
async fn with_tokens(package: &str, backend: &str) -> Server {
    let mut flags = standard_flags();
    flags.push("--tokens-client=pat".to_owned());
    Server::start_with(package, backend, &flags, None).await
}

async fn create(s: &Server, token: &str, body: Value) -> Response {
    s.send(
        s.http
            .post(s.url("/api/tokens/"))
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

async fn put_settings(s: &Server, token: &str, body: impl Into<reqwest::Body>) -> Response {
    s.send(
        s.http
            .put(s.url("/api/settings/"))
            .bearer_auth(token)
            .header("Content-Type", "application/json")
            .body(body),
    )
    .await
}

// --- named tokens ----------------------------------------------------------------------

async fn tokens_are_created_listed_used_and_revoked(package: &str, backend: &str) {
    let s = with_tokens(package, backend).await;
    let web = s.login(ALICE, "web").await;
    assert_eq!(s.get("/api/tokens/", &web).await.body, json!([]));

    let r = create(&s, &web, json!({"name": "  ci deploy  "})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("durin_"), "{token}");
    assert_eq!(r.body["name"], "ci deploy");
    assert_eq!(r.body["scopes"], json!([]));
    assert_eq!(
        r.body["expiry"],
        Value::Null,
        "the tokens client never expires"
    );
    assert!(r.body["created"].as_str().unwrap().ends_with('Z'));

    // The token works, as the tokens client, for the same user.
    let me = s.get("/api/me", &token).await;
    assert_eq!((me.status, &me.body["user"]), (200, &json!("alice")));
    assert_eq!(me.body["client"], "pat");

    let r = create(
        &s,
        &web,
        json!({"name": "laptop", "expires_in": "30d", "scopes": []}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert!(r.body["expiry"].as_str().is_some(), "{:?}", r.body);
    let laptop = r.body["token"].as_str().unwrap().to_owned();

    // Listed oldest first, both slash forms, never the token.
    for path in ["/api/tokens/", "/api/tokens"] {
        let list = s.get(path, &web).await;
        assert_eq!(list.status, 200, "{:?}", list.body);
        let list = list.body.as_array().unwrap().clone();
        let names: Vec<&str> = list.iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["ci deploy", "laptop"]);
        for t in &list {
            assert!(t.get("token").is_none(), "{t}");
            for field in ["id", "name", "scopes", "created", "expiry", "last_used"] {
                assert!(t.get(field).is_some(), "{field} in {t}");
            }
        }
    }
    // A named token is also listed among the user's sessions (it is one).
    let sessions = s.get("/api/sessions/", &web).await.body;
    assert!(sessions.as_array().unwrap().iter().any(|x| x["id"] == id));

    // Another user can neither see nor revoke it.
    let bob = s.login(BOB, "web").await;
    assert_eq!(s.get("/api/tokens/", &bob).await.body, json!([]));
    s.delete(&format!("/api/tokens/{id}"), &bob)
        .await
        .assert_error(404, "Not found.");
    s.delete("/api/tokens/not-an-id", &web)
        .await
        .assert_error(404, "Not found.");
    // A session of another client is not a named token.
    let me = s.get("/api/me", &web).await;
    let web_session = me.body["session"].as_str().unwrap();
    s.delete(&format!("/api/tokens/{web_session}"), &bob)
        .await
        .assert_error(404, "Not found.");

    // Revoked: it stops working at once; the other one keeps working.
    assert_eq!(
        s.delete(&format!("/api/tokens/{id}/"), &web).await.status,
        204
    );
    s.get("/api/me", &token).await.assert_error(401, INVALID);
    s.delete(&format!("/api/tokens/{id}"), &web)
        .await
        .assert_error(404, "Not found.");
    assert_eq!(s.get("/api/me", &laptop).await.status, 200);
    // The name is free again.
    assert_eq!(
        create(&s, &web, json!({"name": "ci deploy"})).await.status,
        201
    );
    // A named token may not manage the named tokens (least privilege: only a login
    // session manages the account).
    s.get("/api/tokens/", &laptop)
        .await
        .assert_error(403, FORBIDDEN);
}

/// Least privilege: a named token or an API key acts for its user but manages nothing —
/// it can neither mint another token (a stronger or longer-lived one) nor end or list
/// the user's other sessions, keys or settings. Each refusal is 403, before any body is
/// read, and changes nothing.
async fn delegated_tokens_manage_nothing(package: &str, backend: &str) {
    let s = with_tokens(package, backend).await;
    let web = s.login(ALICE, "web").await;
    let r = create(&s, &web, json!({"name": "ci", "expires_in": "1h"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let named = r.body["token"].as_str().unwrap().to_owned();
    let r = s.post("/api/apiaccess/", &web).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let key = r.body["token"].as_str().unwrap().to_owned();
    for token in [&named, &key] {
        let r = create(
            &s,
            token,
            json!({"name": "stronger", "expires_in": "never"}),
        )
        .await;
        r.assert_error(403, FORBIDDEN);
        for (method, path) in [
            (Method::POST, "/api/logoutall/"),
            (Method::GET, "/api/sessions/"),
            (Method::GET, "/api/tokens/"),
            (Method::GET, "/api/apiaccess/"),
            (Method::POST, "/api/apiaccess/"),
            (Method::DELETE, "/api/apiaccess/"),
            (Method::GET, "/api/settings/"),
        ] {
            s.call(method.clone(), path, token)
                .await
                .assert_error(403, FORBIDDEN);
        }
        put_settings(&s, token, "{}")
            .await
            .assert_error(403, FORBIDDEN);
        let me = s.get("/api/me", &web).await;
        let web_session = me.body["session"].as_str().unwrap().to_owned();
        s.delete(&format!("/api/sessions/{web_session}"), token)
            .await
            .assert_error(403, FORBIDDEN);
        // It still works as a credential, and so does everything else.
        assert_eq!(s.get("/api/me", token).await.status, 200);
    }
    assert_eq!(s.get("/api/me", &web).await.status, 200);
    let list = s.get("/api/tokens/", &web).await.body;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
}

/// A named token's lifetime is fixed at creation: `refresh/` does not renew it (it
/// would take the tokens client's TTL, `never`).
async fn refresh_does_not_extend_a_named_token(package: &str, backend: &str) {
    let s = with_tokens(package, backend).await;
    let web = s.login(ALICE, "web").await;
    let r = create(&s, &web, json!({"name": "ci", "expires_in": "1h"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let expiry = r.body["expiry"].clone();
    assert!(expiry.is_string(), "{expiry}");
    let named = r.body["token"].as_str().unwrap().to_owned();
    s.post("/api/refresh/", &named)
        .await
        .assert_error(403, FORBIDDEN);
    let list = s.get("/api/tokens/", &web).await.body;
    assert_eq!(list[0]["expiry"], expiry, "{list}");
    // A login session still renews.
    assert_eq!(s.post("/api/refresh/", &web).await.status, 200);
}

/// Scopes are de-duplicated, then capped at 32.
async fn token_scopes_are_deduplicated_and_capped(package: &str, backend: &str) {
    let s = with_tokens(package, backend).await;
    let web = s.login(ALICE, "web").await;
    let copies: Vec<&str> = vec!["read"; 6000];
    // 6,000 copies are one scope (unknown to this tokens client, which offers none).
    let r = create(&s, &web, json!({"name": "ci", "scopes": copies})).await;
    assert_eq!(
        (r.status, &r.body),
        (400, &json!({"scopes": ["Unknown scope: read."]}))
    );
    let many: Vec<String> = (0..33).map(|i| format!("s{i}")).collect();
    let r = create(&s, &web, json!({"name": "ci", "scopes": many})).await;
    assert_eq!(
        (r.status, &r.body),
        (
            400,
            &json!({"scopes": ["Ensure this field has no more than 32 elements."]})
        )
    );
}

/// Names may not hold invisible formatting characters (bidi overrides, zero-width).
async fn token_names_refuse_invisible_characters(package: &str, backend: &str) {
    let s = with_tokens(package, backend).await;
    let web = s.login(ALICE, "web").await;
    for name in ["c\u{200B}i", "\u{202E}txt.exe", "ci\u{2066}", "\u{FEFF}ci"] {
        let r = create(&s, &web, json!({ "name": name })).await;
        assert_eq!(
            (r.status, &r.body),
            (
                400,
                &json!({"name": ["A token name may not hold invisible formatting characters."]})
            ),
            "{name:?}"
        );
    }
    assert_eq!(
        create(&s, &web, json!({"name": "déploiement"}))
            .await
            .status,
        201
    );
}

/// Login CSRF: a cross-site form with `transport=cookie` must not sign the browser in.
async fn a_cookie_login_passes_the_origin_check(package: &str, backend: &str) {
    let s = with_tokens(package, backend).await;
    let form = [
        ("username", ALICE.0),
        ("password", ALICE.1),
        ("client", "web"),
        ("transport", "cookie"),
    ];
    for origin in [Some("https://evil.example"), Some("null"), None] {
        let mut request = s.http.post(s.url("/api/login/")).form(&form);
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        let r = s.send(request).await;
        r.assert_error(403, "CSRF Failed: Origin checking failed.");
        assert!(r.header("set-cookie").is_none());
    }
    // The scheme counts too: an http:// page may not sign in to an https:// origin.
    let host = s.base.trim_start_matches("http://").to_owned();
    let r = s
        .send(
            s.http
                .post(s.url("/api/login/"))
                .form(&form)
                .header("Origin", s.base.clone()),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.header("set-cookie").is_some());
    let r = s
        .send(
            s.http
                .post(s.url("/api/login/"))
                .form(&form)
                .header("Origin", format!("ftp://{host}")),
        )
        .await;
    r.assert_error(403, "CSRF Failed: Origin checking failed.");
    // A header login needs no Origin.
    let r = s
        .send(s.http.post(s.url("/api/login/")).form(&form[..3]))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

async fn tokens_refuse_bad_input_with_field_messages(package: &str, backend: &str) {
    let s = with_tokens(package, backend).await;
    let web = s.login(ALICE, "web").await;
    assert_eq!(create(&s, &web, json!({"name": "ci"})).await.status, 201);

    let cases = [
        (json!({"name": "ci"}), json!({"name": [NAME_TAKEN]})),
        (json!({"name": " ci "}), json!({"name": [NAME_TAKEN]})),
        (
            json!({"name": "   "}),
            json!({"name": ["This field may not be blank."]}),
        ),
        (
            json!({"name": "x".repeat(65)}),
            json!({"name": ["Ensure this field has no more than 64 characters."]}),
        ),
        (json!({}), json!({"name": ["This field is required."]})),
        (
            json!({"name": "deploy", "scopes": ["admin"]}),
            json!({"scopes": ["Unknown scope: admin."]}),
        ),
        (
            json!({"name": "deploy", "scopes": "admin"}),
            json!({"scopes": ["Expected a list of strings."]}),
        ),
    ];
    for (body, answer) in cases {
        let r = create(&s, &web, body.clone()).await;
        assert_eq!((r.status, &r.body), (400, &answer), "{body}");
    }
    for bad in ["soon", "-1d", "0", "30x"] {
        let r = create(&s, &web, json!({"name": "deploy", "expires_in": bad})).await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.body);
        let message = r.body["expires_in"][0].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{bad}: {:?}", r.body);
    }
    // 64 characters is fine.
    let r = create(&s, &web, json!({"name": "é".repeat(64)})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // Not a JSON object.
    let r = s
        .send(
            s.http
                .post(s.url("/api/tokens/"))
                .bearer_auth(&web)
                .header("Content-Type", "application/json")
                .body("name=ci"),
        )
        .await;
    r.assert_error(400, "Malformed request.");
    // Nothing else was created.
    let list = s.get("/api/tokens/", &web).await.body;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    // Without credentials: 401.
    let r = s
        .send(
            s.http
                .post(s.url("/api/tokens/"))
                .json(&json!({"name": "x"})),
        )
        .await;
    assert_eq!(r.status, 401);
}

async fn concurrent_creations_with_one_name_give_exactly_one_token(package: &str, backend: &str) {
    let s = with_tokens(package, backend).await;
    let web = s.login(ALICE, "web").await;
    let attempts = (0..12).map(|_| create(&s, &web, json!({"name": "race"})));
    let answers = futures_join_all(attempts).await;
    let created = answers.iter().filter(|r| r.status == 201).count();
    assert_eq!(created, 1, "{answers:?}");
    for r in answers.iter().filter(|r| r.status != 201) {
        assert_eq!((r.status, &r.body), (400, &json!({"name": [NAME_TAKEN]})));
    }
    let list = s.get("/api/tokens/", &web).await.body;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}

/// Awaits every future concurrently (on this task), in order.
async fn futures_join_all<F: std::future::Future<Output = Response>>(
    futures: impl Iterator<Item = F>,
) -> Vec<Response> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<Response>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(r) => out[i] = Some(r),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|r| r.expect("done")).collect()
}

async fn the_token_cap_is_the_clients(package: &str, backend: &str) {
    // `--client` declares the tokens client: its cap (the default, 1) applies.
    let mut flags = standard_flags();
    flags.extend(["--client=pat".to_owned(), "--tokens-client=pat".to_owned()]);
    let s = Server::start_with(package, backend, &flags, None).await;
    let web = s.login(ALICE, "web").await;
    let first = create(&s, &web, json!({"name": "one"})).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    assert!(first.body["expiry"].as_str().is_some(), "1d TTL");
    create(&s, &web, json!({"name": "two"}))
        .await
        .assert_error(400, "Token limit reached.");
    // The first one still works: the cap refuses, it never evicts.
    let token = first.body["token"].as_str().unwrap();
    assert_eq!(s.get("/api/me", token).await.status, 200);
}

async fn tokens_routes_are_404_without_a_tokens_client(package: &str, backend: &str) {
    let s = Server::start(package, backend).await;
    let web = s.login(ALICE, "web").await;
    s.get("/api/tokens/", &web)
        .await
        .assert_error(404, "Not found.");
    create(&s, &web, json!({"name": "ci"}))
        .await
        .assert_error(404, "Not found.");
    create(&s, &web, json!({"name": ""}))
        .await
        .assert_error(404, "Not found.");
    s.delete("/api/tokens/abc", &web)
        .await
        .assert_error(404, "Not found.");
    assert_eq!(s.get("/api/tokens/", "garbage").await.status, 401);
}

async fn logoutall_ends_named_tokens(package: &str, backend: &str) {
    let s = with_tokens(package, backend).await;
    let web = s.login(ALICE, "web").await;
    let r = create(&s, &web, json!({"name": "ci"})).await;
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(s.post("/api/logoutall/", &web).await.status, 204);
    s.get("/api/me", &token).await.assert_error(401, INVALID);
}

// --- settings ---------------------------------------------------------------------------

async fn settings_are_kept_per_user_and_client(package: &str, backend: &str) {
    let s = Server::start(package, backend).await;
    let web = s.login(ALICE, "web").await;
    for path in ["/api/settings/", "/api/settings"] {
        let r = s.get(path, &web).await;
        assert_eq!((r.status, &r.body), (200, &json!({})), "{path}");
    }
    let settings = json!({"theme": "dark", "display_name": "Alice", "n": [1, 2]});
    let r = put_settings(&s, &web, settings.to_string()).await;
    assert_eq!((r.status, &r.body), (200, &settings));
    assert_eq!(s.get("/api/settings/", &web).await.body, settings);

    // Logout and re-login through the same client: still there.
    assert_eq!(s.post("/api/logout/", &web).await.status, 204);
    let web = s.login(ALICE, "web").await;
    assert_eq!(s.get("/api/settings/", &web).await.body, settings);
    // Another client, another user: separate.
    let plain = s.login(ALICE, "plain").await;
    assert_eq!(s.get("/api/settings/", &plain).await.body, json!({}));
    let bob = s.login(BOB, "web").await;
    assert_eq!(s.get("/api/settings/", &bob).await.body, json!({}));

    // A PUT replaces the whole object.
    let r = put_settings(&s, &web, json!({"theme": "light"}).to_string()).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        s.get("/api/settings/", &web).await.body,
        json!({"theme": "light"})
    );
    assert_eq!(s.get("/api/settings/", "garbage").await.status, 401);
}

async fn settings_refuse_non_objects_and_oversize_bodies(package: &str, backend: &str) {
    let s = Server::start(package, backend).await;
    let web = s.login(ALICE, "web").await;
    let kept = json!({"theme": "dark"});
    assert_eq!(put_settings(&s, &web, kept.to_string()).await.status, 200);
    for bad in ["[1, 2]", "\"dark\"", "42", "null", "not json", ""] {
        put_settings(&s, &web, bad.to_owned())
            .await
            .assert_error(400, "Settings must be a JSON object.");
    }
    // Exactly 16 KiB is accepted; one byte more is not.
    let exact = |size: usize| {
        let overhead = json!({"blob": ""}).to_string().len();
        json!({"blob": "x".repeat(size - overhead)}).to_string()
    };
    let fits = exact(16 * 1024);
    assert_eq!(fits.len(), 16 * 1024);
    assert_eq!(put_settings(&s, &web, fits).await.status, 200);
    assert_eq!(put_settings(&s, &web, kept.to_string()).await.status, 200);
    let r = put_settings(&s, &web, exact(16 * 1024 + 1)).await;
    assert_eq!(r.status, 413, "{:?}", r.body);
    let r = put_settings(&s, &web, exact(300 * 1024)).await;
    assert_eq!(r.status, 413);
    // Nothing changed.
    assert_eq!(s.get("/api/settings/", &web).await.body, kept);
}

// --- a store failure -------------------------------------------------------------------

/// The store breaks under a running server (SQLite: its tables are dropped; PostgreSQL:
/// its schema is dropped): the new routes answer 503, never 401 or a panic, and malformed
/// input is still refused before any I/O.
async fn a_store_failure_answers_503(package: &str, backend: &str) {
    let scratch = std::env::temp_dir().join(format!(
        "durin-contract-outage-{}-{}",
        std::process::id(),
        durin_core::SessionId::generate().as_str()
    ));
    std::fs::create_dir_all(&scratch).unwrap();
    let url = durin_contract::database_url(backend, &scratch).await;
    let mut flags = standard_flags();
    flags.push("--tokens-client=pat".to_owned());
    let s = Server::start_with(package, backend, &flags, Some(&url)).await;
    let web = s.login(ALICE, "web").await;
    assert_eq!(s.get("/api/tokens/", &web).await.status, 200);
    match backend {
        "sqlite" => {
            let db = sqlx::SqlitePool::connect(&url).await.expect("SQLite");
            let tables: Vec<(String,)> = sqlx::query_as(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(&db)
            .await
            .expect("list the tables");
            for (table,) in tables {
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE \"{table}\"")))
                    .execute(&db)
                    .await
                    .expect("drop a table");
            }
            db.close().await;
        }
        "postgres" => {
            let schema = url.rsplit("search_path%3D").next().unwrap().to_owned();
            let admin = sqlx::PgPool::connect(url.split('?').next().unwrap())
                .await
                .expect("PostgreSQL");
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await
                .expect("drop the schema");
            admin.close().await;
        }
        other => panic!("no failure to inject on {other}"),
    }
    let unavailable = |r: Response, what: &str| {
        assert!(
            r.status == 503 && r.body["detail"] == "Authentication service unavailable.",
            "{what}: {} {:?}",
            r.status,
            r.body
        );
    };
    unavailable(s.get("/api/tokens/", &web).await, "GET tokens/");
    unavailable(
        create(&s, &web, json!({"name": "ci"})).await,
        "POST tokens/",
    );
    unavailable(s.get("/api/settings/", &web).await, "GET settings/");
    unavailable(put_settings(&s, &web, "{}").await, "PUT settings/");
    // The body is checked before any I/O: while the node still trusts its cache (the
    // caller authenticated from it), still the caller's mistake. Once the node has seen
    // its invalidation channel fail with the store, it no longer trusts the cache, and
    // authenticating the caller itself needs the store: 503, never anything else.
    let r = create(&s, &web, json!({"name": ""})).await;
    match r.status {
        400 => assert_eq!(
            r.body,
            json!({"name": ["This field may not be blank."]}),
            "{:?}",
            r.body
        ),
        _ => unavailable(r, "POST tokens/ with a blank name"),
    }
    s.get("/api/tokens/", "garbage")
        .await
        .assert_error(401, INVALID);
    s.stop().await;
    let _ = std::fs::remove_dir_all(&scratch);
}

// --- the cookie transport and the page --------------------------------------------------

/// Logs in with `"transport": "cookie"`; returns the `Cookie` header to send back.
async fn cookie_login(s: &Server) -> String {
    let r = s
        .send(
            s.http
                .post(s.url("/api/login/"))
                .json(&json!({
                    "username": "alice", "password": "wonderland", "client": "web",
                    "transport": "cookie",
                }))
                .header("Origin", s.base.clone()),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body.get("token").is_none(), "{:?}", r.body);
    let set_cookie = r.header("set-cookie").expect("Set-Cookie").to_owned();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    set_cookie.split(';').next().unwrap().to_owned()
}

async fn cookie_sessions_manage_tokens_only_from_their_own_origin(package: &str, backend: &str) {
    let s = with_tokens(package, backend).await;
    let cookie = cookie_login(&s).await;
    let request = |method: Method, path: &str, origin: Option<&str>| {
        let mut r = s
            .http
            .request(method, s.url(path))
            .header("Cookie", &cookie);
        if let Some(origin) = origin {
            r = r.header("Origin", origin);
        }
        r
    };
    // A safe method needs no Origin.
    let r = s.send(request(Method::GET, "/api/tokens/", None)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // An unsafe one from another origin, or with no Origin, is refused before the store.
    for origin in [Some("https://evil.example"), Some("null"), None] {
        let r = s
            .send(request(Method::POST, "/api/tokens/", origin).json(&json!({"name": "ci"})))
            .await;
        r.assert_error(403, "CSRF Failed: Origin checking failed.");
        let r = s
            .send(request(Method::POST, "/api/logoutall/", origin))
            .await;
        r.assert_error(403, "CSRF Failed: Origin checking failed.");
    }
    assert_eq!(
        s.send(request(Method::GET, "/api/tokens/", None))
            .await
            .body,
        json!([])
    );
    // From its own origin it works.
    let own = s.base.clone();
    let r = s
        .send(request(Method::POST, "/api/tokens/", Some(&own)).json(&json!({"name": "ci"})))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = s
        .send(
            request(Method::PUT, "/api/settings/", Some(&own))
                .header("Content-Type", "application/json")
                .body(r#"{"theme":"dark"}"#),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = s
        .send(request(Method::POST, "/api/logoutall/", Some(&own)))
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
}

async fn the_page_is_served(package: &str, backend: &str) {
    let s = with_tokens(package, backend).await;
    let r = s.http.get(s.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header("content-type").starts_with("text/html"));
    assert_eq!(header("x-frame-options"), "DENY");
    assert!(header("content-security-policy").contains("frame-ancestors 'none'"));
    // Scripts only by origin or hash: never 'unsafe-inline'.
    let csp = header("content-security-policy");
    let script_src = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src"))
        .unwrap_or_default();
    assert!(script_src.contains("'sha256-"), "{csp}");
    assert!(!script_src.contains("unsafe-inline"), "{csp}");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("<option value=\"web\">web</option>"),
        "clients listed"
    );
    // Neither the API-access client nor the tokens client is offered for signing in.
    assert!(!html.contains("<option value=\"api\">"));
    assert!(!html.contains("<option value=\"pat\">"));
    assert!(!html.contains("{{"), "every placeholder filled");
}

durin_contract::server_cases!(
    by_name,
    [
        tokens_are_created_listed_used_and_revoked,
        tokens_refuse_bad_input_with_field_messages,
        concurrent_creations_with_one_name_give_exactly_one_token,
        the_token_cap_is_the_clients,
        tokens_routes_are_404_without_a_tokens_client,
        logoutall_ends_named_tokens,
        settings_are_kept_per_user_and_client,
        settings_refuse_non_objects_and_oversize_bodies,
        cookie_sessions_manage_tokens_only_from_their_own_origin,
        the_page_is_served,
        delegated_tokens_manage_nothing,
        refresh_does_not_extend_a_named_token,
        token_scopes_are_deduplicated_and_capped,
        a_cookie_login_passes_the_origin_check,
        token_names_refuse_invisible_characters,
    ]
);

macro_rules! outage {
    ($($name:ident: $package:literal, $backend:literal;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if durin_contract::selected($package, $backend) {
                    a_store_failure_answers_503($package, $backend).await;
                }
            }
        )*
    };
}

// Redis has no failure to inject without disturbing other users of the server.
outage!(
    a_store_failure_answers_503_on_axum_server_sqlite: "axum-server", "sqlite";
    a_store_failure_answers_503_on_axum_server_postgres: "axum-server", "postgres";
    a_store_failure_answers_503_on_actix_server_sqlite: "actix-server", "sqlite";
    a_store_failure_answers_503_on_actix_server_postgres: "actix-server", "postgres";
);
