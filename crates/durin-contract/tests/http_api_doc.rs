//! `docs/http-api.md` stays true: every route its tables list answers on both example
//! servers (in each slash form the page promises), and every route the servers mount —
//! `durin_http::ROUTES` under `/api/` and `server_common::DEMO_ROUTES` — is listed.

use std::collections::BTreeSet;

use durin_contract::Server;
use reqwest::Method;

const DOC: &str = include_str!("../../../docs/http-api.md");

/// A route row of the page: method, full path, and whether both slash forms are promised.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    method: String,
    path: String,
    both: bool,
}

/// Every table row whose first cell is `` `METHOD /path` ``.
fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for line in DOC.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "| `GET /api/me` | exact | ..." splits into ["", "`GET /api/me`", "exact", ...].
        let Some(route) = cells
            .get(1)
            .and_then(|c| c.strip_prefix('`'))
            .and_then(|c| c.strip_suffix('`'))
        else {
            continue;
        };
        let Some((method, path)) = route.split_once(' ') else {
            continue;
        };
        if !path.starts_with('/') || method.chars().any(|c| !c.is_ascii_uppercase()) {
            continue;
        }
        let both = match cells.get(2) {
            Some(&"both") => true,
            Some(&"exact") => false,
            other => panic!("route {route}: the slash column says {other:?}, not both or exact"),
        };
        rows.push(Row {
            method: method.to_owned(),
            path: path.to_owned(),
            both,
        });
    }
    rows
}

/// What the servers mount, as the page should list it.
fn mounted() -> BTreeSet<Row> {
    let library = durin_http::ROUTES
        .iter()
        .map(|durin_http::Route { method, path, .. }| Row {
            method: (*method).to_owned(),
            path: format!("/api/{path}"),
            both: true,
        });
    let demo = server_common::DEMO_ROUTES.iter().map(|(method, path)| Row {
        method: (*method).to_owned(),
        path: (*path).to_owned(),
        both: false,
    });
    library.chain(demo).collect()
}

#[test]
fn the_page_lists_exactly_the_mounted_routes() {
    let listed: BTreeSet<Row> = rows().into_iter().collect();
    assert!(
        listed.len() >= 15,
        "the route tables were not found: {listed:?}"
    );
    let mounted = mounted();
    let missing: Vec<_> = mounted.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(&mounted).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/http-api.md is out of date.\n mounted but not listed (or with the wrong slash column): {missing:?}\n listed but not mounted: {extra:?}"
    );
}

/// The URL paths to try for a row: `{id}` filled in, each promised slash form.
fn forms(row: &Row) -> Vec<String> {
    let path = row.path.replace("{id}", "0123456789abcdefghijkl");
    if !row.both {
        return vec![path];
    }
    let bare = path.trim_end_matches('/').to_owned();
    vec![bare.clone(), format!("{bare}/")]
}

async fn every_listed_route_answers(package: &str) {
    let s = Server::start(package, "sqlite").await;
    let token = s.login(durin_contract::ALICE, "web").await;
    // The check can fail: a path nobody mounts is a 404.
    let r = s.get("/api/not-a-route", &token).await;
    assert_eq!(r.status, 404, "{package}: {:?}", r.body);
    for row in rows() {
        let method = Method::from_bytes(row.method.as_bytes()).expect("method");
        for path in forms(&row) {
            // Without credentials every route answers without touching state: 401 for the
            // authenticated ones, 400 for the login forms, 200 for the public ones.
            let r = s.send(s.http.request(method.clone(), s.url(&path))).await;
            assert!(
                r.status != 404 && r.status != 405,
                "{package}: {} {path} answered {} (the router does not know it): {:?}",
                row.method,
                r.status,
                r.body
            );
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listed_route_answers_on_axum_server() {
    every_listed_route_answers("axum-server").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listed_route_answers_on_actix_server() {
    every_listed_route_answers("actix-server").await;
}
