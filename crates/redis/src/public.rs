//! The index of public maps behind `GET /maps`: a sorted set read by lex range, so that a
//! page costs O(log n + page) on Redis, not a read of every map.
//!
//! The index lives on its own slot (`{public}`) while a map's keys live on the map's, so in a
//! cluster no script can change a membership and the index together. A membership change is
//! one atomic step on the map's slot that also counts the members and bumps the map's
//! membership version; the index step that follows stores the entry with that version and
//! ignores an update older than the one it holds. So two changes racing to the index leave
//! the newer count, whatever order they land in, and the index can only be a step behind:
//! when a handler or Redis is lost between the two steps, until the map's next membership
//! change. Readers re-check each listed map against its record (gone or private: skipped).
//!
//! It knows the index's keys and encoding only; paging rules are the core's.

use marauder_core::{MapId, PublicCursor, StoreError};
use redis::{AsyncCommands, Script};

use crate::conn::{Conn, store_err};
use crate::keys::Keys;

/// Moves a map in the index unless a newer version of it is there already.
/// KEYS: rank, positions. ARGV: map id, version, entry (empty: not listed).
const REINDEX: &str = r"
local held = redis.call('HGET', KEYS[2], ARGV[1])
if held then
  local bar = string.find(held, '|', 1, true)
  if tonumber(string.sub(held, 1, bar - 1)) > tonumber(ARGV[2]) then return 0 end
  local entry = string.sub(held, bar + 1)
  if entry ~= '' then redis.call('ZREM', KEYS[1], entry) end
end
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[1], 0, ARGV[3]) end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
return 1
";

pub struct PublicIndex {
    keys: Keys,
    reindex: Script,
}

type Result<T> = std::result::Result<T, StoreError>;

/// A map's entry: zero-padded so that lex order is listing order.
fn entry(cursor: &PublicCursor) -> String {
    format!("{:020}|{}", u64::MAX - cursor.members, cursor.id)
}

fn parse(entry: &str) -> Option<PublicCursor> {
    let (inverted, id) = entry.split_once('|')?;
    Some(PublicCursor { members: u64::MAX - inverted.parse::<u64>().ok()?, id: MapId::parse(id)? })
}

impl PublicIndex {
    pub fn new(keys: Keys) -> PublicIndex {
        PublicIndex { keys, reindex: Script::new(REINDEX) }
    }

    /// Records the map's member count as of `version` of its memberships; `listed` false takes
    /// it out (private, or gone).
    pub async fn set(
        &self,
        conn: &mut Conn,
        map: &MapId,
        version: u64,
        members: u64,
        listed: bool,
    ) -> Result<()> {
        let entry = if listed { entry(&PublicCursor { members, id: map.clone() }) } else { String::new() };
        let _: u64 = self
            .reindex
            .key(self.keys.public_rank())
            .key(self.keys.public_positions())
            .arg(map.as_str())
            .arg(version)
            .arg(entry)
            .invoke_async(conn)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    /// Up to `count` entries strictly after `after`.
    pub async fn page(
        &self,
        conn: &mut Conn,
        after: Option<&PublicCursor>,
        count: usize,
    ) -> Result<Vec<PublicCursor>> {
        let min = after.map_or_else(|| "-".to_owned(), |c| format!("({}", entry(c)));
        let entries: Vec<String> = conn
            .zrangebylex_limit(self.keys.public_rank(), min, "+", 0, count as isize)
            .await
            .map_err(store_err)?;
        Ok(entries.iter().filter_map(|e| parse(e)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_sort_as_the_listing_and_parse_back() {
        let at = |members, id: &str| PublicCursor { members, id: MapId::parse(id).unwrap() };
        let listing = [at(1000, "b"), at(7, "a"), at(7, "b"), at(0, "a")];
        let entries: Vec<String> = listing.iter().map(entry).collect();
        let mut sorted = entries.clone();
        sorted.sort();
        assert_eq!(sorted, entries);
        for (cursor, entry) in listing.iter().zip(&entries) {
            assert_eq!(parse(entry).as_ref(), Some(cursor));
        }
    }
}
