//! `--places N`: N places on every map, drawn by its owner through the API before the run,
//! where the map's walkers are. Some are crossed: for each walker (up to half the places) a
//! small circle laid across the walk it will make (the walks are the same every run), so
//! that its first position is on one side and a later one well on the other: the map gets
//! at least one arrival or departure per crossed walker whose walk spans more than the
//! hysteresis band, and more as walkers wander back and forth. The rest are spread over
//! the walkers' area and around it, 50 to 500 m across, as a town's places would be: some
//! hold walkers, most hold none.

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt};
use marauder_client::protocol::CreatePlace;

use super::BenchArgs;
use super::setup::World;
use super::walk::Walk;

/// The contract's limit of places a map.
pub const MAX_PLACES: usize = 100;

/// Metres in a degree of latitude (and of longitude at the equator).
const METRES_PER_DEGREE: f64 = 111_195.0;

/// Draws `args.places` places on every map, as its owner, with bounded concurrency.
pub async fn draw(args: &BenchArgs, world: &World) -> anyhow::Result<()> {
    let (n, k, m) = (args.clients, args.maps, args.updates);
    let crossed = (n / k).min(args.places.div_ceil(2));
    let requests: Vec<(usize, CreatePlace)> = (0..k)
        .flat_map(|g| {
            let walks: Vec<Vec<(f64, f64)>> = (g..n)
                .step_by(k)
                .take(crossed)
                .map(|i| {
                    let mut walk = Walk::new(i);
                    (0..m).map(|_| walk.step()).collect()
                })
                .collect();
            layout(g, &walks, args.places).into_iter().map(move |place| (g, place))
        })
        .collect();
    futures_util::stream::iter(requests)
        .map(|(g, place)| {
            // Player g made map g (setup), so owns it.
            let owner = world.client(g);
            let map = world.maps[g].clone();
            async move { owner.create_place(&map, &place).await }
        })
        .buffer_unordered(args.setup_concurrency)
        .try_collect::<Vec<_>>()
        .await
        .context("drawing places")?;
    Ok(())
}

/// `count` places for map `g`, the first laid across `walks` (each the positions one walker
/// will send, at most `count / 2` of them): deterministic per map.
pub fn layout(g: usize, walks: &[Vec<(f64, f64)>], count: usize) -> Vec<CreatePlace> {
    let mut rng = fastrand::Rng::with_seed((0x91ace_u64 << 20) | g as u64);
    let mut places = Vec::with_capacity(count);
    for (j, walk) in walks.iter().enumerate().take(count.div_ceil(2)) {
        // A house or a shop: 50 to 80 m, where the band is 5 to 8 m wide.
        let radius = 50.0 + rng.f64() * 30.0;
        let (lat, lon, radius) = across(walk, radius, j % 2 == 0, rng.f64() * std::f64::consts::TAU);
        places.push(CreatePlace { name: format!("Corner {g}.{j}"), lat, lon, radius });
    }
    // The walkers' start box (see `Walk`), and half of it again on every side.
    let (south, west, side) = (51.5 - 0.005, -0.12 - 0.005, 0.02);
    for j in places.len()..count {
        // Log-uniform from 50 to 500 m: small places are the common ones.
        let radius = 50.0 * 10f64.powf(rng.f64());
        places.push(CreatePlace {
            name: format!("Place {g}.{j}"),
            lat: south + rng.f64() * side,
            lon: west + rng.f64() * side,
            radius,
        });
    }
    places
}

/// A circle (centre and radius, at most `radius`, at least 50 m) across `walk`: its first
/// point more than 1.1 radii from the centre and its farthest point from that one within
/// 0.9 radii (`arrive`), or the other way round; on one line, so the two distances differ by
/// the span. A walk shorter than the band gets a circle whose edge runs through its first
/// point, towards `bearing`: it may be crossed, or not.
fn across(walk: &[(f64, f64)], radius: f64, arrive: bool, bearing: f64) -> (f64, f64, f64) {
    let Some(&first) = walk.first() else {
        return (51.5, -0.12, radius);
    };
    let far =
        walk.iter().copied().max_by(|a, b| span(first, *a).total_cmp(&span(first, *b))).unwrap_or(first);
    let d = span(first, far);
    // Outside needs d + 0.9 r > 1.1 r: d > 0.2 r, with a metre to spare.
    let radius = radius.min((d - 1.0) / 0.2);
    if radius < 50.0 {
        let (lat, lon) = offset(first, 50.0, bearing);
        return (lat, lon, 50.0);
    }
    let (dx, dy) = metres(first, far);
    let towards = dx.atan2(dy);
    let (lat, lon) = if arrive {
        offset(far, 0.9 * radius, towards)
    } else {
        offset(first, 0.9 * radius, towards + std::f64::consts::PI)
    };
    (lat, lon, radius)
}

/// East and north metres from `a` to `b` (flat: at a few hundred metres it is off by far
/// less than a millimetre from the great circle the server measures).
fn metres(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    let dy = (b.0 - a.0) * METRES_PER_DEGREE;
    let dx = (b.1 - a.1) * METRES_PER_DEGREE * a.0.to_radians().cos();
    (dx, dy)
}

fn span(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = metres(a, b);
    dx.hypot(dy)
}

/// The point `metres` from `from` towards `bearing` (radians clockwise from north).
fn offset(from: (f64, f64), metres: f64, bearing: f64) -> (f64, f64) {
    let dlat = metres * bearing.cos() / METRES_PER_DEGREE;
    let dlon = metres * bearing.sin() / (METRES_PER_DEGREE * from.0.to_radians().cos());
    (from.0 + dlat, from.1 + dlon)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(client: usize, m: usize) -> Vec<(f64, f64)> {
        let mut walk = Walk::new(client);
        (0..m).map(|_| walk.step()).collect()
    }

    #[test]
    fn crossed_walkers_start_on_one_side_and_reach_the_other() {
        let walks: Vec<Vec<(f64, f64)>> = (0..8).map(|i| walk(i, 100)).collect();
        let places = layout(0, &walks, 20);
        assert_eq!(places.len(), 20);
        for (j, (place, walk)) in places.iter().zip(&walks).enumerate() {
            let r = place.radius;
            assert!((50.0..=80.0).contains(&r), "{r}");
            let centre = (place.lat, place.lon);
            let from = span(centre, walk[0]);
            let nearest = walk.iter().map(|p| span(centre, *p)).fold(f64::INFINITY, f64::min);
            let farthest = walk.iter().map(|p| span(centre, *p)).fold(0.0, f64::max);
            if j % 2 == 0 {
                assert!(from > 1.1 * r && nearest <= r, "arrives: {from} then {nearest}, radius {r}");
            } else {
                assert!(from <= r && farthest > 1.1 * r, "departs: {from} then {farthest}, radius {r}");
            }
        }
        for place in &places[8..] {
            assert!((50.0..=500.0).contains(&place.radius), "{}", place.radius);
            assert!((51.495..=51.515).contains(&place.lat) && (-0.125..=-0.105).contains(&place.lon));
        }
        assert_eq!(layout(0, &walks, 20), places, "the same places each run");
    }

    #[test]
    fn a_short_walk_gets_a_circle_through_its_first_point_and_half_the_places_at_most_are_crossed() {
        let short = vec![walk(3, 1)];
        let place = &layout(1, &short, 1)[0];
        assert_eq!(place.radius, 50.0);
        assert!((span((place.lat, place.lon), short[0][0]) - 50.0).abs() < 0.01);
        let walks: Vec<Vec<(f64, f64)>> = (0..8).map(|i| walk(i, 10)).collect();
        let places = layout(1, &walks, 5);
        assert_eq!(places.iter().filter(|p| p.name.starts_with("Corner")).count(), 3);
        assert_eq!(places.len(), 5);
        assert!(layout(1, &walks, 0).is_empty());
    }
}
