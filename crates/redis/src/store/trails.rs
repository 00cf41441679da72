//! Paged reads of a trail on Redis. A trail is a sorted set scored by `ts` whose members
//! start with 16 hex digits of the player's point counter, so Redis orders points of one
//! `ts` by arrival, and those digits are the point's [`TrailCursor::tie`].

use std::sync::LazyLock;

use marauder_core::{PlayerId, StoreError, TrailCursor, TrailPage, TrailRange};
use redis::{AsyncCommands, Script};

use super::{RedisStore, TRAIL_PREFIX, decode_point};
use crate::conn::{decode_err, store_err};

type Result<T> = std::result::Result<T, StoreError>;

/// The points after a cursor, by rank: the rank of the first point after it is found by a
/// binary search among the points of its `ts` (O(log² n)), which works whether or not the
/// cursor's own point is still there (retention may have erased it meanwhile).
/// KEYS: trail. ARGV: the cursor's ts and tie (16 hex digits), until, limit.
/// Returns the members, oldest first, up to the first one past `until`.
const AFTER: &str = r"
local key, ts, tie, last = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
local lo = redis.call('ZCOUNT', key, '-inf', '(' .. ts)
local hi = lo + redis.call('ZCOUNT', key, ts, ts)
while lo < hi do
  local mid = math.floor((lo + hi) / 2)
  if string.sub(redis.call('ZRANGE', key, mid, mid)[1], 1, 16) <= tie then lo = mid + 1 else hi = mid end
end
local page = redis.call('ZRANGE', key, lo, lo + tonumber(ARGV[4]) - 1, 'WITHSCORES')
local out = {}
for i = 1, #page, 2 do
  if tonumber(page[i + 1]) > last then break end
  out[#out + 1] = page[i]
end
return out
";

static AFTER_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(AFTER));

impl RedisStore {
    pub(super) async fn read_trail_page(
        &self,
        player: &PlayerId,
        range: TrailRange,
        after: Option<TrailCursor>,
        limit: usize,
    ) -> Result<TrailPage> {
        let key = self.keys.trail(player);
        let until = range.until.unwrap_or(i64::MAX);
        let members: Vec<String> = match after {
            None => {
                let min = range.since.map_or("-inf".to_owned(), |ts| format!("({ts}"));
                let conn = &mut self.conn();
                conn.zrangebyscore_limit(key, min, until, 0, limit as isize).await.map_err(store_err)?
            }
            Some(cursor) => AFTER_SCRIPT
                .key(key)
                .arg(cursor.ts)
                .arg(format!("{:016x}", cursor.tie))
                .arg(until)
                .arg(limit)
                .invoke_async(&mut self.conn())
                .await
                .map_err(store_err)?,
        };
        let mut points = Vec::with_capacity(members.len());
        let mut last = None;
        for member in &members {
            let fix = decode_point(member)?;
            let digits = member.get(..TRAIL_PREFIX - 1).unwrap_or_default();
            let tie =
                u64::from_str_radix(digits, 16).map_err(|e| decode_err("a trail point's counter", e))?;
            last = Some(TrailCursor { ts: fix.ts, tie });
            points.push(fix);
        }
        Ok(TrailPage { points, last })
    }
}
