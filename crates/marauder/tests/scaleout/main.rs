//! Many handler processes on one Redis: events cross handlers in seq order, a killed
//! handler's clients resume elsewhere with no gap and no duplicate, a Redis crash is
//! survived, and nginx in front of the handlers (with `deploy/nginx.conf`) works end to end.
//! Each test starts its own redis-server (AOF, fsync on every write) and handlers.

mod failover;
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use helpers::{PATIENCE, assert_consecutive, loc_at, recv_events, subscribe};
use marauder::process::{RedisCluster, RedisProcess, ServerProcess, free_port, program};
use marauder_client::protocol::{ErrorCode, Event, EventBody, ServerMessage, Visibility};
use marauder_client::{Client, Incoming, Live};
use nix::sys::signal::Signal;

/// `count` handlers on the Redis at `url`.
fn handlers(count: usize, url: &str, dir: &Path) -> Vec<ServerProcess> {
    handlers_with(count, &["--redis", url], dir)
}

/// `count` handlers started with `args`.
fn handlers_with(count: usize, args: &[&str], dir: &Path) -> Vec<ServerProcess> {
    let exe = Path::new(env!("CARGO_BIN_EXE_marauder"));
    let extra: Vec<OsString> = args.iter().map(OsString::from).collect();
    (0..count).map(|_| ServerProcess::start(exe, dir, &extra).expect("a handler")).collect()
}

/// The location events of `events`, as (sender, ts).
fn locations(events: &[Event]) -> Vec<(String, i64)> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Location(l) => Some((l.player.clone(), l.fix.ts)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_posted_on_two_handlers_reach_a_subscriber_on_a_third_in_seq_order() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisProcess::start(&dir.path().join("redis"), &[]).unwrap();
    let servers = handlers(3, &redis.url(), dir.path());
    across_handlers(&servers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_three_master_cluster_updates_cross_handlers_in_seq_order() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = RedisCluster::start(&dir.path().join("cluster"), 3, &[]).unwrap();
    let servers = handlers_with(3, &["--redis", &cluster.urls(), "--redis-cluster"], dir.path());
    across_handlers(&servers).await;
}

/// Eight senders post on handlers 2 and 3; a subscriber on handler 1 gets every update once,
/// with consecutive seqs, each sender's in order.
async fn across_handlers(servers: &[ServerProcess]) {
    let on = |i: usize| Client::new(&servers[i].url);
    let owner = on(0).create_player("Dumbledore").await.unwrap();
    let dumbledore = on(0).with_token(&owner.token);
    let map = dumbledore.create_map("Hogwarts", None).await.unwrap();
    let mut senders = Vec::new();
    for i in 0..8 {
        let handler = on(1 + i % 2); // Handlers 2 and 3, alternately.
        let player = handler.create_player(&format!("Student {i}")).await.unwrap();
        let client = handler.with_token(&player.token);
        client.join(&map.id, None).await.unwrap();
        senders.push((player.id, client));
    }
    let mut live = dumbledore.connect().await.unwrap();
    let start = subscribe(&mut live, &map.id).await;

    const UPDATES: i64 = 25;
    let posting = senders.iter().map(|(_, client)| async move {
        for ts in 1..=UPDATES {
            client.post_location(&loc_at(ts as f64 / 100.0, 0.0, ts)).await.unwrap();
        }
    });
    futures_util::future::join_all(posting).await;

    let events = recv_events(&mut live, &map.id, senders.len() * UPDATES as usize).await;
    assert_consecutive(&events, start + 1);
    let received = locations(&events);
    for (id, _) in &senders {
        let from: Vec<i64> = received.iter().filter(|(p, _)| p == id).map(|(_, ts)| *ts).collect();
        assert_eq!(from, (1..=UPDATES).collect::<Vec<_>>(), "each sender's updates, in order");
    }
    assert_eq!(dumbledore.locations(&map.id).await.unwrap().seq, start + 200);
}

/// A subscriber that follows `map` from `since`, reconnecting to `fallback` when its
/// connection drops, until it has seen seq `until`; answers every event it saw.
async fn follow(mut live: Live, map: &str, mut since: u64, until: u64, fallback: Client) -> Vec<Event> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while since < until {
        assert!(Instant::now() < deadline, "stuck at seq {since} of {until}");
        let next = tokio::time::timeout(PATIENCE, live.next()).await.expect("a message or a drop");
        match next {
            Ok(Incoming::Message(ServerMessage::Events { events, .. })) => {
                since = events.last().map_or(since, |e| e.seq);
                seen.extend(events);
            }
            Ok(Incoming::Message(other)) => panic!("expected events, got {other:?}"),
            Ok(Incoming::Closed(_)) | Err(_) => {
                // The handler is gone: resume on another from the last seq seen.
                live = fallback.connect().await.unwrap();
                live.subscribe(map, Some(since)).await.unwrap();
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_of_a_killed_handler_resume_on_another_with_no_gap_and_no_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisProcess::start(&dir.path().join("redis"), &[]).unwrap();
    let mut servers = handlers(3, &redis.url(), dir.path());
    let on = |i: usize| Client::new(&servers[i].url);
    let owner = on(1).create_player("Dumbledore").await.unwrap();
    let map = on(1).with_token(&owner.token).create_map("Hogwarts", None).await.unwrap();
    let mut senders = Vec::new();
    for i in 0..4 {
        let handler = on(1 + i % 2);
        let player = handler.create_player(&format!("Student {i}")).await.unwrap();
        let client = handler.with_token(&player.token);
        client.join(&map.id, None).await.unwrap();
        senders.push(client);
    }
    // Three subscribers on handler 1, the one that will be killed.
    let mut followers = Vec::new();
    let mut start = 0;
    for i in 0..3 {
        let player = on(0).create_player(&format!("Watcher {i}")).await.unwrap();
        let watcher = on(0).with_token(&player.token);
        watcher.join(&map.id, None).await.unwrap();
        let mut live = watcher.connect().await.unwrap();
        start = subscribe(&mut live, &map.id).await;
        followers.push((live, on(2).with_token(&player.token)));
    }
    // Joins after the first subscription are part of what the first watchers see.
    let first = start - 2;

    const UPDATES: i64 = 60;
    let posting = tokio::spawn(async move {
        let each = senders.iter().map(|client| async move {
            for ts in 1..=UPDATES {
                client.post_location(&loc_at(0.0, ts as f64 / 100.0, ts)).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        futures_util::future::join_all(each).await;
    });
    let until = start + 4 * UPDATES as u64;
    let mut following = Vec::new();
    for (i, (live, fallback)) in followers.into_iter().enumerate() {
        let map = map.id.clone();
        let since = first + i as u64;
        following.push(tokio::spawn(async move { follow(live, &map, since, until, fallback).await }));
    }
    // Kill handler 1 once the updates are flowing.
    let watch = on(2).with_token(&owner.token);
    while watch.locations(&map.id).await.unwrap().seq < start + 20 {
        tokio::task::yield_now().await;
    }
    servers[0].signal(Signal::SIGKILL).unwrap();
    assert!(!servers[0].wait(PATIENCE).unwrap().success());

    posting.await.unwrap();
    for (i, follower) in following.into_iter().enumerate() {
        let seen = follower.await.unwrap();
        let since = first + i as u64;
        assert_eq!(seen.len() as u64, until - since, "watcher {i}: every event once");
        assert_consecutive(&seen, since + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_a_rename_and_a_deletion_on_one_handler_reach_sockets_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisProcess::start(&dir.path().join("redis"), &[]).unwrap();
    notices_across_handlers(&handlers(2, &redis.url(), dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_a_revocation_a_rename_and_a_deletion_reach_every_handler() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = RedisCluster::start(&dir.path().join("cluster"), 3, &[]).unwrap();
    notices_across_handlers(&handlers_with(2, &["--redis", &cluster.urls(), "--redis-cluster"], dir.path()))
        .await;
}

/// Ron has a laptop and a phone session; both have a WebSocket on handler 2, while every
/// request that changes Ron goes to handler 1.
async fn notices_across_handlers(servers: &[ServerProcess]) {
    let (one, two) = (Client::new(&servers[0].url), Client::new(&servers[1].url));
    let ron = one.create_player("Ron").await.unwrap();
    let laptop = one.with_token(&ron.token);
    let code = laptop.create_link_code().await.unwrap();
    let phone = two.redeem_link_code(&code.code).await.unwrap();
    assert_eq!(phone.id, ron.id);
    let map = laptop.create_map("Burrow", None).await.unwrap();
    let hermione = one.create_player("Hermione").await.unwrap();
    let observer = one.with_token(&hermione.token);
    observer.join(&map.id, None).await.unwrap();
    let mut watching = observer.connect().await.unwrap();
    let mut seq = subscribe(&mut watching, &map.id).await;
    let mut phone_live = two.with_token(&phone.token).connect().await.unwrap();
    let mut laptop_live = two.with_token(&ron.token).connect().await.unwrap();

    // The rename is taken on handler 1; the phone's socket on handler 2 follows no map, so
    // only the notice can tell it. Push until a location shows the new name (each round
    // waits for the observer's event); never the old name after it.
    laptop.rename("Ronald").await.unwrap();
    let renamed = recv_events(&mut watching, &map.id, 1).await;
    assert!(matches!(&renamed[0].body, EventBody::Renamed { name, .. } if name == "Ronald"), "{renamed:?}");
    seq += 1;
    let mut names = Vec::new();
    for ts in 1..=50 {
        phone_live.push_location(&loc_at(1.0, 1.0, ts)).await.unwrap();
        let event = recv_events(&mut watching, &map.id, 1).await.remove(0);
        seq += 1;
        assert_eq!(event.seq, seq);
        match event.body {
            EventBody::Location(l) => names.push(l.name),
            other => panic!("expected a location, got {other:?}"),
        }
        if names.last().is_some_and(|n| n == "Ronald") {
            break;
        }
    }
    assert_eq!(names.last().map(String::as_str), Some("Ronald"), "the phone's socket never took the name");

    // Revoking the phone on handler 1 closes the phone's socket on handler 2, not the laptop's.
    let sessions = laptop.sessions().await.unwrap().sessions;
    let phone_session = sessions.iter().find(|s| !s.current).unwrap();
    laptop.revoke_session(&phone_session.id).await.unwrap();
    assert_eq!(helpers::recv_close(&mut phone_live).await, Some(4001));
    assert_eq!(subscribe(&mut laptop_live, &map.id).await, seq, "the laptop's socket stays open");

    // Deleting Ron on handler 1 closes the laptop's socket on handler 2 (1008).
    laptop.delete_me().await.unwrap();
    loop {
        match tokio::time::timeout(PATIENCE, laptop_live.next()).await.expect("a close") {
            Ok(Incoming::Closed(code)) => {
                assert_eq!(code, Some(1008));
                break;
            }
            Ok(Incoming::Message(_)) => {} // Ron's own `left` and what follows it.
            Err(err) => panic!("{err}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_crash_answers_503_keeps_websockets_open_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = RedisProcess::start(&dir.path().join("redis"), &[]).unwrap();
    let servers = handlers(2, &redis.url(), dir.path());
    let (a, b) = (Client::new(&servers[0].url), Client::new(&servers[1].url));
    let harry = a.create_player("Harry").await.unwrap();
    let ron = b.create_player("Ron").await.unwrap();
    let (h, r) = (a.with_token(&harry.token), b.with_token(&ron.token));
    let map = h.create_map("Room of Requirement", Some(Visibility::Private)).await.unwrap();
    r.join(&map.id, map.invite_code.as_deref()).await.unwrap();
    let mut live = h.connect().await.unwrap();
    let start = subscribe(&mut live, &map.id).await;
    for ts in 1..=5 {
        r.post_location(&loc_at(1.0, 1.0, ts)).await.unwrap();
    }
    let mut seen = recv_events(&mut live, &map.id, 5).await;

    redis.kill();
    let unavailable = |err: marauder_client::Error| {
        assert_eq!((err.status(), err.code()), (Some(503), Some(ErrorCode::Unavailable)), "{err}");
    };
    unavailable(r.post_location(&loc_at(2.0, 2.0, 6)).await.unwrap_err());
    unavailable(a.create_player("Hermione").await.unwrap_err());
    unavailable(h.map(&map.id).await.unwrap_err());
    // The WebSocket stays open and answers a location it cannot store.
    live.push_location(&loc_at(3.0, 3.0, 7)).await.unwrap();
    match helpers::recv(&mut live).await {
        ServerMessage::Error { code: ErrorCode::Unavailable, .. } => {}
        other => panic!("expected an unavailable error, got {other:?}"),
    }

    redis.restart().unwrap();
    // The handlers reconnect by themselves: retry until Ron's handler takes a location.
    let deadline = Instant::now() + PATIENCE;
    let mut ts = 8;
    while let Err(err) = r.post_location(&loc_at(4.0, 4.0, ts)).await {
        assert_eq!(err.status(), Some(503), "{err}");
        assert!(Instant::now() < deadline, "handlers did not recover: {err}");
        ts += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for n in 1..=5 {
        r.post_location(&loc_at(5.0, 5.0, ts + n)).await.unwrap();
    }
    seen.extend(recv_events(&mut live, &map.id, 6).await);
    assert_consecutive(&seen, start + 1);
    let last = locations(&seen).last().cloned().unwrap();
    assert_eq!(last, (ron.id.clone(), ts + 5));
    assert_eq!(h.locations(&map.id).await.unwrap().seq, start + 11, "no event was lost or invented");

    // Everything acknowledged before the crash is still there (AOF, fsync on every write).
    assert_eq!(r.me().await.unwrap().maps.len(), 1);
    let members: Vec<String> = h.map(&map.id).await.unwrap().members.into_iter().map(|m| m.name).collect();
    assert_eq!(members.len(), 2, "{members:?}");
    assert_eq!(r.trail(&map.id, &ron.id, None, None).await.unwrap().points.len(), 11);
}

/// nginx running `deploy/nginx.conf`, pointed at `upstreams`, on a free port.
struct Nginx {
    child: std::process::Child,
    url: String,
}

impl Nginx {
    fn start(prefix: &Path, upstreams: &[&ServerProcess]) -> Nginx {
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/nginx.conf"))
                .expect("deploy/nginx.conf");
        let port = free_port();
        let servers: String = upstreams
            .iter()
            .map(|s| {
                format!("server {} max_fails=3 fail_timeout=10s;\n", s.url.trim_start_matches("http://"))
            })
            .collect();
        let mut config = String::new();
        let mut upstream_written = false;
        for line in template.lines() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("server 127.0.0.1:") {
                if !upstream_written {
                    config.push_str(&servers);
                    upstream_written = true;
                }
            } else if trimmed == "listen 8080;" {
                config.push_str(&format!("listen 127.0.0.1:{port};\n"));
            } else {
                config.push_str(line);
                config.push('\n');
            }
        }
        assert!(upstream_written, "deploy/nginx.conf lists its upstream servers as `server 127.0.0.1:...`");
        for sub in ["logs", "tmp"] {
            std::fs::create_dir_all(prefix.join(sub)).unwrap();
        }
        std::fs::write(prefix.join("nginx.conf"), config).unwrap();
        let child = std::process::Command::new(program("nginx", "nginx").unwrap())
            .arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(prefix.join("nginx.conf"))
            .args(["-e", "logs/error.log", "-g", "daemon off;"])
            .spawn()
            .expect("nginx");
        Nginx { child, url: format!("http://127.0.0.1:{port}") }
    }
}

impl Drop for Nginx {
    /// SIGTERM, so the master stops its workers too (a SIGKILL would leave them serving).
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_nginx_in_front_of_two_handlers_and_past_the_loss_of_one() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisProcess::start(&dir.path().join("redis"), &[]).unwrap();
    let mut servers = handlers(2, &redis.url(), dir.path());
    let nginx = Nginx::start(&dir.path().join("nginx"), &servers.iter().collect::<Vec<_>>());
    let anon = Client::new(&nginx.url);
    let deadline = Instant::now() + PATIENCE;
    while anon.public_maps().await.is_err() {
        assert!(Instant::now() < deadline, "nginx did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let harry = anon.create_player("Harry").await.unwrap();
    let ron = anon.create_player("Ron").await.unwrap();
    let (h, r) = (anon.with_token(&harry.token), anon.with_token(&ron.token));
    let map = h.create_map("Grimmauld Place", Some(Visibility::Private)).await.unwrap();
    r.join(&map.id, map.invite_code.as_deref()).await.unwrap();
    // WebSockets through nginx, one with the token in the query.
    let mut live = r.connect().await.unwrap();
    let start = subscribe(&mut live, &map.id).await;
    let mut other = h.connect_with_query_token().await.unwrap();
    subscribe(&mut other, &map.id).await;
    h.post_location(&loc_at(51.5, -0.1, 1)).await.unwrap();
    let event = recv_events(&mut live, &map.id, 1).await;
    assert_eq!(locations(&event), [(harry.id.clone(), 1)]);
    assert_eq!(locations(&recv_events(&mut other, &map.id, 1).await), [(harry.id.clone(), 1)]);

    // One handler dies: requests go to the other, and Ron resumes through nginx.
    servers[0].signal(Signal::SIGKILL).unwrap();
    servers[0].wait(PATIENCE).unwrap();
    for ts in 2..=6 {
        h.post_location(&loc_at(51.5, -0.1, ts)).await.unwrap();
    }
    assert_eq!(h.map(&map.id).await.unwrap().members.len(), 2);
    let seen = follow(live, &map.id, start + 1, start + 6, r.clone()).await;
    assert_consecutive(&seen, start + 2);
    assert_eq!(locations(&seen).iter().map(|(_, ts)| *ts).collect::<Vec<_>>(), [2, 3, 4, 5, 6]);
}
