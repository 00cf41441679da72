//! Where everything lives in Redis. Every key of one player carries the hash tag
//! `{<player id>}` and every key (and the channel) of one map carries `{<map id>}`, so that in a
//! cluster each entity's keys share a slot and a script over them runs on one shard.

use marauder_core::{DeviceId, MapId, PlayerId, TokenHash};

/// A token's or a link code's hash as 64 lowercase hex digits: how keys and the session index
/// name it.
pub fn hex(hash: &TokenHash) -> String {
    hash.0.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The hash [`hex`] wrote, or `None` for anything else.
pub fn parse_hex(hex: &str) -> Option<TokenHash> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut hash = [0u8; 32];
    for (byte, pair) in hash.iter_mut().zip(bytes.chunks_exact(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(TokenHash(hash))
}

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

    /// Hash session id → the hex of its token's hash: the player's sessions, for listing and
    /// revoking (an index: a listed session whose token key is gone is skipped).
    pub fn player_sessions(&self, id: &PlayerId) -> String {
        self.of_player(id, ":sessions")
    }

    /// SHA-256 of a token (hex) → the session's record, JSON: the authority on a session.
    /// Written before sessions, the value was the bare player id (migrated when next read).
    pub fn token(&self, hash: &TokenHash) -> String {
        format!("{}:t:{}", self.prefix, hex(hash))
    }

    /// SHA-256 of a link code (hex) → its record, JSON, expiring with the code.
    pub fn link_code(&self, hash: &TokenHash) -> String {
        format!("{}:l:{}", self.prefix, hex(hash))
    }

    /// The map's record, JSON.
    pub fn map(&self, id: &MapId) -> String {
        self.of_map(id, "")
    }

    /// Set of member ids: the authority on membership.
    pub fn members(&self, id: &MapId) -> String {
        self.of_map(id, ":members")
    }

    /// Sorted set of member ids scored by the map's membership version when they joined: the
    /// join order (written with the member set; a member missing from it joined before it
    /// existed and counts as earliest).
    pub fn joined(&self, id: &MapId) -> String {
        self.of_map(id, ":joined")
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

    /// Hash place id → the place's JSON (protocol `Place`): the map's places.
    pub fn places(&self, id: &MapId) -> String {
        self.of_map(id, ":places")
    }

    /// Counts the changes of the map's places (each add and remove): a handler's copy of
    /// the places is current while this has not moved. Absent while the map never had one.
    pub fn places_version(&self, id: &MapId) -> String {
        self.of_map(id, ":places_v")
    }

    /// Hash member id → the member's place states (`PlaceStates::encode`).
    pub fn presence(&self, id: &MapId) -> String {
        self.of_map(id, ":presence")
    }

    /// The map's pub/sub channel (sharded in a cluster).
    pub fn channel(&self, id: &MapId) -> String {
        self.of_map(id, ":live")
    }

    /// The channel of notices for every handler (revoked sessions, deleted and renamed
    /// players): one slot, sharded in a cluster; rare, so one shard carries them all.
    pub fn notices(&self) -> String {
        format!("{}:{{notices}}", self.prefix)
    }

    /// The map a channel belongs to.
    pub fn map_of_channel(&self, channel: &str) -> Option<MapId> {
        let rest = channel.strip_prefix(&self.prefix)?.strip_prefix(":m:{")?;
        MapId::parse(rest.strip_suffix("}:live")?)
    }

    /// Hash member id → `<key>:<seq>` of the member's latest location write: a retried write
    /// (the same key) is answered its seq and not published again.
    pub fn written(&self, id: &MapId) -> String {
        self.of_map(id, ":written")
    }

    /// The key of the player's latest trail write: a retried append is not stored twice.
    pub fn trail_written(&self, id: &PlayerId) -> String {
        self.of_player(id, ":written")
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

    /// Sorted set, every score 0, of the ids of the players who may have a trail: the walk
    /// of the erasure of expired points ([`crate::store`]'s `retention`), read by lex range.
    /// An index: written before a handler's first point of a player, cleared after the
    /// player's deletion; a listed player without a record is dropped by the walk.
    pub fn trail_index(&self) -> String {
        format!("{}:{{trails}}:players", self.prefix)
    }

    /// Present once every trail stored before [`Keys::trail_index`] existed is listed in it.
    pub fn trail_index_complete(&self) -> String {
        format!("{}:{{trails}}:complete", self.prefix)
    }

    /// The player id of a trail's key ([`Keys::trail`]), if `key` is one.
    pub fn player_of_trail<'a>(&self, key: &'a str) -> Option<&'a str> {
        let id = key.strip_prefix(self.prefix.as_str())?.strip_prefix(":p:{")?.strip_suffix("}:trail")?;
        PlayerId::parse(id).map(|_| id)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The last player id the walk of [`Keys::trail_index`] claimed (absent: a new round),
    /// shared by every handler so that they split one round between them.
    pub fn trail_sweep(&self) -> String {
        format!("{}:{{trails}}:sweep", self.prefix)
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
        let per_map = [keys.map(&map), keys.members(&map), keys.joined(&map), keys.membership_version(&map)];
        let places = [keys.places(&map), keys.places_version(&map), keys.presence(&map)];
        let feed = [keys.seq(&map), keys.events(&map), keys.latest(&map), channel];
        for key in per_map.into_iter().chain(places).chain(feed) {
            assert!(key.contains(&tag), "{key}");
        }
        assert_eq!(Keys::new("other").map_of_channel(&keys.channel(&map)), None);
    }

    #[test]
    fn a_players_keys_share_its_tag_and_hashes_round_trip_through_hex() {
        let keys = Keys::new("mr");
        let player = PlayerId::generate();
        let tag = format!("{{{player}}}");
        for key in [keys.player(&player), keys.player_maps(&player), keys.player_sessions(&player)] {
            assert!(key.contains(&tag), "{key}");
        }
        let hash = TokenHash::of("mrd_anything");
        assert_eq!(hex(&hash).len(), 64);
        assert_eq!(parse_hex(&hex(&hash)).map(|h| h.0), Some(hash.0));
        assert_eq!(keys.token(&hash), format!("mr:t:{}", hex(&hash)));
        assert!(parse_hex("zz").is_none());
        assert!(parse_hex(&"g".repeat(64)).is_none());
    }
}
