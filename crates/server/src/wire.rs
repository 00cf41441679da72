//! A connection's write side, shared: its owner (hyper, then the WebSocket after an upgrade)
//! writes through [`Guarded`](crate::parse_errors::Guarded) as through any socket, and the hub
//! writes a live frame straight from its flushing task ([`Wire::write_now`]) when nothing is
//! ahead of it on the connection: one `write` syscall on the flushing thread, instead of a
//! wake-up of the session's task, its poll, a copy into tungstenite's buffer and the write
//! (issue #15's profile: the session's write path was most of a frame's cost).
//!
//! Frames never interleave: every write is taken whole or not at all. What the socket does
//! not take at once (the tail of a write, or the hub's frames while the socket is full) waits
//! in `out`, which the next write or flush of the owner drains first, in order. Only the
//! owner ever waits for the socket; the hub's writes never register a waker.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};

use tokio::io::AsyncWrite;
use tokio::net::tcp::OwnedWriteHalf;

pub struct Wire {
    state: Mutex<State>,
    /// Bytes the socket has taken so far: the write deadline's measure of progress.
    sent: AtomicU64,
}

struct State {
    half: OwnedWriteHalf,
    /// Accepted bytes not in the socket yet, from `start` on: whole frames, or the tail of one.
    out: Vec<u8>,
    start: usize,
    /// The error a write of the hub met, which the owner's next write or flush reports.
    broken: Option<io::ErrorKind>,
}

/// What became of a frame the hub wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// All of it is in the socket.
    Sent,
    /// Some or all of it waits in the buffer: the owner must flush (the socket is full, or
    /// the owner had bytes waiting).
    Waiting,
    /// It would take the buffer over `capacity`: nothing was taken.
    Full,
    /// The socket is broken; the owner hears it at its next write.
    Broken,
}

/// A buffer that grew past this (the tail of a large snapshot) is freed once drained, so an
/// idle connection keeps none.
const KEEP_BUFFER: usize = 16 * 1024;

impl Wire {
    pub fn new(half: OwnedWriteHalf) -> Arc<Wire> {
        let state = State { half, out: Vec::new(), start: 0, broken: None };
        Arc::new(Wire { state: Mutex::new(state), sent: AtomicU64::new(0) })
    }

    /// Writes `frame` now if it can go without waiting: into the socket, or behind bytes
    /// already waiting (at most `capacity` of them in all). Never waits and never registers
    /// a waker: on [`Written::Waiting`] the caller makes the owner flush.
    pub fn write_now(&self, frame: &[u8], capacity: usize) -> Written {
        let mut state = self.lock();
        if state.broken.is_some() {
            return Written::Broken;
        }
        let waiting = state.out.len() - state.start;
        if waiting > 0 {
            if waiting + frame.len() > capacity {
                return Written::Full;
            }
            state.wait(frame);
            return Written::Waiting;
        }
        match state.half.try_write(frame) {
            Ok(n) if n == frame.len() => {
                self.progressed(n);
                Written::Sent
            }
            Ok(n) => {
                self.progressed(n);
                state.wait(&frame[n..]);
                Written::Waiting
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                state.wait(frame);
                Written::Waiting
            }
            Err(err) => {
                state.broken = Some(err.kind());
                Written::Broken
            }
        }
    }

    /// Bytes the socket has taken so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    fn progressed(&self, n: usize) {
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Bytes waiting for the socket.
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        let state = self.lock();
        state.out.len() - state.start
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock is held leaves nothing half-done that matters here.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    /// Writes after what waits, and takes `bufs` whole: what the socket does not take waits.
    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut state = self.lock();
        ready!(self.poll_drain(&mut state, cx))?;
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let n = ready!(Pin::new(&mut state.half).poll_write_vectored(cx, bufs))?;
        self.progressed(n);
        if n > 0 && n < total {
            let mut skip = n;
            for buf in bufs {
                let from = skip.min(buf.len());
                state.wait(&buf[from..]);
                skip -= from;
            }
            return Poll::Ready(Ok(total));
        }
        Poll::Ready(Ok(n))
    }

    pub(crate) fn is_write_vectored(&self) -> bool {
        self.lock().half.is_write_vectored()
    }

    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.lock();
        ready!(self.poll_drain(&mut state, cx))?;
        Pin::new(&mut state.half).poll_flush(cx)
    }

    pub(crate) fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.lock();
        ready!(self.poll_drain(&mut state, cx))?;
        Pin::new(&mut state.half).poll_shutdown(cx)
    }

    /// Writes out what waits.
    fn poll_drain(&self, state: &mut State, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(kind) = state.broken {
            return Poll::Ready(Err(kind.into()));
        }
        while state.start < state.out.len() {
            let n = ready!(Pin::new(&mut state.half).poll_write(cx, &state.out[state.start..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.progressed(n);
            state.start += n;
        }
        state.start = 0;
        state.out.clear();
        if state.out.capacity() > KEEP_BUFFER {
            state.out = Vec::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl State {
    /// Keeps `bytes` to send after what waits. What was sent is dropped first once it is
    /// half of the buffer, so the buffer holds about what waits, not all that ever waited.
    fn wait(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.out.len() / 2 {
            self.out.drain(..self.start);
            self.start = 0;
        }
        self.out.extend_from_slice(bytes);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// A wire to a socket whose other end the test reads.
    pub(crate) async fn pair() -> (Arc<Wire>, TcpStream, tokio::net::tcp::OwnedReadHalf) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (read, write) = server.into_split();
        (Wire::new(write), client, read)
    }

    struct Owner(Arc<Wire>);

    impl AsyncWrite for Owner {
        fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            self.0.poll_write(cx, buf)
        }
        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.0.poll_flush(cx)
        }
        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.0.poll_shutdown(cx)
        }
    }

    #[tokio::test]
    async fn frames_written_now_and_by_the_owner_arrive_whole_and_in_order() {
        let (wire, mut client, _read) = pair().await;
        let mut owner = Owner(wire.clone());
        // Fill the socket until the hub's writes must wait: then they queue behind, in order.
        let frame = vec![b'a'; 4096];
        let mut sent = 0usize;
        let mut waiting = 0usize;
        let mut frames = 0usize;
        while waiting < 3 {
            match wire.write_now(&frame, 1 << 30) {
                Written::Sent => sent += 1,
                Written::Waiting => waiting += 1,
                other => panic!("unexpected {other:?}"),
            }
            frames += 1;
        }
        assert!(wire.waiting() > 0);
        assert_eq!(sent + waiting, frames);
        // The owner's bytes come after every frame accepted before them.
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = vec![0; 1 << 16];
            loop {
                let n = client.read(&mut buf).await.unwrap();
                if n == 0 {
                    return got;
                }
                got.extend_from_slice(&buf[..n]);
            }
        });
        owner.write_all(b"END").await.unwrap();
        owner.flush().await.unwrap();
        assert_eq!(wire.waiting(), 0);
        owner.shutdown().await.unwrap();
        drop(owner);
        drop(wire);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), frames * frame.len() + 3);
        assert!(got[..frames * frame.len()].iter().all(|&b| b == b'a'));
        assert_eq!(&got[frames * frame.len()..], b"END");
    }

    #[tokio::test]
    async fn every_byte_taken_is_sent_or_waiting_and_counted_once_sent() {
        let (wire, mut client, _read) = pair().await;
        let frame = vec![b'c'; 4096];
        let mut taken = 0u64;
        while wire.waiting() < 3 * frame.len() {
            assert_ne!(wire.write_now(&frame, 1 << 30), Written::Full);
            taken += frame.len() as u64;
            assert_eq!(wire.sent() + wire.waiting() as u64, taken);
        }
        let reader = tokio::spawn(async move {
            let mut buf = vec![0; 1 << 16];
            let mut got = 0u64;
            while got < taken {
                got += client.read(&mut buf).await.unwrap() as u64;
            }
            got
        });
        let mut owner = Owner(wire.clone());
        owner.flush().await.unwrap();
        assert_eq!((wire.sent(), wire.waiting()), (taken, 0), "all of it went out, once");
        assert_eq!(reader.await.unwrap(), taken);
    }

    #[tokio::test]
    async fn a_frame_that_would_pass_the_capacity_is_not_taken() {
        let (wire, _client, _read) = pair().await;
        let frame = vec![b'b'; 4096];
        while wire.write_now(&frame, 1 << 30) == Written::Sent {}
        let waiting = wire.waiting();
        assert_eq!(wire.write_now(&frame, waiting + frame.len() - 1), Written::Full);
        assert_eq!(wire.waiting(), waiting, "nothing of a refused frame is taken");
        assert_eq!(wire.write_now(&frame, waiting + frame.len()), Written::Waiting);
        assert_eq!(wire.waiting(), waiting + frame.len());
    }
}
