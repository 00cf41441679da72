//! [`Store`] on Redis. Each step touches the keys of one entity (one slot), so it runs on one
//! shard of a cluster; an operation that spans a player and a map takes its steps in an order
//! where an interruption (Redis lost between two steps) leaves nothing a reader can see:
//! the map side is the authority on membership, written last on a join and first on a leave.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::future::try_join_all;
use marauder_core::protocol::{Fix, Millis, Visibility};
use marauder_core::{
    DeviceId, DeviceRecord, MapId, MapRecord, PlayerId, PlayerRecord, PublicCursor, Store, StoreError,
    TokenHash,
};
use redis::{AsyncCommands, Script};

use crate::conn::{Conn, decode_err, ping, store_err};
use crate::keys::Keys;
use crate::public::PublicIndex;

type Result<T> = std::result::Result<T, StoreError>;

/// Appends a point, trims the trail to the retention, and answers the player's map ids.
/// KEYS: trail, counter, the player's maps. ARGV: ts, fix JSON, retention.
const APPEND_TRAIL: &str = r"
local n = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], ARGV[1], string.format('%016x', n) .. '|' .. ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
return redis.call('SMEMBERS', KEYS[3])
";

/// Length of the `<16 hex digits>|` prefix of a trail member.
const TRAIL_PREFIX: usize = 17;

pub struct RedisStore {
    conn: Conn,
    keys: Keys,
    retention: u64,
    append_trail: Script,
    public: PublicIndex,
}

impl RedisStore {
    pub(crate) fn new(conn: Conn, keys: Keys, retention: u64) -> RedisStore {
        let public = PublicIndex::new(keys.clone());
        RedisStore { conn, keys, retention, append_trail: Script::new(APPEND_TRAIL), public }
    }

    fn conn(&self) -> Conn {
        self.conn.clone()
    }

    async fn map_ids(&self, player: &PlayerId) -> Result<Vec<MapId>> {
        let ids: Vec<String> =
            self.conn().smembers(self.keys.player_maps(player)).await.map_err(store_err)?;
        Ok(ids.iter().filter_map(|id| MapId::parse(id)).collect())
    }

    /// Moves the public maps of a deployment older than the public index into it, once.
    pub(crate) async fn migrate_public_index(&self) -> Result<()> {
        let ids: Vec<String> = self.conn().smembers(self.keys.legacy_public()).await.map_err(store_err)?;
        for map in ids.iter().filter_map(|id| MapId::parse(id)) {
            let (members, version, record): (u64, u64, Option<Vec<u8>>) = redis::pipe()
                .atomic()
                .scard(self.keys.members(&map))
                .incr(self.keys.membership_version(&map), 1)
                .get(self.keys.map(&map))
                .query_async(&mut self.conn())
                .await
                .map_err(store_err)?;
            let record = record.map(|bytes| MapRecord::decode(map.as_str(), &bytes)).transpose()?;
            let listed = record.is_some_and(|r| r.visibility == Visibility::Public);
            self.public.set(&mut self.conn(), &map, version, members, listed).await?;
        }
        if !ids.is_empty() {
            tracing::info!(maps = ids.len(), "moved the public maps into the public index");
            let _: () = self.conn().del(self.keys.legacy_public()).await.map_err(store_err)?;
        }
        Ok(())
    }

    /// Adds or removes one membership in one step on the map's slot that also counts the
    /// members and versions the change, then moves the map in the public index.
    async fn change_membership(&self, map: &MapId, player: &PlayerId, joined: bool) -> Result<bool> {
        let mut step = redis::pipe();
        step.atomic();
        if joined {
            step.sadd(self.keys.members(map), player.as_str());
        } else {
            step.srem(self.keys.members(map), player.as_str());
        }
        let (changed, members, version, record): (u64, u64, u64, Option<Vec<u8>>) = step
            .scard(self.keys.members(map))
            .incr(self.keys.membership_version(map), 1)
            .get(self.keys.map(map))
            .query_async(&mut self.conn())
            .await
            .map_err(store_err)?;
        // The membership is changed: whatever happens to the index now, the caller must go on
        // to announce it. The index is one step on another slot, kept by version, so it is
        // also written when nothing changed (a retry repairs a step that failed before), and
        // a failure only leaves the listing a step behind until the map's next change.
        let record = record.map(|bytes| MapRecord::decode(map.as_str(), &bytes)).transpose();
        if let Ok(Some(record)) = record
            && record.visibility == Visibility::Public
            && let Err(err) = self.public.set(&mut self.conn(), map, version, members, true).await
        {
            tracing::warn!(%map, error = %err, "the public map index could not follow a membership change");
        }
        Ok(changed == 1)
    }
}

fn decode_point(member: &str) -> Result<Fix> {
    let json = member.get(TRAIL_PREFIX..).ok_or_else(|| decode_err("a trail point", "too short"))?;
    serde_json::from_str(json).map_err(|e| decode_err("a trail point", e))
}

#[async_trait]
impl Store for RedisStore {
    async fn create_player(&self, player: PlayerRecord) -> Result<()> {
        // The record first: until the token points at it, nobody can reach it.
        let _: () =
            self.conn().set(self.keys.player(&player.id), player.encode()).await.map_err(store_err)?;
        let _: () = self
            .conn()
            .set(self.keys.token(&player.token_hash), player.id.as_str())
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn player(&self, id: &PlayerId) -> Result<Option<PlayerRecord>> {
        let bytes: Option<Vec<u8>> = self.conn().get(self.keys.player(id)).await.map_err(store_err)?;
        bytes.map(|b| PlayerRecord::decode(id.as_str(), &b)).transpose()
    }

    async fn player_by_token(&self, hash: &TokenHash) -> Result<Option<PlayerRecord>> {
        let id: Option<String> = self.conn().get(self.keys.token(hash)).await.map_err(store_err)?;
        match id.as_deref().and_then(PlayerId::parse) {
            Some(id) => self.player(&id).await,
            None => Ok(None),
        }
    }

    async fn delete_player(&self, id: &PlayerId) -> Result<Vec<MapId>> {
        let Some(record) = self.player(id).await? else {
            return Ok(Vec::new());
        };
        // The service has left every map by now; what is left joined meanwhile. (The
        // player's index may name maps it is no longer in: those need no `left`.)
        let mut maps = Vec::new();
        for map in self.map_ids(id).await? {
            if self.change_membership(&map, id, false).await? {
                maps.push(map);
            }
        }
        for device in self.devices_of(id).await? {
            let _: () = self.conn().del(self.keys.device(&device.id)).await.map_err(store_err)?;
        }
        // The token last: until it is gone, the player can still retry.
        let _: () = redis::pipe()
            .atomic()
            .del(&[
                self.keys.player_maps(id),
                self.keys.player_devices(id),
                self.keys.trail(id),
                self.keys.trail_counter(id),
            ])
            .del(self.keys.player(id))
            .query_async(&mut self.conn())
            .await
            .map_err(store_err)?;
        let _: () = self.conn().del(self.keys.token(&record.token_hash)).await.map_err(store_err)?;
        Ok(maps)
    }

    async fn create_device(&self, device: DeviceRecord) -> Result<()> {
        // The index first: a listed device that does not exist is skipped, while one that
        // exists unlisted could not be revoked.
        let _: () = self
            .conn()
            .sadd(self.keys.player_devices(&device.player), device.id.as_str())
            .await
            .map_err(store_err)?;
        let _: () =
            self.conn().set(self.keys.device(&device.id), device.encode()).await.map_err(store_err)?;
        Ok(())
    }

    async fn device(&self, id: &DeviceId) -> Result<Option<DeviceRecord>> {
        let bytes: Option<Vec<u8>> = self.conn().get(self.keys.device(id)).await.map_err(store_err)?;
        bytes.map(|b| DeviceRecord::decode(id.as_str(), &b)).transpose()
    }

    async fn devices_of(&self, player: &PlayerId) -> Result<Vec<DeviceRecord>> {
        let ids: Vec<String> =
            self.conn().smembers(self.keys.player_devices(player)).await.map_err(store_err)?;
        let ids: Vec<DeviceId> = ids.iter().filter_map(|id| DeviceId::parse(id)).collect();
        let devices = try_join_all(ids.iter().map(|id| self.device(id))).await?;
        let mut devices: Vec<DeviceRecord> =
            devices.into_iter().flatten().filter(|d| &d.player == player).collect();
        devices.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(devices)
    }

    async fn touch_device(&self, device: &DeviceRecord) -> Result<()> {
        // XX: only if it still exists, so a device revoked meanwhile is not brought back.
        let _: Option<String> = redis::cmd("SET")
            .arg(self.keys.device(&device.id))
            .arg(device.encode())
            .arg("XX")
            .query_async(&mut self.conn())
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn delete_device(&self, player: &PlayerId, id: &DeviceId) -> Result<bool> {
        match self.device(id).await? {
            Some(device) if &device.player == player => {
                // The record first: once it is gone the credential opens nothing.
                let _: () = self.conn().del(self.keys.device(id)).await.map_err(store_err)?;
                let _: () = self
                    .conn()
                    .srem(self.keys.player_devices(player), id.as_str())
                    .await
                    .map_err(store_err)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn create_map(&self, map: MapRecord) -> Result<()> {
        // The indexes first (a listed map that does not exist is skipped), then the map with
        // its first member in one step: membership version 1, which the index's 0 precedes.
        if map.visibility == Visibility::Public {
            self.public.set(&mut self.conn(), &map.id, 0, 1, true).await?;
        }
        let _: () =
            self.conn().sadd(self.keys.player_maps(&map.owner), map.id.as_str()).await.map_err(store_err)?;
        let _: () = redis::pipe()
            .atomic()
            .set(self.keys.map(&map.id), map.encode())
            .sadd(self.keys.members(&map.id), map.owner.as_str())
            .incr(self.keys.membership_version(&map.id), 1)
            .ignore()
            .query_async(&mut self.conn())
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn map(&self, id: &MapId) -> Result<Option<MapRecord>> {
        let bytes: Option<Vec<u8>> = self.conn().get(self.keys.map(id)).await.map_err(store_err)?;
        bytes.map(|b| MapRecord::decode(id.as_str(), &b)).transpose()
    }

    async fn public_maps(
        &self,
        after: Option<&PublicCursor>,
        count: usize,
    ) -> Result<Vec<(PublicCursor, Option<MapRecord>)>> {
        let listed = self.public.page(&mut self.conn(), after, count).await?;
        let records = try_join_all(listed.iter().map(|c| self.map(&c.id))).await?;
        let public = records.into_iter().map(|r| r.filter(|r| r.visibility == Visibility::Public));
        Ok(listed.into_iter().zip(public).collect())
    }

    async fn members(&self, map: &MapId) -> Result<Vec<(PlayerId, String)>> {
        let ids: Vec<String> = self.conn().smembers(self.keys.members(map)).await.map_err(store_err)?;
        let mut ids: Vec<PlayerId> = ids.iter().filter_map(|id| PlayerId::parse(id)).collect();
        ids.sort();
        let players = try_join_all(ids.iter().map(|id| self.player(id))).await?;
        Ok(players.into_iter().flatten().map(|p| (p.id, p.name)).collect())
    }

    async fn is_member(&self, map: &MapId, player: &PlayerId) -> Result<bool> {
        self.conn().sismember(self.keys.members(map), player.as_str()).await.map_err(store_err)
    }

    async fn maps_of(&self, player: &PlayerId) -> Result<Vec<MapRecord>> {
        let ids = self.map_ids(player).await?;
        let checks = ids.into_iter().map(|id| async move {
            Ok::<_, StoreError>(match self.is_member(&id, player).await? {
                true => self.map(&id).await?,
                false => None, // A leave interrupted before the player's index was updated.
            })
        });
        let mut maps: Vec<MapRecord> = try_join_all(checks).await?.into_iter().flatten().collect();
        maps.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(maps)
    }

    async fn map_ids_of(&self, player: &PlayerId) -> Result<Arc<[MapId]>> {
        // May include a map just left: publishing checks the map's member set.
        Ok(self.map_ids(player).await?.into())
    }

    async fn add_member(&self, map: &MapId, player: &PlayerId) -> Result<bool> {
        let _: () = self.conn().sadd(self.keys.player_maps(player), map.as_str()).await.map_err(store_err)?;
        self.change_membership(map, player, true).await
    }

    async fn remove_member(&self, map: &MapId, player: &PlayerId) -> Result<bool> {
        let removed = self.change_membership(map, player, false).await?;
        let _: () = self.conn().srem(self.keys.player_maps(player), map.as_str()).await.map_err(store_err)?;
        Ok(removed)
    }

    async fn append_trail(&self, player: &PlayerId, fix: &Fix) -> Result<()> {
        self.append_trail_and_map_ids(player, fix).await.map(drop)
    }

    async fn append_trail_and_map_ids(&self, player: &PlayerId, fix: &Fix) -> Result<Arc<[MapId]>> {
        let json = serde_json::to_string(fix).expect("a fix always encodes");
        let maps: Vec<String> = self
            .append_trail
            .key(self.keys.trail(player))
            .key(self.keys.trail_counter(player))
            .key(self.keys.player_maps(player))
            .arg(fix.ts)
            .arg(json)
            .arg(self.retention)
            .invoke_async(&mut self.conn())
            .await
            .map_err(store_err)?;
        // May include a map just left: publishing checks the map's member set.
        Ok(maps.iter().filter_map(|id| MapId::parse(id)).collect())
    }

    async fn trail(&self, player: &PlayerId, since: Option<Millis>, limit: usize) -> Result<Vec<Fix>> {
        let min = since.map_or("-inf".to_owned(), |ts| format!("({ts}"));
        let members: Vec<String> = self
            .conn()
            .zrangebyscore_limit(self.keys.trail(player), min, "+inf", 0, limit as isize)
            .await
            .map_err(store_err)?;
        members.iter().map(|m| decode_point(m)).collect()
    }

    async fn latest(&self, player: &PlayerId) -> Result<Option<Fix>> {
        let members: Vec<String> =
            self.conn().zrange(self.keys.trail(player), -1, -1).await.map_err(store_err)?;
        members.first().map(|m| decode_point(m)).transpose()
    }

    async fn flush(&self) -> Result<()> {
        Ok(()) // Every write was executed by Redis before it was acknowledged.
    }

    async fn ready(&self) -> Result<()> {
        ping(&self.conn, "command").await
    }
}
