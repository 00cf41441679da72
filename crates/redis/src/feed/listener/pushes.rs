//! The bounded channel on which redis-rs hands the listener every push of its subscription
//! connections. redis-rs sends from its connection task and must never wait, so a full
//! channel does not block: the push is dropped, but never silently. Its channel is noted
//! (a set of channel names: at most the channels subscribed), and the reader then catches
//! that map up from its stream, or subscribes it again if the push was Redis ending the
//! subscription. A notice has no stream: one dropped is logged and counted, and a revoked
//! session's sockets still close at their next token check.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use redis::aio::{AsyncPushSender, SendError};
use redis::{PushInfo, PushKind, Value};
use tokio::sync::Notify;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{Receiver, Sender};

/// Pushes queued for the reader at most: about 5 MB of events, below the 32 MB Redis lets a
/// subscriber fall behind by (`client-output-buffer-limit pubsub` in `deploy/redis.conf`).
pub const CAPACITY: usize = 16 * 1024;

/// What the reader must do for channels whose pushes did not fit.
#[derive(Default)]
pub struct Overflow {
    /// Channel name → whether Redis ended its subscription (then subscribe it again).
    channels: Mutex<HashMap<String, bool>>,
    /// Wakes the reader when `channels` gains one.
    pub noted: Notify,
    /// Pushes dropped so far.
    pub dropped: AtomicU64,
}

impl Overflow {
    fn note(&self, push: PushInfo) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        let Some(Value::BulkString(channel)) = push.data.into_iter().next() else { return };
        let ended = matches!(push.kind, PushKind::Unsubscribe | PushKind::SUnsubscribe);
        let channel = String::from_utf8_lossy(&channel).into_owned();
        *self.channels.lock().unwrap().entry(channel).or_default() |= ended;
        self.noted.notify_one();
    }

    /// The channels noted since the last call, each with whether Redis ended it.
    pub fn take(&self) -> Vec<(String, bool)> {
        self.channels.lock().unwrap().drain().collect()
    }
}

/// The sending side, handed to redis-rs (every subscription connection gets a clone).
#[derive(Clone)]
pub struct PushSender {
    queue: Sender<PushInfo>,
    overflow: Arc<Overflow>,
}

impl AsyncPushSender for PushSender {
    fn send(&self, push: PushInfo) -> Result<(), SendError> {
        match self.queue.try_send(push) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(push)) => {
                self.overflow.note(push);
                Ok(())
            }
            Err(TrySendError::Closed(_)) => Err(SendError),
        }
    }
}

/// The receiving side, read by the listener's reader.
pub struct Pushes {
    pub queue: Receiver<PushInfo>,
    pub overflow: Arc<Overflow>,
}

pub fn channel(capacity: usize) -> (PushSender, Pushes) {
    let (queue, received) = tokio::sync::mpsc::channel(capacity);
    let overflow = Arc::new(Overflow::default());
    (PushSender { queue, overflow: overflow.clone() }, Pushes { queue: received, overflow })
}
