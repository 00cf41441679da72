//! What of a map's [`Batch`] one subscriber is sent: the events after the last seq it was
//! sent, up to and including the first that ends its subscription (its own `left`, with
//! reason `left` or `removed`, or the map's `map_deleted`), and the name it took if those
//! events rename its own player. Pure, so that the exact seqs are tested without a socket.

use std::sync::Arc;

use marauder_core::protocol::{Event, EventBody, UnsubscribeReason};

use crate::hub::Batch;

/// The part of a batch to send.
#[derive(Debug)]
pub struct Cut<'a> {
    /// The events to send, in seq order (never empty).
    pub events: &'a [Arc<Event>],
    /// They are the whole batch: its shared frame is sent as it is, with no copy.
    pub whole: bool,
    /// The subscription ends after them, for this reason.
    pub ends: Option<UnsubscribeReason>,
    /// The name `me` took in them (the last, if several).
    pub renamed: Option<&'a str>,
}

impl Cut<'_> {
    pub fn last_seq(&self) -> u64 {
        self.events.last().map_or(0, |e| e.seq)
    }
}

/// The events of `batch` with a seq above `delivered` that `me` is sent, or `None` when there
/// is none. A batch holds consecutive seqs, in order.
pub fn cut<'a>(batch: &'a Batch, delivered: u64, me: &str) -> Option<Cut<'a>> {
    // The common case, nothing of the batch delivered yet, costs one comparison.
    let start = match batch.first_seq() > delivered {
        true => 0,
        false => batch.events.partition_point(|e| e.seq <= delivered),
    };
    let end = batch
        .ends
        .iter()
        .find(|end| end.index >= start && end.player.as_deref().is_none_or(|player| player == me))
        .map(|end| (end.index + 1, end.reason));
    let stop = end.map_or(batch.events.len(), |(stop, _)| stop);
    if start >= stop {
        return None;
    }
    let renamed = batch.renames.iter().filter(|&&i| (start..stop).contains(&i)).rev().find_map(|&i| {
        match &batch.events[i].body {
            EventBody::Renamed { player, name } if player == me => Some(name.as_str()),
            _ => None,
        }
    });
    Some(Cut {
        events: &batch.events[start..stop],
        whole: start == 0 && stop == batch.events.len(),
        ends: end.map(|(_, reason)| reason),
        renamed,
    })
}

#[cfg(test)]
mod tests {
    use marauder_core::MapId;
    use marauder_core::protocol::Visibility;

    use super::*;

    fn batch(first: u64, bodies: Vec<EventBody>) -> Batch {
        let events = (first..).zip(bodies).map(|(seq, body)| Arc::new(Event { seq, body })).collect();
        Batch::new(MapId::parse("m").unwrap(), events)
    }

    fn joined(player: &str) -> EventBody {
        EventBody::Joined { player: player.into(), name: player.into() }
    }

    fn left(player: &str, removed: bool) -> EventBody {
        EventBody::Left { player: player.into(), name: player.into(), removed: removed.then_some(true) }
    }

    fn seqs(cut: &Cut<'_>) -> Vec<u64> {
        cut.events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn the_common_batch_is_sent_whole_and_what_was_delivered_is_skipped() {
        let b = batch(5, vec![joined("a"), joined("b"), joined("c")]);
        let whole = cut(&b, 4, "me").unwrap();
        assert_eq!((seqs(&whole), whole.whole, whole.ends, whole.renamed), (vec![5, 6, 7], true, None, None));
        let tail = cut(&b, 5, "me").unwrap();
        assert_eq!((seqs(&tail), tail.whole), (vec![6, 7], false));
        assert!(cut(&b, 7, "me").is_none(), "everything already delivered");
        assert!(cut(&b, 100, "me").is_none());
    }

    #[test]
    fn a_removal_ends_the_removed_players_subscription_at_its_event() {
        let b = batch(10, vec![joined("a"), left("me", true), joined("b")]);
        let mine = cut(&b, 9, "me").unwrap();
        assert_eq!(
            (seqs(&mine), mine.whole, mine.ends),
            (vec![10, 11], false, Some(UnsubscribeReason::Removed))
        );
        // Anyone else's subscription goes on, with the shared frame.
        let theirs = cut(&b, 9, "a").unwrap();
        assert_eq!((seqs(&theirs), theirs.whole, theirs.ends), (vec![10, 11, 12], true, None));
        // A leave of one's own is `left`.
        let b = batch(3, vec![left("me", false)]);
        let mine = cut(&b, 2, "me").unwrap();
        assert_eq!((seqs(&mine), mine.whole, mine.ends), (vec![3], true, Some(UnsubscribeReason::Left)));
    }

    #[test]
    fn a_deletion_ends_every_subscription_at_its_event() {
        let updated =
            EventBody::MapUpdated { name: "M".into(), visibility: Visibility::Public, owner: "a".into() };
        let b = batch(20, vec![left("a", false), updated, EventBody::MapDeleted {}]);
        for me in ["a", "b"] {
            let got = cut(&b, 19, me).unwrap();
            let expected = if me == "a" { vec![20] } else { vec![20, 21, 22] };
            assert_eq!(seqs(&got), expected, "{me}");
        }
        let b_cut = cut(&b, 19, "b").unwrap();
        assert_eq!((b_cut.whole, b_cut.ends), (true, Some(UnsubscribeReason::Deleted)));
        // Delivered past the leave of `a` (a snapshot covered it): only the deletion is left.
        let late = cut(&b, 21, "a").unwrap();
        assert_eq!((seqs(&late), late.ends), (vec![22], Some(UnsubscribeReason::Deleted)));
    }

    #[test]
    fn an_end_already_delivered_does_not_end_again() {
        let b = batch(1, vec![left("me", true), joined("me"), joined("x")]);
        let got = cut(&b, 1, "me").unwrap();
        assert_eq!((seqs(&got), got.ends), (vec![2, 3], None));
    }

    #[test]
    fn ones_own_rename_is_taken_and_only_up_to_the_end() {
        let renamed =
            |player: &str, name: &str| EventBody::Renamed { player: player.into(), name: name.into() };
        let b = batch(
            1,
            vec![
                renamed("me", "Ron"),
                renamed("x", "Other"),
                renamed("me", "Ronald"),
                left("me", true),
                renamed("me", "Late"),
            ],
        );
        let got = cut(&b, 0, "me").unwrap();
        assert_eq!((seqs(&got), got.renamed), (vec![1, 2, 3, 4], Some("Ronald")));
        assert_eq!(cut(&b, 0, "x").unwrap().renamed, Some("Other"), "x's own, not another's");
        assert_eq!(cut(&b, 3, "me").unwrap().renamed, None, "delivered before");
    }
}
