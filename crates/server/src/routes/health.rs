//! `GET /readyz`: whether this handler can take writes now (the store, and on Redis the
//! subscription connection), for a load balancer or an orchestrator. `/healthz` stays
//! liveness only: a handler that is not ready is still alive, and recovers by itself.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use marauder_core::StoreError;
use marauder_core::protocol::{ErrorCode, Health};

use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/readyz", get(ready))
}

/// 200 `{"status":"ready"}`, or 503 `unavailable` whose message is the reason.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "server",
    operation_id = "readyz",
    summary = "Readiness: whether this handler can take writes now",
    responses(
        (status = 200, body = Health),
        (status = 503, description = "`unavailable`: not ready; the message says why"),
    )
)]
async fn ready(State(state): State<AppState>) -> Response {
    match state.app.ready().await {
        Ok(()) => Json(Health { status: "ready".into() }).into_response(),
        Err(StoreError::Unavailable(reason)) => ApiError::new(ErrorCode::Unavailable, reason).into_response(),
        Err(StoreError::Internal(detail)) => {
            tracing::error!(%detail, "readiness check failed");
            ApiError::new(ErrorCode::Unavailable, "internal error").into_response()
        }
    }
}
