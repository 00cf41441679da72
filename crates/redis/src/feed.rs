//! [`Feed`] on Redis: a map's seq, its capped stream of recent events and its members'
//! latest locations live on the map's shard and change together in one script, which also
//! publishes the event on the map's channel. Every handler that has subscribers of the map
//! listens on that channel and hands what it hears to its sink ([`listener`]). A map's
//! places and its members' states for them live there too: a place changes with its event,
//! and a location's arrivals and departures are published with it ([`locations`]).

mod listener;
mod locations;
mod membership;
mod places;

use std::sync::Arc;

use async_trait::async_trait;
use marauder_core::places::PlaceStates;
use marauder_core::protocol::PlayerLocation;
use marauder_core::{
    Change, EventSink, Feed, Latest, Listening, MapId, Membership, Notice, PlaceChange, Replay, Snapshot,
    Store, StoreError,
};
use redis::{AsyncCommands, Script};

use crate::conn::{Conn, decode_err, store_err};
use crate::keys::Keys;

use self::listener::Listener;
pub(crate) use self::listener::pushes::{CAPACITY as PUSH_CAPACITY, channel as push_channel};
pub(crate) use self::listener::{Connector, Subscriber};
use self::locations::PUBLISH_LOCATIONS;
use self::places::PlacesCache;

/// What both publish scripts do the same way. Both take the same KEYS: members, seq, events,
/// latest, latest_ts, the map's record, join order, membership version, written (each
/// member's latest location write: `<key>:<seq>`), places, places version, presence (each
/// member's place states).
/// `emit` puts an event (its JSON without the seq) into the stream and on the channel;
/// `offer` keeps a location as its player's latest unless a newer one is held; `replayed`
/// answers the seq a write with this key already got (a retry), as a string;
/// `forget_states` empties a member's place states (`<n>:<states JSON>`, `n` counting its
/// writes, never reused, so a compare on `n` alone tells whether they changed).
const SHARED: &str = r#"
local function emit(seq, body, stream_length, channel, sharded)
  local event = '{"seq":' .. seq .. ',' .. string.sub(body, 2)
  redis.call('XADD', KEYS[3], 'MAXLEN', stream_length, seq .. '-1', 'e', event)
  if sharded == '1' then
    redis.call('SPUBLISH', channel, event)
  else
    redis.call('PUBLISH', channel, event)
  end
end
local function offer(player, ts, location)
  local held = redis.call('HGET', KEYS[5], player)
  if not held or tonumber(held) <= tonumber(ts) then
    redis.call('HSET', KEYS[4], player, location)
    redis.call('HSET', KEYS[5], player, ts)
  end
end
local function forget_states(key, player)
  local held = redis.call('HGET', key, player)
  if held then
    redis.call('HSET', key, player, (tonumber(string.match(held, '^(%d+):') or '0') + 1) .. ':')
  end
end
local function replayed(player, key)
  if key == '' then return nil end
  local held = redis.call('HGET', KEYS[9], player)
  if held and string.sub(held, 1, #key + 1) == key .. ':' then
    return string.sub(held, #key + 2)
  end
  return nil
end
"#;

/// Gives the change the map's next seq, appends it to the stream, applies it to the latest
/// locations and publishes it, all at once; a membership change also changes the member set
/// in the same step, and publishes only if the set changed. It decides nothing: ARGV carries
/// what the core's [`Change`] says. KEYS: as [`SHARED`] says.
/// ARGV: [1] the player who must be a member ('' for none), [2] '1' if the map must still
/// exist, [3] what happens to the latest locations ('offer', 'remove', 'clear' or ''),
/// [4] its player, [5] its ts, [6] its location JSON, [7] the event JSON without its seq,
/// [8] stream length, [9] channel, [10] '1' for sharded pub/sub, [11] seconds after which the
/// map's seq and stream expire ('' for never), [12] the membership change ('add', 'remove'
/// or ''), [13] its player, [14] the change of places ('add', 'remove' or ''), [15] the
/// place's id, [16] the place's JSON, [17] the most places the map may have.
/// A member's place states go with its latest location and when it joins; a map's places
/// with its deletion.
/// Returns the seq, or for a membership change {seq, members, membership version, record};
/// nil when nothing was published. (Locations go through [`PUBLISH_LOCATIONS`].)
const PUBLISH: &str = r#"
if ARGV[1] ~= '' and redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then
  return false
end
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[6]) == 0 then
  return false
end
local place = ARGV[14]
if place == 'add' then
  if redis.call('HLEN', KEYS[10]) >= tonumber(ARGV[17]) then return false end
  if redis.call('HSETNX', KEYS[10], ARGV[15], ARGV[16]) == 0 then return false end
  redis.call('INCR', KEYS[11])
elseif place == 'remove' then
  if redis.call('HDEL', KEYS[10], ARGV[15]) == 0 then return false end
  redis.call('INCR', KEYS[11])
end
local op, member, version = ARGV[12], ARGV[13], 0
if op == 'add' then
  if redis.call('SADD', KEYS[1], member) == 0 then return false end
  version = redis.call('INCR', KEYS[8])
  redis.call('ZADD', KEYS[7], version, member)
  forget_states(KEYS[12], member)
elseif op == 'remove' then
  if redis.call('SREM', KEYS[1], member) == 0 then return false end
  redis.call('ZREM', KEYS[7], member)
  if redis.call('EXISTS', KEYS[6]) == 1 then version = redis.call('INCR', KEYS[8]) end
end
local seq = redis.call('INCR', KEYS[2])
local latest, player = ARGV[3], ARGV[4]
if latest == 'offer' then
  offer(player, ARGV[5], ARGV[6])
elseif latest == 'remove' then
  redis.call('HDEL', KEYS[4], player)
  redis.call('HDEL', KEYS[5], player)
  redis.call('HDEL', KEYS[9], player)
  forget_states(KEYS[12], player)
elseif latest == 'clear' then
  redis.call('DEL', KEYS[4], KEYS[5], KEYS[9], KEYS[10], KEYS[11], KEYS[12])
end
if ARGV[11] ~= '' then
  redis.call('EXPIRE', KEYS[2], ARGV[11])
  redis.call('EXPIRE', KEYS[3], ARGV[11])
end
emit(seq, ARGV[7], ARGV[8], ARGV[9], ARGV[10])
if op ~= '' then
  return {seq, redis.call('SCARD', KEYS[1]), version, redis.call('GET', KEYS[6])}
end
return seq
"#;

/// How long a deleted map's seq and recent events outlive it: a handler that missed the
/// last events (a dropped subscription connection) can still read them from the stream.
const DELETED_MAP_LINGERS_SECS: u64 = 3600;

/// KEYS: seq, latest. Returns {seq, [location JSON]}.
const SNAPSHOT: &str = r"
return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('HVALS', KEYS[2])}
";

/// The events after ARGV[1] if the stream still holds all of them, else a snapshot.
/// KEYS: seq, events, latest. Returns {seq, 'events', [event JSON]} or {seq, 'reset', [location JSON]}.
const REPLAY: &str = r"
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local since = tonumber(ARGV[1])
if since == seq then
  return {seq, 'events', {}}
end
if since < seq then
  local first = string.format('%d-1', since + 1)
  local entries = redis.call('XRANGE', KEYS[2], first, '+')
  if #entries > 0 and entries[1][1] == first then
    local events = {}
    for i, entry in ipairs(entries) do
      events[i] = entry[2][2]
    end
    return {seq, 'events', events}
  end
end
return {seq, 'reset', redis.call('HVALS', KEYS[3])}
";

pub struct RedisFeed {
    conn: Conn,
    keys: Keys,
    recent_events: usize,
    listener: Arc<Listener>,
    /// This handler's copy of what decides arrivals and departures ([`places`]).
    places: PlacesCache,
    publish: Script,
    publish_locations: Script,
    snapshot: Script,
    replay: Script,
}

impl RedisFeed {
    pub(crate) fn new(
        conn: Conn,
        subscriber: Subscriber,
        keys: Keys,
        recent_events: usize,
        sink: Arc<dyn EventSink>,
    ) -> RedisFeed {
        let listener = Listener::start(subscriber, keys.clone(), sink);
        RedisFeed {
            conn,
            keys,
            recent_events,
            listener,
            places: PlacesCache::default(),
            publish: Script::new(&format!("{SHARED}{PUBLISH}")),
            publish_locations: Script::new(&format!("{SHARED}{PUBLISH_LOCATIONS}")),
            snapshot: Script::new(SNAPSHOT),
            replay: Script::new(REPLAY),
        }
    }
}

impl RedisFeed {
    /// Follows the notices channel: done once before the handler serves.
    pub(crate) async fn follow_notices(&self) -> Result<(), StoreError> {
        self.listener.clone().follow_notices().await
    }
}

impl RedisFeed {
    /// [`Feed::publish`] as the write `key` (a location's; other changes have none): what a
    /// retry of the same write sends, which tests send on purpose.
    #[doc(hidden)]
    pub async fn publish_as(
        &self,
        map: &MapId,
        change: Change,
        key: &str,
    ) -> Result<Option<u64>, StoreError> {
        if let Change::Location(location) = change {
            return self.publish_locations_as(map, vec![location], key).await;
        }
        match self.run_publish(map, change, None, None).await? {
            redis::Value::Int(seq) => Ok(Some(seq as u64)),
            _ => Ok(None),
        }
    }

    /// The KEYS of both publish scripts, as [`SHARED`] names them.
    fn script_keys(&self, map: &MapId) -> [String; 12] {
        let k = &self.keys;
        [
            k.members(map),
            k.seq(map),
            k.events(map),
            k.latest(map),
            k.latest_ts(map),
            k.map(map),
            k.joined(map),
            k.membership_version(map),
            k.written(map),
            k.places(map),
            k.places_version(map),
            k.presence(map),
        ]
    }

    /// Runs [`PUBLISH`] for `change`, with the membership change `member` (the player, and
    /// whether it joins) or the change of `place` if it is one; answers the script's reply.
    async fn run_publish(
        &self,
        map: &MapId,
        change: Change,
        member: Option<(&str, bool)>,
        place: Option<PlaceArgs>,
    ) -> Result<redis::Value, StoreError> {
        let kind = change.kind();
        let required = change.requires_member().unwrap_or_default().to_owned();
        // The store deletes the map before its last event: that one alone publishes to a map
        // without a record, and every other change after it publishes nothing.
        let deleted = change.membership() == Membership::Clear;
        let (latest, player, ts, location) = match change.latest() {
            Latest::Unchanged => ("", String::new(), 0, String::new()),
            Latest::Offer(location) => ("offer", location.player.clone(), location.fix.ts, json(location)),
            Latest::Remove(player) => ("remove", player.to_owned(), 0, String::new()),
            Latest::Clear => ("clear", String::new(), 0, String::new()),
        };
        let (op, member) = match member {
            Some((player, true)) => ("add", player.to_owned()),
            Some((player, false)) => ("remove", player.to_owned()),
            None => ("", String::new()),
        };
        let place = place.unwrap_or(PlaceArgs { op: "", id: String::new(), json: String::new(), max: 0 });
        let reply: redis::Value = self
            .publish
            .key(&self.script_keys(map)[..])
            .arg(required)
            .arg(if deleted { "0" } else { "1" })
            .arg(latest)
            .arg(player)
            .arg(ts)
            .arg(location)
            .arg(json(&change.into_body()))
            .arg(self.recent_events)
            .arg(self.keys.channel(map))
            .arg(if self.conn.is_cluster() { "1" } else { "0" })
            .arg(if deleted { DELETED_MAP_LINGERS_SECS.to_string() } else { String::new() })
            .arg(op)
            .arg(member)
            .arg(place.op)
            .arg(place.id)
            .arg(place.json)
            .arg(place.max)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(store_err)?;
        // Nothing published answers nil (false, in RESP3).
        if matches!(reply, redis::Value::Int(_) | redis::Value::Array(_)) {
            marauder_core::count_published(kind);
        }
        Ok(reply)
    }
}

/// What [`PUBLISH`] does to the map's places: the core's [`Change::places`], as ARGV.
struct PlaceArgs {
    op: &'static str,
    id: String,
    json: String,
    max: usize,
}

impl PlaceArgs {
    /// `None` for a change that adds or removes no place (a deletion's places go with its
    /// latest locations).
    fn of(change: &Change) -> Option<PlaceArgs> {
        match change.places() {
            PlaceChange::Add(place, max) => {
                Some(PlaceArgs { op: "add", id: place.id.clone(), json: json(place), max })
            }
            PlaceChange::Remove(id) => {
                Some(PlaceArgs { op: "remove", id: id.to_owned(), json: String::new(), max: 0 })
            }
            PlaceChange::Unchanged | PlaceChange::Clear => None,
        }
    }
}

/// A key unique to one write, among the writes of one player: 64 random bits.
pub(crate) fn write_key() -> String {
    format!("{:016x}", fastrand::u64(..))
}

fn decode_locations(values: Vec<String>) -> Result<Vec<PlayerLocation>, StoreError> {
    let mut locations = values
        .iter()
        .map(|v| serde_json::from_str::<PlayerLocation>(v).map_err(|e| decode_err("a location", e)))
        .collect::<Result<Vec<_>, _>>()?;
    locations.sort_by(|a, b| a.player.cmp(&b.player));
    Ok(locations)
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("wire types always encode")
}

#[async_trait]
impl Feed for RedisFeed {
    async fn publish(&self, map: &MapId, change: Change) -> Result<Option<u64>, StoreError> {
        self.publish_as(map, change, &write_key()).await
    }

    async fn publish_locations(
        &self,
        map: &MapId,
        locations: Vec<PlayerLocation>,
    ) -> Result<Option<u64>, StoreError> {
        self.publish_locations_as(map, locations, &write_key()).await
    }

    /// The member set, the event and the public index's step after them: [`membership`].
    async fn publish_membership(
        &self,
        _store: &dyn Store,
        map: &MapId,
        change: Change,
    ) -> Result<Option<u64>, StoreError> {
        self.change_membership(map, change).await
    }

    async fn snapshot(&self, map: &MapId) -> Result<Snapshot, StoreError> {
        let (seq, locations): (u64, Vec<String>) = self
            .snapshot
            .key(self.keys.seq(map))
            .key(self.keys.latest(map))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(store_err)?;
        Ok(Snapshot { seq, locations: decode_locations(locations)? })
    }

    async fn replay(&self, map: &MapId, since: u64) -> Result<Replay, StoreError> {
        let (seq, mode, values): (u64, String, Vec<String>) = self
            .replay
            .key(self.keys.seq(map))
            .key(self.keys.events(map))
            .key(self.keys.latest(map))
            .arg(since)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(store_err)?;
        if mode == "events" {
            let events = values.iter().map(|v| listener::decode_event(v).map(Arc::new));
            return Ok(Replay::Events(events.collect::<Result<_, _>>()?));
        }
        Ok(Replay::Reset(Snapshot { seq, locations: decode_locations(values)? }))
    }

    /// The place and its event in one step of [`PUBLISH`], like a membership change.
    async fn publish_place(
        &self,
        _store: &dyn Store,
        map: &MapId,
        change: Change,
    ) -> Result<Option<u64>, StoreError> {
        let Some(place) = PlaceArgs::of(&change) else {
            return Err(StoreError::Internal(format!("{} is not a change of places", change.kind())));
        };
        match self.run_publish(map, change, None, Some(place)).await? {
            redis::Value::Int(seq) => Ok(Some(seq as u64)),
            _ => Ok(None),
        }
    }

    async fn inside(&self, map: &MapId, place: &str) -> Result<Vec<String>, StoreError> {
        let held: Vec<(String, String)> =
            self.conn.clone().hgetall(self.keys.presence(map)).await.map_err(store_err)?;
        let states: Vec<(&str, PlaceStates)> = held
            .iter()
            .filter_map(|(player, raw)| Some((player.as_str(), PlaceStates::decode(places::states_of(raw))?)))
            .collect();
        Ok(marauder_core::places::inside(place, states.iter().map(|(p, s)| (*p, s))))
    }

    async fn listen(&self, map: &MapId) -> Result<Listening, StoreError> {
        self.listener.listen(map).await
    }

    /// Published on the notices channel, which every handler's listener follows.
    async fn announce(&self, notice: Notice) -> Result<(), StoreError> {
        let command = if self.conn.is_cluster() { "SPUBLISH" } else { "PUBLISH" };
        redis::cmd(command)
            .arg(self.keys.notices())
            .arg(notice.encode())
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(store_err)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        Ok(()) // Every seq handed out is in Redis already.
    }

    /// Events reach this handler only while its subscription connection is up.
    async fn ready(&self) -> Result<(), StoreError> {
        self.listener.ready().await
    }
}
