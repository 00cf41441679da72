//! A connection's outgoing queue: bounded in bytes, filled by the hub, drained by the
//! connection's session, which writes everything queued and then flushes once.
//!
//! The common case skips the queue: a batch that is next for its subscription, while nothing
//! is queued and the session is not writing map frames, is written by the hub itself, straight
//! into the socket ([`Wire`]); the session is not woken at all. Everything else (a batch that
//! is not whole for the subscriber, one behind others, one that comes while the session
//! writes what it drained or a subscription's start) goes through the queue, so a map's
//! frames keep their order. (Frames of no map, an error, a ping, a pong, may be written by
//! the session meanwhile: the socket keeps every write whole.)
//!
//! It is also how the session hears that it must end (the server shuts down, its player is
//! deleted, its session revoked): a [`Stop`] set once, behind the same wake-up as the frames.
//! The session's loop then waits on one thing for everything the server tells it, and a
//! wake-up for frames checks one atomic instead of polling a cancellation token per reason
//! (each a mutex and a waiter registration, at every frame: measured in issue #15's profile).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use futures_util::task::AtomicWaker;
use marauder_core::MapId;

use crate::hub::Batch;
use crate::wire::{Wire, Written};

/// A subscription's `delivered` before its session has sent the map's state, and after it
/// ended: no batch is written directly then.
pub const NOT_LIVE: u64 = u64::MAX;

pub enum Outgoing {
    Batch(Arc<Batch>),
    /// The hub dropped subscription `sub` to `map` because this queue was full.
    Slow {
        map: MapId,
        sub: u64,
    },
}

pub struct Outbox {
    queue: Mutex<Queue>,
    /// The session's task, woken when the queue stops being empty or a stop comes. One
    /// waiter only (the session), so an atomic waker and a flag instead of a `Notify`: no
    /// lock and no waiter list on the fan-out's per-subscriber path.
    waker: AtomicWaker,
    /// A wake-up the session has not taken yet (a `Notify` permit).
    woken: AtomicBool,
    capacity_bytes: usize,
    /// Why the session must end ([`Stop`] as u8), 0 while it goes on. Set once.
    stop: AtomicU8,
}

/// Why a session must end; when several come, the first one set is the one it hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Stop {
    /// The server is shutting down (1001).
    Shutdown = 1,
    /// The player was deleted (1008).
    Deleted = 2,
    /// The session (token) that opened the socket was revoked (4001).
    Revoked = 3,
}

/// What became of a batch offered to an outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// Written to the socket directly, all of it.
    Sent,
    /// Written directly, but the rest of it waits for room in the socket: the client is behind.
    Waiting,
    /// Queued; the session had written everything before it.
    Caught,
    /// Queued behind frames the session has not written yet, or because the socket could
    /// not take it at once: it is a batch or more behind.
    Behind,
    /// It did not fit; nothing was queued.
    Full,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Outgoing>,
    bytes: usize,
    /// The session is writing map frames (what it drained, or a subscription's start), or
    /// has closed: batches wait in the queue behind its writes.
    busy: bool,
    /// The connection's socket, for the direct writes; `None` once the session closes. Held
    /// no longer than the session: the outbox goes with the session's registration and
    /// subscriptions, and the session lets go of it when it closes.
    wire: Option<Arc<Wire>>,
}

impl Outbox {
    pub fn new(capacity_bytes: usize) -> Arc<Outbox> {
        Outbox::with_wire(capacity_bytes, None)
    }

    /// An outbox whose batches are written directly to `wire` when they can be.
    pub fn with_wire(capacity_bytes: usize, wire: Option<Arc<Wire>>) -> Arc<Outbox> {
        Arc::new(Outbox {
            queue: Mutex::new(Queue { wire, ..Queue::default() }),
            waker: AtomicWaker::new(),
            woken: AtomicBool::new(false),
            capacity_bytes,
            stop: AtomicU8::new(0),
        })
    }

    /// Tells the session to end; the first reason given is the one it hears.
    pub fn stop(&self, why: Stop) {
        if self.stop.compare_exchange(0, why as u8, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            // If the session is not waiting now, its next wait ends at once.
            self.wake();
        }
    }

    /// Why the session must end, if it must.
    pub fn stopped(&self) -> Option<Stop> {
        match self.stop.load(Ordering::Acquire) {
            0 => None,
            1 => Some(Stop::Shutdown),
            2 => Some(Stop::Deleted),
            _ => Some(Stop::Revoked),
        }
    }

    /// Sends a batch of a subscription whose session has sent up to `delivered`: written to
    /// the socket now when it is the subscription's next and whole for it and nothing is ahead
    /// of it (then `delivered` moves), else queued for the session, unless it does not fit.
    /// Says whether everything before it had been written out.
    pub fn push_batch(&self, batch: &Arc<Batch>, delivered: &AtomicU64) -> Queued {
        let len = batch.frame.len();
        let mut queue = self.queue.lock().unwrap();
        let next = delivered.load(Ordering::Relaxed).checked_add(1) == Some(batch.first_seq());
        let mut refused = false;
        if next && batch.whole_for_all() && !queue.busy && queue.items.is_empty() {
            // `delivered` is read and moved under the queue's lock, which the session holds
            // to start writing: it never sees it move while it writes.
            if let Some(wire) = &queue.wire {
                let written = wire.write_now(&batch.wire);
                if written != Written::Behind {
                    delivered.store(batch.last_seq(), Ordering::Relaxed);
                }
                match written {
                    Written::Sent => return Queued::Sent,
                    // The session writes out the rest.
                    Written::Waiting => {
                        drop(queue);
                        self.wake();
                        return Queued::Waiting;
                    }
                    // The session hears it at its flush, and ends.
                    Written::Broken => {
                        drop(queue);
                        self.wake();
                        return Queued::Caught;
                    }
                    // Queued below, as shared bytes: the socket keeps no copy.
                    Written::Behind => refused = true,
                }
            }
        }
        if queue.bytes + len > self.capacity_bytes && !queue.items.is_empty() {
            return Queued::Full;
        }
        queue.bytes += len;
        // Behind other frames, or behind a socket that could not take it at once.
        let behind = !queue.items.is_empty() || refused;
        self.push(queue, Outgoing::Batch(batch.clone()));
        if behind { Queued::Behind } else { Queued::Caught }
    }

    /// Queues a notice regardless of the bound: there is at most one per subscription.
    pub fn push_slow(&self, map: MapId, sub: u64) {
        let queue = self.queue.lock().unwrap();
        self.push(queue, Outgoing::Slow { map, sub });
    }

    fn push(&self, mut queue: std::sync::MutexGuard<'_, Queue>, item: Outgoing) {
        let was_empty = queue.items.is_empty();
        queue.items.push_back(item);
        drop(queue);
        if was_empty {
            self.wake();
        }
    }

    fn wake(&self) {
        self.woken.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Waits until something is queued or the session must stop.
    pub fn ready(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| {
            if self.woken.swap(false, Ordering::AcqRel) {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            // A wake between the swap and the registration found no waker: look again.
            match self.woken.swap(false, Ordering::AcqRel) {
                true => Poll::Ready(()),
                false => Poll::Pending,
            }
        })
    }

    /// Takes everything queued; the session writes it, and batches queue behind, until
    /// [`Outbox::settle`].
    pub fn drain(&self) -> VecDeque<Outgoing> {
        let mut queue = self.queue.lock().unwrap();
        queue.bytes = 0;
        queue.busy = true;
        std::mem::take(&mut queue.items)
    }

    /// The session is about to write a subscription's start, or to drop a subscription:
    /// batches queue behind until [`Outbox::settle`] (a direct write under way ends first).
    pub fn hold(&self) {
        self.queue.lock().unwrap().busy = true;
    }

    /// The session has flushed all it wrote: batches may be written directly again, unless
    /// some were queued meanwhile (then the session, woken, drains them first).
    pub fn settle(&self) {
        let mut queue = self.queue.lock().unwrap();
        if queue.items.is_empty() && queue.wire.is_some() {
            queue.busy = false;
        }
    }

    /// The session is closing: nothing is written directly from now on, and the socket is
    /// no longer held.
    pub fn close(&self) {
        let mut queue = self.queue.lock().unwrap();
        queue.busy = true;
        queue.wire = None;
    }

    pub fn queued_bytes(&self) -> usize {
        self.queue.lock().unwrap().bytes
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use marauder_core::MapId;
    use marauder_core::protocol::{Event, EventBody};

    use futures_util::FutureExt;

    use super::*;

    #[test]
    fn the_queue_never_holds_more_than_its_capacity() {
        let outbox = Outbox::new(1000);
        let event = Arc::new(Event {
            seq: 1,
            body: EventBody::Left { player: "p".into(), name: "n".into(), removed: None },
        });
        let batch = Arc::new(Batch::new(MapId::parse("m").unwrap(), vec![event]));
        let len = batch.frame.len();
        let live = AtomicU64::new(0);
        let mut accepted = 0;
        assert_eq!(outbox.push_batch(&batch, &live), Queued::Caught);
        accepted += 1;
        while outbox.push_batch(&batch, &live) == Queued::Behind {
            accepted += 1;
        }
        assert_eq!(accepted, 1000 / len);
        assert!(outbox.queued_bytes() <= 1000);
        assert_eq!(outbox.drain().len(), accepted);
        assert_eq!(outbox.queued_bytes(), 0);
        assert_eq!(outbox.push_batch(&batch, &live), Queued::Caught);
    }

    fn joined(seq: u64) -> Arc<Event> {
        Arc::new(Event { seq, body: EventBody::Joined { player: format!("p{seq}"), name: "N".into() } })
    }

    fn batch(seqs: std::ops::RangeInclusive<u64>) -> Arc<Batch> {
        Arc::new(Batch::new(MapId::parse("m").unwrap(), seqs.map(joined).collect()))
    }

    /// What the client has read so far, all of it there is.
    async fn read_now(client: &mut tokio::net::TcpStream, expected: usize) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let mut got = vec![0; expected];
        client.read_exact(&mut got).await.unwrap();
        got
    }

    fn woken(outbox: &Outbox) -> bool {
        outbox.ready().now_or_never().is_some()
    }

    #[tokio::test]
    async fn the_next_batch_goes_straight_to_the_socket_when_nothing_is_ahead() {
        let (wire, mut client, _read) = crate::wire::tests::pair().await;
        let outbox = Outbox::with_wire(1 << 20, Some(wire));
        let delivered = AtomicU64::new(2);
        let first = batch(3..=4);
        assert_eq!(outbox.push_batch(&first, &delivered), Queued::Sent);
        assert_eq!(delivered.load(Ordering::Relaxed), 4, "delivered moves with a direct write");
        assert!(outbox.drain().is_empty(), "nothing was queued");
        assert!(!woken(&outbox), "the session was not woken");
        assert_eq!(read_now(&mut client, first.wire.len()).await, first.wire);
        // The wire form is a final text frame whose payload is the shared frame.
        assert_eq!(first.wire[0], 0x81);
        assert_eq!(&first.wire[first.wire.len() - first.frame.len()..], first.frame.as_bytes());
    }

    #[tokio::test]
    async fn a_batch_waits_in_the_queue_whenever_it_cannot_go_first() {
        let (wire, mut client, _read) = crate::wire::tests::pair().await;
        let outbox = Outbox::with_wire(1 << 20, Some(wire.clone()));
        // Not live yet (the session has not sent the map's state): queued.
        let delivered = AtomicU64::new(NOT_LIVE);
        assert_eq!(outbox.push_batch(&batch(1..=1), &delivered), Queued::Caught);
        assert!(woken(&outbox));
        // Behind a queued batch: queued, even when it is next.
        let _ = outbox.drain();
        delivered.store(1, Ordering::Relaxed);
        outbox.settle();
        outbox.hold();
        assert_eq!(outbox.push_batch(&batch(2..=2), &delivered), Queued::Caught, "held: queued");
        assert_eq!(outbox.push_batch(&batch(3..=3), &delivered), Queued::Behind);
        assert_eq!(delivered.load(Ordering::Relaxed), 1, "a queued batch moves nothing");
        assert_eq!(outbox.drain().len(), 2);
        delivered.store(3, Ordering::Relaxed);
        outbox.settle();
        // After a gap: queued, so that the session fills it.
        assert_eq!(outbox.push_batch(&batch(5..=5), &delivered), Queued::Caught);
        assert_eq!(outbox.drain().len(), 1);
        outbox.settle();
        // One that ends a subscription: queued, the session cuts it.
        let left = Arc::new(Event {
            seq: 4,
            body: EventBody::Left { player: "p".into(), name: "n".into(), removed: None },
        });
        let ends = Arc::new(Batch::new(MapId::parse("m").unwrap(), vec![left]));
        assert_eq!(outbox.push_batch(&ends, &delivered), Queued::Caught);
        assert_eq!(outbox.drain().len(), 1);
        // Settled with nothing queued: direct again.
        outbox.settle();
        let direct = batch(4..=4);
        assert_eq!(outbox.push_batch(&direct, &delivered), Queued::Sent);
        assert!(outbox.drain().is_empty());
        assert_eq!(read_now(&mut client, direct.wire.len()).await, direct.wire);
        // Closed: never direct again, and the socket is not held.
        outbox.close();
        outbox.settle();
        assert_eq!(outbox.push_batch(&batch(5..=5), &delivered), Queued::Caught);
        assert_eq!(outbox.drain().len(), 1);
        assert_eq!(Arc::strong_count(&wire), 1, "the outbox let go of the socket");
    }

    #[tokio::test]
    async fn a_stop_wakes_the_session_once_with_the_first_reason() {
        let outbox = Outbox::new(1000);
        assert_eq!(outbox.stopped(), None);
        outbox.stop(Stop::Revoked);
        outbox.stop(Stop::Shutdown);
        outbox.ready().await; // The permit left by the first stop: no waiter was there.
        assert_eq!(outbox.stopped(), Some(Stop::Revoked), "the first reason stays");
        assert!(outbox.drain().is_empty(), "a stop queues no frame");
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(20), outbox.ready()).await;
        assert!(waiting.is_err(), "the second stop changed nothing and left no permit");
    }
}
