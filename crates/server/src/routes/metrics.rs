//! `GET /metrics`: every metric of this process in the Prometheus text format, for a
//! scraper. Not behind auth: it holds counts only, no player, map or secret.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use marauder_core::protocol::ErrorCode;

use crate::error::ApiError;
use crate::metrics;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "server",
    operation_id = "metrics",
    summary = "Every metric of this process, in the Prometheus text format",
    responses(
        (status = 200, description = "the metrics", content_type = "text/plain; version=0.0.4"),
        (status = 404, description = "`not_found`: this process records no metrics"),
    )
)]
async fn render() -> Response {
    let Some(handle) = metrics::handle() else {
        return ApiError::new(ErrorCode::NotFound, "metrics are not recorded by this process")
            .into_response();
    };
    // Folds the histograms' latest samples in, so a scrape sees everything counted so far.
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], handle.render()).into_response()
}
