//! `GET /metrics` on the backend of this run. Every server of this process shares one
//! recorder, so these tests check that each backend's metrics are recorded at all; the
//! exact counts are checked by the process tests, where the binary has its recorder alone.

use crate::helpers::*;

/// Locations posted: on Redis, two round trips each, so at least one sampled command
/// (one in 16 per thread) is timed on this test's thread.
const POSTS: usize = 16;

#[tokio::test]
async fn metrics_need_no_token_and_count_what_this_backend_does() {
    let app = TestApp::spawn().await;
    let (harry, created) = app.player("Harry").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    let mut live = harry.connect().await.unwrap();
    subscribe(&mut live, &map.id).await;
    for ts in 1..=POSTS as i64 {
        harry.post_location(&loc_at(51.0, -1.0, ts)).await.unwrap();
    }
    recv_events(&mut live, &map.id, POSTS).await;

    let page = app.anon.raw("GET", "/metrics", None).await.unwrap();
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["content-type"], "text/plain; version=0.0.4");
    let body = String::from_utf8(page.body).unwrap();
    assert!(!body.contains(map.id.as_str()) && !body.contains(created.id.as_str()), "no id in a label");
    let at_least = |series: &str, min: f64| {
        let line = body.lines().find(|l| l.rsplit_once(' ').is_some_and(|(s, _)| s == series));
        let value: f64 = line.and_then(|l| l.rsplit_once(' ')?.1.parse().ok()).unwrap_or(-1.0);
        assert!(value >= min, "{series} = {value}, expected at least {min}\n{body}");
    };
    at_least(r#"marauder_events_published_total{kind="location"}"#, POSTS as f64);
    at_least("marauder_events_delivered_total", POSTS as f64);
    at_least("marauder_websocket_frames_sent_total", 1.0);
    at_least("marauder_subscriptions", 1.0);
    match backend() {
        None => at_least("marauder_store_commit_duration_seconds_count", 2.0),
        Some(_) => at_least("marauder_redis_command_duration_seconds_count", 1.0),
    }
}
