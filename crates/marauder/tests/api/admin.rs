//! Map administration by the owner (the contract's "Map administration"): renaming, changing
//! visibility, replacing the invite code, removing a member; who may do it; and the invite
//! screen's preview (an addition, docs/api.md).

use marauder_client::Client;
use marauder_client::protocol::{
    ErrorCode, EventBody, MapPreview, PlayerSummary, PublicMap, ServerMessage, UnsubscribeReason, UpdateMap,
    Visibility,
};

use crate::helpers::*;

fn update(name: Option<&str>, visibility: Option<Visibility>) -> UpdateMap {
    UpdateMap { name: name.map(str::to_owned), visibility }
}

fn map_updated(name: &str, visibility: Visibility, owner: &str) -> EventBody {
    EventBody::MapUpdated { name: name.into(), visibility, owner: owner.into() }
}

/// The status and error code of a failed call.
fn refusal<T: std::fmt::Debug>(result: marauder_client::Result<T>) -> (Option<u16>, Option<ErrorCode>) {
    let err = result.expect_err("a refusal");
    (err.status(), err.code())
}

async fn public_list(app: &TestApp) -> Vec<PublicMap> {
    app.anon.public_maps().await.unwrap().maps
}

#[tokio::test]
async fn the_owner_renames_a_map_and_its_members_see_map_updated() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let (ron, r) = app.player("Ron").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    ron.join(&map.id, None).await.unwrap();
    let mut live = ron.connect().await.unwrap();
    let seq = subscribe(&mut live, &map.id).await;

    let detail = harry.update_map(&map.id, &update(Some("  Great Hall "), None)).await.unwrap();
    assert_eq!((detail.name.as_str(), detail.owner.as_str()), ("Great Hall", h.id.as_str()));
    assert_eq!((detail.visibility, detail.invite_code), (Visibility::Public, None));
    let members = vec![
        PlayerSummary { id: h.id.clone(), name: "Harry".into() },
        PlayerSummary { id: r.id.clone(), name: "Ron".into() },
    ];
    assert_eq!(detail.members, members, "members in join order");
    let events = recv_events(&mut live, &map.id, 1).await;
    assert_eq!(
        (events[0].seq, &events[0].body),
        (seq + 1, &map_updated("Great Hall", Visibility::Public, &h.id))
    );
    assert_eq!(ron.map(&map.id).await.unwrap().name, "Great Hall");
    assert_eq!(ron.me().await.unwrap().maps[0].name, "Great Hall");
    assert_eq!(
        public_list(&app).await,
        [PublicMap { id: map.id.clone(), name: "Great Hall".into(), members: 2 }]
    );

    // Asking for what already is changes nothing and publishes nothing.
    let same =
        harry.update_map(&map.id, &update(Some("Great Hall"), Some(Visibility::Public))).await.unwrap();
    assert_eq!(same.name, "Great Hall");
    assert_eq!(harry.locations(&map.id).await.unwrap().seq, seq + 1);
    // Both at once are one change: one event.
    let both = harry.update_map(&map.id, &update(Some("Hogwarts"), Some(Visibility::Private))).await.unwrap();
    assert_eq!((both.name.as_str(), both.visibility), ("Hogwarts", Visibility::Private));
    let events = recv_events(&mut live, &map.id, 1).await;
    let expected = map_updated("Hogwarts", Visibility::Private, &h.id);
    assert_eq!((events[0].seq, &events[0].body), (seq + 2, &expected));
    assert_eq!(harry.locations(&map.id).await.unwrap().seq, seq + 2);
    app.stop().await;
}

#[tokio::test]
async fn private_gets_a_working_invite_code_a_new_one_replaces_it_and_public_drops_it() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    let mut live = harry.connect().await.unwrap();
    let seq = subscribe(&mut live, &map.id).await;

    let private = harry.update_map(&map.id, &update(None, Some(Visibility::Private))).await.unwrap();
    let first = private.invite_code.clone().expect("a private map has a code");
    assert_eq!((private.name.as_str(), private.visibility), ("Hogwarts", Visibility::Private));
    let events = recv_events(&mut live, &map.id, 1).await;
    assert_eq!(
        (events[0].seq, &events[0].body),
        (seq + 1, &map_updated("Hogwarts", Visibility::Private, &h.id))
    );
    assert!(public_list(&app).await.is_empty(), "a private map is not listed");
    let (ron, _) = app.player("Ron").await;
    assert_eq!(refusal(ron.join(&map.id, None).await), (Some(403), Some(ErrorCode::Forbidden)));
    assert_eq!(ron.join(&map.id, Some(&first)).await.unwrap().invite_code.as_deref(), Some(first.as_str()));
    recv_events(&mut live, &map.id, 1).await;

    let second = harry.new_invite_code(&map.id).await.unwrap().invite_code;
    assert_ne!(second, first);
    assert_eq!(harry.map(&map.id).await.unwrap().invite_code.as_deref(), Some(second.as_str()));
    let (neville, _) = app.player("Neville").await;
    assert_eq!(refusal(neville.join(&map.id, Some(&first)).await), (Some(403), Some(ErrorCode::Forbidden)));
    assert_eq!(
        refusal(neville.preview(&map.id, Some(&first)).await),
        (Some(403), Some(ErrorCode::Forbidden))
    );
    neville.join(&map.id, Some(&second)).await.unwrap();
    let joined = recv_events(&mut live, &map.id, 1).await;
    assert_eq!(joined[0].seq, seq + 3, "a new code publishes no event");

    let public = harry.update_map(&map.id, &update(None, Some(Visibility::Public))).await.unwrap();
    assert_eq!((public.visibility, public.invite_code), (Visibility::Public, None));
    let raw = harry.raw("GET", &format!("/api/v1/maps/{}", map.id), None).await.unwrap();
    assert!(raw.json().get("invite_code").is_none(), "no invite_code key: {:?}", raw.json());
    let events = recv_events(&mut live, &map.id, 1).await;
    assert_eq!(
        (events[0].seq, &events[0].body),
        (seq + 4, &map_updated("Hogwarts", Visibility::Public, &h.id))
    );
    assert_eq!(
        public_list(&app).await,
        [PublicMap { id: map.id.clone(), name: "Hogwarts".into(), members: 3 }]
    );
    let (luna, _) = app.player("Luna").await;
    assert_eq!(luna.join(&map.id, None).await.unwrap().members.len(), 4);
    app.stop().await;
}

#[tokio::test]
async fn only_the_owner_administers_and_bad_input_is_400_changing_nothing() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let (ron, _) = app.player("Ron").await;
    let (draco, _) = app.player("Draco").await;
    let map = harry.create_map("Hogwarts", Some(Visibility::Private)).await.unwrap();
    let code = map.invite_code.clone().unwrap();
    ron.join(&map.id, Some(&code)).await.unwrap();
    let seq = harry.locations(&map.id).await.unwrap().seq;
    let forbidden = (Some(403), Some(ErrorCode::Forbidden));
    for other in [&ron, &draco] {
        assert_eq!(refusal(other.update_map(&map.id, &update(Some("Mine"), None)).await), forbidden);
        assert_eq!(refusal(other.new_invite_code(&map.id).await), forbidden);
        assert_eq!(refusal(other.remove_member(&map.id, &h.id).await), forbidden);
        assert_eq!(refusal(other.delete_map(&map.id).await), forbidden);
    }
    let path = format!("/api/v1/maps/{}", map.id);
    let bodies = [r#"{"name":""}"#, r#"{"visibility":"secret"}"#, r#"{"name":5}"#, r#"{"owner":"x"}"#, "[]"];
    for body in bodies {
        let answer = harry.raw("PATCH", &path, Some(("application/json", body.into()))).await.unwrap();
        assert_eq!((answer.status, answer.error_code().as_deref()), (400, Some("bad_request")), "{body}");
    }
    let detail = harry.map(&map.id).await.unwrap();
    assert_eq!((detail.name.as_str(), detail.owner.as_str()), ("Hogwarts", h.id.as_str()));
    assert_eq!(
        (detail.visibility, detail.invite_code.as_deref()),
        (Visibility::Private, Some(code.as_str()))
    );
    assert_eq!(detail.members.len(), 2);
    assert_eq!(harry.locations(&map.id).await.unwrap().seq, seq, "nothing refused published anything");

    let public = harry.create_map("Diagon Alley", None).await.unwrap();
    assert_eq!(refusal(harry.new_invite_code(&public.id).await), (Some(400), Some(ErrorCode::BadRequest)));
    assert_eq!(harry.map(&public.id).await.unwrap().invite_code, None);
    app.stop().await;
}

#[tokio::test]
async fn a_removed_member_is_told_loses_the_map_and_may_join_again() {
    let app = TestApp::spawn().await;
    let (harry, _) = app.player("Harry").await;
    let (ron, r) = app.player("Ron").await;
    let map = harry.create_map("Hogwarts", Some(Visibility::Private)).await.unwrap();
    let code = map.invite_code.clone().unwrap();
    ron.join(&map.id, Some(&code)).await.unwrap();
    ron.post_location(&loc(51.5, -0.1)).await.unwrap();
    let mut harry_live = harry.connect().await.unwrap();
    let mut ron_live = ron.connect().await.unwrap();
    let seq = subscribe(&mut harry_live, &map.id).await;
    assert_eq!(subscribe(&mut ron_live, &map.id).await, seq);

    harry.remove_member(&map.id, &r.id).await.unwrap();
    let removed = EventBody::Left { player: r.id.clone(), name: "Ron".into(), removed: Some(true) };
    for live in [&mut harry_live, &mut ron_live] {
        let events = recv_events(live, &map.id, 1).await;
        assert_eq!((events[0].seq, &events[0].body), (seq + 1, &removed));
    }
    let reason = ServerMessage::Unsubscribed { map: map.id.clone(), reason: UnsubscribeReason::Removed };
    assert_eq!(recv(&mut ron_live).await, reason);

    let forbidden = (Some(403), Some(ErrorCode::Forbidden));
    assert_eq!(refusal(ron.map(&map.id).await), forbidden);
    assert_eq!(refusal(ron.locations(&map.id).await), forbidden);
    assert_eq!(refusal(ron.trail(&map.id, &r.id, None, None).await), forbidden);
    ron_live.subscribe(&map.id, None).await.unwrap();
    match recv(&mut ron_live).await {
        ServerMessage::Error { code: ErrorCode::Forbidden, map: Some(m), .. } => assert_eq!(m, map.id),
        other => panic!("expected forbidden, got {other:?}"),
    }
    assert!(ron.me().await.unwrap().maps.is_empty());
    assert_eq!(ron.post_location(&loc(51.6, -0.1)).await.unwrap().maps, 0, "the map is informed no more");
    assert_eq!(harry.map(&map.id).await.unwrap().members.len(), 1);
    assert_eq!(harry.locations(&map.id).await.unwrap().locations.len(), 0, "his point left with him");

    // Like anyone else, he may join again with the code.
    assert_eq!(ron.join(&map.id, Some(&code)).await.unwrap().members.len(), 2);
    let events = recv_events(&mut harry_live, &map.id, 1).await;
    let joined = EventBody::Joined { player: r.id.clone(), name: "Ron".into() };
    assert_eq!((events[0].seq, &events[0].body), (seq + 2, &joined));
    app.stop().await;
}

#[tokio::test]
async fn removing_oneself_is_400_and_a_non_member_404() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let (draco, d) = app.player("Draco").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    draco.create_map("Malfoy Manor", None).await.unwrap();
    assert_eq!(refusal(harry.remove_member(&map.id, &h.id).await), (Some(400), Some(ErrorCode::BadRequest)));
    for player in [d.id.as_str(), "AAAAAAAAAAAAAAAA", "no-such-player"] {
        let answer = refusal(harry.remove_member(&map.id, player).await);
        assert_eq!(answer, (Some(404), Some(ErrorCode::NotFound)), "{player}");
    }
    assert_eq!(harry.map(&map.id).await.unwrap().members.len(), 1);
    assert_eq!(harry.locations(&map.id).await.unwrap().seq, 0, "nothing published");
    assert_eq!(draco.me().await.unwrap().maps.len(), 1);
    app.stop().await;
}

async fn preview(client: &Client, map: &str, code: Option<&str>) -> MapPreview {
    client.preview(map, code).await.unwrap_or_else(|err| panic!("preview of {map}: {err}"))
}

#[tokio::test]
async fn a_preview_names_the_map_and_its_owner_before_one_joins() {
    let app = TestApp::spawn().await;
    let (harry, h) = app.player("Harry").await;
    let (ron, _) = app.player("Ron").await;
    let (draco, _) = app.player("Draco").await;
    let public = harry.create_map("Diagon Alley", None).await.unwrap();
    ron.join(&public.id, None).await.unwrap();
    let owner = PlayerSummary { id: h.id.clone(), name: "Harry".into() };
    let expected = |member| MapPreview {
        id: public.id.clone(),
        name: "Diagon Alley".into(),
        visibility: Visibility::Public,
        owner: owner.clone(),
        members: 2,
        member,
    };
    assert_eq!(preview(&draco, &public.id, None).await, expected(false));
    assert_eq!(preview(&ron, &public.id, None).await, expected(true));

    let private = harry.create_map("Room of Requirement", Some(Visibility::Private)).await.unwrap();
    let code = private.invite_code.clone().unwrap();
    let forbidden = (Some(403), Some(ErrorCode::Forbidden));
    assert_eq!(refusal(draco.preview(&private.id, None).await), forbidden);
    assert_eq!(refusal(draco.preview(&private.id, Some("wrong")).await), forbidden);
    let seen = preview(&draco, &private.id, Some(&code)).await;
    assert_eq!((seen.name.as_str(), seen.visibility), ("Room of Requirement", Visibility::Private));
    assert_eq!((seen.members, seen.member, &seen.owner), (1, false, &owner));
    assert!(preview(&harry, &private.id, None).await.member, "a member needs no code");
    assert_eq!(harry.map(&private.id).await.unwrap().members.len(), 1, "a preview joins nobody");

    harry.rename("Harry Potter").await.unwrap();
    assert_eq!(preview(&draco, &public.id, None).await.owner.name, "Harry Potter");
    let unknown = (Some(404), Some(ErrorCode::NotFound));
    assert_eq!(refusal(draco.preview("AAAAAAAAAAAAAAAA", None).await), unknown);
    assert_eq!(refusal(app.anon.preview(&public.id, None).await).0, Some(401));
    app.stop().await;
}

#[tokio::test]
async fn wrong_preview_codes_are_guesses_and_past_the_burst_even_the_right_one_gets_429() {
    let app = TestApp::spawn_with(|config| {
        config.limits = marauder::Switch::On;
        config.guess_burst = 3;
        config.guess_refill_ms = 1_000;
    })
    .await;
    let (harry, _) = app.player("Harry").await;
    let map = harry.create_map("Room of Requirement", Some(Visibility::Private)).await.unwrap();
    let code = map.invite_code.clone().unwrap();
    let (draco, _) = app.player("Draco").await;
    for _ in 0..3 {
        assert_eq!(
            refusal(draco.preview(&map.id, Some("wrong")).await),
            (Some(403), Some(ErrorCode::Forbidden))
        );
    }
    let path = format!("/api/v1/maps/{}/preview?invite_code={code}", map.id);
    let refused = draco.raw("GET", &path, None).await.unwrap();
    assert_eq!((refused.status, refused.error_code().as_deref()), (429, Some("rate_limited")));
    let wait: u64 = refused.headers["retry-after"].to_str().unwrap().parse().expect("whole seconds");
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    assert_eq!(preview(&draco, &map.id, Some(&code)).await.members, 1);
    app.stop().await;
}

#[tokio::test]
async fn racing_changes_of_one_map_end_with_the_last_event_telling_the_stored_state() {
    let app = TestApp::spawn().await;
    let (harry, _) = app.player("Harry").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    let mut live = harry.connect().await.unwrap();
    let start = subscribe(&mut live, &map.id).await;
    const CHANGES: usize = 12;
    let renames = (0..CHANGES).map(|i| {
        let (harry, id) = (harry.clone(), map.id.clone());
        async move { harry.update_map(&id, &update(Some(&format!("Name {i}")), None)).await.unwrap() }
    });
    futures_util::future::join_all(renames).await;
    let events = recv_events(&mut live, &map.id, CHANGES).await;
    assert_consecutive(&events, start + 1);
    let stored = harry.map(&map.id).await.unwrap().name;
    match &events.last().unwrap().body {
        EventBody::MapUpdated { name, .. } => assert_eq!(name, &stored, "the last event is the stored name"),
        other => panic!("expected map_updated, got {other:?}"),
    }
    app.stop().await;
}
