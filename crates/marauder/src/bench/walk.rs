//! How the bench's clients move: a random walk that is the same every run, so `--places`
//! can lay places across the walks before they are made.

/// Client i's positions, the same every run (seeded with i): it starts somewhere in a box of
/// 0.01° (about 1.1 by 0.7 km) in London and each update moves it up to 5.6 m north or south
/// and 3.5 m east or west. `--places` replays the walks to lay places across them.
pub struct Walk {
    rng: fastrand::Rng,
    lat: f64,
    lon: f64,
}

impl Walk {
    pub fn new(client: usize) -> Walk {
        let mut rng = fastrand::Rng::with_seed(client as u64);
        let (lat, lon) = (51.5 + rng.f64() / 100.0, -0.12 + rng.f64() / 100.0);
        Walk { rng, lat, lon }
    }

    /// The next position to send.
    pub fn step(&mut self) -> (f64, f64) {
        self.lat += (self.rng.f64() - 0.5) / 10_000.0;
        self.lon += (self.rng.f64() - 0.5) / 10_000.0;
        (self.lat, self.lon)
    }
}
