//! The Redis servers these tests run against, started once per test process: one
//! `redis-server` and a Redis Cluster of three masters, on free loopback ports, killed with
//! the process (`PR_SET_PDEATHSIG`). Each test connects with a prefix of its own, so tests
//! share the servers without sharing data.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use marauder_core::protocol::Event;
use marauder_core::{EventSink, MapId};
use marauder_redis::{Options, Redis};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// Which deployment a test runs on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Deployment {
    Single,
    Cluster,
}

/// A connected backend, a raw connection to the same Redis for checking keys, and the events
/// handed to the sink.
pub struct Backend {
    pub redis: Redis,
    pub raw: Raw,
    pub prefix: String,
    pub events: UnboundedReceiver<(MapId, Arc<Event>)>,
}

/// A plain redis-rs connection: to look at keys as the backend wrote them.
pub enum Raw {
    Single(redis::aio::MultiplexedConnection),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Raw {
    pub async fn query<T: redis::FromRedisValue>(&mut self, cmd: &redis::Cmd) -> T {
        let answer = match self {
            Raw::Single(c) => cmd.query_async(c).await,
            Raw::Cluster(c) => cmd.query_async(c).await,
        };
        answer.unwrap_or_else(|err| panic!("{cmd:?}: {err}"))
    }
}

struct Sink(UnboundedSender<(MapId, Arc<Event>)>);

impl EventSink for Sink {
    fn deliver(&self, map: &MapId, event: Arc<Event>) {
        let _ = self.0.send((map.clone(), event));
    }
}

pub async fn connect(deployment: Deployment) -> Backend {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix = format!("t{}x{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let urls: Vec<String> = match deployment {
        Deployment::Single => vec![url(single())],
        Deployment::Cluster => cluster().iter().map(|&port| url(port)).collect(),
    };
    let options = Options {
        urls: urls.clone(),
        cluster: deployment == Deployment::Cluster,
        prefix: prefix.clone(),
        trail_retention: 100,
        recent_events: 1000,
    };
    let (sender, events) = tokio::sync::mpsc::unbounded_channel();
    let redis = marauder_redis::connect(&options, Arc::new(Sink(sender))).await.expect("connects");
    let raw = match deployment {
        Deployment::Single => {
            let client = redis::Client::open(urls[0].as_str()).unwrap();
            Raw::Single(client.get_multiplexed_async_connection().await.unwrap())
        }
        Deployment::Cluster => {
            let client = redis::cluster::ClusterClient::new(urls).unwrap();
            Raw::Cluster(client.get_async_connection().await.unwrap())
        }
    };
    Backend { redis, raw, prefix, events }
}

/// The `redis://` URLs of a deployment (its servers started on first use), for a test that
/// connects handlers of its own.
pub fn urls(deployment: Deployment) -> Vec<String> {
    match deployment {
        Deployment::Single => vec![url(single())],
        Deployment::Cluster => cluster().iter().map(|&port| url(port)).collect(),
    }
}

fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}")
}

fn single() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| start_server(&[]))
}

fn cluster() -> &'static [u16] {
    static PORTS: OnceLock<Vec<u16>> = OnceLock::new();
    PORTS.get_or_init(|| {
        let cluster_args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"];
        let ports: Vec<u16> = (0..3).map(|_| start_server(&cluster_args)).collect();
        let mut create = Command::new("redis-cli");
        create.args(["--cluster", "create"]);
        create.args(ports.iter().map(|port| format!("127.0.0.1:{port}")));
        create.args(["--cluster-replicas", "0", "--cluster-yes"]).stdout(Stdio::null());
        assert!(create.status().expect("redis-cli runs").success(), "redis-cli --cluster create failed");
        for &port in &ports {
            wait_until(&format!("cluster on {port} is ok"), || {
                let info =
                    Command::new("redis-cli").args(["-p", &port.to_string(), "cluster", "info"]).output();
                info.is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("cluster_state:ok"))
            });
        }
        ports
    })
}

/// Starts a `redis-server` (no persistence) on a free port and waits until it answers.
fn start_server(extra: &[&str]) -> u16 {
    static SWEPT: OnceLock<()> = OnceLock::new();
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    SWEPT.get_or_init(|| sweep(&scratch));
    let port = free_port();
    let dir = scratch.join(format!("redis-{}-{port}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(&dir)
        .args(extra)
        .stdout(Stdio::null());
    // A dropped `Child` is neither killed nor waited for: it dies with this process.
    drop(spawn_tied(command));
    wait_until(&format!("redis-server on {port} answers"), || {
        let ping = Command::new("redis-cli").args(["-p", &port.to_string(), "ping"]).output();
        ping.is_ok_and(|out| out.stdout.starts_with(b"PONG"))
    });
    port
}

/// Removes the directories of earlier test processes that are gone.
fn sweep(scratch: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(scratch) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Only ours: `redis-<pid>-<port>`.
        let pid = name.strip_prefix("redis-").and_then(|rest| rest.split_once('-'));
        let pid = pid.and_then(|(pid, port)| port.parse::<u16>().ok().and(pid.parse::<u32>().ok()));
        if pid.is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A loopback port nobody listens on now, nor on `port + 10000` (a cluster bus port).
fn free_port() -> u16 {
    static TAKEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        let mut taken = TAKEN.lock().unwrap();
        if port < 50_000 && !taken.contains(&port) && free(port + 10_000) {
            taken.push(port);
            return port;
        }
    }
}

/// Spawns from one thread that lives as long as the process, with `PR_SET_PDEATHSIG` (which
/// fires when the spawning thread ends): the child dies with this process however it ends.
fn spawn_tied(mut command: Command) -> Child {
    use std::os::unix::process::CommandExt;
    type Request = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, received) = mpsc::channel::<Request>();
        std::thread::spawn(move || {
            for (mut command, reply) in received {
                let _ = reply.send(command.spawn());
            }
        });
        Mutex::new(requests)
    });
    let (reply, answer) = mpsc::channel();
    spawner.lock().unwrap().send((command, reply)).unwrap();
    answer.recv().unwrap().expect("redis-server starts")
}

/// Declares each scenario (an `async fn(Deployment)`) as a test on one Redis and on the
/// cluster.
#[macro_export]
macro_rules! on_both {
    ($($scenario:ident),* $(,)?) => {
        mod single {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::servers::Deployment::Single).await
                }
            )*
        }
        mod cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::servers::Deployment::Cluster).await
                }
            )*
        }
    };
}
