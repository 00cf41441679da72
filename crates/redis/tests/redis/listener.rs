//! The listener of a handler whose path to Redis dies silently (a [`Proxy`] turned black
//! hole, the sockets left open): it must leave the dead connection for a new one, subscribe
//! again and deliver, from the streams, every event published meanwhile exactly once and in
//! seq order, for one map and for fifty. Events are published by a second backend that
//! reaches Redis directly.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use marauder_core::protocol::{Event, Visibility};
use marauder_core::{Change, EventSink, Feed, MapId, PlayerRecord};
use marauder_redis::{Options, Redis};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::proxy::Proxy;
use crate::servers::{Backend, Deployment, connect};
use crate::{located, map, player};

struct Sink(UnboundedSender<(MapId, u64)>);

impl EventSink for Sink {
    fn deliver(&self, map: &MapId, event: Arc<Event>) {
        let _ = self.0.send((map.clone(), event.seq));
    }
}

/// A second handler on `direct`'s Redis and prefix, through a proxy; the seqs its sink gets.
async fn through_proxy(direct: &mut Backend) -> (Proxy, Redis, UnboundedReceiver<(MapId, u64)>) {
    let port: Vec<String> = direct.raw.query(redis::cmd("CONFIG").arg("GET").arg("port")).await;
    let proxy = Proxy::start(port[1].parse().unwrap()).await;
    let options = Options {
        urls: vec![format!("redis://127.0.0.1:{}", proxy.port)],
        cluster: false,
        prefix: direct.prefix.clone(),
        trail_retention: 100,
        recent_events: 1000,
    };
    let (sender, heard) = tokio::sync::mpsc::unbounded_channel();
    let handler = marauder_redis::connect(&options, Arc::new(Sink(sender))).await.expect("connects");
    (proxy, handler, heard)
}

/// Publishes `count` locations of `owner` to `map` from `direct`; each must take the next seq.
async fn publish(direct: &Backend, map: &MapId, owner: &PlayerRecord, first: u64, count: u64) {
    for seq in first..first + count {
        let location = Change::Location(located(owner, &owner.name, seq as i64));
        assert_eq!(direct.redis.feed.publish(map, location).await.unwrap(), Some(seq), "on {map}");
    }
}

/// The next `count` events heard, as each map's seqs in the order heard (a generous patience
/// for each: the dead path is noticed within seconds).
async fn hear(heard: &mut UnboundedReceiver<(MapId, u64)>, count: usize) -> HashMap<MapId, Vec<u64>> {
    let mut by_map: HashMap<MapId, Vec<u64>> = HashMap::new();
    for got in 0..count {
        let next = tokio::time::timeout(Duration::from_secs(30), heard.recv()).await;
        let (map, seq) = next.unwrap_or_else(|_| panic!("only {got} of {count} events heard")).unwrap();
        by_map.entry(map).or_default().push(seq);
    }
    by_map
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silently_dead_path_is_replaced_and_nothing_published_meanwhile_is_lost() {
    let mut direct = connect(Deployment::Single).await;
    let (owner, _) = player(&direct, "Luna", 1).await;
    let id = map(&direct, &owner.id, Visibility::Public).await.id;
    let (proxy, handler, mut heard) = through_proxy(&mut direct).await;
    let _listening = handler.feed.listen(&id).await.unwrap();
    publish(&direct, &id, &owner, 1, 2).await;
    assert_eq!(hear(&mut heard, 2).await[&id], [1, 2]);

    proxy.black_hole();
    publish(&direct, &id, &owner, 3, 8).await;
    proxy.heal();
    assert_eq!(hear(&mut heard, 8).await[&id], (3..=10).collect::<Vec<_>>());
    // Live again on the new connection, and nothing twice.
    publish(&direct, &id, &owner, 11, 1).await;
    assert_eq!(hear(&mut heard, 1).await[&id], [11]);
    assert!(heard.try_recv().is_err(), "nothing more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_maps_catch_up_after_an_outage_each_exactly_once_and_in_order() {
    let mut direct = connect(Deployment::Single).await;
    let (owner, _) = player(&direct, "Luna", 1).await;
    let mut maps = Vec::new();
    for _ in 0..50 {
        maps.push(map(&direct, &owner.id, Visibility::Public).await.id);
    }
    let (proxy, handler, mut heard) = through_proxy(&mut direct).await;
    let mut listening = Vec::new();
    for id in &maps {
        listening.push(handler.feed.listen(id).await.unwrap());
    }

    // The first map's gap takes several chunks to read; the others one.
    proxy.black_hole();
    let counts: Vec<u64> = (0..maps.len()).map(|i| if i == 0 { 250 } else { 3 }).collect();
    for (id, &count) in maps.iter().zip(&counts) {
        publish(&direct, id, &owner, 1, count).await;
    }
    proxy.heal();
    let total = counts.iter().sum::<u64>() as usize;
    let by_map = hear(&mut heard, total).await;
    for (id, &count) in maps.iter().zip(&counts) {
        assert_eq!(by_map.get(id), Some(&(1..=count).collect::<Vec<_>>()), "on {id}");
    }
    // Live again, and nothing twice.
    publish(&direct, &maps[49], &owner, 4, 1).await;
    assert_eq!(hear(&mut heard, 1).await[&maps[49]], [4]);
    assert!(heard.try_recv().is_err(), "nothing more");
}
