//! The database handle the readers, the feed and the writer share, and which the writer can
//! replace. After an I/O error (a full disk, EIO) redb refuses every later operation until
//! the file is opened again, and the file opens again only once nothing holds the old
//! database: so nobody keeps a `Database` beyond one operation; each loads the current one,
//! and the writer closes and reopens it. It also holds the fault that readiness reports.
//!
//! It knows nothing of tables or records: only which database is current and why the store
//! cannot take writes, when it cannot.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use marauder_core::StoreError;
use redb::{Database, ReadTransaction, ReadableDatabase};
use tokio::sync::Semaphore;

use crate::codec::db_err;
use crate::internal;

/// Reads on the blocking pool at once, at most. Without a bound a burst of requests grows the
/// pool to a thread per request (200 threads for 200 clients posting over REST, measured),
/// which costs more in switches than the reads take; a few more than the cores keep the CPU
/// busy while a read waits on the disk.
const MAX_READERS: usize = 8;

/// A cheap-to-clone handle on the current database, if one is open.
#[derive(Clone)]
pub struct Db(Arc<Shared>);

struct Shared {
    path: PathBuf,
    cache_bytes: usize,
    current: ArcSwapOption<Database>,
    /// Why the store cannot take writes now (a reason for an operator); `None` when it can.
    fault: Mutex<Option<String>>,
    /// An I/O error a read met on the current database, for the writer.
    broken: Mutex<Option<String>>,
    readers: Arc<Semaphore>,
}

impl Db {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: &Path, cache_bytes: usize) -> Result<Db, redb::Error> {
        let db = Database::builder().set_cache_size(cache_bytes).create(path)?;
        Ok(Db(Arc::new(Shared {
            path: path.to_owned(),
            cache_bytes,
            current: ArcSwapOption::from_pointee(db),
            fault: Mutex::new(None),
            broken: Mutex::new(None),
            readers: Arc::new(Semaphore::new(MAX_READERS)),
        })))
    }

    /// The current database, held for one operation and then dropped; `Unavailable` while it
    /// is being reopened.
    pub fn get(&self) -> Result<Arc<Database>, StoreError> {
        self.0.current.load_full().ok_or_else(|| StoreError::Unavailable(self.reason()))
    }

    /// Runs `read` in a read transaction of the current database. Blocking: call it from the
    /// blocking pool, never from an async worker.
    pub fn read<T>(
        &self,
        read: impl FnOnce(&ReadTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let db = self.get()?;
        let result = db.begin_read().map_err(db_err).and_then(|txn| read(&txn));
        // An I/O error breaks the database for the writer too; it may have nothing to write
        // for a while, so it is told. Not for a database it has replaced already.
        if let Err(StoreError::Unavailable(reason)) = &result
            && self.0.current.load().as_ref().is_some_and(|current| Arc::ptr_eq(current, &db))
        {
            *self.0.broken.lock().unwrap() = Some(reason.clone());
        }
        result
    }

    /// What broke the current database in a read, once: the writer then recovers it.
    pub(crate) fn take_broken(&self) -> Option<String> {
        self.0.broken.lock().unwrap().take()
    }

    /// [`Db::read`] on the blocking pool, never on an async worker: a read can wait on the
    /// disk.
    pub async fn read_blocking<T: Send + 'static>(
        &self,
        read: impl FnOnce(&ReadTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let permit = self.0.readers.clone().acquire_owned().await.map_err(|e| internal("a read", e))?;
        let db = self.clone();
        let read = move || {
            let _permit = permit; // Held until the read is done, even if its caller went away.
            db.read(read)
        };
        tokio::task::spawn_blocking(read).await.map_err(|e| internal("a read", e))?
    }

    /// Why the store cannot take writes, or `None` when it can.
    pub fn fault(&self) -> Option<String> {
        self.0.fault.lock().unwrap().clone()
    }

    pub(crate) fn set_fault(&self, reason: String) {
        *self.0.fault.lock().unwrap() = Some(reason);
    }

    pub(crate) fn clear_fault(&self) {
        *self.0.fault.lock().unwrap() = None;
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.0.path
    }

    pub(crate) fn is_open(&self) -> bool {
        self.0.current.load().is_some()
    }

    /// Lets go of the current database: the file is released when the last operation that
    /// loaded it ends.
    pub(crate) fn close(&self) {
        self.0.current.store(None);
    }

    /// Opens the file again; fails (`DatabaseAlreadyOpen`) while an operation still holds the
    /// old database, or with the I/O error that is still there.
    pub(crate) fn reopen(&self) -> Result<(), redb::Error> {
        // The file must still be there: a new empty database would hide that the data is gone.
        let db = Database::builder().set_cache_size(self.0.cache_bytes).open(&self.0.path)?;
        self.0.current.store(Some(Arc::new(db)));
        Ok(())
    }

    fn reason(&self) -> String {
        self.fault().unwrap_or_else(|| "store: reopening the database".into())
    }
}
