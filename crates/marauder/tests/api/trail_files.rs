//! Trails as files (contract "Trails as files"): `until`, GPX checked against the GPX 1.1
//! schema (gpx.xsd beside this file: TopoGrafix's schema, whitespace normalised) with
//! `xmllint`, GeoJSON parsed back point by point, and one's own whole trail, streamed.

use std::str::FromStr;

use geojson::{FeatureCollection, GeometryValue};
use marauder_client::protocol::{ErrorCode, Fix, LocationInput};
use marauder_client::{Client, TrailQuery};
use quick_xml::Reader;
use quick_xml::events::Event;

use crate::helpers::*;

/// A GPX point as written: lat, lon, elevation, time in ms (parsed back from its text).
type GpxPoint = (f64, f64, Option<f64>, i64);

fn query(format: &str) -> TrailQuery<'_> {
    TrailQuery { format: Some(format), ..TrailQuery::default() }
}

/// Points at the edges of what the contract accepts: the poles, both ends of the longitudes,
/// 1970 and the last millisecond of 9999, with and without an altitude.
fn edge_points() -> Vec<LocationInput> {
    let at = |lat, lon, altitude, ts| LocationInput { altitude, ..loc_at(lat, lon, ts) };
    vec![
        at(-90.0, -180.0, None, 0),
        at(51.5007, -0.1246, Some(12.5), 1_700_000_000_123),
        at(90.0, 180.0, Some(-0.25), 1_700_000_000_123),
        at(0.000001, 1e-7, Some(8848.86), 253_402_300_799_999),
    ]
}

/// Validates a GPX document against the GPX 1.1 XSD; the error names what is wrong.
fn validate_gpx(body: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trail.gpx");
    std::fs::write(&file, body).unwrap();
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/gpx.xsd");
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema", schema])
        .arg(&file)
        .output()
        .expect("xmllint runs (Debian: libxml2-utils)");
    assert!(out.status.success(), "not valid GPX 1.1: {}", String::from_utf8_lossy(&out.stderr));
}

/// Every `trkpt` of a GPX document, and the number of `trk` and `trkseg` elements.
fn parse_gpx(body: &[u8]) -> (Vec<GpxPoint>, usize, usize) {
    let mut reader = Reader::from_str(std::str::from_utf8(body).unwrap());
    let (mut points, mut tracks, mut segments, mut inside) = (Vec::new(), 0, 0, String::new());
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_owned();
                match name.as_str() {
                    "trk" => tracks += 1,
                    "trkseg" => segments += 1,
                    "trkpt" => {
                        let attr = |key: &str| {
                            let a = e.try_get_attribute(key).unwrap().expect("lat and lon");
                            a.value.parse::<f64>().unwrap()
                        };
                        points.push((attr("lat"), attr("lon"), None, i64::MIN));
                    }
                    _ => {}
                }
                inside = name;
            }
            Event::Text(t) => {
                let text = t.into_inner().into_owned();
                let last = points.last_mut();
                match (inside.as_str(), last) {
                    ("ele", Some(point)) => point.2 = Some(text.parse().unwrap()),
                    ("time", Some(point)) => point.3 = parse_utc_millis(&text),
                    _ => {}
                }
            }
            Event::End(_) => inside.clear(),
            Event::Eof => break,
            _ => {}
        }
    }
    (points, tracks, segments)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` to ms since 1970, by the days-from-civil rule (so the test
/// does not trust the server's date library).
fn parse_utc_millis(text: &str) -> i64 {
    assert_eq!((text.len(), &text[23..]), (24, "Z"), "{text}");
    let n = |from: usize, to: usize| text[from..to].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    ((days * 24 + n(11, 13)) * 60 + n(14, 16)) * 60_000 + n(17, 19) * 1000 + n(20, 23)
}

/// What GPX must say of a point: its longitude 180 is written -180 (GPX stops short of 180).
fn as_gpx(fix: &Fix) -> GpxPoint {
    let lon = if fix.lon == 180.0 { -180.0 } else { fix.lon };
    (fix.lat, lon, fix.altitude, fix.ts)
}

/// The positions and times of a GeoJSON body, checked to be one feature.
fn parse_geojson(body: &[u8]) -> (Option<GeometryValue>, Vec<i64>) {
    let collection = FeatureCollection::from_str(std::str::from_utf8(body).unwrap()).expect("RFC 7946");
    assert_eq!(collection.features.len(), 1);
    let feature = &collection.features[0];
    let times = feature.properties.as_ref().unwrap()["times"].as_array().unwrap();
    let times = times.iter().map(|t| t.as_i64().unwrap()).collect();
    (feature.geometry.as_ref().map(|g| g.value.clone()), times)
}

fn line_of(geometry: Option<GeometryValue>) -> Vec<(f64, f64)> {
    match geometry {
        Some(GeometryValue::LineString { coordinates }) => {
            coordinates.iter().map(|p| (p.as_slice()[0], p.as_slice()[1])).collect()
        }
        other => panic!("not a LineString: {other:?}"),
    }
}

async fn post_all(client: &Client, points: &[LocationInput]) {
    for point in points {
        client.post_location(point).await.unwrap();
    }
}

#[tokio::test]
async fn a_gpx_trail_is_valid_gpx_1_1_and_holds_every_point_of_the_json_one() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry <& \"Potter\">").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    post_all(&harry, &edge_points()).await;
    let json = harry.trail(&map.id, &h.id, None, None).await.unwrap().points;
    assert_eq!(json.len(), 4);

    let file = harry.trail_file(&map.id, &h.id, &query("gpx")).await.unwrap();
    assert_eq!(file.content_type, "application/gpx+xml");
    assert_eq!(file.disposition.unwrap(), format!("attachment; filename=\"trail-{}.gpx\"", h.id));
    validate_gpx(&file.body);
    let (points, tracks, segments) = parse_gpx(&file.body);
    assert_eq!((tracks, segments), (1, 1));
    assert_eq!(points, json.iter().map(as_gpx).collect::<Vec<_>>());

    // One's own export is the same track, named after the player, and valid too.
    let own = harry.own_trail_file(&query("gpx")).await.unwrap();
    validate_gpx(&own.body);
    assert_eq!(parse_gpx(&own.body).0, points);
    assert!(
        std::str::from_utf8(&own.body)
            .unwrap()
            .contains("<name>Harry &lt;&amp; &quot;Potter&quot;&gt;</name>")
    );
    // An empty trail is a valid GPX file with an empty segment.
    let (ron, r) = app.player("Ron").await;
    ron.join(&map.id, None).await.unwrap();
    let empty = harry.trail_file(&map.id, &r.id, &query("gpx")).await.unwrap();
    validate_gpx(&empty.body);
    assert_eq!(parse_gpx(&empty.body), (vec![], 1, 1));
    app.stop().await;
}

#[tokio::test]
async fn a_geojson_trail_parses_back_point_by_point() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let (ron, r) = app.player("Ron").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    ron.join(&map.id, None).await.unwrap();
    post_all(&harry, &edge_points()).await;
    let json = ron.trail(&map.id, &h.id, None, None).await.unwrap().points;

    for file in [
        ron.trail_file(&map.id, &h.id, &query("geojson")).await.unwrap(),
        harry.own_trail_file(&query("geojson")).await.unwrap(),
    ] {
        assert_eq!(file.content_type, "application/geo+json");
        let (geometry, times) = parse_geojson(&file.body);
        assert_eq!(line_of(geometry), json.iter().map(|f| (f.lon, f.lat)).collect::<Vec<_>>());
        assert_eq!(times, json.iter().map(|f| f.ts).collect::<Vec<_>>());
    }

    // One point is a Point (a LineString needs two); none is a null geometry.
    ron.post_location(&loc_at(1.5, 2.5, 7)).await.unwrap();
    for file in [
        harry.trail_file(&map.id, &r.id, &query("geojson")).await.unwrap(),
        ron.own_trail_file(&query("geojson")).await.unwrap(),
    ] {
        let (geometry, times) = parse_geojson(&file.body);
        let Some(GeometryValue::Point { coordinates }) = geometry else { panic!("{geometry:?}") };
        assert_eq!((coordinates.as_slice(), times), ([2.5, 1.5].as_slice(), vec![7]));
    }
    let none = TrailQuery { since: Some(7), ..query("geojson") };
    let (geometry, times) = parse_geojson(&ron.own_trail_file(&none).await.unwrap().body);
    assert_eq!((geometry, times), (None, vec![]));
    app.stop().await;
}

#[tokio::test]
async fn since_is_strict_and_until_inclusive_at_equal_ts() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    let points: Vec<_> =
        [(1.0, 10), (2.0, 20), (3.0, 20), (4.0, 30)].map(|(lat, ts)| loc_at(lat, 0.0, ts)).into();
    post_all(&harry, &points).await;
    let lats = |trail: Vec<Fix>| trail.iter().map(|f| f.lat).collect::<Vec<_>>();
    let cases: [(Option<i64>, Option<i64>, &[f64]); 8] = [
        (None, None, &[1.0, 2.0, 3.0, 4.0]),
        (Some(10), Some(20), &[2.0, 3.0]),
        (Some(20), None, &[4.0]),
        (Some(19), Some(20), &[2.0, 3.0]),
        (None, Some(10), &[1.0]),
        (None, Some(9), &[]),
        (Some(20), Some(20), &[]),
        (Some(30), Some(10), &[]), // until below since: nothing, not an error
    ];
    for (since, until, expected) in cases {
        let q = TrailQuery { since, until, ..TrailQuery::default() };
        assert_eq!(lats(harry.trail_in(&map.id, &h.id, &q).await.unwrap().points), expected, "{q:?}");
        let own: marauder_client::protocol::Trail =
            serde_json::from_slice(&harry.own_trail_file(&q).await.unwrap().body).unwrap();
        assert_eq!(lats(own.points), expected, "own {q:?}");
        let (gpx, _, _) =
            parse_gpx(&harry.own_trail_file(&TrailQuery { format: Some("gpx"), ..q }).await.unwrap().body);
        assert_eq!(gpx.iter().map(|p| p.0).collect::<Vec<_>>(), expected, "gpx {q:?}");
    }
    // `limit` still keeps the oldest of the range.
    let q = TrailQuery { since: Some(10), limit: Some(1), ..TrailQuery::default() };
    assert_eq!(lats(harry.trail_in(&map.id, &h.id, &q).await.unwrap().points), [2.0]);
    app.stop().await;
}

#[tokio::test]
async fn a_bad_format_or_parameter_is_a_400_and_access_is_as_for_json() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let (draco, d) = app.player("Draco").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    harry.post_location(&loc_at(1.0, 1.0, 5)).await.unwrap();
    let trail = format!("/api/v1/maps/{}/trails/{}", map.id, h.id);
    for path in [
        format!("{trail}?format=kml"),
        format!("{trail}?format=GPX"),
        format!("{trail}?until=soon"),
        format!("{trail}?format=gpx&colour=red"),
        "/api/v1/players/me/trail?format=kml".to_owned(),
        "/api/v1/players/me/trail?until=1.5".to_owned(),
        "/api/v1/players/me/trail?limit=10".to_owned(),
    ] {
        let answer = harry.raw("GET", &path, None).await.unwrap();
        assert_eq!(
            (answer.status, answer.json()["error"]["code"].as_str()),
            (400, Some("bad_request")),
            "{path}"
        );
    }
    let gpx = query("gpx");
    let code = |r: Result<marauder_client::TrailFile, marauder_client::Error>| r.unwrap_err().code();
    assert_eq!(code(draco.trail_file(&map.id, &h.id, &gpx).await), Some(ErrorCode::Forbidden));
    assert_eq!(code(harry.trail_file(&map.id, &d.id, &gpx).await), Some(ErrorCode::NotFound));
    assert_eq!(code(harry.trail_file("nosuchmap", &h.id, &gpx).await), Some(ErrorCode::NotFound));
    assert_eq!(code(app.anon.own_trail_file(&gpx).await), Some(ErrorCode::Unauthorized));
    // Nobody else's points leak into one's own export.
    draco.post_location(&loc_at(9.0, 9.0, 6)).await.unwrap();
    let (points, _, _) = parse_gpx(&harry.own_trail_file(&gpx).await.unwrap().body);
    assert_eq!(points, vec![(1.0, 1.0, None, 5)]);
    app.stop().await;
}

#[tokio::test]
async fn the_own_trail_streams_past_the_page_limit_without_losing_or_repeating_equal_ts_points() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    // Three points per ts, so that page boundaries (every 1000) fall inside a run of equal ts.
    let posted: Vec<_> =
        (0..2_500).map(|i| loc_at(f64::from(i) / 100.0, 1.0, 1_000 + i64::from(i / 3))).collect();
    post_all(&harry, &posted).await;

    // The JSON pages of the map's trail, over windows of ts that each hold under 1000 points.
    let mut pages = Vec::new();
    for window in 0..5 {
        let q = TrailQuery {
            since: Some(999 + window * 200),
            until: Some(999 + (window + 1) * 200),
            ..TrailQuery::default()
        };
        pages.extend(harry.trail_in(&map.id, &h.id, &q).await.unwrap().points);
    }
    assert_eq!(
        pages.iter().map(|f| f.lat).collect::<Vec<_>>(),
        posted.iter().map(|p| p.lat).collect::<Vec<_>>()
    );

    let own: marauder_client::protocol::Trail =
        serde_json::from_slice(&harry.own_trail_file(&TrailQuery::default()).await.unwrap().body).unwrap();
    assert_eq!((own.player.as_str(), own.points.len()), (h.id.as_str(), 2_500));
    assert_eq!(own.points, pages);
    let gpx = harry.own_trail_file(&query("gpx")).await.unwrap().body;
    validate_gpx(&gpx);
    assert_eq!(parse_gpx(&gpx).0, pages.iter().map(as_gpx).collect::<Vec<_>>());
    let (geometry, times) = parse_geojson(&harry.own_trail_file(&query("geojson")).await.unwrap().body);
    assert_eq!(line_of(geometry), pages.iter().map(|f| (f.lon, f.lat)).collect::<Vec<_>>());
    assert_eq!(times, pages.iter().map(|f| f.ts).collect::<Vec<_>>());
    // A window of the whole trail, across a page boundary.
    let q = TrailQuery {
        since: Some(1_200),
        until: Some(1_700),
        format: Some("geojson"),
        ..TrailQuery::default()
    };
    let (_, times) = parse_geojson(&harry.own_trail_file(&q).await.unwrap().body);
    let expected: Vec<_> = pages.iter().map(|f| f.ts).filter(|ts| (1_201..=1_700).contains(ts)).collect();
    assert_eq!((times.len(), times), (1_500, expected));

    // More points of one ts than a page holds: still each once, in the order they came.
    let (ginny, _) = app.player("Ginny").await;
    let same: Vec<_> = (0..1_100).map(|i| loc_at(f64::from(i) / 100.0, 2.0, 5)).collect();
    post_all(&ginny, &same).await;
    let own: marauder_client::protocol::Trail =
        serde_json::from_slice(&ginny.own_trail_file(&TrailQuery::default()).await.unwrap().body).unwrap();
    let lats = |points: &[Fix]| points.iter().map(|f| f.lat).collect::<Vec<_>>();
    assert_eq!(lats(&own.points), same.iter().map(|p| p.lat).collect::<Vec<_>>());
    app.stop().await;
}

#[path = "trail_export_memory.rs"]
mod export_memory;
