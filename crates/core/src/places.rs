//! The rule of places (issue #13, contract "Places: arrivals and departures"), written once
//! for every backend: where a member is relative to a place, with its hysteresis band, and
//! which location changes that state (and so makes an `arrived` or `departed` event). A
//! backend keeps each (player, place) state and executes what [`step`] decides, atomically
//! with the location's publication; it decides nothing itself.
//!
//! Checking a point against a map's places is cheap as places grow: a bounding box around
//! each place's outer circle (1.1 × the radius) settles most places with four comparisons,
//! and only a point inside the box costs a great-circle distance.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use marauder_protocol::{Crossing, EventBody, Millis, Place, PlayerLocation};
use serde::{Deserialize, Serialize};

/// The most places a map may have.
pub const MAX_PLACES_PER_MAP: usize = 100;

/// A place's radius in metres, at least and at most.
pub const MIN_RADIUS_M: f64 = 10.0;
pub const MAX_RADIUS_M: f64 = 50_000.0;

/// Outside means farther than this many radii from the centre; between one radius and this,
/// the state does not change.
pub const HYSTERESIS: f64 = 1.1;

/// The mean Earth radius (IUGG), in metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Metres per degree of latitude on that sphere.
const METRES_PER_DEGREE: f64 = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;

/// Where a member is relative to one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Presence {
    #[serde(rename = "in")]
    Inside,
    #[serde(rename = "out")]
    Outside,
}

/// What a location does to one (player, place) state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing changes (in the band, a late point, a point less accurate than the radius).
    Keep,
    /// The first position since the place appeared or the member joined: the state is set,
    /// with no event.
    Set(Presence),
    /// The member came in: `arrived`.
    Arrived,
    /// The member went out: `departed`.
    Departed,
}

/// A place's circle, with the box around its outer circle computed once.
#[derive(Debug, Clone, PartialEq)]
pub struct Circle {
    pub lat: f64,
    pub lon: f64,
    pub radius: f64,
    /// Half the box's height and width around the outer circle, in degrees; the width is
    /// `None` near a pole, where the box would wrap (every point is then measured).
    half_height: f64,
    half_width: Option<f64>,
}

impl Circle {
    pub fn new(lat: f64, lon: f64, radius: f64) -> Circle {
        let outer = radius * HYSTERESIS;
        let half_height = outer / METRES_PER_DEGREE;
        // The narrowest parallel within the box sets the width it needs in degrees.
        let widest_lat = (lat.abs() + half_height).to_radians();
        let half_width = (widest_lat < std::f64::consts::FRAC_PI_2 - 1e-6)
            .then(|| half_height / widest_lat.cos())
            .filter(|w| *w < 180.0);
        Circle { lat, lon, radius, half_height, half_width }
    }

    /// Whether (`lat`, `lon`) is certainly outside the outer circle, from the box alone.
    fn beyond_box(&self, lat: f64, lon: f64) -> bool {
        if (lat - self.lat).abs() > self.half_height {
            return true;
        }
        self.half_width.is_some_and(|half| {
            let mut dlon = (lon - self.lon).abs();
            if dlon > 180.0 {
                dlon = 360.0 - dlon; // Across the antimeridian.
            }
            dlon > half
        })
    }

    /// The state a point at (`lat`, `lon`) puts the member in, or `None` in the band.
    pub fn presence(&self, lat: f64, lon: f64) -> Option<Presence> {
        if self.beyond_box(lat, lon) {
            return Some(Presence::Outside);
        }
        let distance = distance_m(self.lat, self.lon, lat, lon);
        if distance <= self.radius {
            Some(Presence::Inside)
        } else if distance > self.radius * HYSTERESIS {
            Some(Presence::Outside)
        } else {
            None
        }
    }
}

/// The great-circle distance in metres between two points given in degrees (haversine).
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let (dp, dl) = ((lat2 - lat1).to_radians(), (lon2 - lon1).to_radians());
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// A location of a member, as the rule reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sighting {
    pub lat: f64,
    pub lon: f64,
    pub accuracy: Option<f64>,
    /// Older than the member's latest location (a late point).
    pub late: bool,
}

/// What `sighting` does to a member's state for `circle`, which was `held` (`None`: no
/// position of the member since the place appeared or the member joined).
pub fn step(circle: &Circle, held: Option<Presence>, sighting: &Sighting) -> Step {
    if sighting.late || sighting.accuracy.is_some_and(|a| a > circle.radius) {
        return Step::Keep;
    }
    match (held, circle.presence(sighting.lat, sighting.lon)) {
        (_, None) => Step::Keep,
        (None, Some(now)) => Step::Set(now),
        (Some(Presence::Outside), Some(Presence::Inside)) => Step::Arrived,
        (Some(Presence::Inside), Some(Presence::Outside)) => Step::Departed,
        (Some(_), Some(_)) => Step::Keep,
    }
}

/// A place with its circle, as the rule reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fence {
    pub place: Place,
    pub circle: Circle,
    /// Unique to this value in the process: it tells [`PlaceStates`] whether the states it
    /// keeps in the order of a map's fences still line up with them.
    uid: u64,
}

impl Fence {
    pub fn new(place: Place) -> Fence {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let circle = Circle::new(place.lat, place.lon, place.radius);
        Fence { place, circle, uid: NEXT.fetch_add(1, Ordering::Relaxed) }
    }
}

/// A map's places in the order the rule visits them (and their events follow): oldest
/// first, then by id.
pub fn fences(mut places: Vec<Place>) -> Vec<Fence> {
    places.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
    places.into_iter().map(Fence::new).collect()
}

/// One member's state for each place of a map where it has one (place id to presence). A
/// backend keeps it per (map, member), with the map's other state, and drops it when the
/// member leaves; a place that is gone is dropped from it at its next change.
///
/// Besides, it keeps the same states in the order of the fences it was last checked against,
/// so that a location costs no lookup by id while the map's places stay the same: checking a
/// point against 100 places is 100 box tests and nothing else.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PlaceStates {
    by_place: BTreeMap<String, Presence>,
    #[serde(skip)]
    lined_up: Vec<(u64, Option<Presence>)>,
    #[serde(skip)]
    changes: u64,
}

impl PartialEq for PlaceStates {
    fn eq(&self, other: &Self) -> bool {
        self.by_place == other.by_place
    }
}

impl PlaceStates {
    pub fn is_empty(&self) -> bool {
        self.by_place.is_empty()
    }

    pub fn get(&self, place: &str) -> Option<Presence> {
        self.by_place.get(place).copied()
    }

    /// Forgets the state for a place that was removed.
    pub fn forget(&mut self, place: &str) {
        if self.by_place.remove(place).is_some() {
            self.lined_up.clear();
            self.changes += 1;
        }
    }

    /// How many times the states changed in this value: a backend that stores them writes
    /// them when this moved.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// As a backend stores it: compact JSON, the same bytes for the same states.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("place states always encode")
    }

    /// `None` when `raw` is not what [`PlaceStates::encode`] writes.
    pub fn decode(raw: &str) -> Option<PlaceStates> {
        serde_json::from_str(raw).ok()
    }

    /// The states in the order of `fences`, rebuilt when they no longer line up.
    fn line_up(&mut self, fences: &[Fence]) {
        let aligned = self.lined_up.len() == fences.len()
            && self.lined_up.iter().zip(fences).all(|((uid, _), fence)| *uid == fence.uid);
        if !aligned {
            let by_place = &self.by_place;
            self.lined_up = fences.iter().map(|f| (f.uid, by_place.get(&f.place.id).copied())).collect();
        }
    }
}

/// What `location` (of a member of a map whose places are `fences`) does: the events to
/// publish right after its own (`arrived`, `departed`, in the order of `fences`). `states`
/// and `latest_ts` (the member's latest `ts` on the map, `None` if it has none) are the
/// member's before it and are brought up to date; the backend keeps them, atomically with
/// the publication of the location and these events.
pub fn crossings(
    fences: &[Fence],
    states: &mut PlaceStates,
    latest_ts: &mut Option<Millis>,
    location: &PlayerLocation,
) -> Vec<EventBody> {
    let fix = &location.fix;
    let late = latest_ts.is_some_and(|latest| fix.ts < latest);
    *latest_ts = Some(latest_ts.map_or(fix.ts, |latest| latest.max(fix.ts)));
    if late || fences.is_empty() {
        return Vec::new();
    }
    let sighting = Sighting { lat: fix.lat, lon: fix.lon, accuracy: fix.accuracy, late };
    states.line_up(fences);
    let mut events = Vec::new();
    let mut changed = false;
    for (fence, (_, held)) in fences.iter().zip(states.lined_up.iter_mut()) {
        let now = match step(&fence.circle, *held, &sighting) {
            Step::Keep => continue,
            Step::Set(presence) => presence,
            Step::Arrived => Presence::Inside,
            Step::Departed => Presence::Outside,
        };
        if let Some(was) = *held {
            let crossing = Crossing {
                player: location.player.clone(),
                name: location.name.clone(),
                place: fence.place.id.clone(),
                place_name: fence.place.name.clone(),
                ts: fix.ts,
            };
            events.push(match was {
                Presence::Outside => EventBody::Arrived(crossing),
                Presence::Inside => EventBody::Departed(crossing),
            });
        }
        *held = Some(now);
        states.by_place.insert(fence.place.id.clone(), now);
        changed = true;
    }
    if changed {
        states.changes += 1;
        if states.by_place.len() > fences.len() {
            // States of places removed since: dropped while the record changes anyway.
            states.by_place.retain(|id, _| fences.iter().any(|f| &f.place.id == id));
        }
    }
    events
}

/// The members inside `place`, from each member's states.
pub fn inside<'a>(place: &str, states: impl IntoIterator<Item = (&'a str, &'a PlaceStates)>) -> Vec<String> {
    let mut inside: Vec<String> = states
        .into_iter()
        .filter(|(_, s)| s.get(place) == Some(Presence::Inside))
        .map(|(player, _)| player.to_owned())
        .collect();
    inside.sort();
    inside
}

/// Whether `radius` (metres) is one a place may have.
pub fn valid_radius(radius: f64) -> bool {
    radius.is_finite() && (MIN_RADIUS_M..=MAX_RADIUS_M).contains(&radius)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(lat: f64, lon: f64) -> Sighting {
        Sighting { lat, lon, accuracy: None, late: false }
    }

    /// A point `metres` north of (`lat`, `lon`).
    fn north(lat: f64, lon: f64, metres: f64) -> (f64, f64) {
        (lat + metres / METRES_PER_DEGREE, lon)
    }

    #[test]
    fn distances_match_known_ones() {
        // One degree of latitude on the mean sphere, and Paris to London (about 343.5 km).
        assert!((distance_m(0.0, 0.0, 1.0, 0.0) - 111_195.0).abs() < 1.0);
        let paris_london = distance_m(48.8566, 2.3522, 51.5074, -0.1278);
        assert!((paris_london - 343_500.0).abs() < 1_000.0, "{paris_london}");
        assert_eq!(distance_m(10.0, 20.0, 10.0, 20.0), 0.0);
        // Across the antimeridian: two points 0.002° of longitude apart on the equator.
        assert!((distance_m(0.0, 179.999, 0.0, -179.999) - 222.4).abs() < 0.5);
    }

    #[test]
    fn inside_within_the_radius_outside_past_the_band_unchanged_between() {
        let hall = Circle::new(56.0, -3.0, 100.0);
        for (metres, expected) in [
            (0.0, Some(Presence::Inside)),
            (99.0, Some(Presence::Inside)),
            (105.0, None),
            (109.0, None),
            (111.0, Some(Presence::Outside)),
            (5_000.0, Some(Presence::Outside)),
        ] {
            let (lat, lon) = north(56.0, -3.0, metres);
            assert_eq!(hall.presence(lat, lon), expected, "{metres} m north");
        }
    }

    #[test]
    fn a_member_arrives_and_departs_once_across_the_band() {
        let hall = Circle::new(51.5, -0.1, 50.0);
        let walk = [0.0, 30.0, 52.0, 54.0, 60.0, 58.0, 53.0, 49.0, 20.0, 56.0];
        let mut held = None;
        let mut steps = Vec::new();
        for metres in walk {
            let (lat, lon) = north(51.5, -0.1, metres);
            let step = step(&hall, held, &at(lat, lon));
            held = match step {
                Step::Set(p) => Some(p),
                Step::Arrived => Some(Presence::Inside),
                Step::Departed => Some(Presence::Outside),
                Step::Keep => held,
            };
            steps.push(step);
        }
        let (keep, arrived, departed) = (Step::Keep, Step::Arrived, Step::Departed);
        let first = Step::Set(Presence::Inside);
        assert_eq!(steps, [first, keep, keep, keep, departed, keep, keep, arrived, keep, departed]);
    }

    #[test]
    fn a_late_point_and_a_point_less_accurate_than_the_radius_change_nothing() {
        let hall = Circle::new(0.0, 0.0, 100.0);
        let far = north(0.0, 0.0, 1_000.0);
        let late = Sighting { late: true, ..at(far.0, far.1) };
        assert_eq!(step(&hall, Some(Presence::Inside), &late), Step::Keep);
        let vague = Sighting { accuracy: Some(150.0), ..at(far.0, far.1) };
        assert_eq!(step(&hall, Some(Presence::Inside), &vague), Step::Keep);
        let sharp = Sighting { accuracy: Some(100.0), ..at(far.0, far.1) };
        assert_eq!(step(&hall, Some(Presence::Inside), &sharp), Step::Departed);
        assert_eq!(step(&hall, None, &late), Step::Keep, "not even a first state");
    }

    #[test]
    fn the_box_never_decides_what_the_distance_would_not() {
        // Around places at several latitudes (near a pole and across the antimeridian too),
        // every point of a grid that the box calls outside is outside by the distance.
        for (lat, lon, radius) in
            [(0.0, 0.0, 10.0), (51.5, -0.1, 500.0), (70.0, 179.99, 50_000.0), (89.9, 30.0, 20_000.0)]
        {
            let circle = Circle::new(lat, lon, radius);
            let span = radius * 3.0 / METRES_PER_DEGREE;
            for i in -20..=20 {
                for j in -20..=20 {
                    let (plat, plon) = (lat + span * i as f64 / 20.0, lon + span * 4.0 * j as f64 / 20.0);
                    if !(-90.0..=90.0).contains(&plat) {
                        continue;
                    }
                    let plon = if plon > 180.0 { plon - 360.0 } else { plon };
                    let outside = distance_m(lat, lon, plat, plon) > radius * HYSTERESIS;
                    if circle.beyond_box(plat, plon) {
                        assert!(outside, "({plat}, {plon}) around ({lat}, {lon}) r={radius}");
                    }
                }
            }
        }
    }

    fn place(id: &str, created_at: i64) -> Place {
        Place {
            id: id.into(),
            name: id.to_uppercase(),
            lat: 0.0,
            lon: 0.0,
            radius: 100.0,
            created_by: "p".into(),
            created_at,
        }
    }

    fn located(metres: f64, ts: i64) -> PlayerLocation {
        let (lat, lon) = north(0.0, 0.0, metres);
        let fix = marauder_protocol::Fix {
            lat,
            lon,
            accuracy: None,
            altitude: None,
            speed: None,
            heading: None,
            ts,
        };
        PlayerLocation { player: "p".into(), name: "P".into(), fix }
    }

    #[test]
    fn states_follow_the_places_as_they_come_and_go() {
        let (a, b, c) = (place("a", 1), place("b", 2), place("c", 3));
        let mut states = PlaceStates::default();
        let mut latest = None;
        let both = fences(vec![b.clone(), a.clone()]);
        assert_eq!(both.iter().map(|f| f.place.id.as_str()).collect::<Vec<_>>(), ["a", "b"], "oldest first");
        assert!(crossings(&both, &mut states, &mut latest, &located(0.0, 10)).is_empty(), "first: set");
        assert_eq!(
            (states.get("a"), states.get("b"), states.changes()),
            (Some(Presence::Inside), Some(Presence::Inside), 1)
        );
        let kinds = |events: Vec<EventBody>| {
            events
                .iter()
                .map(|e| {
                    (
                        e.kind(),
                        match e {
                            EventBody::Arrived(c) | EventBody::Departed(c) => c.place.clone(),
                            _ => String::new(),
                        },
                    )
                })
                .collect::<Vec<_>>()
        };
        // `a` goes, `c` comes: `b` keeps its state, `c` is set without an event.
        let later = vec![Fence::new(b.clone()), Fence::new(c.clone())];
        assert_eq!(
            kinds(crossings(&later, &mut states, &mut latest, &located(500.0, 20))),
            [("departed", "b".to_owned())]
        );
        assert_eq!((states.get("a"), states.get("c")), (None, Some(Presence::Outside)), "a's state dropped");
        assert_eq!(kinds(crossings(&later, &mut states, &mut latest, &located(0.0, 15))), [], "late");
        assert_eq!(latest, Some(20));
        let steady = states.changes();
        assert_eq!(kinds(crossings(&later, &mut states, &mut latest, &located(800.0, 30))), []);
        assert_eq!(states.changes(), steady, "nothing changed, nothing to write");
        let arrivals = kinds(crossings(&later, &mut states, &mut latest, &located(0.0, 40)));
        assert_eq!(arrivals, [("arrived", "b".to_owned()), ("arrived", "c".to_owned())]);
        let back = PlaceStates::decode(&states.encode()).unwrap();
        assert_eq!(back, states);
        assert_eq!(states.encode(), r#"{"b":"in","c":"in"}"#);
        assert_eq!(inside("c", [("q", &PlaceStates::default()), ("p", &states)]), ["p"]);
    }

    #[test]
    fn radii_from_ten_metres_to_fifty_kilometres() {
        assert!(valid_radius(10.0) && valid_radius(50_000.0) && valid_radius(123.4));
        assert!(!valid_radius(9.99) && !valid_radius(50_000.1));
        assert!(!valid_radius(f64::NAN) && !valid_radius(f64::INFINITY));
    }
}
