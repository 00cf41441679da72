//! Properties of the OsmAnd and Traccar Client parsers, on generated reports: no query, form
//! or body makes them panic; a valid report yields exactly the contract's units (knots →
//! m/s, seconds → ms, ISO-8601 → ms, "unknown" dropped).

use jiff::tz::Offset;
use marauder_core::protocol::ErrorCode;
use proptest::prelude::*;
use serde_json::json;

use super::*;

/// The last millisecond of year 9999, the latest `ts` the contract takes.
const MAX_TS: i64 = 253_402_300_799_999;

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![-1e3..1e3f64, any::<f64>().prop_filter("finite", |v| v.is_finite()), Just(-1.0), Just(360.0)]
}

/// A report as the apps send it: what they send, and what it must become.
#[derive(Debug, Clone)]
struct Sent {
    lat: f64,
    lon: f64,
    /// Milliseconds, and how the app writes them.
    ts: Option<(i64, String)>,
    speed: Option<f64>,
    heading: Option<f64>,
    altitude: Option<f64>,
    accuracy: Option<f64>,
}

/// A time in each form the apps use: seconds (below `i32::MAX`, as Traccar reads it),
/// milliseconds, and ISO-8601 with `Z` or an offset.
fn time() -> impl Strategy<Value = (i64, String)> {
    let seconds = (0..i64::from(i32::MAX)).prop_map(|s| (s * 1000, s.to_string()));
    let millis = (i64::from(i32::MAX)..=MAX_TS).prop_map(|ms| (ms, ms.to_string()));
    let iso = (0..=MAX_TS, -14 * 3600..=14 * 3600i32).prop_map(|(ms, offset)| {
        let ts = Timestamp::from_millisecond(ms).unwrap();
        let offset = Offset::from_seconds(offset / 60 * 60).unwrap();
        let written = if offset == Offset::UTC {
            ts.to_string()
        } else {
            ts.to_zoned(TimeZone::fixed(offset)).strftime("%Y-%m-%dT%H:%M:%S%.f%:z").to_string()
        };
        (ms, written)
    });
    prop_oneof![seconds, millis, iso]
}

fn sent() -> impl Strategy<Value = Sent> {
    let optional = || prop::option::of(finite());
    (
        (-90.0..=90.0f64, -180.0..=180.0f64, prop::option::of(time())),
        (optional(), optional()),
        (optional(), optional()),
    )
        .prop_map(|((lat, lon, ts), (speed, heading), (altitude, accuracy))| Sent {
            lat,
            lon,
            ts,
            speed,
            heading,
            altitude,
            accuracy,
        })
}

fn close(got: Option<f64>, expected: Option<f64>) -> bool {
    match (got, expected) {
        // Relative, with room for the precision a subnormal lacks.
        (Some(got), Some(expected)) => (got - expected).abs() <= expected.abs() * 1e-12 + f64::MIN_POSITIVE,
        (got, expected) => got == expected,
    }
}

fn known(v: Option<f64>) -> Option<f64> {
    v.filter(|v| *v >= 0.0)
}

fn course(v: Option<f64>) -> Option<f64> {
    known(v).map(|c| if c == 360.0 { 0.0 } else { c })
}

/// Query or form fields in the names and forms of the OsmAnd protocol.
fn fields_of(sent: &Sent, location_pair: bool) -> Vec<(String, String)> {
    let mut fields = vec![("id".to_owned(), "dev.secret".to_owned())];
    if location_pair {
        fields.push(("location".into(), format!("{},{}", sent.lat, sent.lon)));
    } else {
        fields.extend([("lat".into(), sent.lat.to_string()), ("lon".into(), sent.lon.to_string())]);
    }
    let optional = [
        ("speed", sent.speed),
        ("bearing", sent.heading),
        ("altitude", sent.altitude),
        ("accuracy", sent.accuracy),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            fields.push((name.into(), value.to_string()));
        }
    }
    if let Some((_, written)) = &sent.ts {
        fields.push(("timestamp".into(), written.clone()));
    }
    fields.push(("batt".into(), "83".into()));
    fields
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_query_form_or_body_panics(raw in prop::collection::vec(any::<u8>(), 0..128)) {
        if let Ok(fields) = Fields::parse(&raw)
            && let Err(err) = fields.location()
        {
            prop_assert_eq!(err.code, ErrorCode::BadRequest);
        }
        if let Ok(report) = TraccarReport::parse(&raw)
            && let Err(err) = report.locations()
        {
            prop_assert_eq!(err.code, ErrorCode::BadRequest);
        }
    }

    #[test]
    fn any_field_values_are_read_or_refused(
        fields in prop::collection::vec(
            (prop::sample::select(vec!["lat", "lon", "location", "timestamp", "speed", "speed_mps", "bearing", "heading", "altitude", "accuracy"]),
             prop_oneof!["[0-9.eE+-]{0,12}", ".{0,12}", finite().prop_map(|v| v.to_string())]),
            0..8,
        ),
    ) {
        let raw = serde_urlencoded::to_string(&fields).unwrap();
        match Fields::parse(raw.as_bytes()).unwrap().location() {
            Ok(_) => prop_assert!(fields.iter().any(|(k, _)| *k == "lat" || *k == "location")),
            Err(err) => {
                prop_assert_eq!(err.code, ErrorCode::BadRequest);
                prop_assert!(!err.message.is_empty());
            }
        }
    }

    #[test]
    fn osmand_fields_yield_the_contract_units(sent in sent(), pair in any::<bool>()) {
        let raw = serde_urlencoded::to_string(fields_of(&sent, pair)).unwrap();
        let input = Fields::parse(raw.as_bytes()).unwrap().location().unwrap();
        prop_assert_eq!((input.lat, input.lon), (sent.lat, sent.lon));
        prop_assert_eq!(input.ts, sent.ts.as_ref().map(|(ms, _)| *ms));
        // A knot is a nautical mile (1852 m) an hour.
        let speed = known(sent.speed).map(|knots| knots / 3600.0 * 1852.0);
        prop_assert!(close(input.speed, speed), "{:?} for {:?}", input.speed, speed);
        prop_assert_eq!(input.heading, course(sent.heading));
        prop_assert_eq!(input.altitude, sent.altitude);
        prop_assert_eq!(input.accuracy, known(sent.accuracy));
    }

    #[test]
    fn speed_mps_wins_and_is_taken_as_is(sent in sent(), mps in finite()) {
        let mut fields = fields_of(&sent, false);
        fields.push(("speed_mps".into(), mps.to_string()));
        let raw = serde_urlencoded::to_string(fields).unwrap();
        prop_assert_eq!(Fields::parse(raw.as_bytes()).unwrap().location().unwrap().speed, known(Some(mps)));
    }

    #[test]
    fn traccar_client_reports_yield_the_contract_units(batch in prop::collection::vec(sent(), 1..4), array in any::<bool>()) {
        let items: Vec<_> = batch
            .iter()
            .map(|sent| {
                let coords = json!({"latitude": sent.lat, "longitude": sent.lon, "speed": sent.speed,
                    "heading": sent.heading, "altitude": sent.altitude, "accuracy": sent.accuracy});
                json!({"timestamp": sent.ts.as_ref().map(|(_, written)| written), "coords": coords, "is_moving": true})
            })
            .collect();
        prop_assume!(array || batch.len() == 1);
        let location = if array { json!(items) } else { items[0].clone() };
        let body = json!({"device_id": "dev.secret", "location": location}).to_string();
        let inputs = TraccarReport::parse(body.as_bytes()).unwrap().locations().unwrap();
        prop_assert_eq!(inputs.len(), batch.len());
        for (input, sent) in inputs.iter().zip(&batch) {
            prop_assert_eq!((input.lat, input.lon), (sent.lat, sent.lon));
            prop_assert_eq!(input.ts, sent.ts.as_ref().map(|(ms, _)| *ms));
            prop_assert_eq!(input.speed, known(sent.speed), "Traccar Client's speed is m/s already");
            prop_assert_eq!(input.heading, course(sent.heading));
            prop_assert_eq!((input.altitude, input.accuracy), (sent.altitude, known(sent.accuracy)));
        }
    }

    #[test]
    fn timestamps_are_seconds_below_i32_max_else_milliseconds(n in any::<i64>()) {
        let expected = if n < i64::from(i32::MAX) { n.checked_mul(1000) } else { Some(n) };
        prop_assert_eq!(timestamp(&n.to_string()).ok(), expected);
    }

    #[test]
    fn any_timestamp_text_is_read_or_refused(raw in ".{0,40}") {
        if let Err(err) = timestamp(&raw) {
            prop_assert_eq!(err.code, ErrorCode::BadRequest);
        }
    }
}
