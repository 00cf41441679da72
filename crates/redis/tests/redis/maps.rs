//! Map administration: updates and deletions with the public index, join order, and joins
//! refused by a deleted map.

use marauder_core::protocol::Visibility;
use marauder_core::{MapId, MapRecord, PlayerId, PublicCursor, Store};

use crate::servers::{Backend, Deployment, connect};
use crate::{map, player};

crate::on_both!(
    an_update_moves_the_map_in_and_out_of_the_public_index,
    a_deleted_map_is_gone_with_its_members_lists_and_index_entry,
    members_are_listed_in_join_order,
    a_deleted_map_gains_no_member,
);

async fn listed(backend: &Backend) -> Vec<(PublicCursor, Option<String>)> {
    let page = backend.redis.store.public_maps(None, 100).await.unwrap();
    page.into_iter().map(|(cursor, record)| (cursor, record.map(|r| r.name))).collect()
}

fn at(members: u64, id: &MapId) -> PublicCursor {
    PublicCursor { members, id: id.clone() }
}

async fn exists(backend: &mut Backend, key: String) -> bool {
    let found: u64 = backend.raw.query(redis::cmd("EXISTS").arg(key)).await;
    found == 1
}

async fn an_update_moves_the_map_in_and_out_of_the_public_index(deployment: Deployment) {
    let backend = connect(deployment).await;
    let store = backend.redis.store.clone();
    let (owner, _) = player(&backend, "Minerva", 1).await;
    let (member, _) = player(&backend, "Filius", 2).await;
    let private = map(&backend, &owner.id, Visibility::Private).await;
    assert!(store.add_member(&private.id, &member.id).await.unwrap());
    assert_eq!(listed(&backend).await, []);

    // Private to public: enters with its member count.
    let public = MapRecord { visibility: Visibility::Public, invite_code: None, ..private.clone() };
    let stale = MapRecord { name: "Elsewhere".into(), ..private.clone() };
    assert!(!store.update_map(&stale, public.clone()).await.unwrap(), "not the stored record: nothing");
    assert_eq!(store.map(&private.id).await.unwrap(), Some(private.clone()));
    assert!(store.update_map(&private, public.clone()).await.unwrap());
    assert_eq!(store.map(&private.id).await.unwrap(), Some(public.clone()));
    assert_eq!(listed(&backend).await, [(at(2, &private.id), Some("Hogwarts".to_owned()))]);

    // A rename keeps its place; a new owner is kept.
    let renamed = MapRecord { name: "Transfiguration".into(), owner: member.id.clone(), ..public.clone() };
    assert!(store.update_map(&public, renamed.clone()).await.unwrap());
    assert_eq!(store.map(&private.id).await.unwrap(), Some(renamed.clone()));
    assert_eq!(listed(&backend).await, [(at(2, &private.id), Some("Transfiguration".to_owned()))]);

    // Public to private: leaves it.
    let hidden = MapRecord {
        visibility: Visibility::Private,
        invite_code: Some("new-code".into()),
        ..renamed.clone()
    };
    assert!(store.update_map(&renamed, hidden.clone()).await.unwrap());
    assert_eq!(store.map(&private.id).await.unwrap(), Some(hidden));
    assert_eq!(listed(&backend).await, []);

    // A map that does not exist is not created by an update.
    let ghost = MapRecord { id: MapId::generate(), ..private };
    assert!(!store.update_map(&ghost, ghost.clone()).await.unwrap());
    assert_eq!(store.map(&ghost.id).await.unwrap(), None);
    assert_eq!(listed(&backend).await, []);
}

async fn a_deleted_map_is_gone_with_its_members_lists_and_index_entry(deployment: Deployment) {
    let mut backend = connect(deployment).await;
    let store = backend.redis.store.clone();
    let (owner, _) = player(&backend, "Albus", 1).await;
    let (member, _) = player(&backend, "Aberforth", 2).await;
    let doomed = map(&backend, &owner.id, Visibility::Public).await;
    let kept = map(&backend, &owner.id, Visibility::Public).await;
    assert!(store.add_member(&doomed.id, &member.id).await.unwrap());
    assert_eq!(listed(&backend).await.len(), 2);

    assert!(store.delete_map(&doomed.id).await.unwrap());
    assert_eq!(store.map(&doomed.id).await.unwrap(), None);
    assert_eq!(store.members(&doomed.id).await.unwrap(), []);
    for player in [&owner.id, &member.id] {
        assert!(!store.is_member(&doomed.id, player).await.unwrap());
        assert!(!store.map_ids_of(player).await.unwrap().contains(&doomed.id));
    }
    assert_eq!(store.maps_of(&owner.id).await.unwrap(), std::slice::from_ref(&kept));
    assert_eq!(store.maps_of(&member.id).await.unwrap(), []);
    assert_eq!(listed(&backend).await, [(at(1, &kept.id), Some("Hogwarts".to_owned()))]);
    let prefix = backend.prefix.clone();
    for suffix in ["", ":members", ":joined", ":v"] {
        let key = format!("{prefix}:m:{{{}}}{suffix}", doomed.id);
        assert!(!exists(&mut backend, key.clone()).await, "{key} is left");
    }
    assert!(!store.delete_map(&doomed.id).await.unwrap());
    // A leave racing the deletion leaves nothing behind either.
    assert!(!store.remove_member(&doomed.id, &member.id).await.unwrap());
    assert!(!exists(&mut backend, format!("{prefix}:m:{{{}}}:v", doomed.id)).await);
}

async fn members_are_listed_in_join_order(deployment: Deployment) {
    let mut backend = connect(deployment).await;
    let store = backend.redis.store.clone();
    let (owner, _) = player(&backend, "Owner", 1).await;
    let record = map(&backend, &owner.id, Visibility::Public).await;
    let mut joiners = Vec::new();
    for name in ["Third", "First", "Second"] {
        let (joiner, _) = player(&backend, name, 2).await;
        assert!(store.add_member(&record.id, &joiner.id).await.unwrap());
        assert!(!store.add_member(&record.id, &joiner.id).await.unwrap(), "a second join changes nothing");
        joiners.push(joiner.id);
    }
    let names = |members: Vec<(PlayerId, String)>| members.into_iter().map(|(_, n)| n).collect::<Vec<_>>();
    assert_eq!(names(store.members(&record.id).await.unwrap()), ["Owner", "Third", "First", "Second"]);

    // Leaving and joining again goes to the end; a rename shows.
    assert!(store.remove_member(&record.id, &joiners[1]).await.unwrap());
    assert!(store.add_member(&record.id, &joiners[1]).await.unwrap());
    assert!(store.rename_player(&joiners[0], "Renamed").await.unwrap());
    let members = store.members(&record.id).await.unwrap();
    assert_eq!(names(members.clone()), ["Owner", "Renamed", "Second", "First"]);
    assert_eq!(members[1].0, joiners[0]);

    // A member from before the join order was kept counts as the earliest.
    let (veteran, _) = player(&backend, "Veteran", 0).await;
    let members_key = format!("{}:m:{{{}}}:members", backend.prefix, record.id);
    let _: u64 = backend.raw.query(redis::cmd("SADD").arg(members_key).arg(veteran.id.as_str())).await;
    assert_eq!(
        names(store.members(&record.id).await.unwrap()),
        ["Veteran", "Owner", "Renamed", "Second", "First"]
    );
}

async fn a_deleted_map_gains_no_member(deployment: Deployment) {
    let mut backend = connect(deployment).await;
    let store = backend.redis.store.clone();
    let (owner, _) = player(&backend, "Tom", 1).await;
    let (late, _) = player(&backend, "Late", 2).await;
    let record = map(&backend, &owner.id, Visibility::Public).await;
    assert!(store.delete_map(&record.id).await.unwrap());
    assert!(!store.add_member(&record.id, &late.id).await.unwrap());
    assert!(!store.is_member(&record.id, &late.id).await.unwrap());
    assert_eq!(store.map_ids_of(&late.id).await.unwrap().len(), 0);
    let prefix = backend.prefix.clone();
    for key in [
        format!("{prefix}:m:{{{}}}", record.id),
        format!("{prefix}:m:{{{}}}:members", record.id),
        format!("{prefix}:m:{{{}}}:joined", record.id),
        format!("{prefix}:m:{{{}}}:v", record.id),
        format!("{prefix}:p:{{{}}}:maps", late.id),
    ] {
        assert!(!exists(&mut backend, key.clone()).await, "{key} was written");
    }
    assert_eq!(listed(&backend).await, []);
}
