//! OwnTracks in HTTP mode (<https://owntracks.org/booklet/tech/http/>): the app POSTs each
//! message it would publish over MQTT as one JSON object, with HTTP Basic auth (here the
//! device id as user and its secret as password), and shows the JSON array it gets back as
//! its friends: a `card` (name) and a `location` for every co-member of the player's maps,
//! and the places of those maps as its regions when they changed (`waypoints.rs`).

mod waypoints;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use marauder_core::protocol::{ErrorCode, LocationInput, PlayerLocation};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{authenticate, course, known, unauthorized};
use crate::error::ApiError;
use crate::extract::{RawBody, from_value};
use crate::limits::ClientAddr;
use crate::state::AppState;
pub use waypoints::WaypointsSent;

/// Friends in one reply, most recently seen first.
const MAX_FRIENDS: usize = 200;

#[utoipa::path(
    post,
    path = "/api/v1/owntracks",
    tag = "phones",
    operation_id = "owntracks",
    summary = "OwnTracks in HTTP mode: one message; answers the co-members as friends, and the maps' places as regions when they changed",
    security(("basic" = [])),
    request_body(
        content = Option<Object>,
        description = "one OwnTracks message; a `location` is stored, any other `_type` (or an empty body) ignored",
    ),
    responses(
        (status = 200, description = "a `card` and a `location` for each co-member with a position, then a `setWaypoints` `cmd` with the places of the player's maps when that list changed since this device was last handed it", body = Vec<Object>),
        (status = 400, description = "`bad_request`: a malformed message, or an `encrypted` one"),
    )
)]
pub async fn post(
    State(state): State<AppState>,
    Extension(sent): Extension<Arc<WaypointsSent>>,
    client: ClientAddr,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    match handle(&state, &sent, client, &headers, &body).await {
        Ok(answer) => Json(answer).into_response(),
        Err(err) if err.code == ErrorCode::Unauthorized => {
            let mut response = err.into_response();
            let challenge = HeaderValue::from_static(r#"Basic realm="Marauder", charset="UTF-8""#);
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
            response
        }
        Err(err) => err.into_response(),
    }
}

async fn handle(
    state: &AppState,
    sent: &WaypointsSent,
    client: ClientAddr,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<Value>, ApiError> {
    let (user, password) = basic_credentials(headers).ok_or_else(unauthorized)?;
    let player = authenticate(state, client, &user, &password).await?;
    if let Some(input) = parse(body)? {
        state.app.post_location(&player, &input).await?;
    }
    let friends = state.app.co_members(&player, MAX_FRIENDS).await?;
    let mut answer: Vec<Value> = friends.iter().flat_map(friend).collect();
    answer.extend(waypoints::command(state, sent, &user, &player).await);
    Ok(answer)
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// A `_type: location` message: every field the apps send that has a place in a fix.
#[derive(Deserialize)]
struct Location {
    lat: f64,
    lon: f64,
    /// Seconds since the epoch.
    tst: Option<f64>,
    /// Metres.
    acc: Option<f64>,
    /// Metres.
    alt: Option<f64>,
    /// km/h.
    vel: Option<f64>,
    /// Degrees.
    cog: Option<f64>,
}

/// The location a message carries, if it is a `location`. Every other type is accepted
/// and ignored: a `transition` is always accompanied by a `location` of its own, so taking
/// both would put the point in the trail twice; and arrivals and departures are decided by
/// the server from positions, for every app alike, so neither a `transition` nor the
/// phone's own regions (`waypoint`, `waypoints`) change anything. An empty body is what the
/// app posts when a friend is deleted.
fn parse(body: &[u8]) -> Result<Option<LocationInput>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let message: Value = serde_json::from_slice(body)
        .map_err(|err| ApiError::bad_request(format!("malformed JSON: {err}")))?;
    let kind = message.get("_type").and_then(Value::as_str);
    match kind {
        Some("location") => {
            let location: Location = from_value(message)?;
            Ok(Some(location.into_input()?))
        }
        Some("encrypted") => Err(ApiError::bad_request(
            "_type: encrypted messages cannot be read here; clear the encryption key in OwnTracks",
        )),
        Some(_) => Ok(None),
        None => Err(ApiError::bad_request("_type: missing; the body must be an OwnTracks message object")),
    }
}

impl Location {
    fn into_input(self) -> Result<LocationInput, ApiError> {
        let ts = match self.tst {
            Some(tst) if tst.is_finite() && tst.abs() < 1e12 => Some((tst * 1000.0).round() as i64),
            Some(_) => return Err(ApiError::bad_request("tst: must be seconds since 1970")),
            None => None,
        };
        Ok(LocationInput {
            lat: self.lat,
            lon: self.lon,
            accuracy: known(self.acc),
            altitude: self.alt,
            speed: known(self.vel).map(|kmh| kmh / 3.6),
            heading: course(self.cog),
            ts,
        })
    }
}

/// The card and the location OwnTracks shows for one friend; `topic` ties them together.
fn friend(friend: &PlayerLocation) -> [Value; 2] {
    let topic = format!("owntracks/marauder/{}", friend.player);
    let tid = tracker_id(&friend.name);
    let card = json!({ "_type": "card", "name": friend.name, "tid": tid, "topic": topic });
    let fix = &friend.fix;
    let mut location = json!({
        "_type": "location",
        "lat": fix.lat,
        "lon": fix.lon,
        "tst": fix.ts.div_euclid(1000),
        "tid": tid,
        "topic": topic,
    });
    let rounded = [
        ("acc", fix.accuracy),
        ("alt", fix.altitude),
        ("vel", fix.speed.map(|mps| mps * 3.6)),
        ("cog", fix.heading),
    ];
    for (key, value) in rounded {
        if let Some(value) = value {
            location[key] = json!(value.round() as i64);
        }
    }
    [card, location]
}

/// OwnTracks' two-character tracker id, from a name: "Harry Potter" is HP, "Ron" is RO.
fn tracker_id(name: &str) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    let letters: String = match words.as_slice() {
        [first, second, ..] => first.chars().take(1).chain(second.chars().take(1)).collect(),
        _ => name.chars().filter(|c| !c.is_whitespace()).take(2).collect(),
    };
    letters.to_uppercase()
}

#[cfg(test)]
mod tests {
    use marauder_core::protocol::Fix;

    use super::*;

    #[test]
    fn a_location_message_converts_to_the_contract_units() {
        let body = br#"{"_type":"location","acc":12,"alt":48,"batt":83,"bs":1,"cog":360,"conn":"m",
            "lat":55.9486,"lon":-3.1999,"t":"u","tid":"AL","tst":1764115200,"vac":3,"vel":18,
            "topic":"owntracks/alice/phone","inregions":["home"],"created_at":1764115201}"#;
        let input = parse(body).unwrap().unwrap();
        assert_eq!(input.lat, 55.9486);
        assert_eq!(input.lon, -3.1999);
        assert_eq!(input.ts, Some(1_764_115_200_000));
        assert_eq!(input.accuracy, Some(12.0));
        assert_eq!(input.altitude, Some(48.0));
        assert_eq!(input.speed, Some(5.0));
        assert_eq!(input.heading, Some(0.0));
    }

    #[test]
    fn other_messages_are_ignored_and_bad_ones_refused() {
        assert!(parse(b"").unwrap().is_none());
        assert!(parse(br#"{"_type":"lwt","tst":1}"#).unwrap().is_none());
        assert!(
            parse(br#"{"_type":"transition","lat":1,"lon":2,"tst":3,"event":"enter"}"#).unwrap().is_none()
        );
        let message = |body: &[u8]| parse(body).unwrap_err().message;
        assert!(message(br#"{"_type":"location","lon":2}"#).starts_with("missing field `lat`"));
        assert!(message(br#"{"_type":"location","lat":"x","lon":2}"#).starts_with("lat: "));
        assert!(message(br#"{"lat":1,"lon":2}"#).starts_with("_type: missing"));
        assert!(message(br#"{"_type":"encrypted","data":"..."}"#).starts_with("_type: encrypted"));
        assert!(message(b"[1,2]").starts_with("_type: missing"));
        assert!(message(b"{nope").starts_with("malformed JSON"));
    }

    #[test]
    fn friends_carry_seconds_km_h_and_a_shared_topic() {
        let fix = Fix {
            lat: 1.5,
            lon: 2.5,
            accuracy: Some(4.4),
            altitude: None,
            speed: Some(2.5),
            heading: Some(90.0),
            ts: 1_764_115_200_999,
        };
        let location = PlayerLocation { player: "p1".into(), name: "Harry Potter".into(), fix };
        let [card, location] = friend(&location);
        assert_eq!(
            card,
            json!({"_type":"card","name":"Harry Potter","tid":"HP","topic":"owntracks/marauder/p1"})
        );
        assert_eq!(
            location,
            json!({"_type":"location","lat":1.5,"lon":2.5,"tst":1_764_115_200i64,"tid":"HP",
                "topic":"owntracks/marauder/p1","acc":4,"vel":9,"cog":90})
        );
        assert_eq!(tracker_id("ron"), "RO");
        assert_eq!(tracker_id("é"), "É");
    }

    #[test]
    fn basic_credentials_are_read() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic dXNlcjpwYTpzcw=="));
        assert_eq!(basic_credentials(&headers), Some(("user".into(), "pa:ss".into())));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer dXNlcjpwYXNz"));
        assert_eq!(basic_credentials(&headers), None);
    }
}

#[cfg(test)]
mod properties;
