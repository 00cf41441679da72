//! Properties of [`parse_frame`], on generated frames: it never panics; every frame a client
//! may send is classified as exactly what was sent; every other text gets a 400 saying what
//! is wrong, with the `map` it named.

use marauder_core::protocol::ErrorCode;
use marauder_core::protocol::{Subscribe, Unsubscribe};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::strategies::{finite, location_input};

/// Map names as clients may write them, ids or not.
fn map() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z0-9_-]{16}", ".{0,20}"]
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (map(), prop::option::of(any::<u64>()))
            .prop_map(|(map, since)| ClientMessage::Subscribe(Subscribe { map, since })),
        map().prop_map(|map| ClientMessage::Unsubscribe(Unsubscribe { map })),
        location_input().prop_map(ClientMessage::Location),
    ]
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        finite().prop_map(Value::from),
        ".{0,10}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Objects built from the frames' own field names (and others) with any values.
fn frame_like_object() -> impl Strategy<Value = serde_json::Map<String, Value>> {
    let names = vec!["type", "map", "since", "lat", "lon", "ts", "heading", "x"];
    let kinds = prop_oneof![
        prop::sample::select(vec!["subscribe", "unsubscribe", "location"]).prop_map(Value::from),
        json_value(),
    ];
    (prop::collection::btree_map(prop::sample::select(names), json_value(), 0..6), prop::option::of(kinds))
        .prop_map(|(fields, kind)| {
            let mut object: serde_json::Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            if let Some(kind) = kind {
                object.insert("type".into(), kind);
            }
            object
        })
}

fn message(result: Result<ClientMessage, ApiError>) -> String {
    let err = result.unwrap_err();
    assert_eq!(err.code, ErrorCode::BadRequest);
    err.message
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_valid_frame_is_classified_as_sent(sent in client_message()) {
        let text = serde_json::to_string(&sent).unwrap();
        let (parsed, map) = parse_frame(&text);
        let expected_map = match &sent {
            ClientMessage::Subscribe(s) => Some(s.map.clone()),
            ClientMessage::Unsubscribe(u) => Some(u.map.clone()),
            ClientMessage::Location(_) => None,
        };
        prop_assert_eq!(parsed.unwrap(), sent);
        prop_assert_eq!(map, expected_map);
    }

    #[test]
    fn any_text_is_a_frame_or_a_400(text in prop_oneof![".{0,64}", json_value().prop_map(|v| v.to_string())]) {
        let (parsed, map) = parse_frame(&text);
        if let Err(err) = parsed {
            prop_assert_eq!(err.code, ErrorCode::BadRequest);
            prop_assert!(!err.message.is_empty());
        }
        let named = serde_json::from_str::<Value>(&text).ok().and_then(|v| v["map"].as_str().map(str::to_owned));
        prop_assert_eq!(map, named);
    }

    #[test]
    fn objects_are_classified_by_type(object in frame_like_object()) {
        let text = Value::Object(object.clone()).to_string();
        let (parsed, map) = parse_frame(&text);
        prop_assert_eq!(map, object.get("map").and_then(Value::as_str).map(str::to_owned));
        let mut rest = object.clone();
        let kind = rest.remove("type");
        let rest = Value::Object(rest);
        match kind {
            None => prop_assert_eq!(message(parsed), "type: missing field `type`"),
            Some(Value::String(kind)) => match kind.as_str() {
                "subscribe" => prop_assert_eq!(parsed.ok(), serde_json::from_value(rest).ok().map(ClientMessage::Subscribe)),
                "unsubscribe" => prop_assert_eq!(parsed.ok(), serde_json::from_value(rest).ok().map(ClientMessage::Unsubscribe)),
                "location" => prop_assert_eq!(parsed.ok(), serde_json::from_value(rest).ok().map(ClientMessage::Location)),
                other => prop_assert_eq!(
                    message(parsed),
                    format!("type: unknown frame type `{other}`, expected subscribe, unsubscribe or location")
                ),
            },
            Some(_) => prop_assert_eq!(message(parsed), "type: must be a string"),
        }
    }

    #[test]
    fn a_bad_field_of_a_known_frame_is_named(
        (kind, field) in prop::sample::select(vec![("subscribe", "since"), ("subscribe", "map"), ("unsubscribe", "map"), ("location", "lat"), ("location", "ts")]),
        value in prop_oneof![Just(json!("x")), Just(json!(-1.5)), Just(json!([1])), Just(json!({}))],
    ) {
        let mut frame = json!({"type": kind, "map": "m", "lat": 1, "lon": 2});
        if kind != "location" {
            frame.as_object_mut().unwrap().retain(|k, _| k == "type" || k == "map");
        } else {
            frame.as_object_mut().unwrap().remove("map");
        }
        // A string is a map, and a number a latitude: those would be valid.
        prop_assume!((field != "map" || !value.is_string()) && (field != "lat" || !value.is_number()));
        frame[field] = value;
        let (parsed, _) = parse_frame(&frame.to_string());
        let message = message(parsed);
        prop_assert!(message.starts_with(&format!("{field}: ")), "{frame}: {message}");
    }
}

#[test]
fn json_that_is_not_an_object_is_refused_as_such() {
    for text in ["1", "\"subscribe\"", "[]", "null", "true"] {
        assert_eq!(message(parse_frame(text).0), "a frame must be a JSON object", "{text}");
    }
    assert!(message(parse_frame("{").0).starts_with("malformed JSON: "));
}
