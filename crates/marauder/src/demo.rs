//! `serve --demo`: a few walkers strolling around a public map called "Demo", reporting
//! through the client library like any other player, so that a newcomer who opens the web
//! app sees footprints moving at once. They delete themselves when the server stops.

use std::time::Duration;

use marauder_client::Client;
use marauder_client::protocol::LocationInput;
use tokio_util::sync::CancellationToken;

/// Where they walk: Edinburgh's Old Town.
const CENTRE: (f64, f64) = (55.9486, -3.1910);
/// They turn back towards the centre past this many metres.
const RADIUS_M: f64 = 350.0;
const WALKING_SPEED_M_S: f64 = 1.4;
const NAMES: [&str; 6] = ["Harry", "Hermione", "Ron", "Luna", "Neville", "Ginny"];
const METRES_PER_DEGREE: f64 = 111_320.0;

struct Walker {
    client: Client,
    lat: f64,
    lon: f64,
    heading: f64,
}

impl Walker {
    /// One second of walking: a little turn, a step, a turn home when too far out.
    fn step(&mut self) {
        let (dy, dx) = ((self.lat - CENTRE.0) * METRES_PER_DEGREE, self.east_m());
        if (dx * dx + dy * dy).sqrt() > RADIUS_M {
            self.heading = (-dx).atan2(-dy);
        }
        self.heading += (fastrand::f64() - 0.5) * 0.6;
        let metres = WALKING_SPEED_M_S * (0.7 + 0.6 * fastrand::f64());
        self.lat += metres * self.heading.cos() / METRES_PER_DEGREE;
        self.lon += metres * self.heading.sin() / (METRES_PER_DEGREE * self.lat.to_radians().cos());
    }

    fn east_m(&self) -> f64 {
        (self.lon - CENTRE.1) * METRES_PER_DEGREE * CENTRE.0.to_radians().cos()
    }

    fn location(&self) -> LocationInput {
        LocationInput {
            lat: self.lat,
            lon: self.lon,
            accuracy: Some(5.0),
            speed: Some(WALKING_SPEED_M_S),
            heading: Some(self.heading.to_degrees().rem_euclid(360.0)),
            ..Default::default()
        }
    }
}

/// Runs the walkers against the server at `url` until `shutdown`.
pub async fn run(url: String, shutdown: CancellationToken) {
    let anon = Client::new(&url);
    let walkers = tokio::select! {
        walkers = start(&anon) => walkers,
        _ = shutdown.cancelled() => return,
    };
    let mut walkers = match walkers {
        Ok(walkers) => walkers,
        Err(err) => {
            tracing::warn!(error = %err, "the demo walkers could not start");
            return;
        }
    };
    tracing::info!(walkers = walkers.len(), "demo walkers are out on the map \"Demo\"");
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => break,
        }
        for walker in &mut walkers {
            walker.step();
            if let Err(err) = walker.client.post_location(&walker.location()).await {
                tracing::debug!(error = %err, "a demo walker's step was refused");
            }
        }
    }
    // Gone with the server, so that restarts do not leave still figures behind. The server
    // is still draining its connections, so these requests are answered.
    for walker in walkers {
        let _ = walker.client.delete_me().await;
    }
}

async fn start(anon: &Client) -> anyhow::Result<Vec<Walker>> {
    // The server is accepting by the time this runs, but retry briefly to be safe.
    let mut attempt = 0;
    let first = loop {
        match anon.create_player(NAMES[0]).await {
            Ok(player) => break player,
            Err(err) if attempt < 20 => {
                attempt += 1;
                tracing::debug!(error = %err, "waiting for the server");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => return Err(err.into()),
        }
    };
    let existing = anon.public_maps().await?.maps.into_iter().find(|m| m.name == "Demo");
    let map = match existing {
        Some(map) => map.id,
        None => anon.with_token(&first.token).create_map("Demo", None).await?.id,
    };
    let mut walkers = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        let token = match i {
            0 => first.token.clone(),
            _ => anon.create_player(name).await?.token,
        };
        let client = anon.with_token(&token);
        client.join(&map, None).await?;
        let angle = i as f64 / NAMES.len() as f64 * std::f64::consts::TAU;
        let (lat, lon) = (CENTRE.0 + 0.001 * angle.cos(), CENTRE.1 + 0.0016 * angle.sin());
        walkers.push(Walker { client, lat, lon, heading: fastrand::f64() * std::f64::consts::TAU });
    }
    Ok(walkers)
}
