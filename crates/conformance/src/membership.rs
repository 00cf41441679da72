//! Membership changes with their event in one step (`Feed::publish_membership`): the event
//! is published exactly when the member set changed, so a repeated join or leave publishes
//! nothing, and a join and a leave racing on two handlers leave a member set that the map's
//! last membership event agrees with.

use marauder_core::protocol::EventBody;
use marauder_core::{Change, MapId, PlayerRecord};

use crate::fixtures::{
    at, body, held, joined, left, location, map, membership, owned_map, player, publish, skipped, snapshot,
};
use crate::{Backend, Handler};

pub async fn a_join_makes_a_member_and_publishes_joined_once(backend: &impl Backend) {
    let mut handler = backend.handler().await;
    let (owner, id, _listening) = owned_map(&handler).await;
    let ginny = player(&*handler.store, "Ginny").await;
    let join = joined(&ginny, Some(at(&ginny, "Ginny", 100)));
    assert_eq!(membership(&handler, &id, join.clone()).await, Some(1));
    assert!(handler.store.is_member(&id, &ginny.id).await.unwrap());
    assert_eq!(handler.store.map_ids_of(&ginny.id).await.unwrap().to_vec(), vec![id.clone()]);
    assert_eq!(publish(&*handler.feed, &id, location(&ginny, 200)).await, Some(2), "a member now");

    assert_eq!(membership(&handler, &id, join.clone()).await, None, "already a member");
    assert_eq!(membership(&handler, &id, joined(&owner, None)).await, None, "the owner is one");
    let mut expected = vec![held(&at(&owner, "Luna", 300)), held(&at(&ginny, "Ginny", 200))];
    expected.sort();
    publish(&*handler.feed, &id, location(&owner, 300)).await.unwrap();
    assert_eq!(snapshot(&*handler.feed, &id).await, (3, expected), "no seq taken by the repeat");
    let heard = handler.heard.events(&id, 3).await;
    assert_eq!(heard[0], (1, body(&join)));
    assert_eq!(
        heard.iter().map(|(seq, b)| (*seq, b.kind())).collect::<Vec<_>>()[1..],
        [(2, "location"), (3, "location")]
    );
}

pub async fn a_leave_ends_the_membership_and_publishes_left_once(backend: &impl Backend) {
    let mut handler = backend.handler().await;
    let (owner, id, _listening) = owned_map(&handler).await;
    let ginny = player(&*handler.store, "Ginny").await;
    membership(&handler, &id, joined(&ginny, Some(at(&ginny, "Ginny", 100)))).await.unwrap();
    assert_eq!(membership(&handler, &id, left(&ginny, false)).await, Some(2));
    assert!(!handler.store.is_member(&id, &ginny.id).await.unwrap());
    assert_eq!(handler.store.map_ids_of(&ginny.id).await.unwrap().to_vec(), vec![]);
    assert_eq!(snapshot(&*handler.feed, &id).await, (2, vec![]), "the point left with the player");
    assert_eq!(publish(&*handler.feed, &id, location(&ginny, 200)).await, None, "not a member");

    assert_eq!(membership(&handler, &id, left(&ginny, false)).await, None, "not a member any more");
    let stranger = player(&*handler.store, "Draco").await;
    assert_eq!(membership(&handler, &id, left(&stranger, true)).await, None, "never a member");
    assert_eq!(publish(&*handler.feed, &id, location(&owner, 300)).await, Some(3), "no seq taken");
    let heard = handler.heard.events(&id, 3).await;
    let left_body = EventBody::Left { player: ginny.id.to_string(), name: "Ginny".into(), removed: None };
    assert_eq!(heard[1], (2, left_body));
    assert_eq!(
        heard.iter().map(|(seq, b)| (*seq, b.kind())).collect::<Vec<_>>(),
        [(1, "joined"), (2, "left"), (3, "location")]
    );
}

pub async fn a_map_without_a_record_takes_no_membership_change(backend: &impl Backend) {
    let handler = backend.handler().await;
    let (owner, id, _listening) = owned_map(&handler).await;
    let ginny = player(&*handler.store, "Ginny").await;
    let never_made = MapId::generate();
    assert_eq!(membership(&handler, &never_made, joined(&ginny, None)).await, None);
    assert!(!handler.store.is_member(&never_made, &ginny.id).await.unwrap());

    let deleted = map(&*handler.store, &owner).await;
    assert!(handler.store.delete_map(&deleted).await.unwrap());
    assert_eq!(publish(&*handler.feed, &deleted, Change::Deleted).await, Some(1));
    assert_eq!(membership(&handler, &deleted, joined(&ginny, None)).await, None, "a join");
    assert_eq!(membership(&handler, &deleted, left(&owner, false)).await, None, "its owner's leave");
    assert!(!handler.store.is_member(&deleted, &ginny.id).await.unwrap());
    assert_eq!(handler.store.map_ids_of(&ginny.id).await.unwrap().to_vec(), vec![]);
    assert_eq!(snapshot(&*handler.feed, &id).await.0, 0, "another map is untouched");
}

/// Rounds of the race: each starts from the state the last one left.
const ROUNDS: usize = 50;

pub async fn a_join_racing_a_leave_on_two_handlers_leaves_members_and_events_agreeing(
    backend: &impl Backend,
) {
    let mut first = backend.handler().await;
    let Some(second) = backend.second_handler().await else {
        return skipped("a join racing a leave on two handlers");
    };
    let (_, id, _listening) = owned_map(&first).await;
    let ginny = player(&*first.store, "Ginny").await;
    let (mut member, mut published) = (false, 0u64);
    let (mut joins, mut leaves) = (0, 0);
    for round in 0..ROUNDS {
        // Each round starts one side a few of its backend's round trips after the other
        // (never a clock): together the rounds sweep the windows between their steps.
        let lag = round / 2 % 6;
        let (join_lag, leave_lag) = if round % 2 == 0 { (0, lag) } else { (lag, 0) };
        let join = spawn_membership(&first, &id, &ginny, joined(&ginny, None), join_lag);
        let leave = spawn_membership(&second, &id, &ginny, left(&ginny, false), leave_lag);
        let answers = [join.await.unwrap(), leave.await.unwrap()];
        let mut seqs: Vec<u64> = answers.iter().flatten().copied().collect();
        seqs.sort_unstable();
        let expected: Vec<u64> = (published + 1..=published + seqs.len() as u64).collect();
        assert_eq!(seqs, expected, "round {round}: one seq each, gap-free");
        let events = first.heard.events(&id, seqs.len()).await;
        assert_eq!(events.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), expected, "round {round}");
        for (seq, event) in &events {
            // Each event changed the member set: a join of a member or a leave of a
            // non-member would contradict it.
            match event {
                EventBody::Joined { .. } if !member => (member, joins) = (true, joins + 1),
                EventBody::Left { .. } if member => (member, leaves) = (false, leaves + 1),
                other => panic!("round {round}: seq {seq} {} when member was {member}", other.kind()),
            }
        }
        published += seqs.len() as u64;
        let stored = first.store.is_member(&id, &ginny.id).await.unwrap();
        assert_eq!(stored, member, "round {round}: the member set and the last membership event agree");
        assert_eq!(second.store.is_member(&id, &ginny.id).await.unwrap(), member, "round {round}");
    }
    assert_eq!(snapshot(&*first.feed, &id).await.0, published);
    // Both sides won some rounds (else the race was never run); a round can publish both.
    assert!(joins > 0 && leaves > 0, "{joins} joins and {leaves} leaves published");
}

/// The membership change on a task of its own, after `lag` round trips of reads.
fn spawn_membership(
    handler: &Handler,
    map: &MapId,
    player: &PlayerRecord,
    change: Change,
    lag: usize,
) -> tokio::task::JoinHandle<Option<u64>> {
    let (store, feed, map) = (handler.store.clone(), handler.feed.clone(), map.clone());
    let player = player.id.clone();
    tokio::spawn(async move {
        for _ in 0..lag {
            store.is_member(&map, &player).await.expect("reads");
        }
        let kind = change.kind();
        let published = feed.publish_membership(&*store, &map, change).await;
        published.unwrap_or_else(|err| panic!("{kind}: {err}"))
    })
}
