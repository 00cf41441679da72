//! Reporting as the phone apps do (docs/phones.md), with a device's credential instead of a
//! token: for simulators and tests of those paths.

use marauder_protocol::LocationInput;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{Client, Result};

/// Metres per second in a knot.
const KNOT: f64 = 1852.0 / 3600.0;

impl Client {
    /// A `location` message as OwnTracks posts it in HTTP mode (seconds, km/h), with the
    /// device id and secret as Basic auth; answers the friends the server lists.
    pub async fn owntracks_location(
        &self,
        device: &str,
        secret: &str,
        location: &LocationInput,
    ) -> Result<Vec<Value>> {
        let mut message = json!({ "_type": "location", "lat": location.lat, "lon": location.lon });
        let fields = [
            ("tst", location.ts.map(|ms| (ms / 1000) as f64)),
            ("acc", location.accuracy),
            ("alt", location.altitude),
            ("vel", location.speed.map(|mps| mps * 3.6)),
            ("cog", location.heading),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                message[key] = json!(value);
            }
        }
        self.owntracks_message(device, secret, &message).await
    }

    /// Any message as OwnTracks posts it in HTTP mode (a `transition`, a `waypoint`, ...);
    /// answers the array the server sends back (friends, and the places as a
    /// `setWaypoints` command when they changed).
    pub async fn owntracks_message(&self, device: &str, secret: &str, message: &Value) -> Result<Vec<Value>> {
        let req = self.http.post(format!("{}/api/v1/owntracks", self.base)).basic_auth(device, Some(secret));
        self.call(req.json(message), StatusCode::OK).await
    }

    /// A report as OsmAnd sends it: a GET with the fields in the query (speed in knots),
    /// identified by `<device id>.<secret>`.
    pub async fn osmand_location(&self, identifier: &str, location: &LocationInput) -> Result<()> {
        let mut query = vec![
            ("id", identifier.to_owned()),
            ("lat", location.lat.to_string()),
            ("lon", location.lon.to_string()),
        ];
        let fields = [
            ("timestamp", location.ts.map(|ms| ms.to_string())),
            ("accuracy", location.accuracy.map(|v| v.to_string())),
            ("altitude", location.altitude.map(|v| v.to_string())),
            ("speed", location.speed.map(|mps| (mps / KNOT).to_string())),
            ("bearing", location.heading.map(|v| v.to_string())),
        ];
        query.extend(fields.into_iter().filter_map(|(key, value)| value.map(|v| (key, v))));
        let req = self.http.request(Method::GET, format!("{}/api/v1/osmand", self.base)).query(&query);
        self.call(req, StatusCode::OK).await
    }
}
