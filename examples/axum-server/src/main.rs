//! durin's example server on axum: every endpoint of the HTTP contract under `/api/`,
//! plus demo routes, on an SQLite file by default.
//!
//! ```sh
//! cargo run -p axum-server -- --user alice:wonderland --client web --client mobile:30d:100/m
//! ```
//!
//! Routes, flags and answers: `docs/http-api.md`.

use std::sync::Arc;

use axum_server::{app, serve};
use server_common::{Args, Demo};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use clap::Parser as _;
    let args = Args::parse();
    // Kept to the end of main: dropping it flushes the buffered log lines.
    let _logs = server_common::init_tracing(args.log_format);
    let demo = Arc::new(Demo::start(args).await?);
    let listener = tokio::net::TcpListener::bind(demo.args.bind).await?;
    let addr = listener.local_addr()?;
    println!("{}", demo.banner(addr));
    // On SIGTERM or Ctrl-C: stop accepting, let in-flight requests finish (at most
    // SHUTDOWN_GRACE), then stop the background tasks and close the pools.
    let signalled = Arc::new(tokio::sync::Notify::new());
    let timeouts = serve::Timeouts {
        header: demo.args.header_timeout,
        idle: demo.args.idle_timeout,
        body: demo.args.body_timeout,
    };
    let serve = serve::serve(listener, app(&demo), timeouts, {
        let signalled = signalled.clone();
        async move {
            server_common::shutdown_signal().await;
            signalled.notify_one();
        }
    });
    tokio::select! {
        () = serve => {}
        () = async {
            signalled.notified().await;
            tokio::time::sleep(server_common::SHUTDOWN_GRACE).await;
        } => tracing::warn!("requests still in flight after {:?}; stopping", server_common::SHUTDOWN_GRACE),
    }
    demo.shutdown().await;
    Ok(())
}
