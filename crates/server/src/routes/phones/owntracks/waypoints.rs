//! The places of a phone's maps, handed to OwnTracks as its regions: a `setWaypoints`
//! command in the answer to a post (<https://owntracks.org/booklet/tech/json/>, `_type=cmd`),
//! and only when the list that phone should have changed since it was last handed one, so
//! the app does not rewrite its regions on every report. What the phone does with them (its
//! own enter/leave notifications) is its business: arrivals and departures for the map are
//! decided by the server from positions, for every app alike.
//!
//! The apps merge what they are handed: Android keys a region by `tst`, iOS by `desc`, and
//! neither removes a region it is not sent. So every region here has its own `tst` and its
//! own `desc`, both stable while the places stay, and the list is chosen oldest first so a
//! new place never pushes an old one out.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::mem;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use marauder_core::protocol::Place;
use marauder_core::{CoreError, Player};
use serde_json::{Value, json};

use crate::state::AppState;

/// Regions handed to one phone. Android's geofencing allows 100 per app; this leaves 20 of
/// them for the regions the user draws on the phone (iOS monitors only 20 at a time, which
/// is the app's to choose among).
pub(super) const MAX_WAYPOINTS: usize = 80;

/// Maps whose places are read for one post, in the order the store lists them: a player in
/// hundreds of maps costs at most this many reads.
const MAX_MAPS: usize = 50;

/// Phones remembered per generation; two generations are kept, so at most twice this many.
const GENERATION: usize = 50_000;

/// A phone is handed its list again after this long even if nothing changed: an answer lost
/// on the way (OwnTracks then retries the post, which gets no command) is made good within a
/// day. Not more often: the app replaces each region it is handed, which may re-arm it and
/// repeat the phone's own "enter" notification for a region it is in.
const REFRESH: Duration = Duration::from_secs(24 * 3600);

/// What each phone was last handed, by device id: a hash of the list and when. Per handler
/// and in memory: a restart or another handler hands the list once more, which is harmless
/// (the apps merge).
#[derive(Default)]
pub struct WaypointsSent {
    generations: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    current: HashMap<String, Handed>,
    previous: HashMap<String, Handed>,
}

#[derive(Clone, Copy)]
struct Handed {
    hash: u64,
    at: Instant,
}

impl WaypointsSent {
    /// Whether `device` is to be handed the list with this hash now (never an empty one);
    /// remembers it as handed when so.
    fn due(&self, device: &str, hash: u64, empty: bool, now: Instant) -> bool {
        let mut generations = self.generations.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let known = match generations.current.get(device) {
            Some(handed) => Some(*handed),
            None => generations.previous.remove(device),
        };
        let due = match known {
            Some(handed) => handed.hash != hash || now.saturating_duration_since(handed.at) >= REFRESH,
            None => true,
        };
        let keep = if due { Handed { hash, at: now } } else { known.expect("not due means known") };
        if generations.current.len() >= GENERATION && !generations.current.contains_key(device) {
            generations.previous = mem::take(&mut generations.current);
        }
        generations.current.insert(device.to_owned(), keep);
        due && !empty
    }
}

/// The `setWaypoints` command for this phone, if it is due one. A failure to read the places
/// hands nothing (the next post tries again) and does not fail the post.
pub(super) async fn command(
    state: &AppState,
    sent: &WaypointsSent,
    device: &str,
    player: &Player,
) -> Option<Value> {
    let maps = match gather(state, player).await {
        Ok(maps) => maps,
        Err(err) => {
            tracing::warn!(player = %player.id, error = %err, "owntracks: places not read, no waypoints handed");
            return None;
        }
    };
    let list = waypoints(maps);
    let mut hasher = DefaultHasher::new();
    list.hash(&mut hasher);
    let hash = hasher.finish();
    sent.due(&device.to_ascii_lowercase(), hash, list.is_empty(), Instant::now())
        .then(|| set_waypoints(&list))
}

/// Each of the player's maps (by name) with its places.
async fn gather(state: &AppState, player: &Player) -> Result<Vec<(String, Vec<Place>)>, CoreError> {
    let me = state.app.me(player).await?;
    let mut maps = Vec::new();
    for map in me.maps.into_iter().take(MAX_MAPS) {
        match state.app.places(player, &map.id).await {
            Ok(places) => maps.push((map.name, places.places)),
            // Left or deleted since the list was read.
            Err(CoreError::NotFound(_) | CoreError::Forbidden(_)) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(maps)
}

/// One region as OwnTracks' `waypoint` message has it.
#[derive(Debug, Clone, PartialEq, Hash)]
pub(super) struct Waypoint {
    pub desc: String,
    /// Degrees, as their bit patterns (so the list hashes).
    pub lat: u64,
    pub lon: u64,
    /// Whole metres.
    pub rad: i64,
    /// Seconds; the region's identity on Android.
    pub tst: i64,
}

/// The regions for these maps' places: oldest first, a circle that two maps share once,
/// at most [`MAX_WAYPOINTS`], named "<map>: <place>" (so places of two maps stay apart and
/// joining another map renames nothing), with no two names and no two `tst` alike.
pub(super) fn waypoints(maps: Vec<(String, Vec<Place>)>) -> Vec<Waypoint> {
    let mut places: Vec<(String, Place)> = maps
        .into_iter()
        .flat_map(|(map, places)| places.into_iter().map(move |p| (map.clone(), p)))
        .collect();
    places.sort_by(|(_, a), (_, b)| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
    let mut circles = std::collections::HashSet::new();
    let mut names = std::collections::HashSet::new();
    let mut last_tst = i64::MIN;
    let mut list = Vec::new();
    for (map, place) in places {
        // The same circle to a metre (1e-5 degree is about a metre of latitude).
        let circle =
            ((place.lat * 1e5).round() as i64, (place.lon * 1e5).round() as i64, place.radius.round() as i64);
        if !circles.insert(circle) {
            continue;
        }
        let base = format!("{map}: {}", place.name);
        let mut desc = base.clone();
        let mut n = 2;
        while !names.insert(desc.clone()) {
            desc = format!("{base} ({n})");
            n += 1;
        }
        let tst = place.created_at.div_euclid(1000).max(last_tst.saturating_add(1));
        last_tst = tst;
        list.push(Waypoint {
            desc,
            lat: place.lat.to_bits(),
            lon: place.lon.to_bits(),
            rad: place.radius.round() as i64,
            tst,
        });
        if list.len() == MAX_WAYPOINTS {
            break;
        }
    }
    list
}

/// `{"_type":"cmd","action":"setWaypoints","waypoints":{"_type":"waypoints","waypoints":[...]}}`.
pub(super) fn set_waypoints(list: &[Waypoint]) -> Value {
    let waypoints: Vec<Value> = list
        .iter()
        .map(|w| {
            json!({
                "_type": "waypoint",
                "desc": w.desc,
                "lat": f64::from_bits(w.lat),
                "lon": f64::from_bits(w.lon),
                "rad": w.rad,
                "tst": w.tst,
            })
        })
        .collect();
    json!({
        "_type": "cmd",
        "action": "setWaypoints",
        "waypoints": { "_type": "waypoints", "waypoints": waypoints },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(id: &str, name: &str, lat: f64, radius: f64, created_at: i64) -> Place {
        Place { id: id.into(), name: name.into(), lat, lon: -3.2, radius, created_by: "p".into(), created_at }
    }

    #[test]
    fn regions_are_oldest_first_named_by_map_with_whole_metres_and_seconds() {
        let maps = vec![
            ("Hogwarts".to_owned(), vec![place("b", "Great Hall", 55.95, 120.4, 1_764_115_300_999)]),
            ("Hogsmeade".to_owned(), vec![place("a", "Three Broomsticks", 55.94, 49.6, 1_764_115_200_000)]),
        ];
        let list = waypoints(maps);
        assert_eq!(
            set_waypoints(&list),
            json!({"_type":"cmd","action":"setWaypoints","waypoints":{"_type":"waypoints","waypoints":[
                {"_type":"waypoint","desc":"Hogsmeade: Three Broomsticks","lat":55.94,"lon":-3.2,"rad":50,"tst":1_764_115_200i64},
                {"_type":"waypoint","desc":"Hogwarts: Great Hall","lat":55.95,"lon":-3.2,"rad":120,"tst":1_764_115_300i64},
            ]}})
        );
    }

    #[test]
    fn names_and_seconds_never_repeat_and_a_shared_circle_is_one_region() {
        let maps = vec![
            (
                "M".to_owned(),
                vec![place("a", "Home", 1.0, 50.0, 5_000), place("b", "Home", 2.0, 50.0, 5_100)],
            ),
            (
                "N".to_owned(),
                vec![place("c", "Home", 1.000001, 50.2, 5_200), place("d", "Shop", 3.0, 50.0, 5_300)],
            ),
        ];
        let list = waypoints(maps);
        let got: Vec<(&str, i64)> = list.iter().map(|w| (w.desc.as_str(), w.tst)).collect();
        assert_eq!(got, [("M: Home", 5), ("M: Home (2)", 6), ("N: Shop", 7)]);
    }

    #[test]
    fn at_most_the_oldest_eighty() {
        let many = (0..MAX_WAYPOINTS as i64 + 5)
            .rev()
            .map(|i| place(&format!("p{i}"), &format!("P{i}"), i as f64 / 100.0, 50.0, i * 1000))
            .collect();
        let list = waypoints(vec![("M".to_owned(), many)]);
        assert_eq!(list.len(), MAX_WAYPOINTS);
        assert_eq!(list[0].desc, "M: P0");
        assert_eq!(list[MAX_WAYPOINTS - 1].desc, format!("M: P{}", MAX_WAYPOINTS - 1));
    }

    #[test]
    fn a_list_is_handed_when_new_changed_or_stale_and_never_empty() {
        let sent = WaypointsSent::default();
        let t0 = Instant::now();
        assert!(sent.due("d1", 1, false, t0));
        assert!(!sent.due("d1", 1, false, t0 + Duration::from_secs(60)));
        assert!(sent.due("d1", 2, false, t0 + Duration::from_secs(120)));
        assert!(!sent.due("d1", 2, false, t0 + Duration::from_secs(120) + REFRESH - Duration::from_secs(1)));
        assert!(sent.due("d1", 2, false, t0 + Duration::from_secs(120) + REFRESH));
        assert!(!sent.due("d2", 3, true, t0), "an empty list is remembered, not handed");
        assert!(!sent.due("d2", 3, true, t0));
        assert!(sent.due("d2", 4, false, t0));
    }

    #[test]
    fn memory_is_bounded_to_two_generations() {
        let sent = WaypointsSent::default();
        let t0 = Instant::now();
        for i in 0..GENERATION * 2 + 10 {
            sent.due(&format!("d{i}"), 1, false, t0);
        }
        let generations = sent.generations.lock().unwrap();
        assert!(generations.current.len() + generations.previous.len() <= GENERATION * 2);
        drop(generations);
        // The newest are still known; the oldest are forgotten and would be handed again.
        assert!(!sent.due(&format!("d{}", GENERATION * 2 + 9), 1, false, t0));
        assert!(sent.due("d0", 1, false, t0));
    }
}
