//! A connection's write side, shared: its owner (hyper, then the WebSocket after an upgrade)
//! writes through [`Guarded`](crate::parse_errors::Guarded) as through any socket, and the hub
//! writes a live frame straight from its flushing task ([`Wire::write_now`]) when nothing is
//! ahead of it on the connection: one `write` syscall on the flushing thread, instead of a
//! wake-up of the session's task, its poll, a copy into tungstenite's buffer and the write
//! (issue #15's profile: the session's write path was most of a frame's cost).
//!
//! Frames never interleave. The hub writes only at a frame boundary: not while the owner is
//! in the middle of a write the socket took part of, nor while anything of its own waits.
//! The tail of a frame of the hub that the socket took part of waits in `out` (the only bytes
//! ever kept here), which the owner's next write or flush sends first. Only the owner ever
//! waits for the socket; the hub never waits, not even for the lock.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
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
    /// The tail of one frame of the hub, not in the socket yet, from `start` on.
    out: Vec<u8>,
    start: usize,
    /// The owner's last write was taken in part: the socket is in the middle of its bytes.
    mid_write: bool,
    /// The error a write of the hub met, which the owner's next write or flush reports.
    broken: Option<io::ErrorKind>,
}

/// What became of a frame the hub offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// All of it is in the socket.
    Sent,
    /// Part of it is in the socket, the rest waits: the owner must flush.
    Waiting,
    /// Nothing was written: something is ahead of it (bytes waiting, the owner mid-write or
    /// writing now) or the socket is full. The caller queues it for the owner.
    Behind,
    /// The socket is broken; the owner hears it at its next write.
    Broken,
}

impl Wire {
    pub fn new(half: OwnedWriteHalf) -> Arc<Wire> {
        let state = State { half, out: Vec::new(), start: 0, mid_write: false, broken: None };
        Arc::new(Wire { state: Mutex::new(state), sent: AtomicU64::new(0) })
    }

    /// Writes `frame` now if it can go first and without waiting. Never waits, never
    /// registers a waker, keeps no more than the tail of this one frame: on
    /// [`Written::Waiting`] the caller makes the owner flush, on [`Written::Behind`] it queues.
    pub fn write_now(&self, frame: &[u8]) -> Written {
        let mut state = match self.state.try_lock() {
            Ok(state) => state,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return Written::Behind, // The owner is writing.
        };
        if state.broken.is_some() {
            return Written::Broken;
        }
        if state.mid_write || state.start < state.out.len() {
            return Written::Behind;
        }
        match state.half.try_write(frame) {
            Ok(n) if n == frame.len() => {
                self.progressed(n);
                Written::Sent
            }
            Ok(n) if n > 0 => {
                self.progressed(n);
                state.out.extend_from_slice(&frame[n..]);
                Written::Waiting
            }
            Ok(_) => Written::Behind,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Written::Behind,
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

    /// Writes after what waits, as a socket does: in part, if the socket takes only part.
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
        // Written whole, the socket is at a boundary again (tungstenite and hyper write from
        // buffers that hold whole frames or messages, and write their rest next).
        state.mid_write = n < total;
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
        // At most one frame's tail was here: freed, so an idle connection keeps nothing.
        state.out = Vec::new();
        Poll::Ready(Ok(()))
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
        // Write until the socket is full: a frame it took in part waits, the next is refused.
        let frame = vec![b'a'; 4096];
        let mut taken = 0usize;
        loop {
            match wire.write_now(&frame) {
                Written::Sent => taken += 1,
                Written::Waiting => {
                    taken += 1;
                    assert!(wire.waiting() > 0 && wire.waiting() < frame.len());
                    assert_eq!(wire.write_now(&frame), Written::Behind, "nothing goes after a tail");
                    break;
                }
                Written::Behind => break,
                Written::Broken => panic!("the socket broke"),
            }
        }
        // The owner's bytes come after every frame taken before them.
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
        assert_eq!(got.len(), taken * frame.len() + 3);
        assert!(got[..taken * frame.len()].iter().all(|&b| b == b'a'));
        assert_eq!(&got[taken * frame.len()..], b"END");
    }

    #[tokio::test]
    async fn every_byte_taken_is_sent_or_waiting_and_counted_once_sent() {
        let (wire, mut client, _read) = pair().await;
        let frame = vec![b'c'; 4096];
        let mut taken = 0u64;
        while let written @ (Written::Sent | Written::Waiting) = wire.write_now(&frame) {
            taken += frame.len() as u64;
            assert_eq!(wire.sent() + wire.waiting() as u64, taken);
            if written == Written::Waiting {
                break;
            }
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
    async fn nothing_is_written_now_while_the_owner_is_in_the_middle_of_a_write() {
        use futures_util::FutureExt;

        let (wire, _client, _read) = pair().await;
        let mut owner = Owner(wire.clone());
        // More than the socket's buffers hold, nobody reading: taken in part.
        let big = vec![b'd'; 64 << 20];
        let n = owner.write(&big).now_or_never().expect("some room").unwrap();
        assert!(n > 0 && n < big.len(), "{n} bytes taken");
        assert_eq!(wire.write_now(b"frame"), Written::Behind);
        assert_eq!(wire.waiting(), 0, "nothing of a refused frame is kept");
    }
}
