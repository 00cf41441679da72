//! The per-address rate limits (the contract's "Limits and abuse"): failed guesses of a
//! secret, then 429 even for the right one; sign-ups and map creations; `--limits off`; and
//! whose address counts behind a proxy.

use std::time::Duration;

use marauder::{ServeConfig, Switch};
use marauder_client::protocol::{ErrorCode, Visibility};
use marauder_client::{Client, RawResponse};

use crate::helpers::*;

/// Limits on, with bursts small enough to exhaust in a test and a one-second refill.
fn limited(burst: u32) -> impl FnOnce(&mut ServeConfig) {
    move |config| {
        config.limits = Switch::On;
        config.guess_burst = burst;
        config.guess_refill_ms = 1_000;
        config.create_burst = burst;
        config.create_refill_ms = 1_000;
    }
}

/// A well-formed token nobody holds.
const UNKNOWN_TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// The `Retry-After` of a 429 with the contract's body: whole seconds, at least 1.
fn retry_after(response: &RawResponse) -> u64 {
    assert_eq!(response.status, 429, "{:?}", response.json());
    assert_eq!(response.error_code().as_deref(), Some("rate_limited"));
    let header = response.headers.get("retry-after").expect("Retry-After on a 429");
    let secs: u64 = header.to_str().unwrap().parse().expect("Retry-After in whole seconds");
    assert!(secs >= 1, "Retry-After {secs}");
    secs
}

async fn join_raw(client: &Client, map: &str, code: &str) -> RawResponse {
    let body = serde_json::to_vec(&serde_json::json!({ "invite_code": code })).unwrap();
    client.raw("POST", &format!("/api/v1/maps/{map}/join"), Some(("application/json", body))).await.unwrap()
}

#[tokio::test]
async fn wrong_invite_codes_past_the_burst_get_429_and_then_even_the_right_code_until_the_wait() {
    let app = TestApp::spawn_with(limited(3)).await;
    let (harry, _) = app.player("Harry").await;
    let map = harry.create_map("Room of Requirement", Some(Visibility::Private)).await.unwrap();
    let code = map.invite_code.clone().unwrap();
    let (ron, _) = app.player("Ron").await;
    for _ in 0..3 {
        assert_eq!(join_raw(&ron, &map.id, "not-the-code").await.status, 403);
    }
    let wait = retry_after(&join_raw(&ron, &map.id, &code).await);
    // Every token is a guess too: the address is refused whatever it presents.
    retry_after(&harry.raw("GET", &format!("/api/v1/maps/{}", map.id), None).await.unwrap());

    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(harry.map(&map.id).await.unwrap().members.len(), 1, "a refused join changed nothing");
    let joined = join_raw(&ron, &map.id, &code).await;
    assert_eq!(joined.status, 200, "{:?}", joined.json());
    assert_eq!(harry.map(&map.id).await.unwrap().members.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn unknown_tokens_get_401_then_429_on_rest_and_websocket_even_for_a_valid_token() {
    let app = TestApp::spawn_with(limited(3)).await;
    let (harry, _) = app.player("Harry").await;
    let stranger = app.client(UNKNOWN_TOKEN);
    assert_eq!(stranger.raw("GET", "/api/v1/players/me", None).await.unwrap().status, 401);
    assert_eq!(stranger.raw("POST", "/api/v1/locations", None).await.unwrap().status, 401);
    let upgrade = format!("/api/v1/ws?access_token={UNKNOWN_TOKEN}");
    assert_eq!(app.anon.raw("GET", &upgrade, None).await.unwrap().status, 401);

    retry_after(&app.anon.raw("GET", &upgrade, None).await.unwrap());
    retry_after(&stranger.raw("GET", "/api/v1/players/me", None).await.unwrap());
    retry_after(&harry.raw("GET", "/api/v1/players/me", None).await.unwrap());
    // No token at all is no guess: still the plain 401.
    assert_eq!(app.anon.raw("GET", "/api/v1/players/me", None).await.unwrap().status, 401);
    app.stop().await;
}

#[tokio::test]
async fn wrong_device_credentials_get_401_then_429_even_for_the_right_one() {
    let app = TestApp::spawn_with(limited(3)).await;
    let (harry, h) = app.player("Harry").await;
    let map = harry.create_map("Privet Drive", None).await.unwrap();
    let device = harry.create_device("Harry's phone").await.unwrap();
    let osmand = |secret: &str| format!("/api/v1/osmand?id={}.{secret}&lat=51.5&lon=-0.1", device.id);
    let wrong = "a".repeat(device.secret.len());
    for _ in 0..3 {
        assert_eq!(app.anon.raw("GET", &osmand(&wrong), None).await.unwrap().status, 401);
    }
    retry_after(&app.anon.raw("GET", &osmand(&device.secret), None).await.unwrap());
    let owntracks = app.anon.owntracks_location(&device.id, &device.secret, &loc(51.5, -0.1)).await;
    assert_eq!(owntracks.unwrap_err().code(), Some(ErrorCode::RateLimited));
    let wait = retry_after(&app.anon.raw("GET", &osmand(&device.secret), None).await.unwrap());
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let trail = harry.trail(&map.id, &h.id, None, None).await.unwrap();
    assert_eq!(trail.points.len(), 0, "no refused report was stored");
    app.stop().await;
}

#[tokio::test]
async fn sign_ups_and_map_creations_past_the_burst_get_429() {
    let app = TestApp::spawn_with(limited(3)).await;
    let mut players = Vec::new();
    for name in ["Fred", "George", "Ginny"] {
        players.push(app.player(name).await.0);
    }
    let body = || Some(("application/json", br#"{"name":"Percy"}"#.to_vec()));
    retry_after(&app.anon.raw("POST", "/api/v1/players", body()).await.unwrap());

    // Map creations have buckets of their own: the sign-ups spent none of them.
    for player in &players {
        player.create_map("The Burrow", None).await.unwrap();
    }
    let map = || Some(("application/json", br#"{"name":"Shell Cottage"}"#.to_vec()));
    retry_after(&players[0].raw("POST", "/api/v1/maps", map()).await.unwrap());
    assert_eq!(players[0].me().await.unwrap().maps.len(), 1, "the refused map was not made");
    app.stop().await;
}

#[tokio::test]
async fn with_limits_off_nothing_is_refused_however_many_failures() {
    // The default bursts (10 guesses, 30 sign-ups) would refuse these with limits on.
    let app = TestApp::spawn_with(|config| config.limits = Switch::Off).await;
    let stranger = app.client(UNKNOWN_TOKEN);
    for _ in 0..25 {
        assert_eq!(stranger.raw("GET", "/api/v1/players/me", None).await.unwrap().status, 401);
    }
    for n in 0..40 {
        app.player(&format!("Player {n}")).await;
    }
    app.stop().await;
}

async fn guess_from(app: &TestApp, forwarded_for: &str) -> u16 {
    let headers = [("authorization", "Bearer nobody"), ("x-forwarded-for", forwarded_for)];
    app.anon.raw_with_headers("GET", "/api/v1/players/me", &headers).await.unwrap().status
}

#[tokio::test]
async fn forwarded_for_is_ignored_from_a_peer_that_is_not_a_trusted_proxy() {
    let app = TestApp::spawn_with(limited(2)).await;
    assert_eq!(guess_from(&app, "198.51.100.1").await, 401);
    assert_eq!(guess_from(&app, "198.51.100.1").await, 401);
    // Another claimed client, the same peer: the same bucket.
    assert_eq!(guess_from(&app, "203.0.113.7").await, 429);
    app.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() {
    let app = TestApp::spawn_with(|config| {
        limited(2)(config);
        config.trust_proxy = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    assert_eq!(guess_from(&app, "198.51.100.1").await, 401);
    assert_eq!(guess_from(&app, "198.51.100.1").await, 401);
    assert_eq!(guess_from(&app, "198.51.100.1").await, 429);
    assert_eq!(guess_from(&app, "203.0.113.7").await, 401);
    // What the client wrote left of the proxy's entry is not believed.
    assert_eq!(guess_from(&app, "203.0.113.7, 198.51.100.1").await, 429);
    app.stop().await;
}
