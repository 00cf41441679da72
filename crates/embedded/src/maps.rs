//! Maps and memberships in the database: the writer's steps that change them (each within
//! the writer's transaction, with the public-map index beside them) and the read of a map's
//! members in join order. It owns the rows of [`codec::MAPS`], [`codec::MEMBERS`],
//! [`codec::MEMBERSHIPS`] and [`codec::JOINED`]; not the caches the store drops after them.

use marauder_core::protocol::Visibility;
use marauder_core::{MapId, MapRecord, PlayerId, StoreError};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use crate::codec::{self, db_err};
use crate::store::{pairs_of, read_player};

type Result<T> = std::result::Result<T, StoreError>;

/// The map's record as the writer's transaction sees it.
fn record(txn: &WriteTransaction, map: &MapId) -> Result<Option<MapRecord>> {
    let maps = txn.open_table(codec::MAPS).map_err(db_err)?;
    let row = maps.get(map.as_str()).map_err(db_err)?;
    row.map(|v| MapRecord::decode(map.as_str(), v.value())).transpose()
}

pub fn create(txn: &WriteTransaction, map: &MapRecord) -> Result<()> {
    txn.open_table(codec::MAPS)
        .map_err(db_err)?
        .insert(map.id.as_str(), map.encode().as_slice())
        .map_err(db_err)?;
    set_member(txn, &map.id, &map.owner, true)?;
    Ok(())
}

/// Adds a member to a map that exists; answers whether the player was not a member before.
pub fn add_member(txn: &WriteTransaction, map: &MapId, player: &PlayerId) -> Result<bool> {
    let exists = txn.open_table(codec::MAPS).map_err(db_err)?.get(map.as_str()).map_err(db_err)?.is_some();
    if !exists {
        return Ok(false);
    }
    set_member(txn, map, player, true)
}

/// Adds or removes a membership, with its join number and the map's place in the public
/// index; answers whether anything changed.
pub fn set_member(txn: &WriteTransaction, map: &MapId, player: &PlayerId, member: bool) -> Result<bool> {
    let mut members = txn.open_table(codec::MEMBERS).map_err(db_err)?;
    let mut memberships = txn.open_table(codec::MEMBERSHIPS).map_err(db_err)?;
    let mut joined = txn.open_table(codec::JOINED).map_err(db_err)?;
    let key = (map.as_str(), player.as_str());
    let was = members.get(key).map_err(db_err)?.is_some();
    if was == member {
        return Ok(false);
    }
    if member {
        members.insert(key, ()).map_err(db_err)?;
        memberships.insert((player.as_str(), map.as_str()), ()).map_err(db_err)?;
        joined.insert(key, next_join(txn)?).map_err(db_err)?;
    } else {
        members.remove(key).map_err(db_err)?;
        memberships.remove((player.as_str(), map.as_str())).map_err(db_err)?;
        joined.remove(key).map_err(db_err)?;
    }
    crate::public::member_changed(txn, map, member)?;
    // Joining or leaving, the member's place states start over.
    crate::places::forget_member(txn, map, player)?;
    Ok(true)
}

/// The next join number: they only grow, so they order joins across restarts.
fn next_join(txn: &WriteTransaction) -> Result<u64> {
    let mut counters = txn.open_table(codec::COUNTERS).map_err(db_err)?;
    let next = counters.get("joins").map_err(db_err)?.map_or(0, |v| v.value()) + 1;
    counters.insert("joins", next).map_err(db_err)?;
    Ok(next)
}

/// Replaces the record of a map that is still `expected`, and moves it in or out of the
/// public index when its visibility changed; answers whether it did.
pub fn update(txn: &WriteTransaction, expected: &MapRecord, map: &MapRecord) -> Result<bool> {
    let Some(before) = record(txn, &map.id)?.filter(|before| before == expected) else { return Ok(false) };
    txn.open_table(codec::MAPS)
        .map_err(db_err)?
        .insert(map.id.as_str(), map.encode().as_slice())
        .map_err(db_err)?;
    if before.visibility != map.visibility {
        crate::public::relist(txn, &map.id, map.visibility == Visibility::Public)?;
    }
    Ok(true)
}

/// Deletes the map's record, every membership of it and its public-index entry; answers the
/// former members, or `None` if there was no such map.
pub fn delete(txn: &WriteTransaction, map: &MapId) -> Result<Option<Vec<PlayerId>>> {
    let Some(before) = record(txn, map)? else { return Ok(None) };
    crate::public::map_deleted(txn, map, before.visibility == Visibility::Public)?;
    crate::places::forget_map(txn, map)?;
    txn.open_table(codec::MAPS).map_err(db_err)?.remove(map.as_str()).map_err(db_err)?;
    let mut members = txn.open_table(codec::MEMBERS).map_err(db_err)?;
    let mut players = Vec::new();
    for row in members.range((map.as_str(), "")..).map_err(db_err)? {
        let (key, _) = row.map_err(db_err)?;
        let (of, player) = key.value();
        if of != map.as_str() {
            break;
        }
        players.extend(PlayerId::parse(player));
    }
    let mut memberships = txn.open_table(codec::MEMBERSHIPS).map_err(db_err)?;
    let mut joined = txn.open_table(codec::JOINED).map_err(db_err)?;
    for player in &players {
        let key = (map.as_str(), player.as_str());
        members.remove(key).map_err(db_err)?;
        joined.remove(key).map_err(db_err)?;
        memberships.remove((player.as_str(), map.as_str())).map_err(db_err)?;
    }
    Ok(Some(players))
}

/// The members with their current names, earliest joined first; memberships from before join
/// numbers were kept come first, by id.
pub fn members(txn: &ReadTransaction, map: &MapId) -> Result<Vec<(PlayerId, String)>> {
    let joined = txn.open_table(codec::JOINED).map_err(db_err)?;
    let mut found = Vec::new();
    for id in pairs_of(txn, codec::MEMBERS, map.as_str())? {
        let order = joined.get((map.as_str(), id.as_str())).map_err(db_err)?.map_or(0, |v| v.value());
        if let Some(player) = read_player(txn, &id)? {
            found.push((order, player.id, player.name));
        }
    }
    found.sort_by(|a, b| (a.0, a.1.as_str()).cmp(&(b.0, b.1.as_str())));
    Ok(found.into_iter().map(|(_, id, name)| (id, name)).collect())
}
