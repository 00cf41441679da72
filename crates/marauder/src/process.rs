//! `marauder serve` as a child process: started on a free port, measured (CPU seconds, peak
//! RSS from /proc), signalled. The bench uses it to benchmark a local build; the process
//! tests use it for SIGKILL and SIGTERM.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

/// What the kernel says a process has used so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    pub cpu_seconds: f64,
    pub peak_rss_bytes: u64,
    pub rss_bytes: u64,
}

impl ServerProcess {
    /// Runs `<exe> serve --listen 127.0.0.1:0 --limits off --data-dir <dir> <extra>` and waits
    /// until it listens.
    pub fn start(exe: &Path, data_dir: &Path, extra: &[OsString]) -> anyhow::Result<ServerProcess> {
        let mut child = Command::new(exe)
            // Its users (the bench, process and scale-out tests) drive many clients from one
            // address: the per-address limits would refuse them.
            .args(["serve", "--listen", "127.0.0.1:0", "--limits", "off", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("MARAUDER_LOG_FORMAT", "json")
            .env("MARAUDER_LOG", "info")
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        let addr = loop {
            let Some(line) = lines.next() else { bail!("the server exited before it listened") };
            let log: serde_json::Value = serde_json::from_str(&line?).unwrap_or_default();
            if log["fields"]["message"] == "serving" {
                break log["fields"]["addr"].as_str().context("no addr in the log")?.to_owned();
            }
        };
        // Keep reading so that the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(ServerProcess { child, url: format!("http://{addr}") })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) -> anyhow::Result<()> {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid() as i32), signal)?;
        Ok(())
    }

    /// Waits at most `patience` for the process to exit.
    pub fn wait(&mut self, patience: Duration) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!("the server did not exit within {patience:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server with SIGTERM and waits for it.
    pub fn stop(mut self) -> anyhow::Result<ExitStatus> {
        self.signal(nix::sys::signal::Signal::SIGTERM)?;
        self.wait(Duration::from_secs(30))
    }

    pub fn usage(&self) -> anyhow::Result<Usage> {
        usage_of(self.pid())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// CPU seconds and memory of a process, from /proc.
pub fn usage_of(pid: u32) -> anyhow::Result<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')').context("bad stat")?.1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    let ticks_per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)?.unwrap_or(100) as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Usage {
        cpu_seconds: ticks / ticks_per_second,
        peak_rss_bytes: kib("VmHWM:") * 1024,
        rss_bytes: kib("VmRSS:") * 1024,
    })
}

/// Starts `command` so that the child is killed when this process exits, however it exits:
/// spawned from one thread that lives as long as the process, with `PR_SET_PDEATHSIG`
/// (which fires when the spawning thread ends).
fn spawn_tied(mut command: Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    use std::sync::mpsc;
    type Request = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: std::sync::OnceLock<std::sync::Mutex<mpsc::Sender<Request>>> = std::sync::OnceLock::new();
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
                // The channel is in a static: never closed, so this thread never ends.
            })
            .expect("a thread");
        std::sync::Mutex::new(tx)
    });
    let (reply, answer) = mpsc::channel();
    spawner.lock().unwrap().send((command, reply)).expect("the spawner lives as long as the process");
    answer.recv().expect("the spawner answers")
}

/// Where a program is on `PATH`, or which package provides it.
pub fn program(name: &str, package: &str) -> anyhow::Result<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin".into(), "/usr/local/sbin".into()]);
    for dir in dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "`{name}` is not installed: install the `{package}` package (./scripts/test.sh does it when run as root)"
    )
}

/// A loopback TCP port nobody listens on now (and `port + 10000`, a cluster bus port).
pub fn free_port() -> u16 {
    loop {
        let port = fastrand::u16(20_000..45_000);
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 10_000) {
            return port;
        }
    }
}

/// A `redis-server` child on a loopback port, persisting to `dir` with AOF fsynced on every
/// write (as `deploy/redis.conf`), so a SIGKILL loses nothing it acknowledged.
pub struct RedisProcess {
    child: Option<Child>,
    pub port: u16,
    dir: std::path::PathBuf,
    extra: Vec<String>,
}

impl RedisProcess {
    pub fn start(dir: &Path, extra: &[&str]) -> anyhow::Result<RedisProcess> {
        std::fs::create_dir_all(dir)?;
        let extra = extra.iter().map(|s| s.to_string()).collect();
        let mut redis = RedisProcess { child: None, port: free_port(), dir: dir.to_owned(), extra };
        redis.restart()?;
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Starts it (again) on the same port and directory, and waits until it answers.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let mut command = Command::new(program("redis-server", "redis-server")?);
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null());
        self.child = Some(spawn_tied(command).context("starting redis-server")?);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !redis_answers(self.port) {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("redis-server exited with {status}");
            }
            if Instant::now() > deadline {
                bail!("redis-server on port {} did not answer", self.port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// SIGKILL, and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether a Redis on `port` answers PING with PONG (not LOADING).
fn redis_answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut tcp) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 5];
    tcp.write_all(b"PING\r\n").is_ok() && tcp.read_exact(&mut reply).is_ok() && &reply == b"+PONG"
}

/// Runs `redis-cli` with `args` and answers its output.
fn redis_cli(args: &[String]) -> anyhow::Result<String> {
    let output = Command::new(program("redis-cli", "redis-tools")?).args(args).output()?;
    if !output.status.success() {
        bail!("redis-cli {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A Redis Cluster of `masters` masters with `replicas` replicas each, every node a
/// [`RedisProcess`] (the masters first).
pub struct RedisCluster {
    pub nodes: Vec<RedisProcess>,
}

impl RedisCluster {
    /// No replicas; `extra` are more `redis-server` arguments for every node.
    pub fn start(dir: &Path, masters: usize, extra: &[&str]) -> anyhow::Result<RedisCluster> {
        RedisCluster::start_with_replicas(dir, masters, 0, extra)
    }

    /// Answers once every node sees the cluster as ok and every replica has synced with its
    /// master, so that a master killed from then on can fail over.
    pub fn start_with_replicas(
        dir: &Path,
        masters: usize,
        replicas: usize,
        extra: &[&str],
    ) -> anyhow::Result<RedisCluster> {
        let mut args = vec!["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"];
        args.extend(extra);
        let nodes = (0..masters * (1 + replicas))
            .map(|i| RedisProcess::start(&dir.join(format!("node{i}")), &args))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut create = vec!["--cluster".to_owned(), "create".to_owned()];
        create.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)));
        create.extend(["--cluster-replicas".to_owned(), replicas.to_string(), "--cluster-yes".to_owned()]);
        redis_cli(&create)?;
        let cluster = RedisCluster { nodes };
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &cluster.nodes {
            loop {
                let info = cluster.cli(node.port, &["cluster", "info"])?;
                let replication = cluster.cli(node.port, &["info", "replication"])?;
                let synced =
                    replication.contains("role:master") || replication.contains("master_link_status:up");
                if info.contains("cluster_state:ok") && synced {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("the cluster did not come up: {info}{replication}");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(cluster)
    }

    /// The nodes' URLs, comma separated, as `--redis` takes them.
    pub fn urls(&self) -> String {
        self.nodes.iter().map(|n| n.url()).collect::<Vec<_>>().join(",")
    }

    fn cli(&self, port: u16, args: &[&str]) -> anyhow::Result<String> {
        let mut all = vec!["-p".to_owned(), port.to_string()];
        all.extend(args.iter().map(|a| a.to_string()));
        redis_cli(&all)
    }

    /// The index in [`nodes`](Self::nodes) of the master serving the keys tagged `{tag}`, as
    /// the first live node sees the cluster (`None` while no master serves them, e.g.
    /// during a failover).
    pub fn master_of(&self, tag: &str) -> anyhow::Result<Option<usize>> {
        let node = self.nodes.iter().find(|n| n.child.is_some()).context("every node is down")?;
        let slot: u16 =
            self.cli(node.port, &["cluster", "keyslot", &format!("{{{tag}}}")])?.trim().parse()?;
        let view = self.cli(node.port, &["cluster", "nodes"])?;
        Ok(view.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = fields.get(2)?;
            if !flags.contains("master") || flags.contains("fail") {
                return None;
            }
            let serves = fields.iter().skip(8).any(|range| {
                let (from, to) = range.split_once('-').unwrap_or((range, range));
                matches!((from.parse::<u16>(), to.parse::<u16>()), (Ok(a), Ok(b)) if (a..=b).contains(&slot))
            });
            let port: u16 = fields[1].split(['@', ':']).nth(1)?.parse().ok()?;
            serves.then(|| self.nodes.iter().position(|n| n.port == port)).flatten()
        }))
    }

    /// SIGKILLs node `index` (and waits for it to be gone).
    pub fn kill(&mut self, index: usize) {
        self.nodes[index].kill();
    }
}
