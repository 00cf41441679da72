//! [`Feed`] on Redis: a map's seq, its capped stream of recent events and its members'
//! latest locations live on the map's shard and change together in one script, which also
//! publishes the event on the map's channel. Every handler that has subscribers of the map
//! listens on that channel and hands what it hears to its sink ([`listener`]).

mod listener;

use std::sync::Arc;

use async_trait::async_trait;
use marauder_core::protocol::{EventBody, PlayerLocation};
use marauder_core::{Change, EventSink, Feed, Listening, MapId, Replay, Snapshot, StoreError};
use redis::Script;

use crate::conn::{Conn, decode_err, ping, store_err};
use crate::keys::Keys;

use self::listener::Listener;

/// Gives the change the map's next seq, appends it to the stream, applies it to the latest
/// locations and publishes it, all at once. A location from a non-member publishes nothing.
/// KEYS: members, seq, events, latest, latest_ts.
/// ARGV: kind, player, event JSON without its seq, ts, location JSON or '', stream length,
/// channel, '1' for sharded pub/sub.
const PUBLISH: &str = r#"
local kind, player = ARGV[1], ARGV[2]
if kind == 'location' and redis.call('SISMEMBER', KEYS[1], player) == 0 then
  return false
end
local seq = redis.call('INCR', KEYS[2])
local event = '{"seq":' .. seq .. ',' .. string.sub(ARGV[3], 2)
redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[6], seq .. '-1', 'e', event)
if kind == 'left' then
  redis.call('HDEL', KEYS[4], player)
  redis.call('HDEL', KEYS[5], player)
elseif ARGV[5] ~= '' then
  local prev = redis.call('HGET', KEYS[5], player)
  if not prev or tonumber(prev) <= tonumber(ARGV[4]) then
    redis.call('HSET', KEYS[4], player, ARGV[5])
    redis.call('HSET', KEYS[5], player, ARGV[4])
  end
end
if ARGV[8] == '1' then
  redis.call('SPUBLISH', ARGV[7], event)
else
  redis.call('PUBLISH', ARGV[7], event)
end
return seq
"#;

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
        let (kind, player, latest, body) = match change {
            Change::Location(location) => {
                let latest = Some(location.clone());
                ("location", location.player.clone(), latest, EventBody::Location(location))
            }
            Change::Joined { player, name, latest } => {
                ("joined", player.clone(), latest, EventBody::Joined { player, name })
            }
            Change::Left { player, name } => ("left", player.clone(), None, EventBody::Left { player, name }),
        };
        let ts = latest.as_ref().map_or(0, |l| l.fix.ts);
        let seq: Option<u64> = self
            .publish
            .key(self.keys.members(map))
            .key(self.keys.seq(map))
            .key(self.keys.events(map))
            .key(self.keys.latest(map))
            .key(self.keys.latest_ts(map))
            .arg(kind)
            .arg(player)
            .arg(json(&body))
            .arg(ts)
            .arg(latest.as_ref().map(json).unwrap_or_default())
            .arg(self.recent_events)
            .arg(self.keys.channel(map))
            .arg(if self.conn.is_cluster() { "1" } else { "0" })
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

    async fn flush(&self) -> Result<(), StoreError> {
        Ok(()) // Every seq handed out is in Redis already.
    }

    /// Events reach this handler only while its subscription connection is up.
    async fn ready(&self) -> Result<(), StoreError> {
        ping(&self.subscriptions, "subscription").await
    }
}
