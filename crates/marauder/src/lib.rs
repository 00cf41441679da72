//! The composition root: the only place that knows which backend runs (the embedded store
//! by default, Redis with `--redis`). `main` parses the
//! command line into a [`ServeConfig`]; tests build one and call [`run`] on port 0.

pub mod bench;
pub mod process;
pub mod simulate;
mod trim;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use marauder_core::retention::TrailMaxAge;
use marauder_core::{EventSink, Limits, Marauder, Store};
use marauder_server::{Hub, RateLimits, ServerConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// `marauder serve`'s settings. Every flag is also a `MARAUDER_*` environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "MARAUDER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Directory of the embedded store.
    #[arg(long, env = "MARAUDER_DATA_DIR", default_value = "./marauder-data")]
    pub data_dir: PathBuf,
    /// Trail points kept per player.
    #[arg(long, env = "MARAUDER_TRAIL_RETENTION", default_value_t = marauder_core::TRAIL_RETENTION)]
    pub trail_retention: u64,
    /// How long trail points are kept (`30d`, `12h`, `90m`, `1d12h`), or `keep`: older ones
    /// are never answered, and are erased in the background.
    #[arg(long, env = "MARAUDER_TRAIL_MAX_AGE", default_value = "keep")]
    pub trail_max_age: TrailMaxAge,
    /// Events kept per map for `since` resume (at least 1000).
    #[arg(long, env = "MARAUDER_RECENT_EVENTS", default_value_t = marauder_core::RECENT_EVENTS as u64, value_parser = clap::value_parser!(u64).range(1000..))]
    pub recent_events: u64,
    /// How long a busy map's events are collected before they are sent as one frame, in ms;
    /// the first event after a quiet window goes at once, and under load the window grows
    /// up to 16 times (BENCHMARKS.md has the measured trade-off between CPU and latency).
    #[arg(long, env = "MARAUDER_BATCH_WINDOW_MS", default_value_t = marauder_server::BATCH_WINDOW_MS)]
    pub batch_window_ms: u64,
    /// Bytes a WebSocket may have queued before its slowest subscription is dropped (`slow`).
    #[arg(long, env = "MARAUDER_OUTBOX_BYTES", default_value_t = marauder_server::OUTBOX_BYTES)]
    pub outbox_bytes: usize,
    /// WebSocket connections allowed per player.
    #[arg(long, env = "MARAUDER_MAX_WS_PER_PLAYER", default_value_t = marauder_server::MAX_WS_PER_PLAYER)]
    pub max_ws_per_player: usize,
    /// Keep all state in Redis instead of the data directory, so that many handlers can
    /// share it: `redis://host:port`, or with `--redis-cluster` any cluster nodes, comma
    /// separated.
    #[arg(long, env = "MARAUDER_REDIS", value_delimiter = ',')]
    pub redis: Vec<String>,
    /// The `--redis` URLs are nodes of a Redis Cluster (sharded pub/sub).
    #[arg(long, env = "MARAUDER_REDIS_CLUSTER", requires = "redis")]
    pub redis_cluster: bool,
    /// Map tiles of the web app: a URL template with {z}, {x}, {y} (and {s}), or `none` for
    /// a plain parchment map (no request leaves the browser but to this server).
    #[arg(long, env = "MARAUDER_TILES", default_value = marauder_server::OSM_TILES)]
    pub tiles: String,
    /// The credit shown for the tiles (HTML).
    #[arg(long, env = "MARAUDER_TILES_ATTRIBUTION", default_value = marauder_server::OSM_ATTRIBUTION)]
    pub tiles_attribution: String,
    /// Also run a few simulated walkers on a public map called "Demo", so a newcomer sees
    /// footprints moving at once.
    #[arg(long, env = "MARAUDER_DEMO")]
    pub demo: bool,
    /// Prefix of every Redis key and channel, so that deployments can share a Redis.
    #[arg(long, env = "MARAUDER_REDIS_PREFIX", default_value = "marauder")]
    pub redis_prefix: String,
    /// Embedded store: maps whose state is kept in memory; past it the least recently used
    /// are written out and dropped (read back on their next use).
    #[arg(long, env = "MARAUDER_FEED_MAX_MAPS", default_value_t = marauder_embedded::FEED_MAX_MAPS)]
    pub feed_max_maps: usize,
    /// Embedded store: recent events kept in memory, all maps together (~250 bytes each);
    /// past it, the least recently used maps' events are written to disk.
    #[arg(long, env = "MARAUDER_FEED_MAX_EVENTS", default_value_t = marauder_embedded::FEED_MAX_EVENTS)]
    pub feed_max_events: usize,
    /// Embedded store: a map unused for this many seconds leaves memory.
    #[arg(long, env = "MARAUDER_FEED_IDLE_SECS", default_value_t = marauder_embedded::FEED_IDLE_SECS)]
    pub feed_idle_secs: u64,
    /// Embedded store: the database's page cache in MiB, the bulk of the memory the stored
    /// data costs (the OS page cache holds the rest of the file).
    #[arg(long, env = "MARAUDER_STORE_CACHE_MIB", default_value_t = marauder_embedded::STORE_CACHE_MIB, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65536))]
    pub store_cache_mib: usize,
    /// Every this many seconds, memory the allocator holds free is handed back to the OS
    /// (glibc's `malloc_trim`); 0 never does.
    #[arg(long, env = "MARAUDER_MALLOC_TRIM_SECS", default_value_t = trim::INTERVAL_SECS)]
    pub malloc_trim_secs: u64,
    /// A request's line and headers must arrive within this many ms; a keep-alive
    /// connection idle for as long is closed (the project's client reuses one for less:
    /// `marauder_client::POOL_IDLE_TIMEOUT`).
    #[arg(long, env = "MARAUDER_HEADER_TIMEOUT_MS", default_value_t = marauder_server::HEADER_TIMEOUT_MS, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_ms: u64,
    /// A request's whole body must arrive within this many ms (else 408 and the connection
    /// is closed).
    #[arg(long, env = "MARAUDER_BODY_TIMEOUT_MS", default_value_t = marauder_server::BODY_TIMEOUT_MS, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_ms: u64,
    /// Client connections open at once (lowered to fit the file-descriptor limit); past it a
    /// new connection is answered 503 and closed.
    #[arg(long, env = "MARAUDER_MAX_CONNECTIONS", default_value_t = marauder_server::MAX_CONNECTIONS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: usize,
    /// How long, in ms, a write may wait for a client that reads nothing (a WebSocket or a
    /// pipelining HTTP client) before its connection is dropped.
    #[arg(long, env = "MARAUDER_WRITE_TIMEOUT_MS", default_value_t = marauder_server::WRITE_TIMEOUT_MS, value_parser = clap::value_parser!(u64).range(1..))]
    pub write_timeout_ms: u64,
    /// How often an idle WebSocket is pinged, in ms; a client silent since the previous ping
    /// is disconnected.
    #[arg(long, env = "MARAUDER_WS_PING_INTERVAL_MS", default_value_t = marauder_server::WS_PING_INTERVAL_MS, value_parser = clap::value_parser!(u64).range(1..))]
    pub ws_ping_interval_ms: u64,
    /// Web origins besides the server's own whose pages may open a WebSocket
    /// (`scheme://host[:port]`, comma separated).
    #[arg(long, env = "MARAUDER_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Per-client-address rate limits: `off` for tests and benchmarks that drive many
    /// clients from one address. Per handler: behind a load balancer each handler counts alone.
    #[arg(long, env = "MARAUDER_LIMITS", value_enum, default_value_t = Switch::On)]
    pub limits: Switch,
    /// Load balancers (IP addresses, comma separated) whose `X-Forwarded-For` names the client;
    /// from any other peer the header is ignored.
    #[arg(long, env = "MARAUDER_TRUST_PROXY", value_delimiter = ',')]
    pub trust_proxy: Vec<std::net::IpAddr>,
    /// Wrong secrets (token, invite code, device credential) an address may present at once
    /// before every attempt of it is refused with 429, even a right one.
    #[arg(long, env = "MARAUDER_GUESS_BURST", default_value_t = marauder_server::GUESS_BURST, value_parser = clap::value_parser!(u32).range(1..))]
    pub guess_burst: u32,
    /// After the burst, one more wrong secret is allowed every this many ms.
    #[arg(long, env = "MARAUDER_GUESS_REFILL_MS", default_value_t = marauder_server::GUESS_REFILL_MS, value_parser = clap::value_parser!(u64).range(1..))]
    pub guess_refill_ms: u64,
    /// Sign-ups, and map creations, an address may make at once (each counted apart).
    #[arg(long, env = "MARAUDER_CREATE_BURST", default_value_t = marauder_server::CREATE_BURST, value_parser = clap::value_parser!(u32).range(1..))]
    pub create_burst: u32,
    /// After the burst, one more of each every this many ms.
    #[arg(long, env = "MARAUDER_CREATE_REFILL_MS", default_value_t = marauder_server::CREATE_REFILL_MS, value_parser = clap::value_parser!(u64).range(1..))]
    pub create_refill_ms: u64,
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

impl ServeConfig {
    /// The defaults, with the data in `data_dir`, listening on an ephemeral loopback port,
    /// plain parchment tiles and no per-address limits (tests drive many clients from one
    /// address; the tests of the limits turn them on).
    ///
    /// The defaults are clap's, written once on the flags above; the environment is not
    /// read, so a developer's `MARAUDER_*` variables never reach a test.
    pub fn for_tests(data_dir: PathBuf) -> ServeConfig {
        use clap::{Args, FromArgMatches};
        let command = ServeConfig::augment_args(clap::Command::new("serve")).mut_args(|arg| arg.env(None));
        let matches = command.try_get_matches_from(["serve"]).expect("the defaults parse");
        let mut config = ServeConfig::from_arg_matches(&matches).expect("the defaults parse");
        config.listen = "127.0.0.1:0".into();
        config.data_dir = data_dir;
        config.tiles = "none".into();
        config.tiles_attribution = String::new();
        config.limits = Switch::Off;
        config
    }

    /// How `--redis` and its companions connect.
    pub fn redis_options(&self) -> marauder_redis::Options {
        marauder_redis::Options {
            urls: self.redis.clone(),
            cluster: self.redis_cluster,
            prefix: self.redis_prefix.clone(),
            trail_retention: self.trail_retention,
            recent_events: self.recent_events as usize,
        }
    }
}

/// Opens the backends and serves on `listener` until `shutdown`.
pub async fn run(
    config: ServeConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // First: what counts before the recorder is installed is lost. Once per process.
    marauder_server::metrics::install();
    let hub = Hub::new(Duration::from_millis(config.batch_window_ms));
    let sink: Arc<dyn EventSink> = hub.clone();
    let server = ServerConfig {
        outbox_bytes: config.outbox_bytes,
        max_connections_per_player: config.max_ws_per_player,
        tiles: (config.tiles != "none").then(|| config.tiles.clone()),
        tiles_attribution: config.tiles_attribution.clone(),
        header_timeout: Duration::from_millis(config.header_timeout_ms),
        body_timeout: Duration::from_millis(config.body_timeout_ms),
        max_connections: config.max_connections,
        ws_ping_interval: Duration::from_millis(config.ws_ping_interval_ms),
        write_timeout: Duration::from_millis(config.write_timeout_ms),
        allowed_origins: config.allowed_origins.clone(),
        limits: RateLimits {
            enabled: config.limits == Switch::On,
            trust_proxy: config.trust_proxy.clone(),
            guess_burst: config.guess_burst,
            guess_refill: Duration::from_millis(config.guess_refill_ms),
            create_burst: config.create_burst,
            create_refill: Duration::from_millis(config.create_refill_ms),
        },
    };
    let shutdown = match config.demo {
        true => with_demo(format!("http://{}", listener.local_addr()?), shutdown),
        false => shutdown,
    };
    trim::start(Duration::from_secs(config.malloc_trim_secs), shutdown.clone());
    if !config.redis.is_empty() {
        let redis = marauder_redis::connect(&config.redis_options(), sink)
            .await
            .with_context(|| format!("connecting to redis at {}", config.redis.join(",")))?;
        let sweeper = start_sweeper(redis.store.clone(), config.trail_max_age, shutdown.clone());
        let app = Marauder::new(redis.store, redis.feed, limits(&config));
        tracing::info!(addr = %listener.local_addr()?, redis = %config.redis.join(","), "serving");
        marauder_server::serve(app, hub, server, listener, shutdown).await?;
        sweeper.await?;
        return Ok(());
    }
    let options = marauder_embedded::Options {
        trail_retention: config.trail_retention,
        recent_events: config.recent_events as usize,
        feed: marauder_embedded::FeedLimits {
            max_maps: config.feed_max_maps,
            max_events: config.feed_max_events,
            idle: Duration::from_secs(config.feed_idle_secs),
        },
        cache_bytes: config.store_cache_mib << 20,
        ..Default::default()
    };
    let embedded = marauder_embedded::open(&config.data_dir, options, sink)
        .with_context(|| format!("opening the data directory {}", config.data_dir.display()))?;
    let sweeper = start_sweeper(embedded.store.clone(), config.trail_max_age, shutdown.clone());
    let app = Marauder::new(embedded.store, embedded.feed, limits(&config));
    tracing::info!(addr = %listener.local_addr()?, data_dir = %config.data_dir.display(), "serving");
    marauder_server::serve(app, hub, server, listener, shutdown).await?;
    sweeper.await?;
    // Every handle to the store is gone with the server: wait for the file to be released.
    let closed = embedded.closed;
    tokio::task::spawn_blocking(move || closed.wait()).await?;
    Ok(())
}

fn limits(config: &ServeConfig) -> Limits {
    Limits { trail_max_age: config.trail_max_age, ..Limits::default() }
}

/// Erases expired trail points in the background until `shutdown` (at once without
/// `--trail-max-age`); the task holds the store only during a step.
fn start_sweeper(
    store: Arc<dyn Store>,
    max_age: TrailMaxAge,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let store = Arc::downgrade(&store);
    tokio::spawn(async move {
        tokio::select! {
            () = marauder_core::retention::sweep(store, max_age) => {}
            () = shutdown.cancelled() => {}
        }
    })
}

/// Starts the demo walkers; answers the token that stops the server, cancelled once the
/// walkers have left after `shutdown` (they need the server to say goodbye).
fn with_demo(url: String, shutdown: CancellationToken) -> CancellationToken {
    let (walkers, server) = (CancellationToken::new(), CancellationToken::new());
    let stop_walkers = walkers.clone();
    let demo = tokio::spawn(async move {
        if let Err(err) = simulate::run(&simulate::SimulateArgs::demo(url), stop_walkers).await {
            tracing::warn!(error = %err, "the demo walkers could not start");
        }
    });
    let stop_server = server.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        walkers.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(3), demo).await;
        stop_server.cancel();
    });
    server
}

// The client lets a kept-alive connection go well before the server closes it (the
// keep-alive race: a request sent as the server closes fails without an answer).
const _: () =
    assert!(marauder_client::POOL_IDLE_TIMEOUT.as_millis() * 2 <= marauder_server::HEADER_TIMEOUT_MS as u128);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_config_is_the_flags_defaults_with_the_test_overrides() {
        let config = ServeConfig::for_tests(PathBuf::from("/tmp/x"));
        assert_eq!(config.trail_retention, marauder_core::TRAIL_RETENTION);
        assert_eq!(config.trail_max_age, TrailMaxAge(None));
        assert_eq!(config.recent_events, marauder_core::RECENT_EVENTS as u64);
        assert_eq!(config.batch_window_ms, marauder_server::BATCH_WINDOW_MS);
        assert_eq!(config.outbox_bytes, marauder_server::OUTBOX_BYTES);
        assert_eq!(config.max_connections, marauder_server::MAX_CONNECTIONS);
        assert_eq!(config.feed_max_maps, marauder_embedded::FEED_MAX_MAPS);
        assert_eq!(config.store_cache_mib, marauder_embedded::STORE_CACHE_MIB);
        assert_eq!(config.malloc_trim_secs, trim::INTERVAL_SECS);
        assert_eq!(config.guess_burst, marauder_server::GUESS_BURST);
        assert_eq!((config.listen.as_str(), config.tiles.as_str()), ("127.0.0.1:0", "none"));
        assert_eq!((config.limits, config.redis.len(), config.demo), (Switch::Off, 0, false));
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
    }
}
