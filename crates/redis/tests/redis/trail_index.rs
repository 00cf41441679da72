//! The index of the players with a trail, which the erasure of expired points walks: written
//! before a player's first point, cleared after its deletion, and filled once at start with
//! the trails stored before it existed (an upgrade), on every shard of a cluster.

use std::sync::Arc;

use marauder_core::protocol::Event;
use marauder_core::{EventSink, MapId, Store};
use marauder_redis::Options;

use crate::servers::{Deployment, connect, urls};
use crate::{located, player};

crate::on_both!(
    trails_stored_before_the_index_are_listed_at_start_and_then_erased,
    a_players_first_point_lists_it_and_its_deletion_unlists_it,
);

struct Nowhere;

impl EventSink for Nowhere {
    fn deliver(&self, _map: &MapId, _event: Arc<Event>) {}
}

fn index(prefix: &str) -> String {
    format!("{prefix}:{{trails}}:players")
}

async fn listed(raw: &mut crate::servers::Raw, prefix: &str) -> Vec<String> {
    raw.query(redis::cmd("ZRANGE").arg(index(prefix)).arg(0).arg(-1)).await
}

async fn trails_stored_before_the_index_are_listed_at_start_and_then_erased(deployment: Deployment) {
    let mut backend = connect(deployment).await;
    let store = &backend.redis.store;
    let mut players = Vec::new();
    for name in ["Harry", "Ron", "Hermione", "Ginny", "Luna", "Neville", "Fred", "George"] {
        let (record, _) = player(&backend, name, 1).await;
        store.append_trail(&record.id, &located(&record, name, 10).fix).await.unwrap();
        players.push(record.id.to_string());
    }
    players.sort();
    // Eight random ids: on more than one of the cluster's three shards but once in 729.
    assert_eq!(listed(&mut backend.raw, &backend.prefix).await, players);
    // As a deployment from before the index: trails, and no index.
    let prefix = backend.prefix.clone();
    let forget = redis::cmd("DEL").arg(index(&prefix)).arg(format!("{prefix}:{{trails}}:complete")).clone();
    let _: () = backend.raw.query(&forget).await;
    let step = store.erase_trails_before(100, 1000).await.unwrap();
    assert_eq!((step.points, step.round_done), (0, true), "nothing to walk");

    let options = Options {
        urls: urls(deployment),
        cluster: deployment == Deployment::Cluster,
        prefix: prefix.clone(),
        trail_retention: 100,
        recent_events: 1000,
    };
    let upgraded = marauder_redis::connect(&options, Arc::new(Nowhere)).await.expect("connects");
    assert_eq!(listed(&mut backend.raw, &prefix).await, players, "every shard's trails are listed");
    let step = upgraded.store.erase_trails_before(100, 1000).await.unwrap();
    assert_eq!((step.points, step.round_done), (8, true));
    for id in &players {
        let id = marauder_core::PlayerId::parse(id).unwrap();
        assert_eq!(upgraded.store.trail(&id, None, 10).await.unwrap(), vec![]);
    }
}

async fn a_players_first_point_lists_it_and_its_deletion_unlists_it(deployment: Deployment) {
    let mut backend = connect(deployment).await;
    let (harry, _) = player(&backend, "Harry", 1).await;
    let (ron, _) = player(&backend, "Ron", 1).await;
    assert_eq!(listed(&mut backend.raw, &backend.prefix).await, Vec::<String>::new(), "no trail yet");
    let store = &backend.redis.store;
    store.append_trail(&harry.id, &located(&harry, "Harry", 10).fix).await.unwrap();
    store.append_trail(&harry.id, &located(&harry, "Harry", 20).fix).await.unwrap();
    assert_eq!(listed(&mut backend.raw, &backend.prefix).await, vec![harry.id.to_string()]);
    store.delete_player(&harry.id).await.unwrap();
    assert_eq!(listed(&mut backend.raw, &backend.prefix).await, Vec::<String>::new());
    // An index entry whose player is gone (a deletion cut short) leaves at the next step.
    store.delete_player(&ron.id).await.unwrap();
    let stale = redis::cmd("ZADD").arg(index(&backend.prefix)).arg(0).arg(ron.id.as_str()).clone();
    let _: () = backend.raw.query(&stale).await;
    let step = store.erase_trails_before(100, 1000).await.unwrap();
    assert_eq!((step.points, step.round_done), (0, true));
    assert_eq!(listed(&mut backend.raw, &backend.prefix).await, Vec::<String>::new());
}
