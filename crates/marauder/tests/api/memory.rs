//! The embedded feed's bound on memory keeps the contract: a map whose state left memory
//! (here at once, with one map kept) comes back with its exact seq, snapshot and recent
//! events. On Redis the settings do nothing and the same must hold.

use marauder_client::protocol::ServerMessage;

use crate::helpers::{TestApp, assert_consecutive, loc_at, recv, recv_events};

#[tokio::test]
async fn a_map_that_left_memory_keeps_its_seq_snapshot_and_recent_events() {
    let app = TestApp::spawn_with(|c| {
        c.feed_max_maps = 1;
        c.feed_max_events = 1_000_000;
    })
    .await;
    let (harry, h) = app.player("Harry").await;
    let hogwarts = harry.create_map("Hogwarts", None).await.unwrap();
    let hogsmeade = harry.create_map("Hogsmeade", None).await.unwrap();
    // Each post gives both maps an event, so each map leaves memory for the other's.
    for ts in 1..=10 {
        harry.post_location(&loc_at(ts as f64 / 100.0, 0.0, ts)).await.unwrap();
    }
    let before = harry.locations(&hogwarts.id).await.unwrap();
    assert_eq!(before.seq, 10);
    assert_eq!((before.locations.len(), before.locations[0].fix.ts), (1, 10));
    assert_eq!(harry.locations(&hogsmeade.id).await.unwrap().seq, 10);
    let after = harry.locations(&hogwarts.id).await.unwrap();
    assert_eq!(after, before, "the snapshot after a reload is the one before");

    // A resume from before the map left memory gets exactly the missed events.
    let mut live = harry.connect().await.unwrap();
    live.subscribe(&hogwarts.id, Some(3)).await.unwrap();
    let resumed = recv_events(&mut live, &hogwarts.id, 7).await;
    assert_consecutive(&resumed, 4);
    harry.locations(&hogsmeade.id).await.unwrap();
    live.subscribe(&hogsmeade.id, Some(9)).await.unwrap();
    assert_consecutive(&recv_events(&mut live, &hogsmeade.id, 1).await, 10);

    // And the next seq is exactly the next one, live and in the snapshot.
    harry.post_location(&loc_at(0.5, 0.0, 11)).await.unwrap();
    let mut live_seqs = Vec::new();
    while live_seqs.len() < 2 {
        match recv(&mut live).await {
            ServerMessage::Events { map, events } => {
                live_seqs.extend(events.iter().map(|e| (map.clone(), e.seq)))
            }
            other => panic!("expected events, got {other:?}"),
        }
    }
    live_seqs.sort();
    let mut expected = vec![(hogwarts.id.clone(), 11), (hogsmeade.id.clone(), 11)];
    expected.sort();
    assert_eq!(live_seqs, expected);
    let now = harry.locations(&hogwarts.id).await.unwrap();
    assert_eq!((now.seq, now.locations[0].fix.ts, now.locations[0].player.as_str()), (11, 11, h.id.as_str()));
    app.stop().await;
}

#[tokio::test]
async fn after_a_clean_restart_a_resume_gets_the_recent_events() {
    let app = TestApp::spawn().await;
    let (harry, created) = app.player("Harry").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    for ts in 1..=5 {
        harry.post_location(&loc_at(0.0, 0.0, ts)).await.unwrap();
    }
    let app = app.restart().await;
    let harry = app.client(&created.token);
    let mut live = harry.connect().await.unwrap();
    live.subscribe(&map.id, Some(2)).await.unwrap();
    assert_consecutive(&recv_events(&mut live, &map.id, 3).await, 3);
    harry.post_location(&loc_at(0.0, 0.0, 6)).await.unwrap();
    assert_consecutive(&recv_events(&mut live, &map.id, 1).await, 6);
    app.stop().await;
}
