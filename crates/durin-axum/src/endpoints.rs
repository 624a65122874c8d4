//! The contract's endpoints as an axum `Router`.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams, Request};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use axum::routing::{MethodFilter, on};
use durin_http::{EndpointRequest, ErrorResponse, RequestBody, Route};

use crate::extract::{outcome, write};

/// Every endpoint of [`durin_http::ROUTES`], relative to where the router is nested (the
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
/// The routes use the [`durin_http::Api`] of the [`crate::DurinLayer`] applied around
/// this router (it usually wraps the application's own routes too, so each request is
/// authenticated once); without the layer they answer 500.
pub fn endpoints() -> Router {
    let mut router = Router::new();
    for route in durin_http::ROUTES {
        let method = Method::from_bytes(route.method.as_bytes())
            .ok()
            .and_then(|m| MethodFilter::try_from(m).ok())
            .unwrap_or_else(|| panic!("durin_http::ROUTES lists the method {}", route.method));
        let handler = on(method, move |request: Request| serve(route, request));
        for form in durin_http::path_forms(route.path) {
            router = router.route(&form, handler.clone());
        }
    }
    router
}

/// Every value of header `name`, joined by `,` (as forwarding headers may be split).
fn joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

async fn serve(route: &'static Route, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let params = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .ok();
    let Ok(outcome) = outcome(&parts.extensions) else {
        return write(ErrorResponse::missing_layer().into_response());
    };
    // A request the answer of which is already decided is refused without its body.
    let body = match route.body_limit {
        Some(limit) if outcome.reads_body(route.endpoint) => {
            Some(axum::body::to_bytes(body, limit).await)
        }
        _ => None,
    };
    let headers = &parts.headers;
    let request = EndpointRequest {
        id: params
            .as_ref()
            .and_then(|p| p.iter().next().map(|(_, value)| value)),
        peer: parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip()),
        header: &|name| joined(headers, name),
        body: match &body {
            None => RequestBody::Unread,
            Some(Ok(bytes)) => RequestBody::Read(bytes),
            Some(Err(_)) => RequestBody::TooLarge,
        },
    };
    write(outcome.serve(route.endpoint, &request).await)
}
