//! The feed's publish on one handler: gap-free seqs, each kind of change delivered with its
//! exact body, the member a change requires, the latest locations a snapshot shows, a
//! deleted map's last event, and notices.

use marauder_core::protocol::{EventBody, Visibility};
use marauder_core::{Change, Notice, PlayerId, SessionId};

use crate::Backend;
use crate::fixtures::{
    at, body, events, held, joined, left, location, map, membership, owned_map, player, publish, snapshot,
};

pub async fn seqs_are_gap_free_per_map_and_each_publish_answers_its_own(backend: &impl Backend) {
    let mut handler = backend.handler().await;
    let (owner, first, _listening) = owned_map(&handler).await;
    let second = map(&*handler.store, &owner).await;
    let _second_listening = handler.feed.listen(&second).await.unwrap();
    for n in 1..=20 {
        assert_eq!(publish(&*handler.feed, &first, location(&owner, n)).await, Some(n as u64));
        if n % 2 == 0 {
            let seq = publish(&*handler.feed, &second, location(&owner, n)).await;
            assert_eq!(seq, Some(n as u64 / 2), "the other map counts its own");
        }
    }
    assert_eq!(handler.heard.seqs(&first, 20).await, (1..=20).collect::<Vec<_>>());
    assert_eq!(handler.heard.seqs(&second, 10).await, (1..=10).collect::<Vec<_>>());
    assert_eq!(snapshot(&*handler.feed, &first).await.0, 20);
    assert_eq!(snapshot(&*handler.feed, &second).await.0, 10);
}

pub async fn every_kind_of_change_reaches_the_sink_in_seq_order_with_its_exact_body(backend: &impl Backend) {
    let mut handler = backend.handler().await;
    let (owner, id, _listening) = owned_map(&handler).await;
    let ginny = player(&*handler.store, "Ginny").await;
    let changes = [
        joined(&ginny, Some(at(&ginny, "Ginny", 100))),
        location(&owner, 200),
        Change::Renamed {
            player: owner.id.to_string(),
            name: "Loony".into(),
            latest: Some(at(&owner, "Loony", 200)),
        },
        Change::MapUpdated {
            name: "Ravenclaw".into(),
            visibility: Visibility::Private,
            owner: owner.id.to_string(),
        },
        left(&ginny, true),
        Change::Deleted,
    ];
    let expected: Vec<(u64, EventBody)> = changes.iter().zip(1..).map(|(c, seq)| (seq, body(c))).collect();
    assert_eq!(
        expected[4].1,
        EventBody::Left { player: ginny.id.to_string(), name: "Ginny".into(), removed: Some(true) },
        "an owner's removal says so"
    );
    for (change, seq) in changes.into_iter().zip(1..) {
        let kind = change.kind();
        let published = match &change {
            Change::Joined { .. } | Change::Left { .. } => membership(&handler, &id, change).await,
            Change::Deleted => {
                assert_eq!(events(handler.feed.replay(&id, 0).await.unwrap()), expected[..5], "replayed");
                assert!(handler.store.delete_map(&id).await.unwrap());
                publish(&*handler.feed, &id, change).await
            }
            _ => publish(&*handler.feed, &id, change).await,
        };
        assert_eq!(published, Some(seq), "{kind}");
    }
    assert_eq!(handler.heard.events(&id, 6).await, expected);
}

pub async fn a_change_that_requires_a_member_publishes_nothing_for_anyone_else(backend: &impl Backend) {
    let mut handler = backend.handler().await;
    let (owner, id, _listening) = owned_map(&handler).await;
    let (draco, ginny) = (player(&*handler.store, "Draco").await, player(&*handler.store, "Ginny").await);
    let feed = &*handler.feed;
    assert_eq!(publish(feed, &id, location(&draco, 10)).await, None, "a stranger's location");
    let renamed = Change::Renamed { player: draco.id.to_string(), name: "Malfoy".into(), latest: None };
    assert_eq!(publish(feed, &id, renamed).await, None, "a stranger's rename");
    assert_eq!(snapshot(feed, &id).await, (0, vec![]), "no seq taken, no location kept");

    assert_eq!(membership(&handler, &id, joined(&ginny, None)).await, Some(1));
    assert_eq!(membership(&handler, &id, left(&ginny, false)).await, Some(2));
    assert_eq!(publish(feed, &id, location(&ginny, 20)).await, None, "a former member's location");
    let renamed = Change::Renamed { player: ginny.id.to_string(), name: "Gin".into(), latest: None };
    assert_eq!(publish(feed, &id, renamed).await, None, "a former member's rename");

    assert_eq!(publish(feed, &id, location(&owner, 30)).await, Some(3), "the owner is a member");
    let kinds: Vec<&str> = handler.heard.events(&id, 3).await.iter().map(|(_, b)| b.kind()).collect();
    assert_eq!(kinds, ["joined", "left", "location"]);
    assert_eq!(snapshot(feed, &id).await, (3, vec![held(&at(&owner, "Luna", 30))]));
}

pub async fn the_latest_location_is_the_newest_point_of_each_member(backend: &impl Backend) {
    let handler = backend.handler().await;
    let (owner, id, _listening) = owned_map(&handler).await;
    let ginny = player(&*handler.store, "Ginny").await;
    let feed = &*handler.feed;
    let luna = |name: &str, ts| held(&at(&owner, name, ts));
    let gin = |name: &str, ts| held(&at(&ginny, name, ts));
    let sorted = |mut held: Vec<(String, String, i64)>| {
        held.sort();
        held
    };

    // Joining with a point offers it.
    assert_eq!(membership(&handler, &id, joined(&ginny, Some(at(&ginny, "Ginny", 100)))).await, Some(1));
    assert_eq!(snapshot(feed, &id).await, (1, vec![gin("Ginny", 100)]));
    publish(feed, &id, location(&owner, 50)).await.unwrap();
    assert_eq!(snapshot(feed, &id).await, (2, sorted(vec![luna("Luna", 50), gin("Ginny", 100)])));
    // An older point is published but kept out of the snapshot; one as new replaces it.
    assert_eq!(publish(feed, &id, location(&ginny, 90)).await, Some(3));
    assert_eq!(snapshot(feed, &id).await, (3, sorted(vec![luna("Luna", 50), gin("Ginny", 100)])));
    publish(feed, &id, Change::Location(at(&ginny, "G", 100))).await.unwrap();
    assert_eq!(snapshot(feed, &id).await, (4, sorted(vec![luna("Luna", 50), gin("G", 100)])));
    publish(feed, &id, location(&ginny, 150)).await.unwrap();
    assert_eq!(snapshot(feed, &id).await, (5, sorted(vec![luna("Luna", 50), gin("Ginny", 150)])));

    // An update, and a rename without a point, change no location; a rename with one does.
    let updated =
        Change::MapUpdated { name: "X".into(), visibility: Visibility::Public, owner: owner.id.to_string() };
    publish(feed, &id, updated).await.unwrap();
    let renamed = Change::Renamed { player: ginny.id.to_string(), name: "Gin".into(), latest: None };
    publish(feed, &id, renamed).await.unwrap();
    assert_eq!(snapshot(feed, &id).await, (7, sorted(vec![luna("Luna", 50), gin("Ginny", 150)])));
    let latest = Some(at(&owner, "Loony", 50));
    let renamed = Change::Renamed { player: owner.id.to_string(), name: "Loony".into(), latest };
    publish(feed, &id, renamed).await.unwrap();
    assert_eq!(snapshot(feed, &id).await, (8, sorted(vec![luna("Loony", 50), gin("Ginny", 150)])));

    // Leaving takes the player's point away; joining again without one brings none back.
    assert_eq!(membership(&handler, &id, left(&ginny, false)).await, Some(9));
    assert_eq!(snapshot(feed, &id).await, (9, vec![luna("Loony", 50)]));
    assert_eq!(membership(&handler, &id, joined(&ginny, None)).await, Some(10));
    assert_eq!(snapshot(feed, &id).await, (10, vec![luna("Loony", 50)]));
}

pub async fn a_deleted_map_publishes_its_last_event_and_nothing_after(backend: &impl Backend) {
    let mut handler = backend.handler().await;
    let (owner, id, _listening) = owned_map(&handler).await;
    let ginny = player(&*handler.store, "Ginny").await;
    let feed = &*handler.feed;
    membership(&handler, &id, joined(&ginny, Some(at(&ginny, "Ginny", 100)))).await.unwrap();
    publish(feed, &id, location(&owner, 200)).await.unwrap();

    // The store first, then the last event: the latest locations go with it.
    assert!(handler.store.delete_map(&id).await.unwrap());
    assert_eq!(publish(feed, &id, Change::Deleted).await, Some(3));
    assert_eq!(snapshot(feed, &id).await.1, vec![], "no location is left");
    let kinds: Vec<&str> = handler.heard.events(&id, 3).await.iter().map(|(_, b)| b.kind()).collect();
    assert_eq!(kinds, ["joined", "location", "map_deleted"]);

    let after = [
        location(&owner, 300),
        Change::Renamed { player: owner.id.to_string(), name: "R".into(), latest: None },
        Change::MapUpdated {
            name: "Late".into(),
            visibility: Visibility::Public,
            owner: owner.id.to_string(),
        },
    ];
    for change in after {
        let kind = change.kind();
        assert_eq!(feed.publish(&id, change).await.unwrap(), None, "{kind} after the deletion");
    }
    assert_eq!(membership(&handler, &id, joined(&ginny, None)).await, None, "a join after it");
    assert_eq!(membership(&handler, &id, left(&owner, false)).await, None, "a leave after it");
    assert!(!handler.store.is_member(&id, &ginny.id).await.unwrap());
    // Each answered no seq, so nothing reached a sink (the embedded one hears before the
    // answer; on a broker, a later event of the map would arrive after this look).
    assert_eq!(handler.heard.unread_of(&id), vec![], "nothing after map_deleted");
}

pub async fn a_notice_reaches_the_sink(backend: &impl Backend) {
    let mut handler = backend.handler().await;
    let player = PlayerId::generate();
    let notices = [
        Notice::SessionRevoked { player: player.clone(), session: SessionId::generate() },
        Notice::Renamed { player: player.clone(), name: "Ron \"W\"".into() },
        Notice::PlayerDeleted { player },
    ];
    for notice in &notices {
        handler.feed.announce(notice.clone()).await.unwrap();
    }
    for notice in notices {
        assert_eq!(handler.heard.notice().await, notice);
    }
}

pub async fn a_run_of_locations_takes_consecutive_seqs_and_keeps_the_newest(backend: &impl Backend) {
    let mut handler = backend.handler().await;
    let (owner, id, _listening) = owned_map(&handler).await;
    let stranger = player(&*handler.store, "Draco").await;
    assert_eq!(publish(&*handler.feed, &id, location(&owner, 5)).await, Some(1));
    let run: Vec<_> = [30, 10, 20].iter().map(|&ts| at(&owner, "Luna", ts)).collect();
    assert_eq!(handler.feed.publish_locations(&id, run.clone()).await.unwrap(), Some(4));
    let outsiders = vec![at(&stranger, "Draco", 40)];
    assert_eq!(handler.feed.publish_locations(&id, outsiders).await.unwrap(), None, "not a member");
    assert_eq!(handler.feed.publish_locations(&id, Vec::new()).await.unwrap(), None, "nothing to publish");
    let heard = handler.heard.events(&id, 4).await;
    let expected: Vec<(u64, EventBody)> =
        run.into_iter().zip(2..).map(|(l, seq)| (seq, EventBody::Location(l))).collect();
    assert_eq!(heard[1..], expected[..], "in the order of the run");
    // The newest point is the latest, whatever the order it came in.
    assert_eq!(snapshot(&*handler.feed, &id).await, (4, vec![held(&at(&owner, "Luna", 30))]));
}
