//! Gives the heap's free memory back to the OS once a minute.
//!
//! glibc's allocator keeps what a process frees for its next allocations: after a burst of
//! sessions or streams ends, resident memory stays near its peak, though nothing leaks
//! (`outpost-bench memory`: 10,000 `subscriptions/listen` streams closed leave 482 MiB
//! resident, 17.5 MiB after `malloc_trim`). A trim walks the heap, so it runs on a blocking
//! thread, never on a request's worker; elsewhere than glibc it does nothing.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often the heap is trimmed.
const INTERVAL: Duration = Duration::from_secs(60);

/// Trims the heap every [`INTERVAL`] until `shutdown` is cancelled.
pub(crate) fn spawn(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + INTERVAL, INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                () = shutdown.cancelled() => return,
            }
            let _ = tokio::task::spawn_blocking(trim).await;
        }
    });
}

/// Returns the free memory at the top of the heap and in every arena to the OS.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: `malloc_trim` takes each arena's lock itself and only releases memory no
    // allocation holds; any thread may call it at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Nothing to do: only glibc's allocator needs asking.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
