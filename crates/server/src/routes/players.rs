//! A player: signing up, its own record (read, rename, delete), and another's public face.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use marauder_core::protocol::{CreatePlayer, Me, PlayerCreated, PlayerSummary, RenamePlayer};

use crate::error::ApiError;
use crate::extract::{Auth, JsonBody, UserAgent};
use crate::limits::{ClientAddr, Creation};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/players", post(create))
        .route("/api/v1/players/me", get(me).patch(rename).delete(delete_me))
        .route("/api/v1/players/{id}", get(public))
}

#[utoipa::path(
    post,
    path = "/api/v1/players",
    tag = "players",
    operation_id = "create_player",
    summary = "Creates a player and its first session (token); the session keeps the `User-Agent`",
    request_body = CreatePlayer,
    responses(
        (status = 201, description = "the player, with its secret token", body = PlayerCreated),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`"),
        (status = 429, description = "`rate_limited`: too many sign-ups from this address"),
    )
)]
async fn create(
    State(state): State<AppState>,
    client: ClientAddr,
    agent: UserAgent,
    JsonBody(req): JsonBody<CreatePlayer>,
) -> Result<(StatusCode, Json<PlayerCreated>), ApiError> {
    state.limits.create(client, Creation::SignUp)?;
    Ok((StatusCode::CREATED, Json(state.app.create_player(req, agent.client()).await?)))
}

#[utoipa::path(
    get,
    path = "/api/v1/players/me",
    tag = "players",
    operation_id = "me",
    summary = "The calling player and its maps",
    security(("bearer" = [])),
    responses((status = 200, body = Me))
)]
async fn me(State(state): State<AppState>, Auth(player): Auth) -> Result<Json<Me>, ApiError> {
    Ok(Json(state.app.me(&player).await?))
}

#[utoipa::path(
    patch,
    path = "/api/v1/players/me",
    tag = "players",
    operation_id = "rename_me",
    summary = "Renames the calling player; each of its maps gets a `renamed` event",
    security(("bearer" = [])),
    request_body = RenamePlayer,
    responses(
        (status = 200, description = "the player as `GET /players/me` answers it", body = Me),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`"),
    )
)]
async fn rename(
    State(state): State<AppState>,
    Auth(player): Auth,
    JsonBody(req): JsonBody<RenamePlayer>,
) -> Result<Json<Me>, ApiError> {
    // The player's sockets, here and on every handler, take the new name through the core's
    // notice before its `renamed` events go out.
    Ok(Json(state.app.rename(&player, req).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/players/me",
    tag = "players",
    operation_id = "delete_me",
    summary = "Deletes the calling player: it leaves every map, its trail is erased",
    security(("bearer" = [])),
    responses((status = 204, description = "deleted; the token opens nothing from now on"))
)]
async fn delete_me(State(state): State<AppState>, Auth(player): Auth) -> Result<StatusCode, ApiError> {
    state.app.delete_player(&player).await?;
    state.connections.end_all(&player.id);
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/v1/players/{id}",
    tag = "players",
    operation_id = "player",
    summary = "A player's public face",
    params(("id" = String, Path, description = "the player's id")),
    responses((status = 200, body = PlayerSummary), (status = 404, description = "`not_found`: no such player"))
)]
async fn public(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PlayerSummary>, ApiError> {
    Ok(Json(state.app.player(&id).await?))
}
