//! Trails as files (contract "Trails as files"): the `format` of a trail read and the writers
//! of its three bodies (the JSON `Trail`, GPX 1.1, GeoJSON). Each writer is fed a page of
//! points at a time and keeps only a count, so the same code writes a 1000-point answer and
//! a streamed export of a whole trail. It knows no store and no route.
//!
//! GPX: one `trk` with one `trkseg`; each point a `trkpt` with `<ele>` (the altitude, when
//! known) and `<time>` (UTC, to the millisecond). GPX longitudes stop short of 180, so a
//! point at 180 is written at -180, the same meridian.
//!
//! GeoJSON (RFC 7946): one `Feature` whose `properties.times` are the points' `ts` in order
//! and whose geometry is a `LineString` of `[lon, lat]` (no altitude: positions of one line
//! share one dimension, and altitudes are often unknown), a `Point` for a trail of one point
//! (a line needs two), `null` for an empty one.

use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use jiff::SignedDuration;
use jiff::civil::DateTime;
use marauder_core::protocol::{Fix, Millis};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use crate::error::ApiError;

const GPX_NS: &str = "http://www.topografix.com/GPX/1/1";
const GPX_SCHEMA: &str = "http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/1/1/gpx.xsd";
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Gpx,
    GeoJson,
}

impl Format {
    /// The `format` query parameter; JSON without one.
    pub fn parse(raw: Option<&str>) -> Result<Format, ApiError> {
        match raw {
            None | Some("json") => Ok(Format::Json),
            Some("gpx") => Ok(Format::Gpx),
            Some("geojson") => Ok(Format::GeoJson),
            Some(_) => Err(ApiError::bad_request("format: must be json, gpx or geojson")),
        }
    }

    /// `Content-Type`, and for the files a `Content-Disposition` naming `trail-<player>.<ext>`
    /// (ids are URL-safe characters, so the name needs no escaping).
    pub fn headers(self, player: &str) -> HeaderMap {
        let (content_type, extension) = match self {
            Format::Json => ("application/json", None),
            Format::Gpx => ("application/gpx+xml", Some("gpx")),
            Format::GeoJson => ("application/geo+json", Some("geojson")),
        };
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        let disposition = extension.map(|ext| format!("attachment; filename=\"trail-{player}.{ext}\""));
        if let Some(value) = disposition.and_then(|d| HeaderValue::from_str(&d).ok()) {
            headers.insert(CONTENT_DISPOSITION, value);
        }
        headers
    }
}

/// What a body starts with: the player it is the trail of, and (GPX) a track name.
pub struct Heading<'a> {
    pub player: &'a str,
    pub name: Option<&'a str>,
}

/// A GeoJSON geometry depends on the number of points, which a stream knows from its first
/// page (a page shorter than a full one is the whole trail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Empty,
    Point,
    Line,
}

impl Shape {
    pub fn of(first_page: usize, whole: bool) -> Shape {
        match (first_page, whole) {
            (0, true) => Shape::Empty,
            (1, true) => Shape::Point,
            _ => Shape::Line,
        }
    }
}

/// The JSON `Trail` body, `{"player", "points": [...]}`.
#[derive(Default)]
pub struct JsonWriter {
    written: usize,
}

impl JsonWriter {
    pub fn head(&mut self, heading: &Heading<'_>, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"player\":");
        serde_json::to_writer(&mut *out, heading.player).expect("a string always encodes");
        out.extend_from_slice(b",\"points\":[");
    }

    pub fn points(&mut self, fixes: &[Fix], out: &mut Vec<u8>) {
        for fix in fixes {
            self.comma(out);
            serde_json::to_writer(&mut *out, fix).expect("a fix always encodes");
        }
    }

    pub fn tail(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"]}");
    }

    fn comma(&mut self, out: &mut Vec<u8>) {
        if self.written > 0 {
            out.push(b',');
        }
        self.written += 1;
    }
}

/// GPX 1.1, written with quick-xml (which escapes text and attributes).
pub struct GpxWriter;

impl GpxWriter {
    pub fn head(heading: &Heading<'_>, out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        let gpx = BytesStart::new("gpx").with_attributes([
            ("version", "1.1"),
            ("creator", "Marauder"),
            ("xmlns", GPX_NS),
            ("xmlns:xsi", XSI_NS),
            ("xsi:schemaLocation", GPX_SCHEMA),
        ]);
        let written = (|| {
            w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
            w.write_event(Event::Start(gpx))?;
            w.write_event(Event::Start(BytesStart::new("trk")))?;
            if let Some(name) = heading.name {
                w.create_element("name").write_text_content(BytesText::new(&xml_chars(name)))?;
            }
            w.write_event(Event::Start(BytesStart::new("trkseg")))
        })();
        written.expect("writing to memory cannot fail");
    }

    pub fn points(fixes: &[Fix], out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        for fix in fixes {
            // GPX's longitudeType is [-180, 180): 180 is the same meridian as -180.
            let lon = if fix.lon == 180.0 { -180.0 } else { fix.lon };
            // f64's Display never uses an exponent, which xsd:decimal does not allow.
            let (lat, lon) = (fix.lat.to_string(), lon.to_string());
            let point =
                w.create_element("trkpt").with_attributes([("lat", lat.as_str()), ("lon", lon.as_str())]);
            let written = point.write_inner_content(|w| {
                if let Some(altitude) = fix.altitude {
                    w.create_element("ele").write_text_content(BytesText::new(&altitude.to_string()))?;
                }
                w.create_element("time").write_text_content(BytesText::new(&utc_millis(fix.ts)))?;
                Ok(())
            });
            written.expect("writing to memory cannot fail");
        }
    }

    pub fn tail(out: &mut Vec<u8>) {
        let mut w = Writer::new(out);
        let written = (|| {
            w.write_event(Event::End(BytesEnd::new("trkseg")))?;
            w.write_event(Event::End(BytesEnd::new("trk")))?;
            w.write_event(Event::End(BytesEnd::new("gpx")))
        })();
        written.expect("writing to memory cannot fail");
    }
}

/// A GeoJSON `FeatureCollection` of one feature. Its positions and its times are two arrays,
/// so the writer is fed every point twice: first for the geometry, then for the times.
pub struct GeoJsonWriter {
    shape: Shape,
    positions: usize,
    times: usize,
}

impl GeoJsonWriter {
    pub fn new(shape: Shape) -> GeoJsonWriter {
        GeoJsonWriter { shape, positions: 0, times: 0 }
    }

    pub fn head(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(br#"{"type":"FeatureCollection","features":[{"type":"Feature","geometry":"#);
        out.extend_from_slice(match self.shape {
            Shape::Empty => b"null".as_slice(),
            Shape::Point => br#"{"type":"Point","coordinates":"#,
            Shape::Line => br#"{"type":"LineString","coordinates":["#,
        });
    }

    pub fn positions(&mut self, fixes: &[Fix], out: &mut Vec<u8>) {
        for fix in fixes {
            if self.positions > 0 {
                out.push(b',');
            }
            self.positions += 1;
            serde_json::to_writer(&mut *out, &[fix.lon, fix.lat]).expect("finite numbers always encode");
        }
    }

    /// Ends the geometry and opens the times.
    pub fn middle(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(match self.shape {
            Shape::Empty => b"".as_slice(),
            Shape::Point => b"}",
            Shape::Line => b"]}",
        });
        out.extend_from_slice(br#","properties":{"times":["#);
    }

    pub fn times(&mut self, fixes: &[Fix], out: &mut Vec<u8>) {
        for fix in fixes {
            if self.times > 0 {
                out.push(b',');
            }
            self.times += 1;
            serde_json::to_writer(&mut *out, &fix.ts).expect("an integer always encodes");
        }
    }

    pub fn tail(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"]}}]}");
    }
}

/// A whole body at once, for a trail read of at most one page.
pub fn encode(format: Format, heading: &Heading<'_>, fixes: &[Fix]) -> Vec<u8> {
    let mut out = Vec::new();
    match format {
        Format::Json => {
            let mut json = JsonWriter::default();
            json.head(heading, &mut out);
            json.points(fixes, &mut out);
            json.tail(&mut out);
        }
        Format::Gpx => {
            GpxWriter::head(heading, &mut out);
            GpxWriter::points(fixes, &mut out);
            GpxWriter::tail(&mut out);
        }
        Format::GeoJson => {
            let mut geojson = GeoJsonWriter::new(Shape::of(fixes.len(), true));
            geojson.head(&mut out);
            geojson.positions(fixes, &mut out);
            geojson.middle(&mut out);
            geojson.times(fixes, &mut out);
            geojson.tail(&mut out);
        }
    }
    out
}

/// `ts` as xsd:dateTime in UTC with milliseconds, e.g. `2026-11-30T01:02:03.004Z`.
fn utc_millis(ts: Millis) -> String {
    // Civil time, not `Timestamp`: the contract's last day (9999-12-31) is past a Timestamp's
    // range. Stored points are validated to lie between 1970 and 9999.
    let epoch = DateTime::constant(1970, 1, 1, 0, 0, 0, 0);
    let at = epoch.checked_add(SignedDuration::from_millis(ts)).unwrap_or(epoch);
    format!("{at:.3}Z")
}

/// Names may hold characters XML 1.0 cannot carry (U+FFFE, U+FFFF): they become U+FFFD.
fn xml_chars(text: &str) -> String {
    text.chars().map(|c| if matches!(c, '\u{FFFE}' | '\u{FFFF}') { '\u{FFFD}' } else { c }).collect()
}

#[cfg(test)]
#[path = "trail_files_tests.rs"]
mod tests;
