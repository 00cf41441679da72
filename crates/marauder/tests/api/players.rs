use marauder_client::protocol::{ErrorCode, EventBody, MapSummary};

use crate::helpers::*;

#[tokio::test]
async fn a_new_player_gets_an_id_a_token_and_a_trimmed_name() {
    let app = TestApp::spawn().await;
    let before = marauder_core_now();
    let created = app.anon.create_player("  Hermione Granger \t").await.unwrap();
    assert_eq!(created.name, "Hermione Granger");
    assert!(created.token.len() >= 22, "token of {} chars", created.token.len());
    assert!(created.created_at >= before - 1000 && created.created_at <= before + 60_000);
    let other = app.anon.create_player("Hermione Granger").await.unwrap();
    assert_ne!(created.id, other.id, "names need not be unique, ids are");
    assert_ne!(created.token, other.token);

    let me = app.anon.with_token(&created.token).me().await.unwrap();
    assert_eq!(
        (me.id.as_str(), me.name.as_str(), me.created_at),
        (created.id.as_str(), "Hermione Granger", created.created_at)
    );
    assert!(me.maps.is_empty());

    let public = app.anon.player(&created.id).await.unwrap();
    assert_eq!((public.id, public.name), (created.id.clone(), "Hermione Granger".to_owned()));
    app.stop().await;
}

fn marauder_core_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test]
async fn me_lists_the_maps_a_player_is_in() {
    let app = TestApp::spawn().await;
    let (harry, _) = app.player("Harry").await;
    let (ron, _) = app.player("Ron").await;
    let burrow = ron.create_map("The Burrow", None).await.unwrap();
    let hogwarts = harry.create_map("Hogwarts", None).await.unwrap();
    harry.join(&burrow.id, None).await.unwrap();
    let mut maps = harry.me().await.unwrap().maps;
    maps.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(
        maps,
        vec![
            MapSummary { id: hogwarts.id.clone(), name: "Hogwarts".into() },
            MapSummary { id: burrow.id.clone(), name: "The Burrow".into() },
        ]
    );
    harry.leave(&burrow.id).await.unwrap();
    assert_eq!(harry.me().await.unwrap().maps.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_player_leaves_its_maps_erases_its_trail_and_revokes_its_token() {
    let app = TestApp::spawn().await;
    let (harry, harry_created) = app.player("Harry").await;
    let (ron, ron_created) = app.player("Ron").await;
    let owned = harry.create_map("Harry's map", None).await.unwrap();
    let burrow = ron.create_map("The Burrow", None).await.unwrap();
    ron.join(&owned.id, None).await.unwrap();
    harry.join(&burrow.id, None).await.unwrap();
    harry.post_location(&loc(51.5, -0.12)).await.unwrap();
    assert_eq!(ron.trail(&burrow.id, &harry_created.id, None, None).await.unwrap().points.len(), 1);

    let mut watcher = ron.connect().await.unwrap();
    let burrow_seq = subscribe(&mut watcher, &burrow.id).await;
    let mut harry_live = harry.connect().await.unwrap();

    harry.delete_me().await.unwrap();

    // Ron's subscription sees Harry leave, with the next seq.
    let events = recv_events(&mut watcher, &burrow.id, 1).await;
    assert_eq!(events[0].seq, burrow_seq + 1);
    assert_eq!(
        events[0].body,
        EventBody::Left { player: harry_created.id.clone(), name: "Harry".into(), removed: None }
    );
    // Harry's own session is ended; his token no longer works anywhere.
    assert_eq!(recv_close(&mut harry_live).await, Some(1008));
    assert_eq!(harry.me().await.unwrap_err().code(), Some(ErrorCode::Unauthorized));
    assert_eq!(harry.connect().await.err().and_then(|e| e.status()), Some(401));
    assert_eq!(app.anon.player(&harry_created.id).await.unwrap_err().code(), Some(ErrorCode::NotFound));
    // The map he owned remains, without him, passed to its earliest member; his trail is
    // gone (he is no member anywhere).
    let detail = ron.map(&owned.id).await.unwrap();
    assert_eq!(detail.owner, ron_created.id);
    assert_eq!(detail.members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), vec!["Ron"]);
    let err = ron.trail(&burrow.id, &harry_created.id, None, None).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound));
    let locations = ron.locations(&burrow.id).await.unwrap();
    assert!(locations.locations.is_empty(), "{locations:?}");
    assert_eq!(locations.seq, burrow_seq + 1);
    // A deleted player's second delete is refused: the token is gone.
    assert_eq!(harry.delete_me().await.unwrap_err().status(), Some(401));
    drop(watcher);
    app.stop().await;
}
