//! Each player's map ids, kept in memory for the location path, within a bound on the map
//! ids held in total (players not used lately go first: CLOCK, a second chance for each
//! entry used since the hand last passed it, which costs a read one flag rather than a
//! reordering). It owns only the cache: the store decides when an entry is filled and when
//! it is stale.

use std::collections::{HashMap, VecDeque};
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
    inner: Mutex<Clock>,
}

/// A player's entry weighs one plus its map ids, so that a player in 20,000 maps counts for
/// what it holds and many players in no map still count.
#[derive(Default)]
struct Clock {
    entries: HashMap<PlayerId, Entry>,
    /// Players in the order the hand visits them, with the fill each was queued for: an item
    /// whose entry was since removed or filled again is stale and skipped.
    hand: VecDeque<(PlayerId, u64)>,
    fills: u64,
    weight: usize,
}

struct Entry {
    maps: Arc<[MapId]>,
    fill: u64,
    /// Read since the hand last passed: it is passed over once more.
    used: bool,
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
        let mut clock = self.inner.lock().unwrap();
        let entry = clock.entries.get_mut(player)?;
        entry.used = true;
        Some(entry.maps.clone())
    }

    /// The value to pass to [`fill`](Self::fill) with what is read after this call.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn fill(&self, player: &PlayerId, read_at: u64, maps: Arc<[MapId]>) {
        let mut clock = self.inner.lock().unwrap();
        // Checked under the lock that `forget` takes, so no change slips in between.
        if self.epoch.load(Ordering::Acquire) != read_at || weight(&maps) > self.max_ids {
            return;
        }
        clock.remove(player);
        clock.fills += 1;
        let fill = clock.fills;
        clock.weight += weight(&maps);
        clock.entries.insert(player.clone(), Entry { maps, fill, used: false });
        clock.hand.push_back((player.clone(), fill));
        while clock.weight > self.max_ids {
            clock.evict_one();
        }
        clock.compact();
    }

    /// Called after a change of the player's memberships is committed.
    pub fn forget(&self, player: &PlayerId) {
        let mut clock = self.inner.lock().unwrap();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        clock.remove(player);
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        let clock = self.inner.lock().unwrap();
        (clock.entries.len(), clock.weight)
    }
}

impl Clock {
    fn remove(&mut self, player: &PlayerId) {
        if let Some(entry) = self.entries.remove(player) {
            self.weight -= weight(&entry.maps);
        }
    }

    /// Moves the hand until it drops one entry: a used one is spared once.
    fn evict_one(&mut self) {
        while let Some((player, fill)) = self.hand.pop_front() {
            let Some(entry) = self.entries.get_mut(&player).filter(|e| e.fill == fill) else {
                continue; // Stale: removed or filled again since.
            };
            if std::mem::take(&mut entry.used) {
                self.hand.push_back((player, fill));
                continue;
            }
            self.remove(&player);
            return;
        }
    }

    /// Drops stale items once they outnumber the live ones, so the hand stays within twice
    /// the entries whatever the pattern of fills and removals.
    fn compact(&mut self) {
        if self.hand.len() > 2 * self.entries.len() + 16 {
            let entries = &self.entries;
            self.hand.retain(|(player, fill)| entries.get(player).is_some_and(|e| e.fill == *fill));
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
    fn holds_at_most_its_bound_dropping_an_entry_not_used_lately_first() {
        let cache = MembershipCache::new(10);
        for n in 0..4 {
            cache.fill(&player(n), cache.epoch(), maps(1)); // weight 2 each
        }
        assert!(cache.get(&player(0)).is_some()); // now the most recently used
        cache.fill(&player(4), cache.epoch(), maps(3)); // weight 4: 12 > 10
        assert_eq!(cache.len(), (4, 10));
        assert!(cache.get(&player(1)).is_none(), "the oldest entry not used since went first");
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

    #[test]
    fn refilling_and_forgetting_keeps_the_hand_bounded() {
        let cache = MembershipCache::new(100);
        for round in 0..1000 {
            cache.fill(&player(round % 3), cache.epoch(), maps(1));
            cache.forget(&player((round + 1) % 3));
        }
        let clock = cache.inner.lock().unwrap();
        assert!(clock.hand.len() <= 2 * clock.entries.len() + 16, "{} items", clock.hand.len());
    }
}
