//! A map's recent events on disk, so that memory holds only a bounded number of them: the
//! feed writes a map's events out when it is over its budget of events in memory (and the
//! map stays), or when the map leaves memory (then with its exact seq, in the same
//! transaction). A `since` resume reads back what is no longer in memory; a deleted map's
//! rows go ([`forget`]). It owns the record layout of [`codec::RECENT`] and
//! [`codec::RECENT_RANGE`], not when to write them.

use std::sync::Arc;

use marauder_core::protocol::Event;
use marauder_core::{MapId, StoreError};
use redb::{ReadTransaction, WriteTransaction};

use crate::codec::{self, db_err};
use crate::internal;

/// One map's events to write. The events are contiguous and end at `range`'s last; with
/// what is already on disk they make `range`.
pub struct Spill {
    pub map: MapId,
    pub events: Vec<Arc<Event>>,
    /// The contiguous seqs on disk after this write; `None` when none can serve a resume.
    pub range: Option<(u64, u64)>,
    /// The map leaves memory: its reserved seq becomes exactly this (the next seq), as on a
    /// clean stop, so that it resumes where it was rather than above its reservation.
    pub next_seq: Option<u64>,
}

/// Writes the spills; events below each range are dropped (no resume can ask for them).
pub fn write(txn: &WriteTransaction, spills: Vec<Spill>) -> Result<(), StoreError> {
    let mut rows = txn.open_table(codec::RECENT).map_err(db_err)?;
    let mut ranges = txn.open_table(codec::RECENT_RANGE).map_err(db_err)?;
    let mut seqs = txn.open_table(codec::SEQ_RESERVED).map_err(db_err)?;
    for spill in spills {
        let id = spill.map.as_str();
        let keep_from = spill.range.map_or(u64::MAX, |(first, _)| first);
        rows.retain_in((id, 0)..(id, keep_from), |_, _| false).map_err(db_err)?;
        for event in spill.events.iter().filter(|e| e.seq >= keep_from) {
            let bytes = serde_json::to_vec(&**event).map_err(|e| internal("encoding an event", e))?;
            rows.insert((id, event.seq), bytes.as_slice()).map_err(db_err)?;
        }
        match spill.range {
            Some(range) => ranges.insert(id, range).map_err(db_err)?,
            None => ranges.remove(id).map_err(db_err)?,
        };
        if let Some(next) = spill.next_seq {
            seqs.insert(id, next).map_err(db_err)?;
        }
    }
    Ok(())
}

/// The contiguous seqs of the map's events on disk.
pub fn range(txn: &ReadTransaction, map: &MapId) -> Result<Option<(u64, u64)>, StoreError> {
    let ranges = txn.open_table(codec::RECENT_RANGE).map_err(db_err)?;
    Ok(ranges.get(map.as_str()).map_err(db_err)?.map(|v| v.value()))
}

/// The map's events with seqs `from..=to`, if every one of them is on disk.
pub fn read(
    txn: &ReadTransaction,
    map: &MapId,
    from: u64,
    to: u64,
) -> Result<Option<Vec<Arc<Event>>>, StoreError> {
    let rows = txn.open_table(codec::RECENT).map_err(db_err)?;
    let mut events = Vec::with_capacity((to + 1).saturating_sub(from).min(4096) as usize);
    for row in rows.range((map.as_str(), from)..=(map.as_str(), to)).map_err(db_err)? {
        let (_, value) = row.map_err(db_err)?;
        let event: Event =
            serde_json::from_slice(value.value()).map_err(|e| internal("decoding an event", e))?;
        events.push(Arc::new(event));
    }
    // A resume that raced a later write-out may find its oldest events dropped.
    let complete = events.len() as u64 == to + 1 - from && events.first().is_some_and(|e| e.seq == from);
    Ok(complete.then_some(events))
}

/// Drops everything the feed keeps on disk of a deleted map: its seq reservation and its
/// recent events.
pub fn forget(txn: &WriteTransaction, map: &MapId) -> Result<(), StoreError> {
    let id = map.as_str();
    txn.open_table(codec::RECENT)
        .map_err(db_err)?
        .retain_in((id, 0)..=(id, u64::MAX), |_, _| false)
        .map_err(db_err)?;
    txn.open_table(codec::RECENT_RANGE).map_err(db_err)?.remove(id).map_err(db_err)?;
    txn.open_table(codec::SEQ_RESERVED).map_err(db_err)?.remove(id).map_err(db_err)?;
    Ok(())
}
