//! `GET /api/v1/ws`: checks the browser's `Origin`, authenticates, enforces the per-player
//! cap, upgrades, and hands the socket to a [`Session`](crate::session::Session).

use std::sync::Weak;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use marauder_core::CoreError;
use marauder_core::protocol::{ErrorCode, MAX_BODY_BYTES};

use crate::error::ApiError;
use crate::extract::AuthWithToken;
use crate::session::Session;
use crate::state::AppState;
use crate::wire::Wire;

pub fn router(state: &AppState) -> Router<AppState> {
    // A layer, not an extractor: the origin is checked before the token is.
    Router::new().route("/api/v1/ws", get(upgrade).layer(from_fn_with_state(state.clone(), check_origin)))
}

/// Small buffers keep an idle connection cheap: clients send small frames (a larger one
/// grows the buffer while it is read), and writes are coalesced by the session anyway.
const READ_BUFFER: usize = 1024;
const WRITE_BUFFER: usize = 16 * 1024;
/// Past `WRITE_BUFFER` a send waits for the socket, so this bounds only the largest single
/// frame, which must fit: a snapshot of a large map, or a replay of its recent events.
const MAX_WRITE_BUFFER: usize = 16 * 1024 * 1024;

#[utoipa::path(
    get,
    path = "/api/v1/ws",
    tag = "live",
    operation_id = "websocket",
    summary = "Upgrades to the WebSocket: frames are `ClientMessage` and `ServerMessage`",
    security(("bearer" = []), ("access_token" = [])),
    params(("access_token" = Option<String>, Query, description = "the token, for browsers (they cannot set headers here)")),
    responses(
        (status = 101, description = "switching to the WebSocket protocol"),
        (status = 400, description = "`bad_request`: not a WebSocket upgrade"),
        (status = 403, description = "`forbidden`: an `Origin` of another site"),
        (status = 429, description = "`rate_limited`: the player has the most WebSocket connections allowed"),
    )
)]
async fn upgrade(
    State(state): State<AppState>,
    AuthWithToken(player, token): AuthWithToken,
    wire: Option<Extension<Weak<Wire>>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let ws =
        ws.map_err(|rejection| ApiError::bad_request(format!("not a WebSocket upgrade: {rejection}")))?;
    let cap = state.config.max_connections_per_player;
    // The connection's socket, which the hub writes live frames to directly (the server's
    // own listener puts it in every request).
    let wire = wire.and_then(|Extension(wire)| wire.upgrade());
    let outbox = crate::outbox::Outbox::with_wire(state.config.outbox_bytes, wire);
    let Some(registration) = state.connections.register(&player, cap, outbox) else {
        crate::metrics::rate_limited("ws_per_player");
        return Err(CoreError::RateLimited {
            message: format!("at most {cap} WebSocket connections per player"),
            retry_after_secs: 5,
        }
        .into());
    };
    // A revocation between the authentication above and the registration found no socket to
    // close: look again now that a revocation would find this one.
    if !state.app.still_signed_in(&token).await? {
        return Err(CoreError::Unauthorized.into());
    }
    // Tracked from the answer on, not from when axum runs the callback: a shutdown that
    // comes in between still waits for this session's 1001.
    let tracked = state.sessions.token();
    let session = Box::new(Session::new(state, player, token, registration, tracked));
    Ok(ws
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_BODY_BYTES)
        .max_frame_size(MAX_BODY_BYTES)
        .on_upgrade(move |socket| session.run(socket)))
}

/// A browser names the page that opens a WebSocket in `Origin`, and sends the site's cookies
/// or a token in the query along: a page of another site must not open one (cross-site
/// WebSocket hijacking). A program sends no `Origin`, and is let through to authenticate.
async fn check_origin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        return next.run(request).await;
    };
    let origin = origin.to_str().unwrap_or("");
    if same_origin(origin, request.headers()) || allowed(origin, &state.config.allowed_origins) {
        return next.run(request).await;
    }
    let message =
        format!("WebSocket from origin `{origin}` refused: not this server's origin nor an allowed one");
    ApiError::new(ErrorCode::Forbidden, message).into_response()
}

/// Whether `origin`'s host and port are the request's `Host`. A `Host` without a port (as a
/// proxy may send) is compared by name alone.
fn same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Some((origin_host, origin_port)) = host_port(origin) else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    match split_port(&host) {
        (name, Some(port)) => name == origin_host && port == origin_port,
        (name, None) => name == origin_host,
    }
}

fn allowed(origin: &str, allowed: &[String]) -> bool {
    let origin = origin.trim_end_matches('/');
    allowed.iter().any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// The lowercase host and the port (the scheme's default if none) of `scheme://host[:port]`.
fn host_port(origin: &str) -> Option<(String, u16)> {
    let (scheme, authority) = origin.split_once("://")?;
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        _ => return None,
    };
    let authority = authority.trim_end_matches('/').to_ascii_lowercase();
    match split_port(&authority) {
        (host, Some(port)) => Some((host.to_owned(), port)),
        (host, None) => Some((host.to_owned(), default)),
    }
}

/// `host:port` into its parts; `[v6]:port` keeps its brackets.
fn split_port(authority: &str) -> (&str, Option<u16>) {
    match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (authority, None),
        },
        _ => (authority, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, value.parse().unwrap());
        headers
    }

    #[test]
    fn an_origin_is_the_servers_own_when_host_and_port_match() {
        assert!(same_origin("http://127.0.0.1:8080", &host("127.0.0.1:8080")));
        assert!(same_origin("https://Map.example", &host("map.example:443")));
        assert!(same_origin("https://map.example:8443", &host("map.example")));
        assert!(same_origin("http://[::1]:8080", &host("[::1]:8080")));
        assert!(!same_origin("http://127.0.0.1:8081", &host("127.0.0.1:8080")));
        assert!(!same_origin("http://evil.example", &host("map.example")));
        assert!(!same_origin("null", &host("map.example")));
        assert!(!same_origin("http://map.example.evil:80", &host("map.example:80")));
    }
}
