//! The erasure of expired trail points on Redis ([`Store::erase_trails_before`]).
//!
//! Finding the players: a cluster has no cheap "every trail" (`KEYS` blocks a node, and a
//! `SCAN` of every node reads every key of the deployment, trails or not, each round). So the
//! players who may have a trail are an index of their own ([`Keys::trail_index`]), written
//! once per player and handler before the first point that handler stores for it (the
//! store's map hints remember who was written), so a location costs nothing more after its
//! player's first. The walk goes over that index by lex range from a cursor kept beside it
//! ([`Keys::trail_sweep`]): each step claims the next few players in one script, so every
//! handler's sweeper shares one round instead of each doing it all. Each claimed player's
//! points go in one script on the player's slot, at most the budget of them (`ZREMRANGEBYRANK`
//! of the oldest, after `ZCOUNT` below the cutoff): a short command, never a long one.
//!
//! [`Store::erase_trails_before`]: marauder_core::Store::erase_trails_before

use std::sync::LazyLock;

use futures_util::future::try_join_all;
use marauder_core::protocol::Millis;
use marauder_core::retention::Erased;
use marauder_core::{PlayerId, StoreError};
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{AsyncCommands, Script};

use super::RedisStore;
use crate::conn::{Conn, decode_err, store_err};

type Result<T> = std::result::Result<T, StoreError>;

/// Players one step visits at most: their erasures go out together (a pipeline on one
/// server, spread over the shards of a cluster).
const PLAYERS_PER_STEP: usize = 32;

/// Claims the next ARGV[1] players of the index after the shared cursor, and moves the cursor
/// past them (or removes it when the index has no more: the round is over).
/// KEYS: the index, the cursor. Returns the claimed ids.
const CLAIM: &str = r"
local count = tonumber(ARGV[1])
local from = redis.call('GET', KEYS[2])
local min = '-'
if from then min = '(' .. from end
local players = redis.call('ZRANGEBYLEX', KEYS[1], min, '+', 'LIMIT', 0, count)
if #players < count then
  redis.call('DEL', KEYS[2])
else
  redis.call('SET', KEYS[2], players[#players])
end
return players
";

/// Erases the player's points with a score (`ts`) below ARGV[1], the oldest ARGV[2] of them at
/// most. KEYS: the trail, the player's record. Returns how many, or -1 when the player has no
/// record (deleted: its index entry goes).
const ERASE: &str = r"
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
local n = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. ARGV[1])
local budget = tonumber(ARGV[2])
if n > budget then n = budget end
if n > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - 1) end
return n
";

static CLAIM_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CLAIM));
static ERASE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(ERASE));

impl RedisStore {
    /// Lists the player in the index of trails; before its first point on this handler.
    pub(super) async fn index_trail(&self, player: &PlayerId) -> Result<()> {
        let _: () = redis::cmd("ZADD")
            .arg(self.keys.trail_index())
            .arg("NX")
            .arg(0)
            .arg(player.as_str())
            .query_async(&mut self.conn())
            .await
            .map_err(store_err)?;
        Ok(())
    }

    /// Drops a deleted player from the index of trails (after its trail is gone).
    pub(super) async fn unindex_trail(&self, player: &PlayerId) -> Result<()> {
        let _: () = self.conn().zrem(self.keys.trail_index(), player.as_str()).await.map_err(store_err)?;
        Ok(())
    }

    /// Lists every player whose trail was stored before the index existed (an upgrade):
    /// once per deployment (a marker beside the index, set when every node was read), by a
    /// `SCAN` of each primary for trail keys, 1000 keys a call. A start before the marker is
    /// set (a second handler starting meanwhile) does it again: adding is idempotent.
    pub(crate) async fn backfill_trail_index(&self) -> Result<()> {
        let marker = self.keys.trail_index_complete();
        let done: bool = self.conn().exists(&marker).await.map_err(store_err)?;
        if done {
            return Ok(());
        }
        let pattern = format!("{}:p:*:trail", glob_escape(self.keys.prefix()));
        let mut found = 0;
        for node in nodes(&self.conn).await? {
            let mut cursor = 0u64;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000);
                let (next, keys): (u64, Vec<String>) = node.query(&self.conn, scan).await?;
                let players: Vec<&str> =
                    keys.iter().filter_map(|key| self.keys.player_of_trail(key)).collect();
                if !players.is_empty() {
                    let mut add = redis::cmd("ZADD");
                    add.arg(self.keys.trail_index()).arg("NX");
                    for player in &players {
                        add.arg(0).arg(*player);
                    }
                    let _: () = add.query_async(&mut self.conn()).await.map_err(store_err)?;
                    found += players.len();
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        let _: () = self.conn().set(&marker, 1).await.map_err(store_err)?;
        tracing::info!(players = found, "listed the trails stored before the index of trails");
        Ok(())
    }

    pub(super) async fn erase_step(&self, cutoff: Millis, budget: usize) -> Result<Erased> {
        let budget = budget.max(1);
        let count = budget.min(PLAYERS_PER_STEP);
        let claimed: Vec<String> = CLAIM_SCRIPT
            .key(self.keys.trail_index())
            .key(self.keys.trail_sweep())
            .arg(count)
            .invoke_async(&mut self.conn())
            .await
            .map_err(store_err)?;
        let round_done = claimed.len() < count;
        // An id that is not a player's cannot have a trail: it only leaves the index.
        let erasures = claimed.iter().map(|id| async move {
            let Some(player) = PlayerId::parse(id) else { return Ok((id, -1)) };
            let erased: i64 = ERASE_SCRIPT
                .key(self.keys.trail(&player))
                .key(self.keys.player(&player))
                .arg(cutoff)
                .arg(budget)
                .invoke_async(&mut self.conn())
                .await
                .map_err(store_err)?;
            Ok::<_, StoreError>((id, erased))
        });
        let results = try_join_all(erasures).await?;
        let gone: Vec<&String> = results.iter().filter(|(_, n)| *n < 0).map(|(id, _)| *id).collect();
        if !gone.is_empty() {
            let _: () = self.conn().zrem(self.keys.trail_index(), gone).await.map_err(store_err)?;
        }
        let points = results.iter().map(|(_, n)| (*n).max(0) as u64).sum();
        Ok(Erased { points, round_done })
    }
}

/// `raw` matched literally by a `SCAN` pattern.
fn glob_escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A server to send a `SCAN` to: the one server, or one primary of a cluster.
enum Node {
    Single,
    Primary { host: String, port: u16 },
}

impl Node {
    async fn query<T: redis::FromRedisValue>(&self, conn: &Conn, cmd: redis::Cmd) -> Result<T> {
        let value = match (self, conn.clone()) {
            (Node::Single, mut conn) => cmd.query_async(&mut conn).await.map_err(store_err)?,
            (Node::Primary { host, port }, Conn::Cluster(mut cluster)) => {
                let node = SingleNodeRoutingInfo::ByAddress { host: host.clone(), port: *port };
                let value =
                    cluster.route_command(cmd, RoutingInfo::SingleNode(node)).await.map_err(store_err)?;
                redis::from_redis_value(value).map_err(|e| decode_err("a SCAN", e))?
            }
            (Node::Primary { .. }, Conn::Single(_)) => unreachable!("primaries are a cluster's"),
        };
        Ok(value)
    }
}

/// Every server that holds keys: the one, or each primary of the cluster (`CLUSTER NODES`:
/// `<id> <host:port@bus[,name]> <flags> ...`).
async fn nodes(conn: &Conn) -> Result<Vec<Node>> {
    let Conn::Cluster(mut cluster) = conn.clone() else { return Ok(vec![Node::Single]) };
    let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random);
    let value = cluster.route_command(redis::cmd("CLUSTER").arg("NODES").clone(), routing).await;
    let text: String =
        redis::from_redis_value(value.map_err(store_err)?).map_err(|e| decode_err("CLUSTER NODES", e))?;
    let mut primaries = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(address), Some(flags)) = (fields.get(1), fields.get(2)) else { continue };
        if !flags.split(',').any(|flag| flag == "master") || flags.contains("fail") {
            continue;
        }
        let address = address.split(['@', ',']).next().unwrap_or_default();
        let Some((host, port)) = address.rsplit_once(':') else { continue };
        let Ok(port) = port.parse() else { continue };
        primaries.push(Node::Primary { host: host.to_owned(), port });
    }
    if primaries.is_empty() {
        return Err(StoreError::Unavailable("redis: the cluster lists no primary".into()));
    }
    Ok(primaries)
}
