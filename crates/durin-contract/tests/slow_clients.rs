//! Slow and hostile clients, black-box, with real connections on the loopback: a client
//! that sends its headers a byte at a time (or never finishes them), one that never
//! sends its body, one that keeps an idle connection open. Each server closes them
//! within its `--header-timeout`, `--body-timeout` and `--idle-timeout`, and answers
//! other clients meanwhile. Bounded: 100 connections, a few seconds each. The store
//! plays no part, so each case runs on SQLite only, on both servers.

use std::time::{Duration, Instant};

use durin_contract::{Server, standard_flags};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Slow connections opened at once.
const SLOW: usize = 100;
/// How long past a timeout a connection may stay open.
const SLACK: Duration = Duration::from_secs(3);

async fn with_short_timeouts(package: &str, backend: &str) -> Server {
    let mut flags = standard_flags();
    flags.extend(
        [
            "--header-timeout=1s",
            "--idle-timeout=2s",
            "--body-timeout=1s",
        ]
        .map(String::from),
    );
    Server::start_with(package, backend, &flags, None).await
}

fn address(s: &Server) -> String {
    s.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection; the time it took, or `None` when it
/// was still open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut sink = Vec::new();
    match tokio::time::timeout(within, stream.read_to_end(&mut sink)).await {
        Ok(_) => Some(started.elapsed()),
        Err(_) => None,
    }
}

async fn health(s: &Server) -> u16 {
    // A fresh connection each time: with the short timeouts the server closes idle
    // kept-alive connections, and a pooled one may be reset under the request.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client");
    let r = tokio::time::timeout(Duration::from_secs(5), http.get(s.url("/health")).send())
        .await
        .expect("the server answers while slow clients hold connections")
        .expect("GET /health");
    r.status().as_u16()
}

/// Connections that never finish their headers are closed after the header timeout,
/// and the server answers others meanwhile.
async fn slow_headers_are_cut_off(package: &str, backend: &str) {
    let s = with_short_timeouts(package, backend).await;
    let mut slow = Vec::with_capacity(SLOW);
    for _ in 0..SLOW {
        let mut stream = TcpStream::connect(address(&s)).await.expect("connect");
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .expect("write");
        slow.push(stream);
    }
    assert_eq!(health(&s).await, 200);
    // One more that trickles a byte every 300 ms: trickling does not extend the limit.
    let mut trickle = TcpStream::connect(address(&s)).await.expect("connect");
    let started = Instant::now();
    let mut cut = false;
    for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if trickle.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        if started.elapsed() > Duration::from_secs(1) + SLACK {
            break;
        }
    }
    assert!(
        cut || closed_within(&mut trickle, Duration::from_millis(100))
            .await
            .is_some(),
        "a trickling client kept its connection past the header timeout"
    );
    for (i, stream) in slow.iter_mut().enumerate() {
        assert!(
            closed_within(stream, Duration::from_secs(1) + SLACK)
                .await
                .is_some(),
            "slow connection {i} still open"
        );
    }
    assert_eq!(health(&s).await, 200);
}

/// A body that never arrives is cut off after the body timeout.
async fn slow_bodies_are_cut_off(package: &str, backend: &str) {
    let s = with_short_timeouts(package, backend).await;
    let mut slow = Vec::with_capacity(SLOW / 4);
    for _ in 0..SLOW / 4 {
        let mut stream = TcpStream::connect(address(&s)).await.expect("connect");
        stream
            .write_all(
                b"POST /api/login/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                  Content-Length: 1000\r\n\r\n{\"username\": ",
            )
            .await
            .expect("write");
        slow.push(stream);
    }
    assert_eq!(health(&s).await, 200);
    for (i, stream) in slow.iter_mut().enumerate() {
        assert!(
            closed_within(stream, Duration::from_secs(1) + SLACK)
                .await
                .is_some(),
            "slow body {i} still held"
        );
    }
    assert_eq!(health(&s).await, 200);
}

/// A kept-alive connection with nothing to say is closed after the idle timeout.
async fn idle_connections_are_closed(package: &str, backend: &str) {
    let s = with_short_timeouts(package, backend).await;
    let mut stream = TcpStream::connect(address(&s)).await.expect("connect");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).await.expect("an answer");
    assert_eq!(&first, b"HTTP/1.1 200");
    let took = closed_within(&mut stream, Duration::from_secs(2) + SLACK).await;
    assert!(took.is_some(), "an idle connection stayed open");
    assert_eq!(health(&s).await, 200);
}

/// A request refused for its credentials is answered without waiting for its body.
async fn refused_requests_do_not_wait_for_their_body(package: &str, backend: &str) {
    let s = with_short_timeouts(package, backend).await;
    let mut stream = TcpStream::connect(address(&s)).await.expect("connect");
    stream
        .write_all(
            b"PUT /api/settings/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 1048576\r\n\r\n{",
        )
        .await
        .expect("write");
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_millis(800), stream.read_exact(&mut head))
        .await
        .expect("answered before the body timeout")
        .expect("read");
    assert_eq!(&head, b"HTTP/1.1 401");
}

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn axum_server() {
                    if durin_contract::selected("axum-server", "sqlite") {
                        super::$case("axum-server", "sqlite").await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn actix_server() {
                    if durin_contract::selected("actix-server", "sqlite") {
                        super::$case("actix-server", "sqlite").await;
                    }
                }
            }
        )*
    };
}

cases!(
    slow_headers_are_cut_off,
    slow_bodies_are_cut_off,
    idle_connections_are_closed,
    refused_requests_do_not_wait_for_their_body,
);
