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

/// The states JSON of a member's stored place states (`<writes>:<JSON>`; '' for none).
pub(crate) fn states_of(raw: &str) -> &str {
    raw.split_once(':').map_or("", |(_, json)| json)
}

/// The count of writes of a member's stored place states ('' for none).
pub(super) fn writes_of(raw: &str) -> &str {
    raw.split_once(':').map_or("", |(writes, _)| writes)
}

/// A member's latest `ts` on a map and place states, as Redis stores them ('' for none):
/// `presence` is `<writes>:<states JSON>`, the count going up with every write (a leave or a
/// join empties the states and counts too), so comparing counts compares the states.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct MemberPlaces {
    pub latest_ts: String,
    pub presence: String,
    /// `presence` decoded, as the last decision here left it (lined up with the map's
    /// fences): while nothing changes, a location costs no decoding or encoding.
    decoded: Option<PlaceStates>,
}

impl MemberPlaces {
    pub fn new(latest_ts: String, presence: String) -> MemberPlaces {
        MemberPlaces { latest_ts, presence, decoded: None }
    }

    /// The states to decide from (taken: the decision leaves its own).
    pub fn take_states(&mut self) -> PlaceStates {
        // Unreadable states are replaced by the next change (the compare is on the raw text).
        self.decoded
            .take()
            .unwrap_or_else(|| PlaceStates::decode(states_of(&self.presence)).unwrap_or_default())
    }

    pub fn latest_ts(&self) -> Option<Millis> {
        self.latest_ts.parse().ok()
    }

    /// As the script stores them after a publish that leaves `states` (which had made
    /// `changes` before it) and `latest_ts`, from `before`.
    pub fn after(
        before: &MemberPlaces,
        states: PlaceStates,
        changes: u64,
        latest_ts: Option<Millis>,
    ) -> MemberPlaces {
        let presence = match states.changes() == changes {
            true => before.presence.clone(),
            false => {
                let writes = writes_of(&before.presence).parse::<u64>().unwrap_or(0) + 1;
                let json = if states.is_empty() { String::new() } else { states.encode() };
                format!("{writes}:{json}")
            }
        };
        MemberPlaces {
            latest_ts: latest_ts.map(|ts| ts.to_string()).unwrap_or_default(),
            presence,
            decoded: Some(states),
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

    /// The member's values as last seen here, taken out (a publish puts back what it left;
    /// a concurrent one of the same member finds none and learns them from Redis).
    pub fn take_member(&self, map: &MapId, player: &str) -> MemberPlaces {
        let key = (map.clone(), player.to_owned());
        self.members.lock().unwrap().remove(&key).unwrap_or_default()
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
        assert_eq!(cache.take_member(&map, "p"), MemberPlaces::default());
        assert_eq!(cache.take_member(&map, "p").latest_ts(), None);
        assert!(cache.take_member(&map, "p").take_states().is_empty());
    }

    #[test]
    fn values_round_trip_as_the_script_stores_them() {
        let before = MemberPlaces::default();
        let none = MemberPlaces::after(&before, PlaceStates::default(), 0, None);
        assert_eq!(
            (none.latest_ts.as_str(), none.presence.as_str()),
            ("", ""),
            "no states are stored as nothing"
        );
        let some = MemberPlaces::after(&before, PlaceStates::default(), 0, Some(1_700_000_000_123));
        assert_eq!(some.latest_ts, "1700000000123");
        assert_eq!(some.latest_ts(), Some(1_700_000_000_123));
        // Unchanged states keep the text they were read from, and are not decoded again.
        let held = MemberPlaces::new("5".into(), r#"7:{"hall":"in"}"#.into());
        let mut taken = held.clone();
        let states = taken.take_states();
        assert_eq!(states.get("hall"), Some(marauder_core::places::Presence::Inside));
        let mut after = MemberPlaces::after(&held, states, 0, Some(5));
        assert_eq!(after.presence, held.presence);
        assert_eq!(after.take_states().encode(), states_of(&held.presence));
        let mut moved = after.take_states();
        let changes = moved.changes();
        moved.forget("hall");
        assert_eq!(MemberPlaces::after(&held, moved, changes, Some(6)).presence, "8:");
        assert_eq!(
            (writes_of("12:{}"), states_of("12:{}"), writes_of(""), states_of("")),
            ("12", "{}", "", "")
        );
    }

    #[test]
    fn a_refresh_to_no_places_forgets_the_map_and_its_member() {
        let cache = PlacesCache::default();
        let map = MapId::generate();
        let member = MemberPlaces::new("5".into(), String::new());
        let current = Current { version: "2".into(), places: vec![], member: member.clone() };
        cache.refresh(&map, "p", current).unwrap();
        assert_eq!((cache.map(&map).version, cache.take_member(&map, "p")), ("2".to_owned(), member));
        let gone = Current { version: NO_PLACES.into(), places: vec![], member: MemberPlaces::default() };
        cache.refresh(&map, "p", gone).unwrap();
        assert!(!cache.map(&map).has_places());
        assert_eq!(cache.take_member(&map, "p"), MemberPlaces::default());
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
