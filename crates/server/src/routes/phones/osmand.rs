//! The OsmAnd protocol as Traccar reads it, and Traccar Client's JSON body, on one path.
//!
//! - OsmAnd and older Traccar Clients: `GET` or `POST` with query or form fields `id`, `lat`,
//!   `lon` (or `location=lat,lon`), `timestamp`, `speed` (knots), `bearing`/`heading`,
//!   `altitude`, `accuracy`; any other field (`batt`, `hdop`, `valid`, ...) is ignored.
//!   OsmAnd itself fills its `{5}` placeholder in m/s, not knots, so the URL Marauder gives
//!   OsmAnd users names it `speed_mps` (an addition; it wins over `speed`).
//! - Traccar Client 9: `POST` of `{"location": {"timestamp", "coords": {...}}, "device_id"}`
//!   with speed in m/s (a buffered client may send `location` as an array, oldest first).
//!
//! These apps send a device identifier only, so the identifier they are configured with is
//! `<device id>.<secret>`; or the id alone with the secret in a `key` field of the URL.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use marauder_core::protocol::{LocationInput, Millis};
use marauder_core::split_identifier;
use serde::Deserialize;
use serde_json::Value;

use super::{authenticate, course, known, unauthorized};
use crate::error::ApiError;
use crate::extract::{RawBody, from_value, is_json};
use crate::limits::ClientAddr;
use crate::state::AppState;

/// Knots to metres per second (Traccar reads OsmAnd's `speed` in knots).
const KNOT: f64 = 1852.0 / 3600.0;

#[utoipa::path(
    get,
    path = "/api/v1/osmand",
    tag = "phones",
    operation_id = "osmand_get",
    summary = "The OsmAnd protocol: a location in the query",
    params(crate::routes::openapi::OsmAndFields),
    responses(
        (status = 200, description = "stored and published; an empty body"),
        (status = 400, description = "`bad_request`: a missing or malformed field"),
        (status = 401, description = "`unauthorized`: a missing or unknown device credential"),
        (status = 429, description = "`rate_limited`: too many failed credentials from this address"),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    client: ClientAddr,
    RawQuery(query): RawQuery,
) -> Result<StatusCode, ApiError> {
    let fields = Fields::parse(query.as_deref().unwrap_or_default().as_bytes())?;
    let player = authenticate_fields(&state, client, &fields, None).await?;
    state.app.post_location(&player, &fields.location()?).await?;
    Ok(StatusCode::OK)
}

#[utoipa::path(
    post,
    path = "/api/v1/osmand",
    tag = "phones",
    operation_id = "osmand_post",
    summary = "The OsmAnd protocol as a form, or Traccar Client's JSON report",
    params(crate::routes::openapi::OsmAndFields),
    request_body(
        content(
            (Option<Object> = "application/x-www-form-urlencoded"),
            (Option<Object> = "application/json"),
        ),
        description = "OsmAnd's fields as a form, or Traccar Client's `{\"location\", \"device_id\"}`",
    ),
    responses(
        (status = 200, description = "stored and published; an empty body"),
        (status = 401, description = "`unauthorized`: a missing or unknown device credential"),
        (status = 429, description = "`rate_limited`: too many failed credentials from this address"),
    )
)]
pub async fn post(
    State(state): State<AppState>,
    client: ClientAddr,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    let query = Fields::parse(query.as_deref().unwrap_or_default().as_bytes())?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if is_json(content_type) || first == Some(&b'{') {
        let report = TraccarReport::parse(&body)?;
        let player = authenticate_fields(&state, client, &query, report.device_id.as_deref()).await?;
        state.app.post_locations(&player, &report.locations()?).await?;
    } else {
        // Form fields, after the URL's own (the configured URL may carry `key`).
        let mut fields = query;
        fields.0.extend(Fields::parse(&body)?.0);
        let player = authenticate_fields(&state, client, &fields, None).await?;
        state.app.post_location(&player, &fields.location()?).await?;
    }
    Ok(StatusCode::OK)
}

/// `<id>.<secret>`, or the id with the secret in `key`.
async fn authenticate_fields(
    state: &AppState,
    client: ClientAddr,
    fields: &Fields,
    device_id: Option<&str>,
) -> Result<marauder_core::Player, ApiError> {
    let identifier =
        device_id.or_else(|| fields.get("id")).or_else(|| fields.get("deviceid")).ok_or_else(unauthorized)?;
    let (id, secret) = match fields.get("key") {
        Some(key) => (identifier, key),
        None => split_identifier(identifier).ok_or_else(unauthorized)?,
    };
    authenticate(state, client, id, secret).await
}

/// Query or form fields in order; the first of a name wins.
struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(raw: &[u8]) -> Result<Fields, ApiError> {
        serde_urlencoded::from_bytes(raw)
            .map(Fields)
            .map_err(|err| ApiError::bad_request(format!("malformed query or form: {err}")))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    fn number(&self, name: &str) -> Result<Option<f64>, ApiError> {
        self.get(name).map(|raw| number(name, raw)).transpose()
    }

    fn location(&self) -> Result<LocationInput, ApiError> {
        let (lat, lon) = match (self.number("lat")?, self.number("lon")?, self.get("location")) {
            (Some(lat), Some(lon), _) => (lat, lon),
            (None, None, Some(pair)) => {
                let (lat, lon) = pair
                    .split_once(',')
                    .ok_or_else(|| ApiError::bad_request("location: must be `lat,lon`"))?;
                (number("location", lat)?, number("location", lon)?)
            }
            (None, _, None) => return Err(ApiError::bad_request("lat: missing")),
            _ => return Err(ApiError::bad_request("lon: missing")),
        };
        let heading = match self.number("bearing")? {
            Some(bearing) => Some(bearing),
            None => self.number("heading")?,
        };
        Ok(LocationInput {
            lat,
            lon,
            accuracy: known(self.number("accuracy")?),
            altitude: self.number("altitude")?,
            speed: match self.number("speed_mps")? {
                Some(mps) => known(Some(mps)),
                None => known(self.number("speed")?).map(|knots| knots * KNOT),
            },
            heading: course(heading),
            ts: self.get("timestamp").map(timestamp).transpose()?,
        })
    }
}

fn number(name: &str, raw: &str) -> Result<f64, ApiError> {
    raw.trim().parse().map_err(|_| ApiError::bad_request(format!("{name}: must be a number")))
}

/// Seconds or milliseconds since 1970 (below 2^31 it is seconds, as Traccar reads it),
/// fractional seconds, or an ISO-8601 time (UTC when it names no offset).
fn timestamp(raw: &str) -> Result<Millis, ApiError> {
    let raw = raw.trim();
    let bad = || ApiError::bad_request("timestamp: must be seconds, milliseconds or an ISO-8601 time");
    if let Ok(n) = raw.parse::<i64>() {
        return if n < i64::from(i32::MAX) { n.checked_mul(1000).ok_or_else(bad) } else { Ok(n) };
    }
    if let Ok(secs) = raw.parse::<f64>() {
        return if secs.is_finite() && secs.abs() < 1e12 {
            Ok((secs * 1000.0).round() as Millis)
        } else {
            Err(bad())
        };
    }
    if let Ok(ts) = raw.parse::<Timestamp>() {
        return Ok(ts.as_millisecond());
    }
    let civil: DateTime = raw.parse().map_err(|_| bad())?;
    let zoned = civil.to_zoned(TimeZone::UTC).map_err(|_| bad())?;
    Ok(zoned.timestamp().as_millisecond())
}

/// Traccar Client's body.
#[derive(Deserialize)]
struct TraccarReport {
    device_id: Option<String>,
    location: Option<Value>,
}

#[derive(Deserialize)]
struct TraccarLocation {
    /// ISO-8601.
    timestamp: Option<Value>,
    coords: Coords,
}

#[derive(Deserialize)]
struct Coords {
    latitude: f64,
    longitude: f64,
    /// Metres; -1 when unknown.
    accuracy: Option<f64>,
    /// m/s; -1 when unknown.
    speed: Option<f64>,
    /// Degrees; -1 when unknown.
    heading: Option<f64>,
    altitude: Option<f64>,
}

impl TraccarReport {
    fn parse(body: &[u8]) -> Result<TraccarReport, ApiError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|err| ApiError::bad_request(format!("malformed JSON: {err}")))?;
        if !value.is_object() {
            return Err(ApiError::bad_request("body must be a JSON object"));
        }
        from_value(value)
    }

    /// The reported locations, oldest first.
    fn locations(self) -> Result<Vec<LocationInput>, ApiError> {
        let items = match self.location {
            Some(Value::Array(items)) => items,
            Some(item @ Value::Object(_)) => vec![item],
            Some(_) => return Err(ApiError::bad_request("location: must be an object or an array")),
            None => return Err(ApiError::bad_request("location: missing")),
        };
        items.into_iter().map(traccar_location).collect()
    }
}

fn traccar_location(item: Value) -> Result<LocationInput, ApiError> {
    let location: TraccarLocation =
        from_value(item).map_err(|err| ApiError::bad_request(format!("location.{}", err.message)))?;
    let ts = match location.timestamp {
        None | Some(Value::Null) => None,
        Some(Value::String(raw)) => Some(timestamp(&raw)?),
        Some(Value::Number(n)) => Some(timestamp(&n.to_string())?),
        Some(_) => return Err(ApiError::bad_request("location.timestamp: must be an ISO-8601 time")),
    };
    let coords = location.coords;
    Ok(LocationInput {
        lat: coords.latitude,
        lon: coords.longitude,
        accuracy: known(coords.accuracy),
        altitude: coords.altitude,
        speed: known(coords.speed),
        heading: course(coords.heading),
        ts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(raw: &str) -> Fields {
        Fields::parse(raw.as_bytes()).unwrap()
    }

    #[test]
    fn osmand_fields_convert_to_the_contract_units() {
        let f = fields(
            "id=a.b&timestamp=1764115200&lat=55.9486&lon=-3.1999&speed=10&bearing=90.5\
             &altitude=48&accuracy=12&batt=83&hdop=0.9&valid=true&charge=false",
        );
        let input = f.location().unwrap();
        assert_eq!((input.lat, input.lon), (55.9486, -3.1999));
        assert_eq!(input.ts, Some(1_764_115_200_000));
        assert!((input.speed.unwrap() - 5.144_444).abs() < 1e-6);
        assert_eq!(input.heading, Some(90.5));
        assert_eq!(input.altitude, Some(48.0));
        assert_eq!(input.accuracy, Some(12.0));

        let f = fields("id=a.b&lat=1&lon=2&speed=10&speed_mps=1.5");
        assert_eq!(f.location().unwrap().speed, Some(1.5));

        let f = fields("id=a.b&location=55.9486%2C-3.1999&heading=360");
        let input = f.location().unwrap();
        assert_eq!((input.lat, input.lon, input.heading, input.ts), (55.9486, -3.1999, Some(0.0), None));
    }

    #[test]
    fn timestamps_in_every_documented_form() {
        assert_eq!(timestamp("1764115200").unwrap(), 1_764_115_200_000);
        assert_eq!(timestamp("1764115200123").unwrap(), 1_764_115_200_123);
        assert_eq!(timestamp("1764115200.5").unwrap(), 1_764_115_200_500);
        assert_eq!(timestamp("2025-11-26T00:00:00Z").unwrap(), 1_764_115_200_000);
        assert_eq!(timestamp("2025-11-26T01:00:00.250+01:00").unwrap(), 1_764_115_200_250);
        assert_eq!(timestamp("2025-11-26 00:00:00").unwrap(), 1_764_115_200_000);
        assert_eq!(timestamp("2025-11-26T00:00:00").unwrap(), 1_764_115_200_000);
        for bad in ["", "yesterday", "NaN", "1e300", "-9223372036854775808"] {
            assert!(timestamp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_or_malformed_fields_are_named() {
        let message = |raw: &str| fields(raw).location().unwrap_err().message;
        assert_eq!(message("id=a.b&lon=1"), "lat: missing");
        assert_eq!(message("id=a.b&lat=1"), "lon: missing");
        assert_eq!(message("id=a.b&lat=x&lon=1"), "lat: must be a number");
        assert_eq!(message("id=a.b&location=1"), "location: must be `lat,lon`");
        assert_eq!(message("id=a.b&lat=1&lon=1&speed=fast"), "speed: must be a number");
    }

    #[test]
    fn traccar_client_body_converts_with_unknowns_dropped() {
        let body = br#"{"location":{"timestamp":"2025-11-26T00:00:00.000Z","coords":{"latitude":55.9486,
            "longitude":-3.1999,"accuracy":5.5,"speed":-1,"heading":-1,"altitude":48.2},"is_moving":true,
            "odometer":12.5,"event":"motionchange","battery":{"level":0.83,"is_charging":false},
            "activity":{"type":"walking"},"extras":{},"_":"&id=x&lat=55.9486&lon=-3.1999&timestamp=x&"},
            "device_id":"a.b"}"#;
        let report = TraccarReport::parse(body).unwrap();
        assert_eq!(report.device_id.as_deref(), Some("a.b"));
        let inputs = report.locations().unwrap();
        assert_eq!(inputs.len(), 1);
        let input = &inputs[0];
        assert_eq!((input.lat, input.lon, input.ts), (55.9486, -3.1999, Some(1_764_115_200_000)));
        assert_eq!(
            (input.accuracy, input.speed, input.heading, input.altitude),
            (Some(5.5), None, None, Some(48.2))
        );

        let batch = br#"{"device_id":"a.b","location":[{"coords":{"latitude":1,"longitude":2,"speed":1.5}},
            {"coords":{"latitude":3,"longitude":4}}]}"#;
        let inputs = TraccarReport::parse(batch).unwrap().locations().unwrap();
        assert_eq!(
            inputs.iter().map(|i| (i.lat, i.speed)).collect::<Vec<_>>(),
            [(1.0, Some(1.5)), (3.0, None)]
        );

        let error =
            |body: &[u8]| TraccarReport::parse(body).and_then(TraccarReport::locations).unwrap_err().message;
        assert_eq!(error(br#"{"device_id":"a.b"}"#), "location: missing");
        assert!(
            error(br#"{"location":{"coords":{"latitude":1}}}"#)
                .starts_with("location.coords: missing field `longitude`"),
            "{}",
            error(br#"{"location":{"coords":{"latitude":1}}}"#)
        );
        assert_eq!(error(b"[]"), "body must be a JSON object");
    }
}

#[cfg(test)]
mod properties;
