//! A Redis Cluster that loses a master under load: three masters with a replica each, two
//! handlers, posters on both and a subscriber on every map; the master serving one map is
//! SIGKILLed. Clients may see 503 while the shard fails over and must carry on after it;
//! nothing acknowledged may be lost from the trails or from what the subscribers get, and
//! the subscribers get every event once, in order (or a `reset` covering what they missed).
//! The measured figures (the 503 window, the counts) are printed for `docs/deploy.md`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use marauder::process::{RedisCluster, ServerProcess};
use marauder_client::protocol::{ErrorCode, Event, EventBody, PlayerLocation, ServerMessage};
use marauder_client::{Client, Incoming, Live};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::handlers_with;
use super::helpers::{PATIENCE, loc_at, subscribe};

const MAPS: usize = 3;
const POSTERS_PER_MAP: usize = 2;
/// Between two posts of one poster: enough load to hit the failover, little enough for
/// a 2-core machine running nine processes.
const PAUSE: Duration = Duration::from_millis(10);
/// Posts each poster must have acknowledged before the kill, and after the failover.
const BEFORE: usize = 20;
const AFTER: usize = 20;
/// How long the whole failover may take before the test gives up on it (not a performance
/// bound: the shard fails over in a few seconds with a 1 s `cluster-node-timeout`).
const FAILOVER_PATIENCE: Duration = Duration::from_secs(60);

/// What one poster saw: the `ts` of each acknowledged post (with when), and when a post
/// was answered 503.
#[derive(Default)]
struct Outcomes {
    acked: Vec<(i64, Instant)>,
    unavailable: Vec<Instant>,
    other: Vec<String>,
}

/// Posts a location every [`PAUSE`] until `stop`, each with the next `ts`.
async fn post(client: Client, outcomes: Arc<Mutex<Outcomes>>, stop: watch::Receiver<bool>) {
    let mut ts = 0;
    while !*stop.borrow() {
        ts += 1;
        let answer = client.post_location(&loc_at(ts as f64 / 1000.0, 0.0, ts)).await;
        let now = Instant::now();
        {
            let mut outcomes = outcomes.lock().unwrap();
            match answer {
                Ok(accepted) if accepted.maps == 1 => outcomes.acked.push((ts, now)),
                Ok(accepted) => outcomes.other.push(format!("ts {ts}: 202 for {} maps", accepted.maps)),
                Err(err) if err.status() == Some(503) && err.code() == Some(ErrorCode::Unavailable) => {
                    outcomes.unavailable.push(now)
                }
                Err(err) => outcomes.other.push(format!("ts {ts}: {err}")),
            }
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// What a subscriber got, in order.
#[derive(Debug)]
enum Got {
    Events(Vec<Event>),
    Reset { seq: u64, locations: Vec<PlayerLocation> },
}

/// Reads `map`'s messages until it has seen the seq that `until` names once the load ends,
/// or until [`PATIENCE`] after that with nothing new; answers what it got, in order.
async fn watch_map(
    mut live: Live,
    map: String,
    start: u64,
    mut until: watch::Receiver<Option<u64>>,
) -> Vec<Got> {
    let (mut got, mut seq) = (Vec::new(), start);
    let mut quiet_since = None::<Instant>;
    loop {
        let target = *until.borrow_and_update();
        if target.is_some_and(|until| seq >= until) {
            return got;
        }
        if target.is_some() && quiet_since.get_or_insert_with(Instant::now).elapsed() > PATIENCE {
            return got; // Stuck: the caller reports where.
        }
        let Ok(next) = tokio::time::timeout(Duration::from_millis(200), live.next()).await else {
            continue; // Nothing yet: look at `until` again.
        };
        quiet_since = None;
        match next.expect("the socket stays usable") {
            Incoming::Message(ServerMessage::Events { map: m, events }) if m == map => {
                seq = events.last().map_or(seq, |e| e.seq);
                got.push(Got::Events(events));
            }
            Incoming::Message(ServerMessage::Snapshot { map: m, seq: at, locations, reset: Some(true) })
                if m == map =>
            {
                seq = at;
                got.push(Got::Reset { seq: at, locations });
            }
            Incoming::Message(other) => panic!("{map}: expected events, got {other:?}"),
            Incoming::Closed(code) => panic!("{map}: the socket closed ({code:?}) during the failover"),
        }
    }
}

/// What one map's subscriber got, checked against its posters' acknowledged posts.
#[derive(Debug, Default)]
struct Stream {
    /// The last seq it got (a `reset`'s included).
    end: u64,
    events: usize,
    resets: usize,
    /// Seqs out of line: a gap not covered by a `reset`, a repeat, a `reset` going back.
    out_of_line: Vec<String>,
    /// The same location twice, or a player's locations out of `ts` order.
    duplicates: usize,
    reordered: usize,
    /// Acknowledged locations neither in the events nor covered by a `reset` holding a
    /// position of their player at least as new.
    missing: usize,
}

/// Checks what a subscriber got that started at `start`: seqs one by one (a `reset` may
/// skip ahead, never back), no location twice, each player's in `ts` order, and every
/// acknowledged one of `acked` (player → ts) there.
fn check_stream(got: &[Got], start: u64, acked: &HashMap<String, Vec<i64>>) -> Stream {
    let mut stream = Stream { end: start, ..Stream::default() };
    let (mut seen, mut latest, mut covered) = (HashSet::new(), HashMap::new(), HashMap::<&str, i64>::new());
    for item in got {
        match item {
            Got::Events(events) => {
                for event in events {
                    if event.seq != stream.end + 1 {
                        stream.out_of_line.push(format!("{} after {}", event.seq, stream.end));
                    }
                    stream.end = event.seq;
                    stream.events += 1;
                    if let EventBody::Location(l) = &event.body {
                        stream.duplicates += usize::from(!seen.insert((l.player.as_str(), l.fix.ts)));
                        let last = latest.insert(l.player.as_str(), l.fix.ts);
                        stream.reordered += usize::from(last.is_some_and(|last| last >= l.fix.ts));
                    }
                }
            }
            Got::Reset { seq, locations } => {
                if *seq < stream.end {
                    stream.out_of_line.push(format!("reset to {seq} after {}", stream.end));
                }
                stream.end = *seq;
                stream.resets += 1;
                for l in locations {
                    let newest = covered.entry(l.player.as_str()).or_insert(i64::MIN);
                    *newest = (*newest).max(l.fix.ts);
                }
            }
        }
    }
    for (player, tss) in acked {
        let reset_covers = covered.get(player.as_str()).copied().unwrap_or(i64::MIN);
        let missing = tss.iter().filter(|ts| !seen.contains(&(player.as_str(), **ts)) && **ts > reset_covers);
        stream.missing += missing.count();
    }
    stream
}

/// Every point of `player`'s trail, read by a member of `map` page by page.
async fn whole_trail(reader: &Client, map: &str, player: &str) -> Vec<i64> {
    let mut points = Vec::new();
    loop {
        let since = points.last().copied();
        let page = reader.trail(map, player, since, None).await.expect("the trail").points;
        if page.is_empty() {
            return points;
        }
        points.extend(page.iter().map(|p| p.ts));
    }
}

/// One player posting to one map, and what it saw.
struct Poster {
    map: usize,
    id: String,
    client: Client,
    outcomes: Arc<Mutex<Outcomes>>,
}

/// The maps (with their owners, who subscribe), the posters and the subscribers' tasks with
/// the seq each started at; `until` tells the subscribers where to stop.
struct Load {
    maps: Vec<(String, Client)>,
    posters: Vec<Poster>,
    watchers: Vec<(u64, JoinHandle<Vec<Got>>)>,
    until: watch::Sender<Option<u64>>,
}

/// [`MAPS`] maps, the last on another shard than the first (so that the test also sees a
/// map the failover does not concern), each with posters on both handlers and a subscriber.
async fn set_up(cluster: &RedisCluster, servers: &[ServerProcess]) -> Load {
    let on = |i: usize| Client::new(&servers[i % 2].url);
    let (until, until_rx) = watch::channel(None::<u64>);
    let mut load = Load { maps: Vec::new(), posters: Vec::new(), watchers: Vec::new(), until };
    for m in 0..MAPS {
        let owner = on(m).create_player(&format!("Owner {m}")).await.unwrap();
        let owner = on(m).with_token(&owner.token);
        let mut map = owner.create_map(&format!("Map {m}"), None).await.unwrap();
        // A map's shard follows from its random id: draw again (a third of the time).
        while m == MAPS - 1
            && cluster.master_of(&map.id).unwrap() == cluster.master_of(&load.maps[0].0).unwrap()
        {
            map = owner.create_map(&format!("Map {m}"), None).await.unwrap();
        }
        for p in 0..POSTERS_PER_MAP {
            let created = on(p).create_player(&format!("Poster {m}.{p}")).await.unwrap();
            let client = on(p).with_token(&created.token);
            client.join(&map.id, None).await.unwrap();
            load.posters.push(Poster { map: m, id: created.id, client, outcomes: Arc::default() });
        }
        let mut live = owner.connect().await.unwrap();
        let start = subscribe(&mut live, &map.id).await;
        load.watchers.push((start, tokio::spawn(watch_map(live, map.id.clone(), start, until_rx.clone()))));
        load.maps.push((map.id, owner));
    }
    load
}

/// When the master went, which node it was, and which replica took over when.
struct Failover {
    victim: usize,
    promoted: usize,
    killed: Instant,
    took_over: Instant,
    /// The master of each map's keys before the kill.
    shards: Vec<Option<usize>>,
}

/// Runs the posters, kills the master of the first map's keys once each has [`BEFORE`]
/// posts acknowledged, and stops them once a replica has taken over and each has [`AFTER`]
/// more.
async fn kill_under_load(cluster: &mut RedisCluster, load: &Load) -> Failover {
    let (stop, stop_rx) = watch::channel(false);
    let posting: Vec<_> = load
        .posters
        .iter()
        .map(|p| tokio::spawn(post(p.client.clone(), p.outcomes.clone(), stop_rx.clone())))
        .collect();
    let acked_since = |since: Instant| {
        let count =
            |p: &Poster| p.outcomes.lock().unwrap().acked.iter().filter(|(_, at)| *at > since).count();
        load.posters.iter().map(count).min().unwrap_or(0)
    };
    let began = Instant::now();
    while acked_since(began) < BEFORE {
        assert!(began.elapsed() < PATIENCE, "the posts before the kill did not get through");
        tokio::time::sleep(PAUSE).await;
    }
    let shards: Vec<Option<usize>> =
        load.maps.iter().map(|(map, _)| cluster.master_of(map).unwrap()).collect();
    let victim = shards[0].expect("a master serves the map");
    cluster.kill(victim);
    let killed = Instant::now();
    let promoted = loop {
        assert!(killed.elapsed() < FAILOVER_PATIENCE, "no replica took over from the killed master");
        if let Some(master) = cluster.master_of(&load.maps[0].0).unwrap().filter(|m| *m != victim) {
            break master;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took_over = Instant::now();
    while acked_since(took_over) < AFTER {
        assert!(killed.elapsed() < FAILOVER_PATIENCE, "the posters did not carry on after the failover");
        tokio::time::sleep(PAUSE).await;
    }
    stop.send(true).unwrap();
    for poster in posting {
        poster.await.unwrap();
    }
    Failover { victim, promoted, killed, took_over, shards }
}

/// What the end of the test found: per map its seq and what its subscriber got, and the
/// acknowledged points missing from the trails and the points in them twice.
struct Found {
    seqs: Vec<u64>,
    streams: Vec<Stream>,
    lost_points: usize,
    extra_points: usize,
}

/// Lets every subscriber read up to its map's seq now, and reads every poster's trail.
async fn collect(load: &mut Load) -> Found {
    let mut found = Found { seqs: Vec::new(), streams: Vec::new(), lost_points: 0, extra_points: 0 };
    for (map, owner) in &load.maps {
        found.seqs.push(owner.locations(map).await.expect("the map reads after the failover").seq);
    }
    for (m, ((start, watcher), (map, owner))) in
        std::mem::take(&mut load.watchers).into_iter().zip(&load.maps).enumerate()
    {
        load.until.send_replace(Some(found.seqs[m]));
        let got = watcher.await.unwrap();
        let mut acked = HashMap::new();
        for poster in load.posters.iter().filter(|p| p.map == m) {
            let tss: Vec<i64> = poster.outcomes.lock().unwrap().acked.iter().map(|(ts, _)| *ts).collect();
            let trail = whole_trail(owner, map, &poster.id).await;
            let in_trail: HashSet<i64> = trail.iter().copied().collect();
            found.lost_points += tss.iter().filter(|ts| !in_trail.contains(ts)).count();
            found.extra_points += trail.len() - in_trail.len();
            acked.insert(poster.id.clone(), tss);
        }
        found.streams.push(check_stream(&got, start, &acked));
    }
    found
}

/// Prints the figures that docs/deploy.md reports.
fn report(failover: &Failover, posters: &[Poster], found: &Found) {
    let all: Vec<_> = posters.iter().map(|p| p.outcomes.lock().unwrap()).collect();
    let unavailable: Vec<Instant> = all.iter().flat_map(|o| o.unavailable.iter().copied()).collect();
    let after_kill = |at: Option<&Instant>| match at {
        Some(at) => format!("{:.2} s", at.saturating_duration_since(failover.killed).as_secs_f64()),
        None => "-".to_owned(),
    };
    let (first, last) = (unavailable.iter().min(), unavailable.iter().max());
    let window = first.zip(last).map_or(0.0, |(a, b)| (*b - *a).as_secs_f64());
    // The longest a poster went without a 202: the outage as a client sees it (requests
    // that the handler's Redis client retries inside count, besides the 503s).
    let longest = |o: &Outcomes| o.acked.windows(2).map(|w| w[1].1 - w[0].1).max().unwrap_or_default();
    let waits: Vec<String> = posters
        .iter()
        .zip(&all)
        .map(|(p, o)| format!("map {}: {:.2} s", p.map, longest(o).as_secs_f64()))
        .collect();
    let per_poster_503: Vec<usize> = all.iter().map(|o| o.unavailable.len()).collect();
    let acked: usize = all.iter().map(|o| o.acked.len()).sum();
    let lost_events: usize = found.streams.iter().map(|s| s.missing).sum();
    println!(
        "failover: maps on nodes {:?}; node {} killed, node {} took over {}; 503 window {window:.2} s \
         (first {}, last {} after the kill); {acked} posts acknowledged, 503s per poster {per_poster_503:?}; \
         longest wait for a 202 per poster {waits:?}; acknowledged lost: {} from trails, {lost_events} from \
         subscribers; duplicate trail points: {}",
        failover.shards,
        failover.victim,
        failover.promoted,
        after_kill(Some(&failover.took_over)),
        after_kill(first),
        after_kill(last),
        found.lost_points,
        found.extra_points,
    );
    for (m, stream) in found.streams.iter().enumerate() {
        println!("failover: map {m} (seq {}): {stream:?}", found.seqs[m]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_losing_a_master_under_load_answers_503_then_carries_on_losing_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    // A short node timeout, so that the replica takes over within seconds.
    let timeout = ["--cluster-node-timeout", "1000"];
    let mut cluster = RedisCluster::start_with_replicas(&dir.path().join("cluster"), 3, 1, &timeout).unwrap();
    let servers = handlers_with(2, &["--redis", &cluster.urls(), "--redis-cluster"], dir.path());
    let mut load = set_up(&cluster, &servers).await;
    let failover = kill_under_load(&mut cluster, &load).await;
    let found = collect(&mut load).await;
    let posters = load.posters;
    report(&failover, &posters, &found);

    let other: Vec<String> = posters.iter().flat_map(|p| p.outcomes.lock().unwrap().other.clone()).collect();
    assert_eq!(other, Vec::<String>::new(), "answers other than 202 and 503");
    assert_eq!(found.lost_points, 0, "acknowledged points missing from the trails");
    assert_eq!(found.extra_points, 0, "points twice in a trail");
    for (m, stream) in found.streams.iter().enumerate() {
        assert_eq!(stream.end, found.seqs[m], "map {m}: the subscriber got up to the map's seq");
        assert_eq!(stream.out_of_line, Vec::<String>::new(), "map {m}: seqs one by one");
        assert_eq!((stream.duplicates, stream.reordered), (0, 0), "map {m}: no duplicate, no reordering");
        assert_eq!(stream.missing, 0, "map {m}: acknowledged locations missing from the subscriber's stream");
    }
}
