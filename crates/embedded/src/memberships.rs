//! Each player's map ids, kept in memory for the location path, within a bound on the map
//! ids held in total (least recently used players go first). It owns only the cache: the
//! store decides when an entry is filled and when it is stale.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use marauder_core::{MapId, PlayerId};

/// Map ids held in all entries together by default: a few tens of MB at most.
pub const DEFAULT_MAX_IDS: usize = 1_000_000;

/// An entry is filled from a read transaction and dropped after every committed change of
/// that player's memberships; `epoch` keeps a read that raced a change from filling in what
/// it read before it.
pub struct MembershipCache {
    epoch: AtomicU64,
    max_ids: usize,
    inner: Mutex<Lru>,
}

/// A player's entry weighs one plus its map ids, so that a player in 20,000 maps counts for
/// what it holds and many players in no map still count.
#[derive(Default)]
struct Lru {
    entries: HashMap<PlayerId, (Arc<[MapId]>, u64)>,
    /// Last use → player: the first is the least recently used.
    order: BTreeMap<u64, PlayerId>,
    tick: u64,
    weight: usize,
}

impl Default for MembershipCache {
    fn default() -> Self {
        MembershipCache::new(DEFAULT_MAX_IDS)
    }
}

impl MembershipCache {
    pub fn new(max_ids: usize) -> Self {
        MembershipCache { epoch: AtomicU64::new(0), max_ids, inner: Mutex::default() }
    }

    pub fn get(&self, player: &PlayerId) -> Option<Arc<[MapId]>> {
        let mut lru = self.inner.lock().unwrap();
        let lru = &mut *lru;
        let (maps, used) = lru.entries.get_mut(player)?;
        lru.order.remove(used);
        lru.tick += 1;
        *used = lru.tick;
        lru.order.insert(lru.tick, player.clone());
        Some(maps.clone())
    }

    /// The value to pass to [`fill`](Self::fill) with what is read after this call.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn fill(&self, player: &PlayerId, read_at: u64, maps: Arc<[MapId]>) {
        let mut lru = self.inner.lock().unwrap();
        // Checked under the lock that `forget` takes, so no change slips in between.
        if self.epoch.load(Ordering::Acquire) != read_at || weight(&maps) > self.max_ids {
            return;
        }
        lru.remove(player);
        lru.tick += 1;
        let tick = lru.tick;
        lru.weight += weight(&maps);
        lru.entries.insert(player.clone(), (maps, tick));
        lru.order.insert(tick, player.clone());
        while lru.weight > self.max_ids {
            let Some((_, oldest)) = lru.order.pop_first() else { break };
            if let Some((maps, _)) = lru.entries.remove(&oldest) {
                lru.weight -= weight(&maps);
            }
        }
    }

    /// Called after a change of the player's memberships is committed.
    pub fn forget(&self, player: &PlayerId) {
        let mut lru = self.inner.lock().unwrap();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        lru.remove(player);
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        let lru = self.inner.lock().unwrap();
        (lru.entries.len(), lru.weight)
    }
}

impl Lru {
    fn remove(&mut self, player: &PlayerId) {
        if let Some((maps, used)) = self.entries.remove(player) {
            self.order.remove(&used);
            self.weight -= weight(&maps);
        }
    }
}

fn weight(maps: &[MapId]) -> usize {
    1 + maps.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn player(n: usize) -> PlayerId {
        PlayerId::parse(&format!("p{n:025}")).unwrap()
    }

    fn maps(n: usize) -> Arc<[MapId]> {
        (0..n).map(|i| MapId::parse(&format!("m{i:025}")).unwrap()).collect()
    }

    #[test]
    fn holds_at_most_its_bound_dropping_the_least_recently_used() {
        let cache = MembershipCache::new(10);
        for n in 0..4 {
            cache.fill(&player(n), cache.epoch(), maps(1)); // weight 2 each
        }
        assert!(cache.get(&player(0)).is_some()); // now the most recently used
        cache.fill(&player(4), cache.epoch(), maps(3)); // weight 4: 12 > 10
        assert_eq!(cache.len(), (4, 10));
        assert!(cache.get(&player(1)).is_none(), "the least recently used went first");
        for n in [0, 2, 3, 4] {
            assert!(cache.get(&player(n)).is_some(), "player {n}");
        }
        cache.fill(&player(5), cache.epoch(), maps(10));
        assert!(cache.get(&player(5)).is_none(), "an entry heavier than the bound is not kept");
        assert_eq!(cache.len(), (4, 10));
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_filled_in() {
        let cache = MembershipCache::new(100);
        let read_at = cache.epoch();
        cache.forget(&player(1));
        cache.fill(&player(1), read_at, maps(2));
        assert!(cache.get(&player(1)).is_none());
        cache.fill(&player(1), cache.epoch(), maps(2));
        assert_eq!(cache.get(&player(1)).unwrap().len(), 2);
        cache.forget(&player(1));
        assert!(cache.get(&player(1)).is_none());
        assert_eq!(cache.len(), (0, 0));
    }
}
