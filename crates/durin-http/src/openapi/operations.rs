//! The operation of each route of [`ROUTES`].

use super::*;

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
pub(super) fn describe(method: &str, path: &str, config: &HttpConfig) -> Option<OperationBuilder> {
    let not_found = |what: &str| detail_response(&format!("`Not found.`: {what}."));
    let token = |op: OperationBuilder| protected(op, method, config);
    let delegated = "a named token or an API key (only a login session manages the account)";
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
        .response("403", forbidden(config, method, Some("the client does not allow renewal, or the token is a named token (its lifetime is fixed)"))),
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
                            "A body over the route's limit (64 KiB): `Request body too large.`",
                        )
                        .content("application/json", ContentBuilder::new().schema(Some(schema_ref("Error"))).build())
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
                            "Over the settings limit: `Settings may not exceed N bytes.`; over the \
                             route's body limit (1 MiB): `Request body too large.`",
                        )
                        .content("application/json", ContentBuilder::new().schema(Some(schema_ref("Error"))).build())
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
    let manages_account = crate::ROUTES
        .iter()
        .any(|r| r.method == method && r.path == path && r.endpoint.manages_account());
    let op = if manages_account {
        op.response("403", forbidden(config, method, Some(delegated)))
    } else if (method, path) == ("POST", "login/") && config.cookie.is_some() {
        op.response(
            "403",
            detail_response(&format!(
                "A login with `\"transport\": \"cookie\"` without an `Origin` (or `Referer`) \
                 of this site (login CSRF): `{}`.",
                messages::CSRF
            )),
        )
    } else {
        op
    };
    Some(op)
}

/// An operation back into a builder.
fn rebuild(operation: utoipa::openapi::path::Operation) -> OperationBuilder {
    OperationBuilder::from(operation)
}

/// 413 for a body over a route's limit ([`crate::Route::body_limit`]).
pub(super) fn body_too_large(limit: usize) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(format!(
            "A body over the route's limit ({} KiB): `{}`",
            limit / 1024,
            messages::BODY_TOO_LARGE
        ))
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(schema_ref("Error")))
                .build(),
        )
        .build()
}
