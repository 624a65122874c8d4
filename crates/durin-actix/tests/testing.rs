//! `durin_http::testing` with `actix_web::test`: a handler test "with a user logged in",
//! no database and no login request.

use actix_web::{App, HttpResponse, test, web};
use durin_actix::{Auth, DurinMiddleware, Guard};
use durin_core::{Client, ClientName};
use durin_http::testing::TestStack;

async fn me(Auth(auth): Auth) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "user": auth.user_id().as_str() }))
}

#[actix_web::test]
async fn login_as_authenticates_requests_and_guards_see_the_client() {
    let stack = TestStack::new();
    stack
        .add_client(Client::new(ClientName::new("reports").unwrap()).with_scopes(["read"]))
        .await;
    let api = stack.api();
    let app = test::init_service(
        App::new().service(
            web::scope("/api")
                .wrap(DurinMiddleware::new(api.clone()))
                .configure(durin_actix::endpoints)
                .route("/me", web::get().to(me))
                .service(web::resource("/read").wrap(Guard::scopes(["read"])).to(me)),
        ),
    )
    .await;
    let reports = stack.login_as("alice", "reports").await;
    let web_client = stack.login_as("alice", "web").await;

    let request = |path: &str, auth: &str| {
        test::TestRequest::get()
            .uri(path)
            .insert_header(("Authorization", auth.to_owned()))
            .to_request()
    };
    let response = test::call_service(&app, request("/api/me", &reports)).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = test::read_body_json(response).await;
    assert_eq!(body["user"], "alice");
    let response = test::call_service(&app, request("/api/read", &reports)).await;
    assert_eq!(response.status(), 200);
    let response = test::call_service(&app, request("/api/read", &web_client)).await;
    assert_eq!(response.status(), 403);
    // The header is a real token: durin's own endpoints take it too.
    let sessions = test::call_service(&app, request("/api/sessions/", &reports)).await;
    let sessions: serde_json::Value = test::read_body_json(sessions).await;
    assert_eq!(sessions.as_array().map(Vec::len), Some(2), "{sessions}");
    let response = test::call_service(&app, request("/api/me", "Bearer durin_nope")).await;
    assert_eq!(response.status(), 401);
}
