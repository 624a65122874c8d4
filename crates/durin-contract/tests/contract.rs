//! The HTTP API (`docs/http-api.md`), black-box: every case runs against every
//! selected example server on every selected backend (see the crate docs), over real HTTP.

use std::time::Duration;

use durin_contract::on_standard_server;
use durin_contract::{ALICE, BOB, Server, client, standard_flags};
use reqwest::Method;
use serde_json::{Value, json};

const NOT_PROVIDED: &str = "Authentication credentials were not provided.";
const INVALID: &str = "Invalid token.";
const FORBIDDEN: &str = "You do not have permission to perform this action.";

fn flags(extra: &[&str]) -> Vec<String> {
    let mut flags = standard_flags();
    flags.extend(extra.iter().map(|s| s.to_string()));
    flags
}

/// A well-formed token (right prefix, length and checksum) that was never issued.
fn never_issued() -> String {
    durin_core::TokenString::generate(&durin_core::TokenPrefix::default())
        .expose_secret()
        .to_owned()
}

// --- login -----------------------------------------------------------------------------

async fn login_returns_a_token_and_expiry(s: Server) {
    let r = s.login_response(ALICE, "web").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let token = r.body["token"].as_str().unwrap();
    assert!(token.starts_with("durin_"), "{token}");
    let expiry = r.body["expiry"].as_str().unwrap();
    assert!(expiry.ends_with('Z'), "{expiry}");
    assert!(r.body.get("refresh_token").is_none());
    let me = s.get("/api/me", token).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["user"], "alice");
    assert_eq!(me.body["client"], "web");
    assert!(me.body["session"].as_str().is_some());
}

async fn login_accepts_a_form_body(s: Server) {
    let r = s
        .send(s.http.post(s.url("/api/login")).form(&[
            ("username", "alice"),
            ("password", "wonderland"),
            ("client", "cli"),
        ]))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["token"].as_str().is_some());
}

async fn a_new_login_replaces_the_previous_token(s: Server) {
    let first = s.login(ALICE, "web").await;
    let second = s.login(ALICE, "web").await;
    assert_ne!(first, second);
    s.get("/api/me", &first).await.assert_error(401, INVALID);
    assert_eq!(s.get("/api/me", &second).await.status, 200);
    // Another client's token is untouched.
    let cli = s.login(ALICE, "cli").await;
    let _third = s.login(ALICE, "web").await;
    assert_eq!(s.get("/api/me", &cli).await.status, 200);
}

async fn login_reports_missing_and_blank_fields(s: Server) {
    let r = s
        .send(
            s.http
                .post(s.url("/api/login/"))
                .json(&json!({"client": "web"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"username": ["This field is required."], "password": ["This field is required."]})
    );
    let r = s
        .send(
            s.http
                .post(s.url("/api/login/"))
                .json(&json!({"username": "", "password": "wonderland", "client": "web"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"username": ["This field may not be blank."]})
    );
}

async fn login_without_a_client_is_refused(s: Server) {
    for body in [
        json!({"username": "alice", "password": "wonderland"}),
        json!({"username": "alice", "password": "wonderland", "client": ""}),
    ] {
        let r = s.send(s.http.post(s.url("/api/login/")).json(&body)).await;
        r.assert_error(400, "No client specified.");
    }
}

async fn login_with_wrong_credentials_is_refused(s: Server) {
    for (user, password) in [("alice", "nope"), ("nobody", "wonderland")] {
        let r = s.login_response((user, password), "web").await;
        assert_eq!(r.status, 400);
        assert_eq!(
            r.body,
            json!({"non_field_errors": ["Unable to log in with provided credentials."]})
        );
    }
}

async fn login_with_an_unknown_client_is_refused_after_the_credentials(s: Server) {
    s.login_response(ALICE, "no-such-client")
        .await
        .assert_error(400, "No client with that name.");
    // Wrong credentials first: the client name is not revealed.
    let r = s.login_response(("alice", "nope"), "no-such-client").await;
    assert_eq!(
        r.body,
        json!({"non_field_errors": ["Unable to log in with provided credentials."]})
    );
}

async fn repeated_login_failures_are_throttled_per_address(s: Server) {
    for _ in 0..10 {
        assert_eq!(s.login_response(("alice", "nope"), "web").await.status, 400);
    }
    // Now every attempt from this address for alice is refused, right password included.
    let r = s.login_response(ALICE, "web").await;
    assert_eq!(r.status, 429, "{:?}", r.body);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert_eq!(
        r.detail(),
        format!("Request was throttled. Expected available in {retry} seconds.")
    );
    // Another user from the same address, and alice from another address, go through.
    assert_eq!(s.login_response(BOB, "web").await.status, 200);
    let other = client(Some("127.0.0.2".parse().unwrap()));
    let r = s
        .send(
            other
                .post(s.url("/api/login/"))
                .json(&json!({"username": "alice", "password": "wonderland", "client": "web"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

async fn an_over_long_username_is_a_field_error(s: Server) {
    let long = "u".repeat(256);
    let r = s
        .send(
            s.http
                .post(s.url("/api/login/"))
                .json(&json!({"username": long, "password": "x", "client": "web"})),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"username": ["Ensure this field has no more than 255 characters."]})
    );
}

async fn fail_from(s: &Server, http: &reqwest::Client, forwarded_for: &str, password: &str) -> u16 {
    s.send(
        http.post(s.url("/api/login/"))
            .header("x-forwarded-for", forwarded_for)
            .json(&json!({"username": "alice", "password": password, "client": "web"})),
    )
    .await
    .status
}

async fn forwarded_addresses_count_only_behind_a_trusted_proxy(s: Server) {
    // Not trusted: X-Forwarded-For is ignored, so changing it does not escape the limit.
    let peer = client(Some("127.0.0.5".parse().unwrap()));
    for i in 0..10 {
        assert_eq!(
            fail_from(&s, &peer, &format!("198.51.100.{i}"), "nope").await,
            400
        );
    }
    assert_eq!(fail_from(&s, &peer, "198.51.100.99", ALICE.1).await, 429);
    let (package, backend) = (s.package.clone(), s.backend.clone());
    s.stop().await;
    // Trusted: the right-most untrusted forwarded address is the client.
    let s = Server::start_with(
        &package,
        &backend,
        &flags(&["--trusted-proxy=127.0.0.6/32"]),
        None,
    )
    .await;
    let proxy = client(Some("127.0.0.6".parse().unwrap()));
    for _ in 0..10 {
        assert_eq!(
            fail_from(&s, &proxy, "203.0.113.1, 198.51.100.7", "nope").await,
            400
        );
    }
    assert_eq!(fail_from(&s, &proxy, "198.51.100.7", ALICE.1).await, 429);
    // A forged left-most entry does not help; another real client goes through.
    assert_eq!(
        fail_from(&s, &proxy, "198.51.100.8, 198.51.100.7", ALICE.1).await,
        429
    );
    assert_eq!(fail_from(&s, &proxy, "198.51.100.8", ALICE.1).await, 200);
}

/// Behind a proxy that writes `Forwarded` (`--trusted-proxy-header=forwarded`), a
/// client-sent `X-Forwarded-For` is never read: it cannot spread failed logins over
/// made-up addresses.
async fn only_the_trusted_proxys_header_is_read(s: Server) {
    let (package, backend) = (s.package.clone(), s.backend.clone());
    s.stop().await;
    let s = Server::start_with(
        &package,
        &backend,
        &flags(&[
            "--trusted-proxy=127.0.0.6/32",
            "--trusted-proxy-header=forwarded",
        ]),
        None,
    )
    .await;
    let proxy = client(Some("127.0.0.6".parse().unwrap()));
    let attempt = |forged: String, password: &'static str| {
        s.send(
            proxy
                .post(s.url("/api/login/"))
                .header("x-forwarded-for", forged)
                .header("forwarded", "for=198.51.100.7")
                .json(&json!({"username": "alice", "password": password, "client": "web"})),
        )
    };
    for i in 0..10 {
        assert_eq!(attempt(format!("203.0.113.{i}"), "nope").await.status, 400);
    }
    assert_eq!(
        attempt("203.0.113.99".to_owned(), ALICE.1).await.status,
        429
    );
}

async fn a_never_expiring_client_has_a_null_expiry(s: Server) {
    let r = s.login_response(ALICE, "forever").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["expiry"], Value::Null);
}

// --- credentials and errors ------------------------------------------------------------

async fn no_credentials_is_401_with_a_challenge(s: Server) {
    let r = s.send(s.http.get(s.url("/api/me"))).await;
    r.assert_error(401, NOT_PROVIDED);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"api\""));
}

async fn a_foreign_scheme_is_left_alone(s: Server) {
    let r = s
        .send(
            s.http
                .get(s.url("/api/me"))
                .header("Authorization", "Basic YWxpY2U6d29uZGVybGFuZA=="),
        )
        .await;
    r.assert_error(401, NOT_PROVIDED);
}

async fn malformed_headers_have_durins_messages(s: Server) {
    let token = s.login(ALICE, "web").await;
    for (header, detail) in [
        (
            "Bearer".to_owned(),
            "Invalid token header. No credentials provided.",
        ),
        (
            "Token ".to_owned(),
            "Invalid token header. No credentials provided.",
        ),
        (
            format!("Bearer {token} extra"),
            "Invalid token header. Token string should not contain spaces.",
        ),
    ] {
        let r = s
            .send(
                s.http
                    .get(s.url("/api/me"))
                    .header("Authorization", &header),
            )
            .await;
        r.assert_error(401, detail);
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"api\", error=\"invalid_request\""),
            "{header}"
        );
    }
}

async fn keywords_are_bearer_and_token_in_any_case(s: Server) {
    let token = s.login(ALICE, "web").await;
    for header in [
        format!("Bearer {token}"),
        format!("Token {token}"),
        format!("bearer {token}"),
        format!("TOKEN    {token}"),
    ] {
        let r = s
            .send(
                s.http
                    .get(s.url("/api/me"))
                    .header("Authorization", &header),
            )
            .await;
        assert_eq!(r.status, 200, "{header}: {:?}", r.body);
    }
}

async fn invalid_tokens_are_refused_alike(s: Server) {
    let token = s.login(ALICE, "web").await;
    let mut bad_checksum = token.clone();
    let last = bad_checksum.pop().unwrap();
    bad_checksum.push(if last == 'a' { 'b' } else { 'a' });
    let revoked = s.login(BOB, "web").await;
    assert_eq!(s.post("/api/logout/", &revoked).await.status, 204);
    for bad in [
        "garbage".to_owned(),
        "durin_short".to_owned(),
        bad_checksum,
        never_issued(),
        revoked,
        format!("other_{}", &token["durin_".len()..]),
    ] {
        let r = s.get("/api/me", &bad).await;
        r.assert_error(401, INVALID);
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"api\", error=\"invalid_token\""),
            "{bad}"
        );
    }
}

async fn an_expired_token_says_so(s: Server) {
    let token = s.login(ALICE, "mobile").await;
    assert_eq!(s.get("/api/me", &token).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let r = s.get("/api/me", &token).await;
    r.assert_error(401, "The given token has expired.");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"api\", error=\"invalid_token\"")
    );
    // A new login never hands back the expired token.
    let again = s.login(ALICE, "mobile").await;
    assert_ne!(again, token);
    assert_eq!(s.get("/api/me", &again).await.status, 200);
}

// --- refresh, logout ---------------------------------------------------------------------

async fn refresh_moves_the_expiry_and_keeps_the_token(s: Server) {
    let r = s.login_response(ALICE, "web").await;
    let token = r.body["token"].as_str().unwrap().to_owned();
    let before = r.body["expiry"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(20)).await;
    for path in ["/api/refresh/", "/api/refresh"] {
        let r = s.post(path, &token).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let after = r.body["expiry"].as_str().unwrap();
        assert!(after > before.as_str(), "{after} <= {before}");
        assert_eq!(r.body.as_object().unwrap().len(), 1, "{:?}", r.body);
    }
    assert_eq!(s.get("/api/me", &token).await.status, 200);
    s.send(s.http.post(s.url("/api/refresh/")))
        .await
        .assert_error(401, NOT_PROVIDED);
}

async fn token_refresh_refuses_missing_and_unknown_refresh_tokens(s: Server) {
    let r = s
        .send(s.http.post(s.url("/api/token/refresh/")).json(&json!({})))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"refresh_token": ["This field is required."]})
    );
    let token = s.login(ALICE, "web").await;
    for bad in ["garbage".to_owned(), token] {
        let r = s
            .send(
                s.http
                    .post(s.url("/api/token/refresh"))
                    .json(&json!({"refresh_token": bad})),
            )
            .await;
        r.assert_error(401, INVALID);
    }
}

async fn logout_ends_this_token_at_once(s: Server) {
    let token = s.login(ALICE, "web").await;
    let other = s.login(ALICE, "cli").await;
    assert_eq!(s.get("/api/me", &token).await.status, 200);
    let r = s.post("/api/logout/", &token).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.body, Value::Null);
    s.get("/api/me", &token).await.assert_error(401, INVALID);
    s.post("/api/logout", &token)
        .await
        .assert_error(401, INVALID);
    assert_eq!(s.get("/api/me", &other).await.status, 200);
}

async fn logoutall_ends_every_token_of_the_user(s: Server) {
    let web = s.login(ALICE, "web").await;
    let cli = s.login(ALICE, "cli").await;
    let key = s.post("/api/apiaccess/", &web).await;
    assert_eq!(key.status, 201);
    let key = key.body["token"].as_str().unwrap().to_owned();
    let bob = s.login(BOB, "web").await;
    assert_eq!(s.post("/api/logoutall/", &cli).await.status, 204);
    for token in [&web, &cli, &key] {
        s.get("/api/me", token).await.assert_error(401, INVALID);
    }
    assert_eq!(s.get("/api/me", &bob).await.status, 200);
    let again = s.login(ALICE, "web").await;
    assert_eq!(s.post("/api/logoutall", &again).await.status, 204);
}

// --- sessions ----------------------------------------------------------------------------

async fn sessions_lists_only_the_callers_sessions(s: Server) {
    let web = s.login(ALICE, "web").await;
    let cli = s.login(ALICE, "cli").await;
    let _bob = s.login(BOB, "web").await;
    for path in ["/api/sessions/", "/api/sessions"] {
        let r = s.get(path, &cli).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let list = r.body.as_array().unwrap();
        assert_eq!(list.len(), 2, "{list:?}");
        let text = r.body.to_string();
        assert!(
            !text.contains(&web) && !text.contains(&cli),
            "a token leaked: {text}"
        );
        for item in list {
            let keys: Vec<&str> = item
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            for key in [
                "id",
                "client",
                "created",
                "expiry",
                "has_expired",
                "is_current",
                "expires_in_str",
                "last_used",
                "context",
            ] {
                assert!(keys.contains(&key), "{key} missing from {item}");
            }
            assert!(item["id"].is_string());
            assert!(item["created"].as_str().unwrap().ends_with('Z'));
            assert_eq!(item["has_expired"], false);
            assert!(item["context"].is_object());
        }
        let current: Vec<&Value> = list.iter().filter(|i| i["is_current"] == true).collect();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0]["client"], "cli");
    }
}

async fn deleting_a_session_revokes_it(s: Server) {
    let web = s.login(ALICE, "web").await;
    let cli = s.login(ALICE, "cli").await;
    let list = s.get("/api/sessions/", &cli).await.body;
    let id_of = |client: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|i| i["client"] == client)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (web_id, cli_id) = (id_of("web"), id_of("cli"));
    s.delete(&format!("/api/sessions/{cli_id}"), &cli)
        .await
        .assert_error(
            400,
            "Can't delete token if the request is authed with it. Use logout instead.",
        );
    assert_eq!(
        s.delete(&format!("/api/sessions/{web_id}"), &cli)
            .await
            .status,
        204
    );
    s.get("/api/me", &web).await.assert_error(401, INVALID);
    s.delete(&format!("/api/sessions/{web_id}/"), &cli)
        .await
        .assert_error(404, "Not found.");
    s.delete("/api/sessions/nosuchsession", &cli)
        .await
        .assert_error(404, "Not found.");
    // Another user's session is not found either, and survives.
    let bob = s.login(BOB, "web").await;
    let bob_id = s.get("/api/sessions/", &bob).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.delete(&format!("/api/sessions/{bob_id}/"), &cli)
        .await
        .assert_error(404, "Not found.");
    assert_eq!(s.get("/api/me", &bob).await.status, 200);
    // The trailing-slash form works too.
    let web = s.login(ALICE, "web").await;
    let web_id = s
        .get("/api/sessions/", &web)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["client"] == "web")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        s.delete(&format!("/api/sessions/{web_id}/"), &cli)
            .await
            .status,
        204
    );
}

// --- API access ----------------------------------------------------------------------------

async fn apiaccess_issues_shows_and_deletes_one_key(s: Server) {
    let web = s.login(ALICE, "web").await;
    s.get("/api/apiaccess/", &web)
        .await
        .assert_error(404, "Not found.");
    let created = s.post("/api/apiaccess/", &web).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let key = created.body["token"].as_str().unwrap().to_owned();
    assert_eq!(created.body["client"], "api");
    assert_eq!(created.body["expiry"], Value::Null);
    assert_eq!(created.body["has_expired"], false);
    assert!(created.body["expires_in_str"].is_string());
    assert!(created.body["created"].as_str().unwrap().ends_with('Z'));
    s.post("/api/apiaccess", &web)
        .await
        .assert_error(400, "An API token was already issued to you.");
    let shown = s.get("/api/apiaccess", &web).await;
    assert_eq!(shown.status, 200);
    assert!(shown.body.get("token").is_none(), "{:?}", shown.body);
    assert_eq!(shown.body["client"], "api");
    let me = s.get("/api/me", &key).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["client"], "api");
    // Listed in sessions (as in durin).
    let list = s.get("/api/sessions/", &web).await.body;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|i| i["client"] == "api")
    );
    assert_eq!(s.delete("/api/apiaccess/", &web).await.status, 204);
    s.get("/api/me", &key).await.assert_error(401, INVALID);
    s.delete("/api/apiaccess/", &web)
        .await
        .assert_error(404, "Not found.");
}

async fn apiaccess_without_an_api_client_is_404(s: Server) {
    let s2 = restart_without_api_client(s).await;
    let web = s2.login(ALICE, "web").await;
    for method in [Method::GET, Method::POST, Method::DELETE] {
        s2.call(method, "/api/apiaccess/", &web)
            .await
            .assert_error(404, "Not found.");
    }
}

async fn restart_without_api_client(s: Server) -> Server {
    let (package, backend) = (s.package.clone(), s.backend.clone());
    s.stop().await;
    let flags: Vec<String> = standard_flags()
        .into_iter()
        .filter(|f| !f.starts_with("--api-access-client"))
        .collect();
    Server::start_with(&package, &backend, &flags, None).await
}

// --- guards and throttling ---------------------------------------------------------------

async fn client_guards_allow_and_deny(s: Server) {
    let web = s.login(ALICE, "web").await;
    let cli = s.login(ALICE, "cli").await;
    assert_eq!(s.get("/api/only-web", &web).await.status, 200);
    s.get("/api/only-web", &cli)
        .await
        .assert_error(403, FORBIDDEN);
    s.get("/api/no-web", &web)
        .await
        .assert_error(403, FORBIDDEN);
    assert_eq!(s.get("/api/no-web", &cli).await.status, 200);
    s.send(s.http.get(s.url("/api/only-web")))
        .await
        .assert_error(401, NOT_PROVIDED);
}

async fn throttling_admits_a_burst_then_refuses(s: Server) {
    let cli = s.login(ALICE, "cli").await; // 2/m
    assert_eq!(s.get("/api/throttled", &cli).await.status, 200);
    assert_eq!(s.get("/api/throttled", &cli).await.status, 200);
    let r = s.get("/api/throttled", &cli).await;
    assert_eq!(r.status, 429, "{:?}", r.body);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert_eq!(
        r.detail(),
        format!("Request was throttled. Expected available in {retry} seconds.")
    );
    // Per (user, client): bob through cli, alice through web, and unthrottled routes pass.
    let bob = s.login(BOB, "cli").await;
    assert_eq!(s.get("/api/throttled", &bob).await.status, 200);
    assert_eq!(s.get("/api/me", &cli).await.status, 200);
    // A client without a rate, and no default: never throttled.
    let web = s.login(ALICE, "web").await;
    for _ in 0..5 {
        assert_eq!(s.get("/api/throttled", &web).await.status, 200);
    }
}

async fn the_default_throttle_applies_to_clients_without_a_rate(s: Server) {
    let (package, backend) = (s.package.clone(), s.backend.clone());
    s.stop().await;
    let s = Server::start_with(
        &package,
        &backend,
        &flags(&["--default-throttle=3/m"]),
        None,
    )
    .await;
    let web = s.login(ALICE, "web").await;
    for _ in 0..3 {
        assert_eq!(s.get("/api/throttled", &web).await.status, 200);
    }
    assert_eq!(s.get("/api/throttled", &web).await.status, 429);
    // The client's own rate still wins (cli: 2/m).
    let cli = s.login(ALICE, "cli").await;
    assert_eq!(s.get("/api/throttled", &cli).await.status, 200);
    assert_eq!(s.get("/api/throttled", &cli).await.status, 200);
    assert_eq!(s.get("/api/throttled", &cli).await.status, 429);
}

// --- operations ------------------------------------------------------------------------------

async fn health_needs_no_credentials(s: Server) {
    let r = s.send(s.http.get(s.url("/health"))).await;
    assert_eq!(r.status, 200);
}

async fn a_store_outage_answers_503(s: Server) {
    let (package, backend) = (s.package.clone(), s.backend.clone());
    let token = s.login(ALICE, "web").await;
    s.stop().await;
    let dead = match backend.as_str() {
        "sqlite" => "sqlite:///nonexistent-durin-dir/sub/durin.db".to_owned(),
        "postgres" => "postgres://postgres@127.0.0.1:1/durin".to_owned(),
        "redis" => "redis://127.0.0.1:1".to_owned(),
        "redis-cluster" => "redis+cluster://127.0.0.1:1".to_owned(),
        other => panic!("unknown backend {other}"),
    };
    let s = Server::start_with(&package, &backend, &standard_flags(), Some(&dead)).await;
    s.get("/api/me", &token)
        .await
        .assert_error(503, "Authentication service unavailable.");
    let r = s.login_response(ALICE, "web").await;
    assert_eq!(r.status, 503, "{:?}", r.body);
    // Malformed input is still refused before any I/O, and public routes still answer.
    s.get("/api/me", "garbage").await.assert_error(401, INVALID);
    assert_eq!(s.send(s.http.get(s.url("/health"))).await.status, 200);
}

durin_contract::server_cases!(
    on_standard_server,
    [
        login_returns_a_token_and_expiry,
        login_accepts_a_form_body,
        a_new_login_replaces_the_previous_token,
        login_reports_missing_and_blank_fields,
        login_without_a_client_is_refused,
        login_with_wrong_credentials_is_refused,
        login_with_an_unknown_client_is_refused_after_the_credentials,
        repeated_login_failures_are_throttled_per_address,
        an_over_long_username_is_a_field_error,
        forwarded_addresses_count_only_behind_a_trusted_proxy,
        only_the_trusted_proxys_header_is_read,
        a_never_expiring_client_has_a_null_expiry,
        no_credentials_is_401_with_a_challenge,
        a_foreign_scheme_is_left_alone,
        malformed_headers_have_durins_messages,
        keywords_are_bearer_and_token_in_any_case,
        invalid_tokens_are_refused_alike,
        an_expired_token_says_so,
        refresh_moves_the_expiry_and_keeps_the_token,
        token_refresh_refuses_missing_and_unknown_refresh_tokens,
        logout_ends_this_token_at_once,
        logoutall_ends_every_token_of_the_user,
        sessions_lists_only_the_callers_sessions,
        deleting_a_session_revokes_it,
        apiaccess_issues_shows_and_deletes_one_key,
        apiaccess_without_an_api_client_is_404,
        client_guards_allow_and_deny,
        throttling_admits_a_burst_then_refuses,
        the_default_throttle_applies_to_clients_without_a_rate,
        health_needs_no_credentials,
        a_store_outage_answers_503,
    ]
);
