//! A player's device credentials, for the phone apps (docs/phones.md).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use marauder_core::protocol::{CreateDevice, DeviceCreated, Devices};

use crate::error::ApiError;
use crate::extract::{Auth, JsonBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/players/me/devices", get(list).post(create))
        .route("/api/v1/players/me/devices/{id}", delete(revoke))
}

async fn create(
    State(state): State<AppState>,
    Auth(player): Auth,
    JsonBody(req): JsonBody<CreateDevice>,
) -> Result<(StatusCode, Json<DeviceCreated>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.app.create_device(&player, req).await?)))
}

async fn list(State(state): State<AppState>, Auth(player): Auth) -> Result<Json<Devices>, ApiError> {
    Ok(Json(state.app.devices(&player).await?))
}

async fn revoke(
    State(state): State<AppState>,
    Auth(player): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_device(&player, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
