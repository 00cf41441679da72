use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use marauder_core::protocol::{CreateMap, JoinMap, Locations, MapCreated, MapDetail, PublicMaps, Trail};

use crate::error::ApiError;
use crate::extract::{Auth, JsonBody, OptionalJsonBody, Params};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/maps", post(create).get(list_public))
        .route("/api/v1/maps/{id}", get(detail))
        .route("/api/v1/maps/{id}/join", post(join))
        .route("/api/v1/maps/{id}/leave", post(leave))
        .route("/api/v1/maps/{id}/locations", get(locations))
        .route("/api/v1/maps/{id}/trails/{player}", get(trail))
}

async fn create(
    State(state): State<AppState>,
    Auth(player): Auth,
    JsonBody(req): JsonBody<CreateMap>,
) -> Result<(StatusCode, Json<MapCreated>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.app.create_map(&player, req).await?)))
}

async fn list_public(State(state): State<AppState>) -> Result<Json<PublicMaps>, ApiError> {
    Ok(Json(state.app.public_maps().await?))
}

async fn detail(
    State(state): State<AppState>,
    Auth(player): Auth,
    Path(id): Path<String>,
) -> Result<Json<MapDetail>, ApiError> {
    Ok(Json(state.app.map_detail(&player, &id).await?))
}

async fn join(
    State(state): State<AppState>,
    Auth(player): Auth,
    Path(id): Path<String>,
    OptionalJsonBody(req): OptionalJsonBody<JoinMap>,
) -> Result<Json<MapDetail>, ApiError> {
    Ok(Json(state.app.join(&player, &id, req.unwrap_or_default()).await?))
}

async fn leave(
    State(state): State<AppState>,
    Auth(player): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.app.leave(&player, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn locations(
    State(state): State<AppState>,
    Auth(player): Auth,
    Path(id): Path<String>,
) -> Result<Json<Locations>, ApiError> {
    Ok(Json(state.app.locations(&player, &id).await?))
}

async fn trail(
    State(state): State<AppState>,
    Auth(player): Auth,
    Path((id, of)): Path<(String, String)>,
    params: Params,
) -> Result<Json<Trail>, ApiError> {
    let since = params.parse("since")?;
    let limit = params.parse("limit")?;
    Ok(Json(state.app.trail(&player, &id, &of, since, limit).await?))
}
