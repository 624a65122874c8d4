//! `--log-format json` on both example servers and every backend: every line the server
//! writes to stderr is a JSON object, each request is logged at completion with its
//! method, route template, status, latency and (when it authenticated) its session id,
//! and no token appears anywhere.

use std::time::Duration;

use durin_contract::{ALICE, Server, eventually, standard_flags};
use serde_json::Value;

async fn with_json_logs<F, Fut>(package: &'static str, backend: &'static str, case: F)
where
    F: FnOnce(Server) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut flags = standard_flags();
    flags.push("--log-format=json".to_owned());
    case(Server::start_logging(package, backend, &flags, "info").await).await;
}

/// The request lines logged so far, each parsed (panics on a line that is not JSON).
fn request_lines(s: &Server) -> Vec<Value> {
    s.logs()
        .iter()
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"))
        })
        .filter(|v| v["message"] == "request")
        .collect()
}

async fn request_line(s: &Server, method: &str, route: &str, status: u64) -> Value {
    let find = || {
        request_lines(s).into_iter().find(|v| {
            v["method"] == method && v["route"] == route && v["status"].as_u64() == Some(status)
        })
    };
    eventually(
        &format!("a log line for {method} {route} {status}"),
        Duration::from_secs(10),
        || async { find().is_some() },
    )
    .await;
    find().expect("found above")
}

async fn json_request_logs_carry_method_route_status_latency_and_session(s: Server) {
    let token = s.login(ALICE, "web").await;
    let me = s.get("/api/me", &token).await;
    assert_eq!(me.status, 200);
    let session = me.body["session"].as_str().expect("session").to_owned();
    let last = if token.ends_with('x') { 'y' } else { 'x' };
    let forged = format!("{}{last}", &token[..token.len() - 1]);
    assert_eq!(s.get("/api/me", &forged).await.status, 401);
    let raw_id = "s0meRawSessionId";
    let missing = s.delete(&format!("/api/sessions/{raw_id}"), &token).await;
    assert_eq!(missing.status, 404, "{:?}", missing.body);

    let line = request_line(&s, "GET", "/api/me", 200).await;
    assert_eq!(line["session"], session.as_str(), "{line}");
    assert!(
        line["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{line}"
    );
    assert_eq!(line["level"], "INFO", "{line}");
    // The login authenticated nobody; the refused token has no session either.
    let login = request_line(&s, "POST", "/api/login/", 200).await;
    assert!(login.get("session").is_none(), "{login}");
    let refused = request_line(&s, "GET", "/api/me", 401).await;
    assert!(refused.get("session").is_none(), "{refused}");
    // The route is the template, never the raw path. (Lines are written by a
    // non-blocking writer: wait for it.)
    durin_contract::eventually("the DELETE logged", Duration::from_secs(10), || async {
        request_lines(&s).iter().any(|v| v["method"] == "DELETE")
    })
    .await;
    let delete = request_lines(&s)
        .into_iter()
        .find(|v| v["method"] == "DELETE")
        .expect("the DELETE is logged");
    let route = delete["route"].as_str().expect("route");
    assert!(
        route.starts_with("/api/sessions/") && route.contains('{'),
        "{delete}"
    );
    assert!(!route.contains(raw_id), "{delete}");
    // No token (nor its checksum-free body) anywhere in the output.
    let logs = s.logs().join("\n");
    for secret in [token.as_str(), &token[6..30], forged.as_str(), "wonderland"] {
        assert!(!logs.contains(secret), "the logs show {secret:?}");
    }
}

durin_contract::server_cases!(
    with_json_logs,
    [json_request_logs_carry_method_route_status_latency_and_session]
);
