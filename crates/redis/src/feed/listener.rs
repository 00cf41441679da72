//! This handler's subscriptions to map channels. One task reads every push of the
//! subscription connection, in order, and hands each map's events to the sink exactly once
//! and in seq order: a duplicate is dropped; a gap (events missed while the connection was
//! down, or published while it resubscribed) is filled from the map's stream first. After a
//! reconnect the connection resubscribes by itself and confirms each channel again; each
//! confirmation fetches whatever the map published meanwhile.
//!
//! A subscriber whose gap the stream no longer covers still sees a jump in seq, which its
//! session answers with a `reset` snapshot: never a silent gap.
//!
//! The same connection follows the notices channel from the start, and hands each notice to
//! the sink as it comes (notices have no seq: one missed while the connection was down is
//! lost, and the store still refuses what it was about).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use marauder_core::protocol::Event;
use marauder_core::{EventSink, Listening, MapId, Notice, StoreError};
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::conn::{Conn, decode_err, store_err};
use crate::keys::Keys;

/// How often the subscription connection is checked; a failed check makes it reconnect.
const KEEPALIVE: Duration = Duration::from_millis(500);

pub struct Listener {
    /// Requests a catch-up through the push channel, so it is handled in order with pushes.
    retry: UnboundedSender<PushInfo>,
    subscriptions: Conn,
    commands: Conn,
    keys: Keys,
    sink: Arc<dyn EventSink>,
    maps: Mutex<HashMap<MapId, Watch>>,
    /// Whether the notices channel is subscribed; the keep-alive subscribes it when not.
    notices: AtomicBool,
}

struct Watch {
    listeners: usize,
    /// Whether the channel is subscribed; held while (un)subscribing.
    subscribed: Arc<tokio::sync::Mutex<bool>>,
    /// The seq of the last event handed to the sink, once one was.
    last: Option<u64>,
    /// A catch-up failed (Redis was not back yet): retried on the keep-alive tick.
    behind: bool,
}

/// The push kind of a catch-up the listener asks of itself.
const CATCH_UP: &str = "marauder-catch-up";

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
    /// `retry` must send to `pushes`, the channel the subscription connection pushes to.
    pub fn start(
        subscriptions: Conn,
        commands: Conn,
        keys: Keys,
        sink: Arc<dyn EventSink>,
        (retry, pushes): (UnboundedSender<PushInfo>, UnboundedReceiver<PushInfo>),
    ) -> Arc<Listener> {
        let listener = Arc::new(Listener {
            retry,
            subscriptions,
            commands,
            keys,
            sink,
            maps: Mutex::default(),
            notices: AtomicBool::new(false),
        });
        tokio::spawn(read_pushes(Arc::downgrade(&listener), pushes));
        tokio::spawn(keep_alive(Arc::downgrade(&listener)));
        listener
    }

    pub async fn listen(self: &Arc<Self>, map: &MapId) -> Result<Listening, StoreError> {
        let gate = {
            let mut maps = self.maps.lock().unwrap();
            let watch = maps.entry(map.clone()).or_insert_with(|| Watch {
                listeners: 0,
                subscribed: Arc::default(),
                last: None,
                behind: false,
            });
            watch.listeners += 1;
            watch.subscribed.clone()
        };
        // Released again if subscribing fails.
        let interest = Interest { listener: Arc::downgrade(self), map: map.clone() };
        let mut subscribed = gate.lock().await;
        if !*subscribed {
            self.subscriptions.subscribe(&self.keys.channel(map)).await.map_err(store_err)?;
            *subscribed = true;
            // From here every event reaches us. Knowing the seq now lets a catch-up after an
            // outage find events published before the first one heard.
            let seq: Result<Option<u64>, _> =
                redis::cmd("GET").arg(self.keys.seq(map)).query_async(&mut self.commands.clone()).await;
            if let (Ok(seq), Some(watch)) = (seq, self.maps.lock().unwrap().get_mut(map)) {
                watch.last = Some(watch.last.unwrap_or(0).max(seq.unwrap_or(0)));
            }
        }
        Ok(Listening::until_dropped(interest))
    }

    /// Subscribes the notices channel. At start it is awaited (a handler that serves before it
    /// follows notices would miss one); later failures are retried by the keep-alive.
    pub async fn follow_notices(self: Arc<Self>) -> Result<(), StoreError> {
        match self.subscriptions.subscribe(&self.keys.notices()).await {
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
    /// cluster slot moved), and the confirmation catches up what was missed.
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
            match listener.subscriptions.subscribe(&listener.keys.channel(&map)).await {
                Ok(()) => *subscribed = true,
                Err(err) => tracing::warn!(%map, error = %err, "resubscribing failed"),
            }
        });
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
                if let Err(err) = listener.subscriptions.unsubscribe(&listener.keys.channel(&map)).await {
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

    /// Hands `event` to the sink if it is the map's next; fills a gap before it.
    async fn on_event(&self, map: MapId, event: Event) {
        let last = {
            let mut maps = self.maps.lock().unwrap();
            let Some(watch) = maps.get_mut(&map) else { return };
            match watch.last {
                Some(last) if event.seq <= last => return, // Already delivered.
                Some(last) if event.seq > last + 1 => last,
                _ => {
                    watch.last = Some(event.seq);
                    self.sink.deliver(&map, Arc::new(event));
                    return;
                }
            }
        };
        tracing::info!(%map, last, next = event.seq, "events missed on the channel; reading them from the stream");
        if !self.catch_up(&map).await {
            // The stream could not be read: the sessions see the jump and ask for a reset.
            self.deliver_after(&map, event);
        }
    }

    /// Delivers what the map's stream holds after the last event delivered; `false` if the
    /// stream could not be read.
    async fn catch_up(&self, map: &MapId) -> bool {
        let Some(last) = self.maps.lock().unwrap().get(map).and_then(|w| w.last) else {
            return true; // Nothing delivered yet, so nothing can have been missed.
        };
        let entries: Result<Vec<(String, Vec<String>)>, _> = redis::cmd("XRANGE")
            .arg(self.keys.events(map))
            .arg(format!("{}-1", last + 1))
            .arg("+")
            .query_async(&mut self.commands.clone())
            .await;
        let entries = match entries {
            Ok(entries) => entries,
            Err(err) => {
                tracing::warn!(%map, error = %err, "reading missed events failed; will retry");
                if let Some(watch) = self.maps.lock().unwrap().get_mut(map) {
                    watch.behind = true;
                }
                return false;
            }
        };
        if let Some(watch) = self.maps.lock().unwrap().get_mut(map) {
            watch.behind = false;
        }
        for (_, fields) in entries {
            match fields.get(1).map(|json| decode_event(json)) {
                Some(Ok(event)) => self.deliver_after(map, event),
                Some(Err(err)) => tracing::error!(%map, error = %err, "undecodable event in the stream"),
                None => tracing::error!(%map, "malformed stream entry"),
            }
        }
        true
    }

    /// Delivers `event` if it is past the last one delivered.
    fn deliver_after(&self, map: &MapId, event: Event) {
        let mut maps = self.maps.lock().unwrap();
        let Some(watch) = maps.get_mut(map) else { return };
        if watch.last.is_none_or(|last| event.seq > last) {
            watch.last = Some(event.seq);
            self.sink.deliver(map, Arc::new(event));
        }
    }
}

async fn read_pushes(listener: Weak<Listener>, mut pushes: UnboundedReceiver<PushInfo>) {
    while let Some(push) = pushes.recv().await {
        let Some(listener) = listener.upgrade() else { return };
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
            continue;
        }
        let map = listener.keys.map_of_channel(&channel);
        match (push.kind, map) {
            (PushKind::Message | PushKind::SMessage, Some(map)) => match payload().map(decode_event) {
                Some(Ok(event)) => listener.on_event(map, event).await,
                _ => tracing::error!(%map, "undecodable message on a map channel"),
            },
            // Also after every reconnect: fetch what was published while the connection was down.
            (PushKind::Subscribe | PushKind::SSubscribe, Some(map)) => {
                listener.catch_up(&map).await;
            }
            (PushKind::Other(kind), Some(map)) if kind == CATCH_UP => {
                listener.catch_up(&map).await;
            }
            // Ours (then nobody listens any more) or Redis's own, when a cluster slot moves.
            (PushKind::Unsubscribe | PushKind::SUnsubscribe, Some(map)) => listener.resubscribe(map),
            (PushKind::Disconnection, _) => {
                tracing::warn!("lost the redis subscription connection; reconnecting");
            }
            _ => {}
        }
    }
}

/// Pings the subscription connection, which makes it reconnect (and resubscribe) once Redis
/// is back, even when nothing else is sent on it.
async fn keep_alive(listener: Weak<Listener>) {
    let mut down = false;
    loop {
        tokio::time::sleep(KEEPALIVE).await;
        let Some(current) = listener.upgrade() else { return };
        let behind: Vec<MapId> =
            current.maps.lock().unwrap().iter().filter(|(_, w)| w.behind).map(|(m, _)| m.clone()).collect();
        for map in behind {
            let channel = Value::BulkString(current.keys.channel(&map).into_bytes());
            let _ =
                current.retry.send(PushInfo { kind: PushKind::Other(CATCH_UP.into()), data: vec![channel] });
        }
        if !current.notices.load(Ordering::Acquire) {
            tokio::spawn(current.clone().follow_notices());
        }
        let conn = current.subscriptions.clone();
        drop(current);
        let ping: Result<(), _> = redis::cmd("PING").query_async(&mut conn.clone()).await;
        match (ping, down) {
            (Err(err), false) => {
                tracing::warn!(error = %err, "redis subscription connection is down");
                down = true;
            }
            (Ok(()), true) => {
                tracing::info!("redis subscription connection is back");
                down = false;
            }
            _ => {}
        }
    }
}
