//! How the writer gets the store back after an I/O fault (a full disk, EIO). redb refuses
//! every operation after one ("Previous I/O error occurred") until the database is opened
//! again, and it opens again only once no operation holds the old one. So the writer lets go
//! of it and reopens it at once (reads go on), then, with backoff, probes the disk with a
//! scratch file beside the database and, once that takes a block and an fsync, commits the
//! pending trail points. Until that commit succeeds the store is not ready and refuses
//! writes. Probing with a scratch file, not with redb, keeps a still-full disk from breaking
//! the reopened database again, and the reads with it.
//!
//! It owns the retry schedule only; the writer decides when a fault starts.

use std::io::Write;
use std::time::{Duration, Instant};

use marauder_core::StoreError;

use crate::Options;
use crate::codec::db_err;
use crate::db::Db;
use crate::trails::{Committed, TrailBuffer};
use crate::writer::commit_pending;

const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// The longest wait between attempts: how late the store may notice that space is back.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// What the scratch file must take: more than a commit of a few records needs.
const PROBE_BYTES: usize = 64 * 1024;

pub struct Recovery {
    next: Instant,
    backoff: Duration,
}

impl Recovery {
    /// Records the fault and replaces the broken database with a fresh handle.
    pub fn start(db: &Db, reason: String) -> Recovery {
        tracing::error!(%reason, "the store cannot write; refusing writes and retrying until it can");
        db.set_fault(reason);
        reopen(db);
        Recovery { next: Instant::now() + FIRST_BACKOFF, backoff: FIRST_BACKOFF }
    }

    pub fn next_attempt(&self) -> Instant {
        self.next
    }

    pub fn is_due(&self) -> bool {
        Instant::now() >= self.next
    }

    /// Probes the disk and commits the pending trail points; answers whether the store takes
    /// writes again.
    pub fn attempt(&mut self, db: &Db, trails: &TrailBuffer, options: &Options) -> bool {
        match probe_and_commit(db, trails, options) {
            Ok(()) => {
                db.clear_fault();
                tracing::info!("the store takes writes again");
                true
            }
            Err(err) => {
                tracing::debug!(error = %err, retry_in = ?self.backoff, "the store still cannot write");
                if let StoreError::Unavailable(reason) = err {
                    db.set_fault(reason);
                }
                self.next = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                false
            }
        }
    }
}

/// Lets go of the database and opens it again; if an operation still holds the old one,
/// the next attempt tries again.
fn reopen(db: &Db) {
    db.close();
    if let Err(err) = db.reopen() {
        tracing::debug!(error = %err, "reopening the database failed; retrying");
    }
}

fn probe_and_commit(db: &Db, trails: &TrailBuffer, options: &Options) -> Result<(), StoreError> {
    if !db.is_open() {
        db.reopen().map_err(db_err)?;
    }
    probe(db).map_err(|e| db_err(redb::Error::Io(e)))?;
    let batch = trails.start_commit();
    let result = commit_pending(db, &batch, options);
    drop(batch);
    let (committed, result) = match result {
        Ok(not_logged) => (Committed::Logged { not_logged }, Ok(())),
        Err(err) => (Committed::Failed, Err(err)),
    };
    trails.finish_commit(committed);
    if let Err(StoreError::Unavailable(_)) = &result {
        reopen(db); // redb refuses everything after the failure until then.
    }
    result
}

/// Writes, syncs and removes a scratch file beside the database.
fn probe(db: &Db) -> std::io::Result<()> {
    let path = db.path().with_extension("probe");
    let result = (|| {
        let mut file = std::fs::File::create(&path)?;
        file.write_all(&[0u8; PROBE_BYTES])?;
        file.sync_data()
    })();
    let _ = std::fs::remove_file(&path);
    result
}
