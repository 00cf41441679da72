//! One map's catch-up: reads its stream past the last event delivered, a chunk at a time,
//! and hands each event on in seq order, until it has passed every seq heard live meanwhile.
//! It runs on a task of its own, so the push reader never waits for it, and reads on the
//! subscription connection, so that it recovers with the connection the keep-alive rebuilds.
//!
//! Memory: one chunk of events per running catch-up, and at most [`CONCURRENT`] run at once
//! (the rest wait for a permit, holding nothing but their map's id).

use std::sync::Arc;
use std::time::Duration;

use marauder_core::MapId;
use marauder_core::protocol::Event;

use super::{Listener, Watch, decode_event};

/// Events read from a stream per round trip.
pub const CHUNK: usize = 100;

/// Catch-ups that read at once: enough to keep a round trip to Redis busy, few enough that
/// a handler following thousands of maps holds a few hundred events at most.
pub const CONCURRENT: usize = 8;

/// Names the watch a catch-up was started for (its subscription gate).
type Gate = Arc<tokio::sync::Mutex<bool>>;

/// How long one read may take before it counts as failed (and is retried by the keep-alive).
const READ_PATIENCE: Duration = Duration::from_secs(5);

/// Catches `map` up; `gate` names the watch it was started for.
pub async fn run(listener: Arc<Listener>, map: MapId, gate: Gate) {
    // The semaphore is never closed.
    let Ok(_permit) = listener.catch_ups.acquire().await else { return };
    #[cfg(test)]
    super::tests::hold(&map).await;
    loop {
        let Some(Some((last, heard))) = with_watch(&listener, &map, &gate, start_read) else { return };
        // Bounded: a read stuck on a connection being replaced would hold the map for good.
        let events = match tokio::time::timeout(READ_PATIENCE, read(&listener, &map, last)).await {
            Ok(Ok(events)) => events,
            Ok(Err(err)) => return failed(&listener, &map, &gate, &err),
            Err(_) => return failed(&listener, &map, &gate, &"no answer"),
        };
        let over = with_watch(&listener, &map, &gate, |watch| deliver(&listener, &map, watch, events, heard));
        if over != Some(false) {
            return;
        }
    }
}

/// Ends a catch-up whose read failed, for the keep-alive to start again.
fn failed(listener: &Listener, map: &MapId, gate: &Gate, error: &dyn std::fmt::Display) {
    tracing::warn!(%map, %error, "reading missed events failed; will retry");
    with_watch(listener, map, gate, |watch| {
        if let Some(catching) = &mut watch.catching {
            catching.failed = true;
        }
    });
}

/// Runs `f` on the watch `gate` names, if it is still there.
fn with_watch<T>(
    listener: &Listener,
    map: &MapId,
    gate: &Gate,
    f: impl FnOnce(&mut Watch) -> T,
) -> Option<T> {
    let mut maps = listener.maps.lock().unwrap();
    maps.get_mut(map).filter(|w| Arc::ptr_eq(&w.subscribed, gate)).map(f)
}

/// Where the next read starts, and the highest seq heard before it.
fn start_read(watch: &mut Watch) -> Option<(u64, u64)> {
    let (Some(last), Some(catching)) = (watch.last, &watch.catching) else {
        watch.catching = None; // Nothing delivered yet: nothing can have been missed.
        return None;
    };
    Some((last, catching.heard))
}

/// Hands `events` on; answers whether the catch-up is over, and if so ends it. `heard` is
/// the highest seq heard before they were read: the stream held it then.
fn deliver(listener: &Listener, map: &MapId, watch: &mut Watch, events: Vec<Event>, heard: u64) -> bool {
    let full = events.len() == CHUNK;
    for event in events {
        if watch.last.is_none_or(|last| event.seq > last) {
            watch.last = Some(event.seq);
            listener.sink.deliver(map, Arc::new(event));
        }
    }
    let last = watch.last.unwrap_or(0);
    let Some(catching) = &mut watch.catching else { return true };
    // More in the stream, more heard while reading, or a reconnect asked for another look.
    if full || catching.heard > heard || std::mem::take(&mut catching.again) {
        return false;
    }
    if heard > last {
        // Trimmed or expired: the sessions see the jump and ask for a reset.
        tracing::warn!(%map, last, heard, "the stream no longer holds events heard");
    }
    watch.catching = None;
    true
}

/// Up to [`CHUNK`] events of the map's stream after `last`, decoded.
async fn read(listener: &Listener, map: &MapId, last: u64) -> redis::RedisResult<Vec<Event>> {
    let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg(listener.keys.events(map))
        .arg(format!("{}-1", last + 1))
        .arg("+")
        .arg("COUNT")
        .arg(CHUNK)
        .query_async(&mut listener.conn())
        .await?;
    let mut events = Vec::with_capacity(entries.len());
    for (_, fields) in entries {
        match fields.get(1).map(|json| decode_event(json)) {
            Some(Ok(event)) => events.push(event),
            Some(Err(err)) => tracing::error!(%map, error = %err, "undecodable event in the stream"),
            None => tracing::error!(%map, "malformed stream entry"),
        }
    }
    Ok(events)
}
