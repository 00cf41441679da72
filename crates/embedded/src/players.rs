//! Players in the database: the writer's steps that create, rename and delete one, each in
//! the writer's transaction. A deletion takes everything of the player with it (sessions,
//! devices, memberships, trail) but not the maps it owned. It owns the rows of
//! [`codec::PLAYERS`] and a player's share of the others; not the caches dropped after them.

use marauder_core::{MapId, PlayerId, PlayerRecord, SessionRecord, StoreError};
use redb::{ReadableTable, WriteTransaction};

use crate::codec::{self, db_err};

type Result<T> = std::result::Result<T, StoreError>;

/// The player with its first session, in one transaction.
pub fn create(txn: &WriteTransaction, player: &PlayerRecord, session: &SessionRecord) -> Result<()> {
    txn.open_table(codec::PLAYERS)
        .map_err(db_err)?
        .insert(player.id.as_str(), player.encode().as_slice())
        .map_err(db_err)?;
    crate::sessions::insert(txn, session)
}

/// Answers whether the player exists.
pub fn rename(txn: &WriteTransaction, player: &PlayerId, name: &str) -> Result<bool> {
    let mut players = txn.open_table(codec::PLAYERS).map_err(db_err)?;
    let current = players
        .get(player.as_str())
        .map_err(db_err)?
        .map(|v| PlayerRecord::decode(player.as_str(), v.value()))
        .transpose()?;
    let Some(mut record) = current else { return Ok(false) };
    record.name = name.to_owned();
    players.insert(player.as_str(), record.encode().as_slice()).map_err(db_err)?;
    Ok(true)
}

/// Removes the player and everything of it; answers the maps it was a member of.
pub fn delete(txn: &WriteTransaction, player: &PlayerId) -> Result<Vec<MapId>> {
    let id = player.as_str();
    if txn.open_table(codec::PLAYERS).map_err(db_err)?.remove(id).map_err(db_err)?.is_none() {
        return Ok(Vec::new());
    }
    crate::sessions::delete_all(txn, player)?;
    {
        let mut owned = txn.open_table(codec::PLAYER_DEVICES).map_err(db_err)?;
        let mut devices = txn.open_table(codec::DEVICES).map_err(db_err)?;
        let ids: Vec<String> = owned
            .range((id, "")..)
            .map_err(db_err)?
            .map(|row| row.map(|(key, _)| (key.value().0 == id).then(|| key.value().1.to_owned())))
            .map_while(|row| row.transpose())
            .collect::<std::result::Result<_, _>>()
            .map_err(db_err)?;
        for device in &ids {
            owned.remove((id, device.as_str())).map_err(db_err)?;
            devices.remove(device.as_str()).map_err(db_err)?;
        }
    }
    let maps: Vec<MapId> = {
        let memberships = txn.open_table(codec::MEMBERSHIPS).map_err(db_err)?;
        let rows = memberships.range((id, "")..).map_err(db_err)?;
        let mut maps = Vec::new();
        for row in rows {
            let (key, _) = row.map_err(db_err)?;
            let (owner, map) = key.value();
            if owner != id {
                break;
            }
            maps.extend(MapId::parse(map));
        }
        maps
    };
    for map in &maps {
        crate::maps::set_member(txn, map, player, false)?;
    }
    let mut points = txn.open_table(codec::TRAILS).map_err(db_err)?;
    points.retain_in((id, i64::MIN, 0)..=(id, i64::MAX, u64::MAX), |_, _| false).map_err(db_err)?;
    txn.open_table(codec::TRAIL_LEN).map_err(db_err)?.remove(id).map_err(db_err)?;
    Ok(maps)
}
