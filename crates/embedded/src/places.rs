//! Places and the members' place states in the database. It owns the rows of
//! [`codec::PLACES`] (written by the store before a place's event, like memberships) and
//! [`codec::PRESENCE`] (a member's states as a location last changed them: the feed leaves
//! them in a [`PresenceBuffer`] under the map's lock, and the writer puts the latest of each
//! into its next commit, as it does trail points). A member's states go when it leaves or
//! joins, and a map's places and states go with the map.

use std::collections::HashMap;
use std::sync::Mutex;

use marauder_core::places::PlaceStates;
use marauder_core::protocol::Place;
use marauder_core::{MapId, PlayerId, StoreError};
use redb::{ReadableTable, WriteTransaction};

use crate::codec::{self, db_err};
use crate::internal;

type Result<T> = std::result::Result<T, StoreError>;

/// The map's places, in no particular order.
pub fn read(
    table: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    map: &MapId,
) -> Result<Vec<Place>> {
    let mut places = Vec::new();
    for row in table.range((map.as_str(), "")..).map_err(db_err)? {
        let (key, value) = row.map_err(db_err)?;
        if key.value().0 != map.as_str() {
            break;
        }
        places.push(serde_json::from_slice(value.value()).map_err(|e| internal("decoding a place", e))?);
    }
    Ok(places)
}

/// Every member's states on the map. A row that does not decode counts as no states (the
/// member's next position sets them again, without an event).
pub fn read_presence(
    table: &impl ReadableTable<(&'static str, &'static str), &'static str>,
    map: &MapId,
) -> Result<HashMap<String, PlaceStates>> {
    let mut presence = HashMap::new();
    for row in table.range((map.as_str(), "")..).map_err(db_err)? {
        let (key, value) = row.map_err(db_err)?;
        let (of, member) = key.value();
        if of != map.as_str() {
            break;
        }
        if let Some(states) = PlaceStates::decode(value.value()) {
            presence.insert(member.to_owned(), states);
        }
    }
    Ok(presence)
}

/// Adds the place to a map that exists and has fewer than `max`; answers whether it did.
pub fn add(txn: &WriteTransaction, map: &MapId, place: &Place, max: usize) -> Result<bool> {
    let exists = txn.open_table(codec::MAPS).map_err(db_err)?.get(map.as_str()).map_err(db_err)?.is_some();
    let mut table = txn.open_table(codec::PLACES).map_err(db_err)?;
    if !exists || read(&table, map)?.len() >= max {
        return Ok(false);
    }
    let json = serde_json::to_vec(place).map_err(|e| internal("encoding a place", e))?;
    table.insert((map.as_str(), place.id.as_str()), json.as_slice()).map_err(db_err)?;
    Ok(true)
}

/// Removes the place; answers whether it was there.
pub fn remove(txn: &WriteTransaction, map: &MapId, place: &str) -> Result<bool> {
    let mut table = txn.open_table(codec::PLACES).map_err(db_err)?;
    Ok(table.remove((map.as_str(), place)).map_err(db_err)?.is_some())
}

/// Members' place states waiting for the writer's next commit: the latest of each (map,
/// member), at most one entry each. A change is written within the writer's trail interval
/// (~100 ms), like a trail point; a crash loses at most that, and after it the map's clients
/// start over from a `reset` anyway. A map leaving memory is written out through a commit,
/// which takes these along, so a reload reads them.
#[derive(Default)]
pub struct PresenceBuffer(Mutex<HashMap<(MapId, String), String>>);

impl PresenceBuffer {
    pub fn put(&self, map: &MapId, member: &str, states: String) {
        self.0.lock().unwrap().insert((map.clone(), member.to_owned()), states);
    }

    pub fn is_empty(&self) -> bool {
        self.0.lock().unwrap().is_empty()
    }

    /// Everything waiting, for one commit.
    pub fn take(&self) -> HashMap<(MapId, String), String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// After a commit that failed: its entries wait again, unless a newer one came meanwhile.
    pub fn put_back(&self, taken: HashMap<(MapId, String), String>) {
        let mut pending = self.0.lock().unwrap();
        for (key, states) in taken {
            pending.entry(key).or_insert(states);
        }
    }
}

/// Writes what [`PresenceBuffer::take`] answered, in the writer's transaction.
pub fn write_presence(txn: &WriteTransaction, pending: &HashMap<(MapId, String), String>) -> Result<()> {
    for ((map, member), states) in pending {
        put_presence(txn, map, member, Some(states))?;
    }
    Ok(())
}

/// Writes a member's states (`None`: it has none) unless the map is gone.
pub fn put_presence(txn: &WriteTransaction, map: &MapId, member: &str, states: Option<&str>) -> Result<()> {
    let exists = txn.open_table(codec::MAPS).map_err(db_err)?.get(map.as_str()).map_err(db_err)?.is_some();
    let mut table = txn.open_table(codec::PRESENCE).map_err(db_err)?;
    match states {
        Some(states) if exists => {
            table.insert((map.as_str(), member), states).map_err(db_err)?;
        }
        _ => {
            table.remove((map.as_str(), member)).map_err(db_err)?;
        }
    }
    Ok(())
}

/// A member's states go: it left, or joined (its first position then sets them).
pub fn forget_member(txn: &WriteTransaction, map: &MapId, player: &PlayerId) -> Result<()> {
    put_presence(txn, map, player.as_str(), None)
}

/// The map's places and states go with it.
pub fn forget_map(txn: &WriteTransaction, map: &MapId) -> Result<()> {
    let id = map.as_str();
    txn.open_table(codec::PLACES)
        .map_err(db_err)?
        .retain_in((id, "")..=(id, "\u{10FFFF}"), |_, _| false)
        .map_err(db_err)?;
    txn.open_table(codec::PRESENCE)
        .map_err(db_err)?
        .retain_in((id, "")..=(id, "\u{10FFFF}"), |_, _| false)
        .map_err(db_err)?;
    Ok(())
}
