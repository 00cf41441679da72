//! The trail log: points are committed to it in the order they came, read from memory until
//! they are folded into the trails table, and folded when it holds enough, on a flush, and at
//! the start after a stop that left some there.

use std::sync::Arc;
use std::time::Duration;

use marauder_core::protocol::Fix;
use marauder_core::{PlayerId, PlayerRecord, Store};
use redb::{ReadableTable, ReadableTableMetadata};

use crate::store_tests::{Nowhere, close, player};
use crate::{Embedded, Options, codec};

fn fix(ts: i64) -> Fix {
    Fix { lat: 51.5, lon: -0.1, accuracy: None, altitude: None, speed: None, heading: None, ts }
}

/// Rows of the log and of the trails table, and the trail's length as counted.
fn rows(embedded: &Embedded, id: &str) -> (u64, u64, Option<u64>) {
    let id = id.to_owned();
    embedded
        .feed
        .db
        .read(move |txn| {
            let log = txn.open_table(codec::TRAIL_LOG).unwrap().len().unwrap();
            let trails = txn.open_table(codec::TRAILS).unwrap().len().unwrap();
            let len = txn.open_table(codec::TRAIL_LEN).unwrap().get(id.as_str()).unwrap().map(|v| v.value());
            Ok((log, trails, len))
        })
        .unwrap()
}

/// A player with a session (token `token`), created through the store.
async fn create(embedded: &Embedded, id: &str, name: &str, token: u8) -> PlayerRecord {
    let record = player(id, name);
    let session = crate::store_tests::session(id, &format!("s{token}"), token, 1);
    embedded.store.create_player(record.clone(), session).await.unwrap();
    record
}

async fn timestamps(embedded: &Embedded, player: &PlayerId) -> Vec<i64> {
    embedded.store.trail(player, None, 100).await.unwrap().iter().map(|f| f.ts).collect()
}

#[tokio::test]
async fn points_are_logged_read_from_memory_and_folded_with_the_retention_applied() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        trail_retention: 4,
        trail_fold_points: 5,
        trail_fold_after: Duration::from_secs(3600),
        ..Options::default()
    };
    let embedded = crate::open(dir.path(), options, Arc::new(Nowhere)).unwrap();
    let luna = create(&embedded, "luna", "Luna", 1).await;
    for ts in 1..=3 {
        embedded.store.append_trail(&luna.id, &fix(ts)).await.unwrap();
    }
    // A write commits the pending points with it: to the log, three short of a fold.
    assert!(embedded.store.rename_player(&luna.id, "Luna L").await.unwrap());
    assert_eq!(rows(&embedded, "luna"), (3, 0, None));
    assert_eq!(timestamps(&embedded, &luna.id).await, vec![1, 2, 3], "logged points are read");
    assert_eq!(embedded.store.latest(&luna.id).await.unwrap(), Some(fix(3)));

    for ts in 4..=6 {
        embedded.store.append_trail(&luna.id, &fix(ts)).await.unwrap();
    }
    // Six to be logged, past the five of a fold: the writer's next trail commits log them
    // and fold them (only a fold empties the log; waited for, at most 10 s).
    // The oldest two, past the retention, are gone once the fold is over (the points being
    // folded are read from memory until then).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while rows(&embedded, "luna") != (0, 4, Some(4)) || timestamps(&embedded, &luna.id).await != [3, 4, 5, 6]
    {
        assert!(tokio::time::Instant::now() < deadline, "not folded: {:?}", rows(&embedded, "luna"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    embedded.store.append_trail(&luna.id, &fix(7)).await.unwrap();
    embedded.store.flush().await.unwrap();
    assert_eq!(rows(&embedded, "luna"), (0, 4, Some(4)), "a flush folds");
    assert_eq!(timestamps(&embedded, &luna.id).await, vec![4, 5, 6, 7]);
    close(embedded).await;
}

#[tokio::test]
async fn points_a_stop_left_in_the_log_are_folded_at_the_next_start_once() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = crate::store_tests::open(dir.path());
    let luna = create(&embedded, "luna", "Luna", 1).await;
    embedded.store.append_trail(&luna.id, &fix(10)).await.unwrap();
    close(embedded).await;

    // What a stop between a commit and its fold leaves: the log holds a new point and one
    // already in the trails table (a fold is one transaction, but a log may be replayed).
    let db = redb::Database::create(dir.path().join("marauder.redb")).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let trails = txn.open_table(codec::TRAILS).unwrap();
        let (key, value) = trails.first().unwrap().unwrap();
        let (_, ts, unique) = key.value();
        assert_eq!(ts, 10, "the first stop folded its point");
        let mut log = txn.open_table(codec::TRAIL_LOG).unwrap();
        log.insert(unique, ("luna", value.value())).unwrap();
        log.insert(unique + 1, ("luna", codec::encode_fix(&fix(20)).as_slice())).unwrap();
        log.insert(unique + 2, ("ghost", codec::encode_fix(&fix(30)).as_slice())).unwrap();
    }
    txn.commit().unwrap();
    drop(db);

    let embedded = crate::store_tests::open(dir.path());
    assert_eq!(rows(&embedded, "luna"), (0, 2, Some(2)), "folded, the point already there counted once");
    assert_eq!(rows(&embedded, "ghost").2, None, "a player who is gone gets no trail");
    assert_eq!(timestamps(&embedded, &luna.id).await, vec![10, 20]);
    close(embedded).await;
}

#[tokio::test]
async fn a_player_with_many_points_in_a_commit_has_them_written_straight_to_the_trails_table() {
    let dir = tempfile::tempdir().unwrap();
    // Points are committed only with a write here: the test decides what one commit holds.
    let options = Options { trail_commit_interval: Duration::from_secs(3600), ..Options::default() };
    let embedded = crate::open(dir.path(), options, Arc::new(Nowhere)).unwrap();
    let luna = create(&embedded, "luna", "Luna", 1).await;
    let ginny = create(&embedded, "ginny", "Ginny", 2).await;
    for ts in 1..=4 {
        embedded.store.append_trail(&luna.id, &fix(ts)).await.unwrap();
    }
    embedded.store.append_trail(&ginny.id, &fix(5)).await.unwrap();
    // One commit (with the write): Luna's four points straight to the table, Ginny's one to the log.
    assert!(embedded.store.rename_player(&luna.id, "Luna L").await.unwrap());
    assert_eq!(rows(&embedded, "luna"), (1, 4, Some(4)));
    assert_eq!(rows(&embedded, "ginny").2, None, "not folded yet");
    assert_eq!(timestamps(&embedded, &luna.id).await, vec![1, 2, 3, 4]);
    assert_eq!(timestamps(&embedded, &ginny.id).await, vec![5]);
    close(embedded).await;

    let embedded = crate::store_tests::open(dir.path());
    assert_eq!(rows(&embedded, "ginny"), (0, 5, Some(1)), "closing folded the log");
    assert_eq!(timestamps(&embedded, &ginny.id).await, vec![5]);
    close(embedded).await;
}
