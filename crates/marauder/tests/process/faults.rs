//! Faults under the backends, seen from outside the binary: a full disk answers 503 and the
//! embedded store recovers by itself once space is back (no restart), with `/readyz` telling
//! the truth throughout; on Redis, `/readyz` follows Redis going away and coming back.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use marauder::process::{RedisProcess, ServerProcess};
use marauder_client::Client;
use marauder_client::protocol::PlayerCreated;

use crate::helpers::{PATIENCE, loc_at};

/// A tmpfs of a few MiB on a fresh directory, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` when this process may not mount (not root, or no such capability).
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status();
        matches!(status, Ok(s) if s.success()).then_some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("--lazy").arg(self.dir.path()).status();
    }
}

/// Writes a file until the filesystem is full, down to the last byte.
fn fill(path: &Path) {
    let mut file = File::create(path).unwrap();
    for chunk in [64 * 1024, 4096, 1] {
        let bytes = vec![0xa5u8; chunk];
        loop {
            match file.write_all(&bytes) {
                Ok(()) => {}
                Err(err) if err.kind() == ErrorKind::StorageFull => break,
                Err(err) => panic!("filling the disk: {err}"),
            }
        }
    }
}

/// `GET /readyz`: the status and, on a 503, the error's code and message.
async fn readyz(client: &Client) -> (u16, serde_json::Value) {
    let response = client.raw("GET", "/readyz", None).await.unwrap();
    (response.status, response.json())
}

/// Polls `/readyz` until it answers `status`; fails after [`PATIENCE`].
async fn await_readyz(client: &Client, status: u16) -> serde_json::Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (now, body) = readyz(client).await;
        if now == status {
            return body;
        }
        assert!(Instant::now() < deadline, "/readyz still {now} {body} after {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn start(data_dir: &Path, extra: &[&str]) -> (ServerProcess, Client) {
    let extra: Vec<_> = extra.iter().map(Into::into).collect();
    let server = ServerProcess::start(Path::new(env!("CARGO_BIN_EXE_marauder")), data_dir, &extra).unwrap();
    let client = Client::new(&server.url);
    (server, client)
}

#[tokio::test]
async fn a_full_disk_answers_503_and_the_store_recovers_when_space_is_back_without_a_restart() {
    let Some(disk) = SmallDisk::mount("4m") else {
        eprintln!("SKIPPED a_full_disk_...: cannot mount a tmpfs here (needs root); nothing was tested");
        return;
    };
    let data = disk.path().join("data");
    let (server, anon) = start(&data, &[]);
    let harry = anon.create_player("Harry").await.unwrap();
    let h = anon.with_token(&harry.token);
    let map = h.create_map("Hogwarts", None).await.unwrap();
    h.post_location(&loc_at(1.0, 1.0, 1)).await.unwrap();
    assert_eq!(readyz(&anon).await, (200, serde_json::json!({"status": "ready"})));

    let filler = disk.path().join("filler");
    fill(&filler);
    // Writes succeed while redb finds room in pages it wrote before; the first that needs a
    // new page fails, and from then on the store is not ready.
    let mut acknowledged: Vec<PlayerCreated> = Vec::new();
    let reason = loop {
        assert!(acknowledged.len() < 20_000, "no write failed on a full disk");
        match anon.create_player(&format!("Filler {}", acknowledged.len())).await {
            Ok(player) => acknowledged.push(player),
            Err(err) => {
                assert_eq!(err.status(), Some(503), "{err:?}");
                assert_eq!(err.code(), Some(marauder_client::protocol::ErrorCode::Unavailable));
                let (status, body) = readyz(&anon).await;
                if status == 503 {
                    break body;
                }
            }
        }
    };
    assert_eq!(reason["error"]["code"], "unavailable", "{reason}");
    assert_eq!(reason["error"]["message"], "store: disk full, retrying", "{reason}");

    // Refused whole while the fault lasts: a map is not created.
    let refused = h.create_map("Refused", None).await.unwrap_err();
    assert_eq!(refused.status(), Some(503), "{refused:?}");
    // A location is still taken: it waits in memory for the store to recover.
    h.post_location(&loc_at(2.0, 2.0, 2)).await.unwrap();
    assert_eq!(readyz(&anon).await.0, 503, "still full");

    std::fs::remove_file(&filler).unwrap();
    await_readyz(&anon, 200).await;
    let ginny = anon.create_player("Ginny").await.unwrap();
    acknowledged.push(ginny);

    // Everything acknowledged is there, and durable: the same after a restart.
    let check = async |anon: &Client| {
        for player in &acknowledged {
            assert_eq!(anon.with_token(&player.token).me().await.unwrap().name, player.name);
        }
        let h = anon.with_token(&harry.token);
        let names: Vec<String> = h.me().await.unwrap().maps.into_iter().map(|m| m.name).collect();
        assert_eq!(names, ["Hogwarts"], "the refused map was not created");
        let trail = h.trail(&map.id, &harry.id, None, None).await.unwrap();
        assert_eq!(trail.points.iter().map(|p| p.ts).collect::<Vec<_>>(), [1, 2]);
    };
    check(&anon).await;
    assert!(server.stop().unwrap().success());
    let (server, anon) = start(&data, &[]);
    check(&anon).await;
    assert!(server.stop().unwrap().success());
}

#[tokio::test]
async fn readyz_on_redis_follows_redis_going_away_and_coming_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = RedisProcess::start(&dir.path().join("redis"), &[]).unwrap();
    let (server, anon) = start(&dir.path().join("data"), &["--redis", &redis.url()]);
    assert_eq!(readyz(&anon).await, (200, serde_json::json!({"status": "ready"})));

    redis.kill();
    let body = await_readyz(&anon, 503).await;
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("redis unreachable ("), "{body}");

    redis.restart().unwrap();
    assert_eq!(await_readyz(&anon, 200).await, serde_json::json!({"status": "ready"}));
    anon.create_player("Luna").await.unwrap();
    assert!(server.stop().unwrap().success());
}
