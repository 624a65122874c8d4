//! The component schemas and security schemes of the document.

use super::*;

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

pub(super) fn strings() -> ArrayBuilder {
    ArrayBuilder::new().items(string())
}

/// The component schemas and security schemes.
pub(super) fn components(config: &HttpConfig) -> Components {
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
        // Blank or whitespace-only values are refused: at least one non-space character.
        .property(
            "username",
            string()
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some(r"\S")),
        )
        .property(
            "password",
            string()
                .min_length(Some(1))
                .pattern(Some(r"\S"))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password))),
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
                .description(Some("A public session id (durin makes `<routing tag>_<22 base62>`).")),
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
                .property(
                    "name",
                    string()
                        .min_length(Some(1))
                        .max_length(Some(64))
                        .pattern(Some(r"\S"))
                        .description(Some(
                            "1-64 characters once surrounding spaces are dropped; no control or \
                             invisible formatting characters (bidi overrides, zero-width).",
                        )),
                )
                .property(
                    "scopes",
                    OneOfBuilder::new()
                        .item(strings())
                        .item(Object::with_type(Type::Null))
                        .description(Some(
                            "A subset of the tokens client's scopes, and of the caller's when \
                             its client restricts scopes; repeats are dropped, then at most 32 \
                             remain. `null` or absent: none.",
                        )),
                )
                .property(
                    "expires_in",
                    OneOfBuilder::new()
                        .item(string())
                        .item(Object::with_type(Type::Null))
                        .description(Some(
                            "A TTL like `30d`, `12h` or `never`; `null` or absent: the tokens \
                             client's TTL.",
                        )),
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
