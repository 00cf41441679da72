//! Properties of the request parsers, on generated input: whatever the bytes, a body is
//! either the value serde reads from them or a 400 with a message; a valid body reads back
//! exactly; a field of the wrong type is named; query parameters are checked by name.

use axum::http::Request;
use marauder_core::protocol::LocationInput;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::strategies::location_input;

const FIELDS: [&str; 7] = ["lat", "lon", "accuracy", "altitude", "speed", "heading", "ts"];

/// Bytes that reach each branch: anything at all, an object's opening followed by anything,
/// and a valid body cut short or with one byte changed.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let valid = || location_input().prop_map(|input| serde_json::to_vec(&input).unwrap());
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..96),
        prop::collection::vec(any::<u8>(), 0..96).prop_map(|tail| [b"{".as_slice(), &tail].concat()),
        (valid(), any::<prop::sample::Index>()).prop_map(|(body, at)| body[..at.index(body.len())].to_vec()),
        (valid(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(mut body, at, byte)| {
            let at = at.index(body.len());
            body[at] = byte;
            body
        }),
    ]
}

/// A JSON value of a type no field of a location takes (a fraction, for `ts`).
fn wrong_value(field: &str) -> impl Strategy<Value = Value> {
    let fraction = field == "ts";
    prop_oneof![
        "[a-z]{0,8}".prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(json!([])),
        Just(json!({"x": 1})),
        Just(if fraction { json!(1.5) } else { json!("1") }),
    ]
}

fn parts(uri: &str) -> Option<Parts> {
    Some(Request::builder().uri(uri).body(()).ok()?.into_parts().0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parse_json_is_serde_or_a_400_with_a_message(bytes in body()) {
        match parse_json::<LocationInput>(&bytes) {
            Ok(input) => {
                prop_assert_eq!(bytes.iter().find(|b| !b.is_ascii_whitespace()), Some(&b'{'));
                prop_assert_eq!(Some(input), serde_json::from_slice::<LocationInput>(&bytes).ok());
            }
            Err(err) => {
                prop_assert_eq!(err.code, ErrorCode::BadRequest);
                prop_assert!(!err.message.trim().is_empty());
                let refused = serde_json::from_slice::<LocationInput>(&bytes).is_err();
                prop_assert!(refused || !bytes.trim_ascii_start().starts_with(b"{"), "{}", err.message);
            }
        }
    }

    #[test]
    fn a_valid_location_reads_back_exactly(input in location_input(), pad in "[ \t\r\n]{0,3}", nulls in any::<bool>()) {
        let mut value = serde_json::to_value(&input).unwrap();
        if nulls {
            // The contract: `null` for an optional field means the field is absent.
            for field in &FIELDS[2..] {
                value.as_object_mut().unwrap().entry(*field).or_insert(Value::Null);
            }
        }
        let body = format!("{pad}{value}{pad}");
        prop_assert_eq!(parse_json::<LocationInput>(body.as_bytes()).unwrap(), input);
    }

    #[test]
    fn a_field_of_the_wrong_type_is_named(
        input in location_input(),
        (field, value) in prop::sample::select(FIELDS.to_vec()).prop_flat_map(|f| (Just(f), wrong_value(f))),
    ) {
        let mut body = serde_json::to_value(&input).unwrap();
        body[field] = value;
        let err = parse_json::<LocationInput>(body.to_string().as_bytes()).unwrap_err();
        prop_assert_eq!(err.code, ErrorCode::BadRequest);
        prop_assert!(err.message.starts_with(&format!("{field}: ")), "{}", err.message);
        let err = from_value::<LocationInput>(body).unwrap_err();
        prop_assert!(err.message.starts_with(&format!("{field}: ")), "{}", err.message);
    }

    #[test]
    fn an_unknown_field_is_refused(input in location_input(), field in "[a-z_]{1,12}") {
        prop_assume!(!FIELDS.contains(&field.as_str()));
        let mut body = serde_json::to_value(&input).unwrap();
        body[&field] = json!(1);
        let err = parse_json::<LocationInput>(body.to_string().as_bytes()).unwrap_err();
        prop_assert_eq!(err.code, ErrorCode::BadRequest);
        prop_assert!(err.message.contains(&format!("`{field}`")), "{}", err.message);
    }

    #[test]
    fn json_content_types_are_recognised_in_any_case(
        upper in prop::collection::vec(any::<bool>(), 16),
        space in "[ \t]{0,2}",
        parameters in "(; ?charset=[a-zA-Z0-9-]{1,8}){0,2}",
        other in "[a-z]{1,11}/[a-z+.-]{1,12}",
    ) {
        let cased: String = "application/json"
            .chars()
            .zip(upper)
            .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
            .collect();
        let json = format!("{space}{cased}{space}{parameters}");
        prop_assert!(is_json(&json), "{}", json);
        prop_assert_eq!(is_json(&format!("{other}{parameters}")), other == "application/json");
    }

    #[test]
    fn query_parameters_are_checked_by_name(
        pairs in prop::collection::vec((prop::sample::select(vec!["since", "limit", "after", "x"]), "[^&=#]{0,12}"), 0..4),
    ) {
        let query = serde_urlencoded::to_string(&pairs).unwrap();
        let parts = parts(&format!("/api/v1/maps/m/trails/p?{query}")).unwrap();
        let unknown = pairs.iter().find(|(name, _)| !["since", "limit"].contains(name));
        match (Params::from_uri(&parts.uri, &["since", "limit"]), unknown) {
            (Ok(params), None) => {
                for name in ["since", "limit"] {
                    // A repeated name keeps one of its values.
                    let raw: Vec<&String> = pairs.iter().filter(|(n, _)| *n == name).map(|(_, v)| v).collect();
                    match params.parse::<i64>(name) {
                        Ok(None) => prop_assert!(raw.is_empty()),
                        Ok(Some(n)) => prop_assert!(raw.iter().any(|v| v.parse() == Ok(n))),
                        Err(err) => {
                            prop_assert!(raw.iter().any(|v| v.parse::<i64>().is_err()));
                            prop_assert_eq!(err.message, format!("{name}: must be an integer"));
                        }
                    }
                }
            }
            (Err(err), Some((name, _))) => {
                prop_assert!(err.message.ends_with(": unknown query parameter"), "{}", err.message);
                prop_assert!(pairs.iter().any(|(n, _)| err.message == format!("{n}: unknown query parameter")), "{name}");
            }
            (got, unknown) => prop_assert!(false, "{query}: {:?} with unknown {unknown:?}", got.err()),
        }
    }

    #[test]
    fn any_query_is_read_or_refused_without_a_panic(query in "[ -~]{0,40}") {
        // A query the URI parser refuses never reaches a handler.
        if let Some(parts) = parts(&format!("/x?{query}"))
            && let Err(err) = Params::from_uri(&parts.uri, &["since", "limit"])
        {
            prop_assert_eq!(err.code, ErrorCode::BadRequest);
        }
    }
}

#[test]
fn integers_of_every_size_are_read() {
    let parts = parts(&format!("/x?since={}&limit=-{}", i64::MAX, i64::MAX)).unwrap();
    let params = Params::from_uri(&parts.uri, &["since", "limit"]).unwrap();
    assert_eq!(params.parse::<i64>("since").unwrap(), Some(i64::MAX));
    assert_eq!(params.parse::<i64>("limit").unwrap(), Some(-i64::MAX));
    assert_eq!(params.parse::<u32>("limit").unwrap_err().message, "limit: must be an integer");
}
