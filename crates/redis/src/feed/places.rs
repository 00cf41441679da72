//! This handler's copy of what deciding a location's arrivals and departures reads: each
//! map's places (with the version they were read at) and each member's latest `ts` and
//! place states on a map. The copy decides nothing by itself: the location script publishes
//! only if Redis still holds exactly what it says (a compare and set), and otherwise answers
//! the current values, which replace it ([`crate::feed::locations`]). So it may be stale or
//! cleared at any time and costs at most a round trip then.
//!
//! Bounded: at most [`MAX_ENTRIES`] maps and as many (map, member) pairs, each table cleared
//! whole when full (like the store's map-id hints). A map without places needs no entry: a
//! map the copy does not know is taken to have none, which is what most maps are.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use marauder_core::MapId;
use marauder_core::places::{Fence, PlaceStates, fences};
use marauder_core::protocol::Millis;

use crate::store::decode_places;

/// Entries in each of the two tables, at most.
const MAX_ENTRIES: usize = 100_000;

/// The places version of a map that has never had a place (the key is absent).
pub(super) const NO_PLACES: &str = "0";

/// A map's places as of one version of them.
#[derive(Clone)]
pub(super) struct MapPlaces {
    pub version: String,
    pub fences: Arc<[Fence]>,
}

impl MapPlaces {
    fn none() -> MapPlaces {
        MapPlaces { version: NO_PLACES.to_owned(), fences: Vec::new().into() }
    }

    pub fn has_places(&self) -> bool {
        self.version != NO_PLACES
    }
}

/// A member's latest `ts` on a map and place states, as Redis stores them ('' for none).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct MemberPlaces {
    pub latest_ts: String,
    pub presence: String,
}

impl MemberPlaces {
    pub fn states(&self) -> PlaceStates {
        // Unreadable states are replaced by the next change (the compare is on the raw text).
        PlaceStates::decode(&self.presence).unwrap_or_default()
    }

    pub fn latest_ts(&self) -> Option<Millis> {
        self.latest_ts.parse().ok()
    }

    /// As the script stores them after a publish that leaves these.
    pub fn after(states: &PlaceStates, latest_ts: Option<Millis>) -> MemberPlaces {
        MemberPlaces {
            latest_ts: latest_ts.map(|ts| ts.to_string()).unwrap_or_default(),
            presence: if states.is_empty() { String::new() } else { states.encode() },
        }
    }
}

/// What the location script answers when the copy was stale: the current values.
pub(super) struct Current {
    pub version: String,
    pub places: Vec<String>,
    pub member: MemberPlaces,
}

#[derive(Default)]
pub(super) struct PlacesCache {
    maps: Mutex<HashMap<MapId, MapPlaces>>,
    members: Mutex<HashMap<(MapId, String), MemberPlaces>>,
}

impl PlacesCache {
    /// The map's places as last seen here; none if never seen.
    pub fn map(&self, map: &MapId) -> MapPlaces {
        self.maps.lock().unwrap().get(map).cloned().unwrap_or_else(MapPlaces::none)
    }

    pub fn member(&self, map: &MapId, player: &str) -> MemberPlaces {
        let key = (map.clone(), player.to_owned());
        self.members.lock().unwrap().get(&key).cloned().unwrap_or_default()
    }

    /// After a publish from `map_places` that left the member's values as `member`.
    pub fn published(&self, map: &MapId, player: &str, map_places: &MapPlaces, member: MemberPlaces) {
        if map_places.has_places() {
            insert(&self.members, (map.clone(), player.to_owned()), member);
        }
    }

    /// The member's values are unknown (a retried write answered by Redis, not run again).
    pub fn forget_member(&self, map: &MapId, player: &str) {
        self.members.lock().unwrap().remove(&(map.clone(), player.to_owned()));
    }

    /// Takes the current values the script answered; fails only if a place cannot be read.
    pub fn refresh(
        &self,
        map: &MapId,
        player: &str,
        current: Current,
    ) -> Result<(), marauder_core::StoreError> {
        let key = (map.clone(), player.to_owned());
        if current.version == NO_PLACES {
            self.maps.lock().unwrap().remove(map);
            self.members.lock().unwrap().remove(&key);
            return Ok(());
        }
        let known = self.maps.lock().unwrap().get(map).is_some_and(|m| m.version == current.version);
        if !known {
            let fences = fences(decode_places(&current.places)?).into();
            insert(&self.maps, map.clone(), MapPlaces { version: current.version, fences });
        }
        insert(&self.members, key, current.member);
        Ok(())
    }
}

fn insert<K: std::hash::Hash + Eq, V>(table: &Mutex<HashMap<K, V>>, key: K, value: V) {
    let mut table = table.lock().unwrap();
    if table.len() >= MAX_ENTRIES && !table.contains_key(&key) {
        table.clear();
    }
    table.insert(key, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_map_has_no_places_and_a_member_no_values() {
        let cache = PlacesCache::default();
        let map = MapId::generate();
        assert!(!cache.map(&map).has_places());
        assert_eq!(cache.member(&map, "p"), MemberPlaces::default());
        assert_eq!(cache.member(&map, "p").latest_ts(), None);
        assert!(cache.member(&map, "p").states().is_empty());
    }

    #[test]
    fn values_round_trip_as_the_script_stores_them() {
        let none = MemberPlaces::after(&PlaceStates::default(), None);
        assert_eq!(none, MemberPlaces::default(), "no states are stored as nothing");
        let some = MemberPlaces::after(&PlaceStates::default(), Some(1_700_000_000_123));
        assert_eq!(some.latest_ts, "1700000000123");
        assert_eq!(some.latest_ts(), Some(1_700_000_000_123));
    }

    #[test]
    fn a_refresh_to_no_places_forgets_the_map_and_its_member() {
        let cache = PlacesCache::default();
        let map = MapId::generate();
        let member = MemberPlaces { latest_ts: "5".into(), presence: String::new() };
        let current = Current { version: "2".into(), places: vec![], member: member.clone() };
        cache.refresh(&map, "p", current).unwrap();
        assert_eq!((cache.map(&map).version, cache.member(&map, "p")), ("2".to_owned(), member));
        let gone = Current { version: NO_PLACES.into(), places: vec![], member: MemberPlaces::default() };
        cache.refresh(&map, "p", gone).unwrap();
        assert!(!cache.map(&map).has_places());
        assert_eq!(cache.member(&map, "p"), MemberPlaces::default());
        let unreadable =
            Current { version: "3".into(), places: vec!["{".into()], member: MemberPlaces::default() };
        assert!(cache.refresh(&map, "p", unreadable).is_err());
    }

    #[test]
    fn a_full_table_starts_over() {
        let table = Mutex::new(HashMap::new());
        for i in 0..MAX_ENTRIES {
            insert(&table, i, ());
        }
        insert(&table, 0, ());
        assert_eq!(table.lock().unwrap().len(), MAX_ENTRIES, "a known key replaces its entry");
        insert(&table, MAX_ENTRIES, ());
        assert_eq!(table.lock().unwrap().len(), 1);
    }
}
