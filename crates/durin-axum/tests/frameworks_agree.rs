//! Issue 12, item 8: arbitrary header values and bodies through the axum and the
//! actix-web stacks, in process. Neither panics, neither answers a 5xx other than 503,
//! and both answer every request with the same status.
//!
//! Each framework gets its own in-memory stack, fed the same requests in the same order,
//! so their states move in lockstep (a logout on one is a logout on the other); the
//! credential strategy can pick each stack's own live token, a damaged copy of it, a
//! forged one, or arbitrary bytes.

use std::sync::Arc;

use actix_web::test as actix_test;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request};
use durin_core::{Client, ClientName, DigestKey, Durin, MemoryStore, MemoryThrottle};
use durin_http::testing::{NoUsers, TestStack};
use durin_http::{CookieConfig, HttpConfig, ROUTES, path_forms};
use proptest::prelude::*;
use tower::ServiceExt as _;

/// What goes in `Authorization` or the cookie.
#[derive(Debug, Clone)]
enum Cred {
    /// Nothing.
    Absent,
    /// The stack's own live token.
    Live,
    /// The live token with one character replaced.
    Damaged(usize, char),
    /// A token forged with a valid checksum and a prefix nobody issues.
    Forged,
    /// The keyword (or cookie name), then arbitrary bytes.
    Keyword(Vec<u8>),
    /// Arbitrary bytes.
    Raw(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Req {
    method: &'static str,
    path: String,
    authorization: Cred,
    cookie: Cred,
    origin: Option<Vec<u8>>,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

/// Bytes a header value may hold (visible ASCII, space, tab, obs-text).
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            9 => 0x20u8..0x7f,
            1 => Just(b'\t'),
            1 => 0x80u8..=0xff,
        ],
        0..80,
    )
}

fn cred() -> impl Strategy<Value = Cred> {
    prop_oneof![
        1 => Just(Cred::Absent),
        3 => Just(Cred::Live),
        1 => (0usize..60, prop::char::range('0', 'z')).prop_map(|(i, c)| Cred::Damaged(i, c)),
        1 => Just(Cred::Forged),
        1 => header_bytes().prop_map(Cred::Keyword),
        1 => header_bytes().prop_map(Cred::Raw),
    ]
}

fn route() -> impl Strategy<Value = (&'static str, String)> {
    let routes: Vec<(&'static str, &'static str)> =
        ROUTES.iter().map(|r| (r.method, r.path)).collect();
    (
        prop::sample::select(routes),
        any::<bool>(),
        "[A-Za-z0-9_-]{1,24}",
    )
        .prop_map(|((method, path), slash, id)| {
            let form = path_forms(path)[usize::from(slash)].replace("{id}", &id);
            (method, format!("/api{form}"))
        })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..120),
        ("[ -~]{0,12}", "[ -~]{0,12}", "[ -~]{0,12}").prop_map(|(u, p, c)| {
            serde_json::json!({"username": u, "password": p, "client": c})
                .to_string()
                .into_bytes()
        }),
        ("[ -~]{0,12}", "[ -~]{0,12}")
            .prop_map(|(k, v)| format!("{k}={v}&client=web").into_bytes()),
        "[ -~]{0,40}".prop_map(|s| format!("{{\"refresh\": \"{s}\"}}").into_bytes()),
    ]
}

fn request() -> impl Strategy<Value = Req> {
    (
        prop_oneof![3 => route(), 1 => Just(("GET", "/api/me".to_owned()))],
        cred(),
        prop_oneof![3 => Just(Cred::Absent), 1 => cred()],
        prop::option::of(header_bytes()),
        prop::option::of(prop::sample::select(vec![
            "application/json",
            "application/x-www-form-urlencoded",
            "text/plain",
            "multipart/form-data; boundary=x",
        ])),
        body(),
    )
        .prop_map(
            |((method, path), authorization, cookie, origin, content_type, body)| Req {
                method,
                path,
                authorization,
                cookie,
                origin,
                content_type,
                body,
            },
        )
}

/// The stack under one framework, and the live token it issued.
struct Stack {
    stack: TestStack,
    live: String,
}

async fn stack() -> Stack {
    let store = Arc::new(MemoryStore::new());
    let durin = Durin::builder(store.clone(), store, DigestKey::generate("agree"))
        .throttle(Arc::new(MemoryThrottle::new()))
        .build();
    let config = HttpConfig::default().with_cookie(Some(CookieConfig::default()));
    let stack = TestStack::with_durin(durin, config, Arc::new(NoUsers));
    stack
        .add_client(Client::new(ClientName::new("web").unwrap()))
        .await;
    let header = stack.login_as("alice", "web").await;
    let live = header
        .split_once(' ')
        .map_or(header.as_str(), |(_, t)| t)
        .to_owned();
    Stack { stack, live }
}

/// The bytes of a credential for this stack (`None`: leave the header out).
fn credential(cred: &Cred, live: &str, forged: &str, cookie_name: Option<&str>) -> Option<Vec<u8>> {
    let wrap = |t: &str| match cookie_name {
        Some(name) => format!("{name}={t}"),
        None => format!("Bearer {t}"),
    };
    match cred {
        Cred::Absent => None,
        Cred::Live => Some(wrap(live).into_bytes()),
        Cred::Damaged(i, c) => {
            let mut chars: Vec<char> = live.chars().collect();
            let i = i % chars.len();
            // Always a change, in both stacks (their tokens differ).
            chars[i] = match (chars[i] == *c, *c == 'a') {
                (false, _) => *c,
                (true, false) => 'a',
                (true, true) => 'b',
            };
            Some(wrap(&chars.into_iter().collect::<String>()).into_bytes())
        }
        Cred::Forged => Some(wrap(forged).into_bytes()),
        Cred::Keyword(bytes) => {
            let mut v = wrap("").into_bytes();
            v.extend_from_slice(bytes);
            Some(v)
        }
        Cred::Raw(bytes) => Some(bytes.clone()),
    }
}

fn axum_app(stack: &TestStack) -> Router {
    let api = stack.api();
    Router::new().nest(
        "/api",
        durin_axum::endpoints()
            .route("/me", axum::routing::get(me_axum))
            .layer(durin_axum::DurinLayer::new(api)),
    )
}

async fn me_axum(durin_axum::Auth(auth): durin_axum::Auth) -> String {
    auth.user_id().to_string()
}

async fn me_actix(durin_actix::Auth(auth): durin_actix::Auth) -> String {
    auth.user_id().to_string()
}

async fn run(requests: Vec<Req>) -> Result<(), TestCaseError> {
    let (a, b) = (stack().await, stack().await);
    let cookie_name = CookieConfig::default().name.clone();
    let forged = durin_core::TokenString::generate(&durin_core::TokenPrefix::new("zz9").unwrap());
    let forged = forged.expose_secret();
    let axum = axum_app(&a.stack);
    let api = b.stack.api();
    let actix = actix_test::init_service(
        actix_web::App::new().service(
            actix_web::web::scope("/api")
                .wrap(durin_actix::DurinMiddleware::new(api.clone()))
                .configure(durin_actix::endpoints)
                .route("/me", actix_web::web::get().to(me_actix)),
        ),
    )
    .await;
    for req in &requests {
        let mut builder = Request::builder().method(req.method).uri(&req.path);
        if let Some(v) = credential(&req.authorization, &a.live, forged, None) {
            builder = builder.header("Authorization", HeaderValue::from_bytes(&v).unwrap());
        }
        if let Some(v) = credential(&req.cookie, &a.live, forged, Some(&cookie_name)) {
            builder = builder.header("Cookie", HeaderValue::from_bytes(&v).unwrap());
        }
        if let Some(o) = &req.origin {
            builder = builder.header("Origin", HeaderValue::from_bytes(o).unwrap());
        }
        builder = builder.header("Host", "testserver");
        if let Some(ct) = req.content_type {
            builder = builder.header("Content-Type", ct);
        }
        let response = axum
            .clone()
            .oneshot(builder.body(Body::from(req.body.clone())).unwrap())
            .await
            .unwrap();
        let axum_status = response.status().as_u16();

        let method = actix_web::http::Method::from_bytes(req.method.as_bytes()).unwrap();
        let mut tr = actix_test::TestRequest::default()
            .method(method)
            .uri(&req.path)
            .insert_header(("Host", "testserver"));
        if let Some(v) = credential(&req.authorization, &b.live, forged, None) {
            tr = tr.insert_header(("Authorization", v));
        }
        if let Some(v) = credential(&req.cookie, &b.live, forged, Some(&cookie_name)) {
            tr = tr.insert_header(("Cookie", v));
        }
        if let Some(o) = &req.origin {
            tr = tr.insert_header(("Origin", o.clone()));
        }
        if let Some(ct) = req.content_type {
            tr = tr.insert_header(("Content-Type", ct));
        }
        let request = tr.set_payload(req.body.clone()).to_request();
        let actix_status = actix_test::call_service(&actix, request)
            .await
            .status()
            .as_u16();

        for (name, status) in [("axum", axum_status), ("actix", actix_status)] {
            prop_assert!(
                status < 500 || status == 503,
                "{} answered {} to {:?}",
                name,
                status,
                req
            );
        }
        prop_assert_eq!(
            axum_status,
            actix_status,
            "the frameworks disagree on {:?}",
            req
        );
    }
    Ok(())
}

// 256 cases by default (`PROPTEST_CASES` overrides), each up to 11 requests.
proptest! {
    #[test]
    fn axum_and_actix_agree_on_arbitrary_requests(
        requests in prop::collection::vec(request(), 1..12)
    ) {
        actix_web::rt::System::new().block_on(run(requests))?;
    }
}
