//! The wire format of Marauder's v1 API: every JSON body and WebSocket message named in
//! `api-contract.md`, and the additions documented in `docs/api.md`.
//!
//! This crate is the only place the JSON shapes are written down. The server, the client
//! library, the bench tool and the tests all speak through these types. It knows nothing of
//! HTTP, storage or validation rules: a value here is what travels, not what is allowed.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub mod ws;

pub use ws::{
    ClientMessage, Crossing, Event, EventBody, ServerMessage, Subscribe, Unsubscribe, UnsubscribeReason,
    encode, encode_events,
};

/// The largest request body or WebSocket frame the server accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Milliseconds since the Unix epoch. Fields of this type carry `#[schema(value_type = i64)]`:
/// the OpenAPI schema would otherwise refer to the alias as a component of its own.
pub type Millis = i64;

/// The `code` of an error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    /// 408: a request body that did not arrive within the server's body timeout.
    RequestTimeout,
    PayloadTooLarge,
    /// 414: a request target longer than the server reads.
    UriTooLong,
    UnsupportedMediaType,
    RateLimited,
    /// 431: a request line and headers together over the server's limit.
    HeaderFieldsTooLarge,
    Internal,
    Unavailable,
}

impl ErrorCode {
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UriTooLong => 414,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::RateLimited => 429,
            ErrorCode::HeaderFieldsTooLarge => 431,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }
}

/// `{"error": {"code", "message"}}`: the body of every 4xx and 5xx answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    #[default]
    Public,
    Private,
}

// ---------------------------------------------------------------------------------------
// Requests. Unknown fields are refused so that a misspelt optional field is an error, not
// silently ignored.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlayer {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMap {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinMap {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_code: Option<String>,
}

/// A location as a client reports it (`POST /api/v1/locations`, or a `location` frame).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationInput {
    pub lat: f64,
    pub lon: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub altitude: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub ts: Option<Millis>,
}

/// `POST /api/v1/players/me/devices`: a phone app's credential (an addition, docs/api.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDevice {
    pub name: String,
}

/// `POST /api/v1/sessions`: redeems a link code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemLinkCode {
    pub code: String,
}

/// `PATCH /api/v1/players/me`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenamePlayer {
    pub name: String,
}

/// `PATCH /api/v1/maps/{id}`: what to change; an absent field stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMap {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
}

// ---------------------------------------------------------------------------------------
// Responses.

/// The answer to `POST /api/v1/players/me/link-codes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LinkCode {
    pub code: String,
    #[schema(value_type = i64)]
    pub expires_at: Millis,
}

/// A signed-in session as listed: never its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    pub id: String,
    #[schema(value_type = i64)]
    pub created_at: Millis,
    /// When the session last authenticated, to the minute; absent until it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub last_seen: Option<Millis>,
    /// Whether this is the session making the request.
    pub current: bool,
    /// The `User-Agent` that created the session (an addition to the contract).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// The answer to `GET /api/v1/players/me/sessions`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Sessions {
    pub sessions: Vec<SessionInfo>,
}

/// The answer to `POST /api/v1/maps/{id}/invite-code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InviteCodeAnswer {
    pub invite_code: String,
}

/// The answer to `GET /api/v1/maps/{id}/preview` (an addition): what an invite screen shows
/// before one joins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MapPreview {
    pub id: String,
    pub name: String,
    pub visibility: Visibility,
    pub owner: PlayerSummary,
    /// How many members it has.
    pub members: u64,
    /// Whether the caller is one of them.
    pub member: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlayerCreated {
    pub id: String,
    pub name: String,
    pub token: String,
    #[schema(value_type = i64)]
    pub created_at: Millis,
}

/// The answer to `POST /api/v1/players/me/devices`: the only time `secret` is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeviceCreated {
    pub id: String,
    pub name: String,
    pub secret: String,
    #[schema(value_type = i64)]
    pub created_at: Millis,
}

/// A device as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Device {
    pub id: String,
    pub name: String,
    #[schema(value_type = i64)]
    pub created_at: Millis,
    /// When the device last presented its credential, to the minute; absent until it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub last_seen: Option<Millis>,
}

/// The answer to `GET /api/v1/players/me/devices`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Devices {
    pub devices: Vec<Device>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PlayerSummary {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MapSummary {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub id: String,
    pub name: String,
    #[schema(value_type = i64)]
    pub created_at: Millis,
    pub maps: Vec<MapSummary>,
}

/// The answer to `POST /api/v1/maps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MapCreated {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub visibility: Visibility,
    #[schema(value_type = i64)]
    pub created_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_code: Option<String>,
}

/// The answer to `GET /api/v1/maps/{id}` and to a join.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MapDetail {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub visibility: Visibility,
    /// An addition to the contract.
    #[schema(value_type = i64)]
    pub created_at: Millis,
    pub members: Vec<PlayerSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublicMap {
    pub id: String,
    pub name: String,
    pub members: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublicMaps {
    pub maps: Vec<PublicMap>,
    /// Present when more may follow: the `after` of the next page (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    pub maps: u64,
}

/// One stored position: what a trail holds and what every location message carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Fix {
    pub lat: f64,
    pub lon: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub altitude: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading: Option<f64>,
    #[schema(value_type = i64)]
    pub ts: Millis,
}

/// A player's position as it appears in a snapshot or a `location` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlayerLocation {
    pub player: String,
    pub name: String,
    #[serde(flatten)]
    pub fix: Fix,
}

/// `POST /api/v1/maps/{id}/places`: a named circle, `radius` in metres.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlace {
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    pub radius: f64,
}

/// A place on a map, shared by its members (contract "Places: arrivals and departures").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Place {
    pub id: String,
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    pub radius: f64,
    pub created_by: String,
    #[schema(value_type = i64)]
    pub created_at: Millis,
}

/// The answer to `GET /api/v1/maps/{id}/places`: oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Places {
    pub places: Vec<Place>,
}

/// The answer to `GET /api/v1/maps/{id}/places/{place}`: the place and the members inside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlaceDetail {
    #[serde(flatten)]
    pub place: Place,
    pub inside: Vec<String>,
}

/// The answer to `GET /api/v1/maps/{id}/locations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Locations {
    pub map: String,
    pub seq: u64,
    pub locations: Vec<PlayerLocation>,
}

/// The answer to `GET /api/v1/maps/{id}/trails/{player}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Trail {
    pub player: String,
    pub points: Vec<Fix>,
}

/// The answer to `GET /healthz` (an addition to the contract).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_optional_fields_are_absent() {
        let input: LocationInput =
            serde_json::from_str(r#"{"lat":1.5,"lon":2,"accuracy":null,"ts":null}"#).unwrap();
        assert_eq!(input.accuracy, None);
        assert_eq!(input.ts, None);
        assert_eq!(input.lon, 2.0);
    }

    #[test]
    fn unknown_fields_and_fractional_ts_are_refused() {
        assert!(serde_json::from_str::<LocationInput>(r#"{"lat":1,"lon":2,"x":1}"#).is_err());
        assert!(serde_json::from_str::<LocationInput>(r#"{"lat":1,"lon":2,"ts":1.5}"#).is_err());
    }

    #[test]
    fn coordinates_survive_a_round_trip_exactly() {
        let json = r#"{"lat":51.50595889635699,"lon":-0.12000595082937907}"#;
        let input: LocationInput = serde_json::from_str(json).unwrap();
        assert_eq!(input.lon, -0.12000595082937907);
        assert_eq!(serde_json::to_string(&input).unwrap(), json);
    }

    #[test]
    fn invite_code_key_is_absent_for_public_maps() {
        let map = MapCreated {
            id: "m".into(),
            name: "n".into(),
            owner: "o".into(),
            visibility: Visibility::Public,
            created_at: 1,
            invite_code: None,
        };
        let json = serde_json::to_value(&map).unwrap();
        assert!(json.get("invite_code").is_none());
        assert_eq!(json["visibility"], "public");
    }
}
