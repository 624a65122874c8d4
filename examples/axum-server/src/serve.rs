//! Serving the router over HTTP/1.1 with bounds on slow clients: `axum::serve` has no
//! header-read, idle or body timeout, so a client sending one byte a minute would hold
//! a connection (and its task) for as long as it liked.
//!
//! - header timeout: hyper's own (`http1::Builder::header_read_timeout`), which runs
//!   while a connection waits for a request's headers, the first or the next one;
//! - idle timeout: a connection with no byte read or written for that long is shut down
//!   gracefully (a request being answered is finished first);
//! - body timeout: a request body that has not arrived that long after its headers
//!   fails to read (the endpoint answers 413 and the connection closes).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use futures::StreamExt as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::time::Instant;

/// The timeouts of `--header-timeout`, `--idle-timeout` and `--body-timeout`; zero turns
/// one off.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// How long a connection may take to send a request's headers.
    pub header: Duration,
    /// How long a connection may stay without a byte read or written.
    pub idle: Duration,
    /// How long a request body may take to arrive after its headers.
    pub body: Duration,
}

/// Accepts connections until `shutdown` resolves, then lets each finish its request in
/// flight (the caller bounds how long it waits).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, say: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            stream,
            peer,
            app.clone(),
            timeouts,
            stopped.clone(),
        ));
        // Reap finished connections so the set stays small.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    timeouts: Timeouts,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let started = Instant::now();
    let activity = Arc::new(AtomicU64::new(0));
    let io = Tracked {
        inner: stream,
        started,
        activity: activity.clone(),
    };
    let body_timeout = timeouts.body;
    let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        if !body_timeout.is_zero() {
            request = request.map(|body| deadline(body, body_timeout));
        }
        let mut app = app.clone();
        async move { tower::Service::call(&mut app, request).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new());
    builder.header_read_timeout((!timeouts.header.is_zero()).then_some(timeouts.header));
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let idle = timeouts.idle;
    let mut shutting_down = false;
    loop {
        let since = Duration::from_millis(activity.load(Ordering::Relaxed));
        let idle_at = started + since + idle;
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended");
                }
                return;
            }
            changed = stopped.changed(), if !shutting_down => {
                if changed.is_err() || *stopped.borrow() {
                    conn.as_mut().graceful_shutdown();
                    shutting_down = true;
                }
            }
            () = tokio::time::sleep_until(idle_at), if !idle.is_zero() && !shutting_down => {
                // Activity may have moved the deadline while we slept.
                let last = started + Duration::from_millis(activity.load(Ordering::Relaxed));
                if Instant::now() >= last + idle {
                    tracing::debug!(%peer, "idle connection closed");
                    conn.as_mut().graceful_shutdown();
                    shutting_down = true;
                }
            }
        }
    }
}

/// `body`, failing once `timeout` has passed (measured from now: the end of the
/// request's headers).
fn deadline(body: Body, timeout: Duration) -> Body {
    let until = Instant::now() + timeout;
    let stream = futures::stream::unfold(Some(body.into_data_stream()), move |state| async move {
        let mut stream = state?;
        match tokio::time::timeout_at(until, stream.next()).await {
            Ok(Some(item)) => Some((item, Some(stream))),
            Ok(None) => None,
            Err(_) => {
                tracing::debug!("request body timed out");
                Some((Err(axum::Error::new("request body timed out")), None))
            }
        }
    });
    Body::from_stream(stream)
}

/// A socket that records when a byte last went either way (milliseconds since the
/// connection started), for the idle timeout.
struct Tracked {
    inner: tokio::net::TcpStream,
    started: Instant,
    activity: Arc<AtomicU64>,
}

impl Tracked {
    fn touch(&self) {
        let millis = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.activity.store(millis, Ordering::Relaxed);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
