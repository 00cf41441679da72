use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use marauder_core::protocol::{CreatePlayer, Me, PlayerCreated, PlayerSummary};

use crate::error::ApiError;
use crate::extract::{Auth, JsonBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/players", post(create))
        .route("/api/v1/players/me", get(me).delete(delete_me))
        .route("/api/v1/players/{id}", get(public))
}

async fn create(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<CreatePlayer>,
) -> Result<(StatusCode, Json<PlayerCreated>), ApiError> {
    Ok((StatusCode::CREATED, Json(state.app.create_player(req).await?)))
}

async fn me(State(state): State<AppState>, Auth(player): Auth) -> Result<Json<Me>, ApiError> {
    Ok(Json(state.app.me(&player).await?))
}

async fn delete_me(State(state): State<AppState>, Auth(player): Auth) -> Result<StatusCode, ApiError> {
    state.app.delete_player(&player).await?;
    state.connections.end_all(&player.id);
    Ok(StatusCode::NO_CONTENT)
}

async fn public(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PlayerSummary>, ApiError> {
    Ok(Json(state.app.player(&id).await?))
}
