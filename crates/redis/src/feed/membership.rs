//! A join or a leave with its event, as one step on the map's slot: the publish script
//! changes the member set and publishes the event only if the set changed, so two handlers
//! racing a join against a leave of the same player, or a client retrying either, leave a
//! member set that the map's last membership event agrees with.
//!
//! Two indexes live on other slots and follow in steps of their own: the player's map list
//! (written before a join, pruned after a leave, each re-checked against the member set so
//! that a join and a leave racing on two handlers cannot leave a member whose list misses the
//! map: locations would silently skip it) and the public index ([`crate::public`], ordered by
//! the membership version the script hands back).

use marauder_core::protocol::Visibility;
use marauder_core::{Change, MapId, MapRecord, Membership, PlayerId, StoreError};
use redis::{AsyncCommands, FromRedisValue, Value};

use super::RedisFeed;
use crate::conn::store_err;
use crate::public::PublicIndex;

type Result<T> = std::result::Result<T, StoreError>;

impl RedisFeed {
    pub(super) async fn change_membership(&self, map: &MapId, change: Change) -> Result<Option<u64>> {
        let (player, join) = match change.membership() {
            Membership::Add(player) => (player.to_owned(), true),
            Membership::Remove(player) => (player.to_owned(), false),
            _ => return Err(StoreError::Internal(format!("{} is not a membership change", change.kind()))),
        };
        let Some(id) = PlayerId::parse(&player) else {
            return Ok(None);
        };
        if join {
            // The list first: a listed map the player is not in is skipped by readers.
            self.list(&id, map, true).await?;
        }
        let reply = self.run_publish(map, change, Some((&player, join)), None).await?;
        let Value::Array(items) = reply else {
            if join && !self.exists(map).await? {
                // No such map (deleted meanwhile): its deletion may have missed the entry.
                self.list(&id, map, false).await?;
            }
            return Ok(None);
        };
        let (seq, members, version, record): (u64, u64, u64, Option<Vec<u8>>) =
            FromRedisValue::from_redis_value(Value::Array(items)).map_err(|e| store_err(e.into()))?;
        self.follow_in_lists(&id, map, join).await;
        self.follow_in_public_index(map, members, version, record).await;
        Ok(Some(seq))
    }

    async fn exists(&self, map: &MapId) -> Result<bool> {
        self.conn.clone().exists(self.keys.map(map)).await.map_err(store_err)
    }

    async fn list(&self, player: &PlayerId, map: &MapId, listed: bool) -> Result<()> {
        let (key, mut conn) = (self.keys.player_maps(player), self.conn.clone());
        match listed {
            true => conn.sadd::<_, _, ()>(key, map.as_str()).await,
            false => conn.srem::<_, _, ()>(key, map.as_str()).await,
        }
        .map_err(store_err)
    }

    /// After the member set changed: a leave prunes the player's list, and either side then
    /// puts the list right if the member set says otherwise (a racing join's entry pruned, or
    /// a racing leave's prune landing after this join's entry). The membership is changed and
    /// announced whatever happens here; a failure leaves at worst a stale entry, which
    /// readers skip.
    async fn follow_in_lists(&self, player: &PlayerId, map: &MapId, join: bool) {
        let steps = async {
            if !join {
                self.list(player, map, false).await?;
            }
            let member: bool = self
                .conn
                .clone()
                .sismember(self.keys.members(map), player.as_str())
                .await
                .map_err(store_err)?;
            if member {
                self.list(player, map, true).await?;
            }
            Ok::<_, StoreError>(())
        };
        if let Err(err) = steps.await {
            tracing::warn!(%map, %player, error = %err, "a player's map list could not follow a membership change");
        }
    }

    async fn follow_in_public_index(&self, map: &MapId, members: u64, version: u64, record: Option<Vec<u8>>) {
        let public = record
            .and_then(|bytes| MapRecord::decode(map.as_str(), &bytes).ok())
            .is_some_and(|r| r.visibility == Visibility::Public);
        if !public || version == 0 {
            return;
        }
        let index = PublicIndex::new(self.keys.clone());
        if let Err(err) = index.set(&mut self.conn.clone(), map, version, members, true).await {
            tracing::warn!(%map, error = %err, "the public map index could not follow a membership change");
        }
    }
}
