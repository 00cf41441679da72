//! The feed executes each change as the core decided it (who must be a member, what happens
//! to the member set and to the latest locations), and a map's deletion is its last event:
//! after it nothing of the map stays in memory or on disk, whatever write-out or eviction
//! raced it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use marauder_core::protocol::{Event, EventBody, Fix, PlayerLocation, Visibility};
use marauder_core::{Change, EventSink, Feed, MapId, Replay, Store};

use crate::feed_tests::record;
use crate::{Embedded, FeedLimits, Options, codec};

#[derive(Default)]
struct Kinds(Mutex<HashMap<MapId, Vec<(u64, &'static str)>>>);

impl EventSink for Kinds {
    fn deliver(&self, map: &MapId, event: Arc<Event>) {
        self.0.lock().unwrap().entry(map.clone()).or_default().push((event.seq, event.body.kind()));
    }
}

impl Kinds {
    fn of(&self, map: usize) -> Vec<(u64, &'static str)> {
        self.0.lock().unwrap().get(&crate::feed_tests::map(map)).cloned().unwrap_or_default()
    }
}

async fn open(dir: &std::path::Path, limits: FeedLimits, maps: usize) -> (Embedded, Arc<Kinds>) {
    let kinds = Arc::new(Kinds::default());
    let embedded = crate::open(dir, Options { feed: limits, ..Options::default() }, kinds.clone()).unwrap();
    for n in 0..maps {
        embedded.store.create_map(record(n)).await.unwrap();
    }
    (embedded, kinds)
}

fn roomy() -> FeedLimits {
    FeedLimits { max_maps: 100, max_events: 1_000_000, idle: Duration::from_secs(3600) }
}

fn map(n: usize) -> MapId {
    crate::feed_tests::map(n)
}

fn at(player: &str, name: &str, ts: i64) -> PlayerLocation {
    let fix = Fix { lat: 51.5, lon: -0.1, accuracy: None, altitude: None, speed: None, heading: None, ts };
    PlayerLocation { player: player.into(), name: name.into(), fix }
}

fn joined(player: &str, latest: Option<PlayerLocation>) -> Change {
    Change::Joined { player: player.into(), name: player.to_uppercase(), latest }
}

/// The latest locations a snapshot shows: (player, name, ts).
async fn latest(embedded: &Embedded, m: usize) -> (u64, Vec<(String, String, i64)>) {
    let snapshot = embedded.feed.snapshot(&map(m)).await.unwrap();
    (snapshot.seq, snapshot.locations.into_iter().map(|l| (l.player, l.name, l.fix.ts)).collect())
}

#[tokio::test]
async fn each_change_is_executed_as_the_core_decided_it() {
    let dir = tempfile::tempdir().unwrap();
    let (embedded, kinds) = open(dir.path(), roomy(), 1).await;
    let feed = &embedded.feed;
    let id = map(0);
    let publish = |change| feed.publish(&id, change);
    assert_eq!(publish(joined("ron", Some(at("ron", "RON", 10)))).await.unwrap(), Some(1));
    assert_eq!(publish(Change::Location(at("harry", "H", 11))).await.unwrap(), None, "not a member");
    assert_eq!(publish(Change::Location(at("ron", "RON", 5))).await.unwrap(), Some(2));
    assert_eq!(latest(&embedded, 0).await, (2, vec![("ron".into(), "RON".into(), 10)]), "an older point");
    assert_eq!(publish(Change::Location(at("ron", "RON", 20))).await.unwrap(), Some(3));
    let renamed = Change::Renamed {
        player: "ron".into(),
        name: "Ronald".into(),
        latest: Some(at("ron", "Ronald", 20)),
    };
    assert_eq!(publish(renamed).await.unwrap(), Some(4));
    assert_eq!(latest(&embedded, 0).await, (4, vec![("ron".into(), "Ronald".into(), 20)]));
    let stranger = Change::Renamed { player: "harry".into(), name: "Harold".into(), latest: None };
    assert_eq!(publish(stranger).await.unwrap(), None, "a rename needs a member too");
    let updated =
        Change::MapUpdated { name: "New".into(), visibility: Visibility::Private, owner: "ron".into() };
    assert_eq!(publish(updated).await.unwrap(), Some(5));
    assert_eq!(publish(joined("harry", None)).await.unwrap(), Some(6));
    assert_eq!(publish(Change::Location(at("harry", "HARRY", 30))).await.unwrap(), Some(7));
    let removed = Change::Left { player: "ron".into(), name: "Ronald".into(), removed: true };
    assert_eq!(publish(removed).await.unwrap(), Some(8));
    assert_eq!(latest(&embedded, 0).await, (8, vec![("harry".into(), "HARRY".into(), 30)]));
    assert_eq!(publish(Change::Location(at("ron", "Ronald", 40))).await.unwrap(), None, "left");
    let expected = ["joined", "location", "location", "renamed", "map_updated", "joined", "location", "left"];
    let delivered = kinds.of(0);
    assert_eq!(delivered, expected.iter().enumerate().map(|(i, k)| (i as u64 + 1, *k)).collect::<Vec<_>>());
    let Replay::Events(events) = feed.replay(&map(0), 7).await.unwrap() else { panic!("a reset") };
    let body = &events[0].body;
    assert_eq!(*body, EventBody::Left { player: "ron".into(), name: "Ronald".into(), removed: Some(true) });
}

/// The feed's rows of the map on disk: (reserved seq, recent events, recent range).
fn rows(embedded: &Embedded, m: usize) -> (Option<u64>, usize, Option<(u64, u64)>) {
    let id = map(m);
    let read = embedded.feed.db.read(move |txn| {
        let key = id.as_str();
        let reserved = txn.open_table(codec::SEQ_RESERVED).unwrap().get(key).unwrap().map(|v| v.value());
        let recent =
            txn.open_table(codec::RECENT).unwrap().range((key, 0)..=(key, u64::MAX)).unwrap().count();
        let range = txn.open_table(codec::RECENT_RANGE).unwrap().get(key).unwrap().map(|v| v.value());
        Ok((reserved, recent, range))
    });
    read.unwrap()
}

fn in_memory(embedded: &Embedded, m: usize) -> bool {
    embedded.feed.maps.lock().unwrap().contains_key(&map(m))
}

/// Every change a deleted map could be offered: none publishes.
async fn nothing_publishes(embedded: &Embedded, m: usize) {
    let changes = [
        Change::Location(at("ron", "RON", 99)),
        Change::Renamed { player: "ron".into(), name: "R".into(), latest: None },
        Change::MapUpdated { name: "X".into(), visibility: Visibility::Public, owner: "ron".into() },
        joined("luna", None),
        Change::Left { player: "ron".into(), name: "RON".into(), removed: false },
    ];
    for change in changes {
        let kind = change.kind();
        assert_eq!(embedded.feed.publish(&map(m), change).await.unwrap(), None, "{kind}");
    }
}

#[tokio::test]
async fn a_deleted_map_ends_with_its_last_event_and_nothing_of_it_stays() {
    let dir = tempfile::tempdir().unwrap();
    let limits = FeedLimits { max_maps: 1, ..roomy() };
    let (embedded, kinds) = open(dir.path(), limits, 2).await;
    let feed = &embedded.feed;
    for player in ["ron", "harry", "ginny"] {
        feed.publish(&map(0), joined(player, Some(at(player, "P", 1)))).await.unwrap();
    }
    feed.write_out_all().await.unwrap(); // As a clean stop would: its rows are on disk now.
    assert_eq!(rows(&embedded, 0), (Some(4), 3, Some((1, 3))));

    assert!(embedded.store.delete_map(&map(0)).await.unwrap());
    assert_eq!(feed.publish(&map(0), Change::Deleted).await.unwrap(), Some(4));
    assert_eq!(kinds.of(0), [(1, "joined"), (2, "joined"), (3, "joined"), (4, "map_deleted")]);
    assert!(!in_memory(&embedded, 0), "its state left memory");
    assert_eq!(rows(&embedded, 0), (None, 0, None), "its rows left the disk");

    nothing_publishes(&embedded, 0).await;
    assert_eq!(latest(&embedded, 0).await, (0, vec![]), "an empty snapshot");
    let Replay::Events(events) = feed.replay(&map(0), 0).await.unwrap() else { panic!("a reset") };
    assert!(events.is_empty());
    assert_eq!(kinds.of(0).len(), 4, "nothing delivered after the last event");
    feed.write_out_all().await.unwrap();
    assert_eq!(rows(&embedded, 0), (None, 0, None), "a write-out brings nothing back");
    feed.publish(&map(1), joined("luna", None)).await.unwrap(); // Evicts the deleted map's state.
    assert!(!in_memory(&embedded, 0));
    assert_eq!(rows(&embedded, 0), (None, 0, None), "nor does an eviction");
}

#[tokio::test]
async fn a_map_deleted_while_out_of_memory_ends_at_exactly_its_next_seq() {
    let dir = tempfile::tempdir().unwrap();
    let limits = FeedLimits { max_maps: 1, ..roomy() };
    let (embedded, kinds) = open(dir.path(), limits, 2).await;
    let feed = &embedded.feed;
    feed.publish(&map(0), joined("ron", None)).await.unwrap();
    feed.publish(&map(0), joined("harry", None)).await.unwrap();
    feed.publish(&map(1), joined("luna", None)).await.unwrap(); // Map 0 leaves memory.
    assert!(!in_memory(&embedded, 0));
    assert_eq!(rows(&embedded, 0), (Some(3), 2, Some((1, 2))));
    assert!(embedded.store.delete_map(&map(0)).await.unwrap());
    assert_eq!(feed.publish(&map(0), Change::Deleted).await.unwrap(), Some(3), "the exact next seq");
    assert_eq!(kinds.of(0), [(1, "joined"), (2, "joined"), (3, "map_deleted")]);
    assert_eq!(rows(&embedded, 0), (None, 0, None));
    nothing_publishes(&embedded, 0).await;
    assert_eq!(feed.publish(&map(1), joined("neville", None)).await.unwrap(), Some(2), "others go on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deletions_racing_write_outs_and_evictions_leave_no_row_and_no_gap() {
    let dir = tempfile::tempdir().unwrap();
    // Two maps in memory for sixteen, ten events for all, idle after 1 ms: maps leave memory
    // and events go to disk all the time, while maps are deleted.
    let limits = FeedLimits { max_maps: 2, max_events: 10, idle: Duration::from_millis(1) };
    let (embedded, kinds) = open(dir.path(), limits, 16).await;
    let embedded = Arc::new(embedded);
    let mut tasks = Vec::new();
    for task in 0..8usize {
        let embedded = embedded.clone();
        tasks.push(tokio::spawn(async move {
            let feed = &embedded.feed;
            for m in [task, task + 8] {
                let events = 5 + 7 * task as u64 + m as u64;
                for n in 1..=events {
                    let published = feed.publish(&map(m), joined(&format!("p{n}"), None)).await.unwrap();
                    assert_eq!(published, Some(n), "map {m}");
                    if n % 6 == 0 {
                        feed.sweep().await;
                    }
                }
                assert!(embedded.store.delete_map(&map(m)).await.unwrap());
                assert_eq!(
                    feed.publish(&map(m), Change::Deleted).await.unwrap(),
                    Some(events + 1),
                    "map {m}"
                );
                nothing_publishes(&embedded, m).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    embedded.feed.flush().await.unwrap();
    for m in 0..16 {
        let delivered = kinds.of(m);
        let seqs: Vec<u64> = delivered.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "map {m}: in order, no gap");
        assert_eq!(delivered.last().map(|(_, kind)| *kind), Some("map_deleted"), "map {m}: the last event");
        assert_eq!(rows(&embedded, m), (None, 0, None), "map {m}: nothing on disk");
    }
}
