//! `GET /api/openapi.json`: the OpenAPI 3.1 document of everything the example servers
//! serve, durin-http's endpoints under `/api/` and the demo routes of [`DEMO_ROUTES`].

use durin_http::HttpConfig;
use durin_http::openapi::utoipa::openapi::OpenApi;
use durin_http::openapi::utoipa::openapi::content::ContentBuilder;
use durin_http::openapi::utoipa::openapi::path::OperationBuilder;
use durin_http::openapi::utoipa::openapi::response::ResponseBuilder;
use durin_http::openapi::utoipa::openapi::schema::{
    AdditionalProperties, ObjectBuilder, Schema, Type,
};
use durin_http::openapi::{self, json_response, operation, protected, schema_ref};

use crate::{DEMO_ROUTES, Demo};

/// The path of the document.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

/// The document of the servers' routes for `config` (their HTTP settings).
///
/// # Panics
/// When [`DEMO_ROUTES`] lists a route this function does not describe (the unit test
/// below and the contract suite's `tests/openapi.rs` catch it).
pub fn document(config: &HttpConfig) -> OpenApi {
    let mut doc = openapi::document_for("/api", config);
    doc.info.description = Some(
        "durin's example server: per-client token authentication (django-rest-durin's HTTP \
         API) under `/api/`, and demo routes. The endpoints of durin-http answer with and \
         without their trailing slash; the demo routes (`/api/me`, `/health`...) only as \
         written. Errors are `{\"detail\": \"<message>\"}` unless a response says otherwise."
            .to_owned(),
    );
    if let Some(components) = doc.components.as_mut() {
        components.schemas.insert(
            "Me".to_owned(),
            closed_strings(&["user", "client", "session"]).into(),
        );
        components
            .schemas
            .insert("Status".to_owned(), closed_strings(&["status"]).into());
    }
    let me = |id: &str, summary: &str| {
        protected(
            operation(id, summary)
                .tag("demo")
                .response("200", json_response("The caller.", schema_ref("Me"))),
            "GET",
            config,
        )
    };
    for &(method, path) in DEMO_ROUTES {
        let op: OperationBuilder = match path {
            "/api/me" => me("me", "Who is calling"),
            "/api/throttled" => me("throttled", "Who is calling, throttled per (user, client)")
                .response("429", openapi::throttled()),
            "/api/only-web" => me("only_web", "Who is calling, for the client `web` only")
                .response(
                    "403",
                    openapi::forbidden(config, method, Some("a client other than `web`")),
                ),
            "/api/no-web" => me("no_web", "Who is calling, for every client but `web`").response(
                "403",
                openapi::forbidden(config, method, Some("the client `web`")),
            ),
            "/api/me-anonymous" => operation(
                "me_anonymous",
                "The body of `/api/me` without a caller (empty strings): a benchmark baseline",
            )
            .tag("demo")
            .response(
                "200",
                json_response(
                    "`{\"user\": \"\", \"client\": \"\", \"session\": \"\"}`.",
                    schema_ref("Me"),
                ),
            ),
            "/health" => operation("health", "Liveness: 200 while the process runs")
                .tag("operations")
                .response(
                    "200",
                    json_response("`{\"status\": \"ok\"}`.", schema_ref("Status")),
                ),
            "/ready" => operation("ready", "Readiness: the store and the invalidation channel")
                .tag("operations")
                .response(
                    "200",
                    json_response("`{\"status\": \"ready\"}`.", schema_ref("Status")),
                )
                .response(
                    "503",
                    json_response(
                        "`{\"status\": \"unavailable\"}`: the store or the channel is down.",
                        schema_ref("Status"),
                    ),
                ),
            "/" => operation("page", "The sessions page")
                .tag("demo")
                .response("200", typed("The page (HTML).", "text/html")),
            OPENAPI_PATH => operation("openapi", "This document")
                .tag("operations")
                .response(
                    "200",
                    json_response(
                        "The OpenAPI 3.1 document.",
                        ObjectBuilder::new().schema_type(Type::Object),
                    ),
                ),
            "/metrics" => operation("metrics", "Prometheus metrics")
                .tag("operations")
                .response("200", typed("The Prometheus text format.", "text/plain")),
            // Left out of the document: the unit test below and the contract suite fail.
            _ => continue,
        };
        openapi::add(&mut doc.paths, path, method, op.build());
    }
    doc
}

impl Demo {
    /// The document as JSON, or `None` with `--no-openapi`.
    pub fn openapi_json(&self) -> Option<String> {
        if self.args.no_openapi {
            return None;
        }
        // Serializing plain maps and strings cannot fail.
        document(self.api.config()).to_json().ok()
    }
}

/// An object of exactly these string properties.
fn closed_strings(fields: &[&str]) -> ObjectBuilder {
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
    for name in fields {
        object = object
            .property(*name, ObjectBuilder::new().schema_type(Type::String))
            .required(*name);
    }
    object
}

/// A 200 whose body is text of `content_type`.
fn typed(description: &str, content_type: &str) -> durin_http::openapi::utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            content_type,
            ContentBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build(),
        )
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_the_servers_mount_is_documented() {
        let doc = document(&crate::http_config());
        let mut documented = Vec::new();
        for (path, item) in &doc.paths.paths {
            let json = serde_json::to_value(item).unwrap();
            for method in json.as_object().unwrap().keys() {
                documented.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
        documented.sort();
        let mut mounted: Vec<(String, String)> = durin_http::ROUTES
            .iter()
            .map(|r| (r.method.to_owned(), format!("/api/{}", r.path)))
            .chain(
                DEMO_ROUTES
                    .iter()
                    .map(|(m, p)| ((*m).to_owned(), (*p).to_owned())),
            )
            .collect();
        mounted.sort();
        assert_eq!(documented, mounted);
    }
}
