//! Places on the phones (docs/phones.md): OwnTracks is handed the places of its player's maps
//! as regions (a `setWaypoints` command) when they changed, and its own `transition`
//! messages change nothing; and the client library's places calls against a server.

use marauder_client::Client;
use marauder_client::protocol::{CreatePlace, DeviceCreated, ErrorCode, EventBody, Place};
use serde_json::{Value, json};

use crate::helpers::*;

fn circle(name: &str, lat: f64, lon: f64, radius: f64) -> CreatePlace {
    CreatePlace { name: name.into(), lat, lon, radius }
}

/// What the server must hand: the regions oldest first, then by id (two places may be drawn
/// in the same millisecond) ("<map>: <place>", whole metres, the creation second, one second
/// past the previous where two share one).
fn set_waypoints(places: &[(&str, &Place)]) -> Value {
    let mut places = places.to_vec();
    places.sort_by(|(_, a), (_, b)| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let mut last = i64::MIN;
    let waypoints: Vec<Value> = places
        .iter()
        .map(|(map, place)| {
            let tst = (place.created_at / 1000).max(last + 1);
            last = tst;
            json!({"_type": "waypoint", "desc": format!("{map}: {}", place.name), "lat": place.lat,
                   "lon": place.lon, "rad": place.radius.round() as i64, "tst": tst})
        })
        .collect();
    json!([{"_type": "cmd", "action": "setWaypoints",
            "waypoints": {"_type": "waypoints", "waypoints": waypoints}}])
}

/// A `location` as OwnTracks posts it.
fn report(lat: f64, lon: f64) -> Value {
    json!({"_type": "location", "lat": lat, "lon": lon, "tid": "HP", "t": "u",
           "tst": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()})
}

async fn owntracks(client: &Client, device: &DeviceCreated, message: &Value) -> Value {
    let answer = client.owntracks_message(&device.id, &device.secret, message).await;
    Value::Array(answer.unwrap_or_else(|err| panic!("{message}: {err}")))
}

#[tokio::test]
async fn owntracks_is_handed_the_places_of_every_map_once_and_again_when_they_change() {
    let app = TestApp::spawn().await;
    let (harry, _) = app.player("Harry").await;
    let (ron, _) = app.player("Ron").await;
    let hogwarts = harry.create_map("Hogwarts", None).await.unwrap();
    let hogsmeade = ron.create_map("Hogsmeade", None).await.unwrap();
    harry.join(&hogsmeade.id, None).await.unwrap();
    let device = harry.create_device("Harry's phone").await.unwrap();

    let hall = harry.create_place(&hogwarts.id, &circle("Great Hall", 56.0, -3.0, 60.4)).await.unwrap();
    let pub_ =
        ron.create_place(&hogsmeade.id, &circle("Three Broomsticks", 56.01, -3.01, 120.0)).await.unwrap();
    // Ron shares Hogsmeade but has no position yet: no friend in the answer, only the regions.
    let first = owntracks(&app.anon, &device, &report(55.0, -3.0)).await;
    assert_eq!(first, set_waypoints(&[("Hogwarts", &hall), ("Hogsmeade", &pub_)]));

    let unchanged = owntracks(&app.anon, &device, &report(55.0001, -3.0)).await;
    assert_eq!(unchanged, json!([]), "the same places are not handed twice");

    // A new place on either map: the next post hands the whole list again, in order.
    let shop = harry.create_place(&hogwarts.id, &circle("Honeydukes", 56.02, -3.02, 10.0)).await.unwrap();
    let after_new = owntracks(&app.anon, &device, &report(55.0002, -3.0)).await;
    assert_eq!(after_new, set_waypoints(&[("Hogwarts", &hall), ("Hogsmeade", &pub_), ("Hogwarts", &shop)]));
    assert_eq!(owntracks(&app.anon, &device, &report(55.0003, -3.0)).await, json!([]));

    // A removed place changes the list too; a message of any type gets it.
    ron.delete_place(&hogsmeade.id, &pub_.id).await.unwrap();
    let lwt = owntracks(&app.anon, &device, &json!({"_type": "lwt", "tst": 1})).await;
    assert_eq!(lwt, set_waypoints(&[("Hogwarts", &hall), ("Hogwarts", &shop)]));

    // Another phone of the same player has its own memory: it gets the list on its first post.
    let tablet = harry.create_device("Harry's tablet").await.unwrap();
    let other = owntracks(&app.anon, &tablet, &report(55.0, -3.0)).await;
    assert_eq!(other, set_waypoints(&[("Hogwarts", &hall), ("Hogwarts", &shop)]));

    // Leaving a map takes its places off the list; a phone in no map with places gets nothing.
    harry.leave(&hogwarts.id).await.unwrap();
    assert_eq!(owntracks(&app.anon, &device, &report(55.0, -3.0)).await, json!([]));
    app.stop().await;
}

#[tokio::test]
async fn owntracks_transitions_and_regions_are_accepted_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    let place = harry.create_place(&map.id, &circle("Great Hall", 56.0, -3.0, 100.0)).await.unwrap();
    let device = harry.create_device("Harry's phone").await.unwrap();
    let mut live = harry.connect().await.unwrap();
    let seq = subscribe(&mut live, &map.id).await;

    // As OwnTracks posts them: entering the map's place, its own region list, a new region.
    let messages = [
        json!({"_type": "transition", "wtst": place.created_at / 1000, "lat": 56.0, "lon": -3.0,
               "tst": 1_764_115_200, "acc": 10, "tid": "HP", "event": "enter",
               "desc": "Hogwarts: Great Hall", "t": "c", "rid": "f7676c"}),
        json!({"_type": "transition", "wtst": 1, "lat": 1.0, "lon": 2.0, "tst": 1_764_115_260,
               "acc": 10, "event": "leave", "desc": "Home", "t": "c"}),
        json!({"_type": "waypoints", "waypoints": [
               {"_type": "waypoint", "desc": "Home", "lat": 1.0, "lon": 2.0, "rad": 50, "tst": 1}]}),
        json!({"_type": "waypoint", "desc": "Home", "lat": 1.0, "lon": 2.0, "rad": 50, "tst": 1}),
    ];
    for message in &messages {
        let answer = app.anon.owntracks_message(&device.id, &device.secret, message).await;
        assert!(answer.is_ok(), "{message}: {answer:?}");
    }
    // Nothing was published: the next event of the map is the next location, right after.
    harry.post_location(&loc(55.0, -3.0)).await.unwrap();
    let events = recv_events(&mut live, &map.id, 1).await;
    assert_eq!(events[0].seq, seq + 1);
    assert!(matches!(&events[0].body, EventBody::Location(l) if l.player == h.id), "{:?}", events[0]);
    assert!(harry.place(&map.id, &place.id).await.unwrap().inside.is_empty(), "not inside by a transition");
    assert_eq!(harry.trail(&map.id, &h.id, None, None).await.unwrap().points.len(), 1, "no point taken");
    app.stop().await;
}

#[tokio::test]
async fn the_client_library_draws_reads_and_removes_places() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let (stranger, _) = app.player("Stranger").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();

    let hall = harry.create_place(&map.id, &circle("Great Hall", 56.0, -3.0, 100.0)).await.unwrap();
    assert_eq!(
        (hall.name.as_str(), hall.lat, hall.lon, hall.radius, hall.created_by.as_str()),
        ("Great Hall", 56.0, -3.0, 100.0, h.id.as_str())
    );
    assert_eq!(harry.places(&map.id).await.unwrap().places, vec![hall.clone()]);
    harry.post_location(&loc(56.0, -3.0)).await.unwrap();
    let detail = harry.place(&map.id, &hall.id).await.unwrap();
    assert_eq!((detail.place, detail.inside), (hall.clone(), vec![h.id.clone()]), "the first position sets");

    let status = |err: marauder_client::Error| (err.status(), err.code());
    assert_eq!(status(stranger.places(&map.id).await.unwrap_err()), (Some(403), Some(ErrorCode::Forbidden)));
    assert_eq!(
        status(stranger.create_place(&map.id, &circle("Mine", 1.0, 1.0, 50.0)).await.unwrap_err()),
        (Some(403), Some(ErrorCode::Forbidden))
    );
    assert_eq!(
        status(harry.create_place(&map.id, &circle("Tiny", 1.0, 1.0, 9.0)).await.unwrap_err()),
        (Some(400), Some(ErrorCode::BadRequest))
    );
    assert_eq!(
        status(harry.place(&map.id, "nope").await.unwrap_err()),
        (Some(404), Some(ErrorCode::NotFound))
    );

    harry.delete_place(&map.id, &hall.id).await.unwrap();
    assert!(harry.places(&map.id).await.unwrap().places.is_empty());
    assert_eq!(
        status(harry.delete_place(&map.id, &hall.id).await.unwrap_err()),
        (Some(404), Some(ErrorCode::NotFound))
    );
    app.stop().await;
}
