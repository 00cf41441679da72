//! Maps and memberships on Redis. A map's record, member set, join order and membership
//! version share the map's slot, and each change of them is one script there: the member set
//! is the authority on membership (written last on a join, first on a leave or a deletion),
//! the players' map lists are indexes a reader re-checks. The public index follows each
//! change in a step of its own, ordered by the membership version ([`crate::public`]).

use futures_util::future::try_join_all;
use marauder_core::protocol::Visibility;
use marauder_core::{MapId, MapRecord, PlayerId, StoreError};
use redis::{AsyncCommands, Script};

use super::RedisStore;
use crate::conn::store_err;

type Result<T> = std::result::Result<T, StoreError>;

/// Adds (ARGV[2] '1') or removes a member, with its place in the join order, and versions the
/// change; either way the member's place states go (a joiner's first position sets them;
/// their write count goes on, as `forget_states` in the feed's scripts).
/// A map without a record gains no member. KEYS: members, joined, version, record, presence.
/// ARGV: player, '1' or '0'. Returns {changed, members, version, record} or nil (no map).
const CHANGE_MEMBERSHIP: &str = r"
local function forget_states()
  local held = redis.call('HGET', KEYS[5], ARGV[1])
  if held then
    redis.call('HSET', KEYS[5], ARGV[1], (tonumber(string.match(held, '^(%d+):') or '0') + 1) .. ':')
  end
end
local exists = redis.call('EXISTS', KEYS[4]) == 1
if ARGV[2] == '1' then
  if not exists then return false end
  local added = redis.call('SADD', KEYS[1], ARGV[1])
  local version = redis.call('INCR', KEYS[3])
  if added == 1 then
    redis.call('ZADD', KEYS[2], version, ARGV[1])
    forget_states()
  end
  return {added, redis.call('SCARD', KEYS[1]), version, redis.call('GET', KEYS[4])}
end
local removed = redis.call('SREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
forget_states()
if not exists then return {removed, redis.call('SCARD', KEYS[1]), 0, false} end
return {removed, redis.call('SCARD', KEYS[1]), redis.call('INCR', KEYS[3]), redis.call('GET', KEYS[4])}
";

/// Replaces the record if it is still the expected one (compare and set), versioning the
/// change for the public index. KEYS: record, version, members. ARGV: the new record, the
/// expected one. Returns {old record, version, members} or nil.
const UPDATE: &str = r"
local old = redis.call('GET', KEYS[1])
if not old or old ~= ARGV[2] then return false end
redis.call('SET', KEYS[1], ARGV[1])
return {old, redis.call('INCR', KEYS[2]), redis.call('SCARD', KEYS[3])}
";

/// Deletes the map's record, members, join order, version and places (with their version and
/// the members' states) at once (the members go, so from then on nothing publishes to the
/// map). KEYS: record, members, joined, version, places, places version, presence.
/// Returns {record, version, {member ids}} or nil.
const DELETE: &str = r"
local record = redis.call('GET', KEYS[1])
if not record then return false end
local members = redis.call('SMEMBERS', KEYS[2])
local version = redis.call('INCR', KEYS[4])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
return {record, version, members}
";

pub(super) struct Scripts {
    change_membership: Script,
    update: Script,
    delete: Script,
}

impl Scripts {
    pub(super) fn new() -> Scripts {
        Scripts {
            change_membership: Script::new(CHANGE_MEMBERSHIP),
            update: Script::new(UPDATE),
            delete: Script::new(DELETE),
        }
    }
}

/// Member ids in join order: those without a place (joined before the order was kept)
/// first, by id; then by the version they joined at.
fn join_order(members: Vec<String>, joined: Vec<(String, f64)>) -> Vec<PlayerId> {
    let place: std::collections::HashMap<String, f64> = joined.into_iter().collect();
    let mut ordered: Vec<(Option<u64>, PlayerId)> = members
        .into_iter()
        .filter_map(|id| Some((place.get(&id).map(|v| *v as u64), PlayerId::parse(&id)?)))
        .collect();
    ordered.sort();
    ordered.into_iter().map(|(_, id)| id).collect()
}

impl RedisStore {
    fn decode_map(map: &MapId, bytes: Option<Vec<u8>>) -> Result<Option<MapRecord>> {
        bytes.map(|b| MapRecord::decode(map.as_str(), &b)).transpose()
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
            let listed = Self::decode_map(&map, record)?.is_some_and(|r| r.visibility == Visibility::Public);
            self.public.set(&mut self.conn(), &map, version, members, listed).await?;
        }
        if !ids.is_empty() {
            tracing::info!(maps = ids.len(), "moved the public maps into the public index");
            let _: () = self.conn().del(self.keys.legacy_public()).await.map_err(store_err)?;
        }
        Ok(())
    }

    /// Adds or removes one membership in one step on the map's slot that also counts the
    /// members and versions the change, then moves the map in the public index. `None`: the
    /// map has no record, and gained no member.
    pub(super) async fn change_membership(
        &self,
        map: &MapId,
        player: &PlayerId,
        join: bool,
    ) -> Result<Option<bool>> {
        let answer: Option<(u64, u64, u64, Option<Vec<u8>>)> = self
            .scripts
            .maps
            .change_membership
            .key(self.keys.members(map))
            .key(self.keys.joined(map))
            .key(self.keys.membership_version(map))
            .key(self.keys.map(map))
            .key(self.keys.presence(map))
            .arg(player.as_str())
            .arg(if join { "1" } else { "0" })
            .invoke_async(&mut self.conn())
            .await
            .map_err(store_err)?;
        let Some((changed, members, version, record)) = answer else {
            return Ok(None);
        };
        // The membership is changed: whatever happens to the index now, the caller must go on
        // to announce it. The index is one step on another slot, kept by version, so it is
        // also written when nothing changed (a retry repairs a step that failed before), and
        // a failure only leaves the listing a step behind until the map's next change.
        if let Ok(Some(record)) = Self::decode_map(map, record)
            && record.visibility == Visibility::Public
            && let Err(err) = self.public.set(&mut self.conn(), map, version, members, true).await
        {
            tracing::warn!(%map, error = %err, "the public map index could not follow a membership change");
        }
        Ok(Some(changed == 1))
    }

    pub(super) async fn join(&self, map: &MapId, player: &PlayerId) -> Result<bool> {
        let exists: bool = self.conn().exists(self.keys.map(map)).await.map_err(store_err)?;
        if !exists {
            return Ok(false);
        }
        // The player's index first: a listed map the player is not in is skipped.
        let _: () = self.conn().sadd(self.keys.player_maps(player), map.as_str()).await.map_err(store_err)?;
        match self.change_membership(map, player, true).await? {
            Some(added) => Ok(added),
            None => {
                // Deleted meanwhile: its deletion may have missed the entry just written.
                let _: () =
                    self.conn().srem(self.keys.player_maps(player), map.as_str()).await.map_err(store_err)?;
                Ok(false)
            }
        }
    }

    pub(super) async fn put_map(&self, map: &MapRecord) -> Result<()> {
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
            .zadd(self.keys.joined(&map.id), map.owner.as_str(), 0)
            .incr(self.keys.membership_version(&map.id), 1)
            .ignore()
            .query_async(&mut self.conn())
            .await
            .map_err(store_err)?;
        Ok(())
    }

    pub(super) async fn replace_map(&self, expected: &MapRecord, map: &MapRecord) -> Result<bool> {
        let answer: Option<(Vec<u8>, u64, u64)> = self
            .scripts
            .maps
            .update
            .key(self.keys.map(&map.id))
            .key(self.keys.membership_version(&map.id))
            .key(self.keys.members(&map.id))
            .arg(map.encode())
            .arg(expected.encode())
            .invoke_async(&mut self.conn())
            .await
            .map_err(store_err)?;
        let Some((old, version, members)) = answer else {
            return Ok(false);
        };
        let was_public =
            MapRecord::decode(map.id.as_str(), &old).is_ok_and(|r| r.visibility == Visibility::Public);
        let public = map.visibility == Visibility::Public;
        // Private to public enters the index with its member count; public to private leaves it.
        if (public || was_public)
            && let Err(err) = self.public.set(&mut self.conn(), &map.id, version, members, public).await
        {
            tracing::warn!(map = %map.id, error = %err, "the public map index could not follow a map's change");
        }
        Ok(true)
    }

    pub(super) async fn remove_map(&self, map: &MapId) -> Result<bool> {
        let answer: Option<(Vec<u8>, u64, Vec<String>)> = self
            .scripts
            .maps
            .delete
            .key(self.keys.map(map))
            .key(self.keys.members(map))
            .key(self.keys.joined(map))
            .key(self.keys.membership_version(map))
            .key(self.keys.places(map))
            .key(self.keys.places_version(map))
            .key(self.keys.presence(map))
            .invoke_async(&mut self.conn())
            .await
            .map_err(store_err)?;
        let Some((record, version, members)) = answer else {
            return Ok(false);
        };
        // The map is gone for every reader now, and its deletion must be announced whatever
        // follows: what is left are indexes that skip a map without a record, so a failure
        // here only leaves an entry behind.
        let members: Vec<PlayerId> = members.iter().filter_map(|id| PlayerId::parse(id)).collect();
        let unlisted = try_join_all(members.iter().map(|player| async move {
            let mut conn = self.conn();
            conn.srem::<_, _, ()>(self.keys.player_maps(player), map.as_str()).await.map_err(store_err)
        }));
        if let Err(err) = unlisted.await {
            tracing::warn!(%map, error = %err, "a deleted map stays in a member's map list");
        }
        // Its last version stays in the index's positions: an older step landing late is refused.
        if MapRecord::decode(map.as_str(), &record).is_ok_and(|r| r.visibility == Visibility::Public)
            && let Err(err) = self.public.set(&mut self.conn(), map, version, 0, false).await
        {
            tracing::warn!(%map, error = %err, "a deleted map stays in the public index");
        }
        Ok(true)
    }

    /// Member ids in join order, read at once with the member set.
    pub(super) async fn member_ids(&self, map: &MapId) -> Result<Vec<PlayerId>> {
        let (members, joined): (Vec<String>, Vec<(String, f64)>) = redis::pipe()
            .atomic()
            .smembers(self.keys.members(map))
            .zrange_withscores(self.keys.joined(map), 0, -1)
            .query_async(&mut self.conn())
            .await
            .map_err(store_err)?;
        Ok(join_order(members, joined))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_without_a_place_come_first_by_id_then_by_the_version_they_joined_at() {
        let ids = ["zed", "amy", "bob", "old2", "old1"].map(String::from).to_vec();
        let joined = vec![("zed".to_owned(), 2.0), ("amy".to_owned(), 10.0), ("bob".to_owned(), 0.0)];
        let order: Vec<String> = join_order(ids, joined).into_iter().map(|id| id.into_string()).collect();
        assert_eq!(order, ["old1", "old2", "bob", "zed", "amy"]);
    }
}
