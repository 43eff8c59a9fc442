//! The keep-alive timer of the SSE bodies Outpost frames itself with rmcp's SSE crate.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use sse_stream::Timer;

pin_project_lite::pin_project! {
    /// The keep-alive timer of a streaming body: a Tokio sleep (rmcp's `TokioTimer`).
    pub(crate) struct TokioSleep {
        #[pin]
        sleep: tokio::time::Sleep,
    }
}

impl Future for TokioSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().sleep.poll(cx)
    }
}

impl Timer for TokioSleep {
    fn from_duration(duration: Duration) -> Self {
        Self {
            sleep: tokio::time::sleep(duration),
        }
    }

    fn reset(self: Pin<&mut Self>, when: std::time::Instant) {
        self.project()
            .sleep
            .reset(tokio::time::Instant::from_std(when));
    }
}
