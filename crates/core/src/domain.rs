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
