//! One map's state in the feed's memory: its seq and reservation, its recent events and
//! where they continue on disk, its members and their latest locations, and the flags that
//! say who is writing it out or what keeps it from taking changes. It executes a [`Change`]
//! as the core decided it ([`Change::requires_member`], [`Change::membership`],
//! [`Change::latest`]) and re-decides no rule; how it is loaded is here too. Locking,
//! delivery and the writes are the feed's ([`crate::feed`], [`crate::evict`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use marauder_core::places::{self, Fence, PlaceStates};
use marauder_core::protocol::{Event, EventBody, PlayerLocation};
use marauder_core::{Change, Latest, MapId, Membership, PlaceChange, PlayerId, Snapshot, StoreError};
use tokio::sync::Semaphore;

use crate::codec::{self, db_err};
use crate::spill;
use crate::store::{latest_point, pairs_of, read_player};
use crate::trails::TrailBuffer;

pub(crate) struct MapState {
    pub(crate) seq: u64,
    /// Every seq handed out is below this durable value.
    pub(crate) reserved: u64,
    /// A reservation above `reserved` is on its way to disk, off the publishing path.
    pub(crate) extending: bool,
    /// Reservations on their way to disk (the one `extending` says, and publishers'):
    /// a deleted map's rows go only once none can land after.
    pub(crate) writes: u32,
    /// Held by the publisher that waits for a reservation.
    pub(crate) reserving: Arc<tokio::sync::Mutex<()>>,
    /// Contiguous, the last being `seq`; none of them on disk yet (but while `spilling`).
    pub(crate) recent: VecDeque<Arc<Event>>,
    /// The contiguous seqs on disk that end just before `recent` (or at `seq`).
    pub(crate) disk: Option<(u64, u64)>,
    /// The recent events are being written to disk.
    pub(crate) spilling: bool,
    /// Set while the state is written out to leave memory, and for good once it has: whoever
    /// finds it set waits for it to close and asks [`crate::feed::EmbeddedFeed::state`] again.
    pub(crate) leaving: Option<Arc<Semaphore>>,
    /// The map had no record when this was loaded: deleted (or never made). It takes only
    /// the change that deletes it, and nothing of it is written out.
    pub(crate) gone: bool,
    /// Its last event (the deletion) is published: it takes no change any more, and its rows
    /// on disk go once no write of it is in flight ([`MapState::forget_now`]).
    pub(crate) deleted: bool,
    /// Its rows on disk are being dropped.
    forgotten: bool,
    members: HashSet<String>,
    latest: HashMap<String, PlayerLocation>,
    /// The map's places, in the order the rule visits them.
    fences: Vec<Fence>,
    /// Each member's place states (members with none have no entry).
    presence: HashMap<String, PlaceStates>,
}

impl MapState {
    pub(crate) fn snapshot(&self) -> Snapshot {
        let mut locations: Vec<PlayerLocation> = self.latest.values().cloned().collect();
        locations.sort_by(|a, b| a.player.cmp(&b.player));
        Snapshot { seq: self.seq, locations }
    }

    /// Whether the change gets a seq: not after the map's deletion, not on a map without a
    /// record unless it deletes it, and only from a member where the change needs one.
    pub(crate) fn accepts(&self, change: &Change) -> bool {
        let deletes = change.membership() == Membership::Clear;
        let room = match change.places() {
            // The store added it already (and this state may have read it from there).
            PlaceChange::Add(place, max) => {
                self.fences.len() < max || self.fences.iter().any(|f| f.place.id == place.id)
            }
            _ => true,
        };
        !self.deleted
            && (!self.gone || deletes)
            && room
            && change.requires_member().is_none_or(|player| self.members.contains(player))
    }

    /// Seqs a change may take: a location is followed by at most one event per place.
    pub(crate) fn seqs_needed(&self, change: &Change) -> u64 {
        match change {
            Change::Location(_) => 1 + self.fences.len() as u64,
            _ => 1,
        }
    }

    /// The events `location` makes right after its own (arrivals, departures), as the core's
    /// rule decides them from the member's states, which it brings up to date; and those
    /// states encoded, to be written, if they changed. Runs before the location is applied.
    pub(crate) fn crossings(&mut self, location: &PlayerLocation) -> (Vec<EventBody>, Option<String>) {
        if self.fences.is_empty() {
            return (Vec::new(), None);
        }
        let mut latest_ts = self.latest.get(&location.player).map(|l| l.fix.ts);
        if !self.presence.contains_key(&location.player) {
            self.presence.insert(location.player.clone(), PlaceStates::default());
        }
        let states = self.presence.get_mut(&location.player).expect("inserted above");
        let before = states.changes();
        let events = places::crossings(&self.fences, states, &mut latest_ts, location);
        let write = (states.changes() != before).then(|| states.encode());
        (events, write)
    }

    /// The members inside `place`.
    pub(crate) fn inside(&self, place: &str) -> Vec<String> {
        let members = self.presence.iter().filter(|(member, _)| self.members.contains(*member));
        places::inside(place, members.map(|(member, states)| (member.as_str(), states)))
    }

    /// Executes what the change does to the members and the latest locations.
    pub(crate) fn apply(&mut self, change: &Change) {
        match change.membership() {
            Membership::Unchanged => {}
            Membership::Add(player) => {
                self.members.insert(player.to_owned());
                self.presence.remove(player);
            }
            Membership::Remove(player) => {
                self.members.remove(player);
            }
            Membership::Clear => self.members.clear(),
        }
        match change.latest() {
            Latest::Unchanged => {}
            Latest::Offer(location) => {
                let held = self.latest.get(&location.player);
                if held.is_none_or(|l| l.fix.ts <= location.fix.ts) {
                    self.latest.insert(location.player.clone(), location.clone());
                }
            }
            Latest::Remove(player) => {
                self.latest.remove(player);
                self.presence.remove(player);
            }
            Latest::Clear => {
                self.latest.clear();
                self.presence.clear();
            }
        }
        match change.places() {
            PlaceChange::Unchanged => {}
            PlaceChange::Add(place, _) => {
                if !self.fences.iter().any(|f| f.place.id == place.id) {
                    let mut all: Vec<_> = self.fences.drain(..).map(|f| f.place).collect();
                    all.push(place.clone());
                    self.fences = places::fences(all);
                }
            }
            PlaceChange::Remove(id) => {
                self.fences.retain(|f| f.place.id != id);
                self.presence.values_mut().for_each(|states| states.forget(id));
            }
            PlaceChange::Clear => {
                self.fences.clear();
                self.presence.clear();
            }
        }
    }

    /// Whether its rows are written to disk at all: a deleted map's are not.
    pub(crate) fn keeps_rows(&self) -> bool {
        !self.gone && !self.deleted
    }

    /// Whether its recent events may be written out now, to leave memory or not.
    pub(crate) fn can_spill(&self) -> bool {
        self.leaving.is_none() && !self.spilling && self.keeps_rows()
    }

    /// Whether the caller is to drop the deleted map's rows now: once, and only when no write
    /// of them is in flight, which would land after and bring them back. Each place that ends
    /// such a write asks again.
    pub(crate) fn forget_now(&mut self) -> bool {
        let now = self.deleted && !self.forgotten && self.writes == 0 && !self.spilling;
        self.forgotten |= now;
        now
    }

    /// The write that puts every recent event on disk (and, to leave memory, the exact seq).
    pub(crate) fn spill(&self, map: &MapId, recent_events: usize, leaving: bool) -> spill::Spill {
        let floor = (self.seq + 1).saturating_sub(recent_events as u64).max(1);
        let first = match (self.disk, self.recent.front()) {
            (Some((first, last)), Some(front)) if last + 1 == front.seq => first,
            (Some((first, last)), None) if last == self.seq => first,
            (_, Some(front)) => front.seq,
            (_, None) => u64::MAX,
        };
        spill::Spill {
            map: map.clone(),
            events: self.recent.iter().cloned().collect(),
            range: (first <= self.seq && self.seq > 0).then_some((first.max(floor), self.seq)),
            next_seq: leaving.then_some(self.seq + 1),
        }
    }

    /// After a spill up to `last` is on disk: drops those events from memory; answers how
    /// many.
    pub(crate) fn spilled(&mut self, range: Option<(u64, u64)>) -> usize {
        let Some((_, last)) = range else { return 0 };
        let before = self.recent.len();
        while self.recent.front().is_some_and(|e| e.seq <= last) {
            self.recent.pop_front();
        }
        let contiguous = self.recent.front().map_or(last == self.seq, |front| front.seq == last + 1);
        self.disk = range.filter(|_| contiguous);
        before - self.recent.len()
    }
}

/// Reads a map's state: its seq (exact after it left memory or a clean stop, above every seq
/// handed out after a crash), members, their latest locations, where its recent events are
/// on disk, and whether the map still exists.
pub(crate) fn load(
    txn: &redb::ReadTransaction,
    trails: &TrailBuffer,
    map: &MapId,
) -> Result<MapState, StoreError> {
    let reserved = txn
        .open_table(codec::SEQ_RESERVED)
        .map_err(db_err)?
        .get(map.as_str())
        .map_err(db_err)?
        .map_or(0, |v| v.value());
    // Every seq below `reserved` may have been handed out before a crash.
    let seq = reserved.saturating_sub(1);
    let gone = txn.open_table(codec::MAPS).map_err(db_err)?.get(map.as_str()).map_err(db_err)?.is_none();
    let members: HashSet<String> = pairs_of(txn, codec::MEMBERS, map.as_str())?.into_iter().collect();
    let fences = places::fences(crate::places::read(&txn.open_table(codec::PLACES).map_err(db_err)?, map)?);
    let mut presence = crate::places::read_presence(&txn.open_table(codec::PRESENCE).map_err(db_err)?, map)?;
    // A row written just after its member left (the states of a location racing the leave).
    presence.retain(|member, _| members.contains(member));
    let mut latest = HashMap::new();
    for member in &members {
        let Some(id) = PlayerId::parse(member) else {
            continue;
        };
        let (Some(player), Some(fix)) =
            (read_player(txn, member)?, latest_point(txn, trails.points_of(&id), &id)?)
        else {
            continue;
        };
        latest.insert(member.clone(), PlayerLocation { player: member.clone(), name: player.name, fix });
    }
    Ok(MapState {
        seq,
        reserved,
        extending: false,
        writes: 0,
        reserving: Arc::default(),
        recent: VecDeque::new(),
        disk: spill::range(txn, map)?.filter(|&(_, last)| last == seq && seq > 0),
        spilling: false,
        leaving: None,
        gone,
        deleted: false,
        forgotten: false,
        members,
        latest,
        fences,
        presence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> MapState {
        MapState {
            seq: 3,
            reserved: 10,
            extending: false,
            writes: 0,
            reserving: Arc::default(),
            recent: VecDeque::new(),
            disk: None,
            spilling: false,
            leaving: None,
            gone: false,
            deleted: false,
            forgotten: false,
            members: HashSet::from(["ron".to_owned()]),
            latest: HashMap::new(),
            fences: Vec::new(),
            presence: HashMap::new(),
        }
    }

    #[test]
    fn a_deleted_maps_rows_go_once_and_only_after_every_write_of_it() {
        let mut s = state();
        assert!(!s.forget_now(), "not deleted");
        s.deleted = true;
        s.spilling = true;
        s.writes = 2;
        assert!(!s.forget_now(), "two reservations and a write-out in flight");
        s.writes = 0;
        assert!(!s.forget_now(), "a write-out in flight");
        s.spilling = false;
        assert!(s.forget_now(), "the last write to end drops them");
        assert!(!s.forget_now(), "once");
        assert!(!s.keeps_rows() && !s.can_spill());
    }

    #[test]
    fn a_map_without_a_record_takes_only_its_deletion_and_a_deleted_one_nothing() {
        let mut s = state();
        let location = Change::Left { player: "ron".into(), name: "R".into(), removed: false };
        assert!(s.accepts(&location));
        s.gone = true;
        assert!(!s.accepts(&location));
        assert!(s.accepts(&Change::Deleted));
        s.apply(&Change::Deleted);
        s.deleted = true;
        assert!(!s.accepts(&Change::Deleted));
        assert!(s.members.is_empty() && s.snapshot().locations.is_empty());
    }
}
