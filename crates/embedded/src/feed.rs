//! [`Feed`] in memory: per map, the seq, the recent events and the members' latest
//! locations, behind one mutex so that a publish and a snapshot never interleave. The seq is
//! reserved durably in blocks ahead of use, so after a crash it resumes above anything a
//! client can have seen (those clients get a `reset`), and never repeats.
//!
//! Memory is bounded ([`crate::evict`]): a map's state is loaded on first use (off the
//! async workers, one load per map at a time, no lock held that other maps need), written
//! out and dropped when unused, and its recent events go to disk ([`crate::spill`]) when
//! all maps together hold more than their budget.
//!
//! A map's deletion is its last event: then its state leaves memory and its rows on disk go,
//! once no write of them is in flight that could land after and bring them back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use async_trait::async_trait;
use marauder_core::protocol::{Event, EventBody};
use marauder_core::{
    Change, EventSink, Feed, Listening, MapId, Membership, Notice, Replay, Snapshot, StoreError,
};
use tokio::sync::{Notify, OnceCell, Semaphore};
use tokio_util::task::TaskTracker;

use crate::db::Db;
use crate::state::{MapState, load};
use crate::trails::TrailBuffer;
use crate::writer::{Op, Writer};
use crate::{FeedLimits, spill};

/// How far ahead seqs are reserved: one fsync per this many events of a map. After a crash
/// a map's seq jumps by at most this much.
const SEQ_BLOCK: u64 = 1 << 20;

pub struct EmbeddedFeed {
    pub(crate) db: Db,
    pub(crate) writer: Writer,
    pub(crate) trails: Arc<TrailBuffer>,
    pub(crate) sink: Arc<dyn EventSink>,
    pub(crate) recent_events: usize,
    pub(crate) limits: FeedLimits,
    /// Held only for operations on the map itself, never across a load or a write.
    pub(crate) maps: Mutex<HashMap<MapId, Arc<Slot>>>,
    /// Events held in memory by every map together.
    pub(crate) resident_events: AtomicUsize,
    pub(crate) started: Instant,
    /// Wakes the sweeper when memory is over a bound.
    pub(crate) over: Arc<Notify>,
    /// Wakes the publishers that wait for the sweeper to write events out.
    pub(crate) room: Notify,
    /// Seq reservations made off the publishing path, and evictions: `flush` waits for
    /// them, so that none lands after the exact seqs a clean stop writes (it would make a
    /// restart jump ahead).
    pub(crate) background: TaskTracker,
    /// This feed, for the work it hands to its own tasks.
    me: Weak<EmbeddedFeed>,
}

/// A map's place in memory: filled once by one loader while the others wait.
#[derive(Default)]
pub(crate) struct Slot {
    pub(crate) state: OnceCell<Arc<Mutex<MapState>>>,
    /// Milliseconds since the feed started, at the last publish, snapshot or replay.
    pub(crate) used: AtomicU64,
}

/// What a publish did.
struct Published {
    seq: Option<u64>,
    /// It deleted the map: its state is to leave memory.
    deleted: bool,
    /// And its rows on disk are to go now.
    forget: bool,
}

enum Step<T> {
    Done(T),
    /// The state left memory meanwhile: wait for this, then ask again.
    Wait(Arc<Semaphore>),
}

impl EmbeddedFeed {
    pub(crate) fn new(
        me: Weak<EmbeddedFeed>,
        db: Db,
        writer: Writer,
        trails: Arc<TrailBuffer>,
        sink: Arc<dyn EventSink>,
        recent_events: usize,
        limits: FeedLimits,
    ) -> Self {
        EmbeddedFeed {
            db,
            writer,
            trails,
            sink,
            recent_events,
            limits,
            maps: Mutex::default(),
            resident_events: AtomicUsize::new(0),
            started: Instant::now(),
            over: Arc::default(),
            room: Notify::new(),
            background: TaskTracker::new(),
            me,
        }
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The map's state, loaded from the database on first use.
    pub(crate) async fn state(&self, map: &MapId) -> Result<Arc<Mutex<MapState>>, StoreError> {
        let (slot, resident) = {
            let mut maps = self.maps.lock().unwrap();
            let resident = maps.len();
            // A lookup first: the entry API would copy the id on every publish.
            let slot = match maps.get(map) {
                Some(slot) => slot.clone(),
                None => maps.entry(map.clone()).or_default().clone(),
            };
            (slot, resident)
        };
        slot.used.store(self.now_ms(), Ordering::Relaxed);
        let mut loaded = false;
        let state = slot
            .state
            .get_or_try_init(|| async {
                loaded = true;
                let (trails, map) = (self.trails.clone(), map.clone());
                let state = self.db.read_blocking(move |txn| load(txn, &trails, &map)).await?;
                Ok::<_, StoreError>(Arc::new(Mutex::new(state)))
            })
            .await?
            .clone();
        if loaded && resident >= self.limits.max_maps {
            // On a task of its own, which the caller waits for: a request dropped midway (its
            // client gone) must not leave the victims marked as leaving with nobody to finish
            // writing them out, which would stall every later use of those maps.
            match self.me.upgrade() {
                Some(feed) => {
                    let map = map.clone();
                    let evicting =
                        self.background.spawn(async move { feed.evict_least_recently_used(&map).await });
                    let _ = evicting.await;
                }
                None => self.evict_least_recently_used(map).await,
            }
        }
        Ok(state)
    }

    /// Runs `f` on the map's state once it is in memory and staying.
    async fn with_state<T>(
        &self,
        map: &MapId,
        mut f: impl FnMut(&mut MapState) -> T,
    ) -> Result<T, StoreError> {
        loop {
            let state = self.state(map).await?;
            let step = {
                let mut s = state.lock().unwrap();
                match &s.leaving {
                    Some(left) => Step::Wait(left.clone()),
                    None => Step::Done(f(&mut s)),
                }
            };
            match step {
                Step::Done(value) => return Ok(value),
                Step::Wait(left) => wait(&left).await,
            }
        }
    }

    fn extend_in_background(&self, map: &MapId, state: &Arc<Mutex<MapState>>, at_least: u64) {
        let (writer, map, state) = (self.writer.clone(), map.clone(), state.clone());
        self.background.spawn(async move {
            if let Err(err) = reserve(&writer, &map, &state, at_least, true).await {
                tracing::warn!(%map, error = %err, "reserving seqs failed");
            }
        });
    }

    /// Gives the change the map's next seq, if one is reserved; else the gate to wait at.
    fn try_publish(
        &self,
        map: &MapId,
        state: &Arc<Mutex<MapState>>,
        change: &mut Option<Change>,
    ) -> Step<Result<Published, Arc<tokio::sync::Mutex<()>>>> {
        let mut s = state.lock().unwrap();
        if let Some(left) = &s.leaving {
            return Step::Wait(left.clone());
        }
        if !s.accepts(change.as_ref().expect("taken once, then we return")) {
            return Step::Done(Ok(Published { seq: None, deleted: false, forget: false }));
        }
        if s.seq + s.seqs_needed(change.as_ref().expect("taken once, then we return")) >= s.reserved {
            return Step::Done(Err(s.reserving.clone()));
        }
        let change = change.take().expect("taken once, then we return");
        let (follow_ups, states) = match &change {
            Change::Location(location) => s.crossings(location),
            _ => (Vec::new(), None),
        };
        if let (Change::Location(location), Some(states)) = (&change, states)
            && s.keeps_rows()
        {
            // Under the lock: the writer's next commit takes the latest states decided.
            self.writer.presence.put(map, &location.player, states);
        }
        s.apply(&change);
        let (kind, deletes) = (change.kind(), change.membership() == Membership::Clear);
        self.push(map, &mut s, kind, change.into_body());
        for body in follow_ups {
            self.push(map, &mut s, body.kind(), body);
        }
        let seq = s.seq;
        if deletes {
            s.deleted = true;
            self.resident_events.fetch_sub(s.recent.len(), Ordering::Relaxed);
            s.recent.clear();
            s.disk = None;
            let forget = s.forget_now();
            return Step::Done(Ok(Published { seq: Some(seq), deleted: true, forget }));
        }
        // Reserve the next block while half of this one is left, off the hot path.
        if !s.extending && s.reserved - seq < SEQ_BLOCK / 2 {
            s.extending = true;
            s.writes += 1;
            self.extend_in_background(map, state, s.reserved + SEQ_BLOCK);
        }
        Step::Done(Ok(Published { seq: Some(seq), deleted: false, forget: false }))
    }

    /// Gives `body` the map's next seq, buffers it and hands it to the sink (under the map's
    /// lock, which keeps delivery in seq order).
    fn push(&self, map: &MapId, s: &mut MapState, kind: &'static str, body: EventBody) {
        s.seq += 1;
        let event = Arc::new(Event { seq: s.seq, body });
        if s.recent.len() == self.recent_events {
            s.recent.pop_front();
            // What was on disk no longer joins what is in memory.
            s.disk = None;
        } else if self.resident_events.fetch_add(1, Ordering::Relaxed) + 1 > self.limits.max_events {
            self.over.notify_one();
        }
        s.recent.push_back(event.clone());
        marauder_core::count_published(kind);
        self.sink.deliver(map, event);
    }

    /// After the map's deletion is published: its state leaves memory (a later use loads
    /// what the store has of it: no record, no members), and, if `forget`, its rows on disk
    /// go now (else the write in flight that kept them drops them when it ends).
    async fn deleted(&self, map: &MapId, state: &Arc<Mutex<MapState>>, forget: bool) {
        {
            let mut maps = self.maps.lock().unwrap();
            if maps.get(map).and_then(|slot| slot.state.get()).is_some_and(|s| Arc::ptr_eq(s, state)) {
                maps.remove(map);
            }
        }
        if forget {
            self.forget_in_background(map).await;
        }
    }

    /// Drops a deleted map's rows on disk, on a task that runs to its end even if the caller
    /// goes away.
    pub(crate) async fn forget_in_background(&self, map: &MapId) {
        let (writer, map) = (self.writer.clone(), map.clone());
        let _ = self.background.spawn(async move { forget_rows(&writer, &map).await }).await;
    }

    /// The events after `since` that are on disk (from `from` on) and then in memory; a
    /// reset if those on disk are gone meanwhile.
    async fn replay_from_disk(
        &self,
        map: &MapId,
        since: u64,
        to: u64,
        in_memory: Vec<Arc<Event>>,
    ) -> Result<Replay, StoreError> {
        let id = map.clone();
        let read = self.db.read_blocking(move |txn| spill::read(txn, &id, since + 1, to)).await?;
        match read {
            Some(mut events) => {
                events.extend(in_memory);
                Ok(Replay::Events(events))
            }
            None => self.with_state(map, |s| Replay::Reset(s.snapshot())).await,
        }
    }
}

async fn wait(left: &Semaphore) {
    // The semaphore has no permits: this returns when it is closed.
    let _ = left.acquire().await;
}

/// Reserves the map's seqs below `at_least` (the caller counted it in `writes`); `extending`:
/// it is the reservation off the publishing path. The last write of a deleted map to end
/// drops its rows.
async fn reserve(
    writer: &Writer,
    map: &MapId,
    state: &Arc<Mutex<MapState>>,
    at_least: u64,
    extending: bool,
) -> Result<(), StoreError> {
    let reserved = writer.call(Op::ReserveSeqs(vec![(map.clone(), at_least)])).await;
    let forget = {
        let mut s = state.lock().unwrap();
        s.writes -= 1;
        s.extending &= !extending;
        if reserved.is_ok() {
            s.reserved = s.reserved.max(at_least);
        }
        s.forget_now()
    };
    if forget {
        forget_rows(writer, map).await;
    }
    reserved.map(drop)
}

/// Drops what the feed keeps on disk of a deleted map. A failure leaves a few rows that
/// nothing reads (the map has no record): worth a warning, not an error to the publisher.
pub(crate) async fn forget_rows(writer: &Writer, map: &MapId) {
    if let Err(err) = writer.call(Op::ForgetFeed(map.clone())).await {
        tracing::warn!(%map, error = %err, "dropping a deleted map's feed rows failed");
    }
}

#[async_trait]
impl Feed for EmbeddedFeed {
    async fn publish(&self, map: &MapId, change: Change) -> Result<Option<u64>, StoreError> {
        self.wait_for_room().await;
        let mut change = Some(change);
        loop {
            let state = self.state(map).await?;
            let gate = match self.try_publish(map, &state, &mut change) {
                Step::Wait(left) => {
                    wait(&left).await;
                    continue;
                }
                Step::Done(Ok(published)) => {
                    if published.deleted {
                        self.deleted(map, &state, published.forget).await;
                    }
                    return Ok(published.seq);
                }
                Step::Done(Err(gate)) => gate,
            };
            // One reservation at a time per map: the publishers that queued behind it find
            // the room it made instead of each asking the writer for the same block.
            let _turn = gate.lock().await;
            let needed = {
                let mut s = state.lock().unwrap();
                // Leaving memory: the next turn of the loop waits for it.
                let needed = (s.leaving.is_none() && !s.deleted && s.seq + 1 >= s.reserved)
                    .then_some(s.seq + SEQ_BLOCK);
                s.writes += u32::from(needed.is_some());
                needed
            };
            if let Some(at_least) = needed {
                // On a task of its own: it must end (and count itself out) even if this
                // publish is dropped.
                let (writer, id, held) = (self.writer.clone(), map.clone(), state.clone());
                let reserving =
                    self.background.spawn(async move { reserve(&writer, &id, &held, at_least, false).await });
                reserving.await.map_err(|e| crate::internal("reserving seqs", e))??;
            }
        }
    }

    async fn snapshot(&self, map: &MapId) -> Result<Snapshot, StoreError> {
        self.with_state(map, |s| s.snapshot()).await
    }

    async fn replay(&self, map: &MapId, since: u64) -> Result<Replay, StoreError> {
        enum Found {
            Answer(Replay),
            OnDisk { to: u64, in_memory: Vec<Arc<Event>> },
        }
        let found = self
            .with_state(map, |s| {
                if since > s.seq {
                    return Found::Answer(Replay::Reset(s.snapshot()));
                }
                let front = s.recent.front().map_or(s.seq + 1, |e| e.seq);
                if since + 1 >= front {
                    let skip = (since + 1 - front) as usize;
                    return Found::Answer(Replay::Events(s.recent.iter().skip(skip).cloned().collect()));
                }
                match s.disk {
                    Some((first, last)) if last + 1 == front && since + 1 >= first => {
                        Found::OnDisk { to: last, in_memory: s.recent.iter().cloned().collect() }
                    }
                    _ => Found::Answer(Replay::Reset(s.snapshot())),
                }
            })
            .await?;
        match found {
            Found::Answer(replay) => Ok(replay),
            Found::OnDisk { to, in_memory } => self.replay_from_disk(map, since, to, in_memory).await,
        }
    }

    async fn inside(&self, map: &MapId, place: &str) -> Result<Vec<String>, StoreError> {
        self.with_state(map, |s| s.inside(place)).await
    }

    async fn listen(&self, _map: &MapId) -> Result<Listening, StoreError> {
        Ok(Listening::always()) // Every publish is in this process and reaches the sink.
    }

    /// One process: the notice goes straight to this handler's sink.
    async fn announce(&self, notice: Notice) -> Result<(), StoreError> {
        self.sink.notice(&notice);
        Ok(())
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.background.close();
        self.background.wait().await;
        self.write_out_all().await
    }
}
