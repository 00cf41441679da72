//! `GET /metrics` of the real binary. The process has its recorder to itself (the in-process
//! API suite shares one among many servers), so after known work the counts are exact.

use std::collections::HashMap;
use std::time::Instant;

use super::start;
use crate::helpers::{PATIENCE, loc_at, recv_events, subscribe};

/// Locations Harry posts while subscribed.
const N: u64 = 5;

#[tokio::test]
async fn metrics_count_exactly_the_work_done_in_the_prometheus_text_format() {
    let dir = tempfile::tempdir().unwrap();
    let (server, anon) = start(dir.path());
    let harry = anon.create_player("Harry").await.unwrap();
    let ron = anon.create_player("Ron").await.unwrap();
    let h = anon.with_token(&harry.token);
    let map = h.create_map("Hogwarts", None).await.unwrap();
    anon.with_token(&ron.token).join(&map.id, None).await.unwrap();
    let mut live = h.connect().await.unwrap();
    assert_eq!(subscribe(&mut live, &map.id).await, 1, "Ron's join is the map's only event");
    for ts in 1..=N as i64 {
        h.post_location(&loc_at(51.0, -1.0, ts)).await.unwrap();
    }
    let events = recv_events(&mut live, &map.id, N as usize).await;
    assert_eq!(events.last().unwrap().seq, 1 + N);

    let body = scrape(&server.url).await;
    assert!(!body.contains(map.id.as_str()) && !body.contains(harry.id.as_str()), "no id in a label");
    let m = parse(&body);
    assert_eq!(m.get(r#"marauder_events_published_total{kind="joined"}"#), Some(&1.0));
    assert_eq!(m.get(r#"marauder_events_published_total{kind="location"}"#), Some(&(N as f64)));
    assert_eq!(m.get(r#"marauder_events_published_total{kind="left"}"#), Some(&0.0));
    // Ron joined before anyone listened: only Harry's locations reached a subscriber.
    assert_eq!(m["marauder_events_delivered_total"], N as f64);
    let frames = m["marauder_websocket_frames_sent_total"];
    assert!((1.0..=N as f64).contains(&frames), "{frames} frames for {N} events");
    // Nothing was ahead of them on the socket: the fan-out wrote frames itself (one that came
    // while the session still wrote the snapshot went through the session instead).
    let direct = m["marauder_websocket_frames_direct_total"];
    assert!((1.0..=frames).contains(&direct), "{direct} of {frames} frames written directly");
    assert_eq!(m["marauder_fanout_batch_events_count"], frames, "one recipient: a frame per batch");
    assert_eq!(m["marauder_fanout_batch_events_sum"], N as f64);
    let bytes = m["marauder_websocket_sent_bytes_total"];
    assert!(bytes > 50.0 * N as f64, "{bytes} bytes for {N} locations");
    assert_eq!(m["marauder_subscriptions"], 1.0);
    assert_eq!(m["marauder_websocket_connections"], 1.0);
    assert!(m["marauder_http_connections"] >= 2.0, "the WebSocket's and this scrape's");
    assert!(m["marauder_http_connections_max"] >= 100.0, "the default cap, or the file limit's");
    // Two sign-ups, a map, a join and the locations; the upgrade. Not this scrape: it is
    // counted once it is answered.
    assert_eq!(m[r#"marauder_http_responses_total{class="2xx"}"#], (4 + N) as f64);
    assert_eq!(m[r#"marauder_http_responses_total{class="1xx"}"#], 1.0);
    assert_eq!(m[r#"marauder_http_responses_total{class="4xx"}"#], 0.0);
    assert_eq!(m["marauder_slow_consumer_drops_total"], 0.0);
    assert!(m["marauder_store_commit_duration_seconds_count"] >= 3.0, "two players and a map");
    let commits_le_inf = m[r#"marauder_store_commit_duration_seconds_bucket{le="+Inf"}"#];
    assert_eq!(commits_le_inf, m["marauder_store_commit_duration_seconds_count"]);

    live.close().await.unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let m = parse(&scrape(&server.url).await);
        if (m["marauder_subscriptions"], m["marauder_websocket_connections"]) == (0.0, 0.0) {
            break;
        }
        assert!(Instant::now() < deadline, "gauges after the close: {m:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(server.stop().unwrap().success());
}

/// `GET /metrics`, which needs no token and answers the text format's content type.
async fn scrape(base: &str) -> String {
    let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(content_type, "text/plain; version=0.0.4");
    response.text().await.unwrap()
}

/// Every sample by its series (`name{labels}`), failing on any line that is neither a
/// comment nor `name{labels} value` of the Prometheus text format.
fn parse(body: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in body.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            let kind = comment.split(' ').next();
            assert!(matches!(kind, Some("HELP" | "TYPE")), "comment {line:?}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value in {line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value of {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, Some(labels.strip_suffix('}').expect("labels end with }"))),
            None => (series, None),
        };
        assert!(is_name(name) && name.starts_with("marauder_"), "name in {line:?}");
        for label in labels.into_iter().flat_map(|l| l.split(',')) {
            let (key, quoted) = label.split_once('=').unwrap_or_else(|| panic!("label in {line:?}"));
            assert!(is_name(key) && quoted.len() >= 2, "label in {line:?}");
            assert!(quoted.starts_with('"') && quoted.ends_with('"'), "label value in {line:?}");
        }
        assert!(samples.insert(series.to_owned(), value).is_none(), "{series} twice");
    }
    samples
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
