//! `GET /api/v1/ws`: authenticates, enforces the per-player cap, upgrades, and hands the
//! socket to a [`Session`](crate::session::Session).

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::response::Response;
use axum::routing::get;
use marauder_core::CoreError;
use marauder_core::protocol::MAX_BODY_BYTES;

use crate::error::ApiError;
use crate::extract::Auth;
use crate::session::Session;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/ws", get(upgrade))
}

/// Small buffers keep an idle connection cheap: clients send small frames (a larger one
/// grows the buffer while it is read), and writes are coalesced by the session anyway.
const READ_BUFFER: usize = 1024;
const WRITE_BUFFER: usize = 16 * 1024;
/// Past `WRITE_BUFFER` a send waits for the socket, so this bounds only the largest single
/// frame, which must fit: a snapshot of a large map, or a replay of its recent events.
const MAX_WRITE_BUFFER: usize = 16 * 1024 * 1024;

async fn upgrade(
    State(state): State<AppState>,
    Auth(player): Auth,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let ws =
        ws.map_err(|rejection| ApiError::bad_request(format!("not a WebSocket upgrade: {rejection}")))?;
    let cap = state.config.max_connections_per_player;
    let Some(registration) = state.connections.register(&player.id, cap) else {
        return Err(CoreError::RateLimited {
            message: format!("at most {cap} WebSocket connections per player"),
            retry_after_secs: 5,
        }
        .into());
    };
    let sessions = state.sessions.clone();
    Ok(ws
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_BODY_BYTES)
        .max_frame_size(MAX_BODY_BYTES)
        .on_upgrade(move |socket| {
            sessions.track_future(async move {
                Session::new(state, player, registration).run(socket).await;
            })
        }))
}
