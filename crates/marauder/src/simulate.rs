//! Walkers: simulated players strolling about a public map at walking speed, reporting their
//! positions through the client library like any phone. `marauder simulate` sends them to
//! any server; `serve --demo` starts six on its own, so a newcomer sees footprints moving.
//!
//! A walker heads for a spot within `radius` of the centre, wavering a little as people do,
//! lingers there a few seconds, and sets off for the next: a plausible path, not a random
//! jitter. Each report is one `interval` of walking at 1.1–1.7 m/s, whatever the interval.

use std::time::Duration;

use anyhow::Context;
use futures_util::future::join_all;
use marauder_client::Client;
use marauder_client::protocol::{LocationInput, Visibility};
use tokio_util::sync::CancellationToken;

const METRES_PER_DEGREE: f64 = 111_320.0;
const NAMES: [&str; 20] = [
    "Harry", "Hermione", "Ron", "Luna", "Neville", "Ginny", "Fred", "George", "Cho", "Cedric", "Dean",
    "Seamus", "Lavender", "Parvati", "Padma", "Oliver", "Katie", "Angelina", "Hannah", "Ernie",
];

/// How walkers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    /// `POST /api/v1/locations` with the player's token.
    Rest,
    /// As OwnTracks does, with a device credential.
    Owntracks,
    /// As OsmAnd does, with a device credential.
    Osmand,
}

#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// How many walkers.
    #[arg(long, default_value_t = 20)]
    pub players: usize,
    /// The public map they walk on; created when there is no public map of that name.
    #[arg(long, default_value = "Demo")]
    pub map: String,
    /// Latitude of the centre of their walks (default: Edinburgh's Old Town).
    #[arg(long, default_value_t = 55.9486, allow_hyphen_values = true)]
    pub lat: f64,
    /// Longitude of the centre of their walks.
    #[arg(long, default_value_t = -3.1910, allow_hyphen_values = true)]
    pub lon: f64,
    /// Metres from the centre they keep within.
    #[arg(long, default_value_t = 350.0)]
    pub radius: f64,
    /// Seconds between two reports of a walker.
    #[arg(long, default_value_t = 1.0)]
    pub interval: f64,
    /// Stop after this many reports of each walker (default: until Ctrl-C).
    #[arg(long)]
    pub steps: Option<u64>,
    /// How they report.
    #[arg(long, value_enum, default_value = "rest")]
    pub via: Via,
    /// Leave the players on the server when stopping (by default they delete themselves).
    #[arg(long)]
    pub keep: bool,
}

impl SimulateArgs {
    /// What `serve --demo` runs against the server at `url`.
    pub fn demo(url: String) -> SimulateArgs {
        SimulateArgs {
            url,
            players: 6,
            map: "Demo".into(),
            lat: 55.9486,
            lon: -3.1910,
            radius: 350.0,
            interval: 1.0,
            steps: None,
            via: Via::Rest,
            keep: false,
        }
    }
}

/// What the walkers' reports met with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Walked {
    pub accepted: u64,
    pub refused: u64,
}

/// Runs the walkers until `shutdown` (or their steps are done); then, unless `keep`, they
/// delete themselves.
pub async fn run(args: &SimulateArgs, shutdown: CancellationToken) -> anyhow::Result<Walked> {
    anyhow::ensure!(args.interval > 0.0 && args.interval.is_finite(), "--interval must be > 0");
    anyhow::ensure!(args.radius > 0.0 && args.radius.is_finite(), "--radius must be > 0");
    let anon = Client::new(&args.url);
    let mut walkers = tokio::select! {
        walkers = start(&anon, args) => walkers?,
        _ = shutdown.cancelled() => return Ok(Walked::default()),
    };
    tracing::info!(walkers = walkers.len(), map = %args.map, via = ?args.via, "walkers are out");
    let interval = Duration::from_secs_f64(args.interval);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut walked, mut steps) = (Walked::default(), 0);
    while args.steps.is_none_or(|max| steps < max) {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => break,
        }
        steps += 1;
        let reports = walkers.iter_mut().map(|walker| {
            walker.step(args.interval);
            walker.report()
        });
        for result in join_all(reports).await {
            match result {
                Ok(()) => walked.accepted += 1,
                Err(err) => {
                    walked.refused += 1;
                    tracing::warn!(error = %err, "a walker's report was refused");
                }
            }
        }
    }
    if !args.keep {
        // The server may be draining its connections (serve --demo): it still answers.
        join_all(walkers.iter().map(|w| w.client.delete_me())).await;
    }
    Ok(walked)
}

struct Walker {
    client: Client,
    reporter: Reporter,
    /// Metres north and east of the centre.
    north: f64,
    east: f64,
    heading: f64,
    speed: f64,
    target: (f64, f64),
    /// Seconds left to linger at the target.
    lingering: f64,
    centre: (f64, f64),
    radius: f64,
}

enum Reporter {
    Rest,
    Owntracks { device: String, secret: String },
    Osmand { identifier: String },
}

impl Walker {
    fn new(client: Client, reporter: Reporter, centre: (f64, f64), radius: f64) -> Walker {
        let (north, east) = random_spot(radius);
        let mut walker = Walker {
            client,
            reporter,
            north,
            east,
            heading: 0.0,
            speed: 0.0,
            target: (north, east),
            lingering: 0.0,
            centre,
            radius,
        };
        walker.set_off();
        walker
    }

    fn set_off(&mut self) {
        self.target = random_spot(self.radius);
        self.speed = 1.1 + 0.6 * fastrand::f64();
    }

    /// `seconds` of walking towards the target, or of lingering there.
    fn step(&mut self, seconds: f64) {
        if self.lingering > 0.0 {
            self.lingering -= seconds;
            if self.lingering <= 0.0 {
                self.set_off();
            }
            return;
        }
        let (dn, de) = (self.target.0 - self.north, self.target.1 - self.east);
        let distance = dn.hypot(de);
        let stride = self.speed * seconds;
        if distance <= stride {
            (self.north, self.east) = self.target;
            self.lingering = 3.0 + 12.0 * fastrand::f64();
            return;
        }
        // Towards the target, wavering by up to ±15°.
        self.heading = de.atan2(dn) + (fastrand::f64() - 0.5) * 0.5;
        self.north += stride * self.heading.cos();
        self.east += stride * self.heading.sin();
    }

    fn location(&self) -> LocationInput {
        let lat = self.centre.0 + self.north / METRES_PER_DEGREE;
        let lon = self.centre.1 + self.east / (METRES_PER_DEGREE * self.centre.0.to_radians().cos());
        let moving = self.lingering <= 0.0;
        LocationInput {
            lat,
            lon,
            accuracy: Some(4.0 + 4.0 * fastrand::f64()),
            speed: Some(if moving { self.speed } else { 0.0 }),
            heading: moving.then(|| self.heading.to_degrees().rem_euclid(360.0)),
            ts: Some(marauder_core::now_millis()),
            ..Default::default()
        }
    }

    async fn report(&self) -> marauder_client::Result<()> {
        let location = self.location();
        match &self.reporter {
            Reporter::Rest => self.client.post_location(&location).await.map(drop),
            Reporter::Owntracks { device, secret } => {
                self.client.owntracks_location(device, secret, &location).await.map(drop)
            }
            Reporter::Osmand { identifier } => self.client.osmand_location(identifier, &location).await,
        }
    }
}

/// A uniformly random point of the disc, in metres north and east of its centre.
fn random_spot(radius: f64) -> (f64, f64) {
    let (r, angle) = (radius * fastrand::f64().sqrt(), fastrand::f64() * std::f64::consts::TAU);
    (r * angle.cos(), r * angle.sin())
}

async fn start(anon: &Client, args: &SimulateArgs) -> anyhow::Result<Vec<Walker>> {
    // The server may still be starting (serve --demo): retry the first request briefly.
    let mut attempt = 0;
    let maps = loop {
        match anon.public_maps().await {
            Ok(maps) => break maps,
            Err(err) if attempt < 20 => {
                attempt += 1;
                tracing::debug!(error = %err, "waiting for the server");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => return Err(err).with_context(|| format!("reaching {}", args.url)),
        }
    };
    let existing = maps.maps.into_iter().find(|m| m.name == args.map).map(|m| m.id);
    let mut walkers = Vec::with_capacity(args.players);
    let mut map = existing;
    for i in 0..args.players {
        let name = match i / NAMES.len() {
            0 => NAMES[i % NAMES.len()].to_owned(),
            round => format!("{} {}", NAMES[i % NAMES.len()], round + 1),
        };
        let player = anon.create_player(&name).await?;
        let client = anon.with_token(&player.token);
        match &map {
            Some(id) => drop(client.join(id, None).await?),
            None => map = Some(client.create_map(&args.map, Some(Visibility::Public)).await?.id),
        }
        let reporter = match args.via {
            Via::Rest => Reporter::Rest,
            Via::Owntracks => {
                let device = client.create_device("simulated OwnTracks").await?;
                Reporter::Owntracks { device: device.id, secret: device.secret }
            }
            Via::Osmand => {
                let device = client.create_device("simulated OsmAnd").await?;
                Reporter::Osmand { identifier: format!("{}.{}", device.id, device.secret) }
            }
        };
        walkers.push(Walker::new(client, reporter, (args.lat, args.lon), args.radius));
    }
    Ok(walkers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walker_keeps_walking_pace_and_stays_within_its_radius() {
        let mut walker = Walker::new(Client::new("http://unused"), Reporter::Rest, (55.9, -3.2), 300.0);
        for _ in 0..10_000 {
            let before = (walker.north, walker.east);
            walker.step(0.5);
            let moved = (walker.north - before.0).hypot(walker.east - before.1);
            assert!(moved <= 1.7 * 0.5 + 1e-9, "{moved} m in half a second");
            // Wavering on the way may take a walker a few metres past the edge, never far.
            assert!(walker.north.hypot(walker.east) <= 300.0 + 25.0);
        }
    }
}
