//! What every handler shares: a cheap-to-clone handle.

use std::sync::Arc;

use marauder_core::Marauder;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ServerConfig;
use crate::connections::Connections;
use crate::hub::Hub;
use crate::limits::Limits;

#[derive(Clone)]
pub struct AppState {
    pub app: Marauder,
    pub hub: Arc<Hub>,
    pub connections: Arc<Connections>,
    /// Per-client-address rate limits.
    pub limits: Arc<Limits>,
    pub config: Arc<ServerConfig>,
    /// Cancelled when the server is shutting down; sessions then close with 1001.
    pub shutdown: CancellationToken,
    /// WebSocket sessions, which axum's graceful shutdown does not wait for.
    pub sessions: TaskTracker,
}
