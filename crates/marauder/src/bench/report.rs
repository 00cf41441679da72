//! The bench's results: one JSON line, a readable table, and what the HTML page plots.

use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::BenchArgs;
use super::clients::ClientResult;
use crate::process::Usage;

/// Latency buckets per second of the run: bucket b counts latencies in [2^b, 2^(b+1)) µs.
/// Each client keeps its own (no shared counters on the receive path); they are merged.
#[derive(Default)]
pub struct Timeline {
    seconds: Vec<[u32; BUCKETS]>,
}

const BUCKETS: usize = 32;

impl Timeline {
    /// `at` and `latency` in micros.
    pub fn record(&mut self, at: u64, latency: u64) {
        let second = (at / 1_000_000) as usize;
        let bucket = (63 - latency.max(1).leading_zeros() as usize).min(BUCKETS - 1);
        if self.seconds.len() <= second {
            self.seconds.resize(second + 1, [0; BUCKETS]);
        }
        self.seconds[second][bucket] += 1;
    }

    pub fn merge(&mut self, other: &Timeline) {
        if self.seconds.len() < other.seconds.len() {
            self.seconds.resize(other.seconds.len(), [0; BUCKETS]);
        }
        for (mine, theirs) in self.seconds.iter_mut().zip(&other.seconds) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += b;
            }
        }
    }

    /// Per second with deliveries: (second, count, p50 ms, p99 ms), from bucket upper bounds.
    fn summary(&self) -> Vec<TimelinePoint> {
        let mut out = Vec::new();
        for (second, row) in self.seconds.iter().enumerate() {
            let counts: Vec<u64> = row.iter().map(|&c| c as u64).collect();
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let quantile = |q: f64| {
                let target = (total as f64 * q).ceil() as u64;
                let mut seen = 0;
                for (b, c) in counts.iter().enumerate() {
                    seen += c;
                    if seen >= target {
                        return (1u64 << (b + 1)) as f64 / 1000.0;
                    }
                }
                f64::NAN
            };
            out.push(TimelinePoint {
                second: second as u64,
                deliveries: total,
                p50_ms: quantile(0.5),
                p99_ms: quantile(0.99),
            });
        }
        out
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelinePoint {
    pub second: u64,
    pub deliveries: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

pub struct Outcome {
    pub elapsed: Duration,
    pub results: Vec<ClientResult>,
    /// Per (client, update), client-major: the position sent.
    pub sent: Vec<(f64, f64)>,
    /// Per (client, update): the server did not acknowledge it (counted in the errors).
    pub unacked: Vec<bool>,
    pub server_cpu_seconds: Option<f64>,
    pub server_peak_rss_bytes: Option<u64>,
    pub bench_cpu_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub n: usize,
    pub m: usize,
    pub s: f64,
    pub k: usize,
    pub push: String,
    pub t: f64,
    pub ideal: f64,
    pub overhead_pct: f64,
    pub deliveries: u64,
    pub expected: u64,
    pub deliveries_per_s: f64,
    pub updates_per_s: f64,
    pub latency_ms: Latencies,
    pub missing: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub consistent: bool,
    pub errors: u64,
    pub timed_out: bool,
    /// Places per map (`--places`), and the `arrived` and `departed` events of all maps
    /// (each counted once, as one of its map's receivers saw it; none without receivers).
    pub places: usize,
    pub arrived: Option<u64>,
    pub departed: Option<u64>,
    pub server_cpu_s: Option<f64>,
    pub server_peak_rss_mib: Option<f64>,
    pub bench_cpu_s: f64,
    /// Idle mode: connections held, and the server's RSS per connection.
    pub idle_connections: Option<usize>,
    pub idle_rss_bytes_per_connection: Option<f64>,
    /// The `events` frames all receivers got (one frame may carry several events), and
    /// their mean payload bytes.
    pub frames: u64,
    pub frame_bytes_mean: Option<f64>,
    /// The server's CPU per frame and per delivery, µs.
    pub server_cpu_per_frame_us: Option<f64>,
    pub server_cpu_per_delivery_us: Option<f64>,
    /// `--calibrate`: the floor's CPU per frame (`calibrate`), paced at the run's frames per
    /// second and back to back, µs; and the server's CPU per frame over the paced floor.
    pub floor_cpu_per_frame_us: Option<f64>,
    pub floor_cpu_per_frame_unpaced_us: Option<f64>,
    pub per_frame_vs_floor: Option<f64>,
    #[serde(skip)]
    pub histogram: Vec<(f64, u64)>,
    #[serde(skip)]
    pub timeline: Vec<TimelinePoint>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Latencies {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Report {
    pub fn new(args: &BenchArgs, outcome: Outcome) -> Report {
        let (n, m, k) = (args.clients, args.updates, args.maps);
        let group = n / k;
        let receivers = !args.no_receivers;
        let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 2).expect("valid bounds");
        let (mut deliveries, mut duplicates, mut out_of_order, mut errors, mut missing) = (0, 0, 0, 0, 0);
        let (mut frames, mut frame_bytes) = (0u64, 0u64);
        let mut consistent = receivers;
        let mut done = true;
        let mut last_done = 0u64;
        let mut timeline = Timeline::default();
        // Per map: the crossings one receiver saw (all see the same in a clean run).
        let mut crossings = vec![(0u64, 0u64); k];
        for result in &outcome.results {
            let seen = &mut crossings[result.group];
            *seen = (seen.0.max(result.arrived), seen.1.max(result.departed));
            let _ = latency.add(&result.latency);
            timeline.merge(&result.timeline);
            deliveries += result.received;
            duplicates += result.duplicates;
            out_of_order += result.out_of_order;
            errors += result.errors;
            frames += result.frames;
            frame_bytes += result.frame_bytes;
            match result.done_at {
                Some(at) => last_done = last_done.max(at),
                None => done = false,
            }
            if receivers {
                for (local, seen) in result.seen.iter().enumerate() {
                    let sender = local * k + result.group;
                    let slots = sender * m..(sender + 1) * m;
                    let next = slots.start + seen.next as usize;
                    // Every acknowledged update must arrive (an unacknowledged one may): those
                    // after the last one seen are missing. The last one seen is the sender's
                    // final position, as sent.
                    let not_seen = outcome.unacked[next..slots.end].iter().filter(|u| !**u).count() as u64;
                    missing += not_seen;
                    consistent &=
                        not_seen == 0 && (next == slots.start || seen.last == outcome.sent[next - 1]);
                }
            }
        }
        let acked = outcome.unacked.iter().filter(|u| !**u).count() as u64;
        let expected = if receivers { acked * group as u64 } else { 0 };
        let t = if done { last_done as f64 / 1e6 } else { outcome.elapsed.as_secs_f64() };
        let ideal = args.interval * m as f64;
        let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
        Report {
            n,
            m,
            s: args.interval,
            k,
            push: format!("{:?}", args.push).to_lowercase(),
            t,
            ideal,
            overhead_pct: if ideal > 0.0 { (t - ideal) / ideal * 100.0 } else { f64::NAN },
            deliveries,
            expected,
            deliveries_per_s: deliveries as f64 / t,
            updates_per_s: (n * m) as f64 / t,
            latency_ms: if latency.is_empty() {
                Latencies::default()
            } else {
                Latencies { p50: ms(0.5), p90: ms(0.9), p99: ms(0.99), max: latency.max() as f64 / 1000.0 }
            },
            missing,
            duplicates,
            out_of_order,
            consistent,
            errors,
            timed_out: !done,
            places: args.places,
            arrived: receivers.then(|| crossings.iter().map(|c| c.0).sum()),
            departed: receivers.then(|| crossings.iter().map(|c| c.1).sum()),
            server_cpu_s: outcome.server_cpu_seconds,
            server_peak_rss_mib: outcome.server_peak_rss_bytes.map(|b| b as f64 / (1024.0 * 1024.0)),
            bench_cpu_s: outcome.bench_cpu_seconds,
            idle_connections: None,
            idle_rss_bytes_per_connection: None,
            frames,
            frame_bytes_mean: (frames > 0).then(|| frame_bytes as f64 / frames as f64),
            server_cpu_per_frame_us: per_us(outcome.server_cpu_seconds, frames),
            server_cpu_per_delivery_us: per_us(outcome.server_cpu_seconds, deliveries),
            floor_cpu_per_frame_us: None,
            floor_cpu_per_frame_unpaced_us: None,
            per_frame_vs_floor: None,
            histogram: latency
                .iter_log(1, 2.0)
                .map(|v| (v.value_iterated_to() as f64 / 1000.0, v.count_since_last_iteration()))
                .collect(),
            timeline: timeline.summary(),
        }
    }

    pub fn idle(args: &BenchArgs, held: usize, before: Option<Usage>, after: Option<Usage>) -> Report {
        let per_connection =
            before.zip(after).map(|(b, a)| (a.rss_bytes as f64 - b.rss_bytes as f64) / held as f64);
        Report {
            n: args.clients,
            m: 0,
            s: 0.0,
            k: args.maps,
            push: "none".into(),
            t: 0.0,
            ideal: 0.0,
            overhead_pct: 0.0,
            deliveries: 0,
            expected: 0,
            deliveries_per_s: 0.0,
            updates_per_s: 0.0,
            latency_ms: Latencies::default(),
            missing: 0,
            duplicates: 0,
            out_of_order: 0,
            consistent: true,
            errors: (args.clients - held) as u64,
            timed_out: false,
            places: args.places,
            arrived: None,
            departed: None,
            server_cpu_s: None,
            server_peak_rss_mib: after.map(|u| u.peak_rss_bytes as f64 / (1024.0 * 1024.0)),
            bench_cpu_s: 0.0,
            idle_connections: Some(held),
            idle_rss_bytes_per_connection: per_connection,
            frames: 0,
            frame_bytes_mean: None,
            server_cpu_per_frame_us: None,
            server_cpu_per_delivery_us: None,
            floor_cpu_per_frame_us: None,
            floor_cpu_per_frame_unpaced_us: None,
            per_frame_vs_floor: None,
            histogram: Vec::new(),
            timeline: Vec::new(),
        }
    }

    /// Adds the floor's CPU per frame (µs; `--calibrate`), paced and unpaced.
    pub fn set_floor(&mut self, paced: Option<f64>, unpaced: Option<f64>) {
        self.floor_cpu_per_frame_us = paced;
        self.floor_cpu_per_frame_unpaced_us = unpaced;
        self.per_frame_vs_floor =
            self.server_cpu_per_frame_us.zip(paced).filter(|&(_, floor)| floor > 0.0).map(|(s, f)| s / f);
    }

    /// Whether nothing went wrong: nothing missing, repeated or reordered, consistent.
    pub fn clean(&self) -> bool {
        let checked = self.expected > 0 || self.idle_connections.is_some();
        self.missing == 0
            && self.duplicates == 0
            && self.out_of_order == 0
            && self.errors == 0
            && !self.timed_out
            && (self.consistent || !checked)
    }

    pub fn json_line(&self) -> String {
        serde_json::to_string(self).expect("a report encodes")
    }

    pub fn table(&self) -> String {
        let opt = |v: Option<f64>, unit: &str| v.map_or("-".to_owned(), |v| format!("{v:.2} {unit}"));
        let rows = [
            ("clients (n)", self.n.to_string()),
            ("updates each (m)", self.m.to_string()),
            ("interval (s)", format!("{} s", self.s)),
            ("maps (k)", self.k.to_string()),
            ("push", self.push.clone()),
            ("t", format!("{:.3} s", self.t)),
            ("ideal (s·m)", format!("{:.3} s", self.ideal)),
            ("overhead", format!("{:.2} %", self.overhead_pct)),
            ("deliveries", format!("{} of {}", self.deliveries, self.expected)),
            ("deliveries/s", format!("{:.0}", self.deliveries_per_s)),
            ("updates/s", format!("{:.0}", self.updates_per_s)),
            (
                "latency p50/p90/p99/max",
                format!(
                    "{:.2} / {:.2} / {:.2} / {:.2} ms",
                    self.latency_ms.p50, self.latency_ms.p90, self.latency_ms.p99, self.latency_ms.max
                ),
            ),
            ("missing", self.missing.to_string()),
            ("duplicates", self.duplicates.to_string()),
            ("out of order", self.out_of_order.to_string()),
            ("consistent", self.consistent.to_string()),
            ("errors", self.errors.to_string()),
            ("timed out", self.timed_out.to_string()),
            ("places per map", self.places.to_string()),
            (
                "arrived / departed",
                match (self.arrived, self.departed) {
                    (Some(arrived), Some(departed)) => format!("{arrived} / {departed}"),
                    _ => "-".into(),
                },
            ),
            ("server CPU", opt(self.server_cpu_s, "s")),
            ("server peak RSS", opt(self.server_peak_rss_mib, "MiB")),
            ("bench CPU", format!("{:.2} s", self.bench_cpu_s)),
            (
                "events frames",
                match self.frame_bytes_mean {
                    Some(bytes) => format!("{} ({bytes:.0} B mean)", self.frames),
                    None => self.frames.to_string(),
                },
            ),
            ("server CPU per frame", opt(self.server_cpu_per_frame_us, "µs")),
            ("server CPU per delivery", opt(self.server_cpu_per_delivery_us, "µs")),
            (
                "floor per frame paced/unpaced",
                match (self.floor_cpu_per_frame_us, self.floor_cpu_per_frame_unpaced_us) {
                    (None, None) => "-".into(),
                    (paced, unpaced) => format!("{} / {}", opt(paced, "µs"), opt(unpaced, "µs")),
                },
            ),
            ("per frame vs floor", self.per_frame_vs_floor.map_or("-".into(), |r| format!("{r:.1}×"))),
            ("idle connections", self.idle_connections.map_or("-".into(), |c| c.to_string())),
            ("RSS per idle connection", opt(self.idle_rss_bytes_per_connection.map(|b| b / 1024.0), "KiB")),
        ];
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        rows.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
    }
}

/// `seconds` per one of `count`, in µs; none without seconds or count.
fn per_us(seconds: Option<f64>, count: u64) -> Option<f64> {
    seconds.filter(|_| count > 0).map(|s| s / count as f64 * 1e6)
}

/// A progress bar on a terminal (none otherwise, or with `--quiet`).
pub fn progress(args: &BenchArgs, total: u64) -> Option<ProgressBar> {
    use std::io::IsTerminal;
    if args.quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} deliveries ({per_sec})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    Some(bar)
}
