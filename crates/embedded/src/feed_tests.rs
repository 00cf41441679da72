//! The feed's bound on memory keeps the contract: seqs gap-free and never repeated, and a
//! `since` resume exact, across maps leaving memory and events going to disk, with
//! publishes racing both.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use marauder_core::protocol::{Event, EventBody, Visibility};
use marauder_core::{Change, EventSink, Feed, MapId, MapRecord, PlayerId, Replay, Store};

use crate::{Embedded, FeedLimits, Options};

#[derive(Default)]
pub(crate) struct Recorder(pub(crate) Mutex<HashMap<MapId, Vec<u64>>>);

impl EventSink for Recorder {
    fn deliver(&self, map: &MapId, event: Arc<Event>) {
        self.0.lock().unwrap().entry(map.clone()).or_default().push(event.seq);
    }
}

/// Opens a database with maps 0 to 9 (a map without a record takes no change).
pub(crate) async fn open(dir: &std::path::Path, limits: FeedLimits) -> (Embedded, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let options = Options { feed: limits, ..Options::default() };
    let embedded = crate::open(dir, options, recorder.clone()).unwrap();
    for n in 0..10 {
        embedded.store.create_map(record(n)).await.unwrap();
    }
    (embedded, recorder)
}

pub(crate) fn record(n: usize) -> MapRecord {
    MapRecord {
        id: map(n),
        name: format!("Map {n}"),
        owner: PlayerId::parse("owner").unwrap(),
        visibility: Visibility::Public,
        invite_code: None,
        created_at: 0,
    }
}

pub(crate) fn map(n: usize) -> MapId {
    MapId::parse(&format!("map{n}")).unwrap()
}

/// A change that always applies: its event names `n`, so that a replay shows which it is.
fn joined(n: u64) -> Change {
    Change::Joined { player: format!("p{n}"), name: format!("Player {n}"), latest: None }
}

fn names(replay: Replay) -> Vec<(u64, String)> {
    let Replay::Events(events) = replay else { panic!("expected events, got a reset") };
    events
        .iter()
        .map(|e| match &e.body {
            EventBody::Joined { player, .. } => (e.seq, player.clone()),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

fn never_idle() -> Duration {
    Duration::from_secs(3600)
}

/// Waits, with a generous patience, for the background sweeper to finish what it started.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not within 20 s: {what}");
}

fn resident(embedded: &Embedded) -> usize {
    embedded.feed.maps.lock().unwrap().values().filter(|slot| slot.state.initialized()).count()
}

#[tokio::test]
async fn a_map_that_left_memory_resumes_at_exactly_the_next_seq_with_its_recent_events() {
    let dir = tempfile::tempdir().unwrap();
    let limits = FeedLimits { max_maps: 1, max_events: 1_000_000, idle: never_idle() };
    let (embedded, recorder) = open(dir.path(), limits).await;
    let feed = &embedded.feed;
    for n in 1..=5 {
        assert_eq!(feed.publish(&map(1), joined(n)).await.unwrap(), Some(n));
    }
    let before = feed.snapshot(&map(1)).await.unwrap();
    // Using a second map puts the first out of memory (at most one is kept).
    assert_eq!(feed.publish(&map(2), joined(100)).await.unwrap(), Some(1));
    assert_eq!(resident(&embedded), 1);
    let after = feed.snapshot(&map(1)).await.unwrap();
    assert_eq!((after.seq, after.locations), (before.seq, before.locations));
    let expected: Vec<(u64, String)> = (3..=5).map(|n| (n, format!("p{n}"))).collect();
    assert_eq!(names(feed.replay(&map(1), 2).await.unwrap()), expected, "read back from disk");
    feed.publish(&map(2), joined(101)).await.unwrap();
    assert_eq!(feed.publish(&map(1), joined(6)).await.unwrap(), Some(6), "exactly the next seq");
    feed.publish(&map(2), joined(102)).await.unwrap();
    let expected: Vec<(u64, String)> = (2..=6).map(|n| (n, format!("p{n}"))).collect();
    assert_eq!(names(feed.replay(&map(1), 1).await.unwrap()), expected);
    assert_eq!(recorder.0.lock().unwrap()[&map(1)], [1, 2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn over_the_event_budget_events_go_to_disk_and_a_resume_still_gets_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let limits = FeedLimits { max_maps: 100, max_events: 40, idle: never_idle() };
    let (embedded, _) = open(dir.path(), limits).await;
    let feed = &embedded.feed;
    for n in 1..=30 {
        for m in 0..3 {
            feed.publish(&map(m), joined(n)).await.unwrap();
        }
        if n % 7 == 0 {
            feed.sweep().await;
        }
    }
    feed.sweep().await;
    eventually("within the budget", || feed.resident_events.load(Ordering::Relaxed) <= 40).await;
    assert_eq!(resident(&embedded), 3, "the maps stay; only their events left");
    for m in 0..3 {
        for since in [0, 1, 13, 29, 30] {
            let expected: Vec<(u64, String)> = (since + 1..=30).map(|n| (n, format!("p{n}"))).collect();
            assert_eq!(names(feed.replay(&map(m), since).await.unwrap()), expected, "map {m} since {since}");
        }
    }
}

#[tokio::test]
async fn idle_maps_leave_memory_and_come_back_on_use() {
    let dir = tempfile::tempdir().unwrap();
    let limits = FeedLimits { max_maps: 100, max_events: 1_000_000, idle: Duration::ZERO };
    let (embedded, _) = open(dir.path(), limits).await;
    let feed = &embedded.feed;
    feed.publish(&map(1), joined(1)).await.unwrap();
    feed.publish(&map(2), joined(1)).await.unwrap();
    feed.sweep().await;
    eventually("no map in memory", || resident(&embedded) == 0).await;
    assert_eq!(feed.resident_events.load(Ordering::Relaxed), 0);
    assert_eq!(feed.publish(&map(1), joined(2)).await.unwrap(), Some(2));
    assert_eq!(names(feed.replay(&map(1), 0).await.unwrap()), [(1, "p1".into()), (2, "p2".into())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn publishes_racing_evictions_lose_no_event_and_no_seq() {
    let dir = tempfile::tempdir().unwrap();
    // One map in memory for four busy ones, 30 events for all, and idle after 1 ms: maps
    // leave memory all the time, and events go to disk all the time.
    let limits = FeedLimits { max_maps: 1, max_events: 30, idle: Duration::from_millis(1) };
    let (embedded, recorder) = open(dir.path(), limits).await;
    let feed = embedded.feed.clone();
    let mut tasks = Vec::new();
    for task in 0..8u64 {
        let feed = feed.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..60u64 {
                feed.publish(&map(((task + n) % 4) as usize), joined(task * 1000 + n))
                    .await
                    .unwrap()
                    .unwrap();
                if n % 10 == 0 {
                    feed.sweep().await;
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let delivered = recorder.0.lock().unwrap().clone();
    let mut total = 0;
    for m in 0..4 {
        let seqs = &delivered[&map(m)];
        total += seqs.len();
        assert_eq!(
            *seqs,
            (1..=seqs.len() as u64).collect::<Vec<_>>(),
            "map {m}: in order, no gap, no repeat"
        );
        let replayed = names(feed.replay(&map(m), 0).await.unwrap());
        assert_eq!(replayed.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), *seqs, "map {m}: all resumable");
        let mut players: Vec<String> = replayed.into_iter().map(|(_, p)| p).collect();
        players.sort();
        players.dedup();
        assert_eq!(players.len(), seqs.len(), "map {m}: every event is a different publish");
    }
    assert_eq!(total, 8 * 60);
}

#[tokio::test]
async fn publishers_faster_than_the_disk_wait_so_memory_stays_within_twice_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let limits = FeedLimits { max_maps: 100, max_events: 50, idle: never_idle() };
    let (embedded, recorder) = open(dir.path(), limits).await;
    let feed = &embedded.feed;
    // Only the background sweeper writes events out here.
    for n in 1..=100 {
        for m in 0..10 {
            feed.publish(&map(m), joined(n)).await.unwrap();
            let held = feed.resident_events.load(Ordering::Relaxed);
            assert!(held <= 100, "{held} events in memory after event {n} of map {m}");
        }
    }
    for m in 0..10 {
        assert_eq!(names(feed.replay(&map(m), 0).await.unwrap()).len(), 100, "map {m}");
        assert_eq!(recorder.0.lock().unwrap()[&map(m)].len(), 100);
    }
}

#[tokio::test]
async fn a_request_dropped_while_it_evicts_leaves_no_map_stuck() {
    let dir = tempfile::tempdir().unwrap();
    let limits = FeedLimits { max_maps: 2, max_events: 1_000_000, idle: never_idle() };
    let (embedded, _) = open(dir.path(), limits).await;
    let feed = embedded.feed.clone();
    for n in 1..=2 {
        feed.publish(&map(n), joined(n as u64)).await.unwrap();
    }
    // A third map's first publish evicts; its caller goes away (a client gone) as soon as a
    // victim is marked as leaving, before the write-out is done.
    let leaving = || {
        let maps = feed.maps.lock().unwrap();
        maps.values().filter_map(|slot| slot.state.get()).any(|s| s.lock().unwrap().leaving.is_some())
    };
    let third_map = map(3);
    let mut third = Box::pin(feed.publish(&third_map, joined(3)));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut seen = false;
    for _ in 0..100_000 {
        assert!(third.as_mut().poll(&mut cx).is_pending(), "the publish finished before it could be dropped");
        if leaving() {
            seen = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(seen, "no map was ever marked as leaving");
    drop(third);
    // Every map still takes publishes, each at its next seq.
    for n in 1..=3 {
        let id = map(n);
        let published =
            tokio::time::timeout(Duration::from_secs(20), feed.publish(&id, joined(10 + n as u64)));
        let seq = published.await.expect("a map stuck behind a dropped eviction").unwrap();
        assert_eq!(seq, Some(if n == 3 { 1 } else { 2 }), "map{n}");
    }
}
