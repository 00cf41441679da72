//! The phone apps' own protocols: OwnTracks (HTTP mode) and OsmAnd / Traccar Client. Each
//! handler authenticates a device credential, turns the app's report into the contract's
//! units, and hands it to the same `post_location` the REST route uses; nothing else differs.
//! Setting the apps up: docs/phones.md.

// The OpenAPI document (`routes::openapi`) names their handlers.
pub(super) mod osmand;
pub(super) mod owntracks;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::{Extension, Router};
use marauder_core::protocol::ErrorCode;
use marauder_core::{CoreError, Player};

use crate::error::ApiError;
use crate::limits::ClientAddr;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/owntracks",
            // What each phone was last handed: one memory per server.
            post(owntracks::post).layer(Extension(Arc::new(owntracks::WaypointsSent::default()))),
        )
        .route("/api/v1/osmand", get(osmand::get).post(osmand::post))
}

/// The player whose device presented `id` and `secret`: a guess, rate limited per address.
async fn authenticate(
    state: &AppState,
    client: ClientAddr,
    id: &str,
    secret: &str,
) -> Result<Player, ApiError> {
    let attempt = state.app.authenticate_device(id, secret);
    state.limits.guess(client, attempt).await.map_err(|err| match err {
        CoreError::Unauthorized => unauthorized(),
        other => other.into(),
    })
}

fn unauthorized() -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, "missing, malformed or unknown device credential")
}

/// Phone apps write "unknown" as a negative number (-1) where a value may be missing.
fn known(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_nan() || *v >= 0.0)
}

/// A course in degrees: unknown when negative, and 360 is north as 0 is.
fn course(value: Option<f64>) -> Option<f64> {
    known(value).map(|v| if v == 360.0 { 0.0 } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_means_unknown_and_360_is_0() {
        assert_eq!(known(Some(-1.0)), None);
        assert_eq!(known(Some(0.0)), Some(0.0));
        assert!(known(Some(f64::NAN)).unwrap().is_nan(), "NaN is left for validation to refuse");
        assert_eq!(course(Some(360.0)), Some(0.0));
        assert_eq!(course(Some(359.5)), Some(359.5));
        assert_eq!(course(Some(-1.0)), None);
    }
}
