//! The contract's endpoints as actix-web routes.

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, SET_COOKIE, USER_AGENT};
use actix_web::{HttpRequest, HttpResponse, web};
use durin_http::{Api, HttpError, LoginForm, Reply};

use crate::extract::{ApiError, Auth};

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
/// Needs `web::Data<Api>` in the app data and [`crate::DurinMiddleware`] around the
/// scope: `web::scope("/api").wrap(DurinMiddleware::new(api.clone()))
/// .app_data(web::Data::new(api)).configure(durin_actix::endpoints)`.
pub fn endpoints(config: &mut web::ServiceConfig) {
    for &(method, path) in durin_http::ROUTES {
        for form in durin_http::path_forms(path) {
            let route = match (method, path) {
                ("POST", "login/") => web::post().to(login),
                ("POST", "refresh/") => web::post().to(refresh),
                ("POST", "token/refresh/") => web::post().to(token_refresh),
                ("POST", "logout/") => web::post().to(logout),
                ("POST", "logoutall/") => web::post().to(logout_all),
                ("GET", "sessions/") => web::get().to(sessions),
                ("DELETE", "sessions/{id}") => web::delete().to(delete_session),
                ("GET", "apiaccess/") => web::get().to(api_access),
                ("POST", "apiaccess/") => web::post().to(create_api_access),
                ("DELETE", "apiaccess/") => web::delete().to(delete_api_access),
                ("GET", "tokens/") => web::get().to(tokens),
                ("POST", "tokens/") => web::post().to(create_token),
                ("DELETE", "tokens/{id}") => web::delete().to(delete_token),
                ("GET", "settings/") => web::get().to(settings),
                ("PUT", "settings/") => web::put().to(put_settings),
                ("POST", "introspect/") => web::post().to(introspect),
                ("GET", "auth/") => web::get().to(forward_auth),
                ("HEAD", "auth/") => web::head().to(forward_auth),
                _ => panic!(
                    "durin_http::ROUTES lists {method} {path}, which durin-actix does not serve"
                ),
            };
            config.route(&form, route);
        }
    }
}

fn respond(api: &Api, result: Result<Reply, HttpError>) -> Result<HttpResponse, ApiError> {
    let reply = result.map_err(|e| ApiError::new(e, api.config()))?;
    let mut response =
        HttpResponse::build(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK));
    if let Some(cookie) = reply.set_cookie {
        response.insert_header((SET_COOKIE, cookie));
    }
    Ok(match reply.body {
        Some(body) => response.json(body),
        None => response.finish(),
    })
}

async fn login(
    api: web::Data<Api>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
    let joined = |name: &str| {
        let values: Vec<&str> = request
            .headers()
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    let address = api.client_address(request.peer_addr().map(|a| a.ip()), &joined);
    let result = match LoginForm::parse(header(CONTENT_TYPE), &body) {
        Ok(form) => api.login(&form, address, header(USER_AGENT)).await,
        Err(e) => Err(e),
    };
    respond(&api, result)
}

async fn refresh(api: web::Data<Api>, Auth(auth): Auth) -> Result<HttpResponse, ApiError> {
    respond(&api, api.refresh(&auth).await)
}

async fn token_refresh(
    api: web::Data<Api>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    respond(&api, api.token_refresh(content_type, &body).await)
}

async fn logout(api: web::Data<Api>, Auth(auth): Auth) -> Result<HttpResponse, ApiError> {
    respond(&api, api.logout(&auth).await)
}

async fn logout_all(api: web::Data<Api>, Auth(auth): Auth) -> Result<HttpResponse, ApiError> {
    respond(&api, api.logout_all(&auth).await)
}

async fn sessions(api: web::Data<Api>, Auth(auth): Auth) -> Result<HttpResponse, ApiError> {
    respond(&api, api.sessions(&auth).await)
}

async fn delete_session(
    api: web::Data<Api>,
    Auth(auth): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    respond(&api, api.delete_session(&auth, &id).await)
}

async fn api_access(api: web::Data<Api>, Auth(auth): Auth) -> Result<HttpResponse, ApiError> {
    respond(&api, api.api_access(&auth).await)
}

async fn create_api_access(
    api: web::Data<Api>,
    Auth(auth): Auth,
) -> Result<HttpResponse, ApiError> {
    respond(&api, api.create_api_access(&auth).await)
}

async fn delete_api_access(
    api: web::Data<Api>,
    Auth(auth): Auth,
) -> Result<HttpResponse, ApiError> {
    respond(&api, api.delete_api_access(&auth).await)
}

// --- named tokens and settings ----------------------------------------------------------

async fn tokens(api: web::Data<Api>, Auth(auth): Auth) -> Result<HttpResponse, ApiError> {
    respond(&api, api.tokens(&auth).await)
}

async fn create_token(
    api: web::Data<Api>,
    Auth(auth): Auth,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    respond(&api, api.create_token(&auth, &body).await)
}

async fn delete_token(
    api: web::Data<Api>,
    Auth(auth): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    respond(&api, api.delete_token(&auth, &id).await)
}

async fn settings(api: web::Data<Api>, Auth(auth): Auth) -> Result<HttpResponse, ApiError> {
    respond(&api, api.settings(&auth).await)
}

async fn put_settings(
    api: web::Data<Api>,
    Auth(auth): Auth,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    respond(&api, api.put_settings(&auth, &body).await)
}

async fn introspect(
    api: web::Data<Api>,
    Auth(auth): Auth,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    respond(&api, api.introspect(&auth, content_type, &body).await)
}

async fn forward_auth(api: web::Data<Api>, Auth(auth): Auth) -> HttpResponse {
    let mut response = HttpResponse::NoContent();
    for (name, value) in api.forward_auth(&auth).iter() {
        response.insert_header((name, value));
    }
    response.finish()
}
