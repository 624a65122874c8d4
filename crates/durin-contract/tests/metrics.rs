//! `GET /metrics` on both example servers and every backend: the counters move by exactly
//! the traffic sent, no token, session id or user name ever appears in the output, and
//! `--no-metrics` turns the route off.

use std::collections::BTreeMap;

use durin_contract::{ALICE, Server, on_standard_server, standard_flags};

/// One scrape: each series (`name` plus its labels, sorted) to its value.
#[derive(Debug)]
struct Scrape(BTreeMap<(String, BTreeMap<String, String>), f64>);

impl Scrape {
    /// Parses the Prometheus text format (what this test needs of it: no escaped quotes
    /// or commas inside label values, which durin's bounded label values never hold).
    fn parse(text: &str) -> Scrape {
        let mut series = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.rsplit_once(' ').expect("`series value`");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
            let (name, labels) = match key.split_once('{') {
                Some((name, rest)) => {
                    let rest = rest.strip_suffix('}').expect("closing brace");
                    let labels = rest
                        .split(',')
                        .filter(|p| !p.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once('=').expect("label=value");
                            (k.to_owned(), v.trim_matches('"').to_owned())
                        })
                        .collect();
                    (name.to_owned(), labels)
                }
                None => (key.to_owned(), BTreeMap::new()),
            };
            series.insert((name, labels), value);
        }
        Scrape(series)
    }

    /// The value of `name` with exactly `labels` (0 when absent: not yet registered).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.0
            .get(&(name.to_owned(), labels))
            .copied()
            .unwrap_or(0.0)
    }
}

async fn scrape(s: &Server) -> (String, Scrape) {
    let response = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain") && content_type.contains("version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.expect("body");
    let parsed = Scrape::parse(&text);
    (text, parsed)
}

/// Logs in with a wrong password; returns the status.
async fn bad_login(s: &Server, user: &str) -> u16 {
    s.login_response((user, "not-the-password"), "web")
        .await
        .status
}

/// A series (name and labels) and how far it must have moved.
type Expected<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

/// Known traffic, then the deltas of every counter it touches.
async fn counters_move_by_exactly_the_traffic_sent(s: Server) {
    let (_, before) = scrape(&s).await;

    // 3 logins (web, forever, cli), 3 good authentications on /api/me.
    let web = s.login(ALICE, "web").await;
    let web2 = s.login(ALICE, "forever").await;
    let cli = s.login(ALICE, "cli").await;
    for token in [&web, &web, &web2] {
        assert_eq!(s.get("/api/me", token).await.status, 200);
    }
    // 2 invalid tokens: one malformed (refused before the service), one well-formed but
    // unknown.
    assert_eq!(s.get("/api/me", "durin_malformed").await.status, 401);
    let unknown = durin_core::TokenString::generate(&durin_core::TokenPrefix::default());
    assert_eq!(s.get("/api/me", unknown.expose_secret()).await.status, 401);
    // 1 failed login of alice.
    assert_eq!(bad_login(&s, "alice").await, 400);
    // The cli client's rate is 2/m: 2 allowed, 1 throttled (3 good authentications).
    for expected in [200, 200, 429] {
        assert_eq!(s.get("/api/throttled", &cli).await.status, expected);
    }
    // 1 forbidden: the cli client on a web-only route (1 good authentication).
    assert_eq!(s.get("/api/only-web", &cli).await.status, 403);
    // The failed-login guard: 10 failures of one name from one address, then a refusal.
    for _ in 0..10 {
        assert_eq!(bad_login(&s, "mallory").await, 400);
    }
    assert_eq!(bad_login(&s, "mallory").await, 429);

    let (_, after) = scrape(&s).await;
    let delta =
        |name: &str, labels: &[(&str, &str)]| after.get(name, labels) - before.get(name, labels);
    let auth = "durin_authentications_total";
    let expected: &[Expected] = &[
        (
            auth,
            &[("outcome", "ok"), ("reason", "ok")],
            3.0 + 3.0 + 1.0,
        ),
        (
            auth,
            &[("outcome", "invalid"), ("reason", "malformed")],
            1.0,
        ),
        (auth, &[("outcome", "invalid"), ("reason", "unknown")], 1.0),
        (auth, &[("outcome", "throttled"), ("reason", "rate")], 1.0),
        (auth, &[("outcome", "forbidden"), ("reason", "client")], 1.0),
        (auth, &[("outcome", "expired"), ("reason", "expired")], 0.0),
        (auth, &[("outcome", "revoked"), ("reason", "revoked")], 0.0),
        (
            auth,
            &[("outcome", "unavailable"), ("reason", "store")],
            0.0,
        ),
        ("durin_logins_total", &[("outcome", "ok")], 3.0),
        (
            "durin_logins_total",
            &[("outcome", "invalid_credentials")],
            11.0,
        ),
        ("durin_logins_total", &[("outcome", "throttled")], 1.0),
        ("durin_logins_total", &[("outcome", "unavailable")], 0.0),
        ("durin_login_guard_refusals_total", &[], 1.0),
        (
            "durin_throttle_decisions_total",
            &[("decision", "allowed")],
            2.0,
        ),
        (
            "durin_throttle_decisions_total",
            &[("decision", "throttled")],
            1.0,
        ),
        ("durin_tokens_issued_total", &[], 3.0),
        // One store insert per login (the cache sits above the timed store).
        (
            "durin_store_operation_seconds_count",
            &[
                ("operation", "insert"),
                ("backend", durin_contract::store_name(&s.backend)),
            ],
            3.0,
        ),
    ];
    let mut wrong = Vec::new();
    for (name, labels, want) in expected {
        let got = delta(name, labels);
        if got != *want {
            wrong.push(format!("{name}{labels:?}: moved by {got}, expected {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Store lookups are timed with this backend's name (how many depends on the cache).
    assert!(
        after.get(
            "durin_store_operation_seconds_count",
            &[
                ("operation", "get"),
                ("backend", durin_contract::store_name(&s.backend))
            ]
        ) >= 1.0,
        "{after:?}"
    );
}

/// After logins, authentications and refusals, the output holds no token, session id,
/// user name or password: every label value comes from a fixed set.
async fn metrics_never_show_tokens_sessions_or_users(s: Server) {
    let token = s.login(ALICE, "web").await;
    let me = s.get("/api/me", &token).await;
    assert_eq!(me.status, 200);
    let session = me.body["session"].as_str().expect("session id").to_owned();
    // The last character changed (to `x`, or `y` when it was an `x`): a bad checksum.
    let last = if token.ends_with('x') { 'y' } else { 'x' };
    let forged = format!("{}{last}", &token[..token.len() - 1]);
    assert_eq!(s.get("/api/me", &forged).await.status, 401);
    assert_eq!(bad_login(&s, "mallory").await, 400);
    let (text, _) = scrape(&s).await;
    assert!(text.contains("durin_authentications_total"), "{text}");
    for secret in [
        token.as_str(),
        &token[..20],
        forged.as_str(),
        session.as_str(),
        "alice",
        "mallory",
        "wonderland",
    ] {
        assert!(!text.contains(secret), "/metrics shows {secret:?}");
    }
}

async fn with_no_metrics<F, Fut>(package: &'static str, backend: &'static str, case: F)
where
    F: FnOnce(Server) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut flags = standard_flags();
    flags.push("--no-metrics".to_owned());
    case(Server::start_with(package, backend, &flags, None).await).await;
}

/// `--no-metrics`: `GET /metrics` is 404, and the rest still works.
async fn no_metrics_flag_gives_404(s: Server) {
    let response = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 404);
    let token = s.login(ALICE, "web").await;
    assert_eq!(s.get("/api/me", &token).await.status, 200);
}

/// `/metrics` needs no token, even with a bad one it answers (it is outside `/api`).
async fn metrics_need_no_token(s: Server) {
    let response = s
        .http
        .get(s.url("/metrics"))
        .header("Authorization", "Bearer durin_malformed")
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
}

mod standard {
    use super::*;
    durin_contract::server_cases!(
        on_standard_server,
        [
            counters_move_by_exactly_the_traffic_sent,
            metrics_never_show_tokens_sessions_or_users,
            metrics_need_no_token,
        ]
    );
}

mod off {
    use super::*;
    durin_contract::server_cases!(with_no_metrics, [no_metrics_flag_gives_404]);
}
