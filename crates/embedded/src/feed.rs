//! [`Feed`] in memory: per map, the seq, the recent events and the members' latest
//! locations, behind one mutex so that a publish and a snapshot never interleave. The seq is
//! reserved durably in blocks ahead of use, so after a crash it resumes above anything a
//! client can have seen (those clients get a `reset`), and never repeats.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use marauder_core::protocol::{Event, EventBody, PlayerLocation};
use marauder_core::{Change, EventSink, Feed, Listening, MapId, PlayerId, Replay, Snapshot, StoreError};
use redb::{Database, ReadableDatabase};

use crate::codec::{self, db_err};
use crate::store::{latest_point, pairs_of, read_player};
use crate::trails::TrailBuffer;
use crate::writer::{Op, Writer};

/// How far ahead seqs are reserved: one fsync per this many events of a map. After a crash
/// a map's seq jumps by at most this much.
const SEQ_BLOCK: u64 = 1 << 20;

pub struct EmbeddedFeed {
    db: Arc<Database>,
    writer: Writer,
    trails: Arc<TrailBuffer>,
    sink: Arc<dyn EventSink>,
    recent_events: usize,
    maps: Mutex<HashMap<MapId, Arc<Mutex<MapState>>>>,
}

struct MapState {
    seq: u64,
    /// Every seq handed out is below this durable value.
    reserved: u64,
    /// A reservation above `reserved` is on its way to disk.
    extending: bool,
    /// Held by the publisher that waits for a reservation.
    reserving: Arc<tokio::sync::Mutex<()>>,
    recent: VecDeque<Arc<Event>>,
    members: HashSet<String>,
    latest: HashMap<String, PlayerLocation>,
}

impl MapState {
    fn snapshot(&self) -> Snapshot {
        let mut locations: Vec<PlayerLocation> = self.latest.values().cloned().collect();
        locations.sort_by(|a, b| a.player.cmp(&b.player));
        Snapshot { seq: self.seq, locations }
    }

    /// Applies the change to the members and latest locations; `None` if it no longer
    /// applies.
    fn apply(&mut self, change: Change) -> Option<EventBody> {
        match change {
            Change::Location(location) => {
                if !self.members.contains(&location.player) {
                    return None;
                }
                let newer = self.latest.get(&location.player).is_none_or(|l| l.fix.ts <= location.fix.ts);
                if newer {
                    self.latest.insert(location.player.clone(), location.clone());
                }
                Some(EventBody::Location(location))
            }
            Change::Joined { player, name, latest } => {
                self.members.insert(player.clone());
                if let Some(latest) = latest {
                    self.latest.insert(player.clone(), latest);
                }
                Some(EventBody::Joined { player, name })
            }
            Change::Left { player, name } => {
                self.members.remove(&player);
                self.latest.remove(&player);
                Some(EventBody::Left { player, name })
            }
        }
    }
}

impl EmbeddedFeed {
    pub(crate) fn new(
        db: Arc<Database>,
        writer: Writer,
        trails: Arc<TrailBuffer>,
        sink: Arc<dyn EventSink>,
        recent_events: usize,
    ) -> Self {
        EmbeddedFeed { db, writer, trails, sink, recent_events, maps: Mutex::default() }
    }

    /// The map's state, loaded from the database on first use.
    fn state(&self, map: &MapId) -> Result<Arc<Mutex<MapState>>, StoreError> {
        let mut maps = self.maps.lock().unwrap();
        if let Some(state) = maps.get(map) {
            return Ok(state.clone());
        }
        let state = Arc::new(Mutex::new(self.load(map)?));
        maps.insert(map.clone(), state.clone());
        Ok(state)
    }

    fn load(&self, map: &MapId) -> Result<MapState, StoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let reserved = txn
            .open_table(codec::SEQ_RESERVED)
            .map_err(db_err)?
            .get(map.as_str())
            .map_err(db_err)?
            .map_or(0, |v| v.value());
        let members: HashSet<String> = pairs_of(&txn, codec::MEMBERS, map.as_str())?.into_iter().collect();
        let mut latest = HashMap::new();
        for member in &members {
            let Some(id) = PlayerId::parse(member) else {
                continue;
            };
            let (Some(player), Some(fix)) =
                (read_player(&txn, member)?, latest_point(&txn, &self.trails, &id)?)
            else {
                continue;
            };
            latest.insert(member.clone(), PlayerLocation { player: member.clone(), name: player.name, fix });
        }
        Ok(MapState {
            // Every seq below `reserved` may have been handed out before a crash.
            seq: reserved.saturating_sub(1),
            reserved,
            extending: false,
            reserving: Arc::default(),
            recent: VecDeque::with_capacity(self.recent_events.min(64)),
            members,
            latest,
        })
    }

    fn extend_in_background(&self, map: &MapId, state: &Arc<Mutex<MapState>>, at_least: u64) {
        let (writer, map, state) = (self.writer.clone(), map.clone(), state.clone());
        tokio::spawn(async move {
            let reserved = writer.call(Op::ReserveSeqs(vec![(map.clone(), at_least)])).await;
            let mut s = state.lock().unwrap();
            s.extending = false;
            match reserved {
                Ok(_) => s.reserved = s.reserved.max(at_least),
                Err(err) => tracing::warn!(%map, error = %err, "reserving seqs failed"),
            }
        });
    }

    /// Raises the map's durable reservation to `at_least`.
    async fn reserve(&self, map: &MapId, state: &Mutex<MapState>, at_least: u64) -> Result<(), StoreError> {
        self.writer.call(Op::ReserveSeqs(vec![(map.clone(), at_least)])).await?;
        let mut state = state.lock().unwrap();
        state.reserved = state.reserved.max(at_least);
        Ok(())
    }
}

#[async_trait]
impl Feed for EmbeddedFeed {
    async fn publish(&self, map: &MapId, change: Change) -> Result<Option<u64>, StoreError> {
        let state = self.state(map)?;
        let mut change = Some(change);
        loop {
            let gate = {
                let mut s = state.lock().unwrap();
                if s.seq + 1 < s.reserved {
                    let change = change.take().expect("taken once, then we return");
                    let Some(body) = s.apply(change) else {
                        return Ok(None);
                    };
                    s.seq += 1;
                    let seq = s.seq;
                    let event = Arc::new(Event { seq, body });
                    if s.recent.len() == self.recent_events {
                        s.recent.pop_front();
                    }
                    s.recent.push_back(event.clone());
                    // Delivering under the lock keeps delivery in seq order.
                    self.sink.deliver(map, event);
                    // Reserve the next block while half of this one is left, off the hot path.
                    if !s.extending && s.reserved - seq < SEQ_BLOCK / 2 {
                        s.extending = true;
                        self.extend_in_background(map, &state, s.reserved + SEQ_BLOCK);
                    }
                    return Ok(Some(seq));
                }
                s.reserving.clone()
            };
            // One reservation at a time per map: the publishers that queued behind it find
            // the room it made instead of each asking the writer for the same block.
            let _turn = gate.lock().await;
            let needed = {
                let s = state.lock().unwrap();
                (s.seq + 1 >= s.reserved).then_some(s.seq + SEQ_BLOCK)
            };
            if let Some(at_least) = needed {
                self.reserve(map, &state, at_least).await?;
            }
        }
    }

    async fn snapshot(&self, map: &MapId) -> Result<Snapshot, StoreError> {
        Ok(self.state(map)?.lock().unwrap().snapshot())
    }

    async fn replay(&self, map: &MapId, since: u64) -> Result<Replay, StoreError> {
        let state = self.state(map)?;
        let s = state.lock().unwrap();
        if since > s.seq {
            return Ok(Replay::Reset(s.snapshot()));
        }
        if since == s.seq {
            return Ok(Replay::Events(Vec::new()));
        }
        match s.recent.front() {
            Some(oldest) if oldest.seq <= since + 1 => {
                let skip = (since + 1 - oldest.seq) as usize;
                Ok(Replay::Events(s.recent.iter().skip(skip).cloned().collect()))
            }
            _ => Ok(Replay::Reset(s.snapshot())),
        }
    }

    async fn listen(&self, _map: &MapId) -> Result<Listening, StoreError> {
        Ok(Listening::always()) // Every publish is in this process and reaches the sink.
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let seqs: Vec<(MapId, u64)> = {
            let maps = self.maps.lock().unwrap();
            maps.iter()
                .map(|(map, state)| {
                    let mut s = state.lock().unwrap();
                    // Seqs at or above seq + 1 were never handed out: after a clean stop
                    // the sequence goes on from exactly here.
                    s.reserved = s.seq + 1;
                    (map.clone(), s.seq + 1)
                })
                .collect()
        };
        self.writer.call(Op::StoreSeqs(seqs)).await.map(|_| ())
    }
}
