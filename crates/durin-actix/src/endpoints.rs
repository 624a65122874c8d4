//! The contract's endpoints as actix-web routes.

use actix_web::http::Method;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use durin_http::{EndpointRequest, ErrorResponse, RequestBody, Route};

use crate::extract::{outcome, write};

/// Registers every endpoint of [`durin_http::ROUTES`], relative to the enclosing scope (the
/// examples use `/api`), each path with and without its trailing slash (requests,
/// answers and errors: `docs/http-api.md`):
///
/// | route | |
/// |---|---|
/// | `POST login/` | username + password (JSON or form) + client -> token |
/// | `POST refresh/` | renew the caller's token |
/// | `POST token/refresh/` | rotate a refresh token |
/// | `POST logout/`, `POST logoutall/` | end this token, or every token of the user |
/// | `GET sessions/`, `DELETE sessions/{id}` | list and revoke the caller's sessions |
/// | `GET`, `POST`, `DELETE apiaccess/` | the caller's API key |
/// | `GET`, `POST tokens/`, `DELETE tokens/{id}` | the caller's named tokens |
/// | `GET`, `PUT settings/` | the caller's settings for its client |
/// | `POST introspect/` | RFC 7662 token introspection, for the introspection clients |
/// | `GET`, `HEAD auth/` | forward-auth: 204 with the caller's identity headers |
///
/// The routes use the [`durin_http::Api`] of the [`crate::DurinMiddleware`] around the
/// scope (without it they answer 500): `web::scope("/api").wrap(DurinMiddleware::new(api))
/// .configure(durin_actix::endpoints)`.
pub fn endpoints(config: &mut web::ServiceConfig) {
    for route in durin_http::ROUTES {
        let method = Method::from_bytes(route.method.as_bytes())
            .unwrap_or_else(|_| panic!("durin_http::ROUTES lists the method {}", route.method));
        for form in durin_http::path_forms(route.path) {
            config.route(
                &form,
                web::method(method.clone()).to(move |request: HttpRequest, body: web::Payload| {
                    serve(route, request, body)
                }),
            );
        }
    }
}

async fn serve(route: &'static Route, request: HttpRequest, payload: web::Payload) -> HttpResponse {
    let Ok(outcome) = outcome(&request.extensions()).cloned() else {
        return write(ErrorResponse::missing_layer().into_response());
    };
    // A request the answer of which is already decided is refused without its body.
    let body = match route.body_limit {
        Some(limit) if outcome.reads_body(route.endpoint) => {
            Some(payload.to_bytes_limited(limit).await)
        }
        _ => None,
    };
    let headers = request.headers();
    let joined = |name: &str| {
        let values: Vec<&str> = headers
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    let request = EndpointRequest {
        id: request.match_info().get("id"),
        peer: request.peer_addr().map(|a| a.ip()),
        header: &joined,
        body: match &body {
            None => RequestBody::Unread,
            Some(Ok(Ok(bytes))) => RequestBody::Read(bytes),
            Some(_) => RequestBody::TooLarge,
        },
    };
    write(outcome.serve(route.endpoint, &request).await)
}
