//! The transport of the one rmcp serve loop every listen stream of an instance shares.
//!
//! Into the loop ([`SharedListenTransport::receive`]): each `subscriptions/listen` under an
//! instance-unique internal id, and the `notifications/cancelled` for that id when its
//! client goes away. Out of the loop ([`SharedListenTransport::send`]): rmcp tags every
//! notification a `SubscriptionContext` sends — the acknowledgement included — with
//! `_meta.subscriptionId` = the request's id, and answers the request under its id at the
//! end; the [`Hub`] routes each to its stream's [`Feed`] by that id, with the client's own id
//! restored, already serialised as the SSE frame rmcp would write.
//!
//! What names no open stream — a notification without a subscription id (a handler's
//! `peer.notify_*` outside the subscription sink), a server→client request (2026-07-28
//! forbids them; rmcp refuses them before they reach a transport), a message for a stream
//! that has gone — is dropped with a debug line: it can never reach another client.

use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicI64, Ordering},
    },
};

use bytes::Bytes;
use rmcp::{
    RoleServer,
    model::{
        CancelledNotification, CancelledNotificationParam, ClientJsonRpcMessage,
        ClientNotification, ClientRequest, GetMeta, Implementation, JsonRpcMessage, RequestId,
        ServerJsonRpcMessage, ServerResult, SubscriptionsListenResult,
    },
    transport::Transport,
};
use tokio::sync::mpsc;

use super::feed::{Feed, Offer};
use crate::mcp::fast_path::dispatch::jsonrpc_http_status;

/// The open listen streams of one instance, by internal id, and the way into the loop.
pub(in crate::mcp::fast_path) struct Hub {
    routes: Mutex<Routes>,
    inbound: mpsc::UnboundedSender<ClientJsonRpcMessage>,
    next_id: AtomicI64,
    /// The handler's `serverInfo`, for the final results written at shutdown.
    server_info: Implementation,
}

#[derive(Default)]
struct Routes {
    feeds: HashMap<i64, Arc<Feed>>,
    /// The server is shutting down: no stream opens any more.
    closed: bool,
}

impl Hub {
    /// A hub for a handler that names itself `server_info`, and the transport its serve loop
    /// runs on.
    pub(super) fn new(server_info: Implementation) -> (Arc<Self>, SharedListenTransport) {
        let (inbound, receiver) = mpsc::unbounded_channel();
        let hub = Arc::new(Self {
            routes: Mutex::new(Routes::default()),
            inbound,
            next_id: AtomicI64::new(1),
            server_info,
        });
        let transport = SharedListenTransport {
            hub: hub.clone(),
            receiver,
        };
        (hub, transport)
    }

    fn routes(&self) -> MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a stream for `request` (a `subscriptions/listen` the client sent as
    /// `client_id`) and hands the request to the loop; `None` once the server shuts down.
    pub(super) fn open(&self, client_id: RequestId, request: ClientRequest) -> Option<Arc<Feed>> {
        let internal_id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let feed = Arc::new(Feed::new(client_id, internal_id));
        let mut routes = self.routes();
        if routes.closed {
            return None;
        }
        routes.feeds.insert(internal_id, feed.clone());
        let message = JsonRpcMessage::request(request, RequestId::Number(internal_id));
        if self.inbound.send(message).is_err() {
            routes.feeds.remove(&internal_id);
            return None;
        }
        Some(feed)
    }

    /// The client of `feed` went away: its route goes, a sender waiting for room gives up,
    /// and the loop cancels the listen (rmcp cancels the request's token on
    /// `notifications/cancelled`).
    pub(super) fn cancel(&self, feed: &Feed) {
        feed.end();
        if self.routes().feeds.remove(&feed.internal_id).is_none() {
            return;
        }
        let cancelled = CancelledNotification::new(CancelledNotificationParam::new(
            Some(RequestId::Number(feed.internal_id)),
            None,
        ));
        let message =
            JsonRpcMessage::notification(ClientNotification::CancelledNotification(cancelled));
        // Fails only once the loop has stopped, which has cancelled every listen already.
        let _ = self.inbound.send(message);
    }

    /// Server shutdown: ends every stream, after what it has queued, with the final result
    /// rmcp writes when a listen returns, and opens no more.
    pub(super) fn close(&self) {
        let feeds = {
            let mut routes = self.routes();
            routes.closed = true;
            std::mem::take(&mut routes.feeds)
        };
        for feed in feeds.values() {
            self.finish(feed, &self.final_result(feed));
        }
    }

    /// What rmcp answers a listen whose handler returned `Ok`: `SubscriptionsListenResult::
    /// complete` with the server's info, for the client's id.
    fn final_result(&self, feed: &Feed) -> ServerJsonRpcMessage {
        let mut result = SubscriptionsListenResult::complete(feed.client_id.clone());
        result.meta.set_server_info(self.server_info.clone());
        let mut result = ServerResult::SubscriptionsListenResult(result);
        result.fill_missing_cache_hints();
        JsonRpcMessage::response(result, feed.client_id.clone())
    }

    /// Delivers `message` from the loop; a frame that did not fit comes back with its feed.
    fn route(&self, message: ServerJsonRpcMessage) -> Option<(Arc<Feed>, Bytes)> {
        match message {
            JsonRpcMessage::Notification(mut notification) => {
                let meta = notification.notification.get_meta_mut();
                let Some(internal_id) = meta.subscription_id().and_then(internal) else {
                    tracing::debug!(
                        "a listen stream's notification without a subscription id, dropped"
                    );
                    return None;
                };
                let Some(feed) = self.routes().feeds.get(&internal_id).cloned() else {
                    tracing::debug!(internal_id, "a notification for a closed listen stream");
                    return None;
                };
                meta.set_subscription_id(feed.client_id.clone());
                let frame = sse_frame(&JsonRpcMessage::Notification(notification))?;
                match feed.offer(frame) {
                    Offer::Taken => None,
                    Offer::Full(frame) => Some((feed, frame)),
                }
            }
            JsonRpcMessage::Response(mut response) => {
                let feed = self.take_route(&response.id)?;
                if let ServerResult::SubscriptionsListenResult(result) = &mut response.result {
                    result.meta.set_subscription_id(feed.client_id.clone());
                }
                response.id = feed.client_id.clone();
                let message = JsonRpcMessage::Response(response);
                self.finish(&feed, &message);
                None
            }
            JsonRpcMessage::Error(mut error) => {
                let feed = self.take_route(error.id.as_ref()?)?;
                error.id = Some(feed.client_id.clone());
                let message = JsonRpcMessage::Error(error);
                self.finish(&feed, &message);
                None
            }
            JsonRpcMessage::Request(request) => {
                tracing::debug!(id = %request.id, "a server-to-client request from a listen stream, dropped");
                None
            }
        }
    }

    fn take_route(&self, id: &RequestId) -> Option<Arc<Feed>> {
        let feed = internal(id.clone()).and_then(|id| self.routes().feeds.remove(&id));
        if feed.is_none() {
            tracing::debug!(%id, "an answer for a closed listen stream");
        }
        feed
    }

    fn finish(&self, feed: &Feed, message: &ServerJsonRpcMessage) {
        if let Some(frame) = sse_frame(message) {
            feed.finish(frame, jsonrpc_http_status(message));
        } else {
            feed.end();
        }
    }
}

/// An internal id (the loop sees only those).
fn internal(id: RequestId) -> Option<i64> {
    match id {
        RequestId::Number(id) => Some(id),
        RequestId::String(_) => None,
    }
}

/// `message` as the SSE event rmcp writes for it: `data: {json}\n\n`.
fn sse_frame(message: &ServerJsonRpcMessage) -> Option<Bytes> {
    let mut frame = b"data: ".to_vec();
    if let Err(error) = serde_json::to_writer(&mut frame, message) {
        tracing::error!(%error, "cannot serialise a listen stream's message");
        return None;
    }
    frame.extend_from_slice(b"\n\n");
    Some(Bytes::from(frame))
}

/// The loop's side of the [`Hub`].
pub(super) struct SharedListenTransport {
    hub: Arc<Hub>,
    receiver: mpsc::UnboundedReceiver<ClientJsonRpcMessage>,
}

impl Transport<RoleServer> for SharedListenTransport {
    type Error = Infallible;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Infallible>> + Send + 'static {
        // Routed at once, in the loop's order; only a frame for a full feed waits.
        let waiting = self.hub.route(item);
        async move {
            if let Some((feed, mut frame)) = waiting {
                loop {
                    feed.room().await;
                    match feed.offer(frame) {
                        Offer::Taken => break,
                        Offer::Full(again) => frame = again,
                    }
                }
            }
            Ok(())
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        self.receiver.recv().await
    }

    async fn close(&mut self) -> Result<(), Infallible> {
        self.receiver.close();
        Ok(())
    }
}
