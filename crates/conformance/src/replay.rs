//! Snapshot and `since` resume: exactly the events after `since` while the backend keeps
//! them, none at the map's seq, and a reset with the map's snapshot from too far back or
//! from ahead of the map.

use marauder_core::MapId;
use marauder_core::protocol::EventBody;

use crate::Backend;
use crate::fixtures::{at, body, events, held, location, owned_map, publish, reset, snapshot};

pub async fn replay_gives_exactly_the_events_after_since(backend: &impl Backend) {
    assert!(backend.recent_events() >= 10, "the case needs 10 events kept");
    let handler = backend.handler().await;
    let (owner, id, _listening) = owned_map(&handler).await;
    let mut published: Vec<(u64, EventBody)> = Vec::new();
    for ts in 1..=10 {
        let change = location(&owner, ts * 10);
        let expected = body(&change);
        published.push((publish(&*handler.feed, &id, change).await.expect("a member's location"), expected));
    }
    for since in [0, 1, 5, 9] {
        let replayed = events(handler.feed.replay(&id, since).await.unwrap());
        assert_eq!(replayed, published[since as usize..], "since {since}");
    }
    assert_eq!(events(handler.feed.replay(&id, 10).await.unwrap()), vec![], "since the map's seq");
}

pub async fn replay_from_too_far_back_or_ahead_is_a_reset_with_the_snapshot(backend: &impl Backend) {
    let handler = backend.handler().await;
    let (owner, id, _listening) = owned_map(&handler).await;
    let kept = backend.recent_events() as u64;
    // Past what is kept, with room for a backend that trims its buffer lazily (a Redis
    // stream trimmed with `~` keeps up to a node more).
    let last = kept + 200;
    for seq in 1..=last {
        assert_eq!(publish(&*handler.feed, &id, location(&owner, seq as i64)).await, Some(seq));
    }
    let expected = (last, vec![held(&at(&owner, "Luna", last as i64))]);
    assert_eq!(snapshot(&*handler.feed, &id).await, expected);
    for since in [0, 1, 100] {
        assert_eq!(reset(handler.feed.replay(&id, since).await.unwrap()), expected, "since {since}");
    }
    for ahead in [last + 1, last + 1000] {
        assert_eq!(reset(handler.feed.replay(&id, ahead).await.unwrap()), expected, "since {ahead}");
    }
    // The last `kept` are there, exactly.
    let replayed = events(handler.feed.replay(&id, last - kept).await.unwrap());
    let seqs: Vec<u64> = replayed.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (last - kept + 1..=last).collect::<Vec<_>>());
    assert_eq!(replayed.last().map(|(_, b)| b.clone()), Some(body(&location(&owner, last as i64))));
}

pub async fn a_map_nobody_published_to_is_empty_at_seq_zero(backend: &impl Backend) {
    let handler = backend.handler().await;
    let (_, id, _listening) = owned_map(&handler).await;
    let never_made = MapId::generate();
    for map in [&id, &never_made] {
        assert_eq!(snapshot(&*handler.feed, map).await, (0, vec![]));
        assert_eq!(events(handler.feed.replay(map, 0).await.unwrap()), vec![]);
        assert_eq!(reset(handler.feed.replay(map, 3).await.unwrap()), (0, vec![]), "since ahead of it");
    }
}
