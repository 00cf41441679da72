//! Sessions and map administration across handlers: on Redis, two handlers of one
//! deployment, the request on one and the sockets on the other, must agree at once (the
//! issue's "each of these is one consistent step on Redis too"). On the embedded backend,
//! which serves from one handler, these tests have nothing to check and pass.

use marauder_client::protocol::{ErrorCode, EventBody, ServerMessage, UnsubscribeReason, Visibility};

use crate::helpers::*;

/// Two handlers on one Redis, or `None` on the embedded backend.
async fn two_handlers() -> Option<(TestApp, TestApp)> {
    let first = TestApp::spawn().await;
    match first.beside().await {
        Some(second) => Some((first, second)),
        None => {
            first.stop().await;
            None
        }
    }
}

#[tokio::test]
async fn a_session_revoked_on_one_handler_closes_its_sockets_on_another_with_4001() {
    let Some((a, b)) = two_handlers().await else { return };
    let (laptop, h) = a.player("Harry").await;
    let code = laptop.create_link_code().await.unwrap();
    let phone = b.client(&b.anon.redeem_link_code(&code.code).await.unwrap().token);
    let map = laptop.create_map("Hogwarts", None).await.unwrap();
    let mut phone_live = phone.connect().await.unwrap();
    let mut laptop_live = b.client(&h.token).connect().await.unwrap();
    subscribe(&mut phone_live, &map.id).await;
    let seq = subscribe(&mut laptop_live, &map.id).await;

    let listed = phone.sessions().await.unwrap().sessions;
    laptop.revoke_session(&listed.iter().find(|s| s.current).expect("the phone's").id).await.unwrap();
    assert_eq!(phone.me().await.unwrap_err().status(), Some(401), "refused on the other handler at once");
    assert_eq!(recv_close(&mut phone_live).await, Some(4001));
    laptop.post_location(&loc(51.5, -0.1)).await.unwrap();
    assert_consecutive(&recv_events(&mut laptop_live, &map.id, 1).await, seq + 1);
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_player_renamed_on_one_handler_sends_under_the_new_name_from_another() {
    let Some((a, b)) = two_handlers().await else { return };
    let (harry, h) = a.player("Harry").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    let mut on_b = b.client(&h.token).connect().await.unwrap();
    let seq = subscribe(&mut on_b, &map.id).await;

    harry.rename("Harry Potter").await.unwrap();
    on_b.push_location(&loc_at(51.5, -0.1, 1_000)).await.unwrap();
    let events = recv_events(&mut on_b, &map.id, 2).await;
    assert_consecutive(&events, seq + 1);
    assert_eq!(events[0].body, EventBody::Renamed { player: h.id.clone(), name: "Harry Potter".into() });
    let EventBody::Location(l) = &events[1].body else { panic!("a location, got {events:?}") };
    assert_eq!(l.name, "Harry Potter");
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_member_removed_on_one_handler_is_told_and_refused_on_another() {
    let Some((a, b)) = two_handlers().await else { return };
    let (harry, _) = a.player("Harry").await;
    let (ron, r) = b.player("Ron").await;
    let map = harry.create_map("Hogwarts", Some(Visibility::Private)).await.unwrap();
    ron.join(&map.id, map.invite_code.as_deref()).await.unwrap();
    let mut ron_live = ron.connect().await.unwrap();
    let seq = subscribe(&mut ron_live, &map.id).await;

    harry.remove_member(&map.id, &r.id).await.unwrap();
    let events = recv_events(&mut ron_live, &map.id, 1).await;
    let removed = EventBody::Left { player: r.id.clone(), name: "Ron".into(), removed: Some(true) };
    assert_eq!((events[0].seq, &events[0].body), (seq + 1, &removed));
    let ended = ServerMessage::Unsubscribed { map: map.id.clone(), reason: UnsubscribeReason::Removed };
    assert_eq!(recv(&mut ron_live).await, ended);
    assert_eq!(ron.locations(&map.id).await.unwrap_err().code(), Some(ErrorCode::Forbidden));
    assert_eq!(ron.post_location(&loc(51.5, -0.1)).await.unwrap().maps, 0);
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_map_deleted_on_one_handler_ends_the_subscriptions_on_another() {
    let Some((a, b)) = two_handlers().await else { return };
    let (harry, h) = a.player("Harry").await;
    let (ron, _) = b.player("Ron").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    ron.join(&map.id, None).await.unwrap();
    let mut ron_live = ron.connect().await.unwrap();
    let mut harry_on_b = b.client(&h.token).connect().await.unwrap();
    let seq = subscribe(&mut ron_live, &map.id).await;
    subscribe(&mut harry_on_b, &map.id).await;

    harry.delete_map(&map.id).await.unwrap();
    for live in [&mut ron_live, &mut harry_on_b] {
        let events = recv_events(live, &map.id, 1).await;
        assert_eq!((events[0].seq, &events[0].body), (seq + 1, &EventBody::MapDeleted {}));
        let ended = ServerMessage::Unsubscribed { map: map.id.clone(), reason: UnsubscribeReason::Deleted };
        assert_eq!(recv(live).await, ended);
    }
    assert_eq!(ron.map(&map.id).await.unwrap_err().code(), Some(ErrorCode::NotFound));
    ron_live.subscribe(&map.id, None).await.unwrap();
    match recv(&mut ron_live).await {
        ServerMessage::Error { code: ErrorCode::NotFound, .. } => {}
        other => panic!("expected not_found, got {other:?}"),
    }
    b.stop().await;
    a.stop().await;
}
