//! What an operator can watch: the name of every metric, the process-wide Prometheus
//! recorder behind `GET /metrics`, and cheap helpers for the handler tier's counts.
//!
//! The backends record through the `metrics` facade alone (they know nothing of this crate
//! or of Prometheus); the names they use are listed here so that one place describes them
//! all. No metric has a label naming a player or a map: labels are small fixed sets.
//!
//! The fan-out path counts once per batch, never per recipient: handles are resolved once
//! (after [`install`]) and each count is one relaxed atomic add.

use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use axum::response::Response;
use metrics::{Counter, Gauge, Histogram, Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_CONNECTIONS: &str = "marauder_http_connections";
pub const HTTP_CONNECTIONS_MAX: &str = "marauder_http_connections_max";
pub const HTTP_RESPONSES: &str = "marauder_http_responses_total";
pub const WEBSOCKET_CONNECTIONS: &str = "marauder_websocket_connections";
pub const SUBSCRIPTIONS: &str = "marauder_subscriptions";
/// Recorded by each backend's `Feed::publish`, labelled `kind` (location, joined, left).
pub const EVENTS_PUBLISHED: &str = marauder_core::EVENTS_PUBLISHED;
pub const EVENTS_DELIVERED: &str = "marauder_events_delivered_total";
pub const FRAMES_SENT: &str = "marauder_websocket_frames_sent_total";
pub const BYTES_SENT: &str = "marauder_websocket_sent_bytes_total";
pub const BATCH_EVENTS: &str = "marauder_fanout_batch_events";
pub const FRAMES_DIRECT: &str = "marauder_websocket_frames_direct_total";
pub const SLOW_DROPS: &str = "marauder_slow_consumer_drops_total";
pub const RATE_LIMITED: &str = "marauder_rate_limited_total";
/// Recorded by the embedded backend's writer thread.
pub const STORE_COMMIT_SECONDS: &str = "marauder_store_commit_duration_seconds";
/// Recorded by the Redis backend, for a sample of its commands.
pub const REDIS_COMMAND_SECONDS: &str = "marauder_redis_command_duration_seconds";

/// The `Content-Type` of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// How often histogram samples are folded into their buckets when nobody scrapes, which
/// bounds what they hold in between.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// From 100 µs (a commit that found nothing to fsync) to 5 s (a disk in trouble).
const LATENCY_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder, once however often it is called (tests start many
/// servers in one process). Everything counted before the first call is lost.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(BATCH_EVENTS.into()), BATCH_BUCKETS))
            .expect("the bucket lists are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if let Err(err) = metrics::set_global_recorder(recorder) {
            tracing::warn!(%err, "another metrics recorder is installed; /metrics stays empty");
        }
        describe();
        // Every series from the first scrape, at 0: a rate over a series that appears late
        // misses its first increments.
        LazyLock::force(&FANOUT);
        LazyLock::force(&RESPONSES);
        for kind in ["location", "joined", "left"] {
            metrics::counter!(EVENTS_PUBLISHED, "kind" => kind).increment(0);
        }
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new().name("marauder-metrics".into()).spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            }
        });
        if let Err(err) = spawned {
            tracing::warn!(%err, "cannot start the metrics upkeep thread; histograms drain on scrape only");
        }
        handle
    })
}

/// The recorder's handle, if [`install`] ran in this process.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE.get()
}

fn describe() {
    describe_gauge!(HTTP_CONNECTIONS, "Open HTTP connections (TCP), WebSockets included.");
    describe_gauge!(HTTP_CONNECTIONS_MAX, "The connection cap: past it a new connection gets 503.");
    describe_counter!(HTTP_RESPONSES, "HTTP responses sent, by status class (`class`: 1xx to 5xx).");
    describe_gauge!(WEBSOCKET_CONNECTIONS, "Open WebSocket sessions.");
    describe_gauge!(SUBSCRIPTIONS, "Live map subscriptions of this handler's WebSockets.");
    describe_counter!(EVENTS_PUBLISHED, "Events given a seq by this handler, by `kind`.");
    describe_counter!(
        EVENTS_DELIVERED,
        "Events sent to subscribers (written or queued): each event once per recipient."
    );
    describe_counter!(
        FRAMES_SENT,
        "Event frames sent to WebSockets (written or queued): one per batch per recipient."
    );
    describe_counter!(
        FRAMES_DIRECT,
        "Of those frames, the ones the fan-out wrote to the socket itself, not through the session's queue."
    );
    describe_counter!(BYTES_SENT, Unit::Bytes, "Bytes of the event frames sent to WebSockets.");
    describe_histogram!(BATCH_EVENTS, Unit::Count, "Events per fan-out frame.");
    describe_counter!(SLOW_DROPS, "Subscriptions ended with `slow` because their outbox was full.");
    describe_counter!(RATE_LIMITED, "Requests refused with 429, by `kind` of limit.");
    describe_histogram!(
        STORE_COMMIT_SECONDS,
        Unit::Seconds,
        "Embedded store: one successful group commit, fsync included."
    );
    describe_histogram!(
        REDIS_COMMAND_SECONDS,
        Unit::Seconds,
        "Redis round trip of a sampled command or pipeline."
    );
}

/// The fan-out's handles, resolved once: a lookup by name costs a locked map access.
struct Fanout {
    delivered: Counter,
    frames: Counter,
    direct: Counter,
    bytes: Counter,
    batch_events: Histogram,
    slow_drops: Counter,
    subscriptions: Gauge,
    websockets: Gauge,
    http_connections: Gauge,
}

static FANOUT: LazyLock<Fanout> = LazyLock::new(|| Fanout {
    delivered: metrics::counter!(EVENTS_DELIVERED),
    frames: metrics::counter!(FRAMES_SENT),
    direct: metrics::counter!(FRAMES_DIRECT),
    bytes: metrics::counter!(BYTES_SENT),
    batch_events: metrics::histogram!(BATCH_EVENTS),
    slow_drops: metrics::counter!(SLOW_DROPS),
    subscriptions: metrics::gauge!(SUBSCRIPTIONS),
    websockets: metrics::gauge!(WEBSOCKET_CONNECTIONS),
    http_connections: metrics::gauge!(HTTP_CONNECTIONS),
});

/// One batch of `events` events, `frame_len` bytes, sent to `recipients` sockets, `direct`
/// of them written by the fan-out itself.
pub(crate) fn batch_queued(events: usize, recipients: usize, direct: usize, frame_len: usize) {
    let fanout = &*FANOUT;
    fanout.batch_events.record(events as f64);
    if recipients > 0 {
        fanout.delivered.increment((events * recipients) as u64);
        fanout.frames.increment(recipients as u64);
        fanout.direct.increment(direct as u64);
        fanout.bytes.increment((frame_len * recipients) as u64);
    }
}

pub(crate) fn slow_drop() {
    FANOUT.slow_drops.increment(1);
}

pub(crate) fn subscriptions_changed(delta: f64) {
    FANOUT.subscriptions.increment(delta);
}

pub(crate) fn websockets_changed(delta: f64) {
    FANOUT.websockets.increment(delta);
}

/// A refusal by a rate limit; `kind` names the limit, never the client.
pub fn rate_limited(kind: &'static str) {
    metrics::counter!(RATE_LIMITED, "kind" => kind).increment(1);
}

/// The cap in force (`--max-connections`, lowered to what the file limit allows).
pub fn connection_cap(cap: usize) {
    metrics::gauge!(HTTP_CONNECTIONS_MAX).set(cap as f64);
}

/// Held by the accept loop for as long as a connection is open.
pub struct HttpConnection(());

impl HttpConnection {
    pub fn open() -> HttpConnection {
        FANOUT.http_connections.increment(1.0);
        HttpConnection(())
    }
}

impl Drop for HttpConnection {
    fn drop(&mut self) {
        FANOUT.http_connections.decrement(1.0);
    }
}

static RESPONSES: LazyLock<[Counter; 5]> = LazyLock::new(|| {
    ["1xx", "2xx", "3xx", "4xx", "5xx"].map(|class| metrics::counter!(HTTP_RESPONSES, "class" => class))
});

/// Counts a response by its status class; for `axum::middleware::map_response`.
pub async fn count_response(response: Response) -> Response {
    let class = (response.status().as_u16() / 100).clamp(1, 5) as usize - 1;
    RESPONSES[class].increment(1);
    response
}
