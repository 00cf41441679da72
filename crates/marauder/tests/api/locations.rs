use marauder_client::protocol::{ErrorCode, Fix, LocationInput};

use crate::helpers::*;

#[tokio::test]
async fn a_location_informs_every_map_and_is_read_back_at_once() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    assert_eq!(harry.post_location(&loc_at(1.0, 1.0, 1_000)).await.unwrap().maps, 0, "in no map yet");
    let a = harry.create_map("A", None).await.unwrap();
    let b = harry.create_map("B", None).await.unwrap();
    let full = LocationInput {
        lat: 51.5007,
        lon: -0.1246,
        accuracy: Some(4.5),
        altitude: Some(12.0),
        speed: Some(1.4),
        heading: Some(359.5),
        ts: Some(1_700_000_000_000),
    };
    assert_eq!(harry.post_location(&full).await.unwrap().maps, 2);
    for map in [&a.id, &b.id] {
        let snapshot = harry.locations(map).await.unwrap();
        assert_eq!(snapshot.map, *map);
        assert_eq!(snapshot.seq, 1);
        assert_eq!(snapshot.locations.len(), 1);
        let l = &snapshot.locations[0];
        assert_eq!((l.player.as_str(), l.name.as_str()), (h.id.as_str(), "Harry"));
        assert_eq!(
            l.fix,
            Fix {
                lat: 51.5007,
                lon: -0.1246,
                accuracy: Some(4.5),
                altitude: Some(12.0),
                speed: Some(1.4),
                heading: Some(359.5),
                ts: 1_700_000_000_000
            }
        );
    }
    // The trail holds both points, oldest first, immediately after the 202s.
    let trail = harry.trail(&a.id, &h.id, None, None).await.unwrap();
    assert_eq!(trail.player, h.id);
    assert_eq!(trail.points.len(), 2);
    assert_eq!((trail.points[0].lat, trail.points[0].ts), (1.0, 1_000));
    assert_eq!((trail.points[1].lat, trail.points[1].ts), (51.5007, 1_700_000_000_000));
    app.stop().await;
}

#[tokio::test]
async fn the_snapshot_keeps_the_greatest_ts_and_includes_points_from_before_joining() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let (ron, r) = app.player("Ron").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    harry.post_location(&loc_at(10.0, 10.0, 2_000)).await.unwrap();
    // A late point from the phone's past: stored and published, but not the latest.
    harry.post_location(&loc_at(20.0, 20.0, 1_000)).await.unwrap();
    ron.post_location(&loc_at(30.0, 30.0, 500)).await.unwrap(); // before joining
    ron.join(&map.id, None).await.unwrap();
    let snapshot = harry.locations(&map.id).await.unwrap();
    assert_eq!(snapshot.seq, 3, "two locations and one join");
    let found: Vec<(&str, f64, i64)> = {
        let mut v: Vec<_> =
            snapshot.locations.iter().map(|l| (l.player.as_str(), l.fix.lat, l.fix.ts)).collect();
        v.sort_by_key(|(_, _, ts)| *ts);
        v
    };
    assert_eq!(found, vec![(r.id.as_str(), 30.0, 500), (h.id.as_str(), 10.0, 2_000)]);
    let trail = harry.trail(&map.id, &h.id, None, None).await.unwrap();
    assert_eq!(
        trail.points.iter().map(|p| p.ts).collect::<Vec<_>>(),
        vec![1_000, 2_000],
        "oldest first by ts"
    );
    app.stop().await;
}

#[tokio::test]
async fn trails_filter_by_since_and_keep_the_oldest_limit() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let (ron, _) = app.player("Ron").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    ron.join(&map.id, None).await.unwrap();
    for ts in 1..=30 {
        harry.post_location(&loc_at(ts as f64, 0.0, ts * 1000)).await.unwrap();
    }
    let ts_of = |points: &[Fix]| points.iter().map(|p| p.ts / 1000).collect::<Vec<_>>();
    let all = ron.trail(&map.id, &h.id, None, None).await.unwrap();
    assert_eq!(ts_of(&all.points), (1..=30).collect::<Vec<_>>());
    let since = ron.trail(&map.id, &h.id, Some(25_000), None).await.unwrap();
    assert_eq!(ts_of(&since.points), vec![26, 27, 28, 29, 30], "strictly after since");
    let limited = ron.trail(&map.id, &h.id, Some(10_000), Some(3)).await.unwrap();
    assert_eq!(ts_of(&limited.points), vec![11, 12, 13], "the oldest n after since");
    let max = ron.trail(&map.id, &h.id, None, Some(1000)).await.unwrap();
    assert_eq!(max.points.len(), 30);
    let err = ron.trail(&map.id, &h.id, None, Some(1001)).await.unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(400), Some(ErrorCode::BadRequest)));
    app.stop().await;
}

#[tokio::test]
async fn trails_are_cut_to_the_retention() {
    let app = TestApp::spawn_with(|c| c.trail_retention = 5).await;
    let (harry, h) = app.player("Harry").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    for ts in 1..=12 {
        harry.post_location(&loc_at(0.0, 0.0, ts)).await.unwrap();
    }
    // Retention applies as points are committed; a restart commits everything.
    let app = app.restart().await;
    let harry = app.client(harry.token().unwrap());
    let trail = harry.trail(&map.id, &h.id, None, None).await.unwrap();
    assert_eq!(trail.points.iter().map(|p| p.ts).collect::<Vec<_>>(), vec![8, 9, 10, 11, 12]);
    app.stop().await;
}
