//! The web app: its embedded files at `/`, and `/config.json`, the settings it reads at
//! start (the map tiles). Anything else that is not a file is the API's 404.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::error;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/config.json", get(config))
}

#[derive(Serialize, utoipa::ToSchema)]
struct WebConfig {
    /// A Leaflet URL template, or null for the plain parchment.
    tiles: Option<String>,
    /// HTML credit for the tiles.
    attribution: Option<String>,
}

#[utoipa::path(
    get,
    path = "/config.json",
    tag = "server",
    operation_id = "web_config",
    summary = "The web app's settings: its map tiles",
    responses((status = 200, body = WebConfig))
)]
async fn config(State(state): State<AppState>) -> Json<WebConfig> {
    let tiles = state.config.tiles.clone();
    Json(WebConfig { attribution: tiles.as_ref().map(|_| state.config.tiles_attribution.clone()), tiles })
}

/// Serves a file of the app for GET and HEAD, else the API's 404.
pub async fn fallback(method: Method, uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let readable = method == Method::GET || method == Method::HEAD;
    let asset = (readable && !path.starts_with("api/")).then(|| marauder_web::asset(path)).flatten();
    let Some(asset) = asset else {
        return error::not_found().await.into_response();
    };
    let cache = if asset.immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
    (
        [
            (header::CONTENT_TYPE, asset.mime),
            (header::CACHE_CONTROL, cache.to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (header::REFERRER_POLICY, "no-referrer".to_owned()),
        ],
        asset.bytes,
    )
        .into_response()
}
