//! The transport of a session's `initialize` handshake, and nothing after it.
//!
//! rmcp's `StreamableHttpService` runs `serve_server` on the transport a session manager hands
//! out at `create_session`, then gives the manager the client's `initialize` request
//! (`initialize_session`). A parked session needs that handshake — the handler answers
//! `initialize`, so its capabilities and the negotiated version are its own — and nothing else:
//! once the answer has gone out, this transport delivers `notifications/initialized` (the serve
//! loop waits for it before it runs) and then ends, which ends the serve loop, drops the
//! handler and makes rmcp call `close_session` (a no-op for a session that finished its
//! handshake). Later requests are served one at a time ([`super::request`]).

use std::{borrow::Cow, convert::Infallible};

use rmcp::{
    RoleServer,
    model::{
        ClientJsonRpcMessage, ClientNotification, InitializedNotification, ServerJsonRpcMessage,
    },
    transport::Transport,
};
use tokio::sync::oneshot;

/// The server's side of one handshake: `Handshake` is the manager's side.
pub struct HandshakeTransport {
    initialize: Option<oneshot::Receiver<ClientJsonRpcMessage>>,
    answer: Option<oneshot::Sender<ServerJsonRpcMessage>>,
    answered: Option<oneshot::Receiver<bool>>,
    answered_tx: Option<oneshot::Sender<bool>>,
}

/// The manager's side of one handshake: where the `initialize` request goes in and its
/// answer comes out.
pub(crate) struct Handshake {
    pub(crate) initialize: oneshot::Sender<ClientJsonRpcMessage>,
    pub(crate) answer: oneshot::Receiver<ServerJsonRpcMessage>,
}

/// A connected pair for one session's handshake.
pub(crate) fn handshake() -> (Handshake, HandshakeTransport) {
    let (initialize_tx, initialize_rx) = oneshot::channel();
    let (answer_tx, answer_rx) = oneshot::channel();
    let (answered_tx, answered_rx) = oneshot::channel();
    (
        Handshake {
            initialize: initialize_tx,
            answer: answer_rx,
        },
        HandshakeTransport {
            initialize: Some(initialize_rx),
            answer: Some(answer_tx),
            answered: Some(answered_rx),
            answered_tx: Some(answered_tx),
        },
    )
}

impl Transport<RoleServer> for HandshakeTransport {
    type Error = Infallible;

    fn name() -> Cow<'static, str> {
        "outpost-session-handshake".into()
    }

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Infallible>> + Send + 'static {
        // Only the answer to `initialize` matters; the handler has no stream to notify yet.
        if matches!(
            item,
            ServerJsonRpcMessage::Response(_) | ServerJsonRpcMessage::Error(_)
        ) {
            let succeeded = matches!(item, ServerJsonRpcMessage::Response(_));
            if let Some(answer) = self.answer.take() {
                let _ = answer.send(item);
            }
            if let Some(answered) = self.answered_tx.take() {
                let _ = answered.send(succeeded);
            }
        }
        std::future::ready(Ok(()))
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        if let Some(initialize) = self.initialize.take() {
            return initialize.await.ok();
        }
        // The client's own `notifications/initialized` reaches the manager, not this
        // transport: hand the serve loop the one it waits for once `initialize` is answered,
        // then end.
        let answered = self.answered.take()?;
        if answered.await.unwrap_or(false) {
            return Some(ClientJsonRpcMessage::notification(
                ClientNotification::InitializedNotification(InitializedNotification::default()),
            ));
        }
        None
    }

    async fn close(&mut self) -> Result<(), Infallible> {
        self.initialize.take();
        self.answered.take();
        Ok(())
    }
}
