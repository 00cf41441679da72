//! The embedded store's step of the erasure of expired trail points
//! ([`marauder_core::Store::erase_trails_before`]): run by the writer thread inside its
//! transaction, so it is one bounded write among the others and nothing waits on redb on an
//! async worker. The walk goes over [`codec::TRAIL_LEN`], which has a row exactly for each
//! player with committed points, in id order; where it stopped is kept in memory
//! ([`SweepCursor`]): after a restart the walk starts over, which costs a round, never a point.

use std::ops::Bound;
use std::sync::Mutex;

use marauder_core::StoreError;
use marauder_core::protocol::Millis;
use marauder_core::retention::Erased;
use redb::{ReadableTable, WriteTransaction};

use crate::codec::{self, db_err};

/// Where the next step starts: the first player id it may visit.
pub type Start = Bound<String>;

/// The walk's position between steps.
#[derive(Default)]
pub struct SweepCursor(Mutex<Option<Start>>);

impl SweepCursor {
    /// Where the next step starts (the beginning after a finished round).
    pub fn take(&self) -> Start {
        self.0.lock().unwrap().take().unwrap_or(Bound::Unbounded)
    }

    pub fn put(&self, next: Option<Start>) {
        *self.0.lock().unwrap() = next;
    }
}

/// Erases the points with `ts < cutoff` of at most `budget` players from `from` on, at most
/// `budget` points in all. Answers what it did and where the next step starts (`None`: the
/// round is over). A player whose points the budget cut short is where the next step starts.
pub fn erase(
    txn: &WriteTransaction,
    cutoff: Millis,
    budget: usize,
    from: Start,
) -> Result<(Erased, Option<Start>), StoreError> {
    let budget = budget.max(1);
    let mut lengths = txn.open_table(codec::TRAIL_LEN).map_err(db_err)?;
    let mut points = txn.open_table(codec::TRAILS).map_err(db_err)?;
    let start = match &from {
        Bound::Included(id) => Bound::Included(id.as_str()),
        Bound::Excluded(id) => Bound::Excluded(id.as_str()),
        Bound::Unbounded => Bound::Unbounded,
    };
    let players: Vec<(String, u64)> = lengths
        .range::<&str>((start, Bound::Unbounded))
        .map_err(db_err)?
        .take(budget)
        .map(|row| row.map(|(k, v)| (k.value().to_owned(), v.value())))
        .collect::<Result<_, _>>()
        .map_err(db_err)?;
    let mut erased = 0usize;
    for (id, len) in &players {
        let id = id.as_str();
        let old: Vec<(i64, u64)> = points
            .range((id, i64::MIN, 0)..(id, cutoff, 0))
            .map_err(db_err)?
            .take(budget - erased)
            .map(|row| row.map(|(k, _)| (k.value().1, k.value().2)))
            .collect::<Result<_, _>>()
            .map_err(db_err)?;
        for (ts, unique) in &old {
            points.remove((id, *ts, *unique)).map_err(db_err)?;
        }
        erased += old.len();
        let left = len.saturating_sub(old.len() as u64);
        if left == 0 {
            lengths.remove(id).map_err(db_err)?;
        } else if !old.is_empty() {
            lengths.insert(id, left).map_err(db_err)?;
        }
        if erased == budget {
            let done = Erased { points: erased as u64, round_done: false };
            return Ok((done, Some(Bound::Included(id.to_owned()))));
        }
    }
    let next = match players.last() {
        Some((last, _)) if players.len() == budget => Some(Bound::Excluded(last.clone())),
        _ => None,
    };
    Ok((Erased { points: erased as u64, round_done: next.is_none() }, next))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use marauder_core::protocol::Fix;
    use marauder_core::retention::{TrailMaxAge, sweep};
    use marauder_core::{SessionId, SessionRecord, Store, Token, now_millis};

    use crate::store_tests::{close, open, player};

    const PATIENCE: Duration = Duration::from_secs(30);

    fn fix(ts: i64) -> Fix {
        Fix { lat: 1.0, lon: 2.0, accuracy: None, altitude: None, speed: None, heading: None, ts }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_sweeper_erases_expired_points_in_the_background_and_ends_with_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let embedded = open(dir.path());
        let store = embedded.store.clone();
        let luna = player("luna", "Luna");
        let session = SessionRecord {
            id: SessionId::generate(),
            player: luna.id.clone(),
            token_hash: Token::generate().hash(),
            created_at: 1,
            last_seen: None,
            agent: None,
        };
        store.create_player(luna.clone(), session).await.unwrap();
        let (old, new) = (now_millis() - 3_600_000, now_millis() + 3_600_000);
        store.append_trails_and_map_ids(&luna.id, &[fix(old), fix(new)]).await.unwrap();
        store.flush().await.unwrap();

        let dyn_store: Arc<dyn Store> = store.clone();
        let sweeper =
            tokio::spawn(sweep(Arc::downgrade(&dyn_store), TrailMaxAge(Some(Duration::from_secs(60)))));
        drop(dyn_store);
        let erased = async {
            // The store's own read filters nothing: what it answers is what is stored.
            while store.trail(&luna.id, None, 10).await.unwrap() != vec![fix(new)] {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(PATIENCE, erased).await.expect("the expired point is erased, the new one kept");

        drop(store);
        tokio::time::timeout(PATIENCE, close(embedded)).await.expect("no step keeps the store open");
        tokio::time::timeout(PATIENCE, sweeper).await.expect("the sweeper ends with the store").unwrap();
    }
}
