//! Graceful shutdown of both example servers on every selected backend: on SIGTERM a
//! server stops accepting connections, finishes the request in flight, and exits 0.

use std::time::Duration;

use durin_contract::on_standard_server;
use durin_contract::{Server, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A login whose body arrives in two halves, with SIGTERM sent in between: the request
/// is in flight (headers read, the handler waiting for the body) when the signal lands.
async fn sigterm_finishes_the_request_in_flight_and_exits_0(s: Server) {
    let addr = s.base.trim_start_matches("http://").to_owned();
    let body = br#"{"username": "alice", "password": "wonderland", "client": "web"}"#;
    let (first, rest) = body.split_at(20);
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/login/ HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(first).await.expect("write half the body");
    stream.flush().await.expect("flush");
    // Let the server read the head and start the handler.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = s.pid().expect("server running");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM {pid}");
    // It stops accepting new connections.
    eventually(
        "the server stops accepting",
        Duration::from_secs(5),
        || async {
            match tokio::net::TcpStream::connect(&addr).await {
                Err(_) => true,
                // Accepted by a closing listener: the connection is closed unanswered.
                Ok(mut probe) => {
                    let _ = probe
                        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        .await;
                    let mut buf = Vec::new();
                    let read =
                        tokio::time::timeout(Duration::from_secs(1), probe.read_to_end(&mut buf))
                            .await;
                    matches!(read, Ok(Ok(0)) | Ok(Err(_)))
                }
            }
        },
    )
    .await;
    // The request in flight completes.
    stream.write_all(rest).await.expect("write the rest");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut response))
        .await
        .expect("the response within 15 s")
        .expect("read the response");
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "the request in flight did not complete: {response}"
    );
    assert!(response.contains("\"token\""), "{response}");
    // Then the process exits 0 (background tasks stopped, pools closed).
    let code = s.wait_exit(Duration::from_secs(15)).await;
    assert_eq!(code, Some(0), "exit code");
}

durin_contract::server_cases!(
    on_standard_server,
    [sigterm_finishes_the_request_in_flight_and_exits_0,]
);
