//! What keeps the feed's memory bounded: a map's state leaves memory when it has been idle
//! for `idle`, or (least recently used first) when more than `max_maps` are in memory; and
//! when all maps together hold more than `max_events` recent events, the least recently
//! used maps' events go to disk ([`crate::spill`]) while the maps stay.
//!
//! A state leaves memory only under its own lock, with no reservation of seqs in flight: it
//! is marked `leaving`, its events and exact seq are written in one transaction, and only
//! then is it removed, so that a publish that raced it waits and finds the reloaded state,
//! which resumes at exactly the next seq with the same recent events.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use marauder_core::{MapId, StoreError};
use tokio::sync::{Notify, Semaphore};

use crate::feed::{EmbeddedFeed, Slot};
use crate::state::MapState;
use crate::writer::{Op, Reply};

/// How long a publish waits at most for events to be written out of memory.
const ROOM_PATIENCE: Duration = Duration::from_secs(5);

/// Events written in one transaction at most, so that one write-out holds the writer for a
/// bounded time.
const EVENTS_PER_WRITE: usize = 20_000;

type Resident = (MapId, Arc<Slot>, Arc<Mutex<MapState>>);

impl EmbeddedFeed {
    /// Past twice the budget of events, publishers wait for the sweeper to write some out:
    /// memory stays bounded even when events come faster than the disk takes them. The wait
    /// is bounded too, so that a failing disk slows publishes down but never stops them.
    pub(crate) async fn wait_for_room(&self) {
        let hard = self.limits.max_events.saturating_mul(2);
        let deadline = tokio::time::Instant::now() + ROOM_PATIENCE;
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if self.resident_events.load(Ordering::Relaxed) < hard {
                return;
            }
            self.over.notify_one();
            if tokio::time::timeout_at(deadline, room).await.is_err() {
                return;
            }
        }
    }

    /// Every map in memory, least recently used first.
    fn resident(&self) -> Vec<Resident> {
        let slots: Vec<(MapId, Arc<Slot>)> =
            self.maps.lock().unwrap().iter().map(|(map, slot)| (map.clone(), slot.clone())).collect();
        let mut resident: Vec<(u64, Resident)> = slots
            .into_iter()
            .filter_map(|(map, slot)| {
                let state = slot.state.get()?.clone();
                Some((slot.used.load(Ordering::Relaxed), (map, slot, state)))
            })
            .collect();
        resident.sort_by_key(|(used, _)| *used);
        resident.into_iter().map(|(_, r)| r).collect()
    }

    /// Called after a load found `max_maps` in memory: the least recently used ones leave
    /// (a sixteenth of the bound at once, so that this is rare), never `keep`.
    pub(crate) async fn evict_least_recently_used(&self, keep: &MapId) {
        let resident = self.resident();
        let excess = resident.len().saturating_sub(self.limits.max_maps);
        if excess == 0 {
            return;
        }
        let count = excess + self.limits.max_maps / 16;
        // A map someone is using now (they hold its state) is passed over.
        let victims: Vec<Resident> = resident
            .into_iter()
            .filter(|(map, _, state)| map != keep && Arc::strong_count(state) <= 2)
            .take(count)
            .collect();
        self.leave(victims).await;
    }

    /// One pass of the sweeper: idle maps leave; events go to disk while over the budget.
    pub(crate) async fn sweep(&self) {
        let resident = self.resident();
        let idle_before = self.now_ms().saturating_sub(self.limits.idle.as_millis() as u64);
        let idle: Vec<Resident> = resident
            .iter()
            .filter(|(_, slot, _)| slot.used.load(Ordering::Relaxed) <= idle_before)
            .cloned()
            .collect();
        self.leave(idle).await;
        if self.resident_events.load(Ordering::Relaxed) > self.limits.max_events {
            // Down to half the budget, so that writes come in large batches, not one a publish.
            let target = self.limits.max_events / 2;
            let mut chosen = Vec::new();
            let mut freed = 0;
            let held = self.resident_events.load(Ordering::Relaxed);
            for (map, _, state) in self.resident() {
                if held.saturating_sub(freed) <= target {
                    break;
                }
                let s = state.lock().unwrap();
                if s.can_spill() && !s.recent.is_empty() {
                    freed += s.recent.len();
                    drop(s);
                    chosen.push((map, state));
                }
            }
            self.spill(chosen).await;
        }
    }

    /// Writes the maps' recent events to disk; they stay in memory without them.
    async fn spill(&self, maps: Vec<(MapId, Arc<Mutex<MapState>>)>) {
        for batch in batches(maps, |(_, state)| state.lock().unwrap().recent.len()) {
            let mut spills = Vec::new();
            let mut taken = Vec::new();
            for (map, state) in batch {
                let mut s = state.lock().unwrap();
                if s.can_spill() {
                    s.spilling = true;
                    spills.push(s.spill(&map, self.recent_events, false));
                    taken.push((map, state.clone()));
                }
            }
            let ranges: Vec<_> = spills.iter().map(|s| s.range).collect();
            let events: usize = spills.iter().map(|s| s.events.len()).sum();
            tracing::debug!(maps = spills.len(), events, "writing recent events out");
            let written = self.writer.call(Op::Spill(spills)).await;
            if let Err(err) = &written {
                tracing::warn!(error = %err, "writing recent events out failed; they stay in memory");
            }
            let mut deleted = Vec::new();
            for ((map, state), range) in taken.into_iter().zip(ranges) {
                let mut s = state.lock().unwrap();
                s.spilling = false;
                if written.is_ok() {
                    let dropped = s.spilled(range);
                    self.resident_events.fetch_sub(dropped, Ordering::Relaxed);
                }
                // Deleted while this was written: its rows go now, after this write.
                if s.forget_now() {
                    deleted.push(map);
                }
            }
            self.room.notify_waiters();
            for map in deleted {
                self.forget_in_background(&map).await;
            }
        }
    }

    /// The maps leave memory, with their exact seqs and recent events written out (a map
    /// without a record, deleted, has nothing to write); a map that is being reserved seqs
    /// for or written out now stays.
    async fn leave(&self, maps: Vec<Resident>) {
        for batch in batches(maps, |(_, _, state)| state.lock().unwrap().recent.len()) {
            let mut spills = Vec::new();
            let mut taken = Vec::new();
            for (map, slot, state) in batch {
                let mut s = state.lock().unwrap();
                let busy = s.leaving.is_some() || s.spilling || s.extending || s.writes > 0;
                if busy || s.reserving.try_lock().is_err() {
                    continue;
                }
                let left = Arc::new(Semaphore::new(0));
                s.leaving = Some(left.clone());
                // A map without a record that reserved seqs for its deletion writes its exact
                // seq too: loaded again, it must give the deletion the next seq, not one past
                // the reservation (a gap its subscribers would see).
                let reserved_gone = s.gone && !s.deleted && s.reserved > s.seq + 1;
                if s.keeps_rows() || reserved_gone {
                    spills.push(s.spill(&map, self.recent_events, true));
                }
                taken.push((map, slot, state.clone(), left));
            }
            if taken.is_empty() {
                continue;
            }
            let written =
                if spills.is_empty() { Ok(Reply::Done) } else { self.writer.call(Op::Spill(spills)).await };
            if let Err(err) = &written {
                tracing::warn!(error = %err, "writing maps out failed; they stay in memory");
            }
            let mut resident = self.maps.lock().unwrap();
            for (map, slot, state, left) in taken {
                let mut s = state.lock().unwrap();
                if written.is_ok() {
                    if resident.get(&map).is_some_and(|current| Arc::ptr_eq(current, &slot)) {
                        resident.remove(&map);
                    }
                    self.resident_events.fetch_sub(s.recent.len(), Ordering::Relaxed);
                    s.recent = Default::default();
                } else {
                    s.leaving = None;
                }
                left.close();
            }
            drop(resident);
            self.room.notify_waiters();
        }
    }

    /// On shutdown: every map's exact seq and recent events, so that after a clean stop a
    /// map resumes at exactly its seq and a client resumes from any of its recent events.
    pub(crate) async fn write_out_all(&self) -> Result<(), StoreError> {
        let resident = self.resident();
        let claimed = claim_from_sweeper(&resident).await;
        let written = self.write_out(resident).await;
        for (map, state) in claimed {
            let forget = {
                let mut s = state.lock().unwrap();
                s.spilling = false;
                s.forget_now()
            };
            if forget {
                self.forget_in_background(&map).await;
            }
        }
        written
    }

    async fn write_out(&self, resident: Vec<Resident>) -> Result<(), StoreError> {
        for batch in batches(resident, |(_, _, state)| state.lock().unwrap().recent.len()) {
            let spills = batch
                .iter()
                .filter_map(|(map, _, state)| {
                    let mut s = state.lock().unwrap();
                    // A state that is leaving is being written out with its exact seq; a
                    // deleted map's is not written at all.
                    (s.leaving.is_none() && s.keeps_rows()).then(|| {
                        // Seqs at or above seq + 1 were never handed out.
                        s.reserved = s.seq + 1;
                        s.spill(map, self.recent_events, true)
                    })
                })
                .collect();
            self.writer.call(Op::Spill(spills)).await?;
        }
        Ok(())
    }
}

/// Splits `items` into batches of at most [`EVENTS_PER_WRITE`] events each (by `events`).
fn batches<T>(items: Vec<T>, events: impl Fn(&T) -> usize) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = vec![Vec::new()];
    let mut in_last = 0;
    for item in items {
        let n = events(&item);
        if in_last + n > EVENTS_PER_WRITE && !out.last().unwrap().is_empty() {
            out.push(Vec::new());
            in_last = 0;
        }
        in_last += n;
        out.last_mut().unwrap().push(item);
    }
    out
}

/// Runs the sweeper on the current runtime until the feed is dropped: a pass every
/// `tick`, and at once when a bound is exceeded.
pub(crate) fn start_sweeper(feed: &Arc<EmbeddedFeed>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no runtime: idle maps will not leave memory");
        return;
    };
    let (weak, over): (Weak<EmbeddedFeed>, Arc<Notify>) = (Arc::downgrade(feed), feed.over.clone());
    let tick = (feed.limits.idle / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
    runtime.spawn(async move {
        loop {
            tokio::select! {
                () = over.notified() => {}
                () = tokio::time::sleep(tick) => {}
            }
            let Some(feed) = weak.upgrade() else { return };
            feed.sweep().await;
        }
    });
}

/// Keeps the sweeper off every map about to be written out, waiting (a few seconds at most)
/// for a write-out of its in flight: the writer takes ops in order, so what is queued after
/// it lands last, and an older range of recent events cannot overwrite the final one.
async fn claim_from_sweeper(resident: &[Resident]) -> Vec<(MapId, Arc<Mutex<MapState>>)> {
    let mut claimed = Vec::new();
    let mut pending: Vec<_> = resident.iter().map(|(map, _, state)| (map.clone(), state.clone())).collect();
    for _ in 0..CLAIM_TRIES {
        pending.retain(|(map, state)| {
            let mut s = state.lock().unwrap();
            if s.spilling {
                return true;
            }
            s.spilling = true;
            claimed.push((map.clone(), state.clone()));
            false
        });
        if pending.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    claimed
}

/// How many times (10 ms apart) a clean stop looks for the sweeper to finish.
const CLAIM_TRIES: usize = 500;
