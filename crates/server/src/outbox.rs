//! A connection's outgoing queue: bounded in bytes, filled by the hub, drained by the
//! connection's session, which writes everything queued and then flushes once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use marauder_core::MapId;
use tokio::sync::Notify;

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
    ready: Notify,
    capacity_bytes: usize,
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
            ready: Notify::new(),
            capacity_bytes,
        })
    }

    /// Queues a batch; `false` (and nothing queued) when it does not fit.
    pub fn push_batch(&self, batch: Arc<Batch>) -> bool {
        let len = batch.frame.len();
        let mut queue = self.queue.lock().unwrap();
        if queue.bytes + len > self.capacity_bytes && !queue.items.is_empty() {
            return false;
        }
        queue.bytes += len;
        self.push(queue, Outgoing::Batch(batch));
        true
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
            self.ready.notify_one();
        }
    }

    /// Waits until something is queued.
    pub async fn ready(&self) {
        self.ready.notified().await
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
