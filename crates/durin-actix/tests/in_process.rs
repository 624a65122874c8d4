//! durin-actix in process, through `actix_web::test`: the middleware, the extractors, a
//! guard and the endpoints, without a socket.

use std::sync::Arc;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::{App, HttpResponse, test, web};
use durin_actix::{Auth, DurinMiddleware, Guard, OptionalAuth};
use durin_core::{StoreError, UserId};
use durin_http::testing::TestStack;
use durin_http::{CredentialChecker, HttpConfig};
use serde_json::{Value, json};

/// alice / wonderland.
struct Alice;

#[async_trait::async_trait]
impl CredentialChecker for Alice {
    async fn check(&self, user: &str, password: &str) -> Result<Option<UserId>, StoreError> {
        Ok((user == "alice" && password == "wonderland").then(|| UserId::new("alice").unwrap()))
    }
}

async fn me(Auth(auth): Auth) -> HttpResponse {
    HttpResponse::Ok()
        .json(json!({ "user": auth.user_id().as_str(), "client": auth.client.name.as_str() }))
}

async fn maybe(OptionalAuth(auth): OptionalAuth) -> String {
    auth.map_or("anonymous".to_owned(), |a| a.user_id().to_string())
}

macro_rules! app {
    ($stack:expr) => {
        test::init_service(
            App::new()
                .service(
                    web::scope("/api")
                        .wrap(DurinMiddleware::new($stack.api()))
                        .configure(durin_actix::endpoints)
                        .route("/me", web::get().to(me))
                        .route("/maybe", web::get().to(maybe))
                        .service(
                            web::resource("/web")
                                .wrap(Guard::allow_clients(["web"]))
                                .to(me),
                        ),
                )
                // Mounted without the middleware: a wiring mistake answers 500.
                .service(web::scope("/bare-api").configure(durin_actix::endpoints))
                .route("/bare", web::get().to(me)),
        )
        .await
    };
}

async fn json_of(response: ServiceResponse) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = test::read_body(response).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn with_auth(request: test::TestRequest, authorization: Option<&str>) -> test::TestRequest {
    match authorization {
        Some(value) => request.insert_header((header::AUTHORIZATION, value.to_owned())),
        None => request,
    }
}

#[actix_web::test]
async fn login_use_and_logout_through_the_scope() {
    let stack = TestStack::with_checker(Arc::new(Alice));
    stack.login_as("bob", "web").await; // creates the client
    let app = app!(stack);
    let login = test::TestRequest::post()
        .uri("/api/login")
        .set_json(json!({"username": "alice", "password": "wonderland", "client": "web"}))
        .to_request();
    let (status, body) = json_of(app.call(login).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = format!("Bearer {}", body["token"].as_str().unwrap());

    let me = with_auth(test::TestRequest::get().uri("/api/me"), Some(&token));
    let (status, body) = json_of(app.call(me.to_request()).await.unwrap()).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"user": "alice", "client": "web"}))
    );

    let logout = with_auth(test::TestRequest::post().uri("/api/logout/"), Some(&token));
    let response = app.call(logout.to_request()).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let me = with_auth(test::TestRequest::get().uri("/api/me"), Some(&token));
    let (status, body) = json_of(app.call(me.to_request()).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["detail"], "Invalid token.");
}

#[actix_web::test]
async fn refusals_carry_the_challenge_and_malformed_headers_fail_early() {
    let stack = TestStack::new();
    let app = app!(stack);
    let response = app
        .call(test::TestRequest::get().uri("/api/sessions/").to_request())
        .await
        .unwrap();
    let challenge = response.headers().get(header::WWW_AUTHENTICATE).cloned();
    let types = response.headers().get_all(header::CONTENT_TYPE).count();
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body["detail"],
        "Authentication credentials were not provided."
    );
    assert_eq!(types, 1);
    assert_eq!(
        challenge.unwrap(),
        format!("Bearer realm=\"{}\"", HttpConfig::default().realm).as_str()
    );

    let malformed = with_auth(
        test::TestRequest::get().uri("/api/maybe"),
        Some("Bearer a b"),
    );
    let (status, body) = json_of(app.call(malformed.to_request()).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body["detail"],
        "Invalid token header. Token string should not contain spaces."
    );
}

#[actix_web::test]
async fn a_guard_and_a_body_limit() {
    let stack = TestStack::new();
    let app = app!(stack);
    let cli = stack.login_as("alice", "cli").await;
    let web = stack.login_as("alice", "web").await;
    for (token, expected) in [(&web, StatusCode::OK), (&cli, StatusCode::FORBIDDEN)] {
        let request = with_auth(test::TestRequest::get().uri("/api/web"), Some(token));
        let response = app.call(request.to_request()).await.unwrap();
        assert_eq!(response.status(), expected);
    }
    let login = test::TestRequest::post()
        .uri("/api/login/")
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(vec![b' '; 64 * 1024 + 1]);
    let (status, body) = json_of(app.call(login.to_request()).await.unwrap()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["detail"], "Request body too large.");
    // A caller that may not introspect is refused before its body is read.
    let introspect = with_auth(
        test::TestRequest::post().uri("/api/introspect/"),
        Some(&web),
    )
    .insert_header((header::CONTENT_TYPE, "application/json"))
    .set_payload(vec![b' '; 64 * 1024 + 1]);
    let (status, _) = json_of(app.call(introspect.to_request()).await.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn routes_without_the_middleware_answer_500() {
    let stack = TestStack::new();
    let app = app!(stack);
    let token = stack.login_as("alice", "web").await;
    for path in ["/bare", "/bare-api/sessions"] {
        let request = with_auth(test::TestRequest::get().uri(path), Some(&token));
        let (status, body) = json_of(app.call(request.to_request()).await.unwrap()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_eq!(body["detail"], "Authentication is not configured.");
    }
}
