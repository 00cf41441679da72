//! A player's sessions (one per signed-in browser or program, each a token): the one-time
//! link codes that bring another device in, redeeming one, listing and revoking them. A
//! revoked session's WebSockets on this handler close with 4001.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use marauder_core::protocol::{LinkCode, PlayerCreated, RedeemLinkCode, Sessions};

use crate::error::ApiError;
use crate::extract::{Auth, JsonBody, UserAgent};
use crate::limits::{ClientAddr, Creation};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/players/me/link-codes", post(create_link_code))
        .route("/api/v1/sessions", post(redeem))
        .route("/api/v1/players/me/sessions", get(list))
        .route("/api/v1/players/me/sessions/{id}", delete(revoke))
}

#[utoipa::path(
    post,
    path = "/api/v1/players/me/link-codes",
    tag = "sessions",
    operation_id = "create_link_code",
    summary = "A one-time code (10 minutes, single use) that signs another device in as this player",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "the code and when it expires (ms)", body = LinkCode),
        (status = 400, description = "`bad_request`: the player has the most sessions allowed"),
        (status = 429, description = "`rate_limited`: too many link codes from this address, or failed credentials"),
    )
)]
async fn create_link_code(
    State(state): State<AppState>,
    Auth(player): Auth,
    client: ClientAddr,
) -> Result<(StatusCode, Json<LinkCode>), ApiError> {
    state.limits.create(client, Creation::LinkCode)?;
    Ok((StatusCode::CREATED, Json(state.app.create_link_code(&player).await?)))
}

#[utoipa::path(
    post,
    path = "/api/v1/sessions",
    tag = "sessions",
    operation_id = "redeem_link_code",
    summary = "Redeems a link code: a new session (token) of its player, which keeps the `User-Agent`",
    request_body = RedeemLinkCode,
    responses(
        (status = 201, description = "the player, with the new session's token", body = PlayerCreated),
        (status = 403, description = "`forbidden`: an unknown, used or expired code"),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`"),
        (status = 429, description = "`rate_limited`: too many failed codes from this address"),
    )
)]
async fn redeem(
    State(state): State<AppState>,
    client: ClientAddr,
    agent: UserAgent,
    JsonBody(req): JsonBody<RedeemLinkCode>,
) -> Result<(StatusCode, Json<PlayerCreated>), ApiError> {
    // A presented code is a guess: checked before, and only a refusal spends.
    let redeemed = state.limits.guess(client, state.app.redeem_link_code(req, agent.client())).await?;
    Ok((StatusCode::CREATED, Json(redeemed)))
}

#[utoipa::path(
    get,
    path = "/api/v1/players/me/sessions",
    tag = "sessions",
    operation_id = "sessions",
    summary = "The calling player's sessions, oldest first; never a token",
    security(("bearer" = [])),
    responses((status = 200, body = Sessions))
)]
async fn list(State(state): State<AppState>, Auth(player): Auth) -> Result<Json<Sessions>, ApiError> {
    Ok(Json(state.app.sessions(&player).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/players/me/sessions/{id}",
    tag = "sessions",
    operation_id = "revoke_session",
    summary = "Revokes a session: its token stops working, its WebSockets close with 4001",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the session's id, or `current` for the calling one")),
    responses(
        (status = 204, description = "revoked"),
        (status = 404, description = "`not_found`: not a session of this player"),
    )
)]
async fn revoke(
    State(state): State<AppState>,
    Auth(player): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let revoked = state.app.revoke_session(&player, &id).await?;
    state.connections.end_session(&player.id, &revoked);
    Ok(StatusCode::NO_CONTENT)
}
