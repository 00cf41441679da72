//! Map administration on the embedded store: members in join order, a deleted map gaining no
//! member, updates that keep the public index right, and a deletion that leaves nothing of
//! the map (records, memberships, counts, index entry, cached map ids).

use marauder_core::protocol::Visibility;
use marauder_core::{MapId, MapRecord, PlayerId, PublicCursor, Store};
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::codec;
use crate::store_tests::{close, open};

/// The public index's table of member counts, as `public.rs` lays it out.
const MEMBER_COUNTS: TableDefinition<'static, &str, u64> = TableDefinition::new("member_counts");

pub(crate) fn record(id: &str, owner: &str, public: bool) -> MapRecord {
    let visibility = if public { Visibility::Public } else { Visibility::Private };
    MapRecord {
        id: MapId::parse(id).unwrap(),
        name: format!("Map {id}"),
        owner: PlayerId::parse(owner).unwrap(),
        visibility,
        invite_code: (!public).then(|| "code".into()),
        created_at: 0,
    }
}

fn pid(id: &str) -> PlayerId {
    PlayerId::parse(id).unwrap()
}

fn mid(id: &str) -> MapId {
    MapId::parse(id).unwrap()
}

async fn with_players(store: &crate::EmbeddedStore, ids: &[&str]) {
    for id in ids {
        let player = crate::store_tests::player(id, &id.to_uppercase());
        let session = marauder_core::SessionRecord {
            id: marauder_core::SessionId::generate(),
            player: pid(id),
            token_hash: marauder_core::TokenHash::of(id),
            created_at: 0,
            last_seen: None,
            agent: None,
        };
        store.create_player(player, session).await.unwrap();
    }
}

async fn member_ids(store: &crate::EmbeddedStore, map: &str) -> Vec<String> {
    store.members(&mid(map)).await.unwrap().into_iter().map(|(id, _)| id.into_string()).collect()
}

async fn public(store: &crate::EmbeddedStore) -> Vec<(u64, String)> {
    let page = store.public_maps(None, 100).await.unwrap();
    page.into_iter().map(|(PublicCursor { members, id }, _)| (members, id.into_string())).collect()
}

#[tokio::test]
async fn members_are_listed_in_the_order_they_joined_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = open(dir.path());
    let store = &embedded.store;
    with_players(store, &["owner", "zed", "amy", "max"]).await;
    store.create_map(record("m", "owner", true)).await.unwrap();
    for player in ["zed", "amy", "max"] {
        assert!(store.add_member(&mid("m"), &pid(player)).await.unwrap());
    }
    assert_eq!(member_ids(store, "m").await, ["owner", "zed", "amy", "max"], "not by id");
    assert!(store.remove_member(&mid("m"), &pid("zed")).await.unwrap());
    assert!(store.add_member(&mid("m"), &pid("zed")).await.unwrap());
    assert!(!store.add_member(&mid("m"), &pid("zed")).await.unwrap(), "already a member");
    assert_eq!(member_ids(store, "m").await, ["owner", "amy", "max", "zed"], "a rejoin is last");
    let names = store.members(&mid("m")).await.unwrap();
    assert_eq!(names[0], (pid("owner"), "OWNER".into()));
    close(embedded).await;

    let embedded = open(dir.path());
    let store = &embedded.store;
    store.add_member(&mid("m"), &pid("amy")).await.unwrap();
    with_players(store, &["bob"]).await;
    store.add_member(&mid("m"), &pid("bob")).await.unwrap();
    assert_eq!(member_ids(store, "m").await, ["owner", "amy", "max", "zed", "bob"]);
}

#[tokio::test]
async fn memberships_from_before_join_order_come_first_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = open(dir.path());
    let store = &embedded.store;
    with_players(store, &["owner", "zed", "amy", "max", "bob"]).await;
    store.create_map(record("m", "owner", true)).await.unwrap();
    for player in ["zed", "amy", "max", "bob"] {
        store.add_member(&mid("m"), &pid(player)).await.unwrap();
    }
    // As a database from before join numbers has them: these memberships have none.
    let db = embedded.feed.db.get().unwrap();
    let txn = db.begin_write().unwrap();
    for player in ["max", "zed"] {
        txn.open_table(codec::JOINED).unwrap().remove(("m", player)).unwrap();
    }
    txn.commit().unwrap();
    drop(db);
    assert_eq!(member_ids(store, "m").await, ["max", "zed", "owner", "amy", "bob"]);
}

#[tokio::test]
async fn a_map_that_does_not_exist_gains_no_member_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = open(dir.path());
    let store = &embedded.store;
    with_players(store, &["ron"]).await;
    assert!(!store.add_member(&mid("nowhere"), &pid("ron")).await.unwrap());
    assert!(!store.is_member(&mid("nowhere"), &pid("ron")).await.unwrap());
    assert!(store.map_ids_of(&pid("ron")).await.unwrap().is_empty());
    assert!(store.members(&mid("nowhere")).await.unwrap().is_empty());
    let rows = embedded.feed.db.read(|txn| {
        let members = txn.open_table(codec::MEMBERS).unwrap().len().unwrap();
        let joined = txn.open_table(codec::JOINED).unwrap().len().unwrap();
        let counts = txn.open_table(MEMBER_COUNTS).unwrap().len().unwrap();
        Ok((members, joined, counts))
    });
    assert_eq!(rows.unwrap(), (0, 0, 0));
}

#[tokio::test]
async fn an_update_keeps_the_public_index_right() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = open(dir.path());
    let store = &embedded.store;
    with_players(store, &["owner", "a", "b"]).await;
    store.create_map(record("big", "owner", true)).await.unwrap();
    store.create_map(record("small", "owner", true)).await.unwrap();
    for player in ["a", "b"] {
        store.add_member(&mid("big"), &pid(player)).await.unwrap();
    }
    assert_eq!(public(store).await, [(3, "big".into()), (1, "small".into())]);

    let private = MapRecord { name: "Hidden".into(), ..record("big", "owner", false) };
    let stale = MapRecord { name: "Elsewhere".into(), ..record("big", "owner", true) };
    assert!(!store.update_map(&stale, private.clone()).await.unwrap(), "not the stored record: nothing");
    assert_eq!(store.map(&mid("big")).await.unwrap(), Some(record("big", "owner", true)));
    assert!(store.update_map(&record("big", "owner", true), private.clone()).await.unwrap());
    assert_eq!(store.map(&mid("big")).await.unwrap(), Some(private.clone()));
    assert_eq!(public(store).await, [(1, "small".into())], "private: out of the index");
    store.add_member(&mid("big"), &pid("owner")).await.unwrap(); // no change: already in
    store.remove_member(&mid("big"), &pid("b")).await.unwrap();
    assert_eq!(public(store).await, [(1, "small".into())], "its count moves, not into the index");

    let renamed = MapRecord { name: "Open".into(), ..record("big", "a", true) };
    assert!(store.update_map(&private, renamed.clone()).await.unwrap());
    assert_eq!(public(store).await, [(2, "big".into()), (1, "small".into())], "public: back, 2 members");
    assert!(store.update_map(&renamed, MapRecord { name: "Again".into(), ..renamed.clone() }).await.unwrap());
    assert_eq!(public(store).await, [(2, "big".into()), (1, "small".into())], "listed once");

    let nowhere = record("nowhere", "owner", true);
    assert!(!store.update_map(&nowhere, nowhere.clone()).await.unwrap());
    assert_eq!(store.map(&mid("nowhere")).await.unwrap(), None, "an update creates no map");
    assert_eq!(public(store).await.len(), 2);
}

#[tokio::test]
async fn a_deleted_map_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = open(dir.path());
    let store = &embedded.store;
    with_players(store, &["owner", "a", "b"]).await;
    store.create_map(record("gone", "owner", true)).await.unwrap();
    store.create_map(record("kept", "a", true)).await.unwrap();
    for player in ["a", "b"] {
        store.add_member(&mid("gone"), &pid(player)).await.unwrap();
    }
    // The location path has each member's map ids in memory now.
    assert_eq!(store.map_ids_of(&pid("a")).await.unwrap().len(), 2);
    assert_eq!(store.map_ids_of(&pid("b")).await.unwrap().len(), 1);

    assert!(store.delete_map(&mid("gone")).await.unwrap());
    assert_eq!(store.map(&mid("gone")).await.unwrap(), None);
    assert!(store.members(&mid("gone")).await.unwrap().is_empty());
    for player in ["owner", "a", "b"] {
        assert!(!store.is_member(&mid("gone"), &pid(player)).await.unwrap(), "{player}");
        let maps = store.map_ids_of(&pid(player)).await.unwrap();
        assert!(!maps.contains(&mid("gone")), "{player}: the cached map ids were dropped");
    }
    assert_eq!(store.map_ids_of(&pid("a")).await.unwrap().as_ref(), [mid("kept")]);
    let a_maps: Vec<MapId> = store.maps_of(&pid("a")).await.unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(a_maps, [mid("kept")]);
    assert_eq!(public(store).await, [(1, "kept".into())]);
    let rows = embedded.feed.db.read(|txn| {
        let gone = |key: &(&str, &str)| key.0 == "gone" || key.1 == "gone";
        let mut left = 0;
        for table in [codec::MEMBERS, codec::MEMBERSHIPS] {
            for row in txn.open_table(table).unwrap().iter().unwrap() {
                left += usize::from(gone(&row.unwrap().0.value()));
            }
        }
        for row in txn.open_table(codec::JOINED).unwrap().iter().unwrap() {
            left += usize::from(gone(&row.unwrap().0.value()));
        }
        let counts = txn.open_table(MEMBER_COUNTS).unwrap();
        Ok((left, counts.get("gone").unwrap().is_some(), counts.get("kept").unwrap().map(|v| v.value())))
    });
    assert_eq!(rows.unwrap(), (0, false, Some(1)));

    assert!(!store.delete_map(&mid("gone")).await.unwrap(), "deleted once");
    assert!(!store.add_member(&mid("gone"), &pid("a")).await.unwrap(), "a deleted map gains no member");
    assert_eq!(public(store).await, [(1, "kept".into())]);
}

#[tokio::test]
async fn deleting_a_private_map_and_its_owner_leaves_the_index_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = open(dir.path());
    let store = &embedded.store;
    with_players(store, &["owner", "a"]).await;
    store.create_map(record("secret", "owner", false)).await.unwrap();
    store.create_map(record("open", "a", true)).await.unwrap();
    store.add_member(&mid("secret"), &pid("a")).await.unwrap();
    assert!(store.delete_map(&mid("secret")).await.unwrap());
    assert_eq!(public(store).await, [(1, "open".into())]);
    assert_eq!(store.delete_player(&pid("a")).await.unwrap(), [mid("open")], "only the map left");
    assert_eq!(public(store).await, [(0, "open".into())]);
}
