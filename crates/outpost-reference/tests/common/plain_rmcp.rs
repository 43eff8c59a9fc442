//! rmcp's plain `StreamableHttpService` on a loopback port, configured exactly as Outpost
//! configures it (`outpost::mcp::streamable::streamable_service`), with nothing in front: what
//! the differential tests compare Outpost's own paths with. And [`ServeLoopCounter`], which
//! sees rmcp build a service.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use outpost::{
    HandlerFactory, ServerConfig,
    mcp::streamable::{session_manager, streamable_service},
};
use tokio_util::sync::CancellationToken;
use tracing::{
    Event, Metadata, Subscriber,
    field::{Field, Visit},
    span,
};

/// rmcp's plain service, served until dropped.
pub struct PlainRmcp {
    /// `http://127.0.0.1:PORT/mcp`.
    pub url: String,
    shutdown: CancellationToken,
}

impl Drop for PlainRmcp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Serves the handlers `factory` makes with rmcp's service alone, configured from `config`
/// (its `bind` replaced by a random port).
pub async fn spawn_plain_rmcp<H>(factory: HandlerFactory<H>, config: ServerConfig) -> PlainRmcp
where
    H: rmcp::ServerHandler + Send + Sync + 'static,
{
    let (listener, addr) = super::loopback_listener().await;
    let config = ServerConfig {
        bind: addr,
        ..config
    };
    let shutdown = CancellationToken::new();
    let router = axum::Router::new().route_service(
        "/mcp",
        streamable_service(factory, session_manager(&config), &config, shutdown.clone()),
    );
    let stop = shutdown.clone();
    let streams = shutdown.clone();
    tokio::spawn(async move {
        let stopped = async move { stop.cancelled().await };
        let connections = outpost::http::listener::Connections::new(
            outpost::ConnectionLimits::default(),
            std::sync::Arc::new(|_| false),
        );
        outpost::http::listener::serve(
            listener,
            router,
            connections,
            stopped,
            streams,
            Duration::ZERO,
        )
        .await
        .expect("plain rmcp server failed");
    });
    PlainRmcp {
        url: format!("http://{addr}/mcp"),
        shutdown,
    }
}

/// Counts rmcp's "Service initialized as server" events: one per service rmcp builds.
#[derive(Clone, Default)]
pub struct ServeLoopCounter(Arc<AtomicUsize>);

impl ServeLoopCounter {
    /// Services built so far.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Subscriber for ServeLoopCounter {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("rmcp")
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut message = MessageIs("Service initialized as server", false);
        event.record(&mut message);
        if message.1 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

/// Whether an event's message is the given text.
struct MessageIs(&'static str, bool);

impl Visit for MessageIs {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" && format!("{value:?}") == self.0 {
            self.1 = true;
        }
    }
}
