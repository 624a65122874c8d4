//! An OpenAPI 3.1 document of the endpoints (feature `openapi`), built from [`ROUTES`] so a
//! route cannot be mounted without being described.
//!
//! [`document`] describes every endpoint under the application's mount point: request
//! bodies (JSON, and forms where the endpoint reads them), a response for every status it
//! can answer with its body (`{"detail": ...}` errors, `{"field": ["message"]}` field
//! errors, RFC 7662's `{"active": false}`), the headers that matter (`WWW-Authenticate`
//! on every 401, `Retry-After` on every 429, `X-Durin-*` on forward-auth's 204,
//! `Set-Cookie` with the cookie transport), and the security schemes of
//! [`HttpConfig`]: its `Authorization` keywords and, when turned on, the token cookie.
//! A header marked `required` is always sent with that status.
//!
//! The helpers ([`protected`], [`detail_response`], [`throttled`]...) give an
//! application's own routes the same answers, so it can merge them into one document.
//!
//! ```
//! use durin_http::HttpConfig;
//! use durin_http::openapi::{self, utoipa};
//!
//! // The application mounts the endpoints under `/auth` (`Router::nest("/auth", ..)`).
//! let doc: utoipa::openapi::OpenApi = openapi::document_for("/auth", &HttpConfig::default());
//! assert!(doc.paths.paths.contains_key("/auth/login/"));
//!
//! // What its `GET /auth/openapi.json` handler answers (`application/json`):
//! let json = doc.to_json().expect("a document always serializes");
//! assert!(json.starts_with(r#"{"openapi":"3.1.0""#));
//! ```
//!
//! An application's own protected route, documented alike and merged in:
//!
//! ```
//! use durin_http::HttpConfig;
//! use durin_http::openapi::{self, utoipa::openapi::{HttpMethod, PathItem, Paths}};
//!
//! let config = HttpConfig::default();
//! let mut doc = openapi::document_for("/api", &config);
//! let me = openapi::protected(
//!     openapi::operation("me", "Who is calling")
//!         .response("200", openapi::json_response("The caller.", openapi::any_value())),
//!     "GET",
//!     &config,
//! );
//! doc.paths.paths.insert("/api/me".to_owned(), PathItem::new(HttpMethod::Get, me.build()));
//! assert!(doc.to_json().unwrap().contains("/api/me"));
//! ```

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem, Paths,
};
use utoipa::openapi::request_body::{RequestBody, RequestBodyBuilder};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, Components, ComponentsBuilder, KnownFormat, Object,
    ObjectBuilder, OneOfBuilder, Ref, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder};
use utoipa::openapi::security::{SecurityRequirement, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder, RefOr, Required, Tag};

use crate::credentials::HttpConfig;
use crate::error::messages;
use crate::routes::ROUTES;
use crate::tokens::token_messages;

/// The `utoipa` crate the document is built with, to name its types.
pub use utoipa;

/// The security scheme of an `Authorization: Bearer <token>` header.
pub const BEARER_SCHEME: &str = "bearer";
/// The security scheme of the `Authorization` header with any configured keyword.
pub const HEADER_SCHEME: &str = "authorization";
/// The security scheme of the token cookie (only when the cookie transport is on).
pub const COOKIE_SCHEME: &str = "cookie";

/// The document of [`ROUTES`] mounted under `base` (`"/api"` or `"/api/"`: the paths
/// become `/api/login/`...; `""` or `"/"` mounts them at the root), with the default
/// [`HttpConfig`] (keywords `Bearer` and `Token`, no cookie transport).
pub fn document(base: &str) -> OpenApi {
    document_for(base, &HttpConfig::default())
}

/// The document of [`ROUTES`] under `base`, for the keywords, realm and cookie transport
/// of `config`. Each path is written as [`ROUTES`] lists it; every endpoint also answers
/// without (or with) its trailing slash, which the document's description says.
///
/// # Panics
/// When [`ROUTES`] lists a route this module does not describe (a unit test keeps the
/// two in step).
pub fn document_for(base: &str, config: &HttpConfig) -> OpenApi {
    let mut paths = Paths::new();
    for &crate::Route {
        method,
        path,
        body_limit,
        ..
    } in ROUTES
    {
        let operation = describe(method, path, config).unwrap_or_else(|| {
            panic!("durin_http::ROUTES lists {method} {path}, which the OpenAPI document does not describe")
        });
        let mut operation = operation.build();
        // Every route that reads a body refuses one over its limit, with the same answer.
        if let Some(limit) = body_limit {
            operation
                .responses
                .responses
                .entry("413".to_owned())
                .or_insert_with(|| operations::body_too_large(limit).into());
        }
        add(&mut paths, &mount(base, path), method, operation);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("durin")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Per-client token authentication (django-rest-durin's HTTP API). \
                     Every endpoint answers with and without its trailing slash. Errors \
                     are `{\"detail\": \"<message>\"}` unless a response says otherwise.",
                )),
        )
        .paths(paths)
        .components(Some(components(config)))
        .tags(Some(
            [
                (
                    "sessions",
                    "Logging in and out, renewing, listing and revoking sessions",
                ),
                ("api access", "The caller's API key"),
                ("named tokens", "The caller's named personal tokens"),
                ("settings", "The caller's settings for its client"),
                (
                    "gateways",
                    "RFC 7662 introspection and forward-auth for other services",
                ),
            ]
            .map(|(name, description)| {
                let mut tag = Tag::new(name);
                tag.description = Some(description.to_owned());
                tag
            }),
        ))
        .build()
}

/// `base` joined to a route's relative `path`: `("/api", "login/")` → `/api/login/`.
pub fn mount(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    let base = if base.is_empty() || base.starts_with('/') {
        base.to_owned()
    } else {
        format!("/{base}")
    };
    format!("{base}/{path}")
}

/// Adds `operation` to `paths` at `path` for `method` (`GET`, `HEAD`, `POST`, `PUT`,
/// `DELETE`, `PATCH`, `OPTIONS`).
///
/// # Panics
/// For another method.
pub fn add(
    paths: &mut Paths,
    path: &str,
    method: &str,
    operation: utoipa::openapi::path::Operation,
) {
    let method = http_method(method);
    match paths.paths.get_mut(path) {
        Some(item) => item.merge_operations(PathItem::new(method, operation)),
        None => {
            paths
                .paths
                .insert(path.to_owned(), PathItem::new(method, operation));
        }
    }
}

fn http_method(method: &str) -> HttpMethod {
    match method {
        "GET" => HttpMethod::Get,
        "HEAD" => HttpMethod::Head,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "DELETE" => HttpMethod::Delete,
        "PATCH" => HttpMethod::Patch,
        "OPTIONS" => HttpMethod::Options,
        other => panic!("no OpenAPI operation for the method {other}"),
    }
}

/// An operation with its `operationId` and summary.
pub fn operation(id: &str, summary: &str) -> OperationBuilder {
    OperationBuilder::new()
        .operation_id(Some(id))
        .summary(Some(summary))
}

/// `operation` as a route behind durin's authentication: its security requirements (any
/// of [`HEADER_SCHEME`], [`BEARER_SCHEME`] when `Bearer` is a keyword, [`COOKIE_SCHEME`]
/// when the cookie transport is on), 401 with `WWW-Authenticate`, 503, and for an unsafe
/// `method` with the cookie transport on, 403 for the CSRF check. Add a route's own 403
/// with [`forbidden`] instead of a second `response("403", ..)`.
pub fn protected(
    operation: OperationBuilder,
    method: &str,
    config: &HttpConfig,
) -> OperationBuilder {
    let mut operation = operation
        .securities(Some(security(config)))
        .response("401", unauthorized(config))
        .response("503", unavailable());
    if csrf_checked(method, config) {
        operation = operation.response("403", forbidden(config, method, None));
    }
    operation
}

fn csrf_checked(method: &str, config: &HttpConfig) -> bool {
    config.cookie.is_some() && !matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// The security requirements of an authenticated route: any one of the schemes.
pub fn security(config: &HttpConfig) -> Vec<SecurityRequirement> {
    let mut schemes = vec![HEADER_SCHEME];
    if has_bearer(config) {
        schemes.push(BEARER_SCHEME);
    }
    if config.cookie.is_some() {
        schemes.push(COOKIE_SCHEME);
    }
    schemes
        .into_iter()
        .map(|name| SecurityRequirement::new(name, Vec::<String>::new()))
        .collect()
}

fn has_bearer(config: &HttpConfig) -> bool {
    config
        .keywords
        .iter()
        .any(|k| k.eq_ignore_ascii_case("bearer"))
}

/// A JSON response: `description` and the body's `schema`.
pub fn json_response(description: &str, schema: impl Into<RefOr<Schema>>) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(schema)).build(),
        )
        .build()
}

/// A `{"detail": "<message>"}` error response.
pub fn detail_response(description: &str) -> Response {
    json_response(description, schema_ref("Error"))
}

/// A response without a body.
pub fn empty_response(description: &str) -> Response {
    ResponseBuilder::new().description(description).build()
}

/// 401 with `WWW-Authenticate` naming the first keyword of `config` and its realm.
pub fn unauthorized(config: &HttpConfig) -> Response {
    let challenge = format!(
        "^{} realm=\"{}\"(, error=\"(invalid_token|invalid_request)\")?$",
        regex_escape(config.challenge_keyword()),
        regex_escape(&config.realm)
    );
    with_header(
        detail_response(
            "Not authenticated: no credentials (`Authentication credentials were not \
             provided.`), a malformed header, or an invalid, revoked or expired token.",
        ),
        "WWW-Authenticate",
        required_header(
            "The challenge (RFC 6750): `error=\"invalid_token\"` for an invalid or expired \
             token, `error=\"invalid_request\"` for a malformed header.",
            string().pattern(Some(challenge)),
        ),
    )
}

/// 403 `You do not have permission to perform this action.` (`reason`, when given, says
/// when), plus the CSRF refusal for an unsafe `method` with the cookie transport on.
pub fn forbidden(config: &HttpConfig, method: &str, reason: Option<&str>) -> Response {
    let mut description = String::from("Forbidden: ");
    if let Some(reason) = reason {
        description.push_str(reason);
    }
    if csrf_checked(method, config) {
        if reason.is_some() {
            description.push_str("; or ");
        }
        description.push_str(&format!(
            "a cookie-authenticated request without an `Origin` (or `Referer`) of this \
             site (`{}`)",
            messages::CSRF
        ));
    }
    description.push('.');
    detail_response(&description)
}

/// 429 with `Retry-After` (whole seconds, at least 1).
pub fn throttled() -> Response {
    with_header(
        detail_response("Throttled: `Request was throttled. Expected available in N seconds.`"),
        "Retry-After",
        required_header(
            "Seconds until a request may succeed.",
            string().pattern(Some("^[1-9][0-9]*$")),
        ),
    )
}

/// 503 `Authentication service unavailable.`: the store cannot be reached.
pub fn unavailable() -> Response {
    detail_response("The store cannot be reached: `Authentication service unavailable.`")
}

/// A schema that accepts any JSON value.
pub fn any_value() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::AnyValue)
}

/// A `$ref` to the component schema `name`.
pub fn schema_ref(name: &str) -> Ref {
    Ref::from_schema_name(name)
}

/// `response` with the header `name`.
fn with_header(mut response: Response, name: &str, header: Header) -> Response {
    response.headers.insert(name.to_owned(), RefOr::T(header));
    response
}

/// A response header that is always sent with its status. utoipa's `Header` has no
/// `required` field (OpenAPI 3.1's Header Object does), so it is written through the
/// flattened extensions.
fn required_header(description: &str, schema: ObjectBuilder) -> Header {
    HeaderBuilder::new()
        .schema(Some(schema))
        .description(Some(description))
        .extensions(Some(Extensions::from_iter([("required", true)])))
        .build()
}

fn optional_header(description: &str, schema: ObjectBuilder) -> Header {
    HeaderBuilder::new()
        .schema(Some(schema))
        .description(Some(description))
        .build()
}

fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !c.is_ascii_alphanumeric() && c != ' ' && c != '_' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

mod operations;
mod schemas;

use operations::describe;
use schemas::components;

#[cfg(test)]
mod tests;
