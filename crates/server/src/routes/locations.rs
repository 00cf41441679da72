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

#[utoipa::path(
    post,
    path = "/api/v1/locations",
    tag = "locations",
    operation_id = "post_location",
    summary = "Reports the calling player's location to every map it is in",
    security(("bearer" = [])),
    request_body = LocationInput,
    responses(
        (status = 202, description = "in the trail and published; `maps`: how many maps were informed", body = Accepted),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`"),
    )
)]
async fn post_location(
    State(state): State<AppState>,
    Auth(player): Auth,
    JsonBody(input): JsonBody<LocationInput>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(state.app.post_location(&player, &input).await?)))
}
