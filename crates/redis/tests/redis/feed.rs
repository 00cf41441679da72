//! The feed's publish of every kind of change: the seq it gives, what it does to the latest
//! locations, what the stream replays and the listener delivers, and a deleted map.

use std::time::Duration;

use marauder_core::protocol::{Event, EventBody, Visibility};
use marauder_core::{Change, Feed, MapId, PlayerRecord, Replay, Store};

use crate::servers::{Backend, Deployment, connect};
use crate::{located, map, player};

crate::on_both!(
    each_kind_of_change_takes_the_next_seq_and_its_effect_on_the_latest,
    a_deleted_map_publishes_its_last_event_and_then_nothing,
);

fn bodies(replay: Replay) -> Vec<(u64, EventBody)> {
    match replay {
        Replay::Events(events) => events.iter().map(|e| (e.seq, e.body.clone())).collect(),
        Replay::Reset(snapshot) => panic!("a reset at {}", snapshot.seq),
    }
}

/// The next `count` events the listener hands to the sink (a generous patience for each).
async fn heard(backend: &mut Backend, map: &MapId, count: usize) -> Vec<(u64, EventBody)> {
    let mut heard = Vec::new();
    for _ in 0..count {
        let next = tokio::time::timeout(Duration::from_secs(20), backend.events.recv()).await;
        let (on, event): (MapId, std::sync::Arc<Event>) =
            next.expect("an event within the patience").expect("the sink lives");
        assert_eq!(&on, map);
        heard.push((event.seq, event.body.clone()));
    }
    heard
}

/// A public map of `owner` that `member` joined (seq 1) and the owner reported from (seq 2).
async fn a_map_with_two_located_members(
    backend: &Backend,
    owner: &PlayerRecord,
    member: &PlayerRecord,
) -> MapId {
    let (store, feed) = (&backend.redis.store, &backend.redis.feed);
    let id = map(backend, &owner.id, Visibility::Public).await.id;
    assert!(store.add_member(&id, &member.id).await.unwrap());
    let latest = Some(located(member, &member.name, 100));
    let joined = Change::Joined { player: member.id.to_string(), name: member.name.clone(), latest };
    assert_eq!(feed.publish(&id, joined).await.unwrap(), Some(1));
    let location = Change::Location(located(owner, &owner.name, 200));
    assert_eq!(feed.publish(&id, location).await.unwrap(), Some(2));
    id
}

async fn each_kind_of_change_takes_the_next_seq_and_its_effect_on_the_latest(deployment: Deployment) {
    let mut backend = connect(deployment).await;
    let (store, feed) = (backend.redis.store.clone(), backend.redis.feed.clone());
    let (owner, _) = player(&backend, "Luna", 1).await;
    let (member, _) = player(&backend, "Ginny", 2).await;
    let (stranger, _) = player(&backend, "Draco", 3).await;
    let id = a_map_with_two_located_members(&backend, &owner, &member).await;
    let _listening = feed.listen(&id).await.unwrap();

    // A non-member's location and rename publish nothing.
    let location = Change::Location(located(&stranger, "Draco", 300));
    assert_eq!(feed.publish(&id, location).await.unwrap(), None);
    let renamed = Change::Renamed { player: stranger.id.to_string(), name: "Malfoy".into(), latest: None };
    assert_eq!(feed.publish(&id, renamed).await.unwrap(), None);

    // A rename carries the newest point under the new name into the snapshot.
    let latest = Some(located(&owner, "Loony", 200));
    let renamed = Change::Renamed { player: owner.id.to_string(), name: "Loony".into(), latest };
    assert_eq!(feed.publish(&id, renamed).await.unwrap(), Some(3));
    let mut expected = vec![located(&owner, "Loony", 200), located(&member, "Ginny", 100)];
    expected.sort_by(|a, b| a.player.cmp(&b.player));
    let snapshot = feed.snapshot(&id).await.unwrap();
    assert_eq!((snapshot.seq, &snapshot.locations), (3, &expected));

    let owner_id = owner.id.to_string();
    let updated =
        Change::MapUpdated { name: "Ravenclaw".into(), visibility: Visibility::Private, owner: owner_id };
    assert_eq!(feed.publish(&id, updated).await.unwrap(), Some(4));
    assert_eq!(feed.snapshot(&id).await.unwrap().locations, expected);

    assert!(store.remove_member(&id, &member.id).await.unwrap());
    let removed = Change::Left { player: member.id.to_string(), name: "Ginny".into(), removed: true };
    assert_eq!(feed.publish(&id, removed).await.unwrap(), Some(5));
    let snapshot = feed.snapshot(&id).await.unwrap();
    assert_eq!((snapshot.seq, snapshot.locations), (5, vec![located(&owner, "Loony", 200)]));

    let wanted = vec![
        (3, EventBody::Renamed { player: owner.id.to_string(), name: "Loony".into() }),
        (
            4,
            EventBody::MapUpdated {
                name: "Ravenclaw".into(),
                visibility: Visibility::Private,
                owner: owner.id.to_string(),
            },
        ),
        (5, EventBody::Left { player: member.id.to_string(), name: "Ginny".into(), removed: Some(true) }),
    ];
    assert_eq!(bodies(feed.replay(&id, 2).await.unwrap()), wanted);
    // The listener decoded and delivered each, in order, once.
    assert_eq!(heard(&mut backend, &id, 3).await, wanted);
    assert!(backend.events.try_recv().is_err(), "no more events");
}

async fn a_deleted_map_publishes_its_last_event_and_then_nothing(deployment: Deployment) {
    let mut backend = connect(deployment).await;
    let (store, feed) = (backend.redis.store.clone(), backend.redis.feed.clone());
    let (owner, _) = player(&backend, "Luna", 1).await;
    let (member, _) = player(&backend, "Ginny", 2).await;
    let id = a_map_with_two_located_members(&backend, &owner, &member).await;
    let _listening = feed.listen(&id).await.unwrap();

    // The store first, then the last event: the latest locations go with it.
    assert!(store.delete_map(&id).await.unwrap());
    assert_eq!(feed.publish(&id, Change::Deleted).await.unwrap(), Some(3));
    let snapshot = feed.snapshot(&id).await.unwrap();
    assert_eq!((snapshot.seq, snapshot.locations), (3, vec![]));
    assert_eq!(bodies(feed.replay(&id, 2).await.unwrap()), [(3, EventBody::MapDeleted {})]);
    assert_eq!(heard(&mut backend, &id, 1).await, [(3, EventBody::MapDeleted {})]);

    // Nothing publishes after it: a former member's location, a late update or join.
    let location = Change::Location(located(&owner, "Luna", 400));
    assert_eq!(feed.publish(&id, location).await.unwrap(), None);
    let owner_id = owner.id.to_string();
    let late = Change::MapUpdated { name: "Late".into(), visibility: Visibility::Public, owner: owner_id };
    assert_eq!(feed.publish(&id, late).await.unwrap(), None);
    let late_join = Change::Joined { player: member.id.to_string(), name: "Ginny".into(), latest: None };
    assert_eq!(feed.publish(&id, late_join).await.unwrap(), None);
    assert_eq!(feed.snapshot(&id).await.unwrap().seq, 3);
    assert!(backend.events.try_recv().is_err(), "nothing after map_deleted");

    // The seq and the stream expire; the latest locations are gone already.
    let prefix = backend.prefix.clone();
    for suffix in [":seq", ":events"] {
        let key = format!("{prefix}:m:{{{id}}}{suffix}");
        let ttl: i64 = backend.raw.query(redis::cmd("TTL").arg(&key)).await;
        assert!(ttl > 0 && ttl <= 3600, "{key} expires in {ttl}");
    }
    for suffix in [":latest", ":latest_ts"] {
        let key = format!("{prefix}:m:{{{id}}}{suffix}");
        let found: u64 = backend.raw.query(redis::cmd("EXISTS").arg(&key)).await;
        assert_eq!(found, 0, "{key} is left");
    }
}
