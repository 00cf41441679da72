//! [`Store`] on redb: reads go straight to a read transaction; writes go through the
//! group-committing [`Writer`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use marauder_core::protocol::{Fix, Millis, Visibility};
use marauder_core::{
    DeviceId, DeviceRecord, MapId, MapRecord, PlayerId, PlayerRecord, Store, StoreError, TokenHash,
};
use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable};

use crate::codec::{self, db_err};
use crate::trails::TrailBuffer;
use crate::writer::{Op, Reply, Writer};

pub struct EmbeddedStore {
    db: Arc<Database>,
    writer: Writer,
    trails: Arc<TrailBuffer>,
    memberships: MembershipCache,
}

/// Each player's map ids, kept in memory for the location path. An entry is filled from a
/// read transaction and dropped after every committed change of that player's memberships;
/// `epoch` keeps a read that raced a change from filling in what it read before it.
#[derive(Default)]
struct MembershipCache {
    epoch: AtomicU64,
    maps: Mutex<HashMap<PlayerId, Arc<[MapId]>>>,
}

impl MembershipCache {
    fn get(&self, player: &PlayerId) -> Option<Arc<[MapId]>> {
        self.maps.lock().unwrap().get(player).cloned()
    }

    fn fill(&self, player: &PlayerId, read_at: u64, maps: Arc<[MapId]>) {
        let mut cached = self.maps.lock().unwrap();
        if self.epoch.load(Ordering::Acquire) == read_at {
            cached.insert(player.clone(), maps);
        }
    }

    /// Called after a change of the player's memberships is committed.
    fn forget(&self, player: &PlayerId) {
        let mut cached = self.maps.lock().unwrap();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        cached.remove(player);
    }
}

type Result<T> = std::result::Result<T, StoreError>;

impl EmbeddedStore {
    pub(crate) fn new(db: Arc<Database>, writer: Writer, trails: Arc<TrailBuffer>) -> Self {
        EmbeddedStore { db, writer, trails, memberships: MembershipCache::default() }
    }

    fn read(&self) -> Result<ReadTransaction> {
        self.db.begin_read().map_err(db_err)
    }

    async fn changed(&self, op: Op) -> Result<bool> {
        match self.writer.call(op).await? {
            Reply::Changed(changed) => Ok(changed),
            _ => unreachable!("membership and device ops answer Changed"),
        }
    }
}

pub(crate) fn read_player(txn: &ReadTransaction, id: &str) -> Result<Option<PlayerRecord>> {
    let players = txn.open_table(codec::PLAYERS).map_err(db_err)?;
    let row = players.get(id).map_err(db_err)?;
    row.map(|v| PlayerRecord::decode(id, v.value())).transpose()
}

fn read_device(txn: &ReadTransaction, id: &str) -> Result<Option<DeviceRecord>> {
    let devices = txn.open_table(codec::DEVICES).map_err(db_err)?;
    let row = devices.get(id).map_err(db_err)?;
    row.map(|v| DeviceRecord::decode(id, v.value())).transpose()
}

fn read_map(txn: &ReadTransaction, id: &str) -> Result<Option<MapRecord>> {
    let maps = txn.open_table(codec::MAPS).map_err(db_err)?;
    let row = maps.get(id).map_err(db_err)?;
    row.map(|v| MapRecord::decode(id, v.value())).transpose()
}

/// The second halves of the `(first, second)` keys whose first half is `first`.
pub(crate) fn pairs_of(
    txn: &ReadTransaction,
    table: redb::TableDefinition<(&str, &str), ()>,
    first: &str,
) -> Result<Vec<String>> {
    let table = txn.open_table(table).map_err(db_err)?;
    let mut out = Vec::new();
    for row in table.range((first, "")..).map_err(db_err)? {
        let (key, _) = row.map_err(db_err)?;
        let (a, b) = key.value();
        if a != first {
            break;
        }
        out.push(b.to_owned());
    }
    Ok(out)
}

/// The player's committed points with `ts > since` (oldest first, at most `limit`), merged
/// with its uncommitted ones.
pub(crate) fn trail_points(
    txn: &ReadTransaction,
    trails: &TrailBuffer,
    player: &PlayerId,
    since: Option<Millis>,
    limit: usize,
) -> Result<Vec<Fix>> {
    let id = player.as_str();
    let from = since.map_or(i64::MIN, |s| s.saturating_add(1));
    let table = txn.open_table(codec::TRAILS).map_err(db_err)?;
    let mut points: Vec<(i64, u64, Fix)> = Vec::new();
    for row in table.range((id, from, 0)..=(id, i64::MAX, u64::MAX)).map_err(db_err)?.take(limit) {
        let (key, value) = row.map_err(db_err)?;
        let (_, ts, unique) = key.value();
        points.push((ts, unique, codec::decode_fix(value.value())?));
    }
    let uncommitted = trails.points_of(player).into_iter().filter(|(_, fix)| fix.ts >= from);
    points.extend(uncommitted.map(|(unique, fix)| (fix.ts, unique, fix)));
    points.sort_by_key(|(ts, unique, _)| (*ts, *unique));
    // A point being committed right now can be both in the table and in the buffer.
    points.dedup_by_key(|(ts, unique, _)| (*ts, *unique));
    points.truncate(limit);
    Ok(points.into_iter().map(|(_, _, fix)| fix).collect())
}

/// The player's point with the greatest `ts`, committed or not.
pub(crate) fn latest_point(
    txn: &ReadTransaction,
    trails: &TrailBuffer,
    player: &PlayerId,
) -> Result<Option<Fix>> {
    let id = player.as_str();
    let table = txn.open_table(codec::TRAILS).map_err(db_err)?;
    let committed =
        match table.range((id, i64::MIN, 0)..=(id, i64::MAX, u64::MAX)).map_err(db_err)?.next_back() {
            Some(row) => {
                let (key, value) = row.map_err(db_err)?;
                Some((key.value().1, key.value().2, codec::decode_fix(value.value())?))
            }
            None => None,
        };
    let uncommitted = trails.points_of(player).into_iter().map(|(unique, fix)| (fix.ts, unique, fix));
    Ok(committed
        .into_iter()
        .chain(uncommitted)
        .max_by_key(|(ts, unique, _)| (*ts, *unique))
        .map(|(_, _, fix)| fix))
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn create_player(&self, player: PlayerRecord) -> Result<()> {
        self.writer.call(Op::CreatePlayer(player)).await.map(|_| ())
    }

    async fn player(&self, id: &PlayerId) -> Result<Option<PlayerRecord>> {
        read_player(&self.read()?, id.as_str())
    }

    async fn player_by_token(&self, hash: &TokenHash) -> Result<Option<PlayerRecord>> {
        let txn = self.read()?;
        let tokens = txn.open_table(codec::TOKENS).map_err(db_err)?;
        let Some(id) = tokens.get(&hash.0).map_err(db_err)? else {
            return Ok(None);
        };
        read_player(&txn, id.value())
    }

    async fn delete_player(&self, id: &PlayerId) -> Result<Vec<MapId>> {
        let reply = self.writer.call(Op::DeletePlayer(id.clone())).await?;
        self.trails.forget(id);
        self.memberships.forget(id);
        match reply {
            Reply::Maps(maps) => Ok(maps),
            _ => unreachable!("DeletePlayer answers Maps"),
        }
    }

    async fn create_device(&self, device: DeviceRecord) -> Result<()> {
        self.writer.call(Op::CreateDevice(device)).await.map(|_| ())
    }

    async fn device(&self, id: &DeviceId) -> Result<Option<DeviceRecord>> {
        read_device(&self.read()?, id.as_str())
    }

    async fn devices_of(&self, player: &PlayerId) -> Result<Vec<DeviceRecord>> {
        let txn = self.read()?;
        let mut out = Vec::new();
        for id in pairs_of(&txn, codec::PLAYER_DEVICES, player.as_str())? {
            out.extend(read_device(&txn, &id)?);
        }
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    async fn touch_device(&self, device: &DeviceRecord) -> Result<()> {
        let Some(at) = device.last_seen else { return Ok(()) };
        self.writer.call(Op::TouchDevice(device.id.clone(), at)).await.map(|_| ())
    }

    async fn delete_device(&self, player: &PlayerId, id: &DeviceId) -> Result<bool> {
        self.changed(Op::DeleteDevice(player.clone(), id.clone())).await
    }

    async fn create_map(&self, map: MapRecord) -> Result<()> {
        let owner = map.owner.clone();
        self.writer.call(Op::CreateMap(map)).await?;
        self.memberships.forget(&owner);
        Ok(())
    }

    async fn map(&self, id: &MapId) -> Result<Option<MapRecord>> {
        read_map(&self.read()?, id.as_str())
    }

    async fn public_maps(&self) -> Result<Vec<(MapRecord, u64)>> {
        let txn = self.read()?;
        let maps = txn.open_table(codec::MAPS).map_err(db_err)?;
        let mut out = Vec::new();
        for row in maps.iter().map_err(db_err)? {
            let (id, value) = row.map_err(db_err)?;
            let map = MapRecord::decode(id.value(), value.value())?;
            if map.visibility == Visibility::Public {
                let members = pairs_of(&txn, codec::MEMBERS, id.value())?.len() as u64;
                out.push((map, members));
            }
        }
        out.sort_by(|(a, _), (b, _)| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    async fn members(&self, map: &MapId) -> Result<Vec<(PlayerId, String)>> {
        let txn = self.read()?;
        let mut out = Vec::new();
        for id in pairs_of(&txn, codec::MEMBERS, map.as_str())? {
            if let Some(player) = read_player(&txn, &id)? {
                out.push((player.id, player.name));
            }
        }
        Ok(out)
    }

    async fn is_member(&self, map: &MapId, player: &PlayerId) -> Result<bool> {
        let txn = self.read()?;
        let members = txn.open_table(codec::MEMBERS).map_err(db_err)?;
        Ok(members.get((map.as_str(), player.as_str())).map_err(db_err)?.is_some())
    }

    async fn maps_of(&self, player: &PlayerId) -> Result<Vec<MapRecord>> {
        let txn = self.read()?;
        let mut out = Vec::new();
        for id in pairs_of(&txn, codec::MEMBERSHIPS, player.as_str())? {
            out.extend(read_map(&txn, &id)?);
        }
        Ok(out)
    }

    async fn add_member(&self, map: &MapId, player: &PlayerId) -> Result<bool> {
        let changed = self.changed(Op::AddMember(map.clone(), player.clone())).await?;
        self.memberships.forget(player);
        Ok(changed)
    }

    async fn remove_member(&self, map: &MapId, player: &PlayerId) -> Result<bool> {
        let changed = self.changed(Op::RemoveMember(map.clone(), player.clone())).await?;
        self.memberships.forget(player);
        Ok(changed)
    }

    async fn map_ids_of(&self, player: &PlayerId) -> Result<Arc<[MapId]>> {
        if let Some(maps) = self.memberships.get(player) {
            return Ok(maps);
        }
        let read_at = self.memberships.epoch.load(Ordering::Acquire);
        let ids = pairs_of(&self.read()?, codec::MEMBERSHIPS, player.as_str())?;
        let maps: Arc<[MapId]> = ids.iter().filter_map(|id| MapId::parse(id)).collect();
        self.memberships.fill(player, read_at, maps.clone());
        Ok(maps)
    }

    async fn append_trail(&self, player: &PlayerId, fix: &Fix) -> Result<()> {
        self.trails.push(player, fix.clone()).await;
        Ok(())
    }

    async fn trail(&self, player: &PlayerId, since: Option<Millis>, limit: usize) -> Result<Vec<Fix>> {
        trail_points(&self.read()?, &self.trails, player, since, limit)
    }

    async fn latest(&self, player: &PlayerId) -> Result<Option<Fix>> {
        latest_point(&self.read()?, &self.trails, player)
    }

    async fn flush(&self) -> Result<()> {
        self.writer.call(Op::Flush).await.map(|_| ())
    }
}
