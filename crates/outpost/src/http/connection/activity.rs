//! The header read and idle timeouts of one connection, kept by its socket ([`WatchedIo`])
//! from what its service reports ([`Activity`]).
//!
//! hyper's own `header_read_timeout` starts when the server waits for a request, so on a
//! keep-alive connection the idle wait would count against the header's time. Here, as in
//! Go's `net/http`, the two are apart: while no request is being answered, a read that has
//! to wait is bounded by the idle timeout from the end of the last answer, and once the next
//! request's first byte arrives, by the header timeout from that byte (a new connection's
//! first header is bounded from the accept). When a deadline passes the read fails and
//! hyper closes the connection.
//!
//! While a request is being answered — from its complete header until its response body is
//! done or dropped — no deadline applies: a long tool call or an SSE stream is never idle.
//! The body's own bound is [`BodyDeadline`](super::body_deadline::BodyDeadline).

use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::body::{Body, Bytes};
use futures::task::AtomicWaker;
use http_body::{Frame, SizeHint};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

/// No instant recorded.
const NEVER: u64 = u64::MAX;

/// What a connection is doing, as its service reports it to its socket.
#[derive(Debug)]
pub struct Activity {
    started: Instant,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    answering: AtomicBool,
    /// Milliseconds from `started` to the end of the last answer (0: the accept).
    ready_at: AtomicU64,
    /// Milliseconds from `started` to the first byte of the awaited header, or [`NEVER`].
    header_at: AtomicU64,
    /// The read that waited while a request was answered, with no deadline: woken when the
    /// answer is done, to start the idle wait.
    reader: AtomicWaker,
}

impl Activity {
    /// A connection accepted now: its first header is due within `header_read_timeout`.
    pub fn new(header_read_timeout: Duration, idle_timeout: Duration) -> Self {
        Self {
            started: Instant::now(),
            header_read_timeout,
            idle_timeout,
            answering: AtomicBool::new(false),
            ready_at: AtomicU64::new(0),
            header_at: AtomicU64::new(0),
            reader: AtomicWaker::new(),
        }
    }

    /// A request's header is complete: it is being answered until the guard is dropped.
    pub fn answering(self: &Arc<Self>) -> Answering {
        self.answering.store(true, Ordering::Relaxed);
        Answering(self.clone())
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(NEVER - 1)
    }

    /// Notes that bytes arrived while no request is being answered.
    fn read_between_answers(&self) {
        if self.header_at.load(Ordering::Relaxed) == NEVER {
            self.header_at.store(self.now(), Ordering::Relaxed);
        }
    }

    /// When a read waiting for a request must give up; `None` while one is being answered.
    fn deadline(&self) -> Option<Instant> {
        if self.answering.load(Ordering::Relaxed) {
            return None;
        }
        let after =
            |millis: u64, timeout: Duration| self.started + Duration::from_millis(millis) + timeout;
        Some(match self.header_at.load(Ordering::Relaxed) {
            NEVER => after(self.ready_at.load(Ordering::Relaxed), self.idle_timeout),
            header_at => after(header_at, self.header_read_timeout),
        })
    }
}

/// A request being answered; dropped when its response body is done (or the request is
/// abandoned), which starts the idle wait for the next.
#[derive(Debug)]
pub struct Answering(Arc<Activity>);

impl Drop for Answering {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.ready_at.store(activity.now(), Ordering::Relaxed);
        activity.header_at.store(NEVER, Ordering::Relaxed);
        activity.answering.store(false, Ordering::Relaxed);
        activity.reader.wake();
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request [`Answering`] until it ends or is dropped.
    pub struct AnsweredBody {
        #[pin]
        body: Body,
        answering: Option<Answering>,
    }
}

impl AnsweredBody {
    /// `body`, answering until it is done.
    pub fn new(body: Body, answering: Option<Answering>) -> Self {
        Self { body, answering }
    }
}

impl http_body::Body for AnsweredBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.project();
        let frame = ready!(this.body.poll_frame(cx));
        if frame.is_none() {
            this.answering.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A socket whose reads fail with `TimedOut` when a request is overdue (the module docs).
#[derive(Debug)]
pub struct WatchedIo<T> {
    io: T,
    activity: Arc<Activity>,
    timer: Pin<Box<Sleep>>,
}

impl<T> WatchedIo<T> {
    /// `io`, watched by what `activity` says.
    pub fn new(io: T, activity: Arc<Activity>) -> Self {
        let timer = Box::pin(tokio::time::sleep_until(
            activity.started + activity.header_read_timeout,
        ));
        Self {
            io,
            activity,
            timer,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        if let Poll::Ready(result) = Pin::new(&mut this.io).poll_read(cx, buf) {
            if buf.filled().len() > before && !this.activity.answering.load(Ordering::Relaxed) {
                this.activity.read_between_answers();
            }
            return Poll::Ready(result);
        }
        let Some(deadline) = this.activity.deadline() else {
            this.activity.reader.register(cx.waker());
            return Poll::Pending;
        };
        if this.timer.deadline() != deadline {
            this.timer.as_mut().reset(deadline);
        }
        ready!(this.timer.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "no complete request in time",
        )))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
