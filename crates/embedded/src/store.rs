//! [`Store`] on redb: each read runs in a read transaction on the blocking pool (a redb read
//! can wait on the disk, which must not stall an async worker); writes go through the
//! group-committing [`Writer`]. The location path reads nothing from redb: the map ids come
//! from [`MembershipCache`] and trail points go to the [`TrailBuffer`].

use std::sync::Arc;

use async_trait::async_trait;
use marauder_core::protocol::{Fix, Millis};
use marauder_core::{
    DeviceId, DeviceRecord, MapId, MapRecord, PlayerId, PlayerRecord, PublicCursor, Store, StoreError,
    TokenHash,
};
use redb::ReadTransaction;

use crate::codec::{self, db_err};
use crate::db::Db;
use crate::memberships::MembershipCache;
use crate::tokens::TokenCache;
use crate::trails::TrailBuffer;
use crate::writer::{Op, Reply, Writer};

pub struct EmbeddedStore {
    db: Db,
    writer: Writer,
    trails: Arc<TrailBuffer>,
    memberships: Arc<MembershipCache>,
    tokens: Arc<TokenCache>,
}

type Result<T> = std::result::Result<T, StoreError>;

/// How often a sender waiting for room in the trail buffer looks at the store's health.
const FAULT_CHECK: std::time::Duration = std::time::Duration::from_millis(200);

impl EmbeddedStore {
    pub(crate) fn new(db: Db, writer: Writer, trails: Arc<TrailBuffer>) -> Self {
        let (memberships, tokens) = (Arc::default(), Arc::default());
        EmbeddedStore { db, writer, trails, memberships, tokens }
    }

    /// Runs `read` in a read transaction on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&ReadTransaction) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.db.read_blocking(read).await
    }

    async fn changed(&self, op: Op) -> Result<bool> {
        changed(self.writer.call(op).await?)
    }

    /// Runs a write, then drops what the caches hold of `player` (all tokens with
    /// `all_tokens`), on a task of its own that the caller waits for: the writer commits
    /// whether or not the caller is still there, so the caches must follow even when the
    /// request is dropped midway (its client gone), or a deleted player's token would go on
    /// working from the cache.
    async fn write_and_forget(&self, op: Op, player: PlayerId, all_tokens: bool) -> Result<Reply> {
        let (writer, trails) = (self.writer.clone(), self.trails.clone());
        let (memberships, tokens) = (self.memberships.clone(), self.tokens.clone());
        let task = tokio::spawn(async move {
            let reply = writer.call(op).await;
            if all_tokens {
                trails.forget(&player);
                tokens.clear();
            }
            memberships.forget(&player);
            reply
        });
        task.await.map_err(|e| crate::internal("a store write", e))?
    }
}

fn changed(reply: Reply) -> Result<bool> {
    match reply {
        Reply::Changed(changed) => Ok(changed),
        _ => unreachable!("membership and device ops answer Changed"),
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
    table: redb::TableDefinition<'static, (&str, &str), ()>,
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
        let id = id.clone();
        self.read(move |txn| read_player(txn, id.as_str())).await
    }

    async fn player_by_token(&self, hash: &TokenHash) -> Result<Option<PlayerRecord>> {
        let hash = hash.0;
        if let Some(player) = self.tokens.get(&hash) {
            return Ok(Some(player));
        }
        let read_at = self.tokens.epoch();
        let player = self
            .read(move |txn| {
                let tokens = txn.open_table(codec::TOKENS).map_err(db_err)?;
                let Some(id) = tokens.get(&hash).map_err(db_err)? else {
                    return Ok(None);
                };
                read_player(txn, id.value())
            })
            .await?;
        if let Some(player) = &player {
            self.tokens.fill(hash, read_at, player.clone());
        }
        Ok(player)
    }

    async fn delete_player(&self, id: &PlayerId) -> Result<Vec<MapId>> {
        match self.write_and_forget(Op::DeletePlayer(id.clone()), id.clone(), true).await? {
            Reply::Maps(maps) => Ok(maps),
            _ => unreachable!("DeletePlayer answers Maps"),
        }
    }

    async fn create_device(&self, device: DeviceRecord) -> Result<()> {
        self.writer.call(Op::CreateDevice(device)).await.map(|_| ())
    }

    async fn device(&self, id: &DeviceId) -> Result<Option<DeviceRecord>> {
        let id = id.clone();
        self.read(move |txn| read_device(txn, id.as_str())).await
    }

    async fn devices_of(&self, player: &PlayerId) -> Result<Vec<DeviceRecord>> {
        let player = player.clone();
        self.read(move |txn| {
            let mut out = Vec::new();
            for id in pairs_of(txn, codec::PLAYER_DEVICES, player.as_str())? {
                out.extend(read_device(txn, &id)?);
            }
            out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            Ok(out)
        })
        .await
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
        self.write_and_forget(Op::CreateMap(map), owner, false).await.map(drop)
    }

    async fn map(&self, id: &MapId) -> Result<Option<MapRecord>> {
        let id = id.clone();
        self.read(move |txn| read_map(txn, id.as_str())).await
    }

    async fn public_maps(
        &self,
        after: Option<&PublicCursor>,
        count: usize,
    ) -> Result<Vec<(PublicCursor, Option<MapRecord>)>> {
        let after = after.cloned();
        self.read(move |txn| crate::public::page(txn, after.as_ref(), count)).await
    }

    async fn members(&self, map: &MapId) -> Result<Vec<(PlayerId, String)>> {
        let map = map.clone();
        self.read(move |txn| {
            let mut out = Vec::new();
            for id in pairs_of(txn, codec::MEMBERS, map.as_str())? {
                if let Some(player) = read_player(txn, &id)? {
                    out.push((player.id, player.name));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn is_member(&self, map: &MapId, player: &PlayerId) -> Result<bool> {
        let (map, player) = (map.clone(), player.clone());
        self.read(move |txn| {
            let members = txn.open_table(codec::MEMBERS).map_err(db_err)?;
            Ok(members.get((map.as_str(), player.as_str())).map_err(db_err)?.is_some())
        })
        .await
    }

    async fn maps_of(&self, player: &PlayerId) -> Result<Vec<MapRecord>> {
        let player = player.clone();
        self.read(move |txn| {
            let mut out = Vec::new();
            for id in pairs_of(txn, codec::MEMBERSHIPS, player.as_str())? {
                out.extend(read_map(txn, &id)?);
            }
            Ok(out)
        })
        .await
    }

    async fn add_member(&self, map: &MapId, player: &PlayerId) -> Result<bool> {
        let reply = self.write_and_forget(Op::AddMember(map.clone(), player.clone()), player.clone(), false);
        changed(reply.await?)
    }

    async fn remove_member(&self, map: &MapId, player: &PlayerId) -> Result<bool> {
        let reply =
            self.write_and_forget(Op::RemoveMember(map.clone(), player.clone()), player.clone(), false);
        changed(reply.await?)
    }

    async fn map_ids_of(&self, player: &PlayerId) -> Result<Arc<[MapId]>> {
        if let Some(maps) = self.memberships.get(player) {
            return Ok(maps);
        }
        let read_at = self.memberships.epoch();
        let owner = player.clone();
        let ids = self.read(move |txn| pairs_of(txn, codec::MEMBERSHIPS, owner.as_str())).await?;
        let maps: Arc<[MapId]> = ids.iter().filter_map(|id| MapId::parse(id)).collect();
        self.memberships.fill(player, read_at, maps.clone());
        Ok(maps)
    }

    async fn append_trail(&self, player: &PlayerId, fix: &Fix) -> Result<()> {
        // While the store cannot write, points wait in memory for its recovery as long as
        // there is room; past it a sender is refused rather than left waiting for the disk.
        loop {
            if self.trails.try_push(player, fix.clone()) {
                return Ok(());
            }
            if let Some(reason) = self.db.fault() {
                return Err(StoreError::Unavailable(reason));
            }
            // Full until the next commit: wait for it, but look at the store's health again
            // now and then, so that a fault meanwhile answers 503 instead of keeping the
            // sender waiting through the whole outage.
            if tokio::time::timeout(FAULT_CHECK, self.trails.push(player, fix.clone())).await.is_ok() {
                return Ok(());
            }
        }
    }

    async fn trail(&self, player: &PlayerId, since: Option<Millis>, limit: usize) -> Result<Vec<Fix>> {
        let (trails, player) = (self.trails.clone(), player.clone());
        self.read(move |txn| trail_points(txn, &trails, &player, since, limit)).await
    }

    async fn latest(&self, player: &PlayerId) -> Result<Option<Fix>> {
        let (trails, player) = (self.trails.clone(), player.clone());
        self.read(move |txn| latest_point(txn, &trails, &player)).await
    }

    async fn ready(&self) -> Result<()> {
        match self.db.fault() {
            Some(reason) => Err(StoreError::Unavailable(reason)),
            None => Ok(()),
        }
    }

    async fn flush(&self) -> Result<()> {
        self.writer.call(Op::Flush).await.map(|_| ())
    }
}
