//! Renaming oneself (the contract's `PATCH /players/me`): a `renamed` event on every map of
//! the player, and the new name in every later snapshot, member list and event; a bad name
//! changes nothing.

use marauder_client::protocol::{EventBody, ServerMessage};

use crate::helpers::*;

#[tokio::test]
async fn a_new_name_reaches_every_map_of_the_player_and_every_later_read() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let (ron, _) = app.player("Ron").await;
    let hogwarts = harry.create_map("Hogwarts", None).await.unwrap();
    let burrow = ron.create_map("The Burrow", None).await.unwrap();
    ron.join(&hogwarts.id, None).await.unwrap();
    harry.join(&burrow.id, None).await.unwrap();
    harry.post_location(&loc_at(51.5, -0.1, 1_000)).await.unwrap();
    let (mut on_hogwarts, mut on_burrow) = (ron.connect().await.unwrap(), ron.connect().await.unwrap());
    let seqs = [subscribe(&mut on_hogwarts, &hogwarts.id).await, subscribe(&mut on_burrow, &burrow.id).await];
    // A socket opened under the old name, to send from after the rename.
    let mut harry_live = harry.connect().await.unwrap();

    let me = harry.rename("  Harry Potter ").await.unwrap();
    assert_eq!((me.id.as_str(), me.name.as_str(), me.maps.len()), (h.id.as_str(), "Harry Potter", 2));
    let renamed = EventBody::Renamed { player: h.id.clone(), name: "Harry Potter".into() };
    for (live, map, seq) in [(&mut on_hogwarts, &hogwarts.id, seqs[0]), (&mut on_burrow, &burrow.id, seqs[1])]
    {
        let events = recv_events(live, map, 1).await;
        assert_eq!((events[0].seq, &events[0].body), (seq + 1, &renamed), "{map}");
    }

    assert_eq!(app.anon.player(&h.id).await.unwrap().name, "Harry Potter");
    assert_eq!(harry.me().await.unwrap().name, "Harry Potter");
    for map in [&hogwarts.id, &burrow.id] {
        let names: Vec<_> = ron.map(map).await.unwrap().members.into_iter().map(|m| m.name).collect();
        assert!(
            names.contains(&"Harry Potter".to_owned()) && !names.contains(&"Harry".to_owned()),
            "{names:?}"
        );
        let snapshot = ron.locations(map).await.unwrap();
        assert_eq!(snapshot.locations[0].name, "Harry Potter", "{map}");
        let mut fresh = ron.connect().await.unwrap();
        fresh.subscribe(map, None).await.unwrap();
        match recv(&mut fresh).await {
            ServerMessage::Snapshot { locations, .. } => assert_eq!(locations[0].name, "Harry Potter"),
            other => panic!("expected a snapshot, got {other:?}"),
        }
    }
    // Later events carry it too, sent over the old socket or posted.
    harry_live.push_location(&loc_at(51.6, -0.1, 2_000)).await.unwrap();
    harry.post_location(&loc_at(51.7, -0.1, 3_000)).await.unwrap();
    for (live, map, seq) in [(&mut on_hogwarts, &hogwarts.id, seqs[0]), (&mut on_burrow, &burrow.id, seqs[1])]
    {
        let events = recv_events(live, map, 2).await;
        assert_consecutive(&events, seq + 2);
        for event in &events {
            let EventBody::Location(l) = &event.body else { panic!("a location, got {event:?}") };
            assert_eq!(l.name, "Harry Potter", "{map}: the point of {}", l.fix.ts);
        }
    }
    harry.leave(&burrow.id).await.unwrap();
    let events = recv_events(&mut on_burrow, &burrow.id, 1).await;
    let left = EventBody::Left { player: h.id.clone(), name: "Harry Potter".into(), removed: None };
    assert_eq!((events[0].seq, &events[0].body), (seqs[1] + 4, &left));
    let code = harry.create_link_code().await.unwrap();
    assert_eq!(app.anon.redeem_link_code(&code.code).await.unwrap().name, "Harry Potter");
    app.stop().await;
}

#[tokio::test]
async fn a_bad_name_is_400_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    let mut live = harry.connect().await.unwrap();
    let seq = subscribe(&mut live, &map.id).await;
    let long = format!(r#"{{"name":"{}"}}"#, "é".repeat(65));
    let bodies = [
        r#"{"name":""}"#,
        r#"{"name":"   "}"#,
        long.as_str(),
        r#"{"name":"Har\u0007ry"}"#,
        r#"{"name":5}"#,
        "{}",
        r#"{"name":"Harry","extra":1}"#,
    ];
    for body in bodies {
        let answer = harry.raw("PATCH", "/api/v1/players/me", Some(("application/json", body.into()))).await;
        let answer = answer.unwrap();
        assert_eq!((answer.status, answer.error_code().as_deref()), (400, Some("bad_request")), "{body}");
    }
    assert_eq!(harry.me().await.unwrap().name, "Harry");
    assert_eq!(app.anon.player(&h.id).await.unwrap().name, "Harry");
    assert_eq!(harry.locations(&map.id).await.unwrap().seq, seq, "a refused rename published nothing");
    // 64 characters are a name: the refusals above were the rules', not the route's.
    let longest = "é".repeat(64);
    assert_eq!(harry.rename(&longest).await.unwrap().name, longest);
    let events = recv_events(&mut live, &map.id, 1).await;
    assert_eq!(events[0].seq, seq + 1);
    app.stop().await;
}
