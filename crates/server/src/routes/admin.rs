//! Map administration, the owner's alone (another member gets 403): rename, visibility, a new
//! invite code, removing a member, deleting the map. The events these publish end the
//! subscriptions they must (`removed`, `deleted`) in the fan-out, not here.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, patch, post};
use axum::{Json, Router};
use marauder_core::protocol::{InviteCodeAnswer, MapDetail, UpdateMap};

use crate::error::ApiError;
use crate::extract::{Auth, JsonBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/maps/{id}", patch(update).delete(remove))
        .route("/api/v1/maps/{id}/invite-code", post(new_invite_code))
        .route("/api/v1/maps/{id}/members/{player}", delete(remove_member))
}

#[utoipa::path(
    patch,
    path = "/api/v1/maps/{id}",
    tag = "maps",
    operation_id = "update_map",
    summary = "Renames the map and/or changes its visibility (owner only); a change publishes `map_updated`",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the map's id")),
    request_body = UpdateMap,
    responses(
        (status = 200, description = "the map as `GET /maps/{id}` answers it", body = MapDetail),
        (status = 403, description = "`forbidden`: not the map's owner"),
        (status = 404, description = "`not_found`: no such map"),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`"),
    )
)]
async fn update(
    State(state): State<AppState>,
    Auth(player): Auth,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<UpdateMap>,
) -> Result<Json<MapDetail>, ApiError> {
    Ok(Json(state.app.update_map(&player, &id, req).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/maps/{id}",
    tag = "maps",
    operation_id = "delete_map",
    summary = "Deletes the map (owner only): every subscription ends with `deleted`; trails stay",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the map's id")),
    responses(
        (status = 204, description = "deleted; the map is a 404 from now on"),
        (status = 403, description = "`forbidden`: not the map's owner"),
        (status = 404, description = "`not_found`: no such map"),
    )
)]
async fn remove(
    State(state): State<AppState>,
    Auth(player): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_map(&player, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/v1/maps/{id}/invite-code",
    tag = "maps",
    operation_id = "new_invite_code",
    summary = "A new invite code for a private map (owner only); the old one opens nothing from now on",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the map's id")),
    responses(
        (status = 200, body = InviteCodeAnswer),
        (status = 400, description = "`bad_request`: a public map has no invite code"),
        (status = 403, description = "`forbidden`: not the map's owner"),
        (status = 404, description = "`not_found`: no such map"),
    )
)]
async fn new_invite_code(
    State(state): State<AppState>,
    Auth(player): Auth,
    Path(id): Path<String>,
) -> Result<Json<InviteCodeAnswer>, ApiError> {
    Ok(Json(state.app.new_invite_code(&player, &id).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/maps/{id}/members/{player}",
    tag = "maps",
    operation_id = "remove_member",
    summary = "Removes a member (owner only): `left` with `removed`, and its subscriptions end with `removed`",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "the map's id"),
        ("player" = String, Path, description = "the member's id"),
    ),
    responses(
        (status = 204, description = "removed; the player may join again like anyone else"),
        (status = 400, description = "`bad_request`: the owner cannot remove themselves"),
        (status = 403, description = "`forbidden`: not the map's owner"),
        (status = 404, description = "`not_found`: no such map, or the player is not a member"),
    )
)]
async fn remove_member(
    State(state): State<AppState>,
    Auth(player): Auth,
    Path((id, member)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.app.remove_member(&player, &id, &member).await?;
    Ok(StatusCode::NO_CONTENT)
}
