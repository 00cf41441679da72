//! The memory an export of a long trail takes (`BENCHMARKS.md`): a `marauder serve` process
//! with a million points of one player (pushed as WebSocket `location` frames), whose whole
//! trail is downloaded as GPX (twice) and GeoJSON while /proc reports the server's RSS, on
//! the backend of the run (`MARAUDER_TEST_BACKEND`). Ignored (it
//! takes a minute or more); run it with
//! `cargo test -p marauder --test api export_memory -- --ignored --nocapture`
//! (`MARAUDER_EXPORT_POINTS`, `MARAUDER_EXPORT_EXE` to change the count or the binary).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Instant;

use marauder::process::{ServerProcess, usage_of};
use marauder_client::protocol::ServerMessage;
use marauder_client::{Client, Incoming, TrailQuery};

use crate::helpers::loc_at;

const MIB: u64 = 1024 * 1024;
const CONNECTIONS: i64 = 4;

/// Counts the bytes, the `<trkpt ` and the `[` it is given, holding nothing else.
#[derive(Default)]
struct Counter {
    bytes: u64,
    points: u64,
    /// `[`: in GeoJSON, one a position and three more.
    brackets: u64,
    tail: Vec<u8>,
}

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes += buf.len() as u64;
        let mut joined = std::mem::take(&mut self.tail);
        joined.extend_from_slice(buf);
        self.points += joined.windows(7).filter(|w| w == b"<trkpt ").count() as u64;
        self.brackets += buf.iter().filter(|&&b| b == b'[').count() as u64;
        self.tail = joined[joined.len().saturating_sub(6)..].to_vec();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Pushes `points` points (distinct ts) over a few connections and waits until every frame
/// was handled: a frame naming an unknown map is answered after the frames before it.
async fn fill(player: &Client, points: i64) {
    let pushers = (0..CONNECTIONS).map(|c| {
        let player = player.clone();
        tokio::spawn(async move {
            let mut live = player.connect().await.unwrap();
            for ts in (c..points).step_by(CONNECTIONS as usize) {
                live.push_location(&loc_at((ts % 1_000_000) as f64 / 20_000.0, 1.0, ts)).await.unwrap();
            }
            live.subscribe("nosuchmap", None).await.unwrap();
            loop {
                match live.next().await.unwrap() {
                    Incoming::Message(ServerMessage::Error { map: Some(map), .. }) if map == "nosuchmap" => {
                        break;
                    }
                    Incoming::Message(ServerMessage::Error { message, .. }) => panic!("refused: {message}"),
                    Incoming::Closed(code) => panic!("closed: {code:?}"),
                    Incoming::Message(_) => {}
                }
            }
        })
    });
    for pusher in pushers.collect::<Vec<_>>() {
        pusher.await.unwrap();
    }
}

#[tokio::test]
#[ignore = "a measurement for BENCHMARKS.md: a million points, a minute or more"]
async fn a_million_point_trail_exports_in_bounded_memory() {
    let points: i64 =
        std::env::var("MARAUDER_EXPORT_POINTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let exe = std::env::var_os("MARAUDER_EXPORT_EXE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_marauder")));
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<OsString> = ["--trail-retention", &(2 * points).to_string()].map(OsString::from).into();
    if let Some(redis) = crate::helpers::backend() {
        let prefix = format!("export{}", fastrand::u64(..));
        args.extend(["--redis", &redis.urls.join(","), "--redis-prefix", &prefix].map(OsString::from));
        if redis.cluster {
            args.push("--redis-cluster".into());
        }
    }
    let server = ServerProcess::start(&exe, dir.path(), &args).unwrap();
    let anon = Client::new(&server.url);
    let created = anon.create_player("Hermione").await.unwrap();
    let hermione = anon.with_token(&created.token);
    let started = Instant::now();
    fill(&hermione, points).await;
    let mib = |bytes: u64| bytes / MIB;
    eprintln!(
        "{points} points stored in {:.1} s; server RSS {} MiB",
        started.elapsed().as_secs_f64(),
        mib(server.usage().unwrap().rss_bytes)
    );
    // The first export fills the store's read cache (embedded: redb's, 64 MiB); the second
    // shows what an export itself holds.
    for format in ["gpx", "gpx", "geojson"] {
        let before = server.usage().unwrap().rss_bytes;
        // Resets the peak (VmHWM) to the current RSS, so the peak below is the export's.
        std::fs::write(format!("/proc/{}/clear_refs", server.pid()), "5").unwrap();
        let started = Instant::now();
        let mut counter = Counter::default();
        let query = TrailQuery { format: Some(format), ..TrailQuery::default() };
        hermione.own_trail_to(&query, &mut counter).await.unwrap();
        let elapsed = started.elapsed().as_secs_f64();
        let usage = usage_of(server.pid()).unwrap();
        eprintln!(
            "{format}: {} MiB in {elapsed:.1} s; server RSS {} MiB before, peak {} MiB during, {} MiB after",
            mib(counter.bytes),
            mib(before),
            mib(usage.peak_rss_bytes),
            mib(usage.rss_bytes)
        );
        match format {
            "gpx" => assert_eq!(counter.points, points as u64, "every point exported"),
            _ => assert_eq!(counter.brackets, points as u64 + 3, "every position exported"),
        }
    }
    assert!(server.stop().unwrap().success());
}
