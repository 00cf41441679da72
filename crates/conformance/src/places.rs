//! Places (contract "Places: arrivals and departures"): a place is added and removed with its
//! event in one step, at most `max` a map; a location that changes a member's state is
//! followed at once, in the map's seq, by its `arrived` or `departed`; the first position
//! after a place appears or a member joins, a late point and a vague one change nothing; and,
//! across handlers, one member's points taken by two handlers announce each crossing once.

use marauder_core::protocol::{Crossing, EventBody, Fix, Place, PlayerLocation};
use marauder_core::{Change, Feed, MapId, PlayerRecord};

use crate::fixtures::{joined, left, membership, owned_map, player, publish, skipped};
use crate::{Backend, Handler};

/// The Great Hall: 100 m around this centre.
const HALL: (f64, f64) = (51.5, -0.1);
const RADIUS: f64 = 100.0;
/// Metres per degree of latitude on the rule's sphere (close enough for tens of metres).
const METRES_PER_DEGREE: f64 = 111_195.08;

fn hall(creator: &PlayerRecord, created_at: i64) -> Place {
    Place {
        id: format!("hall{created_at}"),
        name: "Great Hall".into(),
        lat: HALL.0,
        lon: HALL.1,
        radius: RADIUS,
        created_by: creator.id.to_string(),
        created_at,
    }
}

/// A location of `player` `metres` north of the hall's centre.
fn north(player: &PlayerRecord, metres: f64, ts: i64, accuracy: Option<f64>) -> PlayerLocation {
    let fix = Fix {
        lat: HALL.0 + metres / METRES_PER_DEGREE,
        lon: HALL.1,
        accuracy,
        altitude: None,
        speed: None,
        heading: None,
        ts,
    };
    PlayerLocation { player: player.id.to_string(), name: player.name.clone(), fix }
}

const INSIDE: f64 = 10.0;
/// In the band: more than the radius, at most 1.1 times it.
const BAND: f64 = 105.0;
const OUTSIDE: f64 = 500.0;

async fn walk(feed: &dyn Feed, map: &MapId, player: &PlayerRecord, metres: f64, ts: i64) -> Option<u64> {
    publish(feed, map, Change::Location(north(player, metres, ts, None))).await
}

async fn add(handler: &Handler, map: &MapId, place: &Place, max: usize) -> Option<u64> {
    let change = Change::PlaceAdded { place: place.clone(), max };
    handler.feed.publish_place(&*handler.store, map, change).await.expect("adds a place")
}

async fn remove(handler: &Handler, map: &MapId, place: &str) -> Option<u64> {
    let change = Change::PlaceRemoved { place: place.to_owned() };
    handler.feed.publish_place(&*handler.store, map, change).await.expect("removes a place")
}

fn crossing(player: &PlayerRecord, place: &Place, ts: i64) -> Crossing {
    Crossing {
        player: player.id.to_string(),
        name: player.name.clone(),
        place: place.id.clone(),
        place_name: place.name.clone(),
        ts,
    }
}

fn kinds(events: &[(u64, EventBody)]) -> Vec<(u64, &'static str)> {
    events.iter().map(|(seq, body)| (*seq, body.kind())).collect()
}

pub async fn a_place_is_added_and_removed_with_its_event_at_most_max_a_map(backend: &impl Backend) {
    let mut handler = backend.handler().await;
    let (owner, id, _listening) = owned_map(&handler).await;
    let first = hall(&owner, 10);
    assert_eq!(add(&handler, &id, &first, 2).await, Some(1));
    assert_eq!(add(&handler, &id, &hall(&owner, 11), 2).await, Some(2));
    assert_eq!(add(&handler, &id, &hall(&owner, 12), 2).await, None, "the map is full");
    let mut ids: Vec<String> = handler.store.places(&id).await.unwrap().into_iter().map(|p| p.id).collect();
    ids.sort();
    assert_eq!(ids, ["hall10", "hall11"]);
    assert_eq!(remove(&handler, &id, "hall11").await, Some(3));
    assert_eq!(remove(&handler, &id, "hall11").await, None, "not there any more");
    assert_eq!(handler.store.places(&id).await.unwrap(), vec![first.clone()]);
    assert_eq!(add(&handler, &id, &hall(&owner, 13), 2).await, Some(4), "room again");
    let heard = handler.heard.events(&id, 4).await;
    assert_eq!(heard[0], (1, EventBody::PlaceAdded { place: first }));
    assert_eq!(heard[2], (3, EventBody::PlaceRemoved { place: "hall11".into() }));
    assert_eq!(
        kinds(&heard),
        [(1, "place_added"), (2, "place_added"), (3, "place_removed"), (4, "place_added")]
    );
    assert_eq!(handler.feed.snapshot(&id).await.unwrap().seq, 4, "no seq taken by what was refused");

    let stranger = player(&*handler.store, "Draco").await;
    assert_eq!(add(&handler, &id, &hall(&stranger, 20), 100).await, None, "drawn by a non-member");
    assert_eq!(handler.store.places(&id).await.unwrap().len(), 2, "and not kept");
}

pub async fn a_crossing_follows_the_location_that_made_it(backend: &impl Backend) {
    let mut handler = backend.handler().await;
    let (owner, id, _listening) = owned_map(&handler).await;
    let ginny = player(&*handler.store, "Ginny").await;
    membership(&handler, &id, joined(&ginny, None)).await.unwrap();
    let place = hall(&owner, 10);
    add(&handler, &id, &place, 100).await.unwrap();
    let feed = &*handler.feed;
    assert_eq!(walk(feed, &id, &ginny, OUTSIDE, 100).await, Some(3), "the first position: no event");
    assert_eq!(walk(feed, &id, &ginny, BAND, 200).await, Some(4), "the band changes nothing");
    assert_eq!(walk(feed, &id, &ginny, INSIDE, 300).await, Some(6), "the location, then its arrival");
    assert_eq!(handler.feed.inside(&id, &place.id).await.unwrap(), [ginny.id.to_string()]);
    assert_eq!(walk(feed, &id, &ginny, BAND, 400).await, Some(7));
    assert_eq!(walk(feed, &id, &ginny, INSIDE, 500).await, Some(8), "still inside");
    assert_eq!(walk(feed, &id, &ginny, OUTSIDE, 600).await, Some(10), "the location, then the departure");
    assert_eq!(handler.feed.inside(&id, &place.id).await.unwrap(), Vec::<String>::new());
    let heard = handler.heard.events(&id, 10).await;
    assert_eq!(heard[5], (6, EventBody::Arrived(crossing(&ginny, &place, 300))));
    assert_eq!(heard[9], (10, EventBody::Departed(crossing(&ginny, &place, 600))));
    assert_eq!(
        kinds(&heard),
        [
            (1, "joined"),
            (2, "place_added"),
            (3, "location"),
            (4, "location"),
            (5, "location"),
            (6, "arrived"),
            (7, "location"),
            (8, "location"),
            (9, "location"),
            (10, "departed"),
        ]
    );
}

pub async fn a_first_position_after_a_join_or_a_new_place_and_late_or_vague_points_change_nothing(
    backend: &impl Backend,
) {
    let mut handler = backend.handler().await;
    let (owner, id, _listening) = owned_map(&handler).await;
    let feed = &*handler.feed;
    walk(feed, &id, &owner, INSIDE, 100).await.unwrap(); // 1: before there is a place
    let place = hall(&owner, 10);
    add(&handler, &id, &place, 100).await.unwrap(); // 2
    walk(feed, &id, &owner, INSIDE, 200).await.unwrap(); // 3: sets inside, silently
    walk(feed, &id, &owner, OUTSIDE, 150).await.unwrap(); // 4: late
    let vague = north(&owner, OUTSIDE, 300, Some(RADIUS + 1.0));
    publish(feed, &id, Change::Location(vague)).await.unwrap(); // 5: less accurate than the radius
    assert_eq!(handler.feed.inside(&id, &place.id).await.unwrap(), [owner.id.to_string()]);
    let sharp = north(&owner, OUTSIDE, 400, Some(RADIUS));
    publish(feed, &id, Change::Location(sharp)).await.unwrap(); // 6, 7: departed

    let ginny = player(&*handler.store, "Ginny").await;
    membership(&handler, &id, joined(&ginny, None)).await.unwrap(); // 8
    walk(feed, &id, &ginny, INSIDE, 500).await.unwrap(); // 9: her first position
    membership(&handler, &id, left(&ginny, false)).await.unwrap(); // 10
    membership(&handler, &id, joined(&ginny, None)).await.unwrap(); // 11
    walk(feed, &id, &ginny, OUTSIDE, 600).await.unwrap(); // 12: first again after joining
    walk(feed, &id, &ginny, INSIDE, 700).await.unwrap(); // 13, 14: arrived
    let heard = handler.heard.events(&id, 14).await;
    assert_eq!(heard[6], (7, EventBody::Departed(crossing(&owner, &place, 400))));
    assert_eq!(heard[13], (14, EventBody::Arrived(crossing(&ginny, &place, 700))));
    let crossings: Vec<_> =
        kinds(&heard).into_iter().filter(|(_, kind)| *kind == "arrived" || *kind == "departed").collect();
    assert_eq!(crossings, [(7, "departed"), (14, "arrived")]);
}

pub async fn a_run_of_locations_and_a_removed_place_cross_as_the_rule_says(backend: &impl Backend) {
    let mut handler = backend.handler().await;
    let (owner, id, _listening) = owned_map(&handler).await;
    let (hall_a, mut hall_b) = (hall(&owner, 10), hall(&owner, 11));
    hall_b.name = "Great Hall again".into();
    add(&handler, &id, &hall_a, 100).await.unwrap(); // 1
    add(&handler, &id, &hall_b, 100).await.unwrap(); // 2
    let run = [OUTSIDE, INSIDE, OUTSIDE].iter().enumerate();
    let run: Vec<_> = run.map(|(i, m)| north(&owner, *m, 100 * (i as i64 + 1), None)).collect();
    // 3: set; 4, 5, 6: in with two arrivals (in the places' order); 7, 8, 9: out.
    assert_eq!(handler.feed.publish_locations(&id, run).await.unwrap(), Some(9));
    assert_eq!(remove(&handler, &id, &hall_a.id).await, Some(10));
    walk(&*handler.feed, &id, &owner, INSIDE, 400).await.unwrap(); // 11, 12: arrived at b only
    let heard = handler.heard.events(&id, 12).await;
    assert_eq!(heard[4], (5, EventBody::Arrived(crossing(&owner, &hall_a, 200))));
    assert_eq!(heard[5], (6, EventBody::Arrived(crossing(&owner, &hall_b, 200))));
    assert_eq!(heard[11], (12, EventBody::Arrived(crossing(&owner, &hall_b, 400))));
    assert_eq!(
        kinds(&heard)[2..],
        [
            (3, "location"),
            (4, "location"),
            (5, "arrived"),
            (6, "arrived"),
            (7, "location"),
            (8, "departed"),
            (9, "departed"),
            (10, "place_removed"),
            (11, "location"),
            (12, "arrived"),
        ]
    );
    assert_eq!(handler.feed.inside(&id, &hall_b.id).await.unwrap(), [owner.id.to_string()]);
}

/// Crossings of one member whose points alternate between two handlers.
const CROSSINGS: usize = 40;

pub async fn alternating_handlers_announce_each_crossing_of_a_member_once(backend: &impl Backend) {
    let mut first = backend.handler().await;
    let Some(second) = backend.second_handler().await else {
        return skipped("alternating_handlers_announce_each_crossing_of_a_member_once");
    };
    let (owner, id, _listening) = owned_map(&first).await;
    let place = hall(&owner, 10);
    add(&first, &id, &place, 100).await.unwrap(); // 1
    walk(&*second.feed, &id, &owner, OUTSIDE, 1).await.unwrap(); // 2: sets outside
    let handlers = [&first, &second];
    for i in 0..CROSSINGS {
        let metres = if i % 2 == 0 { INSIDE } else { OUTSIDE };
        walk(&*handlers[i % 2].feed, &id, &owner, metres, 10 + i as i64).await.unwrap();
    }
    // And both at once: the same points, each taken by both handlers concurrently.
    let (a, b) = (first.feed.clone(), second.feed.clone());
    let racing = (0..CROSSINGS).map(|i| {
        let metres = if i % 2 == 0 { INSIDE } else { OUTSIDE };
        let location = north(&owner, metres, 1000 + i as i64, None);
        let (a, b, id) = (a.clone(), b.clone(), id.clone());
        async move {
            let (x, y) = tokio::join!(
                a.publish(&id, Change::Location(location.clone())),
                b.publish(&id, Change::Location(location))
            );
            x.unwrap().unwrap();
            y.unwrap().unwrap();
        }
    });
    for round in racing {
        round.await;
    }
    let seq = first.feed.snapshot(&id).await.unwrap().seq;
    let heard = first.heard.events(&id, seq as usize).await;
    assert_eq!(heard.iter().map(|(s, _)| *s).collect::<Vec<_>>(), (1..=seq).collect::<Vec<_>>());
    let crossings: Vec<&str> =
        heard.iter().map(|(_, b)| b.kind()).filter(|k| *k == "arrived" || *k == "departed").collect();
    let expected: Vec<&str> =
        (0..2 * CROSSINGS).map(|i| if i % 2 == 0 { "arrived" } else { "departed" }).collect();
    assert_eq!(crossings, expected, "each crossing once, strictly alternating");
    assert_eq!(seq as usize, 2 + CROSSINGS + 2 * CROSSINGS + 2 * CROSSINGS);
}
