//! The accept loop: one hyper HTTP/1.1 connection per accepted socket, with the limits
//! axum's own `serve` cannot set (a head-read timeout that also ends idle keep-alive
//! connections, a small head buffer), a global connection cap answered with a 503 rather
//! than running out of file descriptors, and a graceful stop.
//!
//! It knows nothing of routes: it is handed a finished [`Router`]. Every connection task is
//! tracked, so the caller can wait for all of them after `shutdown`.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::ServerConfig;
use crate::parse_errors::Guarded;
use crate::wire::Wire;

/// The request line and headers together: hyper's read buffer is this small, so a client
/// that sends more is answered 431 before it can make the server hold more.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// File descriptors kept for everything but client connections (the store, Redis, logs).
const RESERVED_FDS: u64 = 100;
/// Refusals past the cap in progress at once; beyond it a socket is closed without a word.
const REFUSING: usize = 64;
/// How long a refusal may take to be written and the client's request drained.
const REFUSAL_TIME: Duration = Duration::from_secs(1);

/// Accepts connections until `shutdown`, then asks every connection to finish its request
/// and close. Returns once the listener is closed; the tasks it spawned are on `tasks`.
pub async fn accept(
    listener: TcpListener,
    router: Router,
    config: &ServerConfig,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    let cap = connection_cap(config.max_connections);
    crate::metrics::connection_cap(cap);
    let slots = Arc::new(Semaphore::new(cap));
    let refusing = Arc::new(Semaphore::new(REFUSING));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_header_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(err, &shutdown).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refuse(tcp, &refusing, &tasks, cap);
            continue;
        };
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(%err, "cannot set TCP_NODELAY");
        }
        let socket = Guarded::new(tcp, slot, config.write_timeout);
        let conn = serve_connection(&builder, socket, peer, router.clone());
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(err) = result {
                tracing::debug!(%err, %peer, "connection ended with an error");
            }
        });
    }
}

/// One connection, on a socket that holds its slot until it is closed, which for an
/// upgraded WebSocket is long after hyper is done with it.
fn serve_connection(
    builder: &http1::Builder,
    socket: Guarded,
    peer: SocketAddr,
    router: Router,
) -> http1::UpgradeableConnection<TokioIo<Guarded>, Handler> {
    let wire = socket.wire();
    builder.serve_connection(TokioIo::new(socket), Handler { router, peer, wire }).with_upgrades()
}

/// The router as a hyper service, with the peer's address in every request (`ConnectInfo`)
/// and the connection's write side (for a WebSocket's live frames).
struct Handler {
    router: Router,
    peer: SocketAddr,
    wire: Weak<Wire>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Handler {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = tower::util::Oneshot<Router, hyper::Request<Body>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(self.peer));
        // Only where it is used: a REST request pays no insertion.
        if request.headers().contains_key(hyper::header::UPGRADE) {
            request.extensions_mut().insert(self.wire.clone());
        }
        self.router.clone().oneshot(request)
    }
}

/// The configured cap, lowered to what the file-descriptor limit allows (raised first to
/// its hard limit, as Go's runtime does, since one socket is one descriptor).
fn connection_cap(configured: usize) -> usize {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return configured;
    };
    let limit = match soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        true => hard,
        false => soft,
    };
    let allowed = usize::try_from(limit.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX).max(1);
    if allowed < configured {
        tracing::warn!(configured, allowed, nofile = limit, "connection cap lowered to fit the file limit");
    }
    configured.min(allowed)
}

/// Past the cap: a 503 with the contract's body, then the socket is closed. The client's
/// request is drained first so that closing does not reset the connection before the
/// answer is read.
fn refuse(mut tcp: TcpStream, refusing: &Arc<Semaphore>, tasks: &TaskTracker, cap: usize) {
    tracing::debug!(cap, "connection cap reached; refusing a connection");
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        return; // Dropping the socket closes it: holding it would defeat the cap.
    };
    tasks.spawn(async move {
        let _permit = permit;
        let _ = tokio::time::timeout(REFUSAL_TIME, async {
            tcp.write_all(&crate::parse_errors::busy_response()).await?;
            tcp.shutdown().await?;
            let mut sink = [0u8; 1024];
            while tcp.read(&mut sink).await? > 0 {}
            std::io::Result::Ok(())
        })
        .await;
    });
}

/// Errors of one connection are skipped; running out of descriptors (or memory) pauses the
/// loop briefly instead of spinning on it.
async fn accept_failed(err: std::io::Error, shutdown: &CancellationToken) {
    use std::io::ErrorKind::*;
    if matches!(err.kind(), ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted) {
        return;
    }
    tracing::error!(%err, "accepting a connection failed; pausing");
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
    }
}
