//! Places over HTTP and the WebSocket (contract "Places: arrivals and departures"): who may
//! draw, read and remove them, what is refused and with which error, and the `arrived` /
//! `departed` events members see right after the location that crossed, on every backend.

use marauder_client::protocol::{CreatePlace, Crossing, ErrorCode, EventBody, LocationInput};

use crate::helpers::*;

/// Hogsmeade: 200 m around this centre.
const CENTRE: (f64, f64) = (56.0, -3.0);
const METRES_PER_DEGREE: f64 = 111_195.08;

fn hogsmeade() -> CreatePlace {
    CreatePlace { name: "  Hogsmeade ".into(), lat: CENTRE.0, lon: CENTRE.1, radius: 200.0 }
}

/// A location `metres` north of the centre at `ts`.
fn north(metres: f64, ts: i64) -> LocationInput {
    loc_at(CENTRE.0 + metres / METRES_PER_DEGREE, CENTRE.1, ts)
}

fn refusal<T: std::fmt::Debug>(result: marauder_client::Result<T>) -> (Option<u16>, Option<ErrorCode>) {
    let err = result.expect_err("a refusal");
    (err.status(), err.code())
}

#[tokio::test]
async fn members_draw_read_and_remove_places_and_see_each_change_as_an_event() {
    let app = TestApp::spawn().await;
    let (harry, _) = app.player("Harry").await;
    let (ron, r) = app.player("Ron").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    ron.join(&map.id, None).await.unwrap();
    let mut live = harry.connect().await.unwrap();
    let seq = subscribe(&mut live, &map.id).await;

    let place = ron.create_place(&map.id, &hogsmeade()).await.unwrap();
    assert_eq!(
        (place.name.as_str(), place.lat, place.lon, place.radius, place.created_by.as_str()),
        ("Hogsmeade", CENTRE.0, CENTRE.1, 200.0, r.id.as_str())
    );
    assert!(place.created_at > 0 && !place.id.is_empty());
    let events = recv_events(&mut live, &map.id, 1).await;
    assert_eq!((events[0].seq, &events[0].body), (seq + 1, &EventBody::PlaceAdded { place: place.clone() }));
    let shack = CreatePlace { name: "Shack".into(), radius: 10.0, ..hogsmeade() };
    let second = harry.create_place(&map.id, &shack).await.unwrap();
    assert_eq!(
        ron.places(&map.id).await.unwrap().places,
        vec![place.clone(), second.clone()],
        "oldest first"
    );
    let detail = harry.place(&map.id, &place.id).await.unwrap();
    assert_eq!((detail.place, detail.inside), (place.clone(), vec![]));

    // Another member may not remove Ron's place; the owner may remove anyone's.
    let (neville, _) = app.player("Neville").await;
    neville.join(&map.id, None).await.unwrap();
    assert_eq!(
        refusal(neville.delete_place(&map.id, &place.id).await),
        (Some(403), Some(ErrorCode::Forbidden))
    );
    assert_eq!(refusal(ron.delete_place(&map.id, &second.id).await), (Some(403), Some(ErrorCode::Forbidden)));
    harry.delete_place(&map.id, &place.id).await.unwrap();
    harry.delete_place(&map.id, &second.id).await.unwrap();
    assert_eq!(
        refusal(harry.delete_place(&map.id, &second.id).await),
        (Some(404), Some(ErrorCode::NotFound))
    );
    assert_eq!(refusal(harry.place(&map.id, &second.id).await), (Some(404), Some(ErrorCode::NotFound)));
    assert_eq!(ron.places(&map.id).await.unwrap().places, vec![]);
    let kinds: Vec<(u64, &str)> =
        recv_events(&mut live, &map.id, 4).await.iter().map(|e| (e.seq, e.body.kind())).collect();
    assert_eq!(
        kinds,
        [
            (seq + 2, "place_added"),
            (seq + 3, "joined"),
            (seq + 4, "place_removed"),
            (seq + 5, "place_removed")
        ]
    );
}

#[tokio::test]
async fn bad_places_are_refused_with_the_field_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (harry, _) = app.player("Harry").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    let bad = [
        (CreatePlace { name: "   ".into(), ..hogsmeade() }, "name"),
        (CreatePlace { name: "x".repeat(65), ..hogsmeade() }, "name"),
        (CreatePlace { lat: 90.5, ..hogsmeade() }, "lat"),
        (CreatePlace { lon: -181.0, ..hogsmeade() }, "lon"),
        (CreatePlace { radius: 9.9, ..hogsmeade() }, "radius"),
        (CreatePlace { radius: 50_000.5, ..hogsmeade() }, "radius"),
    ];
    for (place, field) in bad {
        let err = harry.create_place(&map.id, &place).await.expect_err("refused");
        assert_eq!((err.status(), err.code()), (Some(400), Some(ErrorCode::BadRequest)), "{field}");
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
    for body in [
        r#"{"name":"A","lat":1,"lon":1}"#,
        r#"{"name":"A","lat":1,"lon":1,"radius":"big"}"#,
        r#"{"name":"A","lat":1,"lon":1,"radius":20,"colour":"red"}"#,
    ] {
        let path = format!("/api/v1/maps/{}/places", map.id);
        let answer =
            harry.raw("POST", &path, Some(("application/json", body.as_bytes().to_vec()))).await.unwrap();
        assert_eq!(answer.status, 400, "{body}");
    }
    assert_eq!(harry.places(&map.id).await.unwrap().places, vec![]);
    assert_eq!(harry.locations(&map.id).await.unwrap().seq, 0, "nothing published");
}

#[tokio::test]
async fn only_members_reach_places_and_a_map_holds_at_most_100() {
    let app = TestApp::spawn().await;
    let (harry, _) = app.player("Harry").await;
    let (draco, _) = app.player("Draco").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    let place = harry.create_place(&map.id, &hogsmeade()).await.unwrap();
    let forbidden = (Some(403), Some(ErrorCode::Forbidden));
    assert_eq!(refusal(draco.create_place(&map.id, &hogsmeade()).await), forbidden);
    assert_eq!(refusal(draco.places(&map.id).await), forbidden);
    assert_eq!(refusal(draco.place(&map.id, &place.id).await), forbidden);
    assert_eq!(refusal(draco.delete_place(&map.id, &place.id).await), forbidden);
    let missing = (Some(404), Some(ErrorCode::NotFound));
    assert_eq!(refusal(harry.places("no-such-map").await), missing);
    assert_eq!(refusal(harry.create_place("no-such-map", &hogsmeade()).await), missing);
    assert_eq!(refusal(harry.place(&map.id, "no-such-place").await), missing);
    let anonymous = app.anon.places(&map.id).await.expect_err("no token");
    assert_eq!(anonymous.status(), Some(401));

    for i in 1..100 {
        let name = format!("Place {i}");
        harry.create_place(&map.id, &CreatePlace { name, ..hogsmeade() }).await.unwrap();
    }
    let full = harry.create_place(&map.id, &hogsmeade()).await.expect_err("the 101st");
    assert_eq!((full.status(), full.code()), (Some(400), Some(ErrorCode::BadRequest)));
    assert!(full.to_string().contains("100 places"), "{full}");
    assert_eq!(harry.places(&map.id).await.unwrap().places.len(), 100);
    assert_eq!(harry.locations(&map.id).await.unwrap().seq, 100, "the 101st published nothing");
}

#[tokio::test]
async fn members_see_an_arrival_and_a_departure_right_after_the_location_that_crossed() {
    let app = TestApp::spawn().await;
    let (harry, _) = app.player("Harry").await;
    let (ron, r) = app.player("Ron").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    ron.join(&map.id, None).await.unwrap();
    let place = harry.create_place(&map.id, &hogsmeade()).await.unwrap();
    let mut live = harry.connect().await.unwrap();
    let seq = subscribe(&mut live, &map.id).await;

    ron.post_location(&north(1_000.0, 1_000)).await.unwrap(); // sets outside, no event
    ron.post_location(&north(210.0, 2_000)).await.unwrap(); // the band
    ron.post_location(&north(50.0, 3_000)).await.unwrap(); // arrived
    assert_eq!(harry.place(&map.id, &place.id).await.unwrap().inside, vec![r.id.clone()]);
    ron.post_location(&north(5_000.0, 2_500)).await.unwrap(); // late: nothing
    let mut vague = north(5_000.0, 4_000);
    vague.accuracy = Some(250.0);
    ron.post_location(&vague).await.unwrap(); // less accurate than the radius: nothing
    assert_eq!(harry.place(&map.id, &place.id).await.unwrap().inside, vec![r.id.clone()]);
    ron.post_location(&north(221.0, 5_000)).await.unwrap(); // departed
    assert_eq!(harry.place(&map.id, &place.id).await.unwrap().inside, Vec::<String>::new());

    let events = recv_events(&mut live, &map.id, 8).await;
    assert_consecutive(&events, seq + 1);
    let kinds: Vec<&str> = events.iter().map(|e| e.body.kind()).collect();
    assert_eq!(
        kinds,
        ["location", "location", "location", "arrived", "location", "location", "location", "departed"]
    );
    let crossing = |ts| Crossing {
        player: r.id.clone(),
        name: "Ron".into(),
        place: place.id.clone(),
        place_name: "Hogsmeade".into(),
        ts,
    };
    assert_eq!(events[3].body, EventBody::Arrived(crossing(3_000)));
    assert_eq!(events[7].body, EventBody::Departed(crossing(5_000)));
}

#[tokio::test]
async fn a_members_state_for_a_place_survives_a_restart() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    let place = harry.create_place(&map.id, &hogsmeade()).await.unwrap();
    harry.post_location(&north(0.0, 1_000)).await.unwrap(); // inside, silently
    let app = app.restart().await;
    let harry = app.client(&h.token);
    assert_eq!(harry.place(&map.id, &place.id).await.unwrap().inside, vec![h.id.clone()]);
    let mut live = harry.connect().await.unwrap();
    let seq = subscribe(&mut live, &map.id).await;
    harry.post_location(&north(1_000.0, 2_000)).await.unwrap();
    let events = recv_events(&mut live, &map.id, 2).await;
    assert_consecutive(&events, seq + 1);
    assert_eq!((events[0].body.kind(), events[1].body.kind()), ("location", "departed"));
}
