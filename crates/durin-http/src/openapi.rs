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
    for &(method, path) in ROUTES {
        let operation = describe(method, path, config).unwrap_or_else(|| {
            panic!("durin_http::ROUTES lists {method} {path}, which the OpenAPI document does not describe")
        });
        add(&mut paths, &mount(base, path), method, operation.build());
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

fn nullable(schema: &str) -> OneOfBuilder {
    OneOfBuilder::new()
        .item(schema_ref(schema))
        .item(Object::with_type(Type::Null))
}

/// An object with exactly these `(name, schema, required)` properties.
fn closed(description: &str, fields: Vec<(&str, RefOr<Schema>, bool)>) -> ObjectBuilder {
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
    for (name, schema, required) in fields {
        object = object.property(name, schema);
        if required {
            object = object.required(name);
        }
    }
    object
}

fn field(name: &str, schema: impl Into<RefOr<Schema>>) -> (&str, RefOr<Schema>, bool) {
    (name, schema.into(), true)
}

fn optional(name: &str, schema: impl Into<RefOr<Schema>>) -> (&str, RefOr<Schema>, bool) {
    (name, schema.into(), false)
}

fn boolean() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Boolean)
}

fn integer() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
}

fn strings() -> ArrayBuilder {
    ArrayBuilder::new().items(string())
}

/// The component schemas and security schemes.
fn components(config: &HttpConfig) -> Components {
    let session_fields = |extra: Vec<(&'static str, RefOr<Schema>, bool)>| {
        let mut fields = vec![
            field("client", string().description(Some("The client's name."))),
            field("created", schema_ref("Timestamp")),
            field("expiry", nullable("Timestamp")),
            field("has_expired", boolean()),
            field(
                "expires_in_str",
                string().description(Some(
                    "Django's natural delta (`2 days`), `never` for no expiry.",
                )),
            ),
        ];
        fields.extend(extra);
        fields
    };
    let named_token_fields = |extra: Vec<(&'static str, RefOr<Schema>, bool)>| {
        let mut fields = vec![
            field("id", schema_ref("SessionId")),
            field(
                "name",
                OneOfBuilder::new()
                    .item(string())
                    .item(Object::with_type(Type::Null)),
            ),
            field("scopes", strings()),
            field("created", schema_ref("Timestamp")),
            field("expiry", nullable("Timestamp")),
            field("last_used", nullable("Timestamp")),
        ];
        fields.extend(extra);
        fields
    };
    // Unknown fields are ignored, as a form's would be: the object stays open.
    let mut login_body = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "Credentials and the client to log in through (JSON or a form).",
        ))
        .property("username", string())
        .property(
            "password",
            string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Password))),
        )
        .property("client", string().description(Some("The client's name.")))
        .required("username")
        .required("password")
        .required("client");
    if config.cookie.is_some() {
        login_body = login_body.property(
            "transport",
            string().enum_values(Some(["cookie"])).description(Some(
                "`cookie`: the token is set in the cookie instead of the body.",
            )),
        );
    }
    let mut login_fields = vec![
        field("expiry", nullable("Timestamp")),
        optional("refresh_token", schema_ref("Token")),
        optional(
            "user",
            any_value().description(Some("The application's user object, when it gives one.")),
        ),
    ];
    login_fields.insert(
        0,
        ("token", schema_ref("Token").into(), config.cookie.is_none()),
    );
    let introspection_active = closed(
        "An active token (RFC 7662 §2.2).",
        vec![
            field("active", boolean().enum_values(Some([true]))),
            field("token_type", string().enum_values(Some(["Bearer"]))),
            field("client_id", string()),
            field("username", string()),
            field("sub", string()),
            field(
                "scope",
                string().description(Some("Space-separated scopes, `\"\"` for none.")),
            ),
            field(
                "iat",
                integer().description(Some("Issued at, Unix seconds.")),
            ),
            optional(
                "exp",
                integer().description(Some(
                    "Expiry, Unix seconds; absent for a token that never expires.",
                )),
            ),
        ],
    );
    let mut builder = ComponentsBuilder::new()
        .schema(
            "Error",
            closed(
                "An error: `{\"detail\": \"<message>\"}`.",
                vec![field("detail", string())],
            ),
        )
        .schema(
            "FieldErrors",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some(
                    "Messages per field, DRF's style: `{\"username\": [\"This field is required.\"]}`; \
                     `non_field_errors` for the request as a whole.",
                ))
                .additional_properties(Some(strings().min_items(Some(1))))
                .min_properties(Some(1)),
        )
        .schema(
            "BadRequest",
            OneOfBuilder::new()
                .item(schema_ref("FieldErrors"))
                .item(schema_ref("Error"))
                .description(Some("Field errors, or a `{\"detail\"}` error.")),
        )
        .schema(
            "Timestamp",
            string()
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                .pattern(Some(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"))
                .description(Some("ISO-8601 UTC, ending in `Z`.")),
        )
        .schema(
            "Token",
            string()
                .pattern(Some("^[a-z0-9]{1,16}_[0-9A-Za-z]{49}$"))
                .description(Some(
                    "A token: `{prefix}_` then 43 base62 characters and a 6-character base62 \
                     CRC32 checksum. Shown once; stored only as a digest.",
                )),
        )
        .schema(
            "SessionId",
            string()
                .pattern(Some("^[A-Za-z0-9_-]{1,64}$"))
                .description(Some("A public session id (22 base62 characters when durin made it).")),
        )
        .schema("LoginRequest", login_body)
        .schema(
            "Login",
            closed(
                "A new token (in the cookie instead of `token` when `transport` is `cookie`).",
                login_fields,
            ),
        )
        .schema(
            "Expiry",
            closed("The new expiry.", vec![field("expiry", nullable("Timestamp"))]),
        )
        .schema(
            "RefreshRequest",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("refresh_token", string())
                .required("refresh_token"),
        )
        .schema(
            "TokenPair",
            closed(
                "A rotated pair: the old token and refresh token stop working.",
                vec![
                    field("token", schema_ref("Token")),
                    field("refresh_token", nullable("Token")),
                    field("expiry", nullable("Timestamp")),
                ],
            ),
        )
        .schema(
            "Session",
            closed(
                "One of the caller's sessions; never the token or its digest.",
                session_fields(vec![
                    field("id", schema_ref("SessionId")),
                    field("is_current", boolean()),
                    field("last_used", nullable("Timestamp")),
                    field(
                        "context",
                        ObjectBuilder::new()
                            .schema_type(Type::Object)
                            .description(Some("The login's `ip` and `user_agent`.")),
                    ),
                ]),
            ),
        )
        .schema(
            "ApiKey",
            closed("The caller's API key (its token cannot be shown again).", session_fields(vec![])),
        )
        .schema(
            "ApiKeyCreated",
            closed(
                "A new API key with its token, shown this once.",
                session_fields(vec![field("token", schema_ref("Token"))]),
            ),
        )
        .schema(
            "NamedToken",
            closed("A named personal token; never the token.", named_token_fields(vec![])),
        )
        .schema(
            "NamedTokenCreated",
            closed(
                "A new named token with its token, shown this once.",
                named_token_fields(vec![field("token", schema_ref("Token"))]),
            ),
        )
        .schema(
            "NamedTokenRequest",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("name", string().min_length(Some(1)).max_length(Some(64)))
                .property(
                    "scopes",
                    strings().description(Some("A subset of the tokens client's scopes (default none).")),
                )
                .property(
                    "expires_in",
                    string().description(Some("A TTL like `30d`, `12h` or `never` (default the tokens client's TTL).")),
                )
                .required("name"),
        )
        .schema(
            "Settings",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some("Any JSON object (at most 16 KiB by default).")),
        )
        .schema(
            "IntrospectionRequest",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("token", string())
                .property(
                    "token_type_hint",
                    string().description(Some("Accepted and ignored.")),
                )
                .required("token"),
        )
        .schema("IntrospectionActive", introspection_active)
        .schema(
            "IntrospectionInactive",
            closed(
                "Any other token: unknown, malformed, expired or revoked (never why).",
                vec![field("active", boolean().enum_values(Some([false])))],
            ),
        )
        .schema(
            "Introspection",
            OneOfBuilder::new()
                .item(schema_ref("IntrospectionActive"))
                .item(schema_ref("IntrospectionInactive")),
        );
    let keywords = config.keywords.join("`, `");
    builder = builder.security_scheme(
        HEADER_SCHEME,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "Authorization".to_owned(),
            format!(
                "`Authorization: <keyword> <token>`, the keyword one of `{keywords}` (any case)."
            ),
        ))),
    );
    if has_bearer(config) {
        builder = builder.security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("durin")
                    .build(),
            ),
        );
    }
    if let Some(cookie) = &config.cookie {
        builder = builder.security_scheme(
            COOKIE_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                cookie.name.clone(),
                "The HttpOnly cookie set by a login with `\"transport\": \"cookie\"`; unsafe \
                 methods also need an `Origin` (or `Referer`) of this site."
                    .to_owned(),
            ))),
        );
    }
    builder.build()
}

/// A JSON body (`required`), also accepted as a form when `form` is set.
fn body(description: &str, schema: &str, form: bool) -> RequestBody {
    let mut body = RequestBodyBuilder::new()
        .description(Some(description))
        .required(Some(Required::True))
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(schema_ref(schema)))
                .build(),
        );
    if form {
        body = body.content(
            "application/x-www-form-urlencoded",
            ContentBuilder::new()
                .schema(Some(schema_ref(schema)))
                .build(),
        );
    }
    body.build()
}

fn id_parameter(what: &str) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(what))
        .schema(Some(string()))
        .build()
}

fn set_cookie(response: Response, config: &HttpConfig, what: &str) -> Response {
    if config.cookie.is_none() {
        return response;
    }
    with_header(response, "Set-Cookie", optional_header(what, string()))
}

/// The operation of one route of [`ROUTES`]; `None` for a route this module does not know.
fn describe(method: &str, path: &str, config: &HttpConfig) -> Option<OperationBuilder> {
    let not_found = |what: &str| detail_response(&format!("`Not found.`: {what}."));
    let token = |op: OperationBuilder| protected(op, method, config);
    let op = match (method, path) {
        ("POST", "login/") => operation("login", "Log in through a client")
            .tag("sessions")
            .description(Some(
                "A new token each time; the (user, client) pair keeps at most the client's \
                 `max_tokens_per_user` live tokens (default 1: the previous one stops working). \
                 The credentials are checked before the client.",
            ))
            .request_body(Some(body("Credentials and the client's name.", "LoginRequest", true)))
            .response(
                "200",
                set_cookie(
                    json_response("Logged in.", schema_ref("Login")),
                    config,
                    "The token cookie, for `\"transport\": \"cookie\"`.",
                ),
            )
            .response(
                "400",
                json_response(
                    &format!(
                        "Field errors (missing or blank `username`, `password`), `non_field_errors` \
                         (`{}`), or a `detail`: `{}`, `{}`, `{}`.",
                        messages::BAD_CREDENTIALS,
                        messages::NO_CLIENT,
                        messages::UNKNOWN_CLIENT,
                        messages::MALFORMED_BODY
                    ),
                    schema_ref("BadRequest"),
                ),
            )
            .response("429", throttled())
            .response("503", unavailable()),
        ("POST", "refresh/") => token(
            operation("refresh", "Renew the caller's token")
                .tag("sessions")
                .description(Some("Expiry = now + the client's TTL, capped by its maximum lifetime; the token stays the same."))
                .response("200", json_response("Renewed.", schema_ref("Expiry"))),
        )
        .response("403", forbidden(config, method, Some("the client does not allow renewal"))),
        ("POST", "token/refresh/") => operation("token_refresh", "Rotate a refresh token")
            .tag("sessions")
            .request_body(Some(body("The refresh token.", "RefreshRequest", true)))
            .response("200", json_response("A new pair.", schema_ref("TokenPair")))
            .response(
                "400",
                json_response(
                    "`{\"refresh_token\": [\"This field is required.\"]}`.",
                    schema_ref("FieldErrors"),
                ),
            )
            .response(
                "401",
                unauthorized(config),
            )
            .response("503", unavailable()),
        ("POST", "logout/") => token(
            operation("logout", "End the caller's token")
                .tag("sessions")
                .response("204", set_cookie(empty_response("Logged out; the token stops working at once."), config, "Clears the cookie of a cookie login.")),
        ),
        ("POST", "logoutall/") => token(
            operation("logout_all", "End every token of the caller's user")
                .tag("sessions")
                .response("204", set_cookie(empty_response("Every token of the user stops working, every client, the API key and named tokens included."), config, "Clears the cookie of a cookie login.")),
        ),
        ("GET", "sessions/") => token(
            operation("sessions", "The caller's sessions")
                .tag("sessions")
                .response(
                    "200",
                    json_response("The caller's live sessions, oldest first.", ArrayBuilder::new().items(schema_ref("Session"))),
                ),
        ),
        ("DELETE", "sessions/{id}") => token(
            operation("delete_session", "Revoke one of the caller's sessions")
                .tag("sessions")
                .parameter(id_parameter("The session's public id."))
                .response("204", empty_response("Revoked."))
                .response("400", detail_response(&format!("The current session: `{}`", messages::CURRENT_SESSION)))
                .response("404", not_found("an unknown, malformed or another user's id")),
        ),
        ("GET", "apiaccess/") => token(
            operation("api_access", "The caller's API key")
                .tag("api access")
                .response("200", json_response("The key.", schema_ref("ApiKey")))
                .response("404", not_found("no key, or no API-access client")),
        ),
        ("POST", "apiaccess/") => token(
            operation("create_api_access", "Issue the caller's API key")
                .tag("api access")
                .response("201", json_response("Issued.", schema_ref("ApiKeyCreated")))
                .response("400", detail_response(&format!("`{}`", messages::API_KEY_EXISTS)))
                .response("404", not_found("no API-access client")),
        ),
        ("DELETE", "apiaccess/") => token(
            operation("delete_api_access", "Delete the caller's API key")
                .tag("api access")
                .response("204", empty_response("Deleted; the key stops working."))
                .response("404", not_found("no key, or no API-access client")),
        ),
        ("GET", "tokens/") => token(
            operation("tokens", "The caller's named tokens")
                .tag("named tokens")
                .response("200", json_response("Oldest first.", ArrayBuilder::new().items(schema_ref("NamedToken"))))
                .response("404", not_found("no tokens client")),
        ),
        ("POST", "tokens/") => token(
            operation("create_token", "Create a named token")
                .tag("named tokens")
                .request_body(Some(body("The token's name, scopes and lifetime.", "NamedTokenRequest", false)))
                .response("201", json_response("Created.", schema_ref("NamedTokenCreated")))
                .response(
                    "400",
                    json_response(
                        &format!(
                            "Field errors (`name`, `scopes`, `expires_in`; `{}`, `Unknown scope: X.`), or a \
                             `detail`: `{}`, `{}`.",
                            token_messages::NAME_TAKEN,
                            token_messages::TOKEN_LIMIT,
                            messages::MALFORMED_BODY
                        ),
                        schema_ref("BadRequest"),
                    ),
                )
                .response("404", not_found("no tokens client"))
                .response(
                    "413",
                    ResponseBuilder::new()
                        .description(
                            "A body over the integration's limit (durin-axum: 1 MiB, `{\"detail\"}`; \
                             durin-actix: actix-web's payload limit, 256 KiB by default, its own text).",
                        )
                        .content("application/json", ContentBuilder::new().schema(Some(schema_ref("Error"))).build())
                        .content("text/plain", ContentBuilder::new().schema(Some(string())).build())
                        .build(),
                ),
        ),
        ("DELETE", "tokens/{id}") => token(
            operation("delete_token", "Revoke a named token")
                .tag("named tokens")
                .parameter(id_parameter("The named token's id."))
                .response("204", empty_response("Revoked; the token stops working at once."))
                .response("404", not_found("an unknown, malformed or another user's id, or no tokens client")),
        ),
        ("GET", "settings/") => token(
            operation("settings", "The caller's settings for its client")
                .tag("settings")
                .response("200", json_response("The stored object, `{}` when none.", schema_ref("Settings")))
                .response("404", not_found("no settings store")),
        ),
        ("PUT", "settings/") => token(
            operation("put_settings", "Replace the caller's settings for its client")
                .tag("settings")
                .request_body(Some(body("A JSON object.", "Settings", false)))
                .response("200", json_response("The stored object.", schema_ref("Settings")))
                .response("400", detail_response(&format!("`{}`", token_messages::SETTINGS_NOT_OBJECT)))
                .response("404", not_found("no settings store"))
                .response(
                    "413",
                    ResponseBuilder::new()
                        .description(
                            "Over the settings limit: `Settings may not exceed N bytes.` (beyond \
                             actix-web's payload limit, 256 KiB by default, actix-web answers with its own text).",
                        )
                        .content("application/json", ContentBuilder::new().schema(Some(schema_ref("Error"))).build())
                        .content("text/plain", ContentBuilder::new().schema(Some(string())).build())
                        .build(),
                ),
        ),
        ("POST", "introspect/") => token(
            operation("introspect", "RFC 7662 token introspection")
                .tag("gateways")
                .description(Some("Only for tokens of the introspection clients."))
                .request_body(Some(body("The token to check (RFC 7662 §2.1).", "IntrospectionRequest", true)))
                .response("200", json_response("Whether the token is active; never why not.", schema_ref("Introspection")))
                .response(
                    "400",
                    json_response("`{\"token\": [\"This field is required.\"]}` or `[\"This field may not be blank.\"]`.", schema_ref("FieldErrors")),
                ),
        )
        .response("403", forbidden(config, method, Some("the caller's client may not introspect"))),
        ("GET" | "HEAD", "auth/") => {
            let mut ok = empty_response("Authenticated: the caller's identity, for a reverse proxy.");
            for (name, what) in [
                ("X-Durin-User", "The user id."),
                ("X-Durin-Client", "The client's name."),
                ("X-Durin-Session", "The public session id."),
                ("X-Durin-Scopes", "The token's scopes, space-separated (empty for none)."),
            ] {
                let what = format!("{what} Bytes outside printable ASCII, and `%`, are percent-encoded.");
                ok = with_header(ok, name, required_header(&what, string()));
            }
            let id = if method == "GET" { "forward_auth" } else { "forward_auth_head" };
            let op = token(
                operation(id, "Forward-auth (nginx `auth_request`, Traefik ForwardAuth)")
                    .tag("gateways")
                    .response("204", ok),
            );
            if method == "HEAD" {
                // HEAD answers carry no body: the same statuses and headers, no content.
                let mut built = op.build();
                for response in built.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        response.content.clear();
                    }
                }
                return Some(rebuild(built));
            }
            op
        }
        _ => return None,
    };
    Some(op)
}

/// An operation back into a builder.
fn rebuild(operation: utoipa::openapi::path::Operation) -> OperationBuilder {
    OperationBuilder::from(operation)
}

#[cfg(test)]
mod tests;
