//! A connection's outgoing queue: bounded in bytes, filled by the hub, drained by the
//! connection's session, which writes everything queued and then flushes once.
//!
//! It is also how the session hears that it must end (the server shuts down, its player is
//! deleted, its session revoked): a [`Stop`] set once, behind the same wake-up as the frames.
//! The session's loop then waits on one thing for everything the server tells it, and a
//! wake-up for frames checks one atomic instead of polling a cancellation token per reason
//! (each a mutex and a waiter registration, at every frame: measured in issue #15's profile).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use futures_util::task::AtomicWaker;
use marauder_core::MapId;

use crate::hub::Batch;

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
    /// Queued; the session had written everything before it.
    Caught,
    /// Queued behind frames the session has not written yet: it is a batch or more behind.
    Behind,
    /// It did not fit; nothing was queued.
    Full,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Outgoing>,
    bytes: usize,
}

impl Outbox {
    pub fn new(capacity_bytes: usize) -> Arc<Outbox> {
        Arc::new(Outbox {
            queue: Mutex::default(),
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

    /// Queues a batch, unless it does not fit; says whether the session had written out
    /// everything queued before.
    pub fn push_batch(&self, batch: Arc<Batch>) -> Queued {
        let len = batch.frame.len();
        let mut queue = self.queue.lock().unwrap();
        if queue.bytes + len > self.capacity_bytes && !queue.items.is_empty() {
            return Queued::Full;
        }
        queue.bytes += len;
        let behind = !queue.items.is_empty();
        self.push(queue, Outgoing::Batch(batch));
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

    /// Takes everything queued.
    pub fn drain(&self) -> VecDeque<Outgoing> {
        let mut queue = self.queue.lock().unwrap();
        queue.bytes = 0;
        std::mem::take(&mut queue.items)
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
        let mut accepted = 0;
        assert_eq!(outbox.push_batch(batch.clone()), Queued::Caught);
        accepted += 1;
        while outbox.push_batch(batch.clone()) == Queued::Behind {
            accepted += 1;
        }
        assert_eq!(accepted, 1000 / len);
        assert!(outbox.queued_bytes() <= 1000);
        assert_eq!(outbox.drain().len(), accepted);
        assert_eq!(outbox.queued_bytes(), 0);
        assert_eq!(outbox.push_batch(batch), Queued::Caught);
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
