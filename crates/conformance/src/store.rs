//! The store's memberships that the feed and the location path rely on: who is a member,
//! in which order, and each player's map ids, after joins, leaves and a deletion; and a
//! deleted player's late location (a socket still open on another handler) stored nowhere.

use marauder_core::protocol::Fix;
use marauder_core::{MapId, PlayerId, PlayerRecord, Store};

use crate::Backend;
use crate::fixtures::{at, joined, map, membership, player};

async fn map_ids(store: &dyn Store, player: &PlayerId) -> Vec<MapId> {
    let mut ids = store.map_ids_of(player).await.unwrap().to_vec();
    ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    ids
}

fn sorted(mut ids: Vec<MapId>) -> Vec<MapId> {
    ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    ids
}

fn named(players: &[&PlayerRecord]) -> Vec<(PlayerId, String)> {
    players.iter().map(|p| (p.id.clone(), p.name.clone())).collect()
}

pub async fn the_store_answers_the_memberships_the_feed_relies_on(backend: &impl Backend) {
    let handler = backend.handler().await;
    let store = &*handler.store;
    let (owner, ginny) = (player(store, "Luna").await, player(store, "Ginny").await);
    let (first, second) = (map(store, &owner).await, map(store, &owner).await);
    assert!(store.is_member(&first, &owner.id).await.unwrap(), "the owner is the first member");
    assert_eq!(map_ids(store, &owner.id).await, sorted(vec![first.clone(), second.clone()]));
    assert!(!store.is_member(&first, &ginny.id).await.unwrap());
    assert_eq!(map_ids(store, &ginny.id).await, vec![]);

    assert!(store.add_member(&first, &ginny.id).await.unwrap(), "joins");
    assert!(!store.add_member(&first, &ginny.id).await.unwrap(), "already a member");
    assert!(store.is_member(&first, &ginny.id).await.unwrap());
    assert_eq!(map_ids(store, &ginny.id).await, vec![first.clone()]);
    assert!(store.add_member(&second, &ginny.id).await.unwrap());
    assert_eq!(map_ids(store, &ginny.id).await, sorted(vec![first.clone(), second.clone()]));
    assert_eq!(store.members(&first).await.unwrap(), named(&[&owner, &ginny]), "in join order");

    assert!(store.remove_member(&first, &ginny.id).await.unwrap(), "leaves");
    assert!(!store.remove_member(&first, &ginny.id).await.unwrap(), "not a member any more");
    assert!(!store.is_member(&first, &ginny.id).await.unwrap());
    assert_eq!(map_ids(store, &ginny.id).await, vec![second.clone()]);
    assert_eq!(store.members(&first).await.unwrap(), named(&[&owner]));

    // A deleted map loses every member, and gains none.
    assert!(store.delete_map(&second).await.unwrap());
    assert!(!store.is_member(&second, &ginny.id).await.unwrap());
    assert_eq!(map_ids(store, &ginny.id).await, vec![]);
    assert_eq!(map_ids(store, &owner.id).await, vec![first.clone()]);
    assert!(!store.add_member(&second, &ginny.id).await.unwrap(), "a map without a record");
    assert!(!store.is_member(&second, &ginny.id).await.unwrap());
    assert_eq!(map_ids(store, &ginny.id).await, vec![]);
}

pub async fn a_deleted_players_late_location_leaves_no_trail_and_reaches_no_map(backend: &impl Backend) {
    let first = backend.handler().await;
    // The late location comes through another handler where the backend has one.
    let second = backend.second_handler().await;
    let late = second.as_ref().unwrap_or(&first);
    let owner = player(&*first.store, "Luna").await;
    let ginny = player(&*first.store, "Ginny").await;
    let id = map(&*first.store, &owner).await;
    assert_eq!(membership(&first, &id, joined(&ginny, None)).await, Some(1));
    let point = |ts| Fix { ts, ..at(&ginny, "Ginny", ts).fix };
    let maps = late.store.append_trail_and_map_ids(&ginny.id, &point(10)).await.unwrap();
    assert_eq!(maps.to_vec(), vec![id.clone()], "a member's location goes to the map");
    late.store.flush().await.unwrap();
    assert_eq!(first.store.trail(&ginny.id, None, 10).await.unwrap(), vec![point(10)]);

    assert_eq!(first.store.delete_player(&ginny.id).await.unwrap(), vec![id.clone()]);
    let maps = late.store.append_trail_and_map_ids(&ginny.id, &point(20)).await.unwrap();
    assert_eq!(maps.to_vec(), vec![], "it reaches no map");
    late.store.append_trail(&ginny.id, &point(30)).await.unwrap();
    // Whatever waited to be written is written (or dropped) now.
    late.store.flush().await.unwrap();
    first.store.flush().await.unwrap();
    for store in [&first.store, &late.store] {
        assert_eq!(store.trail(&ginny.id, None, 10).await.unwrap(), vec![], "no point is kept");
        assert_eq!(store.latest(&ginny.id).await.unwrap(), None);
        assert_eq!(store.player(&ginny.id).await.unwrap(), None);
        assert!(!store.is_member(&id, &ginny.id).await.unwrap());
    }
    assert_eq!(first.store.members(&id).await.unwrap(), named(&[&owner]));
}
