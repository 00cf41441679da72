//! Trail points acknowledged but not yet committed. Reads merge them with the database, so
//! a point is visible from the moment its 202 is sent.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use marauder_core::PlayerId;
use marauder_core::protocol::Fix;

/// One player's pending points, each with the unique part of its key.
pub type Points = Vec<(u64, Fix)>;
pub type Batch = HashMap<PlayerId, Points>;

pub struct TrailBuffer {
    inner: Mutex<Buffered>,
    /// The unique part of trail keys; seeded from the clock so keys of different runs differ.
    next_unique: AtomicU64,
}

#[derive(Default)]
struct Buffered {
    pending: Batch,
    /// The batch the writer is committing now: still shown to reads until it is done.
    committing: Arc<Batch>,
}

impl Default for TrailBuffer {
    fn default() -> Self {
        let seed = marauder_core::now_millis() as u64 * 1000;
        TrailBuffer { inner: Mutex::default(), next_unique: AtomicU64::new(seed) }
    }
}

impl TrailBuffer {
    pub fn push(&self, player: &PlayerId, fix: Fix) {
        let unique = self.next_unique.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.inner.lock().unwrap();
        inner.pending.entry(player.clone()).or_default().push((unique, fix));
    }

    /// Moves the pending points into the committing batch and answers it.
    pub fn start_commit(&self) -> Arc<Batch> {
        let mut inner = self.inner.lock().unwrap();
        let batch = Arc::new(std::mem::take(&mut inner.pending));
        inner.committing = batch.clone();
        batch
    }

    pub fn finish_commit(&self) {
        self.inner.lock().unwrap().committing = Arc::default();
    }

    pub fn is_empty(&self) -> bool {
        self.inner.lock().unwrap().pending.is_empty()
    }

    /// Forgets a deleted player's uncommitted points.
    pub fn forget(&self, player: &PlayerId) {
        self.inner.lock().unwrap().pending.remove(player);
    }

    /// The player's uncommitted points (pending and committing).
    pub fn points_of(&self, player: &PlayerId) -> Points {
        let inner = self.inner.lock().unwrap();
        let committing = inner.committing.get(player).into_iter().flatten();
        let pending = inner.pending.get(player).into_iter().flatten();
        committing.chain(pending).cloned().collect()
    }
}
