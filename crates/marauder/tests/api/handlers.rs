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

#[tokio::test]
async fn a_map_joined_on_another_handler_gets_the_next_location_posted_here() {
    let Some((a, b)) = two_handlers().await else { return };
    let (harry, h) = a.player("Harry").await;
    let (ron, _) = a.player("Ron").await;
    let _first = harry.create_map("Hogwarts", None).await.unwrap();
    // Handler A learns Harry's maps from this location: only the first.
    assert_eq!(harry.post_location(&loc(51.5, -0.1)).await.unwrap().maps, 1);
    let second = ron.create_map("Burrow", None).await.unwrap();
    let mut ron_live = ron.connect().await.unwrap();
    let seq = subscribe(&mut ron_live, &second.id).await;
    b.client(&h.token).join(&second.id, None).await.unwrap();

    assert_eq!(harry.post_location(&loc(51.6, -0.2)).await.unwrap().maps, 2, "both maps, on handler A");
    let events = recv_events(&mut ron_live, &second.id, 2).await;
    assert_consecutive(&events, seq + 1);
    assert!(matches!(&events[0].body, EventBody::Joined { player, .. } if *player == h.id));
    assert!(matches!(&events[1].body, EventBody::Location(l) if l.player == h.id && l.fix.lat == 51.6));
    // Left on B: A's memory of the map costs a publish that the map refuses, nothing more.
    b.client(&h.token).leave(&second.id).await.unwrap();
    assert_eq!(harry.post_location(&loc(51.7, -0.3)).await.unwrap().maps, 1);
    let events = recv_events(&mut ron_live, &second.id, 1).await;
    assert!(matches!(&events[0].body, EventBody::Left { player, .. } if *player == h.id), "{events:?}");
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn joins_and_leaves_racing_on_two_handlers_leave_the_members_the_last_event_says() {
    let Some((a, b)) = two_handlers().await else { return };
    let (minerva, _) = a.player("Minerva").await;
    let (_, n) = a.player("Neville").await;
    let map = minerva.create_map("Greenhouse", None).await.unwrap();
    let mut live = minerva.connect().await.unwrap();
    let mut seq = subscribe(&mut live, &map.id).await;
    let (on_a, on_b) = (a.client(&n.token), b.client(&n.token));
    // Neville's membership events must alternate, starting with a join, and the last one
    // must say what the member list says after every round.
    let mut member_by_events = false;
    let mut changes = 0;
    for round in 0..100 {
        let (joiner, leaver) = if round % 2 == 0 { (&on_a, &on_b) } else { (&on_b, &on_a) };
        let (joined, left) = tokio::join!(joiner.join(&map.id, None), leaver.leave(&map.id));
        joined.unwrap();
        left.unwrap();
        let now = minerva.locations(&map.id).await.unwrap().seq;
        let member = minerva.map(&map.id).await.unwrap().members.iter().any(|m| m.id == n.id);
        let events = recv_events(&mut live, &map.id, (now - seq) as usize).await;
        assert_consecutive(&events, seq + 1);
        seq = now;
        for event in &events {
            let joins = match &event.body {
                EventBody::Joined { player, .. } if *player == n.id => true,
                EventBody::Left { player, .. } if *player == n.id => false,
                other => panic!("round {round}: only Neville's joins and leaves, got {other:?}"),
            };
            assert_eq!(joins, !member_by_events, "round {round}: {events:?}");
            member_by_events = joins;
            changes += 1;
        }
        assert_eq!(member_by_events, member, "round {round}: the last event and the member list");
    }
    assert!(changes >= 1, "at least the first join went through");
    b.stop().await;
    a.stop().await;
}
