//! Marauder's handler tier: the axum HTTP and WebSocket layer over a [`Marauder`] service,
//! and the local fan-out [`Hub`] that turns a map's events into shared frames.
//!
//! It knows nothing of which backend runs: the composition root builds the service and the
//! hub and calls [`serve`]. Tests call the same function on port 0.

mod connections;
mod error;
mod extract;
mod headers;
mod hub;
mod limits;
mod listener;
pub mod metrics;
mod outbox;
mod parse_errors;
mod request_body;
mod routes;
mod session;
mod state;
#[cfg(test)]
mod strategies;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::response::IntoResponse;
use axum::routing::get;
use marauder_core::Marauder;
use marauder_core::protocol::{ErrorCode, Health, MAX_BODY_BYTES};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use hub::Hub;
pub use limits::{CREATE_BURST, CREATE_REFILL_MS, GUESS_BURST, GUESS_REFILL_MS, RateLimits};
pub use listener::MAX_HEAD_BYTES;
pub use session::MAX_SUBSCRIPTIONS;

use crate::error::ApiError;
use crate::state::AppState;

/// Settings of the handler tier.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Bytes a WebSocket connection may have queued before its slowest map is dropped.
    pub outbox_bytes: usize,
    pub max_connections_per_player: usize,
    /// The web app's map tiles (a Leaflet URL template), or none for the plain parchment.
    pub tiles: Option<String>,
    pub tiles_attribution: String,
    /// A request's line and headers must arrive within this; it also ends a keep-alive
    /// connection idle for as long.
    pub header_timeout: Duration,
    /// A request's whole body must arrive within this (408 after it).
    pub body_timeout: Duration,
    /// Client connections open at once; past it a new one is answered 503 and closed.
    pub max_connections: usize,
    /// How long a write may wait for a client that reads nothing before the connection is
    /// dropped.
    pub write_timeout: Duration,
    /// How often an idle WebSocket is pinged; one that has sent nothing since the previous
    /// ping is closed.
    pub ws_ping_interval: Duration,
    /// Origins besides the server's own allowed to open a WebSocket (`scheme://host[:port]`).
    pub allowed_origins: Vec<String>,
    /// Per-client-address rate limits.
    pub limits: RateLimits,
}

/// The defaults of the settings above, each written once.
pub const HEADER_TIMEOUT_MS: u64 = 10_000;
pub const BODY_TIMEOUT_MS: u64 = 10_000;
/// Connections at once: in practice the file limit decides (the cap is lowered to fit it).
pub const MAX_CONNECTIONS: usize = 100_000;
pub const WS_PING_INTERVAL_MS: u64 = 30_000;
pub const WRITE_TIMEOUT_MS: u64 = 30_000;
pub const OUTBOX_BYTES: usize = 1024 * 1024;
pub const MAX_WS_PER_PLAYER: usize = 16;
/// The hub's batching window (BENCHMARKS.md has the measured trade-off).
pub const BATCH_WINDOW_MS: u64 = 10;

/// OpenStreetMap's standard tiles, and the credit their use requires.
pub const OSM_TILES: &str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";
pub const OSM_ATTRIBUTION: &str =
    r#"&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors"#;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            outbox_bytes: OUTBOX_BYTES,
            max_connections_per_player: MAX_WS_PER_PLAYER,
            tiles: Some(OSM_TILES.to_owned()),
            tiles_attribution: OSM_ATTRIBUTION.to_owned(),
            header_timeout: Duration::from_millis(HEADER_TIMEOUT_MS),
            body_timeout: Duration::from_millis(BODY_TIMEOUT_MS),
            max_connections: MAX_CONNECTIONS,
            ws_ping_interval: Duration::from_millis(WS_PING_INTERVAL_MS),
            write_timeout: Duration::from_millis(WRITE_TIMEOUT_MS),
            allowed_origins: Vec::new(),
            limits: RateLimits::default(),
        }
    }
}

/// Serves the API on `listener` until `shutdown` is cancelled; then stops accepting, lets
/// every connection finish its request, closes every WebSocket with 1001, waits for the
/// connections and the sessions, and flushes the backends.
pub async fn serve(
    app: Marauder,
    hub: Arc<Hub>,
    config: ServerConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let state = AppState {
        app: app.clone(),
        connections: hub.connections(),
        hub,
        limits: Arc::new(limits::Limits::new(&config.limits)),
        config: Arc::new(config),
        shutdown: shutdown.clone(),
        sessions: TaskTracker::new(),
    };
    let sessions = state.sessions.clone();
    let config = state.config.clone();
    // Sessions hear of the shutdown through their outboxes (`outbox::Stop`), not the token.
    let (sockets, stopping) = (state.connections.clone(), shutdown.clone());
    tokio::spawn(async move {
        stopping.cancelled().await;
        sockets.stop_all();
    });
    let router = router(state);
    let connections = TaskTracker::new();
    listener::accept(listener, router, &config, shutdown, connections.clone()).await;
    connections.close();
    connections.wait().await;
    sessions.close();
    sessions.wait().await;
    if let Err(err) = app.flush().await {
        tracing::error!(error = %err, "flushing the store on shutdown failed");
    }
    tracing::info!("stopped");
    Ok(())
}

fn router(state: AppState) -> Router {
    let security = headers::security_headers(state.config.tiles.as_deref());
    let body_timeout = state.config.body_timeout;
    routes::api(&state)
        .route("/healthz", get(|| async { axum::Json(Health { status: "ok".into() }) }))
        .fallback(routes::web::fallback)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(body_timeout, request_body::read_whole))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(ErrorCode::Internal, "internal error").into_response()
        }))
        // Outside every handler and extractor: axum's own rejections get the contract's body,
        // and every answer, errors included, the security headers.
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(axum::middleware::map_response(move |response: axum::response::Response| {
            headers::add(security.clone(), response)
        }))
        .layer(axum::middleware::map_response(metrics::count_response))
        // The span names the method and path only: a WebSocket's query holds its token.
        .layer(TraceLayer::new_for_http().make_span_with(
            |req: &Request<_>| tracing::info_span!("http", method = %req.method(), path = %req.uri().path()),
        ))
        .with_state(state)
}
