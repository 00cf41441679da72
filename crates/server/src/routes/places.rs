//! Places on a map (contract "Places: arrivals and departures"): its members draw, read and
//! remove them. Arrivals and departures are events of the map, published with the locations
//! that cause them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use marauder_core::protocol::{CreatePlace, Place, PlaceDetail, Places};

use crate::error::ApiError;
use crate::extract::{Auth, JsonBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/maps/{id}/places", get(list).post(create))
        .route("/api/v1/maps/{id}/places/{place}", get(detail).delete(remove))
}

#[utoipa::path(
    post,
    path = "/api/v1/maps/{id}/places",
    tag = "places",
    operation_id = "create_place",
    summary = "Draws a place (a named circle) on the map; publishes `place_added`",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the map's id")),
    request_body = CreatePlace,
    responses(
        (status = 201, body = Place),
        (status = 400, description = "`bad_request`: a field out of range, or the map has 100 places already"),
        (status = 403, description = "`forbidden`: not a member"),
        (status = 404, description = "`not_found`: no such map"),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`"),
    )
)]
async fn create(
    State(state): State<AppState>,
    Auth(player): Auth,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<CreatePlace>,
) -> Result<(StatusCode, Json<Place>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.app.create_place(&player, &id, req).await?)))
}

#[utoipa::path(
    get,
    path = "/api/v1/maps/{id}/places",
    tag = "places",
    operation_id = "list_places",
    summary = "The map's places, oldest first",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the map's id")),
    responses(
        (status = 200, body = Places),
        (status = 403, description = "`forbidden`: not a member"),
        (status = 404, description = "`not_found`: no such map"),
    )
)]
async fn list(
    State(state): State<AppState>,
    Auth(player): Auth,
    Path(id): Path<String>,
) -> Result<Json<Places>, ApiError> {
    Ok(Json(state.app.places(&player, &id).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/maps/{id}/places/{place}",
    tag = "places",
    operation_id = "get_place",
    summary = "A place, with the members inside it",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "the map's id"),
        ("place" = String, Path, description = "the place's id"),
    ),
    responses(
        (status = 200, body = PlaceDetail),
        (status = 403, description = "`forbidden`: not a member"),
        (status = 404, description = "`not_found`: no such map or place"),
    )
)]
async fn detail(
    State(state): State<AppState>,
    Auth(player): Auth,
    Path((id, place)): Path<(String, String)>,
) -> Result<Json<PlaceDetail>, ApiError> {
    Ok(Json(state.app.place(&player, &id, &place).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/maps/{id}/places/{place}",
    tag = "places",
    operation_id = "delete_place",
    summary = "Removes a place (its creator or the map's owner); publishes `place_removed`",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "the map's id"),
        ("place" = String, Path, description = "the place's id"),
    ),
    responses(
        (status = 204, description = "removed"),
        (status = 403, description = "`forbidden`: not a member, or neither the place's creator nor the map's owner"),
        (status = 404, description = "`not_found`: no such map or place"),
    )
)]
async fn remove(
    State(state): State<AppState>,
    Auth(player): Auth,
    Path((id, place)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_place(&player, &id, &place).await?;
    Ok(StatusCode::NO_CONTENT)
}
