//! Maps: creating, listing the public ones, reading one (its detail, preview, locations and
//! trails), joining and leaving. What only an owner may do is in `admin`.

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use marauder_core::TrailRange;
use marauder_core::protocol::{
    CreateMap, JoinMap, Locations, MapCreated, MapDetail, MapPreview, PublicMaps, Trail,
};

use crate::error::ApiError;
use crate::extract::{Auth, JsonBody, OptionalJsonBody, Params};
use crate::limits::{ClientAddr, Creation};
use crate::state::AppState;

use super::trail_files::{self, Format, Heading};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/maps", post(create).get(list_public))
        .route("/api/v1/maps/{id}", get(detail))
        .route("/api/v1/maps/{id}/preview", get(preview))
        .route("/api/v1/maps/{id}/join", post(join))
        .route("/api/v1/maps/{id}/leave", post(leave))
        .route("/api/v1/maps/{id}/locations", get(locations))
        .route("/api/v1/maps/{id}/trails/{player}", get(trail))
}

#[utoipa::path(
    post,
    path = "/api/v1/maps",
    tag = "maps",
    operation_id = "create_map",
    summary = "Creates a map; its creator is a member",
    security(("bearer" = [])),
    request_body = CreateMap,
    responses(
        (status = 201, body = MapCreated),
        (status = 415, description = "`unsupported_media_type`: the body is not `application/json`"),
    )
)]
async fn create(
    State(state): State<AppState>,
    Auth(player): Auth,
    client: ClientAddr,
    JsonBody(req): JsonBody<CreateMap>,
) -> Result<(StatusCode, Json<MapCreated>), ApiError> {
    state.limits.create(client, Creation::Map)?;
    Ok((StatusCode::CREATED, Json(state.app.create_map(&player, req).await?)))
}

#[utoipa::path(
    get,
    path = "/api/v1/maps",
    tag = "maps",
    operation_id = "public_maps",
    summary = "Public maps, most members first, a page at a time",
    params(
        ("limit" = Option<u32>, Query, description = "at most this many maps (default 100, max 500)"),
        ("after" = Option<String>, Query, description = "the `next` cursor of the previous page"),
        ("q" = Option<String>, Query, description = "keeps the maps whose name contains this, ignoring case"),
    ),
    responses((status = 200, body = PublicMaps), (status = 400, description = "`bad_request`: a malformed parameter"))
)]
async fn list_public(State(state): State<AppState>, uri: Uri) -> Result<Json<PublicMaps>, ApiError> {
    let params = Params::from_uri(&uri, &["limit", "after", "q"])?;
    let limit = params.parse("limit")?;
    Ok(Json(state.app.public_maps(limit, params.text("after"), params.text("q")).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/maps/{id}",
    tag = "maps",
    operation_id = "map",
    summary = "A map and its members (members only)",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the map's id")),
    responses(
        (status = 200, body = MapDetail),
        (status = 403, description = "`forbidden`: not a member"),
        (status = 404, description = "`not_found`: no such map"),
    )
)]
async fn detail(
    State(state): State<AppState>,
    Auth(player): Auth,
    Path(id): Path<String>,
) -> Result<Json<MapDetail>, ApiError> {
    Ok(Json(state.app.map_detail(&player, &id).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/maps/{id}/join",
    tag = "maps",
    operation_id = "join_map",
    summary = "Joins a map (a private one with its invite code); joining again changes nothing",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the map's id")),
    request_body(content = Option<JoinMap>, description = "optional; required for a private map"),
    responses(
        (status = 200, body = MapDetail),
        (status = 403, description = "`forbidden`: a wrong or missing invite code"),
        (status = 404, description = "`not_found`: no such map"),
        (status = 415, description = "`unsupported_media_type`: a body that is not `application/json`"),
    )
)]
async fn join(
    State(state): State<AppState>,
    Auth(player): Auth,
    client: ClientAddr,
    Path(id): Path<String>,
    OptionalJsonBody(req): OptionalJsonBody<JoinMap>,
) -> Result<Json<MapDetail>, ApiError> {
    let req = req.unwrap_or_default();
    // Only a presented code is a guess; a join without one guesses nothing.
    let guessing = req.invite_code.is_some();
    let joining = state.app.join(&player, &id, req);
    let joined = if guessing { state.limits.guess(client, joining).await? } else { joining.await? };
    Ok(Json(joined))
}

#[utoipa::path(
    get,
    path = "/api/v1/maps/{id}/preview",
    tag = "maps",
    operation_id = "preview_map",
    summary = "What an invite screen shows before joining: name, owner, member count",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "the map's id"),
        ("invite_code" = Option<String>, Query, description = "a private map's invite code (not needed by a member)"),
    ),
    responses(
        (status = 200, body = MapPreview),
        (status = 400, description = "`bad_request`: an unknown query parameter"),
        (status = 403, description = "`forbidden`: a private map, and a wrong or missing invite code"),
        (status = 404, description = "`not_found`: no such map"),
    )
)]
async fn preview(
    State(state): State<AppState>,
    Auth(player): Auth,
    client: ClientAddr,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Json<MapPreview>, ApiError> {
    let params = Params::from_uri(&uri, &["invite_code"])?;
    let code = params.text("invite_code");
    let previewing = state.app.preview(&player, &id, code);
    // As on join: only a presented code is a guess.
    let preview =
        if code.is_some() { state.limits.guess(client, previewing).await? } else { previewing.await? };
    Ok(Json(preview))
}

#[utoipa::path(
    post,
    path = "/api/v1/maps/{id}/leave",
    tag = "maps",
    operation_id = "leave_map",
    summary = "Leaves a map; leaving a map one is not in changes nothing",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the map's id")),
    responses((status = 204, description = "left"), (status = 404, description = "`not_found`: no such map"))
)]
async fn leave(
    State(state): State<AppState>,
    Auth(player): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.app.leave(&player, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/v1/maps/{id}/locations",
    tag = "maps",
    operation_id = "map_locations",
    summary = "Each member's latest location, and the map's seq (members only)",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the map's id")),
    responses(
        (status = 200, body = Locations),
        (status = 403, description = "`forbidden`: not a member"),
        (status = 404, description = "`not_found`: no such map"),
    )
)]
async fn locations(
    State(state): State<AppState>,
    Auth(player): Auth,
    Path(id): Path<String>,
) -> Result<Json<Locations>, ApiError> {
    Ok(Json(state.app.locations(&player, &id).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/maps/{id}/trails/{player}",
    tag = "maps",
    operation_id = "trail",
    summary = "A member's previous locations, oldest first, as JSON, GPX or GeoJSON (members only)",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "the map's id"),
        ("player" = String, Path, description = "a member's id"),
        ("since" = Option<i64>, Query, description = "only points with `ts` greater than this (ms)"),
        ("until" = Option<i64>, Query, description = "only points with `ts` at most this (ms); below `since`: no point"),
        ("limit" = Option<u32>, Query, description = "the oldest n of those, 1 to 1000 (default 1000)"),
        ("format" = Option<String>, Query, description = "`json` (default), `gpx` (GPX 1.1) or `geojson` (RFC 7946)"),
    ),
    responses(
        (status = 200, description = "the trail, in the `format` asked", content(
            (Trail = "application/json"),
            (String = "application/gpx+xml"),
            (String = "application/geo+json"),
        )),
        (status = 400, description = "`bad_request`: an unknown or malformed query parameter"),
        (status = 403, description = "`forbidden`: not a member"),
        (status = 404, description = "`not_found`: no such map, or the player is not a member"),
    )
)]
async fn trail(
    State(state): State<AppState>,
    Auth(player): Auth,
    Path((id, of)): Path<(String, String)>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params = Params::from_uri(&uri, &["since", "until", "limit", "format"])?;
    let range = TrailRange { since: params.parse("since")?, until: params.parse("until")? };
    let limit = params.parse("limit")?;
    let format = Format::parse(params.text("format"))?;
    let trail = state.app.trail(&player, &id, &of, range, limit).await?;
    if format == Format::Json {
        return Ok(Json(trail).into_response());
    }
    let body = trail_files::encode(format, &Heading { player: &trail.player, name: None }, &trail.points);
    Ok((format.headers(&trail.player), body).into_response())
}
