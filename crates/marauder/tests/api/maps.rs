use marauder_client::protocol::{
    ErrorCode, EventBody, PlayerSummary, PublicMap, ServerMessage, UnsubscribeReason, Visibility,
};

use crate::helpers::*;

#[tokio::test]
async fn maps_are_public_by_default_and_private_ones_have_an_invite_code() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let public = harry.create_map("  Diagon Alley ", None).await.unwrap();
    assert_eq!(
        (public.name.as_str(), public.owner.as_str(), public.visibility),
        ("Diagon Alley", h.id.as_str(), Visibility::Public)
    );
    assert_eq!(public.invite_code, None);
    let raw = harry.raw("GET", &format!("/api/v1/maps/{}", public.id), None).await.unwrap();
    assert_eq!(raw.status, 200);
    assert!(raw.json().get("invite_code").is_none(), "no invite_code key for a public map");

    let private = harry.create_map("Room of Requirement", Some(Visibility::Private)).await.unwrap();
    assert_eq!(private.visibility, Visibility::Private);
    let code = private.invite_code.clone().expect("a private map has a code");
    assert!(code.len() >= 22);
    let detail = harry.map(&private.id).await.unwrap();
    assert_eq!(detail.invite_code.as_deref(), Some(code.as_str()));
    assert_eq!(detail.members, vec![PlayerSummary { id: h.id.clone(), name: "Harry".into() }]);

    // A new map's seq is 0: creating it published nothing.
    assert_eq!(harry.locations(&public.id).await.unwrap().seq, 0);

    // The public list shows public maps only, with member counts.
    let (ron, _) = app.player("Ron").await;
    ron.join(&public.id, None).await.unwrap();
    let list = app.anon.public_maps().await.unwrap();
    assert_eq!(list.maps, vec![PublicMap { id: public.id.clone(), name: "Diagon Alley".into(), members: 2 }]);
    app.stop().await;
}

#[tokio::test]
async fn only_members_read_a_map() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let (draco, _) = app.player("Draco").await;
    for visibility in [Visibility::Public, Visibility::Private] {
        let map = harry.create_map("Gryffindor Tower", Some(visibility)).await.unwrap();
        harry.post_location(&loc(1.0, 2.0)).await.unwrap();
        assert_eq!(draco.map(&map.id).await.unwrap_err().code(), Some(ErrorCode::Forbidden));
        assert_eq!(draco.locations(&map.id).await.unwrap_err().code(), Some(ErrorCode::Forbidden));
        assert_eq!(
            draco.trail(&map.id, &h.id, None, None).await.unwrap_err().code(),
            Some(ErrorCode::Forbidden)
        );
        let mut live = draco.connect().await.unwrap();
        live.subscribe(&map.id, None).await.unwrap();
        match recv(&mut live).await {
            ServerMessage::Error { code: ErrorCode::Forbidden, map: Some(m), .. } => assert_eq!(m, map.id),
            other => panic!("expected forbidden, got {other:?}"),
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn joining_publishes_once_and_private_maps_need_the_code() {
    let app = TestApp::spawn().await;
    let (harry, _) = app.player("Harry").await;
    let (ron, r) = app.player("Ron").await;
    let map = harry.create_map("Hogwarts", Some(Visibility::Private)).await.unwrap();
    let code = map.invite_code.clone().unwrap();
    let mut live = harry.connect().await.unwrap();
    let seq = subscribe(&mut live, &map.id).await;

    assert_eq!(ron.join(&map.id, None).await.unwrap_err().code(), Some(ErrorCode::Forbidden));
    assert_eq!(ron.join(&map.id, Some("wrong")).await.unwrap_err().code(), Some(ErrorCode::Forbidden));
    assert_eq!(harry.map(&map.id).await.unwrap().members.len(), 1, "a refused join changes nothing");

    let detail = ron.join(&map.id, Some(&code)).await.unwrap();
    assert_eq!(detail.members.len(), 2);
    assert_eq!(detail.invite_code.as_deref(), Some(code.as_str()));
    let events = recv_events(&mut live, &map.id, 1).await;
    assert_eq!(events[0].seq, seq + 1);
    assert_eq!(events[0].body, EventBody::Joined { player: r.id.clone(), name: "Ron".into() });

    // Joining again is 200 and publishes nothing; a member needs no code.
    let again = ron.join(&map.id, None).await.unwrap();
    assert_eq!(again.members.len(), 2);
    assert_eq!(harry.locations(&map.id).await.unwrap().seq, seq + 1);
    app.stop().await;
}

#[tokio::test]
async fn leaving_publishes_and_ends_the_leavers_subscriptions() {
    let app = TestApp::spawn().await;
    let (harry, _) = app.player("Harry").await;
    let (ron, r) = app.player("Ron").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    ron.join(&map.id, None).await.unwrap();
    let mut harry_live = harry.connect().await.unwrap();
    let mut ron_live = ron.connect().await.unwrap();
    let mut ron_second = ron.connect().await.unwrap();
    let seq = subscribe(&mut harry_live, &map.id).await;
    assert_eq!(subscribe(&mut ron_live, &map.id).await, seq);
    assert_eq!(subscribe(&mut ron_second, &map.id).await, seq);

    ron.leave(&map.id).await.unwrap();
    let left = EventBody::Left { player: r.id.clone(), name: "Ron".into(), removed: None };
    for live in [&mut harry_live, &mut ron_live, &mut ron_second] {
        let events = recv_events(live, &map.id, 1).await;
        assert_eq!((events[0].seq, &events[0].body), (seq + 1, &left));
    }
    for live in [&mut ron_live, &mut ron_second] {
        assert_eq!(
            recv(live).await,
            ServerMessage::Unsubscribed { map: map.id.clone(), reason: UnsubscribeReason::Left }
        );
    }
    // Leaving again is 204 and publishes nothing; Ron's sockets stay open for other maps.
    ron.leave(&map.id).await.unwrap();
    assert_eq!(harry.locations(&map.id).await.unwrap().seq, seq + 1);
    harry.post_location(&loc(3.0, 4.0)).await.unwrap();
    let events = recv_events(&mut harry_live, &map.id, 1).await;
    assert_eq!(events[0].seq, seq + 2, "the next event follows the left with no gap");
    assert_eq!(ron.post_location(&loc(5.0, 5.0)).await.unwrap().maps, 0, "a leaver informs the map no more");
    let other = ron.create_map("The Burrow", None).await.unwrap();
    assert_eq!(subscribe(&mut ron_live, &other.id).await, 0);
    assert_eq!(ron.post_location(&loc(5.0, 5.0)).await.unwrap().maps, 1, "a new map is informed at once");
    // And Ron no longer reads the map he left.
    assert_eq!(ron.locations(&map.id).await.unwrap_err().code(), Some(ErrorCode::Forbidden));
    app.stop().await;
}

#[tokio::test]
async fn unknown_maps_are_not_found_everywhere() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let missing = "no-such-map";
    assert_eq!(harry.map(missing).await.unwrap_err().code(), Some(ErrorCode::NotFound));
    assert_eq!(harry.join(missing, None).await.unwrap_err().code(), Some(ErrorCode::NotFound));
    assert_eq!(harry.leave(missing).await.unwrap_err().code(), Some(ErrorCode::NotFound));
    assert_eq!(harry.locations(missing).await.unwrap_err().code(), Some(ErrorCode::NotFound));
    assert_eq!(harry.trail(missing, &h.id, None, None).await.unwrap_err().code(), Some(ErrorCode::NotFound));
    app.stop().await;
}
