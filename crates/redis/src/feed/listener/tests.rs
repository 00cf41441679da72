//! The listener against a `redis-server` of its own (on a Unix socket, killed when the test
//! ends), with a hook that holds one map's catch-up: live delivery of the other maps must not
//! wait for it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use marauder_core::protocol::{Event, EventBody};
use marauder_core::{EventSink, Feed, MapId};
use tokio::sync::Semaphore;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// Catch-ups held before they read, by map: each waits for a permit of its semaphore.
static HELD: Mutex<Option<HashMap<MapId, Arc<Semaphore>>>> = Mutex::new(None);

/// Called by every catch-up before it reads: waits while a test holds `map`.
pub async fn hold(map: &MapId) {
    let gate = HELD.lock().unwrap().as_ref().and_then(|held| held.get(map).cloned());
    if let Some(gate) = gate {
        gate.acquire().await.expect("never closed").forget();
    }
}

/// A `redis-server` on a Unix socket in a directory of its own, killed when dropped.
struct Server {
    child: Child,
    dir: PathBuf,
}

impl Server {
    fn start(name: &str) -> Server {
        let dir = std::env::temp_dir().join(format!("marauder-listener-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no", "--unixsocket"])
            .arg(dir.join("redis.sock"))
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        Server { child, dir }
    }

    fn url(&self) -> String {
        format!("redis+unix://{}", self.dir.join("redis.sock").display())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Sink(UnboundedSender<(MapId, u64)>);

/// A sink whose first delivery waits until the test says: the reader stops meanwhile.
struct Stalling {
    sender: UnboundedSender<(MapId, u64)>,
    go: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl EventSink for Stalling {
    fn deliver(&self, map: &MapId, event: Arc<Event>) {
        let go = self.go.lock().unwrap().take();
        if let Some(go) = go {
            let _ = go.recv();
        }
        let _ = self.sender.send((map.clone(), event.seq));
    }
}

impl EventSink for Sink {
    fn deliver(&self, map: &MapId, event: Arc<Event>) {
        let _ = self.0.send((map.clone(), event.seq));
    }
}

/// Connects the backend, retrying while the server starts (a bounded patience).
async fn connect(server: &Server, sink: impl EventSink, capacity: usize) -> crate::Redis {
    let options = crate::Options {
        urls: vec![server.url()],
        cluster: false,
        prefix: "t".into(),
        trail_retention: 10,
        recent_events: 100,
    };
    let sink: Arc<dyn EventSink> = Arc::new(sink);
    for _ in 0..200 {
        if let Ok(redis) = crate::connect_queueing(&options, sink.clone(), capacity).await {
            return redis;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("redis-server on {} never answered", server.url());
}

async fn next(events: &mut UnboundedReceiver<(MapId, u64)>) -> (MapId, u64) {
    let next = tokio::time::timeout(Duration::from_secs(20), events.recv()).await;
    next.expect("an event within the patience").expect("the sink lives")
}

/// Appends the event `seq` to the map's stream and, if `live`, publishes it on its channel,
/// as the publish script does.
async fn publish(
    redis: &crate::Redis,
    raw: &mut redis::aio::MultiplexedConnection,
    map: &MapId,
    seq: u64,
    live: bool,
) {
    let keys = &redis.feed.keys;
    let body = EventBody::Renamed { player: "p".into(), name: format!("n{seq}") };
    let json = serde_json::to_string(&Event { seq, body }).unwrap();
    let id = format!("{seq}-1");
    let _: String =
        redis::cmd("XADD").arg(keys.events(map)).arg(id).arg("e").arg(&json).query_async(raw).await.unwrap();
    if live {
        let _: u64 = redis::cmd("PUBLISH").arg(keys.channel(map)).arg(&json).query_async(raw).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_catch_up_does_not_hold_back_another_maps_live_events() {
    let server = Server::start("held");
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let redis = connect(&server, Sink(sender), super::pushes::CAPACITY).await;
    let mut raw =
        redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let (a, b) = (MapId::generate(), MapId::generate());
    let gate = Arc::new(Semaphore::new(0));
    HELD.lock().unwrap().get_or_insert_default().insert(b.clone(), gate.clone());
    let _a = redis.feed.listen(&a).await.unwrap();
    let _b = redis.feed.listen(&b).await.unwrap();

    // B's seq 1 goes only to the stream: hearing 2 starts B's catch-up, which is held.
    publish(&redis, &mut raw, &b, 1, false).await;
    publish(&redis, &mut raw, &b, 2, true).await;
    // A's live event arrives while B's catch-up is held, and so does B's next (only noted).
    publish(&redis, &mut raw, &b, 3, true).await;
    publish(&redis, &mut raw, &a, 1, true).await;
    assert_eq!(next(&mut events).await, (a.clone(), 1));

    gate.add_permits(1);
    for seq in 1..=3 {
        assert_eq!(next(&mut events).await, (b.clone(), seq));
    }
    // Live again on both, nothing twice.
    publish(&redis, &mut raw, &b, 4, true).await;
    assert_eq!(next(&mut events).await, (b.clone(), 4));
    publish(&redis, &mut raw, &a, 2, true).await;
    assert_eq!(next(&mut events).await, (a.clone(), 2));
    assert!(events.try_recv().is_err(), "nothing more");
}

/// Four pushes fit in the channel while the reader is stopped; the 45 or so it drops are read
/// from the stream once the reader goes on, each once and in order.
// Four workers: the stopped reader and the keep-alive (waiting for the maps' lock the reader
// holds) block one each, and redis-rs's connection task must go on receiving.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushes_a_full_channel_drops_are_read_from_the_stream() {
    let server = Server::start("full");
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let (go, wait) = std::sync::mpsc::channel();
    let redis = connect(&server, Stalling { sender, go: Mutex::new(Some(wait)) }, 4).await;
    let mut raw =
        redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let a = MapId::generate();
    let _a = redis.feed.listen(&a).await.unwrap();

    for seq in 1..=50 {
        publish(&redis, &mut raw, &a, seq, true).await;
    }
    // The reader holds 1 and the channel 2 to 5: the rest were dropped.
    let dropped = || redis.feed.listener.overflow.dropped.load(std::sync::atomic::Ordering::Relaxed);
    for _ in 0..400 {
        if dropped() >= 45 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(dropped() >= 45, "{} dropped", dropped());
    go.send(()).unwrap();
    for seq in 1..=50 {
        assert_eq!(next(&mut events).await, (a.clone(), seq));
    }
    publish(&redis, &mut raw, &a, 51, true).await;
    assert_eq!(next(&mut events).await, (a.clone(), 51));
    assert!(events.try_recv().is_err(), "nothing more");
}

/// Events that never arrive on the channel, with nothing after them to show the gap (a
/// subscription lost without a word): the audit finds the map's seq ahead of what was
/// delivered at two audits in a row and reads them from the stream, each once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_lost_without_a_word_are_found_by_the_audit() {
    let server = Server::start("audit");
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let redis = connect(&server, Sink(sender), super::pushes::CAPACITY).await;
    let mut raw =
        redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let a = MapId::generate();
    let _a = redis.feed.listen(&a).await.unwrap();
    let seq_key = redis.feed.keys.seq(&a);

    let _: () = redis::cmd("SET").arg(&seq_key).arg(1).query_async(&mut raw).await.unwrap();
    publish(&redis, &mut raw, &a, 1, true).await;
    assert_eq!(next(&mut events).await, (a.clone(), 1));
    for seq in 2..=3 {
        let _: () = redis::cmd("SET").arg(&seq_key).arg(seq).query_async(&mut raw).await.unwrap();
        publish(&redis, &mut raw, &a, seq, false).await;
    }
    for seq in 2..=3 {
        assert_eq!(next(&mut events).await, (a.clone(), seq));
    }
    let _: () = redis::cmd("SET").arg(&seq_key).arg(4).query_async(&mut raw).await.unwrap();
    publish(&redis, &mut raw, &a, 4, true).await;
    assert_eq!(next(&mut events).await, (a.clone(), 4));
    assert!(events.try_recv().is_err(), "nothing more");
}
