//! The `marauder` binary as a process: SIGKILL loses nothing acknowledged, SIGTERM closes
//! every WebSocket with 1001 and exits 0.

mod faults;
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
mod memory;
mod metrics;

use std::path::Path;

use helpers::{PATIENCE, loc_at, recv, recv_close, subscribe};
use marauder::bench::{BenchArgs, Push};
use marauder::process::ServerProcess;
use marauder_client::Client;
use marauder_client::protocol::{ServerMessage, Visibility};
use nix::sys::signal::Signal;

/// The binary under test, on a free port.
fn start(data_dir: &Path) -> (ServerProcess, Client) {
    let server = ServerProcess::start(Path::new(env!("CARGO_BIN_EXE_marauder")), data_dir, &[]).unwrap();
    let client = Client::new(&server.url);
    (server, client)
}

#[tokio::test]
async fn sigkill_loses_no_acknowledged_player_map_membership_or_seq() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, anon) = start(dir.path());
    let harry = anon.create_player("Harry").await.unwrap();
    let ron = anon.create_player("Ron").await.unwrap();
    let (h, r) = (anon.with_token(&harry.token), anon.with_token(&ron.token));
    let public = h.create_map("Diagon Alley", None).await.unwrap();
    let private = h.create_map("Room of Requirement", Some(Visibility::Private)).await.unwrap();
    r.join(&private.id, private.invite_code.as_deref()).await.unwrap();
    for ts in 1..=20 {
        h.post_location(&loc_at(ts as f64, 0.0, ts)).await.unwrap();
    }
    // Acknowledged after the points: its commit carries every point queued before it.
    let hermione = anon.create_player("Hermione").await.unwrap();
    let seq_before = h.locations(&private.id).await.unwrap().seq;
    assert_eq!(seq_before, 21, "a join and twenty locations");

    server.signal(Signal::SIGKILL).unwrap();
    assert!(!server.wait(PATIENCE).unwrap().success());
    let (server, anon) = start(dir.path());
    let (h, r) = (anon.with_token(&harry.token), anon.with_token(&ron.token));

    assert_eq!(anon.with_token(&hermione.token).me().await.unwrap().name, "Hermione");
    let mut maps: Vec<String> = h.me().await.unwrap().maps.into_iter().map(|m| m.name).collect();
    maps.sort();
    assert_eq!(maps, ["Diagon Alley", "Room of Requirement"]);
    let detail = r.map(&private.id).await.unwrap();
    assert_eq!(detail.invite_code, private.invite_code);
    let mut members: Vec<String> = detail.members.into_iter().map(|m| m.name).collect();
    members.sort();
    assert_eq!(members, ["Harry", "Ron"]);
    assert_eq!(anon.public_maps().await.unwrap().maps.len(), 1);
    assert_eq!(anon.public_maps().await.unwrap().maps[0].id, public.id);
    let trail = r.trail(&private.id, &harry.id, None, None).await.unwrap();
    assert_eq!(trail.points.iter().map(|p| p.ts).collect::<Vec<_>>(), (1..=20).collect::<Vec<_>>());
    let snapshot = r.locations(&private.id).await.unwrap();
    assert_eq!(snapshot.locations.len(), 1, "latest locations are rebuilt from the trails");
    assert_eq!(snapshot.locations[0].fix.ts, 20);

    // The seq never goes back: a client that saw seq_before is reset, never fed a reused seq.
    let mut live = r.connect().await.unwrap();
    live.subscribe(&private.id, Some(seq_before)).await.unwrap();
    match recv(&mut live).await {
        ServerMessage::Snapshot { reset: Some(true), seq, .. } => assert!(seq >= seq_before),
        other => panic!("expected a reset snapshot, got {other:?}"),
    }
    h.post_location(&loc_at(0.0, 0.0, 21)).await.unwrap();
    let after = r.locations(&private.id).await.unwrap().seq;
    assert!(after > seq_before, "seq {after} after the crash must be above {seq_before}");
    assert!(server.stop().unwrap().success());
}

#[tokio::test]
async fn sigterm_closes_every_websocket_with_1001_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, anon) = start(dir.path());
    let harry = anon.create_player("Harry").await.unwrap();
    let h = anon.with_token(&harry.token);
    let map = h.create_map("Hogwarts", None).await.unwrap();
    h.post_location(&loc_at(1.0, 1.0, 1)).await.unwrap();
    let mut sockets = Vec::new();
    for _ in 0..3 {
        let mut live = h.connect().await.unwrap();
        assert_eq!(subscribe(&mut live, &map.id).await, 1);
        sockets.push(live);
    }

    server.signal(Signal::SIGTERM).unwrap();
    for live in &mut sockets {
        assert_eq!(recv_close(live).await, Some(1001));
    }
    let status = server.wait(PATIENCE).unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");

    // A clean stop keeps the exact seq: resuming from it needs no reset.
    let (server, anon) = start(dir.path());
    let h = anon.with_token(&harry.token);
    let mut live = h.connect().await.unwrap();
    live.subscribe(&map.id, Some(1)).await.unwrap();
    h.post_location(&loc_at(2.0, 2.0, 2)).await.unwrap();
    match recv(&mut live).await {
        ServerMessage::Events { events, .. } => assert_eq!(events[0].seq, 2),
        other => panic!("expected the next event, got {other:?}"),
    }
    assert!(server.stop().unwrap().success());
}

#[tokio::test]
async fn a_small_bench_delivers_everything_once_in_order_and_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start(dir.path());
    for (maps, push) in [(1, Push::Ws), (5, Push::Rest)] {
        let mut args = BenchArgs::small(Some(server.url.clone()), 50, 10, 0.05, maps);
        args.push = push;
        let report = marauder::bench::run(&args).await.unwrap();
        assert_eq!((report.n, report.m, report.k), (50, 10, maps));
        assert_eq!(report.expected, (50 * 50 / maps * 10) as u64);
        assert_eq!(report.deliveries, report.expected, "{}", report.table());
        assert_eq!((report.missing, report.duplicates, report.out_of_order, report.errors), (0, 0, 0, 0));
        assert!(report.consistent, "{}", report.table());
        assert!(!report.timed_out);
    }
    assert!(server.stop().unwrap().success());
}

#[tokio::test]
async fn marauder_simulate_walks_its_players_and_takes_them_away_when_done() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = start(dir.path());
    let status = tokio::process::Command::new(env!("CARGO_BIN_EXE_marauder"))
        .args(["simulate", "--url", &server.url, "--players", "3", "--map", "Quad", "--via", "osmand"])
        .args(["--steps", "3", "--interval", "0.05", "--lat", "-33.8568", "--lon", "151.2153"])
        .status()
        .await
        .unwrap();
    assert!(status.success(), "every report accepted");
    let maps = client.public_maps().await.unwrap().maps;
    let quad: Vec<(String, u64)> = maps.into_iter().map(|m| (m.name, m.members)).collect();
    assert!(quad.is_empty(), "they left the map they made, and it went with its last member: {quad:?}");
    assert!(server.stop().unwrap().success());
}
