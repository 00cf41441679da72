//! A map's places on Redis: a hash place id → JSON on the map's slot, with a version that
//! every add and remove bumps (each handler's copy of the places is checked against it when
//! a location is published, [`crate::feed`]). The feed adds and removes places in its publish
//! script, with their event; these steps are the store's own, for the trait's default path.

use marauder_core::protocol::Place;
use marauder_core::{MapId, StoreError};
use redis::{AsyncCommands, Script};

use super::RedisStore;
use crate::conn::{decode_err, store_err};

type Result<T> = std::result::Result<T, StoreError>;

/// Adds the place unless the map is gone, already has ARGV[3] places, or has the place.
/// KEYS: places, places version, the map's record. ARGV: place id, its JSON, the most places.
/// Returns 1 if it was added, else 0.
const ADD: &str = r"
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('INCR', KEYS[2])
return 1
";

/// Removes the place. KEYS: places, places version. ARGV: place id. Returns 1 if it was there.
const REMOVE: &str = r"
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('INCR', KEYS[2])
return 1
";

pub(super) struct Scripts {
    add: Script,
    remove: Script,
}

impl Scripts {
    pub(super) fn new() -> Scripts {
        Scripts { add: Script::new(ADD), remove: Script::new(REMOVE) }
    }
}

/// Places as the hash holds them.
pub(crate) fn decode_places(values: &[String]) -> Result<Vec<Place>> {
    values.iter().map(|v| serde_json::from_str(v).map_err(|e| decode_err("a place", e))).collect()
}

impl RedisStore {
    pub(super) async fn read_places(&self, map: &MapId) -> Result<Vec<Place>> {
        let values: Vec<String> = self.conn().hvals(self.keys.places(map)).await.map_err(store_err)?;
        decode_places(&values)
    }

    pub(super) async fn put_place(&self, map: &MapId, place: &Place, max: usize) -> Result<bool> {
        let added: u64 = self
            .scripts
            .places
            .add
            .key(self.keys.places(map))
            .key(self.keys.places_version(map))
            .key(self.keys.map(map))
            .arg(&place.id)
            .arg(serde_json::to_string(place).expect("a place always encodes"))
            .arg(max)
            .invoke_async(&mut self.conn())
            .await
            .map_err(store_err)?;
        Ok(added == 1)
    }

    pub(super) async fn take_place(&self, map: &MapId, place: &str) -> Result<bool> {
        let removed: u64 = self
            .scripts
            .places
            .remove
            .key(self.keys.places(map))
            .key(self.keys.places_version(map))
            .arg(place)
            .invoke_async(&mut self.conn())
            .await
            .map_err(store_err)?;
        Ok(removed == 1)
    }
}
