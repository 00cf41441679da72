//! The index of public maps behind `GET /maps`: every public map ranked by member count
//! (most first, ties by id), so that a page costs O(log n + page) reads, not a scan of every
//! map. It is written in the same transaction as the membership change that moves a map, so
//! it never disagrees with the records; a change of visibility calls [`relist`] and a
//! deletion [`map_deleted`] in theirs.
//!
//! It knows only its own two tables and how to read a map record; not HTTP, not paging rules.

use marauder_core::protocol::Visibility;
use marauder_core::{MapId, MapRecord, PublicCursor, StoreError};
use redb::{
    Database, ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction,
};

use crate::codec::{self, db_err};

/// (`u64::MAX - members`, map id) → (): the public maps in listing order.
const PUBLIC_RANK: TableDefinition<'static, (u64, &str), ()> = TableDefinition::new("public_rank");
/// map id → number of members, for every map.
const MEMBER_COUNTS: TableDefinition<'static, &str, u64> = TableDefinition::new("member_counts");

type Result<T> = std::result::Result<T, StoreError>;

/// Called in the writer's transaction after one membership of `map` was added or removed.
pub fn member_changed(txn: &WriteTransaction, map: &MapId, joined: bool) -> Result<()> {
    let mut counts = txn.open_table(MEMBER_COUNTS).map_err(db_err)?;
    let before = counts.get(map.as_str()).map_err(db_err)?.map_or(0, |v| v.value());
    let after = if joined { before + 1 } else { before.saturating_sub(1) };
    counts.insert(map.as_str(), after).map_err(db_err)?;
    if is_public(txn, map)? {
        let mut rank = txn.open_table(PUBLIC_RANK).map_err(db_err)?;
        rank.remove((u64::MAX - before, map.as_str())).map_err(db_err)?;
        rank.insert((u64::MAX - after, map.as_str()), ()).map_err(db_err)?;
    }
    Ok(())
}

/// Puts the map in the index or takes it out, after its visibility changed.
pub fn relist(txn: &WriteTransaction, map: &MapId, listed: bool) -> Result<()> {
    let counts = txn.open_table(MEMBER_COUNTS).map_err(db_err)?;
    let members = counts.get(map.as_str()).map_err(db_err)?.map_or(0, |v| v.value());
    let mut rank = txn.open_table(PUBLIC_RANK).map_err(db_err)?;
    if listed {
        rank.insert((u64::MAX - members, map.as_str()), ()).map_err(db_err)?;
    } else {
        rank.remove((u64::MAX - members, map.as_str())).map_err(db_err)?;
    }
    Ok(())
}

/// Called in the transaction that deletes the map, before its memberships go: it leaves the
/// index, and its member count goes.
pub fn map_deleted(txn: &WriteTransaction, map: &MapId, was_public: bool) -> Result<()> {
    if was_public {
        relist(txn, map, false)?;
    }
    txn.open_table(MEMBER_COUNTS).map_err(db_err)?.remove(map.as_str()).map_err(db_err)?;
    Ok(())
}

fn is_public(txn: &WriteTransaction, map: &MapId) -> Result<bool> {
    let maps = txn.open_table(codec::MAPS).map_err(db_err)?;
    let Some(row) = maps.get(map.as_str()).map_err(db_err)? else { return Ok(false) };
    Ok(MapRecord::decode(map.as_str(), row.value())?.visibility == Visibility::Public)
}

/// Up to `count` index entries strictly after `after`, each with its map's record.
pub fn page(
    txn: &ReadTransaction,
    after: Option<&PublicCursor>,
    count: usize,
) -> Result<Vec<(PublicCursor, Option<MapRecord>)>> {
    let rank = txn.open_table(PUBLIC_RANK).map_err(db_err)?;
    let maps = txn.open_table(codec::MAPS).map_err(db_err)?;
    let start = after.map_or((0, ""), |c| c.rank());
    let mut out = Vec::with_capacity(count);
    for row in rank.range(start..).map_err(db_err)? {
        let (key, _) = row.map_err(db_err)?;
        let (inverted, id) = key.value();
        if Some((inverted, id)) == after.map(|c| c.rank()) {
            continue;
        }
        if out.len() == count {
            break;
        }
        let Some(map) = MapId::parse(id) else { continue };
        let record = maps.get(id).map_err(db_err)?.map(|v| MapRecord::decode(id, v.value())).transpose()?;
        out.push((PublicCursor { members: u64::MAX - inverted, id: map }, record));
    }
    Ok(out)
}

/// Creates the tables; on a database written before the index existed, builds it once.
pub fn prepare(db: &Database) -> Result<()> {
    let txn = db.begin_write().map_err(db_err)?;
    {
        let mut counts = txn.open_table(MEMBER_COUNTS).map_err(db_err)?;
        let mut rank = txn.open_table(PUBLIC_RANK).map_err(db_err)?;
        let maps = txn.open_table(codec::MAPS).map_err(db_err)?;
        if counts.is_empty().map_err(db_err)? && !maps.is_empty().map_err(db_err)? {
            let members = txn.open_table(codec::MEMBERS).map_err(db_err)?;
            for row in maps.iter().map_err(db_err)? {
                let (id, value) = row.map_err(db_err)?;
                let (id, record) = (id.value(), MapRecord::decode(id.value(), value.value())?);
                let mut n = 0u64;
                for member in members.range((id, "")..).map_err(db_err)? {
                    if member.map_err(db_err)?.0.value().0 != id {
                        break;
                    }
                    n += 1;
                }
                counts.insert(id, n).map_err(db_err)?;
                if record.visibility == Visibility::Public {
                    rank.insert((u64::MAX - n, id), ()).map_err(db_err)?;
                }
            }
            tracing::info!(maps = maps.len().map_err(db_err)?, "built the index of public maps");
        }
    }
    txn.commit().map_err(db_err)
}
