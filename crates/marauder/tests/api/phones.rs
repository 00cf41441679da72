//! Device credentials and the phone apps' protocols (docs/phones.md): payloads replayed
//! exactly as OwnTracks, OsmAnd and Traccar Client send them.

use marauder_client::Client;
use marauder_client::protocol::{DeviceCreated, ErrorCode, EventBody, Fix, PlayerLocation};
use serde_json::{Value, json};

use crate::helpers::*;

/// A phone app's request, answered with its status, `WWW-Authenticate` and body.
struct Answer {
    status: u16,
    challenge: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn error(&self) -> (u16, String) {
        (self.status, self.json()["error"]["code"].as_str().unwrap_or_default().to_owned())
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    Answer { status, challenge, body: response.text().await.unwrap() }
}

/// OwnTracks: a JSON body with HTTP Basic auth.
async fn owntracks(app: &TestApp, user: &str, password: &str, body: &str) -> Answer {
    let request = reqwest::Client::new()
        .post(format!("{}/api/v1/owntracks", app.base))
        .basic_auth(user, Some(password))
        .header("content-type", "application/json")
        .body(body.to_owned());
    send(request).await
}

async fn osmand_get(app: &TestApp, query: &str) -> Answer {
    send(reqwest::Client::new().get(format!("{}/api/v1/osmand?{query}", app.base))).await
}

async fn osmand_post(app: &TestApp, query: &str, content_type: &str, body: &str) -> Answer {
    let request = reqwest::Client::new()
        .post(format!("{}/api/v1/osmand{query}", app.base))
        .header("content-type", content_type)
        .body(body.to_owned());
    send(request).await
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Seconds of 2025-11-26T00:00:00Z.
const T0: i64 = 1_764_115_200;

/// Alice with a device, and Bob: both in one map, Bob subscribed to it.
struct Scene {
    app: TestApp,
    alice: Client,
    alice_id: String,
    bob: Client,
    bob_id: String,
    device: DeviceCreated,
    map: String,
    live: marauder_client::Live,
}

impl Scene {
    async fn new() -> Scene {
        let app = TestApp::spawn().await;
        let (alice, a) = app.player("Alice").await;
        let (bob, b) = app.player("Bob").await;
        let map = alice.create_map("Lothian", None).await.unwrap().id;
        bob.join(&map, None).await.unwrap();
        let device = alice.create_device("Alice's Pixel").await.unwrap();
        let mut live = bob.connect().await.unwrap();
        assert_eq!(subscribe(&mut live, &map).await, 1, "Bob's join is the only event");
        Scene { app, alice, alice_id: a.id, bob, bob_id: b.id, device, map, live }
    }

    /// The `<id>.<secret>` identifier OsmAnd and Traccar Client are configured with.
    fn identifier(&self) -> String {
        format!("{}.{}", self.device.id, self.device.secret)
    }

    /// Alice's next live location event on Bob's socket.
    async fn next_location(&mut self) -> PlayerLocation {
        let events = recv_events(&mut self.live, &self.map, 1).await;
        match &events[0].body {
            EventBody::Location(location) => location.clone(),
            other => panic!("expected a location, got {other:?}"),
        }
    }

    /// Alice's trail as Bob reads it.
    async fn trail(&self) -> Vec<Fix> {
        self.bob.trail(&self.map, &self.alice_id, None, None).await.unwrap().points
    }

    /// The map's seq and Alice's position in its snapshot.
    async fn snapshot(&self) -> (u64, Option<Fix>) {
        let snapshot = self.bob.locations(&self.map).await.unwrap();
        let alice = snapshot.locations.into_iter().find(|l| l.player == self.alice_id);
        (snapshot.seq, alice.map(|l| l.fix))
    }

    async fn stop(self) {
        self.app.stop().await;
    }
}

fn approx(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[tokio::test]
async fn devices_are_created_listed_without_secrets_and_revoked_by_their_owner_only() {
    let app = TestApp::spawn().await;
    let (alice, _) = app.player("Alice").await;
    let (bob, _) = app.player("Bob").await;
    let phone = alice.create_device("  Pixel 8 ").await.unwrap();
    let watch = alice.create_device("Watch").await.unwrap();
    assert_eq!(phone.name, "Pixel 8");
    for value in [&phone.id, &phone.secret, &watch.id, &watch.secret] {
        assert_eq!(value.len(), 26, "{value}");
        assert!(value.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)), "{value}");
    }
    assert_ne!(phone.id, watch.id);
    assert_ne!(phone.secret, watch.secret);

    let listed = alice.raw("GET", "/api/v1/players/me/devices", None).await.unwrap();
    assert_eq!(listed.status, 200);
    let listed = listed.json();
    // Oldest first; two made in the same millisecond are ordered by id.
    let mut expected = [
        json!({"id": phone.id, "name": "Pixel 8", "created_at": phone.created_at}),
        json!({"id": watch.id, "name": "Watch", "created_at": watch.created_at}),
    ];
    if (watch.created_at, &watch.id) < (phone.created_at, &phone.id) {
        expected.swap(0, 1);
    }
    assert_eq!(listed, json!({"devices": expected}), "oldest first, and never a secret");
    assert!(bob.devices().await.unwrap().devices.is_empty());

    // Someone else's device, a malformed id, no token: refused, nothing revoked.
    assert_eq!(bob.delete_device(&phone.id).await.unwrap_err().code(), Some(ErrorCode::NotFound));
    assert_eq!(alice.delete_device("not-a-device").await.unwrap_err().code(), Some(ErrorCode::NotFound));
    assert_eq!(app.anon.devices().await.unwrap_err().code(), Some(ErrorCode::Unauthorized));
    assert_eq!(app.anon.create_device("x").await.unwrap_err().code(), Some(ErrorCode::Unauthorized));
    assert_eq!(app.anon.delete_device(&phone.id).await.unwrap_err().code(), Some(ErrorCode::Unauthorized));
    for bad in [json!({"name": ""}), json!({"name": "x".repeat(65)}), json!({}), json!({"name": "a", "x": 1})]
    {
        let answer = alice
            .raw(
                "POST",
                "/api/v1/players/me/devices",
                Some(("application/json", bad.to_string().into_bytes())),
            )
            .await
            .unwrap();
        assert_eq!((answer.status, answer.error_code().as_deref()), (400, Some("bad_request")), "{bad}");
    }
    assert_eq!(alice.devices().await.unwrap().devices.len(), 2);

    alice.delete_device(&phone.id).await.unwrap();
    assert_eq!(alice.delete_device(&phone.id).await.unwrap_err().code(), Some(ErrorCode::NotFound));
    let left: Vec<String> = alice.devices().await.unwrap().devices.into_iter().map(|d| d.id).collect();
    assert_eq!(left, [watch.id.as_str()]);

    // At most 20 devices: the 21st is refused and not stored.
    for n in 0..19 {
        alice.create_device(&format!("phone {n}")).await.unwrap();
    }
    let refused = alice.create_device("one too many").await.unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::BadRequest));
    assert_eq!(alice.devices().await.unwrap().devices.len(), 20);
    app.stop().await;
}

#[tokio::test]
async fn owntracks_location_is_stored_published_and_answered_with_the_co_members() {
    let mut s = Scene::new().await;
    // Bob is somewhere; a stranger in no shared map is not Alice's friend.
    s.bob.post_location(&loc_at(55.95, -3.19, (T0 - 60) * 1000)).await.unwrap();
    assert_eq!(s.next_location().await.player, s.bob_id);
    let (stranger, _) = s.app.player("Stranger").await;
    stranger.create_map("Elsewhere", None).await.unwrap();
    stranger.post_location(&loc(1.0, 1.0)).await.unwrap();

    // As OwnTracks for Android posts it (booklet, tech/json).
    let body = json!({
        "_type": "location", "acc": 12, "alt": 48, "batt": 83, "bs": 1, "cog": 270, "conn": "m",
        "created_at": T0 + 1, "lat": 55.9486, "lon": -3.1999, "m": 1, "t": "u", "tid": "AP",
        "tst": T0, "vac": 3, "vel": 18, "BSSID": "a0:b1:c2:d3:e4:f5", "SSID": "Home"
    });
    assert_eq!(s.alice.devices().await.unwrap().devices[0].last_seen, None, "never seen yet");
    let before = now_ms();
    let answer = owntracks(&s.app, &s.device.id, &s.device.secret, &body.to_string()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let seen = s.alice.devices().await.unwrap().devices[0].last_seen.expect("seen now");
    assert!((before..=now_ms()).contains(&seen), "{before} <= {seen}");
    let topic = format!("owntracks/marauder/{}", s.bob_id);
    assert_eq!(
        answer.json(),
        json!([
            {"_type": "card", "name": "Bob", "tid": "BO", "topic": topic},
            {"_type": "location", "lat": 55.95, "lon": -3.19, "tst": T0 - 60, "tid": "BO", "topic": topic},
        ]),
        "Bob only: not Alice herself, not the stranger"
    );

    let expected = Fix {
        lat: 55.9486,
        lon: -3.1999,
        accuracy: Some(12.0),
        altitude: Some(48.0),
        speed: Some(5.0), // 18 km/h
        heading: Some(270.0),
        ts: T0 * 1000,
    };
    let live = s.next_location().await;
    assert_eq!((live.player.as_str(), live.name.as_str()), (s.alice_id.as_str(), "Alice"));
    assert_eq!(live.fix, expected);
    assert_eq!(s.snapshot().await, (3, Some(expected.clone())));
    assert_eq!(s.trail().await, std::slice::from_ref(&expected));

    // A point the phone kept while offline arrives late: in the trail, not the marker.
    let late = json!({"_type": "location", "lat": 55.9, "lon": -3.2, "tst": T0 - 300, "tid": "AP"});
    assert_eq!(owntracks(&s.app, &s.device.id, &s.device.secret, &late.to_string()).await.status, 200);
    assert_eq!(s.next_location().await.fix.ts, (T0 - 300) * 1000);
    assert_eq!(s.snapshot().await, (4, Some(expected.clone())));
    let trail: Vec<i64> = s.trail().await.iter().map(|f| f.ts).collect();
    assert_eq!(trail, [(T0 - 300) * 1000, T0 * 1000]);

    // Every other message type is accepted and changes nothing; so is an empty body.
    for other in [
        json!({"_type": "lwt", "tst": T0}),
        json!({"_type": "transition", "wtst": T0 - 9, "lat": 1.0, "lon": 2.0, "tst": T0, "acc": 10,
               "tid": "AP", "event": "enter", "desc": "Home", "t": "c"}),
        json!({"_type": "waypoint", "desc": "Home", "lat": 1.0, "lon": 2.0, "rad": 50, "tst": T0}),
        json!({"_type": "card", "name": "Alice", "face": "iVBORw0KGgo="}),
        json!({"_type": "status", "android": {"hib": 0}}),
    ] {
        let answer = owntracks(&s.app, &s.device.id, &s.device.secret, &other.to_string()).await;
        assert_eq!(answer.status, 200, "{other}");
        assert_eq!(answer.json().as_array().map(Vec::len), Some(2), "{other}");
    }
    assert_eq!(owntracks(&s.app, &s.device.id, &s.device.secret, "").await.status, 200);
    assert_eq!(s.snapshot().await.0, 4, "no event from the other types");
    assert_eq!(s.trail().await.len(), 2);
    s.stop().await;
}

#[tokio::test]
async fn owntracks_refuses_bad_or_unauthenticated_payloads_and_changes_nothing() {
    let s = Scene::new().await;
    let good = json!({"_type": "location", "lat": 55.9486, "lon": -3.1999, "tst": T0}).to_string();
    let (id, secret) = (s.device.id.as_str(), s.device.secret.as_str());
    let other = s.bob.create_device("Bob's phone").await.unwrap();
    let unauthenticated = [
        (id, "wrong"),
        (id, other.secret.as_str()),
        (other.id.as_str(), secret),
        ("", ""),
        (s.alice_id.as_str(), secret),
    ];
    for (user, password) in unauthenticated {
        let answer = owntracks(&s.app, user, password, &good).await;
        assert_eq!(answer.error(), (401, "unauthorized".into()), "{user}:{password}");
        assert_eq!(answer.challenge.as_deref(), Some(r#"Basic realm="Marauder", charset="UTF-8""#));
    }
    assert_eq!(
        s.alice.devices().await.unwrap().devices[0].last_seen,
        None,
        "a failed login is not a sighting"
    );
    let no_auth =
        send(reqwest::Client::new().post(format!("{}/api/v1/owntracks", s.app.base)).body(good.clone()))
            .await;
    assert_eq!(no_auth.error(), (401, "unauthorized".into()));

    let bad = [
        "{nope",
        "[]",
        r#"{"lat": 1, "lon": 2, "tst": 1}"#,
        r#"{"_type": "location", "lon": 2, "tst": 1}"#,
        r#"{"_type": "location", "lat": "55.9", "lon": 2, "tst": 1}"#,
        r#"{"_type": "location", "lat": 91, "lon": 2, "tst": 1}"#,
        r#"{"_type": "location", "lat": 1, "lon": 181, "tst": 1}"#,
        r#"{"_type": "location", "lat": 1, "lon": 2, "tst": 1e300}"#,
        r#"{"_type": "location", "lat": 1, "lon": 2, "cog": 361}"#,
        r#"{"_type": "encrypted", "data": "c2VjcmV0"}"#,
    ];
    for body in bad {
        let answer = owntracks(&s.app, id, secret, body).await;
        assert_eq!(answer.error(), (400, "bad_request".into()), "{body}");
    }
    // The Bearer token of the player is not a device credential.
    let token = s.alice.token().unwrap().to_owned();
    let bearer = reqwest::Client::new()
        .post(format!("{}/api/v1/owntracks", s.app.base))
        .bearer_auth(&token)
        .body(good.clone());
    assert_eq!(send(bearer).await.error(), (401, "unauthorized".into()));

    assert_eq!(s.snapshot().await, (1, None), "no event, no location");
    assert!(s.trail().await.is_empty());

    // A revoked device, and the devices of a deleted player, open nothing.
    s.alice.delete_device(id).await.unwrap();
    assert_eq!(owntracks(&s.app, id, secret, &good).await.status, 401);
    s.bob.delete_me().await.unwrap();
    assert_eq!(owntracks(&s.app, &other.id, &other.secret, &good).await.status, 401);
    assert!(s.trail_of_nobody_changed().await);
    s.stop().await;
}

impl Scene {
    /// Alice's trail is still empty (read by Alice, as Bob is gone).
    async fn trail_of_nobody_changed(&self) -> bool {
        self.alice.trail(&self.map, &self.alice_id, None, None).await.unwrap().points.is_empty()
    }
}

#[tokio::test]
async fn osmand_get_and_form_posts_are_read_as_traccar_reads_them() {
    let mut s = Scene::new().await;
    // OsmAnd's online tracking URL, placeholders filled in (speed in knots, as Traccar reads it).
    let query = format!(
        "id={}&lat=55.9486&lon=-3.1999&timestamp={T0}&hdop=0.9&altitude=48.5&speed=10&bearing=90&batt=83",
        s.identifier()
    );
    let answer = osmand_get(&s.app, &query).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, ""));
    let first = s.next_location().await.fix;
    assert_eq!((first.lat, first.lon, first.ts), (55.9486, -3.1999, T0 * 1000));
    assert!(approx(first.speed, 10.0 * 1852.0 / 3600.0), "{:?}", first.speed);
    assert_eq!((first.heading, first.altitude, first.accuracy), (Some(90.0), Some(48.5), None));

    // An older Traccar Client: a form POST, `location=lat,lon`, milliseconds.
    let form = format!(
        "id={}&timestamp={}&location=55.95%2C-3.19&speed=0.0&bearing=360&altitude=50&accuracy=8&batt=82.0&charge=false",
        s.identifier(),
        (T0 + 30) * 1000
    );
    let answer = osmand_post(&s.app, "", "application/x-www-form-urlencoded", &form).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let second = s.next_location().await.fix;
    let expected = Fix {
        lat: 55.95,
        lon: -3.19,
        accuracy: Some(8.0),
        altitude: Some(50.0),
        speed: Some(0.0),
        heading: Some(0.0),
        ts: (T0 + 30) * 1000,
    };
    assert_eq!(second, expected);

    // The id alone, the secret in the configured URL's `key`; an ISO-8601 time; OsmAnd's
    // own m/s speed under the name docs/phones.md gives it.
    let answer = osmand_get(
        &s.app,
        &format!(
            "id={}&key={}&lat=55.96&lon=-3.18&timestamp=2025-11-26T00:01:00Z&speed_mps=1.5",
            s.device.id, s.device.secret
        ),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let third = s.next_location().await.fix;
    assert_eq!((third.lat, third.lon, third.ts, third.speed), (55.96, -3.18, (T0 + 60) * 1000, Some(1.5)));

    let trail: Vec<i64> = s.trail().await.iter().map(|f| f.ts).collect();
    assert_eq!(trail, [T0 * 1000, (T0 + 30) * 1000, (T0 + 60) * 1000]);
    assert_eq!(s.snapshot().await.0, 4);
    s.stop().await;
}

#[tokio::test]
async fn traccar_client_json_is_read_in_metres_per_second_with_unknowns_dropped() {
    let mut s = Scene::new().await;
    // Traccar Client 9's body: its location template, plus device_id from its params.
    let body = json!({
        "location": {
            "timestamp": "2025-11-26T00:00:00.000Z",
            "coords": {"latitude": 55.9486, "longitude": -3.1999, "accuracy": 4.8, "speed": 1.4,
                       "heading": -1, "altitude": 48.2},
            "is_moving": true, "odometer": 1203.5, "event": "motionchange",
            "battery": {"level": 0.83, "is_charging": false},
            "activity": {"type": "walking"}, "extras": {},
            "_": format!("&id={}&lat=55.9486&lon=-3.1999&timestamp=2025-11-26T00:00:00.000Z&", s.identifier())
        },
        "device_id": s.identifier()
    });
    let answer = osmand_post(&s.app, "", "application/json", &body.to_string()).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, ""));
    let expected = Fix {
        lat: 55.9486,
        lon: -3.1999,
        accuracy: Some(4.8),
        altitude: Some(48.2),
        speed: Some(1.4),
        heading: None,
        ts: T0 * 1000,
    };
    assert_eq!(s.next_location().await.fix, expected);

    // A buffered batch, the secret in the URL's `key`: every point in order.
    let batch = json!({
        "device_id": s.device.id,
        "location": [
            {"timestamp": "2025-11-26T00:00:10.000Z", "coords": {"latitude": 55.95, "longitude": -3.19, "speed": -1, "heading": 45}},
            {"timestamp": "2025-11-26T00:00:20.000Z", "coords": {"latitude": 55.96, "longitude": -3.18}}
        ]
    });
    let answer =
        osmand_post(&s.app, &format!("?key={}", s.device.secret), "application/json", &batch.to_string())
            .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let events = recv_events(&mut s.live, &s.map, 2).await;
    assert_consecutive(&events, 3);
    let fixes: Vec<(f64, Option<f64>, Option<f64>, i64)> = events
        .iter()
        .map(|e| match &e.body {
            EventBody::Location(l) => (l.fix.lat, l.fix.speed, l.fix.heading, l.fix.ts),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(fixes, [(55.95, None, Some(45.0), (T0 + 10) * 1000), (55.96, None, None, (T0 + 20) * 1000)]);
    assert_eq!(s.trail().await.len(), 3);
    s.stop().await;
}

#[tokio::test]
async fn osmand_refuses_bad_or_unauthenticated_reports_and_changes_nothing() {
    let s = Scene::new().await;
    let point = "lat=55.9486&lon=-3.1999";
    let id = s.identifier();
    let unauthenticated = [
        point.to_owned(),
        format!("id={}&{point}", s.device.id),
        format!("id={}&{point}", s.alice_id),
        format!("id={}.wrong&{point}", s.device.id),
        format!("id={}&key={}&{point}", s.device.id, "a".repeat(26)),
        format!("deviceid={}x&{point}", id),
    ];
    for query in &unauthenticated {
        let answer = osmand_get(&s.app, query).await;
        assert_eq!(answer.error(), (401, "unauthorized".into()), "{query}");
        assert_eq!(answer.challenge, None, "no browser prompt");
    }
    let bad = [
        format!("id={id}&lon=-3.1999"),
        format!("id={id}&lat=55.9486"),
        format!("id={id}&lat=north&lon=-3.1999"),
        format!("id={id}&lat=95&lon=-3.1999"),
        format!("id={id}&lat=NaN&lon=-3.1999"),
        format!("id={id}&location=55.9486"),
        format!("id={id}&{point}&timestamp=yesterday"),
        format!("id={id}&{point}&bearing=400"),
        format!("id={id}&{point}&speed=fast"),
        format!("id={id}&{point}&accuracy=%FF"),
    ];
    for query in &bad {
        let answer = osmand_get(&s.app, query).await;
        assert_eq!(answer.error(), (400, "bad_request".into()), "{query}");
    }
    let bad_json = [
        "{nope".to_owned(),
        json!({"device_id": id}).to_string(),
        json!({"device_id": id, "location": {"coords": {"latitude": 1}}}).to_string(),
        json!({"device_id": id, "location": {"coords": {"latitude": 1, "longitude": 2}, "timestamp": "soon"}}).to_string(),
        json!({"device_id": id, "location": [{"coords": {"latitude": 1, "longitude": 2}}, {"coords": {"latitude": 91, "longitude": 2}}]}).to_string(),
    ];
    for body in &bad_json {
        let answer = osmand_post(&s.app, "", "application/json", body).await;
        assert_eq!(answer.error(), (400, "bad_request".into()), "{body}");
    }
    let unknown = json!({"device_id": s.device.id, "location": {"coords": {"latitude": 1, "longitude": 2}}});
    let answer = osmand_post(&s.app, "", "application/json", &unknown.to_string()).await;
    assert_eq!(answer.error(), (401, "unauthorized".into()));

    // Nothing reached the map: not even the good first point of the batch with a bad second.
    assert_eq!(s.snapshot().await, (1, None));
    assert!(s.trail().await.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn simulated_walkers_walk_plausible_paths_and_report_through_each_protocol() {
    use marauder::simulate::{SimulateArgs, Via, run};
    use tokio_util::sync::CancellationToken;

    let app = TestApp::spawn().await;
    let (observer, o) = app.player("Observer").await;
    let map = observer.create_map("Meadows", None).await.unwrap().id;
    let centre = (55.9415, -3.1920);
    for via in [Via::Rest, Via::Owntracks, Via::Osmand] {
        let args = SimulateArgs {
            url: app.base.clone(),
            players: 2,
            map: "Meadows".into(),
            lat: centre.0,
            lon: centre.1,
            radius: 100.0,
            interval: 0.05,
            steps: Some(4),
            via,
            keep: true,
        };
        let walked = run(&args, CancellationToken::new()).await.unwrap();
        assert_eq!((walked.accepted, walked.refused), (8, 0), "{via:?}: every report accepted");
    }
    let members = observer.map(&map).await.unwrap().members;
    assert_eq!(members.len(), 7, "the observer and six walkers joined the existing map");
    let snapshot = observer.locations(&map).await.unwrap();
    assert_eq!(snapshot.locations.len(), 6);
    let metres = |a: &Fix, b: (f64, f64)| {
        let north = (a.lat - b.0) * 111_320.0;
        let east = (a.lon - b.1) * 111_320.0 * b.0.to_radians().cos();
        north.hypot(east)
    };
    for walker in members.iter().filter(|m| m.id != o.id) {
        let points = observer.trail(&map, &walker.id, None, None).await.unwrap().points;
        assert_eq!(points.len(), 4, "{}", walker.name);
        for pair in points.windows(2) {
            assert!(pair[0].ts <= pair[1].ts);
            // 0.05 s of walking at most 1.7 m/s (plus the rounding of the apps' units).
            assert!(metres(&pair[1], (pair[0].lat, pair[0].lon)) < 0.1, "{pair:?}");
        }
        for point in &points {
            assert!(metres(point, centre) < 125.0, "{point:?}");
            assert!(point.speed.is_some_and(|s| (0.0..=1.71).contains(&s)), "{point:?}");
        }
    }

    // Without --keep they leave when they stop.
    let args = SimulateArgs {
        url: app.base.clone(),
        players: 3,
        map: "Meadows".into(),
        lat: centre.0,
        lon: centre.1,
        radius: 100.0,
        interval: 0.05,
        steps: Some(1),
        via: Via::Rest,
        keep: false,
    };
    assert_eq!(run(&args, CancellationToken::new()).await.unwrap().accepted, 3);
    assert_eq!(observer.map(&map).await.unwrap().members.len(), 7);
    app.stop().await;
}
