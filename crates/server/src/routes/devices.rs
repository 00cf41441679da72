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

#[utoipa::path(
    post,
    path = "/api/v1/players/me/devices",
    tag = "devices",
    operation_id = "create_device",
    summary = "Creates a phone app's credential",
    security(("bearer" = [])),
    request_body = CreateDevice,
    responses(
        (status = 201, description = "the device, with its secret (shown only here)", body = DeviceCreated),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`"),
    )
)]
async fn create(
    State(state): State<AppState>,
    Auth(player): Auth,
    JsonBody(req): JsonBody<CreateDevice>,
) -> Result<(StatusCode, Json<DeviceCreated>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.app.create_device(&player, req).await?)))
}

#[utoipa::path(
    get,
    path = "/api/v1/players/me/devices",
    tag = "devices",
    operation_id = "devices",
    summary = "The calling player's devices, oldest first; never a secret",
    security(("bearer" = [])),
    responses((status = 200, body = Devices))
)]
async fn list(State(state): State<AppState>, Auth(player): Auth) -> Result<Json<Devices>, ApiError> {
    Ok(Json(state.app.devices(&player).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/players/me/devices/{id}",
    tag = "devices",
    operation_id = "revoke_device",
    summary = "Revokes a device's credential",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the device's id")),
    responses(
        (status = 204, description = "revoked"),
        (status = 404, description = "`not_found`: not a device of this player"),
    )
)]
async fn revoke(
    State(state): State<AppState>,
    Auth(player): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_device(&player, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
