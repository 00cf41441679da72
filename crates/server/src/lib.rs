//! Marauder's handler tier: the axum HTTP and WebSocket layer over a [`Marauder`] service,
//! and the local fan-out [`Hub`] that turns a map's events into shared frames.
//!
//! It knows nothing of which backend runs: the composition root builds the service and the
//! hub and calls [`serve`]. Tests call the same function on port 0.

mod connections;
mod error;
mod extract;
mod hub;
mod outbox;
mod routes;
mod session;
mod state;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt;
use marauder_core::Marauder;
use marauder_core::protocol::{ErrorCode, Health, MAX_BODY_BYTES};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use hub::Hub;

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
}

/// OpenStreetMap's standard tiles, and the credit their use requires.
pub const OSM_TILES: &str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";
pub const OSM_ATTRIBUTION: &str =
    r#"&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors"#;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            outbox_bytes: 1024 * 1024,
            max_connections_per_player: 16,
            tiles: Some(OSM_TILES.to_owned()),
            tiles_attribution: OSM_ATTRIBUTION.to_owned(),
        }
    }
}

/// Serves the API on `listener` until `shutdown` is cancelled; then stops accepting, closes
/// every WebSocket with 1001, waits for the sessions, and flushes the backends.
pub async fn serve(
    app: Marauder,
    hub: Arc<Hub>,
    config: ServerConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let state = AppState {
        app: app.clone(),
        hub,
        connections: Arc::default(),
        config: Arc::new(config),
        shutdown: shutdown.clone(),
        sessions: TaskTracker::new(),
    };
    let sessions = state.sessions.clone();
    let router = router(state);
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(%err, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, router).with_graceful_shutdown(shutdown.cancelled_owned()).await?;
    sessions.close();
    sessions.wait().await;
    if let Err(err) = app.flush().await {
        tracing::error!(error = %err, "flushing the store on shutdown failed");
    }
    tracing::info!("stopped");
    Ok(())
}

fn router(state: AppState) -> Router {
    routes::api()
        .route("/healthz", get(|| async { axum::Json(Health { status: "ok".into() }) }))
        .fallback(routes::web::fallback)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(ErrorCode::Internal, "internal error").into_response()
        }))
        // The span names the method and path only: a WebSocket's query holds its token.
        .layer(TraceLayer::new_for_http().make_span_with(
            |req: &Request<_>| tracing::info_span!("http", method = %req.method(), path = %req.uri().path()),
        ))
        .with_state(state)
}
