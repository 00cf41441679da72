//! Sessions, the migration of tokens from before sessions, renames, and link codes.

use marauder_core::{LinkCodeRecord, PlayerId, SessionRecord, Store, TokenHash, now_millis};

use crate::servers::{Deployment, connect};
use crate::{player, session};

crate::on_both!(
    sessions_list_oldest_first_and_a_revoked_token_fails_at_once,
    a_token_from_before_sessions_becomes_a_session_once,
    a_rename_keeps_the_record_and_reaches_every_session,
    deleting_a_player_revokes_every_session,
    a_link_code_is_taken_once_of_two_racing_takes,
);

fn hex(hash: &TokenHash) -> String {
    hash.0.iter().map(|b| format!("{b:02x}")).collect()
}

async fn sessions_list_oldest_first_and_a_revoked_token_fails_at_once(deployment: Deployment) {
    let mut backend = connect(deployment).await;
    let store = backend.redis.store.clone();
    let (alice, first) = player(&backend, "Alice", 1_000).await;
    let (latest, middle) = (session(&alice.id, 3_000), session(&alice.id, 2_000));
    store.create_session(latest.clone()).await.unwrap();
    store.create_session(middle.clone()).await.unwrap();
    assert_eq!(store.sessions_of(&alice.id).await.unwrap(), [first.clone(), middle.clone(), latest.clone()]);
    assert_eq!(
        store.session_by_token(&latest.token_hash).await.unwrap(),
        Some((latest.clone(), alice.clone()))
    );

    let seen = SessionRecord { last_seen: Some(4_000), ..middle.clone() };
    store.touch_session(&seen).await.unwrap();
    assert_eq!(store.session_by_token(&middle.token_hash).await.unwrap().unwrap().0.last_seen, Some(4_000));

    // Another player cannot revoke it; its owner can, once.
    let (bob, _) = player(&backend, "Bob", 1_500).await;
    assert_eq!(store.delete_session(&bob.id, &middle.id).await.unwrap(), None);
    assert_eq!(store.delete_session(&alice.id, &middle.id).await.unwrap(), Some(seen));
    assert_eq!(store.session_by_token(&middle.token_hash).await.unwrap(), None);
    assert_eq!(store.delete_session(&alice.id, &middle.id).await.unwrap(), None);
    assert_eq!(store.sessions_of(&alice.id).await.unwrap(), [first.clone(), latest.clone()]);
    // A touch racing the revocation does not bring it back.
    store.touch_session(&middle).await.unwrap();
    assert_eq!(store.session_by_token(&middle.token_hash).await.unwrap(), None);
    let index = format!("{}:p:{{{}}}:sessions", backend.prefix, alice.id);
    let listed: Vec<String> = backend.raw.query(redis::cmd("HKEYS").arg(&index)).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(!listed.contains(&middle.id.to_string()));
}

async fn a_token_from_before_sessions_becomes_a_session_once(deployment: Deployment) {
    let mut backend = connect(deployment).await;
    let store = backend.redis.store.clone();
    // As the backend wrote a player before sessions: the token's hash in the record, and the
    // token key holding the bare player id.
    let id = PlayerId::generate();
    let hash = TokenHash::of("mrd_legacy-token");
    let record = serde_json::json!({"name": "Neville", "token_hash": hash.0, "created_at": 777});
    let player_key = format!("{}:p:{{{id}}}", backend.prefix);
    let token_key = format!("{}:t:{}", backend.prefix, hex(&hash));
    let _: () = backend.raw.query(redis::cmd("SET").arg(&player_key).arg(record.to_string())).await;
    let _: () = backend.raw.query(redis::cmd("SET").arg(&token_key).arg(id.as_str())).await;

    // Two first uses at once: one migrates, and both get that one session.
    let first_use = || {
        let store = store.clone();
        tokio::spawn(async move { store.session_by_token(&hash).await.unwrap() })
    };
    let (a, b) = (first_use(), first_use());
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(a, b);
    let (session, player) = a.expect("the legacy token works");
    assert_eq!((player.id.clone(), player.name.as_str(), player.created_at), (id.clone(), "Neville", 777));
    assert_eq!((&session.player, session.token_hash, session.created_at), (&id, hash, 777));
    assert_eq!((session.last_seen, session.agent.as_deref()), (None, None));
    // Migrated: the token key holds the session, which is listed, and stays the same one.
    let stored: Vec<u8> = backend.raw.query(redis::cmd("GET").arg(&token_key)).await;
    assert_eq!(SessionRecord::decode(&stored).unwrap(), session);
    assert_eq!(store.session_by_token(&hash).await.unwrap(), Some((session.clone(), player)));
    assert_eq!(store.sessions_of(&id).await.unwrap(), std::slice::from_ref(&session));
    let index = format!("{}:p:{{{id}}}:sessions", backend.prefix);
    let listed: Vec<String> = backend.raw.query(redis::cmd("HKEYS").arg(&index)).await;
    assert_eq!(listed, [session.id.to_string()]);

    // Deleting the player takes the migrated session and the legacy token with it.
    assert_eq!(store.delete_player(&id).await.unwrap(), []);
    assert_eq!(store.session_by_token(&hash).await.unwrap(), None);
    let left: u64 = backend.raw.query(redis::cmd("EXISTS").arg(&token_key)).await;
    assert_eq!(left, 0);
}

async fn a_rename_keeps_the_record_and_reaches_every_session(deployment: Deployment) {
    let mut backend = connect(deployment).await;
    let store = backend.redis.store.clone();
    let (harry, first) = player(&backend, "Harry", 1_000).await;
    let second = session(&harry.id, 2_000);
    store.create_session(second.clone()).await.unwrap();
    assert!(store.rename_player(&harry.id, "The Chosen One").await.unwrap());
    let renamed = store.player(&harry.id).await.unwrap().unwrap();
    assert_eq!((renamed.name.as_str(), renamed.created_at), ("The Chosen One", 1_000));
    for s in [&first, &second] {
        assert_eq!(store.session_by_token(&s.token_hash).await.unwrap().unwrap().1, renamed);
    }
    // A player that does not exist is not created by a rename.
    let nobody = PlayerId::generate();
    assert!(!store.rename_player(&nobody, "Ghost").await.unwrap());
    assert_eq!(store.player(&nobody).await.unwrap(), None);
    let created: u64 =
        backend.raw.query(redis::cmd("EXISTS").arg(format!("{}:p:{{{nobody}}}", backend.prefix))).await;
    assert_eq!(created, 0);
}

async fn deleting_a_player_revokes_every_session(deployment: Deployment) {
    let mut backend = connect(deployment).await;
    let store = backend.redis.store.clone();
    let (ron, first) = player(&backend, "Ron", 1_000).await;
    let second = session(&ron.id, 2_000);
    store.create_session(second.clone()).await.unwrap();
    store.delete_player(&ron.id).await.unwrap();
    for s in [&first, &second] {
        assert_eq!(store.session_by_token(&s.token_hash).await.unwrap(), None);
        let key = format!("{}:t:{}", backend.prefix, hex(&s.token_hash));
        let left: u64 = backend.raw.query(redis::cmd("EXISTS").arg(key)).await;
        assert_eq!(left, 0);
    }
    assert_eq!(store.sessions_of(&ron.id).await.unwrap(), []);
    assert!(!store.rename_player(&ron.id, "Won-Won").await.unwrap());
    assert_eq!(store.player(&ron.id).await.unwrap(), None);
}

async fn a_link_code_is_taken_once_of_two_racing_takes(deployment: Deployment) {
    let mut backend = connect(deployment).await;
    let store = backend.redis.store.clone();
    let (hermione, _) = player(&backend, "Hermione", 1_000).await;
    let hash = TokenHash::of("a-link-code");
    let code = LinkCodeRecord {
        hash,
        player: hermione.id.clone(),
        expires_at: now_millis() + 600_000,
        session: None,
    };
    store.create_link_code(code.clone()).await.unwrap();
    let key = format!("{}:l:{}", backend.prefix, hex(&hash));
    let ttl: i64 = backend.raw.query(redis::cmd("PTTL").arg(&key)).await;
    assert!(ttl > 0 && ttl <= 600_000, "{ttl}");

    let take = || {
        let store = store.clone();
        tokio::spawn(async move { store.take_link_code(&hash).await.unwrap() })
    };
    let (a, b) = (take(), take());
    let mut taken = [a.await.unwrap(), b.await.unwrap()];
    taken.sort_by_key(Option::is_none);
    assert_eq!(taken, [Some(code), None]);
    assert_eq!(store.take_link_code(&hash).await.unwrap(), None);
    let left: u64 = backend.raw.query(redis::cmd("EXISTS").arg(&key)).await;
    assert_eq!(left, 0);
    assert_eq!(store.take_link_code(&TokenHash::of("never-made")).await.unwrap(), None);
}
