//! Starting a real server on port 0 and driving it through the client library.

use std::sync::OnceLock;
use std::time::Duration;

use marauder::ServeConfig;
use marauder::process::{RedisCluster, RedisProcess};
use marauder_client::protocol::{Event, LocationInput, PlayerCreated, ServerMessage};
use marauder_client::{Client, Incoming, Live};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a test waits for a message it expects before it fails (a bound against hangs,
/// not a timing assertion).
pub const PATIENCE: Duration = Duration::from_secs(20);

pub struct TestApp {
    pub base: String,
    /// A client with no token.
    pub anon: Client,
    config: ServeConfig,
    shutdown: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
    dir: TempDir,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = ServeConfig::for_tests(dir.path().join("data"));
        configure(&mut config);
        if let Some(backend) = backend() {
            config.redis = backend.urls.clone();
            config.redis_cluster = backend.cluster;
            // Tests share the Redis of their run; each app sees only its own keys.
            config.redis_prefix = format!("test{}", fastrand::u64(..));
        }
        TestApp::start(config, dir).await
    }

    async fn start(config: ServeConfig, dir: TempDir) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(marauder::run(config.clone(), listener, shutdown.clone()));
        TestApp { anon: Client::new(&base), base, config, shutdown, handle, dir }
    }

    /// A new player and a client acting as it.
    pub async fn player(&self, name: &str) -> (Client, PlayerCreated) {
        let created = self.anon.create_player(name).await.expect("create player");
        (self.anon.with_token(&created.token), created)
    }

    /// Stops the server as SIGTERM would and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.expect("server task").expect("server run");
    }

    /// Stops the server gracefully and starts it again on the same data (on a new port).
    pub async fn restart(self) -> TestApp {
        let (config, dir) = (self.config.clone(), self.dir);
        self.shutdown.cancel();
        self.handle.await.expect("server task").expect("server run");
        TestApp::start(config, dir).await
    }

    /// Stops the server gracefully, runs `offline` with its config while no server holds the
    /// data (to write through a backend's `Store` what no request can), and starts it again
    /// on the same data (on a new port).
    /// The settings the server runs with.
    pub fn config(&self) -> &ServeConfig {
        &self.config
    }

    pub async fn restart_after<F: Future<Output = ()>>(
        self,
        offline: impl FnOnce(ServeConfig) -> F,
    ) -> TestApp {
        let (config, dir) = (self.config.clone(), self.dir);
        self.shutdown.cancel();
        self.handle.await.expect("server task").expect("server run");
        offline(config.clone()).await;
        TestApp::start(config, dir).await
    }

    /// A second handler on this one's Redis and key prefix, as behind a load balancer; `None`
    /// on the embedded backend, which serves from one handler.
    pub async fn beside(&self) -> Option<TestApp> {
        if self.config.redis.is_empty() {
            return None;
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = ServeConfig { data_dir: dir.path().join("data"), ..self.config.clone() };
        Some(TestApp::start(config, dir).await)
    }

    /// A client acting as the player with this token, on the current server.
    pub fn client(&self, token: &str) -> Client {
        self.anon.with_token(token)
    }
}

/// A Redis (or cluster) shared by every test of this run.
pub struct RedisBackend {
    pub urls: Vec<String>,
    pub cluster: bool,
}

/// The backend every test of this run uses, from `MARAUDER_TEST_BACKEND`: `embedded` (the
/// default), `redis` or `redis-cluster`, started once and killed when the run exits.
pub fn backend() -> Option<&'static RedisBackend> {
    static BACKEND: OnceLock<Option<RedisBackend>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let kind = std::env::var("MARAUDER_TEST_BACKEND").unwrap_or_default();
            let dir = Box::leak(Box::new(tempfile::tempdir().expect("a temporary directory")));
            // The durability of an fsync per write is tested elsewhere; here it would only
            // slow every write down.
            let fast = ["--appendfsync", "everysec"];
            match kind.as_str() {
                "" | "embedded" => None,
                "redis" => {
                    let redis =
                        Box::leak(Box::new(RedisProcess::start(dir.path(), &fast).expect("redis-server")));
                    Some(RedisBackend { urls: vec![redis.url()], cluster: false })
                }
                "redis-cluster" => {
                    let cluster =
                        Box::leak(Box::new(RedisCluster::start(dir.path(), 3, &fast).expect("a cluster")));
                    Some(RedisBackend {
                        urls: cluster.nodes.iter().map(|n| n.url()).collect(),
                        cluster: true,
                    })
                }
                other => panic!("MARAUDER_TEST_BACKEND={other}: expected embedded, redis or redis-cluster"),
            }
        })
        .as_ref()
}

pub fn loc(lat: f64, lon: f64) -> LocationInput {
    LocationInput { lat, lon, ..Default::default() }
}

pub fn loc_at(lat: f64, lon: f64, ts: i64) -> LocationInput {
    LocationInput { lat, lon, ts: Some(ts), ..Default::default() }
}

/// The next message; fails the test on a close or after [`PATIENCE`].
pub async fn recv(live: &mut Live) -> ServerMessage {
    recv_within(live, PATIENCE).await
}

/// The next message; fails the test on a close or after `patience`.
pub async fn recv_within(live: &mut Live, patience: Duration) -> ServerMessage {
    match tokio::time::timeout(patience, live.next()).await {
        Ok(Ok(Incoming::Message(message))) => message,
        Ok(Ok(Incoming::Closed(code))) => {
            panic!("closed with {code:?} while a message was expected")
        }
        Ok(Err(err)) => panic!("socket error: {err}"),
        Err(_) => panic!("no message within {patience:?}"),
    }
}

/// The next close code; fails the test if a message comes first.
pub async fn recv_close(live: &mut Live) -> Option<u16> {
    match tokio::time::timeout(PATIENCE, live.next()).await {
        Ok(Ok(Incoming::Closed(code))) => code,
        other => panic!("expected a close, got {other:?}"),
    }
}

/// Subscribes and answers the snapshot's seq.
pub async fn subscribe(live: &mut Live, map: &str) -> u64 {
    live.subscribe(map, None).await.unwrap();
    match recv(live).await {
        ServerMessage::Snapshot { map: m, seq, reset: None, .. } if m == map => seq,
        other => panic!("expected a snapshot of {map}, got {other:?}"),
    }
}

/// Collects exactly `count` events of `map`, failing on any other message.
pub async fn recv_events(live: &mut Live, map: &str, count: usize) -> Vec<Event> {
    let mut events = Vec::new();
    while events.len() < count {
        match recv(live).await {
            ServerMessage::Events { map: m, events: batch } if m == map => events.extend(batch),
            other => panic!("expected events of {map}, got {other:?}"),
        }
    }
    assert_eq!(events.len(), count, "more events than expected");
    events
}

/// Asserts that `events` carry the seqs `from, from + 1, ...` with no gap or repeat.
pub fn assert_consecutive(events: &[Event], from: u64) {
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    let expected: Vec<u64> = (from..from + events.len() as u64).collect();
    assert_eq!(seqs, expected);
}
