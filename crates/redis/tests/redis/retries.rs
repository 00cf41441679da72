//! Writes retried by the client library (the same script sent again after a timeout) and
//! membership changes repeated or racing: each is stored and published once, and the member
//! set agrees with the map's last membership event.

use marauder_core::protocol::{EventBody, Fix, Visibility};
use marauder_core::{Change, Feed, Replay, Store};

use crate::servers::{Deployment, connect};
use crate::{located, map, player};

crate::on_both!(
    a_retried_location_publish_answers_its_seq_and_publishes_nothing_twice,
    a_retried_trail_append_stores_the_point_once,
    a_deleted_players_point_is_not_stored,
    a_join_and_a_leave_publish_only_when_the_member_set_changes,
    a_run_of_locations_takes_consecutive_seqs_once_even_retried,
);

fn kinds(replay: Replay) -> Vec<(u64, &'static str)> {
    let Replay::Events(events) = replay else { panic!("a reset") };
    events
        .iter()
        .map(|e| {
            let kind = match &e.body {
                EventBody::Location(_) => "location",
                EventBody::Joined { .. } => "joined",
                EventBody::Left { .. } => "left",
                _ => "other",
            };
            (e.seq, kind)
        })
        .collect()
}

async fn a_retried_location_publish_answers_its_seq_and_publishes_nothing_twice(deployment: Deployment) {
    let backend = connect(deployment).await;
    let feed = &backend.redis.feed;
    let (harry, _) = player(&backend, "Harry", 1).await;
    let id = map(&backend, &harry.id, Visibility::Public).await.id;
    let first = Change::Location(located(&harry, "Harry", 10));
    assert_eq!(feed.publish_as(&id, first.clone(), "k1").await.unwrap(), Some(1));
    assert_eq!(feed.publish_as(&id, first.clone(), "k1").await.unwrap(), Some(1), "the retry");
    // A new write with its own key takes the next seq, and then the old key is forgotten.
    let second = Change::Location(located(&harry, "Harry", 20));
    assert_eq!(feed.publish_as(&id, second, "k2").await.unwrap(), Some(2));
    assert_eq!(feed.publish(&id, first).await.unwrap(), Some(3), "an unkeyed publish is new");
    assert_eq!(
        kinds(feed.replay(&id, 0).await.unwrap()),
        [(1, "location"), (2, "location"), (3, "location")]
    );
}

async fn a_retried_trail_append_stores_the_point_once(deployment: Deployment) {
    let backend = connect(deployment).await;
    let store = &backend.redis.store;
    let (harry, _) = player(&backend, "Harry", 1).await;
    let id = map(&backend, &harry.id, Visibility::Public).await.id;
    let fix = located(&harry, "Harry", 10).fix;
    for _ in 0..3 {
        let maps = store.append_trail_as(&harry.id, &fix, "k1").await.unwrap();
        assert_eq!(&*maps, std::slice::from_ref(&id), "every retry still answers the maps");
    }
    let later = Fix { ts: 11, ..fix.clone() };
    store.append_trail_as(&harry.id, &later, "k2").await.unwrap();
    let trail = store.trail(&harry.id, None, 100).await.unwrap();
    assert_eq!(trail.iter().map(|f| f.ts).collect::<Vec<_>>(), [10, 11]);
}

async fn a_deleted_players_point_is_not_stored(deployment: Deployment) {
    let mut backend = connect(deployment).await;
    let store = backend.redis.store.clone();
    let (harry, _) = player(&backend, "Harry", 1).await;
    let id = map(&backend, &harry.id, Visibility::Public).await.id;
    assert_eq!(store.delete_player(&harry.id).await.unwrap(), std::slice::from_ref(&id));
    // A socket of the deleted player on another handler sends one more point.
    let maps = store.append_trail_and_map_ids(&harry.id, &located(&harry, "Harry", 10).fix).await.unwrap();
    assert!(maps.is_empty());
    let trail_keys: u64 = backend
        .raw
        .query(redis::cmd("EXISTS").arg(format!("{}:p:{{{}}}:trail", backend.prefix, harry.id)))
        .await;
    assert_eq!(trail_keys, 0, "no trail key is created again");
}

async fn a_join_and_a_leave_publish_only_when_the_member_set_changes(deployment: Deployment) {
    let backend = connect(deployment).await;
    let (store, feed) = (backend.redis.store.clone(), backend.redis.feed.clone());
    let (owner, _) = player(&backend, "Minerva", 1).await;
    let (ron, _) = player(&backend, "Ron", 2).await;
    let id = map(&backend, &owner.id, Visibility::Public).await.id;
    let joined = || Change::Joined { player: ron.id.to_string(), name: "Ron".into(), latest: None };
    let left = || Change::Left { player: ron.id.to_string(), name: "Ron".into(), removed: false };
    assert_eq!(feed.publish_membership(&*store, &id, joined()).await.unwrap(), Some(1));
    assert!(store.is_member(&id, &ron.id).await.unwrap());
    assert_eq!(&*store.map_ids_of(&ron.id).await.unwrap(), std::slice::from_ref(&id));
    assert_eq!(feed.publish_membership(&*store, &id, joined()).await.unwrap(), None, "a second join");
    assert_eq!(feed.publish_membership(&*store, &id, left()).await.unwrap(), Some(2));
    assert_eq!(feed.publish_membership(&*store, &id, left()).await.unwrap(), None, "a second leave");
    assert!(!store.is_member(&id, &ron.id).await.unwrap());
    assert!(store.map_ids_of(&ron.id).await.unwrap().is_empty());
    assert_eq!(kinds(feed.replay(&id, 0).await.unwrap()), [(1, "joined"), (2, "left")]);
    // The order members joined in follows the member set.
    assert_eq!(feed.publish_membership(&*store, &id, joined()).await.unwrap(), Some(3));
    let members: Vec<String> =
        store.members(&id).await.unwrap().into_iter().map(|(p, _)| p.into_string()).collect();
    assert_eq!(members, [owner.id.to_string(), ron.id.to_string()]);
    // A deleted map takes no member, and the player's list does not keep it.
    assert!(store.delete_map(&id).await.unwrap());
    let (hermione, _) = player(&backend, "Hermione", 3).await;
    let late = Change::Joined { player: hermione.id.to_string(), name: "Hermione".into(), latest: None };
    assert_eq!(feed.publish_membership(&*store, &id, late).await.unwrap(), None);
    assert!(store.map_ids_of(&hermione.id).await.unwrap().is_empty());
}

async fn a_run_of_locations_takes_consecutive_seqs_once_even_retried(deployment: Deployment) {
    let backend = connect(deployment).await;
    let (store, feed) = (backend.redis.store.clone(), backend.redis.feed.clone());
    let (harry, _) = player(&backend, "Harry", 1).await;
    let (draco, _) = player(&backend, "Draco", 2).await;
    let id = map(&backend, &harry.id, Visibility::Public).await.id;
    let run: Vec<_> = [30, 10, 20].iter().map(|&ts| located(&harry, "Harry", ts)).collect();
    assert_eq!(feed.publish_locations_as(&id, run.clone(), "k1").await.unwrap(), Some(3));
    assert_eq!(feed.publish_locations_as(&id, run, "k1").await.unwrap(), Some(3), "the retry");
    let stranger = vec![located(&draco, "Draco", 40)];
    assert_eq!(feed.publish_locations_as(&id, stranger, "k2").await.unwrap(), None, "not a member");
    assert_eq!(
        kinds(feed.replay(&id, 0).await.unwrap()),
        [(1, "location"), (2, "location"), (3, "location")]
    );
    // The newest point is the latest, whatever the order of the run.
    let snapshot = feed.snapshot(&id).await.unwrap();
    assert_eq!(snapshot.locations.iter().map(|l| l.fix.ts).collect::<Vec<_>>(), [30]);
    // A run of trail points is stored once, in order, and a retry stores nothing more.
    let fixes: Vec<Fix> = [1, 2, 3].iter().map(|&ts| located(&harry, "Harry", ts).fix).collect();
    for _ in 0..2 {
        assert_eq!(
            &*store.append_trails_as(&harry.id, &fixes, "k3").await.unwrap(),
            std::slice::from_ref(&id)
        );
    }
    let trail = store.trail(&harry.id, None, 100).await.unwrap();
    assert_eq!(trail.iter().map(|f| f.ts).collect::<Vec<_>>(), [1, 2, 3]);
}
