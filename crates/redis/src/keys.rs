//! Where everything lives in Redis. Every key of one player carries the hash tag
//! `{<player id>}` and every key (and the channel) of one map carries `{<map id>}`, so that in a
//! cluster each entity's keys share a slot and a script over them runs on one shard.

use marauder_core::{DeviceId, MapId, PlayerId, TokenHash};

#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys { prefix: prefix.to_owned() }
    }

    fn of_player(&self, id: &PlayerId, suffix: &str) -> String {
        format!("{}:p:{{{id}}}{suffix}", self.prefix)
    }

    fn of_map(&self, id: &MapId, suffix: &str) -> String {
        format!("{}:m:{{{id}}}{suffix}", self.prefix)
    }

    /// The player's record, JSON.
    pub fn player(&self, id: &PlayerId) -> String {
        self.of_player(id, "")
    }

    /// Set of the ids of the maps the player belongs to (the map's member set is the truth;
    /// this index may hold a map the player has just left).
    pub fn player_maps(&self, id: &PlayerId) -> String {
        self.of_player(id, ":maps")
    }

    /// Set of the ids of the player's devices (an index: a listed device that does not exist
    /// is skipped).
    pub fn player_devices(&self, id: &PlayerId) -> String {
        self.of_player(id, ":devices")
    }

    /// A device's record, JSON: the authority on which player it belongs to.
    pub fn device(&self, id: &DeviceId) -> String {
        format!("{}:d:{{{id}}}", self.prefix)
    }

    /// Sorted set of trail points: score `ts`, member `<16 hex digits of a counter>|<fix JSON>`.
    pub fn trail(&self, id: &PlayerId) -> String {
        self.of_player(id, ":trail")
    }

    /// The counter that orders trail points of equal `ts`.
    pub fn trail_counter(&self, id: &PlayerId) -> String {
        self.of_player(id, ":n")
    }

    /// SHA-256 of a token (hex) → player id.
    pub fn token(&self, hash: &TokenHash) -> String {
        let mut key = format!("{}:t:", self.prefix);
        for byte in hash.0 {
            key.push_str(&format!("{byte:02x}"));
        }
        key
    }

    /// The map's record, JSON.
    pub fn map(&self, id: &MapId) -> String {
        self.of_map(id, "")
    }

    /// Set of member ids: the authority on membership.
    pub fn members(&self, id: &MapId) -> String {
        self.of_map(id, ":members")
    }

    /// The last seq handed out.
    pub fn seq(&self, id: &MapId) -> String {
        self.of_map(id, ":seq")
    }

    /// Capped stream of recent events; entry id `<seq>-1`, field `e` = the event's JSON.
    pub fn events(&self, id: &MapId) -> String {
        self.of_map(id, ":events")
    }

    /// Hash member id → latest location JSON.
    pub fn latest(&self, id: &MapId) -> String {
        self.of_map(id, ":latest")
    }

    /// Hash member id → `ts` of that latest location.
    pub fn latest_ts(&self, id: &MapId) -> String {
        self.of_map(id, ":latest_ts")
    }

    /// The map's pub/sub channel (sharded in a cluster).
    pub fn channel(&self, id: &MapId) -> String {
        self.of_map(id, ":live")
    }

    /// The map a channel belongs to.
    pub fn map_of_channel(&self, channel: &str) -> Option<MapId> {
        let rest = channel.strip_prefix(&self.prefix)?.strip_prefix(":m:{")?;
        MapId::parse(rest.strip_suffix("}:live")?)
    }

    /// Counts the membership changes of the map: orders the updates of the public index.
    pub fn membership_version(&self, id: &MapId) -> String {
        self.of_map(id, ":v")
    }

    /// Sorted set, every score 0, of `<u64::MAX - members, 20 digits>|<map id>`: the public
    /// maps in listing order, read by lex range (an index: a listed map that does not exist or
    /// is not public is skipped). Tagged `{public}` like [`Keys::public_positions`], so one
    /// script updates both.
    pub fn public_rank(&self) -> String {
        format!("{}:{{public}}:rank", self.prefix)
    }

    /// The set of public map ids that [`Keys::public_rank`] replaced: moved into it once at
    /// start ([`RedisStore::migrate_public_index`](crate::RedisStore)), then deleted.
    pub fn legacy_public(&self) -> String {
        format!("{}:public", self.prefix)
    }

    /// Hash map id → `<membership version>|<its entry in the rank, or empty>`.
    pub fn public_positions(&self) -> String {
        format!("{}:{{public}}:pos", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_and_its_channel_share_a_hash_tag_and_the_channel_names_the_map() {
        let keys = Keys::new("mr");
        let map = MapId::generate();
        let channel = keys.channel(&map);
        assert_eq!(keys.map_of_channel(&channel), Some(map.clone()));
        let tag = format!("{{{map}}}");
        for key in [keys.map(&map), keys.members(&map), keys.seq(&map), keys.events(&map), channel] {
            assert!(key.contains(&tag), "{key}");
        }
        assert_eq!(Keys::new("other").map_of_channel(&keys.channel(&map)), None);
    }
}
