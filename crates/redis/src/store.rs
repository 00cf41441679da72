//! [`Store`] on Redis. Each step touches the keys of one entity (one slot), so it runs on one
//! shard of a cluster; an operation that spans a player and a map takes its steps in an order
//! where an interruption (Redis lost between two steps) leaves nothing a reader can see:
//! the map side is the authority on membership, written last on a join and first on a leave.
//! Sessions and link codes are in [`sessions`], maps and memberships in [`maps`], a map's
//! places in [`places`], the erasure of trail points by age in [`retention`].

mod maps;
mod places;
mod retention;
mod sessions;
mod trails;

pub(crate) use places::decode_places;

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::future::try_join_all;
use marauder_core::protocol::{Fix, Millis, Place, Visibility};
use marauder_core::retention::Erased;
use marauder_core::{
    DeviceId, DeviceRecord, LinkCodeRecord, MapId, MapRecord, PlayerId, PlayerRecord, PublicCursor,
    SessionId, SessionRecord, Store, StoreError, TokenHash, TrailCursor, TrailPage, TrailRange,
};
use redis::{AsyncCommands, Script};

use crate::conn::{Conn, decode_err, ping, store_err};
use crate::keys::Keys;
use crate::public::PublicIndex;

type Result<T> = std::result::Result<T, StoreError>;

/// Appends points (oldest first), trims the trail to the retention, and answers the player's
/// map ids; a player without a record (deleted) gets no point and nil. A retry of the script
/// (the same write key, which the client library may send again after a timeout) appends
/// nothing twice. KEYS: trail, counter, the player's maps, the player's record, the key of
/// the latest write. ARGV: retention, write key, then each point's ts and fix JSON.
const APPEND_TRAIL: &str = r"
if redis.call('EXISTS', KEYS[4]) == 0 then return false end
if redis.call('GET', KEYS[5]) ~= ARGV[2] then
  redis.call('SET', KEYS[5], ARGV[2])
  local n = redis.call('INCRBY', KEYS[2], (#ARGV - 2) / 2)
  for i = #ARGV - 1, 3, -2 do
    redis.call('ZADD', KEYS[1], ARGV[i], string.format('%016x', n) .. '|' .. ARGV[i + 1])
    n = n - 1
  end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[1]) + 1))
end
return redis.call('SMEMBERS', KEYS[3])
";

/// Length of the `<16 hex digits>|` prefix of a trail member.
const TRAIL_PREFIX: usize = 17;

/// Players whose maps [`RedisStore`] remembers for [`Store::map_ids_hint`]; past it the
/// memory starts over (a cleared hint costs one location a second round trip).
const MAX_HINTS: usize = 100_000;

pub struct RedisStore {
    /// Each player's maps as the last trail append on this handler answered them.
    hints: std::sync::Mutex<std::collections::HashMap<PlayerId, Arc<[MapId]>>>,
    conn: Conn,
    keys: Keys,
    retention: u64,
    append_trail: Script,
    scripts: Scripts,
    public: PublicIndex,
}

struct Scripts {
    sessions: sessions::Scripts,
    maps: maps::Scripts,
    places: places::Scripts,
}

impl RedisStore {
    pub(crate) fn new(conn: Conn, keys: Keys, retention: u64) -> RedisStore {
        let public = PublicIndex::new(keys.clone());
        let scripts = Scripts {
            sessions: sessions::Scripts::new(),
            maps: maps::Scripts::new(),
            places: places::Scripts::new(),
        };
        let append_trail = Script::new(APPEND_TRAIL);
        RedisStore { hints: Default::default(), conn, keys, retention, append_trail, scripts, public }
    }

    fn conn(&self) -> Conn {
        self.conn.clone()
    }

    async fn map_ids(&self, player: &PlayerId) -> Result<Vec<MapId>> {
        let ids: Vec<String> =
            self.conn().smembers(self.keys.player_maps(player)).await.map_err(store_err)?;
        Ok(ids.iter().filter_map(|id| MapId::parse(id)).collect())
    }

    async fn player_bytes(&self, id: &PlayerId) -> Result<Option<Vec<u8>>> {
        self.conn().get(self.keys.player(id)).await.map_err(store_err)
    }
}

impl RedisStore {
    /// [`Store::append_trail_and_map_ids`] as the write `key`: what a retry of the same write
    /// sends, which tests send on purpose.
    #[doc(hidden)]
    pub async fn append_trail_as(&self, player: &PlayerId, fix: &Fix, key: &str) -> Result<Arc<[MapId]>> {
        self.append_trails_as(player, std::slice::from_ref(fix), key).await
    }

    /// [`Store::append_trails_and_map_ids`] as the write `key`.
    #[doc(hidden)]
    pub async fn append_trails_as(
        &self,
        player: &PlayerId,
        fixes: &[Fix],
        key: &str,
    ) -> Result<Arc<[MapId]>> {
        // Indexed before its first point here, so the erasure of expired points finds every
        // trail; a player this handler has written for is in the hints.
        if !self.hints.lock().unwrap().contains_key(player) {
            self.index_trail(player).await?;
        }
        let mut script = self.append_trail.prepare_invoke();
        script
            .key(self.keys.trail(player))
            .key(self.keys.trail_counter(player))
            .key(self.keys.player_maps(player))
            .key(self.keys.player(player))
            .key(self.keys.trail_written(player))
            .arg(self.retention)
            .arg(key);
        for fix in fixes {
            script.arg(fix.ts).arg(serde_json::to_string(fix).expect("a fix always encodes"));
        }
        let maps: Option<Vec<String>> = script.invoke_async(&mut self.conn()).await.map_err(store_err)?;
        // A deleted player's point is not stored, and informs no map.
        let maps: Arc<[MapId]> = maps.unwrap_or_default().iter().filter_map(|id| MapId::parse(id)).collect();
        let mut hints = self.hints.lock().unwrap();
        if hints.len() >= MAX_HINTS {
            hints.clear();
        }
        // May include a map just left: publishing checks the map's member set.
        hints.insert(player.clone(), maps.clone());
        Ok(maps)
    }
}

fn decode_point(member: &str) -> Result<Fix> {
    let json = member.get(TRAIL_PREFIX..).ok_or_else(|| decode_err("a trail point", "too short"))?;
    serde_json::from_str(json).map_err(|e| decode_err("a trail point", e))
}

#[async_trait]
impl Store for RedisStore {
    async fn create_player(&self, player: PlayerRecord, session: SessionRecord) -> Result<()> {
        // The record first: until a token points at it, nobody can reach it.
        let _: () =
            self.conn().set(self.keys.player(&player.id), player.encode()).await.map_err(store_err)?;
        self.put_session(&session).await
    }

    async fn player(&self, id: &PlayerId) -> Result<Option<PlayerRecord>> {
        let bytes = self.player_bytes(id).await?;
        bytes.map(|b| PlayerRecord::decode(id.as_str(), &b)).transpose()
    }

    async fn rename_player(&self, id: &PlayerId, name: &str) -> Result<bool> {
        let Some(record) = self.player(id).await? else {
            return Ok(false);
        };
        // XX: a player deleted meanwhile is not brought back. Nothing else of the record
        // changes, so a racing rename simply lands first or last.
        let renamed = PlayerRecord { name: name.to_owned(), ..record };
        let set: Option<String> = redis::cmd("SET")
            .arg(self.keys.player(id))
            .arg(renamed.encode())
            .arg("XX")
            .query_async(&mut self.conn())
            .await
            .map_err(store_err)?;
        Ok(set.is_some())
    }

    async fn delete_player(&self, id: &PlayerId) -> Result<Vec<MapId>> {
        let Some(bytes) = self.player_bytes(id).await? else {
            return Ok(Vec::new());
        };
        // The service has left every map by now; what is left joined meanwhile. (The
        // player's index may name maps it is no longer in: those need no `left`.)
        let mut maps = Vec::new();
        for map in self.map_ids(id).await? {
            if self.change_membership(&map, id, false).await? == Some(true) {
                maps.push(map);
            }
        }
        for device in self.devices_of(id).await? {
            let _: () = self.conn().del(self.keys.device(&device.id)).await.map_err(store_err)?;
        }
        // The sessions before the record: interrupted, a session that still works can retry.
        self.revoke_all(id, PlayerRecord::legacy_token_hash(&bytes)).await?;
        let _: () = redis::pipe()
            .atomic()
            .del(&[
                self.keys.player_maps(id),
                self.keys.player_devices(id),
                self.keys.player_sessions(id),
                self.keys.trail(id),
                self.keys.trail_counter(id),
                self.keys.trail_written(id),
            ])
            .del(self.keys.player(id))
            .query_async(&mut self.conn())
            .await
            .map_err(store_err)?;
        // After the trail: interrupted, the walk of the erasure drops it (no record).
        self.unindex_trail(id).await?;
        Ok(maps)
    }

    async fn session_by_token(&self, hash: &TokenHash) -> Result<Option<(SessionRecord, PlayerRecord)>> {
        self.find_session(hash).await
    }

    async fn create_session(&self, session: SessionRecord) -> Result<()> {
        self.put_session(&session).await
    }

    async fn sessions_of(&self, player: &PlayerId) -> Result<Vec<SessionRecord>> {
        self.list_sessions(player).await
    }

    async fn touch_session(&self, session: &SessionRecord) -> Result<()> {
        self.touch(session).await
    }

    async fn delete_session(&self, player: &PlayerId, id: &SessionId) -> Result<Option<SessionRecord>> {
        self.revoke(player, id).await
    }

    async fn create_link_code(&self, code: LinkCodeRecord) -> Result<()> {
        self.put_link_code(&code).await
    }

    async fn take_link_code(&self, hash: &TokenHash) -> Result<Option<LinkCodeRecord>> {
        self.take_code(hash).await
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
        self.put_map(&map).await
    }

    async fn map(&self, id: &MapId) -> Result<Option<MapRecord>> {
        let bytes: Option<Vec<u8>> = self.conn().get(self.keys.map(id)).await.map_err(store_err)?;
        bytes.map(|b| MapRecord::decode(id.as_str(), &b)).transpose()
    }

    async fn update_map(&self, expected: &MapRecord, map: MapRecord) -> Result<bool> {
        self.replace_map(expected, &map).await
    }

    async fn delete_map(&self, id: &MapId) -> Result<bool> {
        self.remove_map(id).await
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
        let ids = self.member_ids(map).await?;
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
        self.join(map, player).await
    }

    async fn remove_member(&self, map: &MapId, player: &PlayerId) -> Result<bool> {
        let removed = self.change_membership(map, player, false).await? == Some(true);
        let _: () = self.conn().srem(self.keys.player_maps(player), map.as_str()).await.map_err(store_err)?;
        Ok(removed)
    }

    fn map_ids_hint(&self, player: &PlayerId) -> Option<Arc<[MapId]>> {
        self.hints.lock().unwrap().get(player).cloned()
    }

    async fn places(&self, map: &MapId) -> Result<Vec<Place>> {
        self.read_places(map).await
    }

    async fn add_place(&self, map: &MapId, place: &Place, max: usize) -> Result<bool> {
        self.put_place(map, place, max).await
    }

    async fn remove_place(&self, map: &MapId, place: &str) -> Result<bool> {
        self.take_place(map, place).await
    }

    async fn append_trail(&self, player: &PlayerId, fix: &Fix) -> Result<()> {
        self.append_trail_and_map_ids(player, fix).await.map(drop)
    }

    async fn append_trail_and_map_ids(&self, player: &PlayerId, fix: &Fix) -> Result<Arc<[MapId]>> {
        self.append_trail_as(player, fix, &crate::feed::write_key()).await
    }

    async fn append_trails_and_map_ids(&self, player: &PlayerId, fixes: &[Fix]) -> Result<Arc<[MapId]>> {
        self.append_trails_as(player, fixes, &crate::feed::write_key()).await
    }

    async fn trail_page(
        &self,
        player: &PlayerId,
        range: TrailRange,
        after: Option<TrailCursor>,
        limit: usize,
    ) -> Result<TrailPage> {
        self.read_trail_page(player, range, after, limit).await
    }

    async fn latest(&self, player: &PlayerId) -> Result<Option<Fix>> {
        let members: Vec<String> =
            self.conn().zrange(self.keys.trail(player), -1, -1).await.map_err(store_err)?;
        members.first().map(|m| decode_point(m)).transpose()
    }

    async fn erase_trails_before(&self, cutoff: Millis, budget: usize) -> Result<Erased> {
        self.erase_step(cutoff, budget).await
    }

    async fn flush(&self) -> Result<()> {
        Ok(()) // Every write was executed by Redis before it was acknowledged.
    }

    async fn ready(&self) -> Result<()> {
        ping(&self.conn, "command").await
    }
}
