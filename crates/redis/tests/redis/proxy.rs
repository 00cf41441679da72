//! A TCP proxy in front of a Redis that can turn into a black hole: every connection it
//! carries stops forwarding in both directions, its sockets left open (a path that died
//! without a RST). Healing lets connections made from then on through; the ones cut stay
//! dead for good.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

pub struct Proxy {
    pub port: u16,
    state: Arc<State>,
    accepting: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct State {
    /// Whether new connections are dead from the start.
    cut: AtomicBool,
    /// Each connection's flag, set when it is cut.
    dead: Mutex<Vec<Arc<AtomicBool>>>,
}

impl Proxy {
    /// Forwards a port on loopback to `target`'s.
    pub async fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let accepting = tokio::spawn(accept(listener, target, state.clone()));
        Proxy { port, state, accepting }
    }

    /// Every connection, open or new, stops forwarding.
    pub fn black_hole(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        for dead in self.state.dead.lock().unwrap().iter() {
            dead.store(true, Ordering::SeqCst);
        }
    }

    /// New connections go through again; those cut stay dead.
    pub fn heal(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Ends every connection's task with it (the `JoinSet` it owns).
        self.accepting.abort();
    }
}

async fn accept(listener: TcpListener, target: u16, state: Arc<State>) {
    let mut connections = JoinSet::new();
    while let Ok((client, _)) = listener.accept().await {
        let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else { continue };
        let dead = Arc::new(AtomicBool::new(state.cut.load(Ordering::SeqCst)));
        state.dead.lock().unwrap().push(dead.clone());
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        connections.spawn(pump(client_read, server_write, dead.clone()));
        connections.spawn(pump(server_read, client_write, dead));
    }
}

/// Copies `from` to `to` until either closes; once `dead`, swallows what it reads and then
/// holds both halves open forever, forwarding nothing.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, dead: Arc<AtomicBool>) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if dead.load(Ordering::SeqCst) {
            let _held = (from, to);
            std::future::pending::<()>().await;
            unreachable!();
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
