//! `--trail-max-age`: a point older than the window is never answered, even before the
//! sweeper has erased it (the erasure itself is the conformance suite's, per backend), and a
//! joiner's expired last point is not their location on the map.

use marauder_core::now_millis;

use crate::helpers::*;

const HOUR: i64 = 3_600_000;

#[tokio::test]
async fn a_trail_read_never_answers_a_point_older_than_the_max_age() {
    let app = TestApp::spawn_with(|config| config.trail_max_age = "1h".parse().unwrap()).await;
    let (harry, h) = app.player("Harry").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    let now = now_millis();
    for ts in [now - 2 * HOUR, now - HOUR - 60_000, now - 60_000] {
        assert_eq!(harry.post_location(&loc_at(1.0, 1.0, ts)).await.unwrap().maps, 1, "stored and published");
    }
    let trail = harry.trail(&map.id, &h.id, None, None).await.unwrap();
    assert_eq!(trail.points.iter().map(|p| p.ts).collect::<Vec<_>>(), vec![now - 60_000]);
    let from_zero = harry.trail(&map.id, &h.id, Some(0), None).await.unwrap();
    assert_eq!(from_zero.points.iter().map(|p| p.ts).collect::<Vec<_>>(), vec![now - 60_000], "`since` too");
    app.stop().await;
}

#[tokio::test]
async fn a_joiner_whose_last_point_expired_has_no_location_on_the_map() {
    let app = TestApp::spawn_with(|config| config.trail_max_age = "1h".parse().unwrap()).await;
    let (harry, _) = app.player("Harry").await;
    let (ron, _) = app.player("Ron").await;
    let (ginny, g) = app.player("Ginny").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    let now = now_millis();
    ron.post_location(&loc_at(30.0, 30.0, now - 2 * HOUR)).await.unwrap();
    ginny.post_location(&loc_at(40.0, 40.0, now - 60_000)).await.unwrap();
    ron.join(&map.id, None).await.unwrap();
    ginny.join(&map.id, None).await.unwrap();
    let snapshot = harry.locations(&map.id).await.unwrap();
    let located: Vec<_> = snapshot.locations.iter().map(|l| (l.player.as_str(), l.fix.ts)).collect();
    assert_eq!(located, vec![(g.id.as_str(), now - 60_000)], "only Ginny's point is recent enough");
    app.stop().await;
}
