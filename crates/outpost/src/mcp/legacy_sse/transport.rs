//! The rmcp [`Transport`] of one legacy HTTP+SSE session.
//!
//! rmcp's service loop reads client messages with [`Transport::receive`] and writes server
//! messages with [`Transport::send`]; it neither knows nor cares that HTTP is underneath. Here,
//! client messages arrive from `POST /message` handlers through one bounded channel, and server
//! messages are serialized to JSON and handed through another bounded channel to the session's
//! `GET /sse` response, which frames each as an `event: message`. Both directions stop when the
//! session's [`CancellationToken`] is cancelled (SSE client gone, or server shutdown).

use std::future::Future;

use rmcp::{
    RoleServer,
    model::{ClientJsonRpcMessage, ServerJsonRpcMessage},
    transport::Transport,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Why a server → client message could not be handed to the SSE stream.
#[derive(Debug, thiserror::Error)]
pub enum SseTransportError {
    /// The session's SSE stream has ended: the client disconnected or the server is shutting
    /// down.
    #[error("the SSE stream of this legacy session is closed")]
    StreamClosed,
    /// The message could not be serialized to JSON.
    #[error("cannot serialize a server message: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// The server end of one legacy SSE session, as rmcp's service loop sees it.
#[derive(Debug)]
pub struct SseServerTransport {
    incoming: mpsc::Receiver<ClientJsonRpcMessage>,
    outgoing: mpsc::Sender<String>,
    ct: CancellationToken,
}

/// The HTTP side of a session's two channels.
#[derive(Debug)]
pub struct SessionChannels {
    /// Where `POST /message` puts client messages.
    pub to_server: mpsc::Sender<ClientJsonRpcMessage>,
    /// Where the SSE response reads server messages, already serialized to JSON.
    pub to_client: mpsc::Receiver<String>,
}

impl SseServerTransport {
    /// A transport whose two channels each hold `capacity` messages, and the HTTP ends of those
    /// channels. Cancelling `ct` ends the transport: `receive` returns `None` and `send` fails.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero (as [`tokio::sync::mpsc::channel`]).
    pub fn new(capacity: usize, ct: CancellationToken) -> (Self, SessionChannels) {
        let (to_server, incoming) = mpsc::channel(capacity);
        let (outgoing, to_client) = mpsc::channel(capacity);
        let transport = Self {
            incoming,
            outgoing,
            ct,
        };
        (
            transport,
            SessionChannels {
                to_server,
                to_client,
            },
        )
    }
}

impl Transport<RoleServer> for SseServerTransport {
    type Error = SseTransportError;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let json = serde_json::to_string(&item);
        let outgoing = self.outgoing.clone();
        let ct = self.ct.clone();
        async move {
            let json = json?;
            // Queue if there is room even when cancelled; otherwise wait for room (back-pressure
            // from a slow SSE reader) until the session ends.
            tokio::select! {
                biased;
                sent = outgoing.send(json) => sent.map_err(|_| SseTransportError::StreamClosed),
                () = ct.cancelled() => Err(SseTransportError::StreamClosed),
            }
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        tokio::select! {
            biased;
            () = self.ct.cancelled() => None,
            message = self.incoming.recv() => message,
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        // Later POSTs fail fast instead of queueing for a loop that no longer reads.
        self.incoming.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{
        ClientNotification, EmptyResult, InitializedNotification, RequestId, ServerResult,
    };

    use super::*;

    fn pong(id: i64) -> ServerJsonRpcMessage {
        ServerJsonRpcMessage::response(
            ServerResult::EmptyResult(EmptyResult {}),
            RequestId::Number(id),
        )
    }

    #[tokio::test]
    async fn messages_flow_both_ways() {
        let (mut transport, mut channels) = SseServerTransport::new(4, CancellationToken::new());
        let initialized = ClientJsonRpcMessage::notification(
            ClientNotification::InitializedNotification(InitializedNotification::default()),
        );
        channels.to_server.send(initialized).await.unwrap();
        assert!(matches!(
            transport.receive().await,
            Some(ClientJsonRpcMessage::Notification(_))
        ));

        transport.send(pong(7)).await.unwrap();
        let json = channels.to_client.recv().await.unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"jsonrpc": "2.0", "id": 7, "result": {}})
        );
        assert!(!json.contains('\n'), "one SSE data line per message");
    }

    #[tokio::test]
    async fn cancellation_ends_both_directions() {
        let ct = CancellationToken::new();
        let (mut transport, _channels) = SseServerTransport::new(1, ct.clone());
        transport.send(pong(1)).await.unwrap();
        // The channel is full: the send waits until the session ends.
        let blocked = transport.send(pong(2));
        ct.cancel();
        assert!(matches!(
            blocked.await,
            Err(SseTransportError::StreamClosed)
        ));
        assert!(transport.receive().await.is_none());
    }

    #[tokio::test]
    async fn send_fails_once_the_stream_is_gone() {
        let (mut transport, channels) = SseServerTransport::new(4, CancellationToken::new());
        drop(channels);
        assert!(matches!(
            transport.send(pong(1)).await,
            Err(SseTransportError::StreamClosed)
        ));
        assert!(transport.receive().await.is_none());
    }

    #[tokio::test]
    async fn close_refuses_further_client_messages() {
        let (mut transport, channels) = SseServerTransport::new(4, CancellationToken::new());
        transport.close().await.unwrap();
        let ping = ClientJsonRpcMessage::notification(ClientNotification::InitializedNotification(
            InitializedNotification::default(),
        ));
        assert!(channels.to_server.send(ping).await.is_err());
    }
}
