//! Sessions and their players by the hash of the session's token, kept in memory:
//! authenticating a request (every REST call, every location over REST) then reads nothing
//! from redb and takes no hop to the blocking pool, which measured ~30 µs of CPU per request.
//!
//! An entry goes stale when its session is revoked (that hash is forgotten), its player is
//! renamed or deleted (every entry of the player is forgotten) or the session is seen (its
//! `last_seen` is updated in place, so that authenticating does not write again every
//! request). Each of these runs after its write is committed, and `epoch` keeps a read that
//! raced one of them from filling in what it read before it. Unknown tokens are not kept.
//! Bounded: past [`MAX_ENTRIES`] an arbitrary entry makes room.
//!
//! It owns only the cache: the store decides when it is filled and when it is stale.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use marauder_core::protocol::Millis;
use marauder_core::{PlayerId, PlayerRecord, SessionRecord};

/// About 400 bytes an entry: a few tens of MB at most.
const MAX_ENTRIES: usize = 100_000;

pub type Entry = (SessionRecord, PlayerRecord);

#[derive(Default)]
pub struct TokenCache {
    epoch: AtomicU64,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

impl TokenCache {
    pub fn get(&self, hash: &[u8; 32]) -> Option<Entry> {
        self.entries.lock().unwrap().get(hash).cloned()
    }

    /// To be read before the read whose result is then [`TokenCache::fill`]ed.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn fill(&self, hash: [u8; 32], read_at: u64, entry: Entry) {
        let mut entries = self.entries.lock().unwrap();
        // Checked under the lock the invalidations take, so none slips in between.
        if self.epoch.load(Ordering::Acquire) != read_at {
            return;
        }
        if entries.len() >= MAX_ENTRIES
            && let Some(any) = entries.keys().next().copied()
        {
            entries.remove(&any);
        }
        entries.insert(hash, entry);
    }

    /// Called after a session's revocation is committed.
    pub fn forget(&self, hash: &[u8; 32]) {
        let mut entries = self.entries.lock().unwrap();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        entries.remove(hash);
    }

    /// Called after a change of the player's record (a rename, a deletion) is committed. A
    /// scan of the entries: both are rare.
    pub fn forget_player(&self, player: &PlayerId) {
        let mut entries = self.entries.lock().unwrap();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, (session, _)| session.player != *player);
    }

    /// Called after a session's `last_seen` is committed: a cached entry shows it too.
    pub fn seen(&self, hash: &[u8; 32], at: Millis) {
        if let Some((session, _)) = self.entries.lock().unwrap().get_mut(hash) {
            session.last_seen = Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use marauder_core::{SessionId, TokenHash};

    use super::*;

    fn entry(player: &str, hash: u8) -> Entry {
        let id = PlayerId::parse(player).unwrap();
        let session = SessionRecord {
            id: SessionId::parse(&format!("s{hash}")).unwrap(),
            player: id.clone(),
            token_hash: TokenHash([hash; 32]),
            created_at: 0,
            last_seen: None,
            agent: None,
        };
        (session, PlayerRecord { id, name: "n".into(), created_at: 0 })
    }

    #[test]
    fn a_read_that_raced_an_invalidation_does_not_fill_the_cache() {
        let cache = TokenCache::default();
        let read_at = cache.epoch();
        cache.forget(&[1; 32]); // a revocation committed while the read ran
        cache.fill([1; 32], read_at, entry("a", 1));
        assert!(cache.get(&[1; 32]).is_none());
        cache.fill([1; 32], cache.epoch(), entry("a", 1));
        assert_eq!(cache.get(&[1; 32]).map(|(_, p)| p.id.to_string()), Some("a".into()));
        cache.forget(&[1; 32]);
        assert!(cache.get(&[1; 32]).is_none(), "a revocation forgets the hash");
    }

    #[test]
    fn forgetting_a_player_forgets_all_its_sessions_and_no_other() {
        let cache = TokenCache::default();
        for (player, hash) in [("a", 1), ("a", 2), ("b", 3)] {
            cache.fill([hash; 32], cache.epoch(), entry(player, hash));
        }
        cache.forget_player(&PlayerId::parse("a").unwrap());
        assert!(cache.get(&[1; 32]).is_none());
        assert!(cache.get(&[2; 32]).is_none());
        assert_eq!(cache.get(&[3; 32]).map(|(s, _)| s.id.to_string()), Some("s3".into()));
    }

    #[test]
    fn seeing_a_session_updates_its_entry_and_adds_none() {
        let cache = TokenCache::default();
        cache.fill([1; 32], cache.epoch(), entry("a", 1));
        cache.seen(&[1; 32], 42);
        cache.seen(&[2; 32], 42);
        assert_eq!(cache.get(&[1; 32]).unwrap().0.last_seen, Some(42));
        assert!(cache.get(&[2; 32]).is_none());
    }
}
