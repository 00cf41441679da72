//! The API as an OpenAPI 3.1 document, served at `GET /api/v1/openapi.json`.
//!
//! It is generated, not written: the schemas are derived from the `protocol` types the
//! handlers speak, and each operation from the `#[utoipa::path]` attribute above its handler.
//! [`ApiDoc`] lists every handler once. The errors every operation shares are added here, by
//! rule, so that the handlers name only their own: a secured operation can answer 401 and
//! 429, one with a body 400 and 413, every one 500, and every one outside the `server` tag
//! 503; an error response a handler names without a body gets the contract's error body, and
//! a response it gives no description the status's reason phrase.
//!
//! Tests keep the document and the router from drifting apart: the one below compares the
//! document with every `.route(...)` call in this crate's source, and `tests/api/openapi.rs`
//! sends each documented operation to a running server.

use std::sync::LazyLock;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use marauder_core::protocol::{ClientMessage, ErrorBody, Health, ServerMessage};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, OpenApi as Document, Ref, RefOr, Response, ResponseBuilder, Type,
};
use utoipa::{Modify, OpenApi};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(document))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Marauder",
        description = "Real-time location sharing. The wire contract, its additions and the \
            WebSocket protocol are described in docs/api.md; the WebSocket frames are the \
            `ClientMessage` and `ServerMessage` schemas. Every 4xx and 5xx answer has the \
            `ErrorBody` body: an unknown path is a 404 `not_found` (\"no such route\"), a known \
            path with a method it does not take a 405 `method_not_allowed`, and so are the \
            answers of the connection layer (408, 414, 431, and 503 past the connection cap; \
            docs/api.md, Connections)."
    ),
    paths(
        super::players::create,
        super::players::me,
        super::players::rename,
        super::players::delete_me,
        super::players::public,
        super::own_trail::own_trail,
        super::sessions::create_link_code,
        super::sessions::redeem,
        super::sessions::list,
        super::sessions::revoke,
        super::devices::list,
        super::devices::create,
        super::devices::revoke,
        super::maps::create,
        super::maps::list_public,
        super::maps::detail,
        super::maps::preview,
        super::admin::update,
        super::admin::remove,
        super::admin::new_invite_code,
        super::admin::remove_member,
        super::maps::join,
        super::maps::leave,
        super::maps::locations,
        super::maps::trail,
        super::places::create,
        super::places::list,
        super::places::detail,
        super::places::remove,
        super::locations::post_location,
        super::ws::upgrade,
        super::phones::owntracks::post,
        super::phones::osmand::get,
        super::phones::osmand::post,
        super::web::config,
        document,
        healthz,
        super::health::ready,
        super::metrics::render,
    ),
    components(schemas(ErrorBody, ClientMessage, ServerMessage)),
    modifiers(&SharedErrors),
    tags(
        (name = "players", description = "Players"),
        (name = "sessions", description = "A player's sessions (tokens) on its devices, and the link codes that add one"),
        (name = "devices", description = "A player's credentials for the phone apps"),
        (name = "maps", description = "Maps, their members, locations and trails"),
        (name = "places", description = "Places on a map: arrivals and departures"),
        (name = "locations", description = "Reporting a location"),
        (name = "live", description = "The WebSocket: live events of the maps followed"),
        (name = "phones", description = "The phone apps' own protocols (docs/phones.md)"),
        (name = "server", description = "The server itself"),
    )
)]
pub struct ApiDoc;

/// Serialised once: the document cannot change while the process runs.
static DOCUMENT: LazyLock<String> =
    LazyLock::new(|| ApiDoc::openapi().to_json().expect("an OpenAPI document always serialises"));

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "server",
    operation_id = "openapi",
    responses((status = 200, description = "this OpenAPI 3.1 document", content_type = "application/json"))
)]
async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT.as_str())
}

/// Liveness: answers while the process serves requests, whatever the backends do.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "server",
    operation_id = "healthz",
    responses((status = 200, body = Health))
)]
#[allow(dead_code)] // The route is a closure beside the router in `crate::router`; this documents it.
fn healthz() {}

/// The fields of the OsmAnd protocol, in the query (or a POST's form), as `osmand::Fields`
/// reads them.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // It describes the fields; the parser reads them by name.
pub(super) struct OsmAndFields {
    /// The device as `<id>.<secret>`, or its id alone with `key`.
    id: Option<String>,
    /// The device's secret, when `id` is the id alone.
    key: Option<String>,
    /// Degrees.
    lat: Option<f64>,
    /// Degrees.
    lon: Option<f64>,
    /// `lat,lon`, instead of `lat` and `lon`.
    location: Option<String>,
    /// Seconds (below 2^31), milliseconds, fractional seconds or ISO-8601.
    timestamp: Option<String>,
    /// Knots.
    speed: Option<f64>,
    /// Metres per second; wins over `speed`.
    speed_mps: Option<f64>,
    /// Degrees.
    bearing: Option<f64>,
    /// Degrees, when there is no `bearing`.
    heading: Option<f64>,
    /// Metres.
    altitude: Option<f64>,
    /// Metres.
    accuracy: Option<f64>,
}

/// The error responses shared by rule (see the module's documentation), and the auth schemes.
struct SharedErrors;

/// (status, component name, description) of each shared error response.
const SHARED: [(&str, &str, &str); 6] = [
    ("400", "BadRequest", "`bad_request`: the message names the field at fault"),
    ("401", "Unauthorized", "`unauthorized`: a missing, malformed or unknown credential"),
    ("413", "PayloadTooLarge", "`payload_too_large`: a body over 64 KiB"),
    ("429", "RateLimited", "`rate_limited`: too many failed credentials from this address, or a cap reached"),
    ("500", "Internal", "`internal`: an unexpected failure; the details are in the server's log"),
    ("503", "Unavailable", "`unavailable`: a backend cannot take the request; nothing was written"),
];

impl Modify for SharedErrors {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components.add_security_scheme("basic", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
        components.add_security_scheme(
            "access_token",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("access_token"))),
        );
        for (status, name, description) in SHARED {
            components.responses.insert(name.into(), RefOr::T(error_response(status, description)));
        }
        for item in doc.paths.paths.values_mut() {
            for operation in operations(item) {
                add_shared_errors(operation);
            }
        }
    }
}

/// The contract's error body, with `Retry-After` on a 429.
fn error_response(status: &str, description: &str) -> Response {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
    let mut response = ResponseBuilder::new().description(description).content("application/json", content);
    if status == "429" {
        let seconds = HeaderBuilder::new()
            .schema(utoipa::openapi::schema::Object::with_type(Type::Integer))
            .description(Some("whole seconds to wait before trying again"));
        response = response.header("Retry-After", seconds.build());
    }
    response.build()
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch, &mut item.head]
        .into_iter()
        .filter_map(Option::as_mut)
}

fn add_shared_errors(operation: &mut Operation) {
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_body = operation.request_body.is_some();
    let server = operation.tags.as_ref().is_some_and(|tags| tags.iter().any(|t| t == "server"));
    let responses = &mut operation.responses.responses;
    for (status, name, _) in SHARED {
        let applies = match status {
            "400" | "413" => has_body,
            "401" | "429" => secured,
            "503" => !server,
            _ => true,
        };
        if applies && !responses.contains_key(status) {
            responses.insert(status.into(), RefOr::Ref(Ref::from_response_name(name)));
        }
    }
    for (status, response) in responses.iter_mut() {
        if let RefOr::T(response) = response
            && response.description.is_empty()
        {
            let reason = status.parse().ok().and_then(|s| StatusCode::from_u16(s).ok());
            response.description = reason.and_then(|s| s.canonical_reason()).unwrap_or_default().to_owned();
        }
        // An error a handler names by its description alone carries the contract's body too.
        if let RefOr::T(response) = response
            && status.parse::<u16>().is_ok_and(|status| status >= 400)
            && response.content.is_empty()
        {
            let description = std::mem::take(&mut response.description);
            *response = error_response(status, &description);
        }
    }
}

#[cfg(test)]
mod tests;
