//! Arrivals and departures across handlers (issue #13): on Redis, two handlers of one
//! deployment take alternating `POST /api/v1/locations` of one player crossing a place back
//! and forth, and a member subscribed on each handler sees the same strictly alternating
//! `arrived` / `departed` sequence, each crossing once, right after the location that made
//! it. The embedded backend serves from one handler: there this test has nothing to check.

use marauder_client::protocol::{CreatePlace, Event, EventBody, LocationInput};

use crate::helpers::*;

/// The Great Hall: 100 m around this centre.
const CENTRE: (f64, f64) = (51.5, -0.1);
const METRES_PER_DEGREE: f64 = 111_195.08;
const INSIDE: f64 = 10.0;
const OUTSIDE: f64 = 500.0;
const CROSSINGS: usize = 60;

fn north(metres: f64, ts: i64) -> LocationInput {
    loc_at(CENTRE.0 + metres / METRES_PER_DEGREE, CENTRE.1, ts)
}

#[tokio::test]
async fn two_handlers_taking_alternating_points_announce_each_crossing_once_on_both() {
    let first = TestApp::spawn().await;
    let Some(second) = first.beside().await else {
        println!("skipped: the embedded backend serves from one handler, so no crossing spans two");
        first.stop().await;
        return;
    };
    let (harry, h) = first.player("Harry").await;
    let (ron, r) = first.player("Ron").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    ron.join(&map.id, None).await.unwrap();
    let hall = CreatePlace { name: "Great Hall".into(), lat: CENTRE.0, lon: CENTRE.1, radius: 100.0 };
    let place = ron.create_place(&map.id, &hall).await.unwrap();
    let mut watchers = [ron.connect().await.unwrap(), second.client(&r.token).connect().await.unwrap()];
    let mut seqs = Vec::new();
    for live in &mut watchers {
        seqs.push(subscribe(live, &map.id).await);
    }
    assert_eq!(seqs[0], seqs[1], "one map, one seq");

    let posters = [first.client(&h.token), second.client(&h.token)];
    assert_eq!(posters[1].post_location(&north(OUTSIDE, 1_000)).await.unwrap().maps, 1);
    for i in 0..CROSSINGS {
        let metres = if i % 2 == 0 { INSIDE } else { OUTSIDE };
        posters[i % 2].post_location(&north(metres, 1_001 + i as i64)).await.unwrap();
    }
    for live in &mut watchers {
        let events = recv_events(live, &map.id, 1 + 2 * CROSSINGS).await;
        assert_consecutive(&events, seqs[0] + 1);
        assert_eq!(crossings(&events, &h.id, &place.id), CROSSINGS, "every crossing, once");
    }
    second.stop().await;
    first.stop().await;
}

/// Checks that every crossing in `events` is `player`'s at `place`, right after the location
/// that made it (the same `ts`), arrivals and departures strictly alternating from an
/// arrival; answers how many there are.
fn crossings(events: &[Event], player: &str, place: &str) -> usize {
    let mut count = 0;
    let mut last_ts = None;
    for event in events {
        let (crossing, arrives) = match &event.body {
            EventBody::Location(location) => {
                last_ts = Some(location.fix.ts);
                continue;
            }
            EventBody::Arrived(crossing) => (crossing, true),
            EventBody::Departed(crossing) => (crossing, false),
            other => panic!("only locations and crossings, got {other:?}"),
        };
        assert_eq!(arrives, count % 2 == 0, "strictly alternating from an arrival, at seq {}", event.seq);
        assert_eq!((crossing.player.as_str(), crossing.place.as_str()), (player, place));
        assert_eq!(Some(crossing.ts), last_ts.take(), "right after its location, at seq {}", event.seq);
        count += 1;
    }
    count
}
