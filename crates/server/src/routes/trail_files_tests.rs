use marauder_core::protocol::Fix;

use super::*;

fn fix(lat: f64, lon: f64, altitude: Option<f64>, ts: i64) -> Fix {
    Fix { lat, lon, accuracy: None, altitude, speed: None, heading: None, ts }
}

fn text(format: Format, fixes: &[Fix]) -> String {
    String::from_utf8(encode(format, &Heading { player: "p1", name: Some("Ron & <Co>") }, fixes)).unwrap()
}

#[test]
fn times_are_utc_to_the_millisecond() {
    assert_eq!(utc_millis(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(utc_millis(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    assert_eq!(utc_millis(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
}

#[test]
fn gpx_points_carry_elevation_only_when_known_and_180_is_written_as_minus_180() {
    let gpx = text(Format::Gpx, &[fix(0.5, 180.0, Some(12.25), 1), fix(-90.0, -0.0000001, None, 2)]);
    assert!(
        gpx.contains(
            r#"<trkpt lat="0.5" lon="-180"><ele>12.25</ele><time>1970-01-01T00:00:00.001Z</time></trkpt>"#
        ),
        "{gpx}"
    );
    assert!(
        gpx.contains(r#"<trkpt lat="-90" lon="-0.0000001"><time>1970-01-01T00:00:00.002Z</time></trkpt>"#),
        "{gpx}"
    );
    assert!(gpx.contains("<trk><name>Ron &amp; &lt;Co&gt;</name><trkseg>"), "{gpx}");
    assert!(gpx.ends_with("</trkseg></trk></gpx>"), "{gpx}");
}

#[test]
fn geojson_shapes_follow_the_number_of_points() {
    let geometry = |fixes: &[Fix]| {
        let value: serde_json::Value = serde_json::from_str(&text(Format::GeoJson, fixes)).unwrap();
        assert_eq!(value["features"].as_array().unwrap().len(), 1);
        let times = value["features"][0]["properties"]["times"].clone();
        (value["features"][0]["geometry"].clone(), times)
    };
    let (empty, times) = geometry(&[]);
    assert_eq!((empty, times), (serde_json::Value::Null, serde_json::json!([])));
    let (point, times) = geometry(&[fix(1.5, 2.5, Some(3.0), 7)]);
    assert_eq!(point, serde_json::json!({"type": "Point", "coordinates": [2.5, 1.5]}));
    assert_eq!(times, serde_json::json!([7]));
    let (line, times) = geometry(&[fix(1.5, 2.5, None, 7), fix(-1.0, 180.0, None, 7)]);
    assert_eq!(line, serde_json::json!({"type": "LineString", "coordinates": [[2.5, 1.5], [180.0, -1.0]]}));
    assert_eq!(times, serde_json::json!([7, 7]));
}

#[test]
fn json_is_the_trail_body() {
    let fixes = [fix(1.0, 2.0, None, 3), fix(4.0, 5.0, Some(6.0), 7)];
    let body: marauder_core::protocol::Trail = serde_json::from_str(&text(Format::Json, &fixes)).unwrap();
    assert_eq!((body.player.as_str(), body.points.as_slice()), ("p1", fixes.as_slice()));
}

#[test]
fn an_unknown_format_is_refused() {
    assert_eq!(Format::parse(None).unwrap(), Format::Json);
    assert_eq!(Format::parse(Some("gpx")).unwrap(), Format::Gpx);
    assert!(Format::parse(Some("GPX")).is_err());
    assert!(Format::parse(Some("kml")).is_err());
}
