use std::collections::BTreeSet;

use serde_json::Value;

use super::*;
use crate::credentials::CookieConfig;

fn json(doc: &OpenApi) -> Value {
    serde_json::from_str(&doc.to_json().expect("serializes")).expect("valid JSON")
}

/// Every `(METHOD, path)` of a document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            found.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    found
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let doc = json(&document("/api"));
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), format!("/api/{}", r.path)))
        .collect();
    assert_eq!(operations(&doc), routes);
}

#[test]
fn the_document_is_openapi_3_1_with_an_answer_for_every_case() {
    let doc = json(&document("/api/"));
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let what = format!("{method} {path}");
            assert!(
                ids.insert(op["operationId"].as_str().unwrap().to_owned()),
                "{what}: duplicate id"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{what}: no success"
            );
            assert!(responses.contains_key("503"), "{what}: no 503");
            if op.get("security").is_some() {
                let challenge = &responses["401"]["headers"]["WWW-Authenticate"];
                assert_eq!(challenge["required"], true, "{what}");
            }
            if method == "head" {
                assert!(
                    responses.values().all(|r| r.get("content").is_none()),
                    "{what}"
                );
            }
        }
    }
    // The public endpoints read no credentials; the rest need them.
    let public = ["/api/login/", "/api/token/refresh/"];
    for (path, item) in doc["paths"].as_object().unwrap() {
        for op in item.as_object().unwrap().values() {
            assert_eq!(
                op.get("security").is_none(),
                public.contains(&path.as_str()),
                "{path}"
            );
        }
    }
    let retry = &doc["paths"]["/api/login/"]["post"]["responses"]["429"]["headers"]["Retry-After"];
    assert_eq!(retry["required"], true);
    let identity = &doc["paths"]["/api/auth/"]["get"]["responses"]["204"]["headers"];
    for name in [
        "X-Durin-User",
        "X-Durin-Client",
        "X-Durin-Session",
        "X-Durin-Scopes",
    ] {
        assert_eq!(identity[name]["required"], true, "{name}");
    }
}

/// Every `$ref` in `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => out.push(target.clone()),
                    _ => refs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let config = HttpConfig::default().with_cookie(Some(CookieConfig::default()));
    let doc = json(&document_for("/api", &config));
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 20, "{found:?}");
    for target in found {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
    }
}

#[test]
fn the_mount_point_prefixes_every_path() {
    assert_eq!(mount("/api", "login/"), "/api/login/");
    assert_eq!(mount("/api/", "login/"), "/api/login/");
    assert_eq!(mount("api", "login/"), "/api/login/");
    assert_eq!(mount("", "login/"), "/login/");
    assert_eq!(mount("/", "sessions/{id}"), "/sessions/{id}");
    assert_eq!(mount("/v1/auth", "auth/"), "/v1/auth/auth/");
    let doc = json(&document("/v1/auth"));
    assert!(
        doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .all(|p| p.starts_with("/v1/auth/"))
    );
}

#[test]
fn security_schemes_follow_the_config() {
    let doc = json(&document("/api"));
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    let names: BTreeSet<&str> = schemes.keys().map(String::as_str).collect();
    assert_eq!(names, BTreeSet::from([HEADER_SCHEME, BEARER_SCHEME]));
    assert_eq!(schemes[BEARER_SCHEME]["scheme"], "bearer");
    assert_eq!(schemes[HEADER_SCHEME]["in"], "header");
    // Without the cookie transport, no CSRF refusal and a token always in the body.
    let logout = &doc["paths"]["/api/logout/"]["post"]["responses"];
    assert!(logout.get("403").is_none());
    assert!(logout["204"].get("headers").is_none());
    let login = &doc["components"]["schemas"]["Login"];
    assert!(
        login["required"]
            .as_array()
            .unwrap()
            .contains(&"token".into())
    );

    let config = HttpConfig::default()
        .with_keywords(["Token"])
        .with_realm("accounts")
        .with_cookie(Some(CookieConfig::default().with_name("sid")));
    let doc = json(&document_for("/api", &config));
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert!(schemes.get(BEARER_SCHEME).is_none(), "no Bearer keyword");
    assert_eq!(schemes[COOKIE_SCHEME]["in"], "cookie");
    assert_eq!(schemes[COOKIE_SCHEME]["name"], "sid");
    let challenge = doc["paths"]["/api/sessions/"]["get"]["responses"]["401"]["headers"]
        ["WWW-Authenticate"]["schema"]["pattern"]
        .as_str()
        .unwrap();
    assert!(
        challenge.starts_with("^Token realm=\"accounts\""),
        "{challenge}"
    );
    // Unsafe methods answer 403 for the CSRF check; safe ones do not.
    let paths = &doc["paths"];
    assert!(
        paths["/api/logout/"]["post"]["responses"]
            .get("403")
            .is_some()
    );
    assert!(
        paths["/api/sessions/{id}"]["delete"]["responses"]
            .get("403")
            .is_some()
    );
    // Safe account routes answer 403 only to named tokens and API keys, not for CSRF.
    let sessions = paths["/api/sessions/"]["get"]["responses"]["403"]["description"]
        .as_str()
        .unwrap();
    assert!(
        sessions.contains("named token") && !sessions.contains("Origin"),
        "{sessions}"
    );
    let refresh = paths["/api/refresh/"]["post"]["responses"]["403"]["description"]
        .as_str()
        .unwrap();
    assert!(
        refresh.contains("renewal") && refresh.contains("Origin"),
        "{refresh}"
    );
    assert!(paths["/api/logout/"]["post"]["responses"]["204"]["headers"]["Set-Cookie"].is_object());
    let login = &doc["components"]["schemas"]["Login"];
    assert!(
        !login["required"]
            .as_array()
            .unwrap()
            .contains(&"token".into())
    );
    assert!(doc["components"]["schemas"]["LoginRequest"]["properties"]["transport"].is_object());
}

#[test]
fn an_application_adds_its_own_routes_alike() {
    let config = HttpConfig::default();
    let mut doc = document_for("/api", &config);
    let me = protected(
        operation("me", "Who is calling")
            .response("200", json_response("The caller.", any_value())),
        "GET",
        &config,
    )
    .response("429", throttled());
    add(&mut doc.paths, "/api/me", "GET", me.build());
    let doc = json(&doc);
    let me = &doc["paths"]["/api/me"]["get"];
    assert_eq!(me["security"].as_array().unwrap().len(), 2);
    for status in ["200", "401", "429", "503"] {
        assert!(me["responses"].get(status).is_some(), "{status}");
    }
}
