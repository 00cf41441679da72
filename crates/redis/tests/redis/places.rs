//! Arrivals and departures across handlers on one Redis and on the cluster: two handlers
//! taking one player's points (one after the other, or racing) publish exactly the crossings
//! the rule gives for the order the map's seq put the points in, each once, as a third
//! handler hears them; a handler whose copy of the places is stale still decides from the
//! current ones; and the places' keys go with a member's leave and the map's deletion.

use marauder_conformance::Heard;
use marauder_core::places::{PlaceStates, crossings, fences};
use marauder_core::protocol::{EventBody, Fix, Place, PlayerLocation, Visibility};
use marauder_core::{Change, Feed, Listening, MapId, PlayerRecord, Store};
use marauder_redis::{Options, Redis};

use crate::servers::{Backend, Deployment, connect, urls};
use crate::{map, player};

crate::on_both!(
    alternating_handlers_announce_a_hundred_crossings_once_each,
    racing_handlers_never_announce_a_crossing_twice,
    a_handler_whose_copy_of_the_places_is_stale_announces_the_right_crossings,
    a_members_states_go_with_its_leave_and_a_maps_places_with_its_deletion,
);

/// The hall's centre, and a place 1 km north of it.
const HALL: (f64, f64) = (51.5, -0.1);
const RADIUS: f64 = 100.0;
const METRES_PER_DEGREE: f64 = 111_195.08;
const INSIDE: f64 = 10.0;
const OUTSIDE: f64 = 500.0;
const HOGSMEADE: f64 = 1_000.0;

/// Another handler on the backend's Redis and key prefix, and what its sink hears.
async fn handler(backend: &Backend, deployment: Deployment) -> (Redis, Heard) {
    let options = Options {
        urls: urls(deployment),
        cluster: deployment == Deployment::Cluster,
        prefix: backend.prefix.clone(),
        trail_retention: 100,
        recent_events: 1000,
    };
    let (sink, heard) = marauder_conformance::sink();
    (marauder_redis::connect(&options, sink).await.expect("connects"), heard)
}

fn place(id: &str, creator: &PlayerRecord, metres_north: f64, created_at: i64) -> Place {
    Place {
        id: id.into(),
        name: format!("{id} place"),
        lat: HALL.0 + metres_north / METRES_PER_DEGREE,
        lon: HALL.1,
        radius: RADIUS,
        created_by: creator.id.to_string(),
        created_at,
    }
}

fn north(player: &PlayerRecord, metres: f64, ts: i64) -> PlayerLocation {
    let lat = HALL.0 + metres / METRES_PER_DEGREE;
    let fix = Fix { lat, lon: HALL.1, accuracy: None, altitude: None, speed: None, heading: None, ts };
    PlayerLocation { player: player.id.to_string(), name: player.name.clone(), fix }
}

async fn add(redis: &Redis, map: &MapId, place: &Place) -> Option<u64> {
    let change = Change::PlaceAdded { place: place.clone(), max: 100 };
    redis.feed.publish_place(&*redis.store, map, change).await.unwrap()
}

async fn walk(redis: &Redis, map: &MapId, player: &PlayerRecord, metres: f64, ts: i64) -> Option<u64> {
    redis.feed.publish(map, Change::Location(north(player, metres, ts))).await.unwrap()
}

/// Checks that `heard` (every event of the map from seq 1) is gap-free and that its crossings
/// are exactly what the rule gives for its locations in seq order, from `places`, each right
/// after its location; answers the kinds of the crossings.
fn referee(heard: &[(u64, EventBody)], places: Vec<Place>) -> Vec<&'static str> {
    let seqs: Vec<u64> = heard.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=heard.len() as u64).collect::<Vec<_>>(), "gap-free from 1");
    let fences = fences(places);
    let (mut states, mut latest_ts) = (PlaceStates::default(), None);
    let mut expected = Vec::new();
    let mut published = Vec::new();
    for (_, body) in heard {
        match body {
            EventBody::Location(location) => {
                assert_eq!(published, expected, "the crossings right after their location");
                published.clear();
                expected = crossings(&fences, &mut states, &mut latest_ts, location);
            }
            EventBody::Arrived(_) | EventBody::Departed(_) => published.push(body.clone()),
            EventBody::PlaceAdded { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(published, expected);
    let kinds = heard.iter().map(|(_, b)| b.kind());
    kinds.filter(|k| *k == "arrived" || *k == "departed").collect()
}

fn alternating(count: usize) -> Vec<&'static str> {
    (0..count).map(|i| if i % 2 == 0 { "arrived" } else { "departed" }).collect()
}

/// A map of a new player with the hall on it (seq 1), and three handlers on it: the
/// backend's, a second, and a third that listens from before the hall.
struct Setup {
    backend: Backend,
    second: Redis,
    heard: Heard,
    harry: PlayerRecord,
    id: MapId,
    hall: Place,
    _third: (Redis, Listening),
}

async fn setup(deployment: Deployment) -> Setup {
    let backend = connect(deployment).await;
    let (harry, _) = player(&backend, "Harry", 1).await;
    let id = map(&backend, &harry.id, Visibility::Public).await.id;
    let (second, _) = handler(&backend, deployment).await;
    let (third, heard) = handler(&backend, deployment).await;
    let listening = third.feed.listen(&id).await.unwrap();
    let hall = place("hall", &harry, 0.0, 10);
    assert_eq!(add(&backend.redis, &id, &hall).await, Some(1));
    Setup { backend, second, heard, harry, id, hall, _third: (third, listening) }
}

async fn alternating_handlers_announce_a_hundred_crossings_once_each(deployment: Deployment) {
    const CROSSINGS: usize = 100;
    let Setup { mut backend, second, mut heard, harry, id, hall, _third } = setup(deployment).await;
    assert_eq!(walk(&second, &id, &harry, OUTSIDE, 1).await, Some(2), "the first position: no event");
    let handlers = [&backend.redis, &second];
    for i in 0..CROSSINGS {
        let metres = if i % 2 == 0 { INSIDE } else { OUTSIDE };
        let seq = walk(handlers[i % 2], &id, &harry, metres, 2 + i as i64).await;
        assert_eq!(seq, Some(4 + 2 * i as u64), "the location and its crossing");
    }
    let events = heard.events(&id, 2 + 2 * CROSSINGS).await;
    assert_eq!(referee(&events, vec![hall]), alternating(CROSSINGS));
    assert!(heard.unread_of(&id).is_empty(), "nothing more");
    let cmd = presence(&backend.prefix, &id, &harry);
    let states: Option<String> = backend.raw.query(&cmd).await;
    // `<writes>:<states>`: the first position, then one write per crossing.
    assert_eq!(states, Some(format!(r#"{}:{{"hall":"out"}}"#, 1 + CROSSINGS)));
}

async fn racing_handlers_never_announce_a_crossing_twice(deployment: Deployment) {
    const ROUNDS: i64 = 30;
    let Setup { backend, second, mut heard, harry, id, hall, _third } = setup(deployment).await;
    walk(&second, &id, &harry, OUTSIDE, 1).await.unwrap();
    let (a, b) = (backend.redis.feed.clone(), second.feed.clone());
    for round in 0..ROUNDS {
        // Each handler takes a run in and out again, both at once; whichever goes second has
        // its points late (or interleaved) by the map's latest, as the rule then says.
        let ts = 10 + 4 * round;
        let run = |first: i64| vec![north(&harry, INSIDE, first), north(&harry, OUTSIDE, first + 1)];
        let (x, y) = tokio::join!(a.publish_locations(&id, run(ts)), b.publish_locations(&id, run(ts + 2)));
        x.unwrap().unwrap();
        y.unwrap().unwrap();
    }
    let seq = backend.redis.feed.snapshot(&id).await.unwrap().seq;
    let events = heard.events(&id, seq as usize).await;
    let crossings = referee(&events, vec![hall]);
    let rounds = ROUNDS as usize;
    assert!((2 * rounds..=4 * rounds).contains(&crossings.len()), "{} crossings", crossings.len());
    assert_eq!(crossings, alternating(crossings.len()), "never two arrivals or departures in a row");
    assert_eq!(seq as usize, 2 + 4 * rounds + crossings.len(), "each point once, each crossing once");
}

async fn a_handler_whose_copy_of_the_places_is_stale_announces_the_right_crossings(deployment: Deployment) {
    let mut backend = connect(deployment).await;
    let (harry, _) = player(&backend, "Harry", 1).await;
    let id = map(&backend, &harry.id, Visibility::Public).await.id;
    let (second, mut heard) = handler(&backend, deployment).await;
    let _listening = second.feed.listen(&id).await.unwrap();
    // The second handler publishes while the map has no places: it keeps nothing of them.
    assert_eq!(walk(&second, &id, &harry, INSIDE, 1).await, Some(1));
    let hall = place("hall", &harry, 0.0, 10);
    assert_eq!(add(&backend.redis, &id, &hall).await, Some(2));
    assert_eq!(walk(&second, &id, &harry, OUTSIDE, 2).await, Some(3), "the first position since");
    assert_eq!(walk(&second, &id, &harry, INSIDE, 3).await, Some(5), "arrived");
    // The first handler swaps the hall for Hogsmeade, which the second has not seen.
    let remove = Change::PlaceRemoved { place: hall.id.clone() };
    assert_eq!(backend.redis.feed.publish_place(&*backend.redis.store, &id, remove).await.unwrap(), Some(6));
    let hogsmeade = place("hogsmeade", &harry, HOGSMEADE, 20);
    assert_eq!(add(&backend.redis, &id, &hogsmeade).await, Some(7));
    assert_eq!(walk(&second, &id, &harry, HOGSMEADE, 4).await, Some(8), "no departure from a removed place");
    assert_eq!(walk(&second, &id, &harry, OUTSIDE, 5).await, Some(10), "departed from Hogsmeade");
    let events = heard.events(&id, 10).await;
    let kinds: Vec<(u64, &str)> = events.iter().map(|(seq, body)| (*seq, body.kind())).collect();
    assert_eq!(
        kinds,
        [
            (1, "location"),
            (2, "place_added"),
            (3, "location"),
            (4, "location"),
            (5, "arrived"),
            (6, "place_removed"),
            (7, "place_added"),
            (8, "location"),
            (9, "location"),
            (10, "departed"),
        ]
    );
    let EventBody::Departed(departed) = &events[9].1 else { unreachable!() };
    assert_eq!((departed.place.as_str(), departed.ts), ("hogsmeade", 5));
    let cmd = presence(&backend.prefix, &id, &harry);
    let states: Option<String> = backend.raw.query(&cmd).await;
    let json = states.as_deref().and_then(|s| s.split_once(':')).map(|(_, json)| json);
    assert_eq!(json, Some(r#"{"hogsmeade":"out"}"#), "the removed place's state dropped");
}

async fn a_members_states_go_with_its_leave_and_a_maps_places_with_its_deletion(deployment: Deployment) {
    let backend = connect(deployment).await;
    let (harry, _) = player(&backend, "Harry", 1).await;
    let (ron, _) = player(&backend, "Ron", 2).await;
    let id = map(&backend, &harry.id, Visibility::Public).await.id;
    let Backend { redis, mut raw, prefix, .. } = backend;
    let redis = &redis;
    let joined = |latest| Change::Joined { player: ron.id.to_string(), name: ron.name.clone(), latest };
    redis.feed.publish_membership(&*redis.store, &id, joined(None)).await.unwrap().unwrap();
    let hall = place("hall", &harry, 0.0, 10);
    add(redis, &id, &hall).await.unwrap();
    for (player, ts) in [(&harry, 1), (&ron, 2)] {
        walk(redis, &id, player, INSIDE, ts).await.unwrap();
    }
    let both = {
        let mut both = vec![harry.id.to_string(), ron.id.to_string()];
        both.sort();
        both
    };
    assert_eq!(redis.feed.inside(&id, "hall").await.unwrap(), both);
    let left = Change::Left { player: ron.id.to_string(), name: ron.name.clone(), removed: false };
    redis.feed.publish_membership(&*redis.store, &id, left).await.unwrap().unwrap();
    assert_eq!(redis.feed.inside(&id, "hall").await.unwrap(), [harry.id.to_string()]);
    let ron_states: Option<String> = raw.query(&presence(&prefix, &id, &ron)).await;
    assert_eq!(ron_states.as_deref(), Some("2:"), "gone with the leave (its count of writes goes on)");

    assert!(redis.store.delete_map(&id).await.unwrap());
    let keys = ["places", "places_v", "presence"].map(|k| format!("{prefix}:m:{{{id}}}:{k}"));
    for key in &keys {
        let exists: u64 = raw.query(redis::cmd("EXISTS").arg(key)).await;
        assert_eq!(exists, 0, "{key} goes with the map's record");
    }
    assert!(redis.store.places(&id).await.unwrap().is_empty());
    assert!(redis.feed.publish(&id, Change::Deleted).await.unwrap().is_some());
    assert_eq!(add(redis, &id, &place("late", &harry, 0.0, 30)).await, None, "a deleted map takes no place");
    assert!(redis.store.places(&id).await.unwrap().is_empty());
}

/// Reads the player's place states on the map, as Redis holds them.
fn presence(prefix: &str, map: &MapId, player: &PlayerRecord) -> redis::Cmd {
    let mut cmd = redis::cmd("HGET");
    cmd.arg(format!("{prefix}:m:{{{map}}}:presence")).arg(player.id.as_str());
    cmd
}
