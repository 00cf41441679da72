//! This handler's subscriptions to map channels. One task reads every push of the
//! subscription connection, in order, and hands each map's events to the sink exactly once
//! and in seq order: a duplicate is dropped; a gap (events missed while the connection was
//! down, or published while it resubscribed) is filled from the map's stream first, by a
//! catch-up ([`catch_up`]) that runs on a task of its own. The reader never waits for a
//! catch-up: while one runs, the map's live events are only noted (the highest seq heard),
//! since they are in the stream, and the catch-up reads on until it has passed them.
//!
//! The keep-alive ([`keep_alive`]) pings the subscription connection; one that stops
//! answering (a dead path that sends no RST) is replaced by a fresh one from the
//! [`Connector`], on which every followed channel is subscribed again: each confirmation
//! catches its map up.
//!
//! What this holds, and its bounds: per followed map a `Watch` of a few words, also while
//! it catches up (the seq delivered, the highest heard, two flags); at most one catch-up task
//! per map, of which [`catch_up::CONCURRENT`] read at once, each holding one chunk of
//! [`catch_up::CHUNK`] events; and the push channel, at most [`pushes::CAPACITY`] pushes,
//! past which a push is dropped but its map caught up from the stream ([`pushes`]). The
//! reader awaits nothing but the next push, so the channel fills only while pushes arrive
//! faster than it decodes them and hands them on.
//!
//! A subscriber whose gap the stream no longer covers still sees a jump in seq, which its
//! session answers with a `reset` snapshot: never a silent gap.
//!
//! The same connection follows the notices channel, and hands each notice to the sink as it
//! comes (notices have no seq: one missed while the connection was down is lost, and the
//! store still refuses what it was about).

mod catch_up;
mod keep_alive;
pub mod pushes;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use marauder_core::protocol::Event;
use marauder_core::{EventSink, Listening, MapId, Notice, StoreError};
use redis::{PushInfo, PushKind, Value};
use tokio::sync::Semaphore;

use crate::conn::{Conn, decode_err, ping, store_err};
use crate::keys::Keys;

pub use self::keep_alive::Connector;
use self::pushes::{Overflow, Pushes};

/// The subscription connection, how to make another, and the channel its pushes arrive on
/// (every connection the connector makes pushes to it).
pub struct Subscriber {
    pub conn: Conn,
    pub connector: Connector,
    pub pushes: Pushes,
}

/// How long a resubscription may take before it counts as failed.
const SUBSCRIBE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

pub struct Listener {
    /// The current subscription connection; the keep-alive replaces a dead one.
    subscriptions: Mutex<Conn>,
    connector: Connector,
    keys: Keys,
    sink: Arc<dyn EventSink>,
    maps: Mutex<HashMap<MapId, Watch>>,
    /// Whether the notices channel is subscribed; the keep-alive subscribes it when not.
    notices: AtomicBool,
    /// Catch-ups that read at once.
    catch_ups: Semaphore,
    /// What a full push channel dropped (shared with its senders).
    overflow: Arc<Overflow>,
    /// Resubscriptions failed since the keep-alive last looked.
    resubscribe_failures: AtomicU32,
}

struct Watch {
    listeners: usize,
    /// Whether the channel is subscribed; held while (un)subscribing. Also names this watch:
    /// a task compares it to find the watch it started on, not a newer one of the same map.
    subscribed: Arc<tokio::sync::Mutex<bool>>,
    /// The seq of the last event handed to the sink, once one was.
    last: Option<u64>,
    /// Set while a catch-up owns the map's delivery.
    catching: Option<Catching>,
    /// The map's seq as the last audit read it, when that was past `last` ([`Listener::audit`]).
    behind: Option<u64>,
}

/// A catch-up in progress: what it must still read past.
#[derive(Default)]
struct Catching {
    /// The highest seq heard live meanwhile (in the stream, so not kept).
    heard: u64,
    /// Something may have been missed after its current read began: read once more.
    again: bool,
    /// Its read failed (Redis not back yet) and its task ended: the keep-alive restarts it.
    failed: bool,
}

/// Ends one listener's interest in a map when dropped.
struct Interest {
    listener: Weak<Listener>,
    map: MapId,
}

impl Drop for Interest {
    fn drop(&mut self) {
        if let Some(listener) = self.listener.upgrade() {
            listener.release(&self.map);
        }
    }
}

pub fn decode_event(json: &str) -> Result<Event, StoreError> {
    serde_json::from_str(json).map_err(|e| decode_err("an event", e))
}

impl Listener {
    pub fn start(subscriber: Subscriber, keys: Keys, sink: Arc<dyn EventSink>) -> Arc<Listener> {
        let listener = Arc::new(Listener {
            subscriptions: Mutex::new(subscriber.conn),
            connector: subscriber.connector,
            keys,
            sink,
            maps: Mutex::default(),
            notices: AtomicBool::new(false),
            catch_ups: Semaphore::new(catch_up::CONCURRENT),
            overflow: subscriber.pushes.overflow.clone(),
            resubscribe_failures: AtomicU32::new(0),
        });
        tokio::spawn(read_pushes(Arc::downgrade(&listener), subscriber.pushes));
        tokio::spawn(keep_alive::keep_alive(Arc::downgrade(&listener)));
        listener
    }

    /// The current subscription connection.
    fn conn(&self) -> Conn {
        self.subscriptions.lock().unwrap().clone()
    }

    /// Whether the subscription connection answers: events reach this handler only then.
    pub async fn ready(&self) -> Result<(), StoreError> {
        ping(&self.conn(), "subscription").await
    }

    pub async fn listen(self: &Arc<Self>, map: &MapId) -> Result<Listening, StoreError> {
        let gate = {
            let mut maps = self.maps.lock().unwrap();
            let watch = maps.entry(map.clone()).or_insert_with(|| Watch {
                listeners: 0,
                subscribed: Arc::default(),
                last: None,
                catching: None,
                behind: None,
            });
            watch.listeners += 1;
            watch.subscribed.clone()
        };
        // Released again if subscribing fails.
        let interest = Interest { listener: Arc::downgrade(self), map: map.clone() };
        let mut subscribed = gate.lock().await;
        if !*subscribed {
            let conn = self.conn();
            conn.subscribe(&self.keys.channel(map)).await.map_err(store_err)?;
            *subscribed = true;
            // From here every event reaches us. Knowing the seq now lets a catch-up after an
            // outage find events published before the first one heard.
            let seq: Result<Option<u64>, _> =
                redis::cmd("GET").arg(self.keys.seq(map)).query_async(&mut conn.clone()).await;
            if let (Ok(seq), Some(watch)) = (seq, self.maps.lock().unwrap().get_mut(map)) {
                watch.last = Some(watch.last.unwrap_or(0).max(seq.unwrap_or(0)));
            }
        }
        Ok(Listening::until_dropped(interest))
    }

    /// Subscribes the notices channel. At start it is awaited (a handler that serves before it
    /// follows notices would miss one); later failures are retried by the keep-alive.
    pub async fn follow_notices(self: Arc<Self>) -> Result<(), StoreError> {
        match self.conn().subscribe(&self.keys.notices()).await {
            Ok(()) => {
                self.notices.store(true, Ordering::Release);
                Ok(())
            }
            Err(err) => {
                tracing::warn!(error = %err, "subscribing to the notices channel failed; retrying");
                Err(store_err(err))
            }
        }
    }

    fn on_notice(&self, payload: Option<&str>) {
        match payload.and_then(Notice::decode) {
            Some(notice) => self.sink.notice(&notice),
            None => tracing::error!("undecodable message on the notices channel"),
        }
    }

    /// Subscribes `map` again if it still has listeners: Redis ended the subscription (a
    /// cluster slot moved), or the connection was replaced. The confirmation catches up what
    /// was missed; a failure leaves it unsubscribed, for the keep-alive to retry.
    fn resubscribe(self: &Arc<Self>, map: MapId) {
        let gate =
            self.maps.lock().unwrap().get(&map).filter(|w| w.listeners > 0).map(|w| w.subscribed.clone());
        let Some(gate) = gate else { return };
        let listener = self.clone();
        tokio::spawn(async move {
            let mut subscribed = gate.lock().await;
            let wanted = listener
                .maps
                .lock()
                .unwrap()
                .get(&map)
                .is_some_and(|w| w.listeners > 0 && Arc::ptr_eq(&w.subscribed, &gate));
            if !wanted {
                return;
            }
            // Bounded: one stuck on a connection being replaced would hold the map's gate.
            let channel = listener.keys.channel(&map);
            let conn = listener.conn();
            let answer = tokio::time::timeout(SUBSCRIBE_PATIENCE, conn.subscribe(&channel)).await;
            match answer.unwrap_or_else(|_| Err((redis::ErrorKind::Io, "no answer").into())) {
                Ok(()) => *subscribed = true,
                Err(err) => {
                    tracing::warn!(%map, error = %err, "resubscribing failed; will retry");
                    listener.resubscribe_failures.fetch_add(1, Ordering::Relaxed);
                    *subscribed = false;
                }
            }
        });
    }

    /// Subscribes every followed channel again (each map's, and the notices channel).
    fn resubscribe_all(self: &Arc<Self>) {
        self.notices.store(false, Ordering::Release);
        tokio::spawn(self.clone().follow_notices());
        let maps = self.maps.lock().unwrap();
        let followed: Vec<MapId> =
            maps.iter().filter(|(_, w)| w.listeners > 0).map(|(m, _)| m.clone()).collect();
        drop(maps);
        for map in followed {
            self.resubscribe(map);
        }
    }

    /// The followed maps whose channel is not subscribed (a resubscription failed), skipping
    /// those being (un)subscribed right now.
    fn unsubscribed(&self) -> Vec<MapId> {
        let maps = self.maps.lock().unwrap();
        let lapsed = |w: &Watch| w.listeners > 0 && w.subscribed.try_lock().is_ok_and(|s| !*s);
        maps.iter().filter(|(_, w)| lapsed(w)).map(|(map, _)| map.clone()).collect()
    }

    fn release(self: &Arc<Self>, map: &MapId) {
        let gate = {
            let mut maps = self.maps.lock().unwrap();
            let Some(watch) = maps.get_mut(map) else { return };
            watch.listeners -= 1;
            if watch.listeners > 0 {
                return;
            }
            watch.subscribed.clone()
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (listener, map) = (self.clone(), map.clone());
        runtime.spawn(async move {
            let mut subscribed = gate.lock().await;
            // The same watch (not a newer one for the same map) with nobody listening.
            let idle = |maps: &HashMap<MapId, Watch>| {
                maps.get(&map).is_some_and(|w| w.listeners == 0 && Arc::ptr_eq(&w.subscribed, &gate))
            };
            if !idle(&listener.maps.lock().unwrap()) {
                return; // Someone listens again.
            }
            if *subscribed {
                if let Err(err) = listener.conn().unsubscribe(&listener.keys.channel(&map)).await {
                    tracing::warn!(%map, error = %err, "unsubscribing failed");
                }
                *subscribed = false;
            }
            let mut maps = listener.maps.lock().unwrap();
            if idle(&maps) {
                maps.remove(&map);
            }
        });
    }

    /// Hands `event` to the sink if it is the map's next; on a gap, starts a catch-up, which
    /// delivers it from the stream.
    fn on_event(self: &Arc<Self>, map: MapId, event: Event) {
        let mut maps = self.maps.lock().unwrap();
        let Some(watch) = maps.get_mut(&map) else { return };
        if let Some(catching) = &mut watch.catching {
            catching.heard = catching.heard.max(event.seq);
            return;
        }
        match watch.last {
            Some(last) if event.seq <= last => {} // Already delivered.
            Some(last) if event.seq > last + 1 => {
                tracing::info!(%map, last, next = event.seq, "events missed on the channel; reading them from the stream");
                watch.catching = Some(Catching { heard: event.seq, ..Catching::default() });
                let gate = watch.subscribed.clone();
                drop(maps);
                tokio::spawn(catch_up::run(self.clone(), map, gate));
            }
            _ => {
                watch.last = Some(event.seq);
                self.sink.deliver(&map, Arc::new(event));
            }
        }
    }

    /// Reads what the map's stream holds past the last event delivered, on a task of its own
    /// (or once more after the one running); nothing if nothing was delivered yet, since then
    /// nothing can have been missed.
    fn catch_up(self: &Arc<Self>, map: &MapId) {
        let mut maps = self.maps.lock().unwrap();
        let Some(watch) = maps.get_mut(map).filter(|w| w.last.is_some()) else { return };
        match &mut watch.catching {
            Some(catching) if !catching.failed => {
                catching.again = true;
                return;
            }
            Some(catching) => catching.failed = false,
            None => watch.catching = Some(Catching::default()),
        }
        let gate = watch.subscribed.clone();
        drop(maps);
        tokio::spawn(catch_up::run(self.clone(), map.clone(), gate));
    }

    /// Reads the seq of every followed map that is not catching up. A map whose seq was past
    /// what it delivered at the last audit and still is has lost its subscription without a
    /// word (a cluster's failover can leave one subscribed on the wrong node, or on none): it
    /// is subscribed again and caught up from its stream, and the keep-alive counts it as a
    /// failed resubscription (in a cluster, enough of them replace the connection). A map
    /// merely between an event's publish and its arrival is behind at one audit, not at two.
    pub(super) async fn audit(self: &Arc<Self>) {
        let followed: Vec<MapId> = {
            let maps = self.maps.lock().unwrap();
            let due = |w: &Watch| w.listeners > 0 && w.catching.is_none() && w.last.is_some();
            maps.iter().filter(|(_, w)| due(w)).map(|(map, _)| map.clone()).collect()
        };
        let conn = self.conn();
        let reads = followed.iter().map(|map| {
            let (mut conn, cmd) = (conn.clone(), redis::cmd("GET").arg(self.keys.seq(map)).clone());
            async move { cmd.query_async::<Option<u64>>(&mut conn).await }
        });
        let answer = tokio::time::timeout(SUBSCRIBE_PATIENCE, futures_util::future::join_all(reads)).await;
        let Ok(seqs) = answer else { return };
        let mut lost = Vec::new();
        {
            let mut maps = self.maps.lock().unwrap();
            for (map, seq) in followed.iter().zip(seqs) {
                let (Ok(seq), Some(watch)) = (seq, maps.get_mut(map)) else { continue };
                let delivered = watch.last.unwrap_or(0);
                let seq = seq.unwrap_or(0);
                if watch.behind.is_some_and(|was| delivered < was) {
                    lost.push(map.clone());
                    watch.behind = None;
                } else {
                    watch.behind = (seq > delivered).then_some(seq);
                }
            }
        }
        for map in lost {
            tracing::warn!(%map, "a map's events stopped arriving; subscribing again and reading the stream");
            self.resubscribe_failures.fetch_add(1, Ordering::Relaxed);
            self.resubscribe(map.clone());
            self.catch_up(&map);
        }
    }

    /// Restarts the catch-ups whose read failed.
    fn retry_failed_catch_ups(self: &Arc<Self>) {
        let failed: Vec<MapId> = {
            let maps = self.maps.lock().unwrap();
            let failed = |w: &Watch| w.catching.as_ref().is_some_and(|c| c.failed);
            maps.iter().filter(|(_, w)| failed(w)).map(|(map, _)| map.clone()).collect()
        };
        for map in failed {
            self.catch_up(&map);
        }
    }
}

/// Ends when every sender is gone: the listener drops its connections with itself.
async fn read_pushes(listener: Weak<Listener>, mut pushes: Pushes) {
    loop {
        let push = tokio::select! {
            push = pushes.queue.recv() => push,
            () = pushes.overflow.noted.notified() => {
                let Some(listener) = listener.upgrade() else { return };
                on_overflow(&listener);
                continue;
            }
        };
        let Some(push) = push else { return };
        let Some(listener) = listener.upgrade() else { return };
        on_push(&listener, push);
    }
}

/// Pushes dropped on a full channel: each map catches up from its stream (or subscribes
/// again, when the push dropped was Redis ending its subscription).
fn on_overflow(listener: &Arc<Listener>) {
    let dropped = listener.overflow.dropped.load(Ordering::Relaxed);
    tracing::warn!(dropped, "the push channel was full; reading what it dropped from the streams");
    for (channel, ended) in listener.overflow.take() {
        if channel == listener.keys.notices() {
            tracing::error!("a notice was dropped: the push channel was full");
            if ended {
                listener.notices.store(false, Ordering::Release);
            }
        } else if let Some(map) = listener.keys.map_of_channel(&channel) {
            if ended {
                listener.resubscribe(map);
            } else {
                listener.catch_up(&map);
            }
        }
    }
}

fn on_push(listener: &Arc<Listener>, push: PushInfo) {
    let channel = match push.data.first() {
        Some(Value::BulkString(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
        _ => String::new(),
    };
    let payload = || match push.data.get(1) {
        Some(Value::BulkString(bytes)) => std::str::from_utf8(bytes).ok(),
        _ => None,
    };
    if channel == listener.keys.notices() {
        match push.kind {
            PushKind::Message | PushKind::SMessage => listener.on_notice(payload()),
            // Redis ended it (a cluster slot moved): the keep-alive subscribes again.
            PushKind::Unsubscribe | PushKind::SUnsubscribe => {
                listener.notices.store(false, Ordering::Release)
            }
            _ => {}
        }
        return;
    }
    let map = listener.keys.map_of_channel(&channel);
    match (push.kind, map) {
        (PushKind::Message | PushKind::SMessage, Some(map)) => match payload().map(decode_event) {
            Some(Ok(event)) => listener.on_event(map, event),
            _ => tracing::error!(%map, "undecodable message on a map channel"),
        },
        // Also after every reconnect: fetch what was published while the connection was down.
        (PushKind::Subscribe | PushKind::SSubscribe, Some(map)) => listener.catch_up(&map),
        // Ours (then nobody listens any more) or Redis's own, when a cluster slot moves.
        (PushKind::Unsubscribe | PushKind::SUnsubscribe, Some(map)) => listener.resubscribe(map),
        // In a cluster, one node's: redis-rs subscribes its channels again where the slot map
        // it holds says, which names the lost master until it reads the map again. So every
        // channel is subscribed again here, and the keep-alive retries until that works.
        (PushKind::Disconnection, _) => {
            tracing::warn!("a redis subscription connection was lost");
            if listener.conn().is_cluster() {
                listener.resubscribe_all();
            }
        }
        _ => {}
    }
}
