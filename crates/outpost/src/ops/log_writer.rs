//! [`BatchedLogWriter`]: where log lines go so that writing one costs a request a short,
//! uncontended lock and a copy — no system call, no thread woken.
//!
//! A per-request line (target `outpost::request`) is appended to a buffer under a mutex; a
//! thread of its own swaps the buffer out every [`FLUSH_INTERVAL`] (or as soon as it holds
//! [`FLUSH_AT_BYTES`]) and writes the whole batch at once. Every other line — rare, and
//! often what an operator needs before a crash (a warning at start, an error) — also wakes
//! the thread, so it is written at once. A queue handing each line to a writer thread (tracing-appender's non-blocking
//! writer) wakes that thread for every line: on a busy server, a futex call and several
//! `sched_yield`s per request, on the same cores as the requests.
//!
//! A slow destination (a pipe nobody reads, a full disk) never stalls a request: lines queue
//! up to [`MAX_PENDING_BYTES`], beyond which they are dropped and counted
//! ([`LOG_LINES_DROPPED_TOTAL`](crate::metrics::LOG_LINES_DROPPED_TOTAL)), and a line saying
//! how many were lost is written once the destination takes lines again.
//!
//! The [`FlushGuard`] returned with the writer writes what is pending when dropped: keep it
//! alive until the process ends.
//!
//! ```
//! let (writer, _flush_on_exit) = outpost::log_writer::BatchedLogWriter::new(std::io::stderr());
//! tracing_subscriber::fmt().with_writer(writer).init();
//! tracing::info!("written within 50 ms, with whatever else was logged meanwhile");
//! ```

use std::{
    io::{self, Write},
    mem,
    sync::{Arc, Condvar, Mutex, MutexGuard, mpsc},
    thread::{self, JoinHandle},
    time::Duration,
};

use tracing::Metadata;
use tracing_subscriber::fmt::MakeWriter;

use super::request_log::REQUEST_LOG_TARGET;
use crate::metrics::LOG_LINES_DROPPED_TOTAL;

/// How long a line waits at most before it is written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// Pending bytes that wake the writing thread before the interval is up. Each wake preempts
/// the request thread on a busy core: at 64 KiB, `outpost-auth` under load woke it ~450
/// times a second; at 256 KiB ~110.
pub const FLUSH_AT_BYTES: usize = 256 * 1024;
/// Pending bytes beyond which lines are dropped until the destination catches up.
pub const MAX_PENDING_BYTES: usize = 8 * 1024 * 1024;
/// How long dropping the [`FlushGuard`] waits for the last lines to be written: a destination
/// that takes nothing more (a pipe nobody reads) must not keep the process from exiting.
pub const FLUSH_ON_EXIT_WAIT: Duration = Duration::from_secs(1);

/// A tracing-subscriber writer that batches lines for a thread of its own; see the
/// [module docs](self). Cheap to clone.
#[derive(Clone)]
pub struct BatchedLogWriter {
    shared: Arc<Shared>,
}

/// Writes what is pending and stops the writing thread when dropped.
#[must_use = "lines pending when the guard is dropped are written; drop it last"]
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// Says when the writing thread has written its last batch.
    finished: mpsc::Receiver<()>,
}

/// One log line being written: an [`io::Write`] that appends to the batch.
pub struct BatchedLine<'a> {
    shared: &'a Shared,
    /// Whether the line wakes the writing thread rather than waiting for the batch.
    urgent: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    /// Signalled when the batch reaches [`FLUSH_AT_BYTES`] or the guard is dropped.
    wake: Condvar,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// Lines dropped since the last batch was written.
    dropped: u64,
    /// Whether the batch holds a line to write at once.
    urgent: bool,
    stopping: bool,
}

impl BatchedLogWriter {
    /// A writer whose lines `destination` receives in batches from a thread named
    /// `outpost-log`, and the guard that flushes them at exit.
    ///
    /// # Panics
    /// If the thread cannot be spawned (the process is out of threads at start).
    pub fn new(destination: impl Write + Send + 'static) -> (Self, FlushGuard) {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
        });
        let (done, finished) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("outpost-log".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || {
                    shared.write_batches(destination);
                    let _ = done.send(());
                }
            })
            .expect("cannot spawn the log-writing thread");
        let guard = FlushGuard {
            shared: Arc::clone(&shared),
            thread: Some(thread),
            finished,
        };
        (Self { shared }, guard)
    }
}

impl<'a> MakeWriter<'a> for BatchedLogWriter {
    type Writer = BatchedLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        BatchedLine {
            shared: &self.shared,
            urgent: true,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        BatchedLine {
            shared: &self.shared,
            urgent: meta.target() != REQUEST_LOG_TARGET,
        }
    }
}

#[cfg(feature = "json-lines")]
impl BatchedLogWriter {
    /// Appends one request line (complete, with its newline) to the batch, as a line of the
    /// request target written through `tracing` is.
    pub(crate) fn append_request_line(&self, line: &[u8]) {
        let _ = BatchedLine {
            shared: &self.shared,
            urgent: false,
        }
        .write(line);
    }
}

impl Write for BatchedLine<'_> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut pending = self.shared.lock();
        let before = pending.bytes.len();
        if before + line.len() > MAX_PENDING_BYTES {
            // tracing-subscriber writes a formatted line in one call: one call, one line.
            pending.dropped += 1;
        } else {
            pending.bytes.extend_from_slice(line);
            pending.urgent |= self.urgent;
            if self.urgent || (before < FLUSH_AT_BYTES && pending.bytes.len() >= FLUSH_AT_BYTES) {
                self.shared.wake.notify_one();
            }
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while appending leaves the bytes whole or short of one line: keep going.
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The writing thread: every interval (or when woken), swaps the batch out and writes it,
    /// until the guard is dropped; then writes what is left.
    fn write_batches(&self, mut destination: impl Write) {
        let mut batch = Vec::new();
        loop {
            let (dropped, stopping) = {
                let mut pending = self.lock();
                if !pending.stopping && !pending.urgent && pending.bytes.len() < FLUSH_AT_BYTES {
                    pending = self
                        .wake
                        .wait_timeout(pending, FLUSH_INTERVAL)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0;
                }
                mem::swap(&mut pending.bytes, &mut batch);
                pending.urgent = false;
                (mem::take(&mut pending.dropped), pending.stopping)
            };
            // A destination that fails loses this batch; there is nowhere to report it.
            let _ = destination.write_all(&batch);
            if dropped > 0 {
                metrics::counter!(LOG_LINES_DROPPED_TOTAL).increment(dropped);
                let _ = writeln!(
                    destination,
                    "outpost: {dropped} log lines dropped: the log destination fell behind"
                );
            }
            let _ = destination.flush();
            // Keep the allocation for the next swap, but not a burst's worth of it.
            batch.clear();
            if batch.capacity() > 4 * FLUSH_AT_BYTES {
                batch.shrink_to(FLUSH_AT_BYTES);
            }
            if stopping {
                return;
            }
        }
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_one();
        // Joined only once it has finished: a stuck destination is left behind after
        // FLUSH_ON_EXIT_WAIT rather than waited for.
        if self.finished.recv_timeout(FLUSH_ON_EXIT_WAIT).is_ok()
            && let Some(thread) = self.thread.take()
        {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A destination the test can read, optionally stuck until released.
    #[derive(Clone, Default)]
    struct Captured {
        bytes: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.bytes.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn text(captured: &Captured) -> String {
        String::from_utf8(captured.bytes.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn lines_arrive_in_order_and_the_guard_flushes_what_is_pending() {
        let captured = Captured::default();
        let (writer, guard) = BatchedLogWriter::new(captured.clone());
        for n in 0..1000 {
            writeln!(writer.make_writer(), "line {n}").unwrap();
        }
        drop(guard);
        let expected: String = (0..1000).map(|n| format!("line {n}\n")).collect();
        assert_eq!(text(&captured), expected);
    }

    #[test]
    fn a_line_is_written_within_the_interval_without_a_flush() {
        let captured = Captured::default();
        let (writer, _guard) = BatchedLogWriter::new(captured.clone());
        writeln!(writer.make_writer(), "soon").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while text(&captured).is_empty() {
            assert!(std::time::Instant::now() < deadline, "the line never came");
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(text(&captured), "soon\n");
    }

    /// A destination that blocks until the test lets it go.
    struct Stuck {
        release: Arc<(Mutex<bool>, Condvar)>,
        inner: Captured,
    }

    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (released, signal) = &*self.release;
            let mut released = released.lock().unwrap();
            while !*released {
                released = signal.wait(released).unwrap();
            }
            self.inner.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_destination_that_never_takes_a_line_does_not_hold_up_the_exit() {
        let release = Arc::new((Mutex::new(false), Condvar::new()));
        let (writer, guard) = BatchedLogWriter::new(Stuck {
            release: Arc::clone(&release),
            inner: Captured::default(),
        });
        writeln!(writer.make_writer(), "never written").unwrap();
        let started = std::time::Instant::now();
        drop(guard);
        assert!(started.elapsed() < FLUSH_ON_EXIT_WAIT * 3);
        // Let the thread go, so the test leaves none behind.
        *release.0.lock().unwrap() = true;
        release.1.notify_all();
    }

    #[test]
    fn a_stuck_destination_drops_lines_beyond_the_cap_and_says_how_many() {
        let captured = Captured::default();
        let release = Arc::new((Mutex::new(false), Condvar::new()));
        let (writer, guard) = BatchedLogWriter::new(Stuck {
            release: Arc::clone(&release),
            inner: captured.clone(),
        });
        // The first line is swapped out and stuck in the destination; the rest fill the cap.
        writeln!(writer.make_writer(), "first").unwrap();
        thread::sleep(FLUSH_INTERVAL * 3);
        let line = vec![b'x'; 1023];
        let fit = MAX_PENDING_BYTES / 1024;
        for _ in 0..fit + 10 {
            let mut line = line.clone();
            line.push(b'\n');
            writer.make_writer().write_all(&line).unwrap();
        }
        let (released, signal) = &*release;
        *released.lock().unwrap() = true;
        signal.notify_all();
        drop(guard);
        let written = text(&captured);
        assert!(written.starts_with("first\n"));
        assert_eq!(written.matches(&"x".repeat(1023)).count(), fit);
        assert!(
            written.ends_with("outpost: 10 log lines dropped: the log destination fell behind\n"),
            "{}",
            &written[written.len() - 200..]
        );
    }
}
