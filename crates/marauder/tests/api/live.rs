use std::time::Duration;

use marauder_client::protocol::{ErrorCode, EventBody, ServerMessage, UnsubscribeReason};
use tokio_tungstenite::tungstenite::Message;

use marauder_server::MAX_SUBSCRIPTIONS;

use crate::helpers::*;

#[tokio::test]
async fn a_sender_receives_its_own_update_after_the_snapshot() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    harry.post_location(&loc_at(1.0, 2.0, 1_000)).await.unwrap();
    let mut live = harry.connect().await.unwrap();
    live.subscribe(&map.id, None).await.unwrap();
    let ServerMessage::Snapshot { seq, locations, reset, .. } = recv(&mut live).await else {
        panic!("snapshot first")
    };
    assert_eq!((seq, locations.len(), reset), (1, 1, None));
    assert_eq!((locations[0].player.as_str(), locations[0].fix.lat), (h.id.as_str(), 1.0));

    // Over the socket itself: no reply on success, the update comes back as an event.
    live.push_location(&loc_at(3.0, 4.0, 2_000)).await.unwrap();
    let events = recv_events(&mut live, &map.id, 1).await;
    assert_eq!(events[0].seq, 2);
    let EventBody::Location(l) = &events[0].body else { panic!("a location event") };
    assert_eq!(
        (l.player.as_str(), l.name.as_str(), l.fix.lat, l.fix.lon, l.fix.ts),
        (h.id.as_str(), "Harry", 3.0, 4.0, 2_000)
    );
    assert_eq!(harry.trail(&map.id, &h.id, None, None).await.unwrap().points.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn the_token_may_come_in_the_query_string() {
    let app = TestApp::spawn().await;
    let (harry, _) = app.player("Harry").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    let mut live = harry.connect_with_query_token().await.unwrap();
    assert_eq!(subscribe(&mut live, &map.id).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_senders_get_consecutive_seqs_in_their_own_order() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.player("Dumbledore").await;
    let map = owner.create_map("Hogwarts", None).await.unwrap();
    let mut watcher = owner.connect().await.unwrap();
    let mut senders = Vec::new();
    for i in 0..5 {
        let (client, created) = app.player(&format!("Student {i}")).await;
        client.join(&map.id, None).await.unwrap();
        senders.push((client, created.id));
    }
    let start = subscribe(&mut watcher, &map.id).await;
    const EACH: i64 = 40;
    let tasks: Vec<_> = senders
        .iter()
        .enumerate()
        .map(|(i, (client, _))| {
            let client = client.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    for n in 1..=EACH {
                        client.post_location(&loc_at(i as f64, 0.0, n)).await.unwrap();
                    }
                } else {
                    let mut live = client.connect().await.unwrap();
                    for n in 1..=EACH {
                        live.push_location(&loc_at(i as f64, 0.0, n)).await.unwrap();
                    }
                    // Frames are handled in order: once this is answered, all were.
                    live.send_raw(Message::text("{}")).await.unwrap();
                    assert!(matches!(recv(&mut live).await, ServerMessage::Error { .. }));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let events = recv_events(&mut watcher, &map.id, 5 * EACH as usize).await;
    assert_consecutive(&events, start + 1);
    for (_, id) in &senders {
        let mine: Vec<i64> = events
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::Location(l) if &l.player == id => Some(l.fix.ts),
                _ => None,
            })
            .collect();
        assert_eq!(mine, (1..=EACH).collect::<Vec<_>>(), "each sender's updates in the order sent");
    }
    app.stop().await;
}

#[tokio::test]
async fn since_resumes_with_no_gap_and_no_duplicate() {
    let app = TestApp::spawn().await;
    let (harry, _) = app.player("Harry").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    let mut live = harry.connect().await.unwrap();
    subscribe(&mut live, &map.id).await;
    for n in 1..=10 {
        harry.post_location(&loc_at(0.0, 0.0, n)).await.unwrap();
    }
    let seen = recv_events(&mut live, &map.id, 10).await;
    assert_consecutive(&seen, 1);
    drop(live);
    // While disconnected, more happens.
    for n in 11..=25 {
        harry.post_location(&loc_at(0.0, 0.0, n)).await.unwrap();
    }
    let mut again = harry.connect().await.unwrap();
    again.subscribe(&map.id, Some(7)).await.unwrap();
    let resumed = recv_events(&mut again, &map.id, 18).await;
    assert_consecutive(&resumed, 8);
    // And live events follow on.
    harry.post_location(&loc_at(0.0, 0.0, 26)).await.unwrap();
    assert_consecutive(&recv_events(&mut again, &map.id, 1).await, 26);

    // Resuming from the present sends nothing but live events.
    let mut third = harry.connect().await.unwrap();
    third.subscribe(&map.id, Some(26)).await.unwrap();
    harry.post_location(&loc_at(0.0, 0.0, 27)).await.unwrap();
    assert_consecutive(&recv_events(&mut third, &map.id, 1).await, 27);
    app.stop().await;
}

#[tokio::test]
async fn since_ahead_of_the_map_or_no_longer_buffered_gets_a_reset_snapshot() {
    let app = TestApp::spawn_with(|c| c.recent_events = 1000).await;
    let (harry, h) = app.player("Harry").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    let mut live = harry.connect().await.unwrap();
    for n in 1..=1005 {
        live.push_location(&loc_at(0.0, 0.0, n)).await.unwrap();
    }
    live.send_raw(Message::text("{}")).await.unwrap();
    assert!(matches!(recv(&mut live).await, ServerMessage::Error { .. }));

    // Events 6..=1005 are buffered: since = 5 still resumes exactly.
    live.subscribe(&map.id, Some(5)).await.unwrap();
    assert_consecutive(&recv_events(&mut live, &map.id, 1000).await, 6);
    live.unsubscribe(&map.id).await.unwrap();

    for since in [4, 2000] {
        live.subscribe(&map.id, Some(since)).await.unwrap();
        match recv(&mut live).await {
            ServerMessage::Snapshot { map: m, seq: 1005, locations, reset: Some(true) } => {
                assert_eq!(m, map.id);
                assert_eq!((locations[0].player.as_str(), locations[0].fix.ts), (h.id.as_str(), 1005));
            }
            other => panic!("since {since}: expected a reset snapshot, got {other:?}"),
        }
        live.unsubscribe(&map.id).await.unwrap();
    }
    app.stop().await;
}

#[tokio::test]
async fn an_unsubscribed_map_sends_nothing_more() {
    let app = TestApp::spawn().await;
    let (harry, _) = app.player("Harry").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    let mut live = harry.connect().await.unwrap();
    subscribe(&mut live, &map.id).await;
    live.unsubscribe(&map.id).await.unwrap();
    // Frames are handled in order: once this error is back, the unsubscribe is done.
    live.send_raw(Message::text("[]")).await.unwrap();
    assert!(matches!(recv(&mut live).await, ServerMessage::Error { code: ErrorCode::BadRequest, .. }));
    harry.post_location(&loc_at(0.0, 0.0, 1)).await.unwrap();
    // Queued frames are written before the next client frame is read, so a leaked event
    // would arrive before this snapshot.
    live.subscribe(&map.id, None).await.unwrap();
    match recv(&mut live).await {
        ServerMessage::Snapshot { seq: 1, .. } => {}
        other => panic!("expected the snapshot at seq 1, got {other:?}"),
    }
    app.stop().await;
}

/// Subscribing, with or without `since`, and unsubscribing again and again while a map's
/// events flow: each start (snapshot or replay) is followed by every later event once and in
/// order, whether the hub queued it for the session (while the session wrote the start) or
/// wrote it to the socket itself, and nothing of the map comes after an unsubscribe is done.
/// End to end; the interleavings themselves are forced in the outbox's unit tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubscribing_while_events_flow_gets_each_later_event_once_in_order() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    const ROUNDS: usize = 24;
    const PER_ROUND: usize = 25;
    let app = TestApp::spawn().await;
    let (watcher, _) = app.player("Watcher").await;
    let map = watcher.create_map("Busy", None).await.unwrap();
    let (pusher, _) = app.player("Pusher").await;
    pusher.join(&map.id, None).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let pushing = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut ts = 0;
            while !stop.load(Ordering::Relaxed) {
                ts += 1;
                pusher.post_location(&loc_at(1.0, 1.0, ts)).await.unwrap();
            }
        }
    });
    let mut live = watcher.connect().await.unwrap();
    let mut last_seen = None;
    for round in 0..ROUNDS {
        let since = last_seen.filter(|_| round % 2 == 1);
        live.subscribe(&map.id, since).await.unwrap();
        let mut next = match since {
            Some(seen) => seen + 1,
            None => match recv(&mut live).await {
                ServerMessage::Snapshot { map: m, seq, reset: None, .. } if m == map.id => seq + 1,
                other => panic!("round {round}: expected the snapshot, got {other:?}"),
            },
        };
        let mut got = 0;
        while got < PER_ROUND {
            match recv(&mut live).await {
                ServerMessage::Events { map: m, events } if m == map.id => {
                    for event in events {
                        assert_eq!(event.seq, next, "round {round}: the event after {}", next - 1);
                        next += 1;
                        got += 1;
                    }
                }
                other => panic!("round {round}: expected events, got {other:?}"),
            }
        }
        live.unsubscribe(&map.id).await.unwrap();
        // Frames are handled in order: once this error is back, the unsubscribe is done;
        // frames of the map written before it still come first, and still in order.
        live.send_raw(Message::text("[]")).await.unwrap();
        loop {
            match recv(&mut live).await {
                ServerMessage::Events { map: m, events } if m == map.id => {
                    for event in events {
                        assert_eq!(event.seq, next, "round {round}, unsubscribing");
                        next += 1;
                    }
                }
                ServerMessage::Error { code: ErrorCode::BadRequest, .. } => break,
                other => panic!("round {round}: expected the error, got {other:?}"),
            }
        }
        last_seen = Some(next - 1);
    }
    stop.store(true, Ordering::Relaxed);
    pushing.await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn one_connection_follows_many_maps() {
    let app = TestApp::spawn().await;
    let (harry, _) = app.player("Harry").await;
    let maps = [harry.create_map("A", None).await.unwrap(), harry.create_map("B", None).await.unwrap()];
    let mut live = harry.connect().await.unwrap();
    for map in &maps {
        subscribe(&mut live, &map.id).await;
    }
    harry.post_location(&loc(1.0, 1.0)).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        match recv(&mut live).await {
            ServerMessage::Events { map, events } => {
                got.extend(events.into_iter().map(|e| (map.clone(), e.seq)))
            }
            other => panic!("{other:?}"),
        }
    }
    got.sort();
    let mut expected = vec![(maps[0].id.clone(), 1), (maps[1].id.clone(), 1)];
    expected.sort();
    assert_eq!(got, expected);
    app.stop().await;
}

#[tokio::test]
async fn a_connection_follows_a_bounded_number_of_maps() {
    let app = TestApp::spawn().await;
    let (harry, _) = app.player("Harry").await;
    let mut maps = Vec::new();
    for n in 0..=MAX_SUBSCRIPTIONS {
        maps.push(harry.create_map(&format!("Room {n}"), None).await.unwrap().id);
    }
    let mut live = harry.connect().await.unwrap();
    for map in &maps[..MAX_SUBSCRIPTIONS] {
        subscribe(&mut live, map).await;
    }
    let extra = &maps[MAX_SUBSCRIPTIONS];
    live.subscribe(extra, None).await.unwrap();
    match recv(&mut live).await {
        ServerMessage::Error { code, map, message } => {
            assert_eq!((code, map.as_deref()), (ErrorCode::BadRequest, Some(extra.as_str())));
            assert!(message.contains(&format!("at most {MAX_SUBSCRIPTIONS} maps")), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Subscribing again to a followed map replaces it; after an unsubscribe there is room.
    subscribe(&mut live, &maps[0]).await;
    live.unsubscribe(&maps[1]).await.unwrap();
    subscribe(&mut live, extra).await;
    // The extra map now delivers, the one left does not.
    harry.post_location(&loc(1.0, 1.0)).await.unwrap();
    let mut informed = std::collections::HashSet::new();
    while informed.len() < MAX_SUBSCRIPTIONS {
        match recv(&mut live).await {
            ServerMessage::Events { map, .. } => assert!(informed.insert(map)),
            other => panic!("{other:?}"),
        }
    }
    assert!(informed.contains(extra) && !informed.contains(&maps[1]));
    app.stop().await;
}

#[tokio::test]
async fn a_subscriber_too_slow_to_read_is_unsubscribed_and_can_resume() {
    let app = TestApp::spawn_with(|c| c.outbox_bytes = 16 * 1024).await;
    // A long name and long coordinates make every event over 150 bytes.
    let (harry, _) = app.player("Harry James Potter, the Boy Who Lived, Seeker of Gryffindor").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    // A fixed small receive buffer: the kernel no longer autotunes it to tens of megabytes.
    let mut slow = harry.connect_with_receive_buffer(SLOW_RECEIVE_BUFFER).await.unwrap();
    subscribe(&mut slow, &map.id).await;
    // The slow client reads nothing while more is published for it than the kernel's socket
    // buffers (the server's send buffer at its largest, the client's receive buffer, which
    // Linux doubles) and the server's bounded queues can hold.
    let buffers = socket_buffer_max("tcp_wmem") + 2 * SLOW_RECEIVE_BUFFER as usize + 2 * 1024 * 1024;
    let sent = (buffers / 150 + 10_000) as u64;
    // Several pushers, so that a network backend's round trips overlap.
    let mut pushers = Vec::new();
    for _ in 0..PUSHERS {
        pushers.push(harry.connect().await.unwrap());
    }
    let pushing = pushers.into_iter().enumerate().map(|(k, mut pusher)| async move {
        for n in (1..=sent).filter(|n| n % PUSHERS == k as u64) {
            pusher.push_location(&loc_at(51.123456789012, -0.123456789012, n as i64)).await.unwrap();
        }
        pusher.send_raw(Message::text("{}")).await.unwrap();
        // Its locations are handled in order first: over a network backend that takes a while.
        let handled = recv_within(&mut pusher, Duration::from_secs(600)).await;
        assert!(matches!(handled, ServerMessage::Error { .. }));
    });
    futures_util::future::join_all(pushing).await;

    let mut delivered = 0;
    loop {
        match recv(&mut slow).await {
            ServerMessage::Events { events, .. } => {
                assert_consecutive(&events, delivered + 1);
                delivered += events.len() as u64;
            }
            ServerMessage::Unsubscribed { map: m, reason: UnsubscribeReason::Slow } => {
                assert_eq!(m, map.id);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(delivered < sent, "the subscription was cut before the end ({delivered} of {sent})");
    // It resumes from what it saw: the rest, or a reset if that is no longer buffered.
    slow.subscribe(&map.id, Some(delivered)).await.unwrap();
    match recv(&mut slow).await {
        ServerMessage::Snapshot { seq, reset: Some(true), .. } => assert_eq!(seq, sent),
        ServerMessage::Events { events, .. } => assert_consecutive(&events, delivered + 1),
        other => panic!("{other:?}"),
    }
    app.stop().await;
}

#[tokio::test]
async fn a_player_has_at_most_the_configured_number_of_connections() {
    let app = TestApp::spawn_with(|c| c.max_ws_per_player = 2).await;
    let (harry, _) = app.player("Harry").await;
    let (ron, _) = app.player("Ron").await;
    let _first = harry.connect().await.unwrap();
    let _second = harry.connect().await.unwrap();
    let err = harry.connect().await.err().expect("a third connection is refused");
    assert_eq!((err.status(), err.code()), (Some(429), Some(ErrorCode::RateLimited)));
    let upgrade = harry
        .raw_with_headers(
            "GET",
            "/api/v1/ws",
            &[
                ("connection", "upgrade"),
                ("upgrade", "websocket"),
                ("sec-websocket-version", "13"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ],
        )
        .await
        .unwrap();
    assert_eq!(upgrade.status, 429);
    assert_eq!(upgrade.headers.get("retry-after").map(|v| v.to_str().unwrap()), Some("5"));
    assert_eq!(upgrade.error_code().as_deref(), Some("rate_limited"));
    // The cap is per player.
    let _other = ron.connect().await.unwrap();
    app.stop().await;
}

/// The largest size the kernel lets a TCP socket buffer of this kind grow to.
/// The slow reader's socket receive buffer, in bytes.
const SLOW_RECEIVE_BUFFER: u32 = 4096;
const PUSHERS: u64 = 4;

fn socket_buffer_max(kind: &str) -> usize {
    let limits = std::fs::read_to_string(format!("/proc/sys/net/ipv4/{kind}")).unwrap_or_default();
    limits.split_whitespace().last().and_then(|max| max.parse().ok()).unwrap_or(8 * 1024 * 1024)
}

/// A run of `location` frames sent back to back (which the server stores and publishes
/// together) keeps each frame's own answer: every valid one is published once and in order,
/// an invalid one in the middle gets its `error` frame in its place, and a frame of another
/// kind after them is answered after them.
#[tokio::test]
async fn location_frames_sent_back_to_back_are_each_published_once_in_order() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    let mut watcher = harry.connect().await.unwrap();
    let seq = subscribe(&mut watcher, &map.id).await;
    let mut pusher = harry.connect().await.unwrap();
    for i in 0..150 {
        let lat = if i == 70 { 100.0 } else { i as f64 / 10.0 };
        pusher.push_location(&loc_at(lat, 0.0, 10_000 + i)).await.unwrap();
    }
    pusher.subscribe(&map.id, None).await.unwrap();

    let ServerMessage::Error { code: ErrorCode::BadRequest, .. } = recv(&mut pusher).await else {
        panic!("the invalid frame's error first")
    };
    match recv(&mut pusher).await {
        ServerMessage::Snapshot { seq: at, .. } => assert_eq!(at, seq + 149, "after every location"),
        other => panic!("then the snapshot, got {other:?}"),
    }
    let events = recv_events(&mut watcher, &map.id, 149).await;
    assert_consecutive(&events, seq + 1);
    let sent: Vec<i64> = (0..150).filter(|i| *i != 70).map(|i| 10_000 + i).collect();
    let published: Vec<i64> = events
        .iter()
        .map(|e| match &e.body {
            EventBody::Location(l) => l.fix.ts,
            other => panic!("a location, got {other:?}"),
        })
        .collect();
    assert_eq!(published, sent);
    let trail = harry.trail(&map.id, &h.id, None, None).await.unwrap().points;
    assert_eq!(trail.iter().map(|p| p.ts).collect::<Vec<_>>(), sent);
    app.stop().await;
}
