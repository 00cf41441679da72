//! Sessions and link codes on the embedded store: a player's many tokens, the token cache
//! kept right by every write that makes an entry stale (a revoked token fails on the very
//! next request), single-use link codes, and the one-time move of a database from before
//! sessions.

use std::sync::Arc;

use marauder_core::protocol::Event;
use marauder_core::{
    EventSink, LinkCodeRecord, MapId, PlayerId, PlayerRecord, SessionId, SessionRecord, Store, TokenHash,
    now_millis,
};
use redb::{ReadableTableMetadata, TableDefinition};

use crate::{Embedded, Options, codec};

pub(crate) struct Nowhere;

impl EventSink for Nowhere {
    fn deliver(&self, _map: &MapId, _event: Arc<Event>) {}
}

pub(crate) fn open(dir: &std::path::Path) -> Embedded {
    crate::open(dir, Options::default(), Arc::new(Nowhere)).unwrap()
}

/// Closes the database, so that it can be opened again.
pub(crate) async fn close(embedded: Embedded) {
    let Embedded { store, feed, closed } = embedded;
    drop((store, feed));
    tokio::task::spawn_blocking(move || closed.wait()).await.unwrap();
}

pub(crate) fn player(id: &str, name: &str) -> PlayerRecord {
    PlayerRecord { id: PlayerId::parse(id).unwrap(), name: name.into(), created_at: 1000 }
}

pub(crate) fn session(player: &str, id: &str, token: u8, created_at: i64) -> SessionRecord {
    SessionRecord {
        id: SessionId::parse(id).unwrap(),
        player: PlayerId::parse(player).unwrap(),
        token_hash: TokenHash([token; 32]),
        created_at,
        last_seen: None,
        agent: Some(format!("agent {id}")),
    }
}

fn ids(sessions: &[SessionRecord]) -> Vec<&str> {
    sessions.iter().map(|s| s.id.as_str()).collect()
}

fn pid(id: &str) -> PlayerId {
    PlayerId::parse(id).unwrap()
}

/// Who a token opens, as the core authenticates it: (session id, player name).
async fn opens(embedded: &Embedded, token: u8) -> Option<(String, String)> {
    let found = embedded.store.session_by_token(&TokenHash([token; 32])).await.unwrap();
    found.map(|(session, player)| (session.id.to_string(), player.name))
}

#[tokio::test]
async fn a_player_has_many_sessions_listed_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = open(dir.path());
    let store = &embedded.store;
    store.create_player(player("ron", "Ron"), session("ron", "first", 1, 1000)).await.unwrap();
    assert_eq!(opens(&embedded, 1).await, Some(("first".into(), "Ron".into())));
    for (id, token, at) in [("late", 2, 3000), ("b", 3, 2000), ("a", 4, 2000)] {
        store.create_session(session("ron", id, token, at)).await.unwrap();
    }
    let listed = store.sessions_of(&pid("ron")).await.unwrap();
    assert_eq!(ids(&listed), ["first", "a", "b", "late"], "by created_at, then id");
    assert_eq!(listed[1], session("ron", "a", 4, 2000), "the record as written");
    assert_eq!(opens(&embedded, 2).await, Some(("late".into(), "Ron".into())));
    assert_eq!(opens(&embedded, 9).await, None);
    assert!(store.sessions_of(&pid("nobody")).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_revoked_token_fails_on_the_very_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = open(dir.path());
    let store = &embedded.store;
    store.create_player(player("ron", "Ron"), session("ron", "laptop", 1, 1000)).await.unwrap();
    store.create_session(session("ron", "phone", 2, 2000)).await.unwrap();
    store.create_player(player("hermione", "Hermione"), session("hermione", "hers", 3, 1000)).await.unwrap();
    // Both tokens authenticated once: both are in the cache.
    assert!(opens(&embedded, 1).await.is_some() && opens(&embedded, 2).await.is_some());

    let not_hers = store.delete_session(&pid("hermione"), &SessionId::parse("phone").unwrap()).await;
    assert_eq!(not_hers.unwrap(), None, "only the player's own session is revoked");
    assert!(opens(&embedded, 2).await.is_some());

    let revoked = store.delete_session(&pid("ron"), &SessionId::parse("phone").unwrap()).await.unwrap();
    assert_eq!(revoked, Some(session("ron", "phone", 2, 2000)));
    assert_eq!(opens(&embedded, 2).await, None, "the very next request");
    assert_eq!(opens(&embedded, 1).await, Some(("laptop".into(), "Ron".into())), "the other stays");
    assert_eq!(ids(&store.sessions_of(&pid("ron")).await.unwrap()), ["laptop"]);
    let again = store.delete_session(&pid("ron"), &SessionId::parse("phone").unwrap()).await.unwrap();
    assert_eq!(again, None);

    // Seeing a revoked session brings nothing back.
    let seen = SessionRecord { last_seen: Some(5000), ..session("ron", "phone", 2, 2000) };
    store.touch_session(&seen).await.unwrap();
    assert_eq!(opens(&embedded, 2).await, None);
    assert_eq!(ids(&store.sessions_of(&pid("ron")).await.unwrap()), ["laptop"]);
}

#[tokio::test]
async fn a_rename_reaches_every_read_of_the_player_cached_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = open(dir.path());
    let store = &embedded.store;
    store.create_player(player("ron", "Ron"), session("ron", "laptop", 1, 1000)).await.unwrap();
    store.create_session(session("ron", "phone", 2, 2000)).await.unwrap();
    store.create_player(player("harry", "Harry"), session("harry", "his", 3, 1000)).await.unwrap();
    let map = MapId::parse("burrow").unwrap();
    store.create_map(crate::maps_tests::record("burrow", "harry", true)).await.unwrap();
    store.add_member(&map, &pid("ron")).await.unwrap();
    assert_eq!(opens(&embedded, 1).await, Some(("laptop".into(), "Ron".into())), "cached now");

    assert!(store.rename_player(&pid("ron"), "Ronald").await.unwrap());
    assert_eq!(opens(&embedded, 1).await, Some(("laptop".into(), "Ronald".into())));
    assert_eq!(opens(&embedded, 2).await, Some(("phone".into(), "Ronald".into())));
    assert_eq!(opens(&embedded, 3).await, Some(("his".into(), "Harry".into())), "others untouched");
    assert_eq!(store.player(&pid("ron")).await.unwrap().unwrap().name, "Ronald");
    let members = store.members(&map).await.unwrap();
    assert_eq!(members, [(pid("harry"), "Harry".into()), (pid("ron"), "Ronald".into())]);
    assert!(!store.rename_player(&pid("nobody"), "X").await.unwrap());
    assert_eq!(store.player(&pid("nobody")).await.unwrap(), None, "a rename creates no one");
}

#[tokio::test]
async fn a_session_seen_keeps_its_time_in_the_database_and_in_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = open(dir.path());
    let store = &embedded.store;
    store.create_player(player("ron", "Ron"), session("ron", "laptop", 1, 1000)).await.unwrap();
    let (cached, _) = store.session_by_token(&TokenHash([1; 32])).await.unwrap().unwrap();
    assert_eq!(cached.last_seen, None);
    store.touch_session(&SessionRecord { last_seen: Some(60_000), ..cached.clone() }).await.unwrap();
    let (again, _) = store.session_by_token(&TokenHash([1; 32])).await.unwrap().unwrap();
    assert_eq!(again.last_seen, Some(60_000), "the cached entry follows");
    assert_eq!(store.sessions_of(&pid("ron")).await.unwrap()[0].last_seen, Some(60_000));
    close(embedded).await;
    let embedded = open(dir.path());
    let (read, _) = embedded.store.session_by_token(&TokenHash([1; 32])).await.unwrap().unwrap();
    assert_eq!(read, SessionRecord { last_seen: Some(60_000), ..cached }, "and it is durable");
}

#[tokio::test]
async fn a_deleted_player_takes_all_its_sessions_and_gains_none() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = open(dir.path());
    let store = &embedded.store;
    store.create_player(player("ron", "Ron"), session("ron", "laptop", 1, 1000)).await.unwrap();
    store.create_session(session("ron", "phone", 2, 2000)).await.unwrap();
    store.create_player(player("harry", "Harry"), session("harry", "his", 3, 1000)).await.unwrap();
    assert!(opens(&embedded, 1).await.is_some());
    store.delete_player(&pid("ron")).await.unwrap();
    assert_eq!((opens(&embedded, 1).await, opens(&embedded, 2).await), (None, None));
    assert!(store.sessions_of(&pid("ron")).await.unwrap().is_empty());
    store.create_session(session("ron", "late", 4, 3000)).await.unwrap();
    assert_eq!(opens(&embedded, 4).await, None, "a session of a deleted player opens nothing");
    assert!(store.sessions_of(&pid("ron")).await.unwrap().is_empty());
    assert_eq!(opens(&embedded, 3).await, Some(("his".into(), "Harry".into())));
    let rows = embedded.feed.db.read(|txn| Ok(txn.open_table(codec::SESSIONS).unwrap().len().unwrap()));
    assert_eq!(rows.unwrap(), 1, "only Harry's session is left");
}

fn code(token: u8, player: &str, expires_at: i64) -> LinkCodeRecord {
    LinkCodeRecord { hash: TokenHash([token; 32]), player: pid(player), expires_at, session: None }
}

fn link_codes(embedded: &Embedded) -> u64 {
    embedded.feed.db.read(|txn| Ok(txn.open_table(codec::LINK_CODES).unwrap().len().unwrap())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_link_code_is_taken_once_even_by_racing_redemptions() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = open(dir.path());
    let later = now_millis() + 600_000;
    for token in 1..=20 {
        embedded.store.create_link_code(code(token, "ron", later)).await.unwrap();
    }
    for token in 1..=20u8 {
        let takers: Vec<_> = (0..4)
            .map(|_| {
                let store = embedded.store.clone();
                tokio::spawn(async move { store.take_link_code(&TokenHash([token; 32])).await.unwrap() })
            })
            .collect();
        let mut got = Vec::new();
        for taker in takers {
            got.extend(taker.await.unwrap());
        }
        assert_eq!(got, [code(token, "ron", later)], "code {token}: exactly one of four gets it");
    }
    assert_eq!(embedded.store.take_link_code(&TokenHash([1; 32])).await.unwrap(), None);
    assert_eq!(link_codes(&embedded), 0);
}

#[tokio::test]
async fn making_a_link_code_drops_the_expired_ones() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = open(dir.path());
    let now = now_millis();
    let store = &embedded.store;
    store.create_link_code(code(1, "ron", now - 1)).await.unwrap();
    store.create_link_code(code(2, "ron", now - 600_000)).await.unwrap();
    store.create_link_code(code(3, "ron", now + 600_000)).await.unwrap();
    assert_eq!(link_codes(&embedded), 1, "the two expired ones went when the third came");
    store.create_link_code(code(4, "harry", now + 600_000)).await.unwrap();
    assert_eq!(link_codes(&embedded), 2);
    assert_eq!(store.take_link_code(&TokenHash([1; 32])).await.unwrap(), None);
    assert_eq!(store.take_link_code(&TokenHash([3; 32])).await.unwrap(), Some(code(3, "ron", now + 600_000)));
}

const OLD_TOKENS: TableDefinition<'static, &[u8; 32], &str> = TableDefinition::new("tokens");

/// Writes a database as the store before sessions did: each player record holds its token's
/// hash, and a table maps the hash to the player.
fn write_old_database(dir: &std::path::Path) {
    let db = redb::Database::create(dir.join("marauder.redb")).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut players = txn.open_table(codec::PLAYERS).unwrap();
        let mut tokens = txn.open_table(OLD_TOKENS).unwrap();
        for (id, name, token, at) in [("ron", "Ron", 1u8, 1111), ("harry", "Harry", 2, 2222)] {
            let json = serde_json::json!({"name": name, "token_hash": vec![token; 32], "created_at": at});
            players.insert(id, serde_json::to_vec(&json).unwrap().as_slice()).unwrap();
            tokens.insert(&[token; 32], id).unwrap();
        }
        // A token whose player's record no longer holds it opened nothing, and still does not.
        tokens.insert(&[9; 32], "ron").unwrap();
    }
    txn.commit().unwrap();
}

#[tokio::test]
async fn a_database_from_before_sessions_turns_each_token_into_a_session_once() {
    let dir = tempfile::tempdir().unwrap();
    write_old_database(dir.path());
    let embedded = open(dir.path());
    let (session, player) = embedded.store.session_by_token(&TokenHash([1; 32])).await.unwrap().unwrap();
    assert_eq!((session.player.as_str(), session.created_at, player.name.as_str()), ("ron", 1111, "Ron"));
    assert_eq!((session.last_seen, session.agent), (None, None));
    assert_eq!(opens(&embedded, 2).await.map(|(_, name)| name), Some("Harry".into()));
    assert_eq!(opens(&embedded, 9).await, None);
    let ron = embedded.store.sessions_of(&pid("ron")).await.unwrap();
    assert_eq!(ids(&ron), [session.id.as_str()]);
    let old_table = embedded.feed.db.read(|txn| Ok(txn.open_table(OLD_TOKENS).is_err())).unwrap();
    assert!(old_table, "the old table is gone");
    let first = session.id;
    close(embedded).await;

    let embedded = open(dir.path());
    let ron = embedded.store.sessions_of(&pid("ron")).await.unwrap();
    assert_eq!(ids(&ron), [first.as_str()], "moved once: the same one session");
    assert_eq!(embedded.store.player(&pid("ron")).await.unwrap().unwrap().created_at, 1111);
    let rows = embedded.feed.db.read(|txn| Ok(txn.open_table(codec::SESSIONS).unwrap().len().unwrap()));
    assert_eq!(rows.unwrap(), 2);
}
