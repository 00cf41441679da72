use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use marauder_core::protocol::{Accepted, LocationInput};

use crate::error::ApiError;
use crate::extract::{Auth, JsonBody};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/locations", post(post_location))
}

async fn post_location(
    State(state): State<AppState>,
    Auth(player): Auth,
    JsonBody(input): JsonBody<LocationInput>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(state.app.post_location(&player, &input).await?)))
}
