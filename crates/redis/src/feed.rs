//! [`Feed`] on Redis: a map's seq, its capped stream of recent events and its members'
//! latest locations live on the map's shard and change together in one script, which also
//! publishes the event on the map's channel. Every handler that has subscribers of the map
//! listens on that channel and hands what it hears to its sink ([`listener`]).

mod listener;

use std::sync::Arc;

use async_trait::async_trait;
use marauder_core::protocol::PlayerLocation;
use marauder_core::{
    Change, EventSink, Feed, Latest, Listening, MapId, Membership, Notice, Replay, Snapshot, StoreError,
};
use redis::Script;

use crate::conn::{Conn, decode_err, ping, store_err};
use crate::keys::Keys;

use self::listener::Listener;

/// Gives the change the map's next seq, appends it to the stream, applies it to the latest
/// locations and publishes it, all at once. It decides nothing: ARGV carries what the core's
/// [`Change`] says. KEYS: members, seq, events, latest, latest_ts, the map's record.
/// ARGV: [1] the player who must be a member ('' for none), [2] '1' if the map must still
/// exist, [3] what happens to the latest locations ('offer', 'remove', 'clear' or ''),
/// [4] its player, [5] its ts, [6] its location JSON, [7] the event JSON without its seq,
/// [8] stream length, [9] channel, [10] '1' for sharded pub/sub, [11] seconds after which the
/// map's seq and stream expire ('' for never).
const PUBLISH: &str = r#"
if ARGV[1] ~= '' and redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then
  return false
end
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[6]) == 0 then
  return false
end
local seq = redis.call('INCR', KEYS[2])
local event = '{"seq":' .. seq .. ',' .. string.sub(ARGV[7], 2)
redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[8], seq .. '-1', 'e', event)
local latest, player = ARGV[3], ARGV[4]
if latest == 'offer' then
  local prev = redis.call('HGET', KEYS[5], player)
  if not prev or tonumber(prev) <= tonumber(ARGV[5]) then
    redis.call('HSET', KEYS[4], player, ARGV[6])
    redis.call('HSET', KEYS[5], player, ARGV[5])
  end
elseif latest == 'remove' then
  redis.call('HDEL', KEYS[4], player)
  redis.call('HDEL', KEYS[5], player)
elseif latest == 'clear' then
  redis.call('DEL', KEYS[4], KEYS[5])
end
if ARGV[11] ~= '' then
  redis.call('EXPIRE', KEYS[2], ARGV[11])
  redis.call('EXPIRE', KEYS[3], ARGV[11])
end
if ARGV[10] == '1' then
  redis.call('SPUBLISH', ARGV[9], event)
else
  redis.call('PUBLISH', ARGV[9], event)
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
    /// The listener's connection, pinged for readiness.
    subscriptions: Conn,
    publish: Script,
    snapshot: Script,
    replay: Script,
}

impl RedisFeed {
    pub(crate) fn new(
        conn: Conn,
        subscriptions: Conn,
        pushes: (
            tokio::sync::mpsc::UnboundedSender<redis::PushInfo>,
            tokio::sync::mpsc::UnboundedReceiver<redis::PushInfo>,
        ),
        keys: Keys,
        recent_events: usize,
        sink: Arc<dyn EventSink>,
    ) -> RedisFeed {
        let listener = Listener::start(subscriptions.clone(), conn.clone(), keys.clone(), sink, pushes);
        RedisFeed {
            conn,
            keys,
            recent_events,
            listener,
            subscriptions,
            publish: Script::new(PUBLISH),
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
        let seq: Option<u64> = self
            .publish
            .key(self.keys.members(map))
            .key(self.keys.seq(map))
            .key(self.keys.events(map))
            .key(self.keys.latest(map))
            .key(self.keys.latest_ts(map))
            .key(self.keys.map(map))
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
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(store_err)?;
        if seq.is_some() {
            marauder_core::count_published(kind);
        }
        Ok(seq)
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
        ping(&self.subscriptions, "subscription").await
    }
}
