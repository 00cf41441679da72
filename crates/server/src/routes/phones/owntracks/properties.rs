//! Properties of the OwnTracks parser, on generated messages: no body makes it panic; a
//! message is taken, ignored or refused by its `_type` alone; a valid `location` yields
//! exactly the contract's units (seconds → ms, km/h → m/s, "unknown" dropped).

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![-1e3..1e3f64, any::<f64>().prop_filter("finite", |v| v.is_finite()), Just(-1.0), Just(360.0)]
}

/// Values of every JSON type, numbers of every size among them.
fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        finite().prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
        Just(json!([1, 2])),
        Just(json!({"a": 1})),
    ]
}

/// An object with some of the fields a message may carry, any `_type` or none.
fn field_map() -> impl Strategy<Value = Map<String, Value>> {
    let names = vec!["lat", "lon", "tst", "acc", "alt", "vel", "cog", "batt", "tid", "created_at", "x"];
    let kind = prop_oneof![
        prop::sample::select(vec!["location", "transition", "lwt", "card", "encrypted", "waypoint"])
            .prop_map(Value::from),
        any_value(),
    ];
    (prop::collection::btree_map(prop::sample::select(names), any_value(), 0..8), prop::option::of(kind))
        .prop_map(|(fields, kind)| {
            let mut map: Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            if let Some(kind) = kind {
                map.insert("_type".into(), kind);
            }
            map
        })
}

/// A location as the app sends it: what it sends, and what it must become.
#[derive(Debug, Clone)]
struct Sent {
    lat: f64,
    lon: f64,
    /// Whole or fractional seconds.
    tst: Option<f64>,
    acc: Option<f64>,
    alt: Option<f64>,
    vel: Option<f64>,
    cog: Option<f64>,
}

fn sent() -> impl Strategy<Value = Sent> {
    let tst = prop_oneof![(0..4_000_000_000i64).prop_map(|s| s as f64), 0.0..4e9f64];
    let optional = || prop::option::of(finite());
    (
        (-90.0..=90.0f64, -180.0..=180.0f64),
        prop::option::of(tst),
        (optional(), optional()),
        (optional(), optional()),
    )
        .prop_map(|((lat, lon), tst, (acc, alt), (vel, cog))| Sent { lat, lon, tst, acc, alt, vel, cog })
}

fn close(got: Option<f64>, expected: Option<f64>) -> bool {
    match (got, expected) {
        // Relative, with room for the precision a subnormal lacks.
        (Some(got), Some(expected)) => (got - expected).abs() <= expected.abs() * 1e-12 + f64::MIN_POSITIVE,
        (got, expected) => got == expected,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_body_panics(body in prop::collection::vec(any::<u8>(), 0..128)) {
        if let Err(err) = parse(&body) {
            prop_assert_eq!(err.code, ErrorCode::BadRequest);
            prop_assert!(!err.message.is_empty());
        }
    }

    #[test]
    fn a_message_is_taken_ignored_or_refused_by_its_type(fields in field_map()) {
        let kind = fields.get("_type").and_then(Value::as_str).map(str::to_owned);
        let body = Value::Object(fields).to_string();
        let parsed = parse(body.as_bytes());
        match kind.as_deref() {
            None => prop_assert!(parsed.unwrap_err().message.starts_with("_type: missing")),
            Some("encrypted") => prop_assert!(parsed.unwrap_err().message.starts_with("_type: encrypted")),
            Some("location") => match parsed {
                Ok(input) => prop_assert!(input.is_some()),
                Err(err) => prop_assert_eq!(err.code, ErrorCode::BadRequest),
            },
            Some(_) => prop_assert!(parsed.unwrap().is_none()),
        }
    }

    #[test]
    fn a_location_yields_the_contract_units(sent in sent()) {
        let mut message = json!({"_type": "location", "lat": sent.lat, "lon": sent.lon, "tid": "AL", "batt": 80});
        for (key, value) in [("tst", sent.tst), ("acc", sent.acc), ("alt", sent.alt), ("vel", sent.vel), ("cog", sent.cog)] {
            if let Some(value) = value {
                message[key] = json!(value);
            }
        }
        let input = parse(message.to_string().as_bytes()).unwrap().unwrap();
        let unknown_if_negative = |v: Option<f64>| v.filter(|v| *v >= 0.0);
        prop_assert_eq!((input.lat, input.lon), (sent.lat, sent.lon));
        prop_assert_eq!(input.ts, sent.tst.map(|s| (s * 1000.0).round() as i64));
        prop_assert_eq!(input.accuracy, unknown_if_negative(sent.acc));
        prop_assert_eq!(input.altitude, sent.alt);
        // km/h to m/s: 1000 m in 3600 s.
        let speed = unknown_if_negative(sent.vel).map(|kmh| kmh / 3600.0 * 1000.0);
        prop_assert!(close(input.speed, speed), "{:?} for {:?}", input.speed, speed);
        let heading = unknown_if_negative(sent.cog).map(|c| if c == 360.0 { 0.0 } else { c });
        prop_assert_eq!(input.heading, heading);
    }

    #[test]
    fn a_time_past_any_date_is_refused(tst in prop_oneof![1e12..1e300f64, -1e300..-1e12f64]) {
        let body = json!({"_type": "location", "lat": 1, "lon": 2, "tst": tst}).to_string();
        prop_assert_eq!(parse(body.as_bytes()).unwrap_err().message, "tst: must be seconds since 1970");
    }
}
