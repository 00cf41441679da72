//! `GET /api/v1/players/me/trail`: one's own whole trail as JSON, GPX or GeoJSON, streamed.
//!
//! A task reads the trail a page at a time ([`Marauder::own_trail_page`], resuming after the
//! last point read, so points sharing a `ts` are neither lost nor repeated) and queues each
//! page, encoded, for the connection; the queue holds [`QUEUED_CHUNKS`] chunks, so an export
//! holds a few pages whatever the trail's length, and a slow reader slows the task down.
//! The first page is read before the answer starts: a store that cannot answer is a 503,
//! not a broken body. A failure after that can only cut the body short (the connection is
//! closed without its end), which a client sees as a failed download.
//!
//! GeoJSON writes the positions and then the times of the same points, so it reads the trail
//! twice, the second time up to the last point of the first; when the two reads differ (a
//! late point arrived in the middle, retention erased one), the body is cut rather than
//! pairing times with the wrong positions.

use std::hash::{DefaultHasher, Hash, Hasher};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use marauder_core::protocol::Fix;
use marauder_core::{CoreError, Marauder, PlayerId, TrailCursor, TrailRange};
use tokio::sync::mpsc;

use super::trail_files::{Format, GeoJsonWriter, GpxWriter, Heading, JsonWriter, Shape};
use crate::error::ApiError;
use crate::extract::{Auth, Params};
use crate::state::AppState;

/// Encoded pages queued between the task and the connection.
const QUEUED_CHUNKS: usize = 2;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/players/me/trail", get(own_trail))
}

#[utoipa::path(
    get,
    path = "/api/v1/players/me/trail",
    tag = "players",
    operation_id = "own_trail",
    summary = "The calling player's whole trail, oldest first, as JSON, GPX or GeoJSON (streamed, no page limit)",
    security(("bearer" = [])),
    params(
        ("since" = Option<i64>, Query, description = "only points with `ts` greater than this (ms)"),
        ("until" = Option<i64>, Query, description = "only points with `ts` at most this (ms); below `since`: no point"),
        ("format" = Option<String>, Query, description = "`json` (default, the `Trail` body), `gpx` (GPX 1.1) or `geojson` (RFC 7946)"),
    ),
    responses(
        (status = 200, description = "the trail, in the `format` asked", content(
            (marauder_core::protocol::Trail = "application/json"),
            (String = "application/gpx+xml"),
            (String = "application/geo+json"),
        )),
        (status = 400, description = "`bad_request`: an unknown or malformed query parameter"),
    )
)]
async fn own_trail(
    State(state): State<AppState>,
    Auth(player): Auth,
    uri: Uri,
) -> Result<Response, ApiError> {
    let params = Params::from_uri(&uri, &["since", "until", "format"])?;
    let range = TrailRange { since: params.parse("since")?, until: params.parse("until")? };
    let format = Format::parse(params.text("format"))?;
    let mut pages =
        Pages { app: state.app.clone(), player: player.id.clone(), range, after: None, done: false };
    let first = pages.next().await?;
    let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
    let headers = format.headers(player.id.as_str());
    let export = Export { tx, name: player.name, pages };
    tokio::spawn(async move {
        let player = export.pages.player.clone();
        if let Err(Stop::Failed(reason)) = export.run(format, first).await {
            tracing::warn!(player = %player, %reason, "a trail export stopped short");
        }
    });
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    Ok((headers, Body::from_stream(chunks)).into_response())
}

/// Why an export ended early.
enum Stop {
    /// The client went away: nothing to report.
    Gone,
    Failed(String),
}

impl From<CoreError> for Stop {
    fn from(err: CoreError) -> Stop {
        Stop::Failed(err.to_string())
    }
}

/// One's trail, a page at a time, in the store's order.
struct Pages {
    app: Marauder,
    player: PlayerId,
    range: TrailRange,
    after: Option<TrailCursor>,
    done: bool,
}

impl Pages {
    /// The next page; empty once the trail is read (a page shorter than a full one is its end).
    async fn next(&mut self) -> Result<Vec<Fix>, CoreError> {
        if self.done {
            return Ok(Vec::new());
        }
        let page = self.app.own_trail_page(&self.player, self.range, self.after).await?;
        self.done = page.points.len() < self.app.own_trail_page_size();
        self.after = page.last.or(self.after);
        Ok(page.points)
    }
}

struct Export {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    name: String,
    pages: Pages,
}

impl Export {
    async fn run(mut self, format: Format, first: Vec<Fix>) -> Result<(), Stop> {
        let outcome = match format {
            Format::Json | Format::Gpx => self.single_pass(format, first).await,
            Format::GeoJson => self.geojson(first).await,
        };
        if let Err(Stop::Failed(reason)) = &outcome {
            // Cuts the body short: the client must not take a partial file for a whole one.
            let _ = self.tx.send(Err(std::io::Error::other(reason.clone()))).await;
        }
        outcome
    }

    async fn send(&self, chunk: Vec<u8>) -> Result<(), Stop> {
        self.tx.send(Ok(Bytes::from(chunk))).await.map_err(|_| Stop::Gone)
    }

    async fn single_pass(&mut self, format: Format, first: Vec<Fix>) -> Result<(), Stop> {
        let heading = Heading { player: self.pages.player.as_str(), name: Some(&self.name) };
        let mut json = JsonWriter::default();
        let mut out = Vec::new();
        match format {
            Format::Gpx => GpxWriter::head(&heading, &mut out),
            _ => json.head(&heading, &mut out),
        }
        let mut page = first;
        while !page.is_empty() {
            match format {
                Format::Gpx => GpxWriter::points(&page, &mut out),
                _ => json.points(&page, &mut out),
            }
            self.send(std::mem::take(&mut out)).await?;
            page = self.pages.next().await?;
        }
        match format {
            Format::Gpx => GpxWriter::tail(&mut out),
            _ => json.tail(&mut out),
        }
        self.send(out).await
    }

    async fn geojson(&mut self, first: Vec<Fix>) -> Result<(), Stop> {
        let mut writer = GeoJsonWriter::new(Shape::of(first.len(), self.pages.done));
        let (mut out, mut seen) = (Vec::new(), Fingerprint::default());
        writer.head(&mut out);
        let mut page = first;
        while !page.is_empty() {
            writer.positions(&page, &mut out);
            seen.add(&page);
            self.send(std::mem::take(&mut out)).await?;
            page = self.pages.next().await?;
        }
        writer.middle(&mut out);
        if let Some(end) = self.pages.after {
            let range = TrailRange { until: Some(end.ts), ..self.pages.range };
            let (app, player) = (self.pages.app.clone(), self.pages.player.clone());
            let mut again = Pages { app, player, range, after: None, done: false };
            let mut timed = Fingerprint::default();
            while timed.count < seen.count {
                let mut page = again.next().await?;
                if page.is_empty() {
                    break;
                }
                page.truncate(seen.count - timed.count);
                writer.times(&page, &mut out);
                timed.add(&page);
                self.send(std::mem::take(&mut out)).await?;
            }
            if timed != seen {
                return Err(Stop::Failed("the trail changed between the positions and the times".into()));
            }
        }
        writer.tail(&mut out);
        self.send(out).await
    }
}

/// The points a pass has read, as a count and a hash, to tell whether two passes read the
/// same points.
#[derive(Default, PartialEq, Eq)]
struct Fingerprint {
    count: usize,
    hash: u64,
}

impl Fingerprint {
    fn add(&mut self, fixes: &[Fix]) {
        for fix in fixes {
            let mut hasher = DefaultHasher::new();
            (self.hash, fix.lat.to_bits(), fix.lon.to_bits(), fix.ts).hash(&mut hasher);
            self.hash = hasher.finish();
            self.count += 1;
        }
    }
}
