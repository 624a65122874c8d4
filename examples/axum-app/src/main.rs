//! Run with `cargo run -p axum-app` (SQLite file `./axum-app.db`), or
//! `cargo run -p axum-app -- --database-url postgres://postgres@127.0.0.1/app`.
//!
//! Then sign up, log in and call a protected route:
//!
//! ```sh
//! curl -s localhost:8080/api/signup -H 'Content-Type: application/json' \
//!   -d '{"username":"ann","password":"correct horse","email":"ann@example.com"}'
//! curl -s localhost:8080/api/login/ -H 'Content-Type: application/json' \
//!   -d '{"username":"ann","password":"correct horse","client":"web"}'
//! curl -s localhost:8080/api/me -H "Authorization: Bearer $TOKEN"
//! ```

use std::net::SocketAddr;

use clap::Parser;
use durin_core::DigestKey;

/// An axum application with its own users, authenticated by durin.
#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// `sqlite:PATH` or `postgres://...`: the application's tables and durin's, together.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://axum-app.db")]
    database_url: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    // The HMAC key of the token digests: keep it secret and stable (here from the
    // environment); a new key logs everybody out.
    let key = match std::env::var("APP_SECRET") {
        Ok(secret) if secret.len() >= 32 => DigestKey::new("app", secret)?,
        _ => {
            tracing::warn!("APP_SECRET unset or shorter than 32 bytes: tokens end at restart");
            DigestKey::generate("ephemeral")
        }
    };
    let (db, node) = axum_app::connect(&args.database_url, key).await?;
    let app = axum_app::router(axum_app::App::over(db, node.durin().clone()));
    let listener = tokio::net::TcpListener::bind(args.bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // Client addresses feed the failed-login throttle of `POST /api/login/`.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    node.shutdown().await;
    Ok(())
}
