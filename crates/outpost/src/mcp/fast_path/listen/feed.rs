//! One listen stream's side of the shared loop: a [`Feed`] (the SSE frames the loop routed
//! to it, already serialised, and the one waker of the body reading them) and the
//! [`ListenBody`] that streams them, with rmcp's keep-alive, and cancels the listen when it
//! is dropped before the end.
//!
//! A feed holds at most [`FEED_CAPACITY`] frames: a notification for a full feed waits (in
//! the serve loop's send task, so the handler's `send_notification` waits too), as rmcp's
//! per-request channel makes it wait.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    task::{Context, Poll, Waker},
    time::Duration,
};

use bytes::Bytes;
use http::StatusCode;
use http_body::{Body, Frame, SizeHint};
use rmcp::model::RequestId;
use tokio::{sync::Notify, time::Sleep};

use super::transport::Hub;

/// Frames a feed holds before a sender waits: rmcp's stateless stream channel's capacity.
pub(super) const FEED_CAPACITY: usize = 16;

/// rmcp's keep-alive event (`sse_stream::KeepAlive`'s default: an empty comment).
const KEEP_ALIVE: &[u8] = b":\n\n";

/// The frames routed to one listen stream.
pub(super) struct Feed {
    /// The id the client gave its `subscriptions/listen`, restored on everything it receives.
    pub(super) client_id: RequestId,
    /// The instance-unique id the request carries inside the shared loop.
    pub(super) internal_id: i64,
    state: Mutex<FeedState>,
    /// Woken when a frame is taken or the feed ends: a sender waiting for room retries.
    room: Notify,
}

#[derive(Default)]
struct FeedState {
    frames: VecDeque<Bytes>,
    /// The body waiting for a frame.
    reader: Option<Waker>,
    /// Nothing more will come: the listen's final message is queued, or the server shuts down.
    ended: bool,
    /// The final message ended the listen (its route is gone; nothing to cancel).
    answered: bool,
    /// The HTTP status of the final message, were it the first (rmcp's JSON answer).
    final_status: Option<StatusCode>,
}

/// What became of a frame offered to a feed.
pub(super) enum Offer {
    /// Queued (or dropped: the stream has ended).
    Taken,
    /// The feed is full; offer it again once there is room.
    Full(Bytes),
}

impl Feed {
    /// An empty feed for the listen the client sent as `client_id`, known to the loop as
    /// `internal_id`.
    pub(super) fn new(client_id: RequestId, internal_id: i64) -> Self {
        Self {
            client_id,
            internal_id,
            state: Mutex::new(FeedState::default()),
            room: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, FeedState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a notification's frame.
    pub(super) fn offer(&self, frame: Bytes) -> Offer {
        let mut state = self.state();
        if state.ended {
            return Offer::Taken;
        }
        if state.frames.len() >= FEED_CAPACITY {
            return Offer::Full(frame);
        }
        state.frames.push_back(frame);
        wake(&mut state);
        Offer::Taken
    }

    /// Queues the listen's final message (never refused: rmcp's loop sends one per request),
    /// with the status rmcp would answer it with as a whole reply.
    pub(super) fn finish(&self, frame: Bytes, status: StatusCode) {
        let mut state = self.state();
        if !state.ended {
            state.frames.push_back(frame);
            state.final_status = Some(status);
        }
        state.ended = true;
        state.answered = true;
        wake(&mut state);
        drop(state);
        self.room.notify_waiters();
    }

    /// Ends the stream after what is queued (server shutdown).
    pub(super) fn end(&self) {
        let mut state = self.state();
        state.ended = true;
        wake(&mut state);
        drop(state);
        self.room.notify_waiters();
    }

    /// Waits until the feed may take another frame (or has ended).
    pub(super) async fn room(&self) {
        let notified = self.room.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let state = self.state();
            if state.ended || state.frames.len() < FEED_CAPACITY {
                return;
            }
        }
        notified.await;
    }
}

fn wake(state: &mut FeedState) {
    if let Some(reader) = state.reader.take() {
        reader.wake();
    }
}

/// How a listen stream opens, decided by its first message as rmcp decides it.
pub(super) enum Opening {
    /// The first message is the final one (a refused listen): rmcp answers it alone, as JSON
    /// with this status.
    Whole(Bytes, StatusCode),
    /// A stream: the acknowledgement came first.
    Stream,
}

/// The SSE body of one listen stream. Dropped before the listen's final message (the client
/// went away), it cancels the listen in the shared loop.
pub(super) struct ListenBody {
    feed: Arc<Feed>,
    hub: Arc<Hub>,
    keep_alive: Duration,
    /// Armed once the head is sent; reset by every frame, as `sse_stream`'s keep-alive is.
    timer: Option<Pin<Box<Sleep>>>,
    done: bool,
}

impl ListenBody {
    /// The body of `feed`'s stream, on `hub`, with a keep-alive after `keep_alive` of silence.
    pub(super) fn new(feed: Arc<Feed>, hub: Arc<Hub>, keep_alive: Duration) -> Self {
        Self {
            feed,
            hub,
            keep_alive,
            timer: None,
            done: false,
        }
    }

    /// Waits for the first message and says how the answer opens.
    pub(super) async fn opening(&mut self) -> Opening {
        std::future::poll_fn(|cx| {
            let mut state = self.feed.state();
            match state.frames.front() {
                None if !state.ended => {
                    state.reader = Some(cx.waker().clone());
                    Poll::Pending
                }
                Some(frame) if state.ended && state.frames.len() == 1 => {
                    let status = state.final_status.unwrap_or(StatusCode::OK);
                    Poll::Ready(Opening::Whole(json_of(frame), status))
                }
                _ => Poll::Ready(Opening::Stream),
            }
        })
        .await
    }
}

/// The JSON message inside an SSE frame (`data: {json}\n\n`).
fn json_of(frame: &Bytes) -> Bytes {
    frame.slice(b"data: ".len()..frame.len() - 2)
}

impl Body for ListenBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let taken = {
            let mut state = this.feed.state();
            match state.frames.pop_front() {
                Some(frame) => Some(frame),
                None if state.ended => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                None => {
                    state.reader = Some(cx.waker().clone());
                    None
                }
            }
        };
        let deadline = tokio::time::Instant::now() + this.keep_alive;
        if let Some(frame) = taken {
            this.feed.room.notify_one();
            match &mut this.timer {
                Some(timer) => timer.as_mut().reset(deadline),
                None => this.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            return Poll::Ready(Some(Ok(Frame::data(frame))));
        }
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.as_mut().poll(cx).is_ready() {
            timer.as_mut().reset(deadline);
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(KEEP_ALIVE)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl Drop for ListenBody {
    fn drop(&mut self) {
        if !self.feed.state().answered {
            self.hub.cancel(&self.feed);
        }
    }
}
