//! durin-axum in process, through `tower::ServiceExt::oneshot`: the layer, the
//! extractors, a guard and the endpoints, without a socket.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use durin_axum::{Auth, DurinLayer, Guard};
use durin_core::{StoreError, UserId};
use durin_http::testing::TestStack;
use durin_http::{CredentialChecker, HttpConfig};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// alice / wonderland.
struct Alice;

#[async_trait::async_trait]
impl CredentialChecker for Alice {
    async fn check(&self, user: &str, password: &str) -> Result<Option<UserId>, StoreError> {
        Ok((user == "alice" && password == "wonderland").then(|| UserId::new("alice").unwrap()))
    }
}

async fn me(Auth(auth): Auth) -> Json<Value> {
    Json(json!({ "user": auth.user_id().as_str(), "client": auth.client.name.as_str() }))
}

async fn maybe(auth: Option<Auth>) -> String {
    auth.map_or("anonymous".to_owned(), |Auth(a)| a.user_id().to_string())
}

fn app(stack: &TestStack) -> Router {
    let api = Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe))
        .route("/web", get(me).layer(Guard::allow_clients(["web"])))
        .merge(durin_axum::endpoints())
        .layer(DurinLayer::new(stack.api()));
    Router::new()
        .nest("/api", api)
        // Mounted without the layer: a wiring mistake answers 500, never a pass.
        .route("/bare", get(me))
        .nest("/bare-api", durin_axum::endpoints())
}

async fn call(app: &Router, request: Request<Body>) -> (Response<()>, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (Response::from_parts(parts, ()), json)
}

fn get_with(path: &str, authorization: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    request.body(Body::empty()).unwrap()
}

fn post_json(path: &str, authorization: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    request.body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn login_use_and_logout_through_the_router() {
    let stack = TestStack::with_checker(Arc::new(Alice));
    stack.login_as("bob", "web").await; // creates the client
    let app = app(&stack);
    let login = json!({"username": "alice", "password": "wonderland", "client": "web"});
    let (response, body) = call(
        &app,
        post_json("/api/login/", None, login.to_string().into_bytes()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    let header = format!("Bearer {}", body["token"].as_str().unwrap());

    let (response, body) = call(&app, get_with("/api/me", Some(&header))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body, json!({"user": "alice", "client": "web"}));
    let (_, body) = call(&app, get_with("/api/sessions", Some(&header))).await;
    assert_eq!(body[0]["is_current"], true, "{body}");

    let (response, _) = call(&app, post_json("/api/logout/", Some(&header), vec![])).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (response, body) = call(&app, get_with("/api/me", Some(&header))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body["detail"], "Invalid token.");
}

#[tokio::test]
async fn refusals_have_one_content_type_and_the_challenge() {
    let stack = TestStack::new();
    let app = app(&stack);
    let (response, body) = call(&app, get_with("/api/me", None)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        body["detail"],
        "Authentication credentials were not provided."
    );
    let types: Vec<_> = response
        .headers()
        .get_all(header::CONTENT_TYPE)
        .iter()
        .collect();
    assert_eq!(types, ["application/json"]);
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        format!("Bearer realm=\"{}\"", HttpConfig::default().realm)
    );

    // A malformed header is refused before any store is asked, even on a public route.
    let (response, body) = call(&app, get_with("/api/maybe", Some("Bearer"))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        body["detail"],
        "Invalid token header. No credentials provided."
    );
    let (response, _) = call(&app, get_with("/api/maybe", None)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn guards_and_body_limits() {
    let stack = TestStack::new();
    let app = app(&stack);
    let web = stack.login_as("alice", "web").await;
    let cli = stack.login_as("alice", "cli").await;
    let (response, _) = call(&app, get_with("/api/web", Some(&web))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (response, body) = call(&app, get_with("/api/web", Some(&cli))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        body["detail"],
        "You do not have permission to perform this action."
    );

    let huge = vec![b' '; 64 * 1024 + 1];
    let (response, body) = call(&app, post_json("/api/login/", None, huge)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["detail"], "Request body too large.");
}

#[tokio::test]
async fn routes_without_the_layer_answer_500() {
    let stack = TestStack::new();
    let app = app(&stack);
    let token = stack.login_as("alice", "web").await;
    for path in ["/bare", "/bare-api/sessions/"] {
        let (response, body) = call(&app, get_with(path, Some(&token))).await;
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}"
        );
        assert_eq!(body["detail"], "Authentication is not configured.");
    }
}
