//! The local fan-out: for each map with subscribers on this handler, collect the events the
//! feed delivers for a short window, encode them once as one `events` frame, and give that
//! same frame (a shared handle, no copy) to every subscriber's [`Outbox`], which writes it to
//! the socket right away when nothing is ahead of it, or queues it for the session. The window
//! adapts: the first event after a quiet window goes out at once, later ones wait for their
//! window.
//!
//! A subscriber whose outbox is full is dropped from the map and told `slow`; it never
//! makes the server buffer more. The hub knows nothing of HTTP, backends or the socket under
//! an outbox.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use marauder_core::protocol::{Event, EventBody, UnsubscribeReason, encode_events};
use marauder_core::{EventSink, MapId, Notice};
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::connections::Connections;
use crate::outbox::{NOT_LIVE, Outbox, Queued};

/// Consecutive events of one map, encoded once.
pub struct Batch {
    pub map: MapId,
    pub events: Vec<Arc<Event>>,
    /// The encoded `events` frame: the payload of `wire`, shared.
    pub frame: Utf8Bytes,
    /// The same frame as a WebSocket text frame on the wire (header and payload), for the
    /// hub's direct writes (`Outbox::push_batch`).
    pub wire: Bytes,
    /// Every event that ends subscriptions (usually none): a `left`, a `map_deleted`.
    pub ends: Vec<End>,
    /// Index in `events` of every `renamed` event (usually none).
    pub renames: Vec<usize>,
}

/// An event of a batch after which subscriptions to the map end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    /// Its index in the batch's `events`.
    pub index: usize,
    /// Whose subscriptions end: the player's, or every subscriber's (`None`).
    pub player: Option<String>,
    pub reason: UnsubscribeReason,
}

impl Batch {
    pub fn new(map: MapId, events: Vec<Arc<Event>>) -> Batch {
        let text = encode_events(map.as_str(), events.iter().map(|e| &**e));
        let wire = on_the_wire(text.as_bytes());
        // The frame is the wire form's payload: the same bytes, not a copy.
        let payload = wire.slice(wire.len() - text.len()..);
        let frame = Utf8Bytes::try_from(payload).unwrap_or_else(|_| text.into());
        let mut ends = Vec::new();
        let mut renames = Vec::new();
        for (index, event) in events.iter().enumerate() {
            if let Some((player, reason)) = event.body.ends() {
                ends.push(End { index, player: player.map(str::to_owned), reason });
            } else if matches!(event.body, EventBody::Renamed { .. }) {
                renames.push(index);
            }
        }
        Batch { map, events, frame, wire, ends, renames }
    }

    /// Whether every subscriber is sent all of it when it comes next: nothing in it ends a
    /// subscription or renames a player (the session handles those).
    pub fn whole_for_all(&self) -> bool {
        self.ends.is_empty() && self.renames.is_empty()
    }

    pub fn first_seq(&self) -> u64 {
        self.events.first().map_or(0, |e| e.seq)
    }

    pub fn last_seq(&self) -> u64 {
        self.events.last().map_or(0, |e| e.seq)
    }
}

/// `text` as one final WebSocket text frame from a server (unmasked), as tungstenite writes it.
fn on_the_wire(text: &[u8]) -> Bytes {
    let header = FrameHeader { opcode: OpCode::Data(Data::Text), ..FrameHeader::default() };
    let len = text.len() as u64;
    let mut bytes = Vec::with_capacity(header.len(len) + text.len());
    // Into a `Vec`, formatting cannot fail.
    let _ = header.format(len, &mut bytes);
    bytes.extend_from_slice(text);
    bytes.into()
}

pub struct Hub {
    me: Weak<Hub>,
    /// This handler's WebSockets by player: where notices go.
    connections: Arc<Connections>,
    topics: Mutex<HashMap<MapId, Arc<Topic>>>,
    window: Duration,
    next_sub: AtomicU64,
}

struct Topic {
    map: MapId,
    state: Mutex<TopicState>,
}

#[derive(Default)]
struct TopicState {
    pending: Vec<Arc<Event>>,
    /// A flush task is running; it takes whatever is pending when its window ends.
    flushing: bool,
    subscribers: Vec<Subscriber>,
}

#[derive(Clone)]
struct Subscriber {
    id: u64,
    outbox: Arc<Outbox>,
    /// The subscription's `delivered`.
    delivered: Arc<AtomicU64>,
}

/// A subscription of one outbox to one map; dropping it unsubscribes.
pub struct Subscription {
    pub id: u64,
    /// The seq of the last event of the map sent to the client ([`NOT_LIVE`] until the
    /// session sets it): the session moves it, and so does the hub when it writes a batch
    /// directly (`Outbox::push_batch`).
    delivered: Arc<AtomicU64>,
    topic: Weak<Topic>,
    hub: Weak<Hub>,
}

impl Subscription {
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Sets `delivered`; the session calls it only while it holds its outbox (`Outbox::hold`
    /// or `drain`), when the hub does not write directly.
    pub fn set_delivered(&self, seq: u64) {
        self.delivered.store(seq, Ordering::Relaxed);
    }
}

impl Hub {
    /// `window` is how long a map's events are collected before they are sent together.
    pub fn new(window: Duration) -> Arc<Hub> {
        Arc::new_cyclic(|me| Hub {
            me: me.clone(),
            connections: Arc::default(),
            topics: Mutex::default(),
            window,
            next_sub: AtomicU64::new(1),
        })
    }

    /// From now on, every event of `map` delivered to the hub is sent to `outbox` (written or
    /// queued).
    pub fn subscribe(self: &Arc<Self>, map: &MapId, outbox: Arc<Outbox>) -> Subscription {
        let id = self.next_sub.fetch_add(1, Ordering::Relaxed);
        let delivered = Arc::new(AtomicU64::new(NOT_LIVE));
        let topic = {
            let mut topics = self.topics.lock().unwrap();
            let topic = topics
                .entry(map.clone())
                .or_insert_with(|| Arc::new(Topic { map: map.clone(), state: Mutex::default() }));
            let delivered = delivered.clone();
            topic.state.lock().unwrap().subscribers.push(Subscriber { id, outbox, delivered });
            crate::metrics::subscriptions_changed(1.0);
            topic.clone()
        };
        Subscription { id, delivered, topic: Arc::downgrade(&topic), hub: Arc::downgrade(self) }
    }

    fn unsubscribe(&self, topic: &Topic, id: u64) {
        let mut state = topic.state.lock().unwrap();
        let before = state.subscribers.len();
        state.subscribers.retain(|sub| sub.id != id);
        // A slow subscriber is removed here first, then again when its session drops it.
        crate::metrics::subscriptions_changed(state.subscribers.len() as f64 - before as f64);
        drop(state);
        self.remove_if_idle(topic);
    }

    /// Forgets a topic with no subscribers and nothing left to send.
    fn remove_if_idle(&self, topic: &Topic) {
        let mut topics = self.topics.lock().unwrap();
        let state = topic.state.lock().unwrap();
        let same = topics.get(&topic.map).is_some_and(|t| std::ptr::eq(&**t, topic));
        if same && state.subscribers.is_empty() && state.pending.is_empty() && !state.flushing {
            topics.remove(&topic.map);
        }
    }

    /// Number of local subscribers of a map.
    pub fn subscribers(&self, map: &MapId) -> usize {
        let topic = self.topics.lock().unwrap().get(map).cloned();
        topic.map_or(0, |t| t.state.lock().unwrap().subscribers.len())
    }

    /// Runs while the map is loud. It starts with the first event after a quiet window: that
    /// event goes out at once (after one yield, so events delivered in the same instant share
    /// its frame), and the events that follow are collected for a window each, one frame per
    /// window. So a quiet map's events wait for nothing, and a loud one's frames carry what a
    /// window brings (`--batch-window-ms`); the loop ends after a window with nothing to send.
    ///
    /// A loud map's window also adapts to the load: while the handler cannot keep up, the
    /// window doubles, up to [`MAX_WINDOW_FACTOR`] times the configured one, so the same
    /// events take fewer, larger frames (a frame's cost is mostly fixed: a wake-up, a write,
    /// a read at the other end). Two signs say it cannot keep up: the window's timer fired
    /// late (the workers are too busy to run it on time), or a quarter of the map's
    /// subscribers could not take the flush's first frame at once: their sessions had not
    /// written out the previous one yet, or their sockets were full (their sessions, or
    /// their clients, are a window behind). With neither, the window shrinks
    /// back by half the configured one per flush.
    async fn flush_loop(self: Arc<Self>, topic: Arc<Topic>) {
        tokio::task::yield_now().await;
        let mut flushed = self.flush(&topic);
        let mut window = self.window;
        while flushed.is_some() {
            let due = tokio::time::Instant::now() + window;
            tokio::time::sleep_until(due).await;
            let late = tokio::time::Instant::now().saturating_duration_since(due);
            flushed = self.flush(&topic);
            window = next_window(window, behind(window, late, flushed), self.window);
        }
        self.remove_if_idle(&topic);
    }

    /// Sends what is pending as one batch (or one per run of consecutive seqs); `None` (and
    /// the topic marked idle) when nothing was pending.
    fn flush(&self, topic: &Topic) -> Option<Flushed> {
        let (events, subscribers) = {
            let mut state = topic.state.lock().unwrap();
            if state.pending.is_empty() {
                state.flushing = false;
                return None;
            }
            (std::mem::take(&mut state.pending), state.subscribers.clone())
        };
        // A batch holds consecutive seqs only: a jump (events a remote feed could not
        // recover) starts a new batch, whose first seq tells each session to fill the gap.
        // The common case, no jump, sends `events` as it is, with no copy.
        let mut dropped = Vec::new();
        let mut flushed = Flushed { recipients: subscribers.len(), behind: 0 };
        let mut first = true;
        let mut rest = events;
        loop {
            let jump = rest.windows(2).position(|w| w[0].seq + 1 != w[1].seq).map(|i| i + 1);
            let tail = jump.map(|at| rest.split_off(at));
            let batch = Arc::new(Batch::new(topic.map.clone(), rest));
            let mut queued = subscribers.len() - dropped.len();
            let mut direct = 0;
            for Subscriber { id, outbox, delivered } in subscribers.iter() {
                if dropped.contains(id) {
                    continue;
                }
                match outbox.push_batch(&batch, delivered) {
                    Queued::Sent => direct += 1,
                    Queued::Caught => {}
                    Queued::Waiting => {
                        direct += 1;
                        flushed.behind += usize::from(first);
                    }
                    // Behind this flush's own first batch is not behind: counted on the first.
                    Queued::Behind if first => flushed.behind += 1,
                    Queued::Behind => {}
                    Queued::Full => {
                        tracing::debug!(map = %topic.map, sub = id, "subscriber too slow; dropped");
                        self.unsubscribe(topic, *id);
                        outbox.push_slow(topic.map.clone(), *id);
                        dropped.push(*id);
                        queued -= 1;
                        crate::metrics::slow_drop();
                    }
                }
            }
            // Counted once per batch: per recipient would contend on every subscriber.
            crate::metrics::batch_queued(batch.events.len(), queued, direct, batch.frame.len());
            first = false;
            match tail {
                Some(tail) => rest = tail,
                None => break,
            }
        }
        Some(flushed)
    }
}

/// What a flush found: how many subscribers it sent to, and how many of them were behind
/// (still holding an earlier frame, queued or in the socket's buffer, when the flush's first
/// batch came).
#[derive(Debug, Clone, Copy)]
struct Flushed {
    recipients: usize,
    behind: usize,
}

/// How far a loud map's window may grow under load, as a multiple of the configured one:
/// 16 × 10 ms = 160 ms keeps the added latency within the 250 ms p99 budget of the
/// reference benchmark's 10,000 clients (BENCHMARKS.md: at 8 × the frames outran the CPU).
pub const MAX_WINDOW_FACTOR: u32 = 16;

/// Whether a loud map's handler is behind, after a flush whose timer fired `late`.
fn behind(window: Duration, late: Duration, flushed: Option<Flushed>) -> bool {
    late >= window / 4 || flushed.is_some_and(|f| f.behind > 0 && f.behind * 4 >= f.recipients)
}

/// The window after a flush: doubled while the handler is behind (see `flush_loop`), else
/// back towards `base` by half of it.
fn next_window(window: Duration, behind: bool, base: Duration) -> Duration {
    if behind {
        (window * 2).min(base * MAX_WINDOW_FACTOR)
    } else {
        window.saturating_sub(base / 2).max(base)
    }
}

impl Hub {
    /// The registry of this handler's WebSockets, which notices from every handler reach.
    pub fn connections(&self) -> Arc<Connections> {
        self.connections.clone()
    }
}

impl EventSink for Hub {
    fn notice(&self, notice: &Notice) {
        self.connections.apply(notice);
    }

    fn deliver(&self, map: &MapId, event: Arc<Event>) {
        let Some(topic) = self.topics.lock().unwrap().get(map).cloned() else {
            return; // No one here listens to this map.
        };
        let mut state = topic.state.lock().unwrap();
        state.pending.push(event);
        if !state.flushing {
            state.flushing = true;
            drop(state);
            if let Some(hub) = self.me.upgrade() {
                tokio::spawn(hub.flush_loop(topic));
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Not written directly any more: the session holds its outbox when it drops a
        // subscription (a direct write under way ends first), and sees this before it settles.
        self.delivered.store(NOT_LIVE, Ordering::Relaxed);
        if let (Some(hub), Some(topic)) = (self.hub.upgrade(), self.topic.upgrade()) {
            hub.unsubscribe(&topic, self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use marauder_core::protocol::EventBody;

    use super::*;
    use crate::outbox::Outgoing;

    fn joined(seq: u64) -> Arc<Event> {
        Arc::new(Event { seq, body: EventBody::Joined { player: format!("p{seq}"), name: "N".into() } })
    }

    /// The hub's topic of `map`, which a test flushes by hand.
    fn topic(hub: &Hub, map: &MapId) -> Arc<Topic> {
        hub.topics.lock().unwrap().get(map).cloned().expect("the map has a subscriber")
    }

    fn batches(outbox: &Outbox) -> Vec<Arc<Batch>> {
        outbox
            .drain()
            .into_iter()
            .map(|item| match item {
                Outgoing::Batch(batch) => batch,
                Outgoing::Slow { .. } => panic!("unexpected slow"),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_batch_is_encoded_once_and_shared_by_every_subscriber() {
        let hub = Hub::new(Duration::from_millis(1));
        let map = MapId::parse("m").unwrap();
        let (a, b) = (Outbox::new(1 << 20), Outbox::new(1 << 20));
        let _sa = hub.subscribe(&map, a.clone());
        let _sb = hub.subscribe(&map, b.clone());
        for seq in 1..=3 {
            hub.deliver(&map, joined(seq));
        }
        a.ready().await;
        b.ready().await;
        let (got_a, got_b) = (batches(&a), batches(&b));
        assert_eq!(got_a.len(), 1, "three events in one window make one frame");
        assert!(Arc::ptr_eq(&got_a[0], &got_b[0]), "the same batch, not a copy");
        assert_eq!((got_a[0].first_seq(), got_a[0].last_seq()), (1, 3));
        assert!(got_a[0].frame.as_str().starts_with(r#"{"type":"events","map":"m","events":[{"seq":1,"#));
    }

    /// The clock is paused: it moves only when every task waits on it, so "at once" is
    /// exactly no time and a window is exactly its length.
    #[tokio::test(start_paused = true)]
    async fn a_quiet_maps_event_goes_at_once_and_a_loud_maps_wait_for_their_window() {
        let window = Duration::from_millis(10);
        let hub = Hub::new(window);
        let map = MapId::parse("m").unwrap();
        let outbox = Outbox::new(1 << 20);
        let _sub = hub.subscribe(&map, outbox.clone());
        let start = tokio::time::Instant::now();
        hub.deliver(&map, joined(1));
        hub.deliver(&map, joined(2));
        outbox.ready().await;
        assert_eq!(start.elapsed(), Duration::ZERO, "the first events after a quiet spell wait for nothing");
        let runs = |outbox: &Outbox| {
            batches(outbox).iter().map(|b| (b.first_seq(), b.last_seq())).collect::<Vec<_>>()
        };
        assert_eq!(runs(&outbox), [(1, 2)], "delivered in the same instant: one frame");

        hub.deliver(&map, joined(3));
        hub.deliver(&map, joined(4));
        outbox.ready().await;
        assert_eq!(start.elapsed(), window, "while the map is loud, a frame per window");
        assert_eq!(runs(&outbox), [(3, 4)]);

        // A window with nothing to send ends the loud spell: the next event goes at once.
        tokio::time::sleep(window * 3).await;
        let quiet_again = tokio::time::Instant::now();
        hub.deliver(&map, joined(5));
        outbox.ready().await;
        assert_eq!(quiet_again.elapsed(), Duration::ZERO);
        assert_eq!(runs(&outbox), [(5, 5)]);
    }

    #[test]
    fn a_loud_maps_window_doubles_while_the_handler_is_behind_and_shrinks_back_when_not() {
        let ms = Duration::from_millis;
        let base = ms(10);
        let flushed = |recipients, behind| Some(Flushed { recipients, behind });
        assert!(!behind(base, ms(0), flushed(100, 0)), "on time, everyone caught up");
        assert!(!behind(base, ms(2), flushed(100, 24)), "a little late, a few behind");
        assert!(behind(base, ms(3), flushed(100, 0)), "the timer a quarter of the window late");
        assert!(behind(base, ms(0), flushed(100, 25)), "a quarter of the subscribers behind");
        assert!(behind(base, ms(0), flushed(1, 1)), "the only subscriber behind");
        assert!(!behind(base, ms(0), None), "nothing sent");

        assert_eq!(next_window(base, false, base), base, "keeping up: the configured window");
        assert_eq!(next_window(base, true, base), ms(20), "behind: doubled");
        let mut window = base;
        for _ in 0..10 {
            window = next_window(window, true, base);
        }
        assert_eq!(window, ms(160), "never past the cap");
        let shrinking: Vec<_> = (0..4)
            .map(|_| {
                window = next_window(window, false, base);
                window
            })
            .collect();
        assert_eq!(shrinking, [ms(155), ms(150), ms(145), ms(140)], "back by half the base a flush");
        assert_eq!(next_window(ms(12), false, base), base, "never below the configured window");
    }

    #[tokio::test]
    async fn a_flush_counts_the_subscribers_still_holding_the_previous_frame() {
        let hub = Hub::new(Duration::from_secs(3600));
        let map = MapId::parse("m").unwrap();
        let (reader, laggard) = (Outbox::new(1 << 20), Outbox::new(1 << 20));
        let _r = hub.subscribe(&map, reader.clone());
        let _l = hub.subscribe(&map, laggard.clone());
        let topic = topic(&hub, &map);
        hub.deliver(&map, joined(1));
        let first = hub.flush(&topic).expect("an event was pending");
        assert_eq!((first.recipients, first.behind), (2, 0));
        reader.drain(); // The laggard writes nothing out.
        hub.deliver(&map, joined(2));
        let second = hub.flush(&topic).expect("an event was pending");
        assert_eq!((second.recipients, second.behind), (2, 1));
        assert!(hub.flush(&topic).is_none(), "nothing pending: the topic goes idle");
        assert_eq!((reader.drain().len(), laggard.drain().len()), (1, 2));
    }

    #[test]
    fn a_batch_knows_the_events_that_end_subscriptions_and_the_renames() {
        let event = |seq, body| Arc::new(Event { seq, body });
        let left = |player: &str, removed: bool| EventBody::Left {
            player: player.into(),
            name: "N".into(),
            removed: removed.then_some(true),
        };
        let events = vec![
            joined(1),
            event(2, left("a", false)),
            event(3, EventBody::Renamed { player: "b".into(), name: "B".into() }),
            event(4, left("b", true)),
            event(5, EventBody::MapDeleted {}),
        ];
        let batch = Batch::new(MapId::parse("m").unwrap(), events);
        let end = |index, player: Option<&str>, reason| End { index, player: player.map(Into::into), reason };
        assert_eq!(
            batch.ends,
            [
                end(1, Some("a"), UnsubscribeReason::Left),
                end(3, Some("b"), UnsubscribeReason::Removed),
                end(4, None, UnsubscribeReason::Deleted),
            ]
        );
        assert_eq!(batch.renames, [2]);
        let common = Batch::new(MapId::parse("m").unwrap(), vec![joined(6), joined(7)]);
        assert!(common.ends.is_empty() && common.renames.is_empty());
    }

    #[tokio::test]
    async fn a_jump_in_seq_starts_a_new_batch_so_no_frame_hides_a_gap() {
        let hub = Hub::new(Duration::from_secs(3600));
        let map = MapId::parse("m").unwrap();
        let outbox = Outbox::new(1 << 20);
        let _sub = hub.subscribe(&map, outbox.clone());
        for seq in [1, 2, 5, 6, 7] {
            hub.deliver(&map, joined(seq));
        }
        let topic = topic(&hub, &map);
        assert!(hub.flush(&topic).is_some());
        let runs: Vec<(u64, u64)> = batches(&outbox).iter().map(|b| (b.first_seq(), b.last_seq())).collect();
        assert_eq!(runs, [(1, 2), (5, 7)]);
    }

    #[tokio::test]
    async fn a_full_outbox_is_dropped_from_the_map_and_told_why() {
        // A window no test outlives: batches go out only when the test flushes.
        let hub = Hub::new(Duration::from_secs(3600));
        let map = MapId::parse("m").unwrap();
        let (stuck, fine) = (Outbox::new(200), Outbox::new(1 << 20));
        let sub = hub.subscribe(&map, stuck.clone());
        let _fine = hub.subscribe(&map, fine.clone());
        for seq in 1..=10 {
            hub.deliver(&map, joined(seq));
            let topic = topic(&hub, &map);
            assert!(hub.flush(&topic).is_some());
        }
        let items = stuck.drain();
        let batches = items.iter().filter(|i| matches!(i, Outgoing::Batch(_))).count();
        assert!((1..10).contains(&batches), "{batches} batches fit in 200 bytes");
        assert!(
            matches!(items.back(), Some(Outgoing::Slow { map: m, sub: id }) if m == &map && *id == sub.id)
        );
        assert_eq!(items.len(), batches + 1, "one notice, after the frames that fit");
        assert_eq!(hub.subscribers(&map), 1, "only the reader that keeps up is left");
        assert_eq!(fine.drain().len(), 10);
    }
}
