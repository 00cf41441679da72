//! `marauder bench`: the reference benchmark. n clients, spread evenly over k maps, each with
//! a WebSocket receiver and a pusher; once every receiver is subscribed, each pusher sends m
//! location updates s seconds apart. A client is done when it has sent all its updates and
//! received all (n/k)·m of its map; t is the time from the start until every client is done.
//!
//! One tokio runtime drives every client (no thread per client), and receivers decode only
//! the fields they check, so that the load generator is not the bottleneck.
//!
//! With `--calibrate`, the run is followed by the floor under the server's CPU per frame
//! (see `calibrate`).

mod calibrate;
mod clients;
mod html;
mod places;
mod report;
mod setup;
mod walk;

use std::path::PathBuf;
use std::time::Duration;

pub use report::Report;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Push {
    /// `POST /api/v1/locations`
    Rest,
    /// `location` frames on the client's WebSocket
    Ws,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Servers to drive (comma separated: client i talks to the (i mod count)th); without it
    /// `--handlers` `marauder serve` processes are started on free ports with a fresh data
    /// directory and stopped afterwards.
    #[arg(long, value_delimiter = ',')]
    pub url: Vec<String>,
    /// How many `marauder serve` to start when no `--url` is given. More than one needs
    /// `--redis-server` (or a `--redis` in `--serve-args`).
    #[arg(long, default_value_t = 1)]
    pub handlers: usize,
    /// Start a redis-server (AOF, fsync on every write, as deploy/redis.conf) and run the
    /// handlers on it; its CPU and memory count as the server's.
    #[arg(long)]
    pub redis_server: bool,
    /// The `appendfsync` of that redis-server: `always` (as deploy/redis.conf) or
    /// `everysec` (a second of acknowledged writes at risk on a power loss).
    #[arg(long, default_value = "always", value_parser = ["always", "everysec"])]
    pub redis_fsync: String,
    /// Number of clients (n).
    #[arg(long, short = 'n', default_value_t = 50)]
    pub clients: usize,
    /// Location updates each client sends (m).
    #[arg(long, short = 'm', default_value_t = 10)]
    pub updates: usize,
    /// Seconds between a client's updates (s); 0 sends as fast as the server takes them.
    #[arg(long, short = 's', default_value_t = 1.0)]
    pub interval: f64,
    /// Number of maps the clients are spread over (k).
    #[arg(long, short = 'k', default_value_t = 1)]
    pub maps: usize,
    /// Places drawn on every map before the run (at most 100), where its walkers go: some
    /// crossed by them (arrivals and departures happen), the rest spread around.
    #[arg(long, default_value_t = 0)]
    pub places: usize,
    /// How pushers send their updates.
    #[arg(long, value_enum, default_value = "ws")]
    pub push: Push,
    /// Start each pusher at a random offset within the first interval.
    #[arg(long)]
    pub jitter: bool,
    /// Give up (and report what is missing) after this many seconds of the run.
    #[arg(long, default_value_t = 600.0)]
    pub timeout: f64,
    /// Subscribe no receivers: measure ingest alone.
    #[arg(long)]
    pub no_receivers: bool,
    /// Hold the connections open and idle for this many seconds after subscribing, send
    /// nothing, and report the server's memory per connection.
    #[arg(long)]
    pub idle: Option<f64>,
    /// Loopback addresses to open connections from, round robin (past one address's
    /// ephemeral ports), e.g. 127.0.0.2.
    #[arg(long, value_delimiter = ',')]
    pub source_addrs: Vec<std::net::Ipv4Addr>,
    /// Setup requests in flight at once.
    #[arg(long, default_value_t = 64)]
    pub setup_concurrency: usize,
    /// Extra arguments for the `marauder serve` the bench starts (e.g. "--batch-window-ms=10").
    #[arg(long, allow_hyphen_values = true, value_delimiter = ' ')]
    pub serve_args: Vec<String>,
    /// Write an HTML page with plots of the latencies here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Print only the JSON line.
    #[arg(long)]
    pub quiet: bool,
    /// After the run, measure the floor under the server's CPU per frame: the same frames
    /// written to as many loopback sockets by one thread of the bench, with nothing else.
    #[arg(long)]
    pub calibrate: bool,
}

impl BenchArgs {
    /// A small run for tests: n clients in k maps, m updates every `interval` seconds.
    pub fn small(url: Option<String>, n: usize, m: usize, interval: f64, k: usize) -> BenchArgs {
        BenchArgs {
            url: url.into_iter().collect(),
            handlers: 1,
            redis_server: false,
            redis_fsync: "always".into(),
            clients: n,
            updates: m,
            interval,
            maps: k,
            places: 0,
            push: Push::Ws,
            jitter: true,
            timeout: 120.0,
            no_receivers: false,
            idle: None,
            source_addrs: Vec::new(),
            setup_concurrency: 16,
            serve_args: Vec::new(),
            report: None,
            quiet: true,
            calibrate: false,
        }
    }

    fn interval(&self) -> Duration {
        Duration::from_secs_f64(self.interval.max(0.0))
    }
}

/// Runs the benchmark and answers its report.
pub async fn run(args: &BenchArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(args.clients > 0 && args.maps > 0, "--clients and --maps must be positive");
    anyhow::ensure!(args.clients.is_multiple_of(args.maps), "--clients must be a multiple of --maps");
    anyhow::ensure!(
        args.places <= places::MAX_PLACES,
        "--places: a map holds at most {} places",
        places::MAX_PLACES
    );
    raise_fd_limit();
    let mut world = setup::World::prepare(args).await?;
    if args.places > 0 {
        places::draw(args, &world).await?;
    }
    let mut report = match args.idle {
        Some(hold) => clients::hold_idle(args, &mut world, Duration::from_secs_f64(hold)).await?,
        None => clients::run(args, &mut world).await?,
    };
    world.finish().await?;
    if args.calibrate {
        floor(args, &mut report).await?;
    }
    if let Some(path) = &args.report {
        std::fs::write(path, html::page(&report))?;
    }
    Ok(report)
}

/// Measures the floor under the run's frames (once the servers the bench started are gone)
/// and adds it to the report: paced at the run's frames per second, then unpaced.
async fn floor(args: &BenchArgs, report: &mut Report) -> anyhow::Result<()> {
    let (Some(bytes), false) = (report.frame_bytes_mean, args.no_receivers || report.t <= 0.0) else {
        return Ok(()); // No frames to compare with.
    };
    let load = calibrate::Load {
        frames: report.frames,
        payload: bytes.round() as usize,
        sockets: args.clients,
        rate: Some(report.frames as f64 / report.t),
    };
    let (paced, unpaced) = tokio::task::spawn_blocking(move || {
        let paced = calibrate::measure(load)?;
        let unpaced = calibrate::measure(calibrate::Load { rate: None, ..load })?;
        Ok::<_, anyhow::Error>((paced, unpaced))
    })
    .await??;
    if !args.quiet {
        for (name, floor) in [("paced", &paced), ("unpaced", &unpaced)] {
            eprintln!(
                "floor, {name}: {} frames of {} B to {} sockets in {:.3} s ({:.0}/s), {:.3} s CPU, \
                 {} short writes",
                floor.frames,
                load.payload,
                load.sockets,
                floor.wall_s,
                floor.frames as f64 / floor.wall_s,
                floor.cpu_s,
                floor.short_writes
            );
        }
    }
    report.set_floor(paced.cpu_per_frame_us(), unpaced.cpu_per_frame_us());
    Ok(())
}

/// Lets this process (and the server it starts) open as many sockets as allowed.
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}
