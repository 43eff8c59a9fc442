//! One request of a parked session, served like a stateless one on its own transport.
//!
//! Each request the fast path does not serve inline (`inline`: a request that asks for
//! progress, a second one of a session at once, every request rmcp must refuse) gets a fresh
//! handler and a [`RequestTransport`] run by rmcp's
//! `serve_directly` with the session's recorded peer info: the request goes in first, and
//! everything the handler sends — progress, log messages, server→client requests, the
//! answer — comes out on that request's own SSE stream. The transport ends with the answer.
//! A client that goes away does not end the request (MCP 2025-11-25: a disconnection is not a
//! cancellation): the handler runs on, its messages go nowhere and its requests to the client
//! fail at once.
//!
//! While the request runs, the client may send messages meant for it: a
//! `notifications/cancelled` naming it, or the answer to a server→client request it made
//! (sampling, elicitation, roots). [`InFlight`] routes those to the transport, where rmcp's
//! serve loop handles them as it would on any transport. Every handler's peer numbers its own
//! requests from zero, so the ids of server→client requests are rewritten to ones unique
//! across instances (`"{instance}-{n}"`) on the way out and back on the way in.
//!
//! The client may POST its answer, or its cancellation, to another instance: that one relays
//! it (`mcp::relay`) — an answer to the instance named in the rewritten id, a cancellation to
//! every instance — and [`InFlight`], this instance's recipient, hands it to the request.

use std::{
    borrow::Cow,
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
};

use http::request::Parts;
use rmcp::{
    RoleServer,
    model::{
        CancelledNotification, CancelledNotificationParam, ClientJsonRpcMessage,
        ClientNotification, ClientRequest, GetExtensions, GetMeta, JsonRpcRequest, NumberOrString,
        ProgressToken, RequestId, ServerJsonRpcMessage, ServerRequest,
    },
    transport::{Transport, streamable_http_server::SessionId},
};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::{
    auth::resource::Identity,
    mcp::relay::{INSTANCE_ID_LEN, Outcome, Recipient},
    ops::request_facts::{RequestFacts, ToolOutcome},
};

/// Room for messages the client sends to one running request (cancellation, answers).
pub(crate) const INBOUND_CAPACITY: usize = 8;
/// Room for messages a request's handler sends before the SSE stream takes them.
pub(crate) const OUTBOUND_CAPACITY: usize = 16;

/// Where the client's messages for a server→client request go: into a serve loop's transport.
pub(crate) type Route = mpsc::Sender<ClientJsonRpcMessage>;

/// How a running request is reached by the client's `notifications/cancelled`.
pub(crate) enum Running {
    /// Served by a serve loop of its own: the cancellation goes into its transport, and rmcp's
    /// loop drops the handler.
    Transport(Route),
    /// Served in the connection's task (`sessions::inline`): the token stops it.
    Inline(CancellationToken),
}

impl Running {
    /// Cancels the request, `cancellation` the client's `notifications/cancelled` for it;
    /// whether it could be told.
    fn cancel(&self, cancellation: ClientJsonRpcMessage) -> bool {
        match self {
            Running::Transport(route) => route.try_send(cancellation).is_ok(),
            Running::Inline(cancel) => {
                cancel.cancel();
                true
            }
        }
    }
}

/// The requests running on this instance, for messages the client sends them.
pub(crate) struct InFlight {
    /// (session, client request id) → the registration's number and how to reach the
    /// running request. The number tells a later request that reused the id (a client that
    /// restarted, keeping its session) from the one whose end would otherwise unregister it.
    requests: Mutex<HashMap<(SessionId, RequestId), (u64, Running)>>,
    next_registration: AtomicU64,
    /// (session, rewritten id) → the transport that sent the server→client request, and the
    /// id its peer gave it.
    server_requests: Mutex<HashMap<(SessionId, String), (Route, RequestId)>>,
    next_server_request: AtomicI64,
    /// This instance's relay id, the first part of the rewritten ids.
    instance: String,
}

impl InFlight {
    /// No request running yet; rewritten ids start with `instance` (the relay's).
    pub(crate) fn new(instance: &str) -> Self {
        Self {
            requests: Mutex::default(),
            next_registration: AtomicU64::new(0),
            server_requests: Mutex::default(),
            next_server_request: AtomicI64::new(0),
            instance: instance.to_owned(),
        }
    }

    /// Adds the sessions with a request running here to `sessions`.
    pub(crate) fn sessions_into(&self, sessions: &mut HashSet<SessionId>) {
        sessions.extend(
            lock(&self.requests)
                .keys()
                .map(|(session, _)| session.clone()),
        );
    }

    /// The instance a server→client request id was given by (`"{instance}-{n}"`), `None`
    /// for an id this server never gives.
    pub(crate) fn issuer(id: &RequestId) -> Option<&str> {
        let RequestId::String(text) = id else {
            return None;
        };
        let (instance, number) = text.split_once('-')?;
        let ours = instance.len() == INSTANCE_ID_LEN
            && instance.bytes().all(|b| b.is_ascii_hexdigit())
            && number.parse::<u64>().is_ok();
        ours.then_some(instance)
    }

    /// Whether this instance gave `instance`'s ids.
    pub(crate) fn is_this_instance(&self, instance: &str) -> bool {
        self.instance == instance
    }

    /// Hands `message` from `session`'s client to the running request it concerns; `false`
    /// when it concerns none (a request that has ended, or another instance's).
    pub(crate) fn deliver(&self, session: &SessionId, message: ClientJsonRpcMessage) -> bool {
        match message {
            ClientJsonRpcMessage::Notification(ref notification) => {
                let ClientNotification::CancelledNotification(cancelled) =
                    &notification.notification
                else {
                    return false;
                };
                let Some(request_id) = cancelled.params.request_id.clone() else {
                    return false;
                };
                match lock(&self.requests).get(&(session.clone(), request_id)) {
                    Some((_, running)) => running.cancel(message),
                    None => false,
                }
            }
            ClientJsonRpcMessage::Response(mut response) => {
                let Some((route, original)) = self.take_server_request(session, &response.id)
                else {
                    return false;
                };
                response.id = original;
                route
                    .try_send(ClientJsonRpcMessage::Response(response))
                    .is_ok()
            }
            ClientJsonRpcMessage::Error(mut error) => {
                let Some((route, original)) = error
                    .id
                    .as_ref()
                    .and_then(|id| self.take_server_request(session, id))
                else {
                    return false;
                };
                error.id = Some(original);
                route.try_send(ClientJsonRpcMessage::Error(error)).is_ok()
            }
            ClientJsonRpcMessage::Request(_) => false,
        }
    }

    fn take_server_request(
        &self,
        session: &SessionId,
        id: &RequestId,
    ) -> Option<(Route, RequestId)> {
        let RequestId::String(text) = id else {
            return None;
        };
        lock(&self.server_requests).remove(&(session.clone(), text.to_string()))
    }

    /// Registers `request` of `session` as running, reached as `running`, until
    /// [`InFlight::finished`] with the number returned.
    pub(crate) fn started(
        &self,
        session: &SessionId,
        request: &RequestId,
        running: Running,
    ) -> u64 {
        let registration = self.next_registration.fetch_add(1, Ordering::Relaxed);
        lock(&self.requests).insert((session.clone(), request.clone()), (registration, running));
        registration
    }

    /// `request` of `session`, registered as `registration`, has ended (a later request
    /// with the same id keeps its own registration).
    pub(crate) fn finished(&self, session: &SessionId, request: &RequestId, registration: u64) {
        let mut requests = lock(&self.requests);
        let key = (session.clone(), request.clone());
        if requests
            .get(&key)
            .is_some_and(|(registered, _)| *registered == registration)
        {
            requests.remove(&key);
        }
    }

    /// Cancels every request of `session` running here (the session ended: `DELETE`, here
    /// or on another instance).
    pub(crate) fn cancel_session(&self, session: &SessionId) {
        for ((of, request), (_, running)) in lock(&self.requests).iter() {
            if of == session {
                let cancelled = CancelledNotification::new(CancelledNotificationParam::new(
                    Some(request.clone()),
                    Some("the session ended".into()),
                ));
                running.cancel(ClientJsonRpcMessage::notification(
                    ClientNotification::CancelledNotification(cancelled),
                ));
            }
        }
    }

    /// Gives the server→client request `id` (numbered by its peer) an id unique across
    /// instances, and remembers that the client's answer goes back to `route` under the
    /// original id; returns the new id, to forget it with [`InFlight::forget_issued`].
    pub(crate) fn issue(&self, session: &SessionId, route: &Route, id: &mut RequestId) -> String {
        let number = self.next_server_request.fetch_add(1, Ordering::Relaxed);
        let unique = format!("{}-{number}", self.instance);
        let original = std::mem::replace(id, RequestId::String(unique.as_str().into()));
        lock(&self.server_requests)
            .insert((session.clone(), unique.clone()), (route.clone(), original));
        unique
    }

    /// For a request's own peer ([`RequestTransport`]): gives the server→client `request` an
    /// id unique across instances, as [`issue`](Self::issue) does, and a progress token to
    /// match — each request's peer numbers those from zero too, and progress tokens must be
    /// unique across the session's active requests (2025-11-25 progress). The client's
    /// progress notifications are not routed to such a request, so nothing maps the token
    /// back.
    pub(crate) fn issue_request(
        &self,
        session: &SessionId,
        route: &Route,
        request: &mut JsonRpcRequest<ServerRequest>,
    ) -> String {
        let unique = self.issue(session, route, &mut request.id);
        let meta = request.request.get_meta_mut();
        if meta.get_progress_token().is_some() {
            meta.set_progress_token(ProgressToken(NumberOrString::String(
                unique.as_str().into(),
            )));
        }
        unique
    }

    /// The server→client requests `issued` for `session` await no answer any more.
    pub(crate) fn forget_issued(
        &self,
        session: &SessionId,
        issued: impl IntoIterator<Item = String>,
    ) {
        let mut issued = issued.into_iter().peekable();
        if issued.peek().is_none() {
            return;
        }
        let mut server_requests = lock(&self.server_requests);
        for unique in issued {
            server_requests.remove(&(session.clone(), unique));
        }
    }
}

impl Recipient for InFlight {
    /// Messages relayed by other instances: cancellations (to every instance; most find no
    /// request here) and answers to server→client requests issued here.
    fn deliver(
        &self,
        session: &str,
        messages: Vec<ClientJsonRpcMessage>,
        _caller: Option<Arc<Identity>>,
    ) -> Outcome {
        let session = SessionId::from(session);
        let mut outcome = Outcome::Delivered;
        for message in messages {
            if !InFlight::deliver(self, &session, message) {
                outcome = Outcome::NoRecipient;
            }
        }
        outcome
    }
}

/// The transport of one request: its message in, everything the handler sends out.
pub(crate) struct RequestTransport {
    first: Option<ClientJsonRpcMessage>,
    inbound: mpsc::Receiver<ClientJsonRpcMessage>,
    route: Route,
    outbound: mpsc::Sender<ServerJsonRpcMessage>,
    answered: Arc<Semaphore>,
    session: SessionId,
    request_id: RequestId,
    /// The request's registration in `in_flight`.
    registration: u64,
    issued: Vec<String>,
    cancelled: bool,
    in_flight: Arc<InFlight>,
    /// A tool call's facts, told its outcome when the answer goes out (for the tool-call
    /// metrics, which count a streamed answer when its stream ends).
    tool_call: Option<Arc<RequestFacts>>,
}

impl RequestTransport {
    /// A transport that gives `request` (a JSON-RPC request of `session`) to the serve loop
    /// and hands the handler's messages to the returned receiver; registered in `in_flight`
    /// until dropped.
    pub(crate) fn new(
        session: SessionId,
        request_id: RequestId,
        request: ClientJsonRpcMessage,
        in_flight: Arc<InFlight>,
    ) -> (Self, mpsc::Receiver<ServerJsonRpcMessage>) {
        let tool_call = match &request {
            ClientJsonRpcMessage::Request(call)
                if matches!(call.request, ClientRequest::CallToolRequest(_)) =>
            {
                call.request
                    .extensions()
                    .get::<Parts>()
                    .and_then(|parts| RequestFacts::shared(&parts.extensions))
            }
            _ => None,
        };
        let (route, inbound) = mpsc::channel(INBOUND_CAPACITY);
        let (outbound, receiver) = mpsc::channel(OUTBOUND_CAPACITY);
        let registration =
            in_flight.started(&session, &request_id, Running::Transport(route.clone()));
        let transport = Self {
            first: Some(request),
            inbound,
            route,
            outbound,
            answered: Arc::new(Semaphore::new(0)),
            session,
            request_id,
            registration,
            issued: Vec::new(),
            cancelled: false,
            in_flight,
            tool_call,
        };
        (transport, receiver)
    }
}

impl Transport<RoleServer> for RequestTransport {
    type Error = mpsc::error::SendError<ServerJsonRpcMessage>;

    fn name() -> Cow<'static, str> {
        "outpost-session-request".into()
    }

    fn send(
        &mut self,
        mut item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        if let ServerJsonRpcMessage::Request(request) = &mut item {
            let unique = self
                .in_flight
                .issue_request(&self.session, &self.route, request);
            self.issued.push(unique);
        }
        let answer = matches!(
            item,
            ServerJsonRpcMessage::Response(_) | ServerJsonRpcMessage::Error(_)
        );
        let request = matches!(item, ServerJsonRpcMessage::Request(_));
        if let (true, Some(facts)) = (answer, &self.tool_call)
            && let Some(outcome) = ToolOutcome::of_message(&item)
        {
            facts.record_tool_outcome(outcome);
        }
        let outbound = self.outbound.clone();
        let answered = self.answered.clone();
        async move {
            let sent = outbound.send(item).await;
            if answer {
                // Answered, whether or not the stream still takes it: the transport ends.
                answered.add_permits(1);
            }
            after_client_left(sent, request)
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        // A cancelled request is never answered (the serve loop drops its handler): end the
        // transport, and with it the request's stream, once the loop has seen the
        // cancellation.
        if self.cancelled {
            return None;
        }
        let message = tokio::select! {
            biased;
            _ = self.answered.acquire() => None,
            message = self.inbound.recv() => message,
        };
        if let Some(ClientJsonRpcMessage::Notification(notification)) = &message
            && matches!(
                notification.notification,
                ClientNotification::CancelledNotification(_)
            )
        {
            self.cancelled = true;
        }
        message
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.first.take();
        Ok(())
    }
}

impl Drop for RequestTransport {
    fn drop(&mut self) {
        self.in_flight
            .finished(&self.session, &self.request_id, self.registration);
        self.in_flight
            .forget_issued(&self.session, self.issued.drain(..));
    }
}

/// What a request's transport tells its serve loop of a message sent to the request's stream
/// (`sent`), the client having perhaps gone away while the request runs on: a request to the
/// client (`asks`) fails at once, as nobody would answer it; anything else goes nowhere.
/// Shared with the session's hot peer (`hot::HotTransport`).
pub(crate) fn after_client_left<E>(sent: Result<(), E>, asks: bool) -> Result<(), E> {
    match sent {
        Err(gone) if asks => Err(gone),
        _ => Ok(()),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_request_id_names_the_instance_that_gave_it() {
        let id = |text: &str| RequestId::String(text.into());
        assert_eq!(
            InFlight::issuer(&id("0123456789ab-7")),
            Some("0123456789ab")
        );
        for foreign in [
            "0123456789ab",
            "0123456789ab-x",
            "nobody-0",
            "0123456789abc-1",
            "-1",
        ] {
            assert_eq!(InFlight::issuer(&id(foreign)), None, "{foreign}");
        }
        assert_eq!(InFlight::issuer(&RequestId::Number(3)), None);
        let here = InFlight::new("0123456789ab");
        assert!(here.is_this_instance("0123456789ab"));
        assert!(!here.is_this_instance("ba9876543210"));
    }

    #[test]
    fn a_request_that_reuses_an_id_keeps_its_registration_when_the_first_ends() {
        let in_flight = InFlight::new("0123456789ab");
        let (session, id) = (SessionId::from("s"), RequestId::Number(1));
        let (first, second) = (CancellationToken::new(), CancellationToken::new());
        let old = in_flight.started(&session, &id, Running::Inline(first.clone()));
        let new = in_flight.started(&session, &id, Running::Inline(second.clone()));
        in_flight.finished(&session, &id, old);
        in_flight.cancel_session(&session);
        assert!(
            second.is_cancelled(),
            "the later request is still registered"
        );
        in_flight.finished(&session, &id, new);
        let mut running = HashSet::new();
        in_flight.sessions_into(&mut running);
        assert!(running.is_empty());
    }
}
