//! Trail points acknowledged but not yet in the trails table. Reads merge them with the
//! database, so a point is visible from the moment its 202 is sent. A point goes through three
//! stages: pending (in memory only, until the next commit), logged (committed to the trail
//! log, [`crate::codec::TRAIL_LOG`], in the order points came, and kept here too) and folded
//! (moved from the log into the trails table, where it is kept by player). Committing every
//! 100 ms straight into a table kept by player costs a B-tree leaf a player a commit; the log
//! appends at its end, and a fold writes each player's points of many commits at once.
//!
//! Bounds: pending points take room, at most the buffer's capacity, and when the writer falls
//! behind new points wait for room (backpressure on the senders) instead of growing memory;
//! logged points are folded once there are [`crate::Options::trail_fold_points`] of them or
//! the oldest has waited [`crate::Options::trail_fold_after`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use marauder_core::PlayerId;
use marauder_core::protocol::Fix;
use tokio::sync::Semaphore;

/// One player's pending points, each with the unique part of its key.
pub type Points = Vec<(u64, Fix)>;
pub type Batch = HashMap<PlayerId, Points>;

/// How the writer's commit of the committing batch ended.
pub enum Committed {
    /// Nothing written: the points go back to pending.
    Failed,
    /// Written to the trails table, with a fold.
    Folded,
    /// Written to the trail log, but for the points of these players: gone, or written
    /// straight to the trails table.
    Logged { not_logged: Vec<PlayerId> },
}

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
    /// Points in the trail log, not yet folded into the trails table.
    logged: Batch,
    /// When the oldest logged point was committed (`None` when none is).
    logged_since: Option<Instant>,
    /// The logged points the writer is folding now: still shown to reads until it is done.
    folding: Arc<Batch>,
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
    pub fn finish_commit(&self, committed: Committed) {
        let mut inner = self.inner.lock().unwrap();
        let mut done = owned(std::mem::take(&mut inner.committing));
        let points = count(&done);
        match committed {
            Committed::Failed => return put_back(&mut inner.pending, done),
            Committed::Folded => {}
            Committed::Logged { not_logged } => {
                for player in &not_logged {
                    done.remove(player);
                }
                for (player, mut fixes) in done {
                    inner.logged.entry(player).or_default().append(&mut fixes);
                }
                if !inner.logged.is_empty() {
                    inner.logged_since.get_or_insert_with(Instant::now);
                }
            }
        }
        drop(inner);
        self.room.add_permits(points);
    }

    /// Whether the logged points are due to be folded: `max_points` of them, or the oldest
    /// logged `max_age` ago.
    pub fn fold_due(&self, max_points: usize, max_age: Duration) -> bool {
        let inner = self.inner.lock().unwrap();
        count(&inner.logged) >= max_points
            || inner.logged_since.is_some_and(|since| since.elapsed() >= max_age)
    }

    /// Moves the logged points into the folding batch and answers it.
    pub fn start_fold(&self) -> Arc<Batch> {
        let mut inner = self.inner.lock().unwrap();
        let batch = Arc::new(std::mem::take(&mut inner.logged));
        inner.logged_since = None;
        inner.folding = batch.clone();
        batch
    }

    /// Ends a fold: when it failed, its points are logged again, before any logged since.
    pub fn finish_fold(&self, folded: bool) {
        let mut inner = self.inner.lock().unwrap();
        let done = owned(std::mem::take(&mut inner.folding));
        if !folded && !done.is_empty() {
            inner.logged_since = Some(Instant::now());
            put_back(&mut inner.logged, done);
        }
    }

    /// Logged points not yet folded.
    #[cfg(test)]
    pub fn logged_len(&self) -> usize {
        count(&self.inner.lock().unwrap().logged)
    }

    /// Points waiting for the next commit.
    pub fn pending_len(&self) -> usize {
        count(&self.inner.lock().unwrap().pending)
    }

    pub fn is_empty(&self) -> bool {
        self.inner.lock().unwrap().pending.is_empty()
    }

    /// Forgets a deleted player's points not yet folded (their rows in the log are skipped
    /// when it is folded: the player is gone).
    pub fn forget(&self, player: &PlayerId) {
        let mut inner = self.inner.lock().unwrap();
        let removed = inner.pending.remove(player);
        if inner.logged.remove(player).is_some() && inner.logged.is_empty() {
            inner.logged_since = None;
        }
        drop(inner);
        self.room.add_permits(removed.map_or(0, |points| points.len()));
    }

    /// The player's points not yet in the trails table (folding, logged, committing and
    /// pending); a point a fold or commit just wrote may also be in the table.
    pub fn points_of(&self, player: &PlayerId) -> Points {
        let inner = self.inner.lock().unwrap();
        [&*inner.folding, &inner.logged, &*inner.committing, &inner.pending]
            .into_iter()
            .flat_map(|batch| batch.get(player).into_iter().flatten())
            .cloned()
            .collect()
    }
}

/// The points of a batch.
fn count(batch: &Batch) -> usize {
    batch.values().map(Vec::len).sum()
}

/// The batch, taken back from the writer (which has let go of it) without a copy.
fn owned(batch: Arc<Batch>) -> Batch {
    Arc::try_unwrap(batch).unwrap_or_else(|shared| (*shared).clone())
}

/// Puts `earlier` back in front of what came since.
fn put_back(into: &mut Batch, earlier: Batch) {
    for (player, mut points) in earlier {
        let later = into.entry(player).or_default();
        points.append(later);
        *later = points;
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

        buffer.finish_commit(Committed::Folded);
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
        buffer.finish_commit(Committed::Failed);
        let batch = buffer.start_commit();
        assert_eq!(batch[&player].iter().map(|(_, f)| f.ts).collect::<Vec<_>>(), vec![1, 2]);
    }

    fn timestamps(points: Points) -> Vec<i64> {
        points.iter().map(|(_, f)| f.ts).collect()
    }

    #[tokio::test]
    async fn logged_points_are_read_until_folded_and_a_failed_fold_keeps_them_first() {
        let buffer = TrailBuffer::new(10);
        let (luna, ginny) = (PlayerId::parse("luna").unwrap(), PlayerId::parse("ginny").unwrap());
        buffer.push(&luna, fix(1)).await;
        buffer.push(&ginny, fix(2)).await;
        let _batch = buffer.start_commit();
        buffer.finish_commit(Committed::Logged { not_logged: vec![ginny.clone()] });
        assert_eq!((buffer.logged_len(), buffer.pending_len()), (1, 0), "the point not logged is not kept");
        assert_eq!(timestamps(buffer.points_of(&luna)), vec![1]);
        assert_eq!(timestamps(buffer.points_of(&ginny)), Vec::<i64>::new());
        assert!(buffer.fold_due(1, Duration::from_secs(60)), "one point, the most the log may hold");
        assert!(!buffer.fold_due(2, Duration::from_secs(60)));
        assert!(buffer.fold_due(2, Duration::ZERO), "logged for long enough");

        let folding = buffer.start_fold();
        assert_eq!(folding[&luna].len(), 1);
        buffer.push(&luna, fix(3)).await;
        assert_eq!(timestamps(buffer.points_of(&luna)), vec![1, 3], "a point being folded is still read");
        let _batch = buffer.start_commit();
        buffer.finish_commit(Committed::Logged { not_logged: vec![] });
        buffer.finish_fold(false);
        assert_eq!(buffer.logged_len(), 2);
        assert_eq!(
            timestamps(buffer.start_fold()[&luna].clone()),
            vec![1, 3],
            "the failed fold's points first"
        );
        buffer.finish_fold(true);
        assert_eq!((buffer.logged_len(), buffer.points_of(&luna).len()), (0, 0));
        assert!(!buffer.fold_due(1, Duration::ZERO), "nothing logged, nothing due");
    }

    #[tokio::test]
    async fn forgetting_a_player_drops_its_logged_points() {
        let buffer = TrailBuffer::new(10);
        let player = PlayerId::parse("p").unwrap();
        buffer.push(&player, fix(1)).await;
        let _batch = buffer.start_commit();
        buffer.finish_commit(Committed::Logged { not_logged: vec![] });
        buffer.push(&player, fix(2)).await;
        buffer.forget(&player);
        assert_eq!((buffer.logged_len(), buffer.pending_len()), (0, 0));
        assert!(buffer.points_of(&player).is_empty());
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
