//! Validated domain values. Their constructors are the only way in, so a `Name` or a `Fix`
//! that exists has already been checked against the contract's rules.

use std::time::{SystemTime, UNIX_EPOCH};

use marauder_protocol::{Fix, LocationInput, Millis};

use crate::error::CoreError;
use crate::secret::random_id;

pub fn now_millis() -> Millis {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    since_epoch.as_millis() as Millis
}

/// The longest id accepted from a client; longer ones cannot exist.
const MAX_ID_LEN: usize = 64;

fn plausible_id(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= MAX_ID_LEN
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn generate() -> Self {
                Self(random_id())
            }

            /// `None` when `raw` cannot be an id (so it cannot name anything that exists).
            pub fn parse(raw: &str) -> Option<Self> {
                plausible_id(raw).then(|| Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A player's public id.
    PlayerId
);
id_type!(
    /// A map's id.
    MapId
);
id_type!(
    /// A session's id: names a signed-in device in the list, never authenticates.
    SessionId
);

/// A player or map name: trimmed, 1 to 64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(field: &str, raw: &str) -> Result<Name, CoreError> {
        let trimmed = raw.trim();
        let chars = trimmed.chars().count();
        if chars == 0 {
            return Err(CoreError::bad_request(field, "must not be empty"));
        }
        if chars > Self::MAX_CHARS {
            return Err(CoreError::bad_request(field, "must be at most 64 characters"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(CoreError::bad_request(field, "must not contain control characters"));
        }
        Ok(Name(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The latest `ts` accepted: the last millisecond of year 9999.
const MAX_TS: Millis = 253_402_300_799_999;

/// Checks a reported location against the contract's ranges; `ts` defaults to `now`.
pub fn validate_fix(input: &LocationInput, now: Millis) -> Result<Fix, CoreError> {
    fn finite(field: &str, v: f64) -> Result<f64, CoreError> {
        if v.is_finite() { Ok(v) } else { Err(CoreError::bad_request(field, "must be finite")) }
    }
    let lat = finite("lat", input.lat)?;
    if !(-90.0..=90.0).contains(&lat) {
        return Err(CoreError::bad_request("lat", "must be in [-90, 90]"));
    }
    let lon = finite("lon", input.lon)?;
    if !(-180.0..=180.0).contains(&lon) {
        return Err(CoreError::bad_request("lon", "must be in [-180, 180]"));
    }
    let non_negative = |field: &str, v: Option<f64>| -> Result<Option<f64>, CoreError> {
        match v {
            Some(v) if finite(field, v)? < 0.0 => Err(CoreError::bad_request(field, "must be >= 0")),
            other => Ok(other),
        }
    };
    let accuracy = non_negative("accuracy", input.accuracy)?;
    let speed = non_negative("speed", input.speed)?;
    let altitude = input.altitude.map(|v| finite("altitude", v)).transpose()?;
    let heading = match input.heading {
        Some(h) if !(0.0..360.0).contains(&finite("heading", h)?) => {
            return Err(CoreError::bad_request("heading", "must be in [0, 360)"));
        }
        other => other,
    };
    let ts = input.ts.unwrap_or(now);
    if !(0..=MAX_TS).contains(&ts) {
        return Err(CoreError::bad_request("ts", "must be milliseconds between 1970 and 9999"));
    }
    Ok(Fix { lat, lon, accuracy, altitude, speed, heading, ts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(Name::parse("name", "  Harry ").unwrap().as_str(), "Harry");
        assert!(Name::parse("name", "   ").is_err());
        assert!(Name::parse("name", &"é".repeat(64)).is_ok());
        assert!(Name::parse("name", &"é".repeat(65)).is_err());
        assert!(Name::parse("name", "a\u{7}b").is_err());
    }

    #[test]
    fn fixes_are_range_checked() {
        let ok = LocationInput { lat: 90.0, lon: -180.0, heading: Some(359.9), ..Default::default() };
        assert_eq!(validate_fix(&ok, 5).unwrap().ts, 5);
        for bad in [
            LocationInput { lat: 90.1, ..Default::default() },
            LocationInput { lon: 180.5, ..Default::default() },
            LocationInput { heading: Some(360.0), ..Default::default() },
            LocationInput { speed: Some(-1.0), ..Default::default() },
            LocationInput { accuracy: Some(f64::INFINITY), ..Default::default() },
            LocationInput { ts: Some(-1), ..Default::default() },
        ] {
            assert!(matches!(validate_fix(&bad, 0), Err(CoreError::BadRequest(_))), "{bad:?}");
        }
    }

    #[test]
    fn ids_are_url_safe() {
        assert!(PlayerId::parse(PlayerId::generate().as_str()).is_some());
        assert!(MapId::parse("a/b").is_none());
        assert!(MapId::parse("").is_none());
        assert!(MapId::parse(&"a".repeat(65)).is_none());
    }
}

/// The validators against oracles written straight from the contract's words, on generated
/// inputs that crowd the boundaries (and NaN, infinities, subnormals, -0.0).
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// The field a refusal names: its message starts with `<field>: `.
    fn refused_field(err: CoreError) -> String {
        match err {
            CoreError::BadRequest(message) => message.split(": ").next().unwrap_or_default().to_owned(),
            other => panic!("not a bad_request: {other:?}"),
        }
    }

    /// The contract: `lat` in [-90, 90], `lon` in [-180, 180], all numbers finite, `accuracy`
    /// and `speed` >= 0, `heading` in [0, 360), `ts` from 1970 to the end of 9999 (the
    /// server's clock when absent). The first field at fault, in the order of the body.
    fn oracle(input: &LocationInput, now: Millis) -> Result<Fix, &'static str> {
        let within = |v: f64, low: f64, high: f64| v.is_finite() && low <= v && v <= high;
        let optional = |v: Option<f64>, ok: &dyn Fn(f64) -> bool| v.is_none_or(|v| v.is_finite() && ok(v));
        let ts = input.ts.unwrap_or(now);
        let checks: [(&str, bool); 7] = [
            ("lat", within(input.lat, -90.0, 90.0)),
            ("lon", within(input.lon, -180.0, 180.0)),
            ("accuracy", optional(input.accuracy, &|v| v >= 0.0)),
            ("speed", optional(input.speed, &|v| v >= 0.0)),
            ("altitude", optional(input.altitude, &|_| true)),
            ("heading", optional(input.heading, &|v| (0.0..360.0).contains(&v))),
            ("ts", (0..=253_402_300_799_999).contains(&ts)),
        ];
        if let Some((field, _)) = checks.iter().find(|(_, ok)| !ok) {
            return Err(field);
        }
        let LocationInput { lat, lon, accuracy, altitude, speed, heading, .. } = *input;
        Ok(Fix { lat, lon, accuracy, altitude, speed, heading, ts })
    }

    /// Mostly values in [low, high], else that range's boundaries and their neighbours one
    /// ulp away, the non-finite ones, or any f64 at all: each field is at fault now and then,
    /// so that the fields after it are reached too.
    fn number(low: f64, high: f64) -> impl Strategy<Value = f64> {
        let mut edges = vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, f64::MIN_POSITIVE / 2.0];
        for edge in [low, high] {
            edges.extend([f64::next_down(edge), edge, f64::next_up(edge)]);
        }
        prop_oneof![12 => low..=high, 2 => prop::sample::select(edges), 1 => any::<f64>()]
    }

    fn optional(low: f64, high: f64) -> impl Strategy<Value = Option<f64>> {
        prop::option::weighted(0.8, number(low, high))
    }

    fn location_input() -> impl Strategy<Value = LocationInput> {
        let ts = prop_oneof![8 => 0..=MAX_TS, 1 => -3..3i64, 1 => MAX_TS - 3..MAX_TS + 3, 1 => any::<i64>()];
        (
            (number(-90.0, 90.0), number(-180.0, 180.0)),
            (optional(0.0, 1e5), optional(-1e4, 1e4)),
            (optional(0.0, 500.0), optional(0.0, 360.0)),
            prop::option::weighted(0.8, ts),
        )
            .prop_map(|((lat, lon), (accuracy, altitude), (speed, heading), ts)| LocationInput {
                lat,
                lon,
                accuracy,
                altitude,
                speed,
                heading,
                ts,
            })
    }

    /// Names around the limits: short and near 64 characters, ordinary and wide letters,
    /// padded with Unicode spaces (U+0085 is a space and a control too), now and then with a
    /// Cc control or a space inside.
    fn raw_name() -> impl Strategy<Value = String> {
        let letter = prop_oneof![10 => prop::char::range('a', 'z'), 2 => prop::sample::select(vec!['é', '地', '🗺', ' ']), 1 => any::<char>()];
        let body = prop_oneof![
            prop::collection::vec(letter.clone(), 0..6),
            prop::collection::vec(letter.clone(), 62..67),
            prop::collection::vec(letter, 0..70),
        ];
        let spaces = prop::collection::vec(
            prop::sample::select(vec![' ', '\t', '\n', '\u{85}', '\u{a0}', '\u{2003}']),
            0..3,
        );
        let special = prop::sample::select(vec![
            '\u{0}', '\u{7}', '\u{1f}', '\u{7f}', '\u{85}', '\u{9f}', '\u{a0}', '\u{ad}',
        ]);
        (spaces.clone(), body, spaces, prop::option::weighted(0.3, (any::<prop::sample::Index>(), special)))
            .prop_map(|(before, mut body, after, inside)| {
                if let Some((at, c)) = inside {
                    body.insert(at.index(body.len() + 1), c);
                }
                before.into_iter().chain(body).chain(after).collect()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn validate_fix_agrees_with_the_contract(input in location_input(), now in 0..MAX_TS) {
            match (validate_fix(&input, now), oracle(&input, now)) {
                (Ok(fix), Ok(expected)) => prop_assert_eq!(fix, expected),
                (Err(err), Err(field)) => prop_assert_eq!(refused_field(err), field),
                (got, expected) => prop_assert!(false, "{input:?}: got {got:?}, expected {expected:?}"),
            }
        }

        #[test]
        fn name_parse_agrees_with_the_contract(raw in raw_name()) {
            let trimmed = raw.trim();
            let length = trimmed.chars().count();
            // Category Cc is exactly U+0000..U+001F and U+007F..U+009F.
            let control = trimmed.chars().any(|c| c <= '\u{1f}' || ('\u{7f}'..='\u{9f}').contains(&c));
            let valid = (1..=64).contains(&length) && !control;
            match Name::parse("name", &raw) {
                Ok(name) => prop_assert!(valid && name.as_str() == trimmed, "{raw:?} accepted as {name:?}"),
                Err(err) => {
                    prop_assert!(!valid, "{raw:?} refused: {err:?}");
                    prop_assert_eq!(refused_field(err), "name");
                }
            }
        }

        #[test]
        fn ids_are_exactly_1_to_64_url_safe_characters(raw in "[A-Za-z0-9_\\-/.%é ]{0,70}") {
            let valid = (1..=64).contains(&raw.len())
                && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            prop_assert_eq!(MapId::parse(&raw).map(MapId::into_string), valid.then(|| raw.clone()));
            prop_assert_eq!(PlayerId::parse(&raw).is_some(), valid);
        }
    }
}
