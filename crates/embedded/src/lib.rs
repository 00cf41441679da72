//! Marauder's embedded backend: a [`Store`] and a [`Feed`] on one redb database in a local
//! directory, for a single machine with no external service.
//!
//! - Players, sessions, link codes, maps, memberships and seq reservations go through one
//!   writer thread that group-commits whatever is queued into a single fsynced transaction,
//!   so concurrent requests share fsyncs and each is durable before it is acknowledged.
//! - Trail points are buffered in memory (reads see them at once) and committed by the same
//!   thread every ~100 ms, keeping fsync off the location hot path.
//! - Each map's seq, recent events and latest locations live in memory ([`feed`]); the seq
//!   is reserved durably in blocks so that it never goes back or repeats after a crash.
//!   That memory is bounded ([`FeedLimits`], [`evict`]): unused maps and, past a budget,
//!   recent events are written to the database and read back on demand ([`spill`]).
//!
//! - An I/O error (a full disk) makes writes 503 and the store not ready until the writer has
//!   reopened the database and a commit succeeds again ([`recovery`]); reads run on the
//!   blocking pool, never on an async worker.
//!
//! It knows nothing of HTTP or WebSocket; it hands events to an [`EventSink`].

mod codec;
mod db;
mod evict;
mod feed;
#[cfg(test)]
mod feed_change_tests;
#[cfg(test)]
mod feed_tests;
mod maps;
#[cfg(test)]
mod maps_tests;
mod memberships;
mod places;
mod players;
mod public;
mod recovery;
mod retention;
mod sessions;
mod spill;
mod state;
mod store;
#[cfg(test)]
mod store_tests;
mod tokens;
#[cfg(test)]
mod trail_log_tests;
mod trails;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use marauder_core::{EventSink, StoreError};

pub use feed::EmbeddedFeed;
pub use store::EmbeddedStore;

#[derive(Debug, Clone)]
pub struct Options {
    /// Trail points kept per player; older ones are deleted.
    pub trail_retention: u64,
    /// Events kept per map for `since` resume.
    pub recent_events: usize,
    /// How long trail points may wait in memory before they are committed.
    pub trail_commit_interval: Duration,
    /// Trail points that may wait in memory for their commit; past it, senders wait.
    pub max_pending_points: usize,
    /// The trail log is folded into the trails table once it holds this many points...
    pub trail_fold_points: usize,
    /// ... or its oldest point was logged this long ago ([`trails`]).
    pub trail_fold_after: Duration,
    /// redb's page cache ([`STORE_CACHE_MIB`]).
    pub cache_bytes: usize,
    /// What the feed may keep in memory ([`FeedLimits`]).
    pub feed: FeedLimits,
}

/// The bound on the feed's memory: past it, maps' states and recent events are written to
/// the database and dropped, and read back on demand.
#[derive(Debug, Clone)]
pub struct FeedLimits {
    /// Maps whose state is in memory; past it the least recently used leave.
    pub max_maps: usize,
    /// Recent events in memory, all maps together (about 250 bytes each); past it, the
    /// least recently used maps' events are written to disk.
    pub max_events: usize,
    /// A map with no publish, snapshot or replay for this long leaves memory.
    pub idle: Duration,
}

/// [`FeedLimits`]' defaults: a map's state weighs ~1 KB plus ~0.3 KB a member; the
/// events ~250 bytes each, so ~50 MB + ~125 MB at most (BENCHMARKS.md, "Memory").
pub const FEED_MAX_MAPS: usize = 50_000;
pub const FEED_MAX_EVENTS: usize = 500_000;
pub const FEED_IDLE_SECS: u64 = 300;

/// redb's page cache, in MiB: what the store's memory grows to as it holds more trail points
/// (every page a commit writes enters it). redb's own default (1 GiB) made a server's memory
/// grow with its trail points until it held a gigabyte of them; past the hot pages (the ends
/// of the trails being appended to, the tables of players, sessions and maps) the OS page
/// cache serves re-reads as well. With 16 MiB (and the binary's `malloc_trim`) a server that
/// stored a million points holds ~20 MiB more than one that stored ten thousand, instead of
/// ~113 MiB with 64 (BENCHMARKS.md, "Trail memory").
pub const STORE_CACHE_MIB: usize = 16;

/// When the trail log is folded: at 10,000 points a second from 10,000 players, every ~6.5 s,
/// ~6 points a player in each fold. The logged points kept in memory meanwhile, ~100 bytes
/// each, are at most these and what reached the log in the 100 ms before the fold was due
/// (bounded by the 100,000 uncommitted points): ~16 MB at worst. A quiet server folds every
/// 10 s.
pub const TRAIL_FOLD_POINTS: usize = 65_536;
pub const TRAIL_FOLD_SECS: u64 = 10;

impl Default for FeedLimits {
    fn default() -> Self {
        FeedLimits {
            max_maps: FEED_MAX_MAPS,
            max_events: FEED_MAX_EVENTS,
            idle: Duration::from_secs(FEED_IDLE_SECS),
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            trail_retention: marauder_core::TRAIL_RETENTION,
            recent_events: marauder_core::RECENT_EVENTS,
            trail_commit_interval: Duration::from_millis(100),
            cache_bytes: STORE_CACHE_MIB << 20,
            max_pending_points: 100_000,
            trail_fold_points: TRAIL_FOLD_POINTS,
            trail_fold_after: Duration::from_secs(TRAIL_FOLD_SECS),
            feed: FeedLimits::default(),
        }
    }
}

/// The store and the feed over one database, and the handle that waits for it to close.
pub struct Embedded {
    pub store: Arc<EmbeddedStore>,
    pub feed: Arc<EmbeddedFeed>,
    pub closed: Closed,
}

/// Ends when the database is closed: after the store, the feed and every handle to them are
/// dropped, the writer commits what is left and releases the file.
pub struct Closed(std::thread::JoinHandle<()>);

impl Closed {
    /// Blocks until the database is closed.
    pub fn wait(self) {
        let _ = self.0.join();
    }
}

/// Opens (or creates) the database in `dir`.
pub fn open(dir: &Path, options: Options, sink: Arc<dyn EventSink>) -> Result<Embedded, StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| internal("creating the data directory", e))?;
    let db = db::Db::open(&dir.join("marauder.redb"), options.cache_bytes)
        .map_err(|e| internal("opening the database", e))?;
    codec::create_tables(&*db.get()?)?;
    let unfolded = writer::fold_log(&*db.get()?, options.trail_retention)?;
    if unfolded > 0 {
        tracing::info!(points = unfolded, "folded the trail points a stop left in the log");
    }
    public::prepare(&*db.get()?)?;
    sessions::migrate(&*db.get()?)?;
    let trails = Arc::new(trails::TrailBuffer::new(options.max_pending_points));
    let (writer, thread) = writer::Writer::start(db.clone(), trails.clone(), options.clone())?;
    let store = Arc::new(EmbeddedStore::new(db.clone(), writer.clone(), trails.clone()));
    let feed = Arc::new_cyclic(|me| {
        EmbeddedFeed::new(me.clone(), db, writer, trails, sink, options.recent_events, options.feed)
    });
    evict::start_sweeper(&feed);
    Ok(Embedded { store, feed, closed: Closed(thread) })
}

pub(crate) fn internal(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("{what}: {err}"))
}
