//! Gives the memory the allocator keeps but nobody uses back to the OS, now and then.
//!
//! glibc's malloc keeps a heap per thread that allocates ("arena") and returns freed memory
//! to the OS only from the top of a heap. A server that stores points quickly (the trail
//! buffer filled by the workers and emptied by the writer thread, redb's pages allocated by
//! the writer and the readers) leaves its heaps full of free holes: measured after a million
//! points stored, 93 MiB resident of which 46 MiB free (BENCHMARKS.md, "Trail memory").
//! `malloc_trim` hands those pages back (`madvise(MADV_DONTNEED)` on every free page of
//! every arena). It walks the arenas under their locks, so it runs rarely, off the workers.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often the allocator's free pages are handed back, by default (`--malloc-trim-secs`).
pub const INTERVAL_SECS: u64 = 10;

/// Trims every `every` until `shutdown` (never if it is zero); nothing on allocators other
/// than glibc's.
pub fn start(every: Duration, shutdown: CancellationToken) {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) || every.is_zero() {
        return;
    }
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // The first tick is now: nothing to give back yet.
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = shutdown.cancelled() => return,
            }
            let started = std::time::Instant::now();
            let released = tokio::task::spawn_blocking(trim).await.unwrap_or(false);
            tracing::trace!(released, took = ?started.elapsed(), "malloc_trim");
        }
    });
}

/// Answers whether any memory was given back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() -> bool {
    // SAFETY: malloc_trim has no preconditions: it takes each arena's lock itself, and any
    // thread may call it at any time.
    #[allow(unsafe_code)]
    let released = unsafe { libc::malloc_trim(0) };
    released == 1
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() -> bool {
    false
}
