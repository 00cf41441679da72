//! The clients during the run: one task each, reading its WebSocket and sending its updates
//! on schedule, checking every event it receives against what was sent.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt, TryStreamExt};
use hdrhistogram::Histogram;
use marauder_client::protocol::{ClientMessage, LocationInput};
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use super::report::{Outcome, Report, Timeline};
use super::setup::World;
use super::walk::Walk;
use super::{BenchArgs, Push};

type Ws = WebSocketStream<TcpStream>;

/// What every client task shares: when each update was sent, and the live counters.
pub struct Shared {
    /// The start of the run (the barrier's release).
    epoch: Instant,
    m: usize,
    /// Per (client, update): micros since `epoch` when it was sent, and its `ts`.
    sent_at: Vec<AtomicU64>,
    sent_ts: Vec<AtomicI64>,
    /// Per (client, update): the server did not acknowledge it (an error, or no answer).
    /// Such an update may never come, so no receiver waits for it.
    unacked: Vec<AtomicBool>,
    /// How many updates were not acknowledged, for the receivers still waiting.
    unacked_count: tokio::sync::watch::Sender<u64>,
    /// Per map: how many of its updates were not acknowledged.
    unacked_in_map: Vec<AtomicU64>,
    /// Per (client, update): the position sent, as f64 bits.
    sent_pos: Vec<[AtomicU64; 2]>,
    pub deliveries: AtomicU64,
}

impl Shared {
    pub fn new(n: usize, m: usize, k: usize) -> Shared {
        Shared {
            epoch: Instant::now(),
            m,
            sent_at: (0..n * m).map(|_| AtomicU64::new(0)).collect(),
            sent_ts: (0..n * m).map(|_| AtomicI64::new(0)).collect(),
            unacked: (0..n * m).map(|_| AtomicBool::new(false)).collect(),
            unacked_count: tokio::sync::watch::Sender::new(0),
            unacked_in_map: (0..k).map(|_| AtomicU64::new(0)).collect(),
            sent_pos: (0..n * m).map(|_| [AtomicU64::new(0), AtomicU64::new(0)]).collect(),
            deliveries: AtomicU64::new(0),
        }
    }

    /// Records that update `nth` of `client` (in map `map`) was not acknowledged.
    fn unacknowledged(&self, client: usize, nth: usize, map: usize) {
        self.unacked[client * self.m + nth].store(true, Ordering::Release);
        self.unacked_in_map[map].fetch_add(1, Ordering::AcqRel);
        self.unacked_count.send_modify(|count| *count += 1);
    }

    /// Per (client, update): whether the server did not acknowledge it.
    fn unacked(&self) -> Vec<bool> {
        self.unacked.iter().map(|u| u.load(Ordering::Acquire)).collect()
    }

    /// Per (client, update): the position sent.
    fn positions(&self) -> Vec<(f64, f64)> {
        self.sent_pos.iter().map(|[lat, lon]| (bits(lat), bits(lon))).collect()
    }

    /// Whether `event` is the update in `slot`: the same `ts` and position, bit for bit.
    fn is(&self, slot: usize, event: &Ev<'_>) -> bool {
        let [lat, lon] = &self.sent_pos[slot];
        event.ts == Some(self.sent_ts[slot].load(Ordering::Relaxed))
            && event.lat.map(f64::to_bits) == Some(lat.load(Ordering::Relaxed))
            && event.lon.map(f64::to_bits) == Some(lon.load(Ordering::Relaxed))
    }
}

fn bits(value: &AtomicU64) -> f64 {
    f64::from_bits(value.load(Ordering::Relaxed))
}

/// A client's view at the end of the run.
pub struct ClientResult {
    pub received: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub errors: u64,
    /// `events` frames received, and their payload bytes.
    pub frames: u64,
    pub frame_bytes: u64,
    /// `arrived` and `departed` events received (with `--places`).
    pub arrived: u64,
    pub departed: u64,
    pub latency: Histogram<u64>,
    /// Micros since the start when the client was done (sent all, received all).
    pub done_at: Option<u64>,
    /// Per sender of its map (local index).
    pub seen: Vec<Seen>,
    pub group: usize,
    pub timeline: Timeline,
}

impl ClientResult {
    /// Nothing yet, for a client of map `group` with `senders` senders in it.
    fn new(group: usize, senders: usize) -> ClientResult {
        ClientResult {
            received: 0,
            duplicates: 0,
            out_of_order: 0,
            errors: 0,
            frames: 0,
            frame_bytes: 0,
            arrived: 0,
            departed: 0,
            latency: Histogram::new_with_bounds(1, 600_000_000, 2).expect("valid bounds"),
            done_at: None,
            seen: vec![Seen::default(); senders],
            group,
            timeline: Timeline::default(),
        }
    }
}

/// What a receiver has seen of one sender.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Seen {
    /// The sender's next update to come (those before it arrived or were passed over).
    pub next: u32,
    /// How many of its updates arrived.
    pub received: u32,
    /// The position the last one carried.
    pub last: (f64, f64),
}

/// Opens a WebSocket with small buffers, from `source` if given.
pub async fn connect(url: &str, token: &str, source: Option<Ipv4Addr>) -> anyhow::Result<Ws> {
    let http = url.strip_prefix("http://").context("the bench speaks plain http")?;
    let addr: SocketAddr = tokio::net::lookup_host(http).await?.next().context("no address")?;
    let socket = TcpSocket::new_v4()?;
    if let Some(source) = source {
        socket.bind(SocketAddr::from((source, 0)))?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut request = format!("ws://{http}/api/v1/ws").into_client_request()?;
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
    let config = WebSocketConfig::default().read_buffer_size(8 * 1024).write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await?;
    Ok(ws)
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default, borrow)]
    events: Vec<Ev<'a>>,
    seq: Option<u64>,
}

#[derive(Deserialize)]
struct Ev<'a> {
    seq: u64,
    #[serde(borrow)]
    kind: &'a str,
    #[serde(borrow)]
    player: Option<&'a str>,
    lat: Option<f64>,
    lon: Option<f64>,
    ts: Option<i64>,
}

/// Connects and subscribes every client (the barrier: all are subscribed when it returns).
async fn connect_all(args: &BenchArgs, world: &World) -> anyhow::Result<Vec<(Ws, u64)>> {
    futures_util::stream::iter(world.players.iter().enumerate())
        .map(|(i, player)| {
            let source =
                (!args.source_addrs.is_empty()).then(|| args.source_addrs[i % args.source_addrs.len()]);
            let map = world.maps[i % args.maps].clone();
            let (url, token, subscribe) =
                (world.client(i).base().to_owned(), player.token.clone(), !args.no_receivers);
            async move {
                let mut ws = connect(&url, &token, source).await?;
                if !subscribe {
                    return Ok((ws, 0));
                }
                let frame =
                    serde_json::to_string(&ClientMessage::Subscribe(marauder_client::protocol::Subscribe {
                        map,
                        since: None,
                    }))?;
                ws.send(Message::text(frame)).await?;
                while let Some(message) = ws.next().await {
                    if let Message::Text(text) = message? {
                        let frame: Frame<'_> = serde_json::from_str(text.as_str())?;
                        anyhow::ensure!(
                            frame.kind == "snapshot",
                            "expected a snapshot, got {}",
                            text.as_str()
                        );
                        return Ok((ws, frame.seq.unwrap_or(0)));
                    }
                }
                anyhow::bail!("closed before the snapshot")
            }
        })
        .buffered(args.setup_concurrency)
        .try_collect()
        .await
}

pub async fn run(args: &BenchArgs, world: &mut World) -> anyhow::Result<Report> {
    let sockets = connect_all(args, world).await.context("connecting the clients")?;
    let (n, m, k) = (args.clients, args.updates, args.maps);
    let shared = Arc::new(Shared::new(n, m, k));
    let usage_before = world.server_usage();
    let bench_cpu_before = self_cpu_seconds();
    let start = shared.epoch;
    let deadline = start + Duration::from_secs_f64(args.timeout);
    let progress = super::report::progress(
        args,
        if args.no_receivers { (n * m) as u64 } else { (n * m * n / k) as u64 },
    );
    let ticker = progress.clone().map(|bar| {
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                bar.set_position(shared.deliveries.load(Ordering::Relaxed));
            }
        })
    });
    let mut tasks = Vec::with_capacity(n);
    for (i, (ws, seq)) in sockets.into_iter().enumerate() {
        let offset = if args.jitter { args.interval().mul_f64(fastrand::f64()) } else { Duration::ZERO };
        let plan = Plan {
            client: i,
            group: i % k,
            group_size: n / k,
            k,
            first_send: start + offset,
            interval: args.interval(),
            push: args.push,
            receive: !args.no_receivers,
            deadline,
            snapshot_seq: seq,
        };
        let shared = shared.clone();
        let index = world.index.clone();
        let rest = world.client(i);
        tasks.push(tokio::spawn(async move { client(plan, ws, shared, index, rest).await }));
    }
    let mut results = Vec::with_capacity(n);
    for task in tasks {
        results.push(task.await?);
    }
    let elapsed = start.elapsed();
    if let Some(ticker) = ticker {
        ticker.abort();
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let usage_after = world.server_usage();
    let outcome = Outcome {
        elapsed,
        results,
        sent: shared.positions(),
        unacked: shared.unacked(),
        server_cpu_seconds: usage_before.zip(usage_after).map(|(b, a)| a.cpu_seconds - b.cpu_seconds),
        server_peak_rss_bytes: usage_after.map(|u| u.peak_rss_bytes),
        bench_cpu_seconds: self_cpu_seconds() - bench_cpu_before,
    };
    Ok(Report::new(args, outcome))
}

struct Plan {
    client: usize,
    group: usize,
    group_size: usize,
    k: usize,
    first_send: Instant,
    interval: Duration,
    push: Push,
    receive: bool,
    deadline: Instant,
    snapshot_seq: u64,
}

/// One client: sends its m updates on schedule and checks what it receives, until both are
/// complete or the deadline passes.
async fn client(
    plan: Plan,
    ws: Ws,
    shared: Arc<Shared>,
    index: Arc<rustc_hash::FxHashMap<String, u32>>,
    rest: marauder_client::Client,
) -> ClientResult {
    let m = shared.m;
    let (mut sink, mut stream) = ws.split();
    let mut state =
        Receiver { last_seq: plan.snapshot_seq, result: ClientResult::new(plan.group, plan.group_size) };
    let expected = if plan.receive { (plan.group_size * m) as u64 } else { 0 };
    // Updates the server did not acknowledge are not waited for.
    let mut unacked = shared.unacked_count.subscribe();
    let mut walk = Walk::new(plan.client);
    let mut sent = 0;
    let mut next_send = plan.first_send;
    // After the last update, a frame the server must refuse: its answer proves every
    // update before it was handled (the ingest measure, when nothing is received).
    let mut fenced = plan.receive || plan.push == Push::Rest;
    let deadline = tokio::time::sleep_until(plan.deadline.into());
    tokio::pin!(deadline);
    loop {
        if sent == m && fenced && state.has_all(expected, &plan, &shared) {
            state.result.done_at = Some(shared.epoch.elapsed().as_micros() as u64);
            break;
        }
        tokio::select! {
            biased;
            message = stream.next(), if plan.receive || !fenced => match message {
                Some(Ok(Message::Text(text))) => {
                    if !plan.receive {
                        fenced = true; // The error answering the fence.
                        continue;
                    }
                    state.frame(text.as_str(), &plan, &shared, &index);
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => { state.result.errors += 1; break; }
            },
            // Another map's or this map's update went unacknowledged: look again.
            Ok(()) = unacked.changed(), if sent == m => {}
            _ = tokio::time::sleep_until(next_send.into()), if sent < m => {
                let (lat, lon) = walk.step();
                let ts = now_millis();
                let slot = plan.client * m + sent;
                shared.sent_ts[slot].store(ts, Ordering::Relaxed);
                shared.sent_pos[slot][0].store(lat.to_bits(), Ordering::Relaxed);
                shared.sent_pos[slot][1].store(lon.to_bits(), Ordering::Relaxed);
                shared.sent_at[slot].store(shared.epoch.elapsed().as_micros() as u64, Ordering::Release);
                let location = LocationInput { lat, lon, ts: Some(ts), ..Default::default() };
                let ok = match plan.push {
                    Push::Ws => {
                        let frame = serde_json::to_string(&ClientMessage::Location(location)).expect("encodes");
                        sink.send(Message::text(frame)).await.is_ok()
                    }
                    Push::Rest => rest.post_location(&location).await.is_ok(),
                };
                if !ok {
                    state.result.errors += 1;
                    shared.unacknowledged(plan.client, sent, plan.group);
                }
                sent += 1;
                next_send += plan.interval;
                if !plan.receive {
                    shared.deliveries.fetch_add(1, Ordering::Relaxed);
                }
                if sent == m && !fenced && sink.send(Message::text("{}")).await.is_err() {
                    state.result.errors += 1;
                    fenced = true;
                }
            },
            _ = &mut deadline => break,
        }
    }
    let _ = close(&mut sink).await;
    state.result
}

async fn close(sink: &mut SplitSink<Ws, Message>) -> Result<(), tungstenite::Error> {
    sink.send(Message::Close(None)).await
}

struct Receiver {
    last_seq: u64,
    result: ClientResult,
}

impl Receiver {
    /// Whether every update this receiver must get has come: all of its map's, or, once some
    /// went unacknowledged, every sender's acknowledged ones.
    fn has_all(&self, expected: u64, plan: &Plan, shared: &Shared) -> bool {
        if shared.unacked_in_map[plan.group].load(Ordering::Acquire) == 0 {
            return self.result.received >= expected;
        }
        self.result.seen.iter().enumerate().all(|(local, seen)| {
            let sender = local * plan.k + plan.group;
            let slots = sender * shared.m..(sender + 1) * shared.m;
            shared.unacked[slots][seen.next as usize..].iter().all(|u| u.load(Ordering::Acquire))
        })
    }

    fn frame(
        &mut self,
        text: &str,
        plan: &Plan,
        shared: &Shared,
        index: &rustc_hash::FxHashMap<String, u32>,
    ) {
        let Ok(frame) = serde_json::from_str::<Frame<'_>>(text) else {
            self.result.errors += 1;
            return;
        };
        if frame.kind != "events" {
            // A reset, an unsubscribe (slow) or an error: none belong in a healthy run.
            self.result.errors += 1;
            return;
        }
        self.result.frames += 1;
        self.result.frame_bytes += text.len() as u64;
        let now = shared.epoch.elapsed().as_micros() as u64;
        let received_before = self.result.received;
        for event in frame.events {
            if event.seq <= self.last_seq {
                self.result.duplicates += 1;
                continue;
            }
            if event.seq != self.last_seq + 1 {
                self.result.out_of_order += 1;
            }
            self.last_seq = event.seq;
            match event.kind {
                "location" => {}
                "arrived" => {
                    self.result.arrived += 1;
                    continue;
                }
                "departed" => {
                    self.result.departed += 1;
                    continue;
                }
                // Memberships, places drawn or removed: in the seq, not counted.
                _ => continue,
            }
            let Some(&sender) = event.player.and_then(|p| index.get(p)) else {
                self.result.errors += 1;
                continue;
            };
            let sender = sender as usize;
            let local = sender / plan.k;
            let Some(seen) = self.result.seen.get_mut(local) else {
                self.result.errors += 1;
                continue;
            };
            let mut nth = seen.next as usize;
            // An update the server did not acknowledge may never come: passed over, unless
            // this event is that update.
            while nth < shared.m
                && shared.unacked[sender * shared.m + nth].load(Ordering::Acquire)
                && !shared.is(sender * shared.m + nth, &event)
            {
                nth += 1;
            }
            if nth >= shared.m {
                self.result.duplicates += 1;
                continue;
            }
            let slot = sender * shared.m + nth;
            let sent_at = shared.sent_at[slot].load(Ordering::Acquire);
            if event.ts != Some(shared.sent_ts[slot].load(Ordering::Relaxed)) {
                self.result.out_of_order += 1;
            }
            let latency = now.saturating_sub(sent_at).max(1);
            let _ = self.result.latency.record(latency);
            self.result.timeline.record(now, latency);
            *seen = Seen {
                next: nth as u32 + 1,
                received: seen.received + 1,
                last: (event.lat.unwrap_or(f64::NAN), event.lon.unwrap_or(f64::NAN)),
            };
            self.result.received += 1;
        }
        shared.deliveries.fetch_add(self.result.received - received_before, Ordering::Relaxed);
    }
}

/// The idle-connection measure: connect and subscribe every client, hold, and report the
/// server's memory per connection.
pub async fn hold_idle(args: &BenchArgs, world: &mut World, hold: Duration) -> anyhow::Result<Report> {
    let before = world.server_usage();
    let sockets = connect_all(args, world).await.context("connecting the clients")?;
    tokio::time::sleep(hold).await;
    let after = world.server_usage();
    let held = sockets.len();
    drop(sockets);
    Ok(Report::idle(args, held, before, after))
}

fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as i64
}

fn self_cpu_seconds() -> f64 {
    crate::process::usage_of(std::process::id()).map_or(0.0, |u| u.cpu_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clients 0 and 1 (one map) each sent updates with these `ts`, at (1, ts); `unacked`
    /// are client 0's updates the server did not answer.
    fn sent(ts: &[i64], unacked: &[usize]) -> Shared {
        let shared = Shared::new(2, ts.len(), 1);
        for client in 0..2 {
            for (nth, ts) in ts.iter().enumerate() {
                let slot = client * shared.m + nth;
                shared.sent_ts[slot].store(*ts, Ordering::Relaxed);
                shared.sent_pos[slot][0].store(1f64.to_bits(), Ordering::Relaxed);
                shared.sent_pos[slot][1].store((*ts as f64).to_bits(), Ordering::Relaxed);
            }
        }
        for &nth in unacked {
            shared.unacknowledged(0, nth, 0);
        }
        shared
    }

    fn plan() -> Plan {
        let now = Instant::now();
        Plan {
            client: 1,
            group: 0,
            group_size: 2,
            k: 1,
            first_send: now,
            interval: Duration::from_secs(1),
            push: Push::Rest,
            receive: true,
            deadline: now,
            snapshot_seq: 0,
        }
    }

    /// Client 1 receives these events (sender, `ts`) in one frame, seqs from 1.
    fn receive(shared: &Shared, events: &[(&str, i64)]) -> Receiver {
        let index: rustc_hash::FxHashMap<String, u32> =
            [("p0".to_owned(), 0), ("p1".to_owned(), 1)].into_iter().collect();
        let events: Vec<String> = events
            .iter()
            .enumerate()
            .map(|(i, (player, ts))| {
                let seq = i + 1;
                format!(r#"{{"seq":{seq},"kind":"location","player":"{player}","lat":1.0,"lon":{ts}.0,"ts":{ts}}}"#)
            })
            .collect();
        let frame = format!(r#"{{"type":"events","map":"m","events":[{}]}}"#, events.join(","));
        let mut receiver = Receiver { last_seq: 0, result: ClientResult::new(0, 2) };
        receiver.frame(&frame, &plan(), shared, &index);
        receiver
    }

    fn counts(result: &ClientResult) -> (u64, u64, u64, u64) {
        (result.received, result.out_of_order, result.duplicates, result.errors)
    }

    #[test]
    fn an_update_the_server_did_not_acknowledge_is_passed_over_not_missed() {
        let shared = sent(&[100, 200, 300], &[1]);
        let receiver = receive(&shared, &[("p0", 100), ("p0", 300)]);
        assert_eq!(counts(&receiver.result), (2, 0, 0, 0));
        assert_eq!(receiver.result.seen[0], Seen { next: 3, received: 2, last: (1.0, 300.0) });
        assert_eq!(shared.unacked(), vec![false, true, false, false, false, false]);
        assert_eq!(shared.unacked_in_map[0].load(Ordering::Relaxed), 1);
        assert_eq!(*shared.unacked_count.borrow(), 1);
    }

    #[test]
    fn an_unacknowledged_update_that_does_come_is_counted_in_its_place() {
        let shared = sent(&[100, 200, 300], &[1]);
        let receiver = receive(&shared, &[("p0", 100), ("p0", 200), ("p0", 300)]);
        assert_eq!(counts(&receiver.result), (3, 0, 0, 0));
        assert_eq!(receiver.result.seen[0], Seen { next: 3, received: 3, last: (1.0, 300.0) });
    }

    #[test]
    fn an_acknowledged_update_that_never_comes_still_shows_as_out_of_order() {
        let shared = sent(&[100, 200, 300], &[]);
        let receiver = receive(&shared, &[("p0", 100), ("p0", 300)]);
        assert_eq!((receiver.result.received, receiver.result.out_of_order), (2, 1));
        assert_eq!(receiver.result.seen[0].next, 2);
    }

    #[test]
    fn a_receiver_waits_for_every_acknowledged_update_even_when_an_unacknowledged_one_came() {
        // Client 0's second update went unanswered but came; its third (acknowledged) has not.
        let shared = sent(&[100, 200, 300], &[1]);
        let early = [("p0", 100), ("p0", 200), ("p1", 100), ("p1", 200), ("p1", 300)];
        let receiver = receive(&shared, &early);
        assert_eq!(receiver.result.received, 5);
        assert!(!receiver.has_all(6, &plan(), &shared), "client 0's third update is still due");
        let receiver = receive(&shared, &[("p0", 100), ("p0", 300), ("p1", 100), ("p1", 200), ("p1", 300)]);
        assert!(receiver.has_all(6, &plan(), &shared), "only the unacknowledged one did not come");
        let clean = sent(&[100, 200], &[]);
        let receiver = receive(&clean, &[("p0", 100), ("p1", 100), ("p1", 200)]);
        assert!(!receiver.has_all(4, &plan(), &clean));
    }

    #[test]
    fn the_report_expects_only_what_the_server_acknowledged() {
        // Two clients in one map, three updates each; client 0's second went unanswered and
        // never came. Each receiver saw 2 of client 0's and 3 of client 1's.
        let args = BenchArgs::small(None, 2, 3, 1.0, 1);
        let report = |seen_of_0: Seen| {
            let results = (0..2)
                .map(|_| {
                    let mut result = ClientResult::new(0, 2);
                    result.seen = vec![seen_of_0, Seen { next: 3, received: 3, last: (1.0, 300.0) }];
                    result.received = u64::from(seen_of_0.received) + 3;
                    result.done_at = Some(1);
                    result
                })
                .collect();
            let outcome = Outcome {
                elapsed: Duration::from_secs(3),
                results,
                sent: [100.0, 200.0, 300.0, 100.0, 200.0, 300.0].iter().map(|&lon| (1.0, lon)).collect(),
                unacked: vec![false, true, false, false, false, false],
                server_cpu_seconds: None,
                server_peak_rss_bytes: None,
                bench_cpu_seconds: 0.0,
            };
            Report::new(&args, outcome)
        };
        let whole = report(Seen { next: 3, received: 2, last: (1.0, 300.0) });
        assert_eq!((whole.deliveries, whole.expected, whole.missing), (10, 10, 0));
        assert!(whole.consistent);
        // The unacknowledged update came, but the acknowledged third never did.
        let short = report(Seen { next: 2, received: 2, last: (1.0, 200.0) });
        assert_eq!((short.expected, short.missing), (10, 2));
        assert!(!short.consistent);
        // All came, but the last position is not the one sent.
        let wrong = report(Seen { next: 3, received: 2, last: (1.0, 299.0) });
        assert_eq!(wrong.missing, 0);
        assert!(!wrong.consistent);
    }
}
