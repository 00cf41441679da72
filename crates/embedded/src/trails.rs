//! Trail points acknowledged but not yet committed. Reads merge them with the database, so
//! a point is visible from the moment its 202 is sent. The buffer holds a bounded number of
//! points: when the writer falls behind, new points wait for room (backpressure on the
//! senders) instead of growing memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use marauder_core::PlayerId;
use marauder_core::protocol::Fix;
use tokio::sync::Semaphore;

/// One player's pending points, each with the unique part of its key.
pub type Points = Vec<(u64, Fix)>;
pub type Batch = HashMap<PlayerId, Points>;

pub struct TrailBuffer {
    inner: Mutex<Buffered>,
    /// The unique part of trail keys; seeded from the clock so keys of different runs differ.
    next_unique: AtomicU64,
    /// One permit per point the buffer still has room for.
    room: Semaphore,
}

#[derive(Default)]
struct Buffered {
    pending: Batch,
    /// The batch the writer is committing now: still shown to reads until it is done.
    committing: Arc<Batch>,
}

impl TrailBuffer {
    /// A buffer of at most `capacity` uncommitted points (pending and committing).
    pub fn new(capacity: usize) -> TrailBuffer {
        let seed = marauder_core::now_millis() as u64 * 1000;
        TrailBuffer {
            inner: Mutex::default(),
            next_unique: AtomicU64::new(seed),
            room: Semaphore::new(capacity.min(Semaphore::MAX_PERMITS)),
        }
    }

    /// Adds a point, waiting while the buffer is full.
    pub async fn push(&self, player: &PlayerId, fix: Fix) {
        self.room.acquire().await.expect("the semaphore is never closed").forget();
        self.insert(player, fix);
    }

    /// Adds a point if there is room now; answers whether it did.
    pub fn try_push(&self, player: &PlayerId, fix: Fix) -> bool {
        let Ok(permit) = self.room.try_acquire() else { return false };
        permit.forget();
        self.insert(player, fix);
        true
    }

    fn insert(&self, player: &PlayerId, fix: Fix) {
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

    /// Ends a commit: when it succeeded the batch is on disk and its room is freed; when it
    /// failed its points go back to pending, for the next commit (acknowledged points are
    /// never dropped; a store that cannot commit fills up and makes senders wait).
    pub fn finish_commit(&self, committed: bool) {
        let mut inner = self.inner.lock().unwrap();
        let done = std::mem::take(&mut inner.committing);
        if committed {
            drop(inner);
            self.room.add_permits(done.values().map(Vec::len).sum());
            return;
        }
        let done = Arc::try_unwrap(done).unwrap_or_else(|shared| (*shared).clone());
        for (player, mut points) in done {
            let pending = inner.pending.entry(player).or_default();
            points.append(pending);
            *pending = points;
        }
    }

    /// Points waiting for the next commit.
    pub fn pending_len(&self) -> usize {
        self.inner.lock().unwrap().pending.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.lock().unwrap().pending.is_empty()
    }

    /// Forgets a deleted player's uncommitted points.
    pub fn forget(&self, player: &PlayerId) {
        let removed = self.inner.lock().unwrap().pending.remove(player);
        self.room.add_permits(removed.map_or(0, |points| points.len()));
    }

    /// The player's uncommitted points (pending and committing).
    pub fn points_of(&self, player: &PlayerId) -> Points {
        let inner = self.inner.lock().unwrap();
        let committing = inner.committing.get(player).into_iter().flatten();
        let pending = inner.pending.get(player).into_iter().flatten();
        committing.chain(pending).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::task::{Context, Waker};

    use super::*;

    fn fix(ts: i64) -> Fix {
        Fix { lat: 1.0, lon: 2.0, accuracy: None, altitude: None, speed: None, heading: None, ts }
    }

    #[tokio::test]
    async fn a_full_buffer_makes_senders_wait_for_a_commit() {
        let buffer = TrailBuffer::new(2);
        let player = PlayerId::parse("p").unwrap();
        buffer.push(&player, fix(1)).await;
        buffer.push(&player, fix(2)).await;
        let mut third = std::pin::pin!(buffer.push(&player, fix(3)));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(third.as_mut().poll(&mut cx).is_pending(), "no room for a third point");

        let batch = buffer.start_commit();
        assert_eq!(batch[&player].len(), 2);
        assert_eq!(buffer.points_of(&player).len(), 2, "points being committed are still read");
        assert!(third.as_mut().poll(&mut cx).is_pending(), "points being committed still take room");

        buffer.finish_commit(true);
        assert!(third.as_mut().poll(&mut cx).is_ready());
        assert_eq!(buffer.pending_len(), 1);
        assert_eq!(buffer.points_of(&player).iter().map(|(_, f)| f.ts).collect::<Vec<_>>(), vec![3]);
    }

    #[tokio::test]
    async fn a_failed_commit_puts_its_points_back_in_order() {
        let buffer = TrailBuffer::new(10);
        let player = PlayerId::parse("p").unwrap();
        buffer.push(&player, fix(1)).await;
        let _batch = buffer.start_commit();
        buffer.push(&player, fix(2)).await;
        buffer.finish_commit(false);
        let batch = buffer.start_commit();
        assert_eq!(batch[&player].iter().map(|(_, f)| f.ts).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[tokio::test]
    async fn try_push_takes_a_point_only_while_there_is_room() {
        let buffer = TrailBuffer::new(1);
        let player = PlayerId::parse("p").unwrap();
        assert!(buffer.try_push(&player, fix(1)));
        assert!(!buffer.try_push(&player, fix(2)), "full");
        assert_eq!(buffer.points_of(&player).iter().map(|(_, f)| f.ts).collect::<Vec<_>>(), vec![1]);
    }

    #[tokio::test]
    async fn forgetting_a_player_frees_its_room() {
        let buffer = TrailBuffer::new(1);
        let player = PlayerId::parse("p").unwrap();
        buffer.push(&player, fix(1)).await;
        buffer.forget(&player);
        assert!(buffer.is_empty());
        let mut next = std::pin::pin!(buffer.push(&player, fix(2)));
        assert!(next.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_ready());
    }
}
