//! Two handlers on one state, as two server processes behind a load balancer run: what one
//! publishes reaches the other's sink in seq order, publishes racing on both make one
//! gap-free sequence (on a backend with one handler, two racers on it), and notices reach
//! every handler.

use marauder_core::protocol::EventBody;
use marauder_core::{MapId, Notice, PlayerId, PlayerRecord, SessionId};

use crate::fixtures::{body, joined, location, membership, owned_map, player, publish, skipped};
use crate::{Backend, Handler};

pub async fn a_location_published_on_one_handler_reaches_the_other_in_order(backend: &impl Backend) {
    let mut first = backend.handler().await;
    let Some(mut second) = backend.second_handler().await else {
        return skipped("a location published on one handler reaching the other");
    };
    let (owner, id, _listening) = owned_map(&first).await;
    let _second_listening = second.feed.listen(&id).await.unwrap();
    let mut expected: Vec<(u64, EventBody)> = Vec::new();
    for ts in 1..=20 {
        let change = location(&owner, ts);
        let wanted = body(&change);
        expected.push((publish(&*first.feed, &id, change).await.expect("a member's location"), wanted));
    }
    assert_eq!(expected.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), (1..=20).collect::<Vec<_>>());
    assert_eq!(second.heard.events(&id, 20).await, expected, "on the other handler");
    assert_eq!(first.heard.events(&id, 20).await, expected, "on the publishing handler");
    // What the second reads of the map is what the first wrote.
    let snapshot = second.feed.snapshot(&id).await.unwrap();
    assert_eq!((snapshot.seq, snapshot.locations.len()), (20, 1));
}

/// Publishes per handler in the race.
const EACH: u64 = 200;

pub async fn concurrent_publishes_on_two_handlers_make_one_gap_free_sequence(backend: &impl Backend) {
    let mut first = backend.handler().await;
    let mut second = backend.second_handler().await;
    if second.is_none() {
        eprintln!("both racers on the one handler: this backend has one handler per state");
    }
    let (owner, id, _listening) = owned_map(&first).await;
    let ginny = player(&*first.store, "Ginny").await;
    assert_eq!(membership(&first, &id, joined(&ginny, None)).await, Some(1));
    let mut second_listening = None;
    if let Some(second) = &second {
        second_listening = Some(second.feed.listen(&id).await.unwrap());
    }
    let racers = [
        spawn_locations(&first, &id, &owner),
        spawn_locations(second.as_ref().unwrap_or(&first), &id, &ginny),
    ];
    let mut answered = Vec::new();
    for racer in racers {
        let seqs = racer.await.unwrap();
        assert!(seqs.is_sorted(), "one racer's publishes take increasing seqs");
        answered.extend(seqs);
    }
    answered.sort_unstable();
    let all: Vec<u64> = (2..=2 * EACH + 1).collect();
    assert_eq!(answered, all, "every seq once");
    assert_eq!(first.heard.seqs(&id, 1).await, [1]);
    assert_eq!(first.heard.seqs(&id, all.len()).await, all, "in order on the first");
    assert_eq!(first.heard.unread_of(&id), vec![], "nothing twice");
    if let Some(second) = &mut second {
        assert_eq!(second.heard.seqs(&id, all.len()).await, all, "in order on the second");
    }
    let other = second.as_ref().unwrap_or(&first);
    assert_eq!(other.feed.snapshot(&id).await.unwrap().seq, 2 * EACH + 1);
    drop(second_listening);
}

fn spawn_locations(
    handler: &Handler,
    map: &MapId,
    player: &PlayerRecord,
) -> tokio::task::JoinHandle<Vec<u64>> {
    let (feed, map, player) = (handler.feed.clone(), map.clone(), player.clone());
    tokio::spawn(async move {
        let mut seqs = Vec::with_capacity(EACH as usize);
        for ts in 1..=EACH {
            let change = location(&player, ts as i64);
            seqs.push(feed.publish(&map, change).await.expect("publishes").expect("a member's location"));
        }
        seqs
    })
}

pub async fn a_notice_announced_on_one_handler_reaches_every_handler(backend: &impl Backend) {
    let mut first = backend.handler().await;
    let Some(mut second) = backend.second_handler().await else {
        return skipped("a notice announced on one handler reaching the others");
    };
    let player = PlayerId::generate();
    // A deleted player's sockets on the other handler close only through this.
    let deleted = Notice::PlayerDeleted { player: player.clone() };
    first.feed.announce(deleted.clone()).await.unwrap();
    assert_eq!(second.heard.notice().await, deleted, "on the other handler");
    assert_eq!(first.heard.notice().await, deleted, "on the announcing one");

    let revoked = Notice::SessionRevoked { player: player.clone(), session: SessionId::generate() };
    let renamed = Notice::Renamed { player, name: "Ginevra".into() };
    second.feed.announce(revoked.clone()).await.unwrap();
    second.feed.announce(renamed.clone()).await.unwrap();
    for handler in [&mut first, &mut second] {
        assert_eq!(handler.heard.notice().await, revoked);
        assert_eq!(handler.heard.notice().await, renamed, "in the order announced");
    }
}
