//! The application end to end, in process (`tower::ServiceExt::oneshot`), on its real
//! database: an SQLite file, and PostgreSQL at `DATABASE_URL` (a fresh schema; the test
//! fails when the server is unreachable). The guard tests log users in with
//! `durin_axum::testing::TestStack` instead of passwords.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum_app::{App, Users};
use durin_axum::testing::TestStack;
use durin_core::DigestKey;
use serde_json::{Value, json};
use sqlx::AnyPool;
use tower::ServiceExt as _;

/// A fresh database of `backend`; the returned guard keeps an SQLite file alive.
async fn database(backend: &str) -> (String, Option<tempfile::TempDir>) {
    if backend == "sqlite" {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("app.db").display());
        return (url, Some(dir));
    }
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/durin_test".to_owned());
    let admin = sqlx::PgPool::connect(&base).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {base} is unreachable ({e}); run scripts/services.sh")
    });
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let schema = format!("app_{}", u64::from_le_bytes(bytes));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .expect("create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    (
        format!("{base}{sep}options=-c%20search_path%3D{schema}"),
        None,
    )
}

/// Sends one request; returns the status and the JSON body (`Null` when empty).
async fn send(
    app: &Router,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(auth) = auth {
        request = request.header("Authorization", auth);
    }
    let request = match body {
        Value::Null => request.body(Body::empty()),
        body => request
            .header("Content-Type", "application/json")
            .body(Body::from(body.to_string())),
    };
    let response = app.clone().oneshot(request.unwrap()).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn signup(app: &Router, username: &str, password: &str) -> (StatusCode, Value) {
    let body = json!({"username": username, "password": password, "email": format!("{username}@example.com")});
    send(app, "POST", "/api/signup", None, body).await
}

/// The application as `main.rs` builds it, plus the codes it "e-mails".
async fn full_app(url: &str) -> (Router, AnyPool, Arc<Mutex<Vec<String>>>) {
    let (db, node) = axum_app::connect(url, DigestKey::generate("test"))
        .await
        .unwrap();
    // The node's tasks (subscriber, purge) run for the whole test process.
    let durin = Box::leak(Box::new(node)).durin().clone();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let outbox = sent.clone();
    let app = App::over(db.clone(), durin).with_mailer(Arc::new(move |_, code| {
        outbox.lock().unwrap().push(code.to_owned())
    }));
    (axum_app::router(app), db, sent)
}

async fn sign_up_and_log_in(backend: &str) {
    let (url, _dir) = database(backend).await;
    let (app, _, _) = full_app(&url).await;
    let (status, user) = signup(&app, "ann", "correct horse").await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let login = json!({"username": "ann", "password": "correct horse", "client": "mobile"});
    let (status, body) = send(&app, "POST", "/api/login/", None, login).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let auth = format!("Bearer {}", body["token"].as_str().unwrap());
    let (status, me) = send(&app, "GET", "/api/me", Some(&auth), Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        me,
        json!({"id": user["id"], "username": "ann", "email": "ann@example.com", "client": "mobile"})
    );
    let wrong = json!({"username": "ann", "password": "wrong horse", "client": "web"});
    assert_eq!(
        send(&app, "POST", "/api/login/", None, wrong).await.0,
        StatusCode::BAD_REQUEST
    );
    let (status, _) = send(&app, "POST", "/api/logout/", Some(&auth), Value::Null).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        send(&app, "GET", "/api/me", Some(&auth), Value::Null)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

async fn bad_sign_ups_are_400_with_a_field_message(backend: &str) {
    let (url, _dir) = database(backend).await;
    let (app, _, _) = full_app(&url).await;
    assert_eq!(
        signup(&app, "ann", "correct horse").await.0,
        StatusCode::CREATED
    );
    let long = "a".repeat(33);
    for (username, password, field, message) in [
        (
            "ann",
            "another horse",
            "username",
            "A user with that username already exists.",
        ),
        ("bob", "", "password", "This field may not be blank."),
        (
            "bob",
            "short",
            "password",
            "This password is too short. It must contain at least 8 characters.",
        ),
        (
            "bob",
            &"p".repeat(129),
            "password",
            "Ensure this field has no more than 128 characters.",
        ),
        (
            long.as_str(),
            "correct horse",
            "username",
            "Ensure this field has no more than 32 characters.",
        ),
        (
            "",
            "correct horse",
            "username",
            "This field may not be blank.",
        ),
        (
            "bob smith",
            "correct horse",
            "username",
            "Use letters, digits and . _ - only.",
        ),
    ] {
        let (status, body) = signup(&app, username, password).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{username:?} {password:?}: {body}"
        );
        assert_eq!(
            body,
            json!({ field: [message] }),
            "{username:?} {password:?}"
        );
    }
    let (status, body) = send(
        &app,
        "POST",
        "/api/signup",
        None,
        json!(["not", "an", "object"]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

async fn an_email_code_logs_in_once(backend: &str) {
    let (url, _dir) = database(backend).await;
    let (app, _, sent) = full_app(&url).await;
    signup(&app, "ann", "correct horse").await;
    // Unknown users get the same answer, and no code.
    let (status, _) = send(
        &app,
        "POST",
        "/api/email-code",
        None,
        json!({"username": "nobody"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(sent.lock().unwrap().is_empty());
    let request_code = || async {
        let ann = json!({"username": "ann"});
        send(&app, "POST", "/api/email-code", None, ann).await;
        sent.lock().unwrap().pop().expect("a code was sent")
    };
    // A wrong guess spends the code.
    let code = request_code().await;
    let wrong = json!({"username": "ann", "code": "not it", "client": "web"});
    let (status, _) = send(&app, "POST", "/api/email-login", None, wrong).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let spent = json!({"username": "ann", "code": code, "client": "web"});
    let (status, _) = send(&app, "POST", "/api/email-login", None, spent).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let code = request_code().await;
    let login = json!({"username": "ann", "code": code, "client": "web"});
    let (status, body) = send(&app, "POST", "/api/email-login", None, login.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let auth = format!("Bearer {}", body["token"].as_str().unwrap());
    let (status, me) = send(&app, "GET", "/api/me", Some(&auth), Value::Null).await;
    assert_eq!(
        (status, me["username"].clone()),
        (StatusCode::OK, json!("ann"))
    );
    // The session is an ordinary durin session: listed, and the code is spent.
    let (_, sessions) = send(&app, "GET", "/api/sessions/", Some(&auth), Value::Null).await;
    assert_eq!(sessions.as_array().map(Vec::len), Some(1), "{sessions}");
    assert_eq!(
        send(&app, "POST", "/api/email-login", None, login).await.0,
        StatusCode::BAD_REQUEST
    );
}

async fn guards_with_test_logins(backend: &str) {
    let (url, _dir) = database(backend).await;
    let (app, db, _) = full_app(&url).await;
    let (_, user) = signup(&app, "ann", "correct horse").await;
    let id = user["id"].as_str().unwrap();
    // The same application over an in-memory durin: no passwords, no login requests.
    let stack = TestStack::with_checker(Arc::new(Users::new(db.clone())));
    for client in axum_app::clients() {
        stack.add_client(client).await;
    }
    let app = axum_app::router(App::new(db, stack.api()));
    let (web, cli) = (
        stack.login_as(id, "web").await,
        stack.login_as(id, "cli").await,
    );
    let get = |auth: String, path: &'static str| {
        let app = app.clone();
        async move { send(&app, "GET", path, Some(&auth), Value::Null).await.0 }
    };
    assert_eq!(get(web.clone(), "/api/me").await, StatusCode::OK);
    assert_eq!(get(cli.clone(), "/api/reports").await, StatusCode::OK);
    assert_eq!(
        get(web.clone(), "/api/reports").await,
        StatusCode::FORBIDDEN
    );
    // `cli` is throttled at 5/m per (user, client): a burst of 5, then 429.
    for _ in 0..5 {
        assert_eq!(get(cli.clone(), "/api/export").await, StatusCode::OK);
    }
    assert_eq!(
        get(cli.clone(), "/api/export").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(get(web.clone(), "/api/export").await, StatusCode::OK);
    // Only the web client may open the account page.
    assert_eq!(get(web, "/api/account").await, StatusCode::OK);
    assert_eq!(get(cli, "/api/account").await, StatusCode::FORBIDDEN);
}

macro_rules! on_every_database {
    ($($case:ident),*) => {
        mod sqlite { $( #[tokio::test] async fn $case() { super::$case("sqlite").await } )* }
        mod postgres { $( #[tokio::test] async fn $case() { super::$case("postgres").await } )* }
    };
}

on_every_database!(
    sign_up_and_log_in,
    bad_sign_ups_are_400_with_a_field_message,
    an_email_code_logs_in_once,
    guards_with_test_logins
);
