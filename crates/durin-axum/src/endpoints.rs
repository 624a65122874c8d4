//! The contract's endpoints as an axum `Router`.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use durin_http::{Api, HttpError, LoginForm, Reply};

use crate::extract::{ApiError, Auth};

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
/// The authenticated routes need [`crate::DurinLayer`] applied around this router (it
/// usually wraps the application's own routes too, so each request is authenticated once).
pub fn endpoints(api: Api) -> Router {
    let mut router = Router::new();
    for &(method, path) in durin_http::ROUTES {
        let route = match (method, path) {
            ("POST", "login/") => post(login),
            ("POST", "refresh/") => post(refresh),
            ("POST", "token/refresh/") => post(token_refresh),
            ("POST", "logout/") => post(logout),
            ("POST", "logoutall/") => post(logout_all),
            ("GET", "sessions/") => get(sessions),
            ("DELETE", "sessions/{id}") => delete(delete_session),
            ("GET", "apiaccess/") => get(api_access),
            ("POST", "apiaccess/") => post(create_api_access),
            ("DELETE", "apiaccess/") => delete(delete_api_access),
            ("GET", "tokens/") => get(tokens),
            ("POST", "tokens/") => post(create_token),
            ("DELETE", "tokens/{id}") => delete(delete_token),
            ("GET", "settings/") => get(settings),
            ("PUT", "settings/") => put(put_settings),
            ("POST", "introspect/") => post(introspect),
            ("GET", "auth/") => get(forward_auth),
            ("HEAD", "auth/") => axum::routing::head(forward_auth),
            _ => {
                panic!("durin_http::ROUTES lists {method} {path}, which durin-axum does not serve")
            }
        };
        for form in durin_http::path_forms(path) {
            router = router.route(&form, route.clone());
        }
    }
    router.with_state(api)
}

/// Writes a [`Reply`] or an [`HttpError`] as a response.
fn respond(api: &Api, result: Result<Reply, HttpError>) -> Response {
    match result {
        Ok(reply) => {
            let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
            let mut response = match reply.body {
                Some(body) => (status, axum::Json(body)).into_response(),
                None => status.into_response(),
            };
            if let Some(cookie) = reply
                .set_cookie
                .and_then(|c| HeaderValue::from_str(&c).ok())
            {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(e) => ApiError::new(e, api.config()).into_response(),
    }
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

async fn login(State(api): State<Api>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let headers: HeaderMap = request.headers().clone();
    let address = api.client_address(peer, &|name| joined(&headers, name));
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let body = match axum::body::to_bytes(request.into_body(), 64 * 1024).await {
        Ok(body) => body,
        Err(_) => {
            return respond(
                &api,
                Err(HttpError::detail(400, durin_http::messages::MALFORMED_BODY)),
            );
        }
    };
    let result = match LoginForm::parse(content_type, &body) {
        Ok(form) => api.login(&form, address, user_agent).await,
        Err(e) => Err(e),
    };
    respond(&api, result)
}

async fn refresh(State(api): State<Api>, Auth(auth): Auth) -> Response {
    respond(&api, api.refresh(&auth).await)
}

async fn token_refresh(State(api): State<Api>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    respond(&api, api.token_refresh(content_type, &body).await)
}

async fn logout(State(api): State<Api>, Auth(auth): Auth) -> Response {
    respond(&api, api.logout(&auth).await)
}

async fn logout_all(State(api): State<Api>, Auth(auth): Auth) -> Response {
    respond(&api, api.logout_all(&auth).await)
}

async fn sessions(State(api): State<Api>, Auth(auth): Auth) -> Response {
    respond(&api, api.sessions(&auth).await)
}

async fn delete_session(
    State(api): State<Api>,
    Auth(auth): Auth,
    Path(id): Path<String>,
) -> Response {
    respond(&api, api.delete_session(&auth, &id).await)
}

async fn api_access(State(api): State<Api>, Auth(auth): Auth) -> Response {
    respond(&api, api.api_access(&auth).await)
}

async fn create_api_access(State(api): State<Api>, Auth(auth): Auth) -> Response {
    respond(&api, api.create_api_access(&auth).await)
}

async fn delete_api_access(State(api): State<Api>, Auth(auth): Auth) -> Response {
    respond(&api, api.delete_api_access(&auth).await)
}

// --- named tokens and settings ----------------------------------------------------------

/// The body of `POST tokens/` and `PUT settings/`: the settings limit is 16 KiB, so
/// anything much larger is refused (413) before it is read whole.
const SETTINGS_BODY_LIMIT: usize = 1024 * 1024;

async fn read_body(request: Request) -> Result<Bytes, HttpError> {
    axum::body::to_bytes(request.into_body(), SETTINGS_BODY_LIMIT)
        .await
        .map_err(|_| HttpError::detail(413, "Request body too large."))
}

async fn tokens(State(api): State<Api>, Auth(auth): Auth) -> Response {
    respond(&api, api.tokens(&auth).await)
}

async fn create_token(State(api): State<Api>, Auth(auth): Auth, request: Request) -> Response {
    let result = match read_body(request).await {
        Ok(body) => api.create_token(&auth, &body).await,
        Err(e) => Err(e),
    };
    respond(&api, result)
}

async fn delete_token(
    State(api): State<Api>,
    Auth(auth): Auth,
    Path(id): Path<String>,
) -> Response {
    respond(&api, api.delete_token(&auth, &id).await)
}

async fn settings(State(api): State<Api>, Auth(auth): Auth) -> Response {
    respond(&api, api.settings(&auth).await)
}

async fn put_settings(State(api): State<Api>, Auth(auth): Auth, request: Request) -> Response {
    let result = match read_body(request).await {
        Ok(body) => api.put_settings(&auth, &body).await,
        Err(e) => Err(e),
    };
    respond(&api, result)
}

async fn introspect(
    State(api): State<Api>,
    Auth(auth): Auth,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    respond(&api, api.introspect(&auth, content_type, &body).await)
}

async fn forward_auth(State(api): State<Api>, Auth(auth): Auth) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    for (name, value) in api.forward_auth(&auth).iter() {
        // Always valid: the values are printable ASCII (see `IdentityHeaders`).
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
