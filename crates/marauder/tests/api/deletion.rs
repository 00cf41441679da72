//! A map's end and its hand-over (the contract's "Map administration"): a deleted map ends
//! every subscription and is a 404 on every route from then on, with no further events; an
//! owner who leaves, or deletes their player, hands the map to the earliest member; the last
//! member leaving deletes it.

use marauder_client::protocol::{ErrorCode, EventBody, ServerMessage, UnsubscribeReason, Visibility};
use marauder_client::{Client, Live};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;

const NOT_FOUND: (u16, Option<&str>) = (404, Some("not_found"));

/// Every route that names the map, as `client`, with a well-formed body where one is taken:
/// each must answer 404 `not_found`.
async fn assert_gone_everywhere(client: &Client, map: &str, player: &str, code: Option<&str>) {
    let json = |body: &str| Some(("application/json", body.as_bytes().to_vec()));
    let join = code.map_or_else(|| "{}".to_owned(), |code| format!(r#"{{"invite_code":"{code}"}}"#));
    let preview = code.map_or_else(String::new, |code| format!("?invite_code={code}"));
    let routes = [
        ("GET", format!("/api/v1/maps/{map}"), None),
        ("POST", format!("/api/v1/maps/{map}/join"), json(&join)),
        ("POST", format!("/api/v1/maps/{map}/leave"), None),
        ("GET", format!("/api/v1/maps/{map}/locations"), None),
        ("GET", format!("/api/v1/maps/{map}/trails/{player}"), None),
        ("PATCH", format!("/api/v1/maps/{map}"), json(r#"{"name":"Again"}"#)),
        ("POST", format!("/api/v1/maps/{map}/invite-code"), None),
        ("DELETE", format!("/api/v1/maps/{map}/members/{player}"), None),
        ("DELETE", format!("/api/v1/maps/{map}"), None),
        ("GET", format!("/api/v1/maps/{map}/preview{preview}"), None),
    ];
    for (method, path, body) in routes {
        let answer = client.raw(method, &path, body).await.unwrap();
        assert_eq!((answer.status, answer.error_code().as_deref()), NOT_FOUND, "{method} {path}");
    }
    let mut live = client.connect().await.unwrap();
    live.subscribe(map, None).await.unwrap();
    match recv(&mut live).await {
        ServerMessage::Error { code: ErrorCode::NotFound, map: Some(m), .. } => assert_eq!(m, map),
        other => panic!("subscribing to a deleted map: expected not_found, got {other:?}"),
    }
}

/// Asserts that nothing is queued for `live`: frames are handled in order and what is
/// queued is written before the next client frame is read, so an event sent before this
/// would arrive before the error this asks for.
async fn assert_nothing_more(live: &mut Live) {
    live.send_raw(Message::text("[]")).await.unwrap();
    match recv(live).await {
        ServerMessage::Error { code: ErrorCode::BadRequest, .. } => {}
        other => panic!("expected nothing more, got {other:?}"),
    }
}

#[tokio::test]
async fn a_deleted_map_ends_every_subscription_and_is_gone_everywhere() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let (ron, r) = app.player("Ron").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    let other = harry.create_map("Privet Drive", None).await.unwrap();
    ron.join(&map.id, None).await.unwrap();
    harry.post_location(&loc_at(51.5, -0.1, 1_000)).await.unwrap();
    let mut harry_live = harry.connect().await.unwrap();
    let mut ron_live = ron.connect().await.unwrap();
    let seq = subscribe(&mut harry_live, &map.id).await;
    let other_seq = subscribe(&mut harry_live, &other.id).await;
    assert_eq!(subscribe(&mut ron_live, &map.id).await, seq);

    harry.delete_map(&map.id).await.unwrap();
    for live in [&mut harry_live, &mut ron_live] {
        let events = recv_events(live, &map.id, 1).await;
        assert_eq!((events[0].seq, &events[0].body), (seq + 1, &EventBody::MapDeleted {}));
        let ended = ServerMessage::Unsubscribed { map: map.id.clone(), reason: UnsubscribeReason::Deleted };
        assert_eq!(recv(live).await, ended);
    }

    for (client, player) in [(&harry, &h.id), (&ron, &r.id)] {
        assert_gone_everywhere(client, &map.id, player, None).await;
    }
    let (draco, _) = app.player("Draco").await;
    assert_gone_everywhere(&draco, &map.id, &h.id, None).await;
    let listed: Vec<_> = app.anon.public_maps().await.unwrap().maps.into_iter().map(|m| m.id).collect();
    assert_eq!(listed, [other.id.as_str()]);
    let harrys: Vec<_> = harry.me().await.unwrap().maps.into_iter().map(|m| m.id).collect();
    assert_eq!(harrys, [other.id.as_str()]);
    assert!(ron.me().await.unwrap().maps.is_empty());

    // No further events: a location reaches the other map only.
    assert_eq!(harry.post_location(&loc_at(51.6, -0.1, 2_000)).await.unwrap().maps, 1);
    let events = recv_events(&mut harry_live, &other.id, 1).await;
    assert_eq!(events[0].seq, other_seq + 1);
    assert_nothing_more(&mut harry_live).await;
    assert_nothing_more(&mut ron_live).await;
    // The players' trails are theirs and stay.
    assert_eq!(harry.trail(&other.id, &h.id, None, None).await.unwrap().points.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn events_racing_a_deletion_end_with_map_deleted_and_nothing_follows() {
    let app = TestApp::spawn().await;
    let (harry, _) = app.player("Harry").await;
    let (ron, _) = app.player("Ron").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    ron.join(&map.id, None).await.unwrap();
    let mut live = harry.connect().await.unwrap();
    let seq = subscribe(&mut live, &map.id).await;
    let sender = tokio::spawn(async move {
        let mut informed = 0;
        for n in 1..=200 {
            informed += ron.post_location(&loc_at(51.5, -0.1, n)).await.unwrap().maps;
        }
        informed
    });
    // Some of Ron's points are in before the deletion, the rest race it.
    let mut events = match recv(&mut live).await {
        ServerMessage::Events { map: m, events } if m == map.id => events,
        other => panic!("expected Ron's first points, got {other:?}"),
    };
    harry.delete_map(&map.id).await.unwrap();
    while events.last().map(|e| &e.body) != Some(&EventBody::MapDeleted {}) {
        match recv(&mut live).await {
            ServerMessage::Events { map: m, events: batch } if m == map.id => events.extend(batch),
            other => panic!("expected events up to map_deleted, got {other:?}"),
        }
    }
    assert_consecutive(&events, seq + 1);
    let ended = ServerMessage::Unsubscribed { map: map.id.clone(), reason: UnsubscribeReason::Deleted };
    assert_eq!(recv(&mut live).await, ended);
    let informed = sender.await.unwrap();
    assert_eq!(informed as usize, events.len() - 1, "every point that informed the map came before its end");
    assert_nothing_more(&mut live).await;
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_private_maps_invite_code_opens_nothing() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let map = harry.create_map("Room of Requirement", Some(Visibility::Private)).await.unwrap();
    let code = map.invite_code.clone().unwrap();
    harry.delete_map(&map.id).await.unwrap();
    let (ron, _) = app.player("Ron").await;
    assert_gone_everywhere(&ron, &map.id, &h.id, Some(&code)).await;
    assert!(harry.me().await.unwrap().maps.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn the_owner_leaving_hands_the_map_to_the_earliest_member() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let (ron, r) = app.player("Ron").await;
    let (hermione, _) = app.player("Hermione").await;
    let map = harry.create_map("Hogwarts", Some(Visibility::Private)).await.unwrap();
    let code = map.invite_code.clone().unwrap();
    ron.join(&map.id, Some(&code)).await.unwrap();
    hermione.join(&map.id, Some(&code)).await.unwrap();
    let mut live = hermione.connect().await.unwrap();
    let seq = subscribe(&mut live, &map.id).await;

    harry.leave(&map.id).await.unwrap();
    let events = recv_events(&mut live, &map.id, 2).await;
    assert_consecutive(&events, seq + 1);
    assert_eq!(events[0].body, EventBody::Left { player: h.id.clone(), name: "Harry".into(), removed: None });
    let handed = EventBody::MapUpdated {
        name: "Hogwarts".into(),
        visibility: Visibility::Private,
        owner: r.id.clone(),
    };
    assert_eq!(events[1].body, handed);

    let detail = hermione.map(&map.id).await.unwrap();
    assert_eq!(detail.owner, r.id);
    assert_eq!(detail.members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["Ron", "Hermione"]);
    let forbidden = Some(ErrorCode::Forbidden);
    assert_eq!(hermione.update_map(&map.id, &Default::default()).await.unwrap_err().code(), forbidden);
    assert_eq!(harry.new_invite_code(&map.id).await.unwrap_err().code(), forbidden);
    assert_ne!(ron.new_invite_code(&map.id).await.unwrap().invite_code, code, "the new owner administers it");
    app.stop().await;
}

#[tokio::test]
async fn the_last_member_leaving_deletes_the_map() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let (ron, _) = app.player("Ron").await;
    let alone = harry.create_map("Cupboard under the stairs", None).await.unwrap();
    harry.leave(&alone.id).await.unwrap();
    assert_gone_everywhere(&harry, &alone.id, &h.id, None).await;

    let shared = harry.create_map("Hogwarts", None).await.unwrap();
    ron.join(&shared.id, None).await.unwrap();
    harry.leave(&shared.id).await.unwrap();
    assert_eq!(ron.map(&shared.id).await.unwrap().members.len(), 1, "one member left: the map stays");
    ron.leave(&shared.id).await.unwrap();
    assert_gone_everywhere(&ron, &shared.id, &h.id, None).await;
    assert!(app.anon.public_maps().await.unwrap().maps.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn an_owner_deleting_their_player_hands_their_maps_on_or_deletes_them() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let (ron, r) = app.player("Ron").await;
    let (hermione, _) = app.player("Hermione").await;
    let shared = harry.create_map("Hogwarts", None).await.unwrap();
    let alone = harry.create_map("Privet Drive", None).await.unwrap();
    ron.join(&shared.id, None).await.unwrap();
    hermione.join(&shared.id, None).await.unwrap();
    let mut live = hermione.connect().await.unwrap();
    let seq = subscribe(&mut live, &shared.id).await;

    harry.delete_me().await.unwrap();
    let events = recv_events(&mut live, &shared.id, 2).await;
    assert_consecutive(&events, seq + 1);
    assert_eq!(events[0].body, EventBody::Left { player: h.id.clone(), name: "Harry".into(), removed: None });
    let handed = EventBody::MapUpdated {
        name: "Hogwarts".into(),
        visibility: Visibility::Public,
        owner: r.id.clone(),
    };
    assert_eq!(events[1].body, handed);
    assert_eq!(hermione.map(&shared.id).await.unwrap().owner, r.id);
    assert_gone_everywhere(&ron, &alone.id, &h.id, None).await;
    let listed: Vec<_> = app.anon.public_maps().await.unwrap().maps.into_iter().map(|m| m.id).collect();
    assert_eq!(listed, [shared.id.as_str()]);
    app.stop().await;
}
