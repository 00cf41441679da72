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
        Arc::new(Outbox { queue: Mutex::default(), ready: Notify::new(), capacity_bytes })
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
        while outbox.push_batch(batch.clone()) {
            accepted += 1;
        }
        assert_eq!(accepted, 1000 / len);
        assert!(outbox.queued_bytes() <= 1000);
        assert_eq!(outbox.drain().len(), accepted);
        assert_eq!(outbox.queued_bytes(), 0);
        assert!(outbox.push_batch(batch));
    }
}
