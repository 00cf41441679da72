//! A run of one player's locations published to one map, with the arrivals and departures
//! they make, in one script on the map's shard. The handler decides the crossings with the
//! core's rule ([`crossings`]) from its copy of the inputs ([`super::places`]); the script
//! publishes only if Redis still holds exactly those inputs (places version, the player's
//! latest `ts` and place states), so two handlers taking points of one player can never both
//! announce one arrival, and otherwise answers the current inputs for another try. No rule
//! of places is written in Lua.

use marauder_core::places::crossings;
use marauder_core::protocol::{EventBody, PlayerLocation};
use marauder_core::{Change, Latest, MapId, StoreError};
use redis::{FromRedisValue, Value};

use super::places::{Current, MapPlaces, MemberPlaces, states_of, writes_of};
use super::{RedisFeed, json};
use crate::conn::store_err;

/// Tries before a run whose inputs keep changing under it is refused (nothing written). Each
/// try loses only to another publish of the same player on the map, or a change of places.
const MAX_TRIES: usize = 16;

/// [`PUBLISH`](super) for a run of one player's locations, which the core hands over as
/// [`Change::Location`]s: the member each requires (the same player), checked once; then the
/// inputs of the crossings compared; then for each location the next seq, the latest
/// offered, the stream and the channel, and the same for each of its follow-up events
/// (arrived, departed); then the player's new place states. A retry (the same write key,
/// which the client library may send again after a timeout) answers the last seq as a string
/// and publishes nothing again. KEYS: as [`SHARED`](super) says.
/// ARGV: [1] the player, [2] write key, [3] stream length, [4] channel, [5] '1' for sharded
/// pub/sub, [6] the expected places version ('0': the map has never had places), [7] the
/// expected latest ts of the player ('' for none), [8] the expected count of writes of the
/// player's place states (stored as `<count>:<states JSON>`; '' for none), [9] the new
/// states JSON ('=' if unchanged), then for each location its ts, its JSON,
/// its event JSON without the seq, the number k of follow-up events and their k JSONs.
/// Returns the last seq; nil if the player is no member or the map is gone; or, when the
/// inputs differ (the map has places), {'stale', version, {place JSON}, latest ts, states}.
pub(super) const PUBLISH_LOCATIONS: &str = r#"
local player, key = ARGV[1], ARGV[2]
local retried = replayed(player, key)
if retried then return retried end
if redis.call('SISMEMBER', KEYS[1], player) == 0 or redis.call('EXISTS', KEYS[6]) == 0 then
  return false
end
local version = redis.call('GET', KEYS[11]) or '0'
local held = ''
if version ~= '0' then held = redis.call('HGET', KEYS[12], player) or '' end
local writes = string.match(held, '^(%d+):') or ''
if version ~= ARGV[6] or (version ~= '0' and
    ((redis.call('HGET', KEYS[5], player) or '') ~= ARGV[7] or writes ~= ARGV[8])) then
  return {'stale', version, redis.call('HVALS', KEYS[10]),
    redis.call('HGET', KEYS[5], player) or '', held}
end
local count, i = 0, 10
while i <= #ARGV do
  local k = tonumber(ARGV[i + 3])
  count, i = count + 1 + k, i + 4 + k
end
local seq = redis.call('INCRBY', KEYS[2], count) - count
i = 10
while i <= #ARGV do
  local k = tonumber(ARGV[i + 3])
  seq = seq + 1
  offer(player, ARGV[i], ARGV[i + 1])
  emit(seq, ARGV[i + 2], ARGV[3], ARGV[4], ARGV[5])
  for j = i + 4, i + 3 + k do
    seq = seq + 1
    emit(seq, ARGV[j], ARGV[3], ARGV[4], ARGV[5])
  end
  i = i + 4 + k
end
if version ~= '0' and ARGV[9] ~= '=' then
  redis.call('HSET', KEYS[12], player, (tonumber(writes ~= '' and writes or '0') + 1) .. ':' .. ARGV[9])
end
if key ~= '' then
  redis.call('HSET', KEYS[9], player, key .. ':' .. seq)
end
return seq
"#;

/// A location as the script takes it, encoded once for every try.
struct Encoded {
    location: PlayerLocation,
    ts: i64,
    json: String,
    event: String,
}

/// What one try sends beyond the locations, and what it leaves if it goes through.
struct Decision {
    map_places: MapPlaces,
    expected: MemberPlaces,
    after: MemberPlaces,
    /// Each location's follow-up events.
    crossings: Vec<Vec<EventBody>>,
}

impl RedisFeed {
    /// [`Feed::publish_locations`](marauder_core::Feed) as the write `key`: what a retry of
    /// the same write sends, which tests send on purpose.
    #[doc(hidden)]
    pub async fn publish_locations_as(
        &self,
        map: &MapId,
        locations: Vec<PlayerLocation>,
        key: &str,
    ) -> Result<Option<u64>, StoreError> {
        let Some(player) = locations.first().map(|l| l.player.clone()) else {
            return Ok(None);
        };
        let run = encode(&player, locations)?;
        for _ in 0..MAX_TRIES {
            let decision = self.decide(map, &player, &run);
            let reply = self.run_locations(map, &player, key, &run, &decision).await?;
            match reply {
                Value::Int(seq) => {
                    for (_, follow_ups) in run.iter().zip(&decision.crossings) {
                        marauder_core::count_published("location");
                        follow_ups.iter().for_each(|e| marauder_core::count_published(e.kind()));
                    }
                    self.places.published(map, &player, &decision.map_places, decision.after);
                    return Ok(Some(seq as u64));
                }
                // A retry of a write that had gone through: the seq it got. What it left is
                // not known here, so the copy of it goes.
                Value::BulkString(seq) => {
                    self.places.forget_member(map, &player);
                    return Ok(std::str::from_utf8(&seq).ok().and_then(|s| s.parse().ok()));
                }
                Value::Array(items) => self.places.refresh(map, &player, stale(items)?)?,
                _ => return Ok(None),
            }
        }
        tracing::warn!(%map, %player, "a run of locations kept losing to concurrent changes");
        Err(StoreError::Unavailable("the map's places kept changing; try again".into()))
    }

    /// The crossings of the run, from this handler's copy of the inputs.
    fn decide(&self, map: &MapId, player: &str, run: &[Encoded]) -> Decision {
        let map_places = self.places.map(map);
        if !map_places.has_places() {
            let none = MemberPlaces::default();
            let crossings = vec![Vec::new(); run.len()];
            return Decision { map_places, expected: none.clone(), after: none, crossings };
        }
        let mut expected = self.places.take_member(map, player);
        let (mut states, mut latest_ts) = (expected.take_states(), expected.latest_ts());
        let changes = states.changes();
        let crossings = run
            .iter()
            .map(|e| crossings(&map_places.fences, &mut states, &mut latest_ts, &e.location))
            .collect();
        let after = MemberPlaces::after(&expected, states, changes, latest_ts);
        Decision { map_places, expected, after, crossings }
    }

    async fn run_locations(
        &self,
        map: &MapId,
        player: &str,
        key: &str,
        run: &[Encoded],
        decision: &Decision,
    ) -> Result<Value, StoreError> {
        let mut script = self.publish_locations.prepare_invoke();
        script
            .key(&self.script_keys(map)[..])
            .arg(player)
            .arg(key)
            .arg(self.recent_events)
            .arg(self.keys.channel(map))
            .arg(if self.conn.is_cluster() { "1" } else { "0" })
            .arg(&decision.map_places.version)
            .arg(&decision.expected.latest_ts)
            .arg(writes_of(&decision.expected.presence))
            .arg(match decision.after.presence == decision.expected.presence {
                true => "=",
                false => states_of(&decision.after.presence),
            });
        for (location, follow_ups) in run.iter().zip(&decision.crossings) {
            script.arg(location.ts).arg(&location.json).arg(&location.event).arg(follow_ups.len());
            for event in follow_ups {
                script.arg(json(event));
            }
        }
        script.invoke_async(&mut self.conn.clone()).await.map_err(store_err)
    }
}

/// Each location with what the script needs of it, checked to be what the core's change
/// says: the member it requires (`player`'s) and the latest it offers (itself).
fn encode(player: &str, locations: Vec<PlayerLocation>) -> Result<Vec<Encoded>, StoreError> {
    locations
        .into_iter()
        .map(|location| {
            let change = Change::Location(location);
            let (Some(required), Latest::Offer(offered)) = (change.requires_member(), change.latest()) else {
                return Err(StoreError::Internal("a location requires its player and offers itself".into()));
            };
            if required != player {
                return Err(StoreError::Internal("a run of locations is one player's".into()));
            }
            let (ts, location) = (offered.fix.ts, offered.clone());
            let encoded = json(&location);
            Ok(Encoded { location, ts, json: encoded, event: json(&change.into_body()) })
        })
        .collect()
}

/// The current inputs a 'stale' answer carries.
fn stale(items: Vec<Value>) -> Result<Current, StoreError> {
    let (tag, version, places, latest_ts, presence): (String, String, Vec<String>, String, String) =
        FromRedisValue::from_redis_value(Value::Array(items)).map_err(|e| store_err(e.into()))?;
    if tag != "stale" {
        return Err(StoreError::Internal(format!("the location script answered {tag}")));
    }
    Ok(Current { version, places, member: MemberPlaces::new(latest_ts, presence) })
}
