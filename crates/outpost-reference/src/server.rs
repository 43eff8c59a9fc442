//! [`ReferenceServer`]: the handler, its capabilities, and the dispatch to tools, resources,
//! prompts and completions.
//!
//! Routers and server-wide state are built once and shared by every instance; each
//! session (and each stateless request) gets its own [`SessionScope`] through
//! [`ReferenceServer::for_session`]. With parked sessions a handler lives for one request, so
//! the log level and subscriptions are kept in the session's record instead
//! ([`outpost::SessionData`]) and updates are sent beside the GET stream
//! ([`ReferenceServer::resource_update_task`]).
//!
//! Logging, sampling and `resources/subscribe` are deprecated by SEP-2577 and SEP-2567 in
//! favour of 2026-07-28 mechanisms; the reference server still serves them to older clients.

use std::sync::Arc;

use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler,
    handler::server::{
        prompt::PromptContext,
        router::{prompt::PromptRouter, tool::ToolRouter},
    },
    model::*,
    service::{RequestContext, SubscriptionContext},
    tool_handler,
};

use outpost::{SessionData, SessionDataError, StandaloneStreamTask};

use crate::{
    completion,
    prompts::PromptInputs,
    resources,
    state::{LOG_LEVEL, SUBSCRIPTIONS, SessionScope, SharedState},
};

/// The reference MCP server. Cheap to clone: clones share routers, server-wide state and the
/// session scope; [`ReferenceServer::for_session`] makes an instance with a fresh scope.
#[derive(Clone)]
pub struct ReferenceServer {
    tool_router: Arc<ToolRouter<ReferenceServer>>,
    prompt_router: Arc<PromptRouter<ReferenceServer>>,
    pub(crate) shared: Arc<SharedState>,
    pub(crate) session: Arc<SessionScope>,
}

impl Default for ReferenceServer {
    fn default() -> Self {
        Self::new()
    }
}

impl ReferenceServer {
    /// Builds the server and its routers, once.
    pub fn new() -> Self {
        Self::build(SharedState::new())
    }

    fn build(shared: SharedState) -> Self {
        Self {
            tool_router: Arc::new(
                Self::demo_tools()
                    + Self::interactive_tools()
                    + Self::app_tools()
                    + Self::conformance_tools()
                    + Self::conformance_input_tools()
                    + Self::mrtr_tools()
                    + Self::identity_tools(),
            ),
            prompt_router: Arc::new(Self::demo_prompts() + Self::conformance_prompts()),
            shared: Arc::new(shared),
            session: Arc::new(SessionScope::default()),
        }
    }

    /// Like [`ReferenceServer::new`], with subscribed resources reporting an update every
    /// `interval` instead of every 10 s.
    pub fn with_resource_update_interval(interval: std::time::Duration) -> Self {
        let mut shared = SharedState::new();
        shared.update_interval = interval;
        Self::build(shared)
    }

    /// The scopes its tools require beyond the baseline (declared in their definitions), for
    /// `ResourceServerConfig::required_scopes`.
    pub fn required_scopes(
        &self,
    ) -> Result<outpost::auth::resource::RequiredScopes, outpost::auth::scope::ScopeError> {
        outpost::auth::resource::RequiredScopes::from_tools(&self.tool_router.list_all())
    }

    /// What runs beside a parked session's GET stream (`Outpost::with_standalone_stream_task`):
    /// the updates of the resources the session subscribed to, at this server's interval.
    pub fn resource_update_task(&self) -> StandaloneStreamTask {
        crate::state::resource_updates(self.shared.update_interval)
    }

    /// An instance for one new session or stateless request: shares the routers and
    /// server-wide state, with its own log level and resource subscriptions.
    pub fn for_session(&self) -> Self {
        Self {
            session: Arc::new(SessionScope::default()),
            ..self.clone()
        }
    }
}

// Prompts are dispatched by hand rather than with `#[prompt_handler]`: its `get_prompt` drops
// the request's `inputResponses`, which `test_input_required_result_prompt` needs (SEP-2322).
// `list_tools` is written out too: the one `#[tool_handler]` generates ignores the cursor.
#[tool_handler(router = self.tool_router)]
impl ServerHandler for ReferenceServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_extensions_with(
                    [(
                        resources::app::APP_EXTENSION.to_owned(),
                        resources::app::extension_settings(),
                    )]
                    .into_iter()
                    .collect(),
                )
                .enable_tools()
                .enable_tool_list_changed()
                .enable_prompts()
                .enable_prompts_list_changed()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_resources_list_changed()
                .enable_logging()
                .enable_completions()
                .build(),
        )
        .with_server_info(
            Implementation::new("outpost-reference", env!("CARGO_PKG_VERSION"))
                .with_title("Outpost reference server"),
        )
        .with_instructions(
            "Outpost's reference server: demo tools (echo, add, longRunningOperation, \
             sampleLLM, getTinyImage, annotatedMessage, getResourceReference, roll_dice, \
             book_table, greeting_card), 100 paginated resources, prompts with completions, \
             and the MCP conformance suite's test_* fixtures.",
        )
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        refuse_cursor(request.as_ref())?;
        let result = ListToolsResult::with_all_items(self.tool_router.list_all());
        Ok(if from_2026_07_28(&context) {
            result.with_ttl_ms(0).with_cache_scope(CacheScope::Public)
        } else {
            result
        })
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        refuse_cursor(request.as_ref())?;
        let result = ListPromptsResult::with_all_items(self.prompt_router.list_all());
        Ok(if from_2026_07_28(&context) {
            result.with_ttl_ms(0).with_cache_scope(CacheScope::Public)
        } else {
            result
        })
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        context
            .extensions
            .insert(PromptInputs(request.input_responses));
        let prompt = PromptContext::new(self, request.name, request.arguments, context);
        self.prompt_router.get_prompt(prompt).await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        resources::list(request.and_then(|r| r.cursor).as_deref())
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        refuse_cursor(request.as_ref())?;
        Ok(resources::templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        resources::read(&request.uri).map(Into::into)
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        resources::ensure_exists(&request.uri)?;
        let Some(data) = SessionData::from_context(&context) else {
            self.session
                .subscribe(request.uri, context.peer, self.shared.update_interval);
            return Ok(());
        };
        // A parked session: the record keeps the subscription, the instance holding the
        // session's GET stream sends the updates (`state::resource_updates`); the first one
        // goes out at once, on this request's stream.
        data.update::<Vec<String>>(SUBSCRIPTIONS, |uris| {
            let mut uris = uris.unwrap_or_default();
            if !uris.contains(&request.uri) {
                uris.push(request.uri.clone());
            }
            Some(uris)
        })
        .await
        .map_err(session_data_error)?;
        let updated = ResourceUpdatedNotificationParam::new(request.uri);
        if let Err(error) = context.peer.notify_resource_updated(updated).await {
            tracing::debug!(%error, "resource update not delivered");
        }
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let Some(data) = SessionData::from_context(&context) else {
            self.session.unsubscribe(&request.uri);
            return Ok(());
        };
        data.update::<Vec<String>>(SUBSCRIPTIONS, |uris| {
            let mut uris = uris.unwrap_or_default();
            uris.retain(|uri| *uri != request.uri);
            (!uris.is_empty()).then_some(uris)
        })
        .await
        .map_err(session_data_error)
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = requested.supported_by(&self.get_info().capabilities);
        // Only resources that exist can change: the acknowledgement names what is watched.
        if let Some(uris) = accepted.resource_subscriptions.as_mut() {
            uris.retain(|uri| resources::ensure_exists(uri).is_ok());
        }
        Some(accepted)
    }

    /// Keeps the stream registered for list-changed notifications and, like a
    /// `resources/subscribe`, reports each watched resource as updated every
    /// `update_interval`, until the client cancels.
    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let _registration = self.shared.listeners.register(context.sink().clone());
        let watched = context
            .accepted()
            .resource_subscriptions
            .clone()
            .unwrap_or_default();
        if watched.is_empty() {
            context.cancelled().await;
            return Ok(());
        }
        let mut ticks = tokio::time::interval(self.shared.update_interval);
        ticks.tick().await;
        loop {
            tokio::select! {
                () = context.cancelled() => return Ok(()),
                _ = ticks.tick() => {
                    for uri in &watched {
                        if context.sink().notify_resource_updated(uri.clone()).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        // The completion spec's "invalid prompt name": -32602.
        if let Reference::Prompt(prompt) = &request.r#ref
            && !self.prompt_router.has_route(&prompt.name)
        {
            return Err(McpError::invalid_params(
                format!("no prompt named {:?}", prompt.name),
                None,
            ));
        }
        completion::complete(&request)
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        // 2026-07-28 removed `logging/setLevel` (the level rides in each request's `_meta`):
        // the method is unknown there, as rmcp answers a 2026-07-28 `ping`.
        if from_2026_07_28(&context) {
            return Err(McpError::method_not_found::<SetLevelRequestMethod>());
        }
        match SessionData::from_context(&context) {
            Some(data) => data
                .set(LOG_LEVEL, &request.level)
                .await
                .map_err(session_data_error),
            None => {
                self.session.set_log_level(request.level);
                Ok(())
            }
        }
    }
}

/// Whether the request speaks 2026-07-28 or later: a list fixed for the process's life then
/// carries the cache hints `#[tool_handler]` and `#[prompt_handler]` give it (`ttlMs` 0,
/// `cacheScope` public), and `logging/setLevel` is no method.
fn from_2026_07_28(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28)
}

/// A list that fits in one page gives no cursor, so any cursor is one it did not give: the
/// pagination spec's `-32602` for an invalid cursor.
fn refuse_cursor(request: Option<&PaginatedRequestParams>) -> Result<(), McpError> {
    match request.and_then(|request| request.cursor.as_deref()) {
        Some(cursor) => Err(McpError::invalid_params(
            "invalid cursor: this list has one page",
            Some(serde_json::json!({ "cursor": cursor })),
        )),
        None => Ok(()),
    }
}

/// The client's answer when a parked session's record cannot take a change: too much state
/// is the client's doing (too many subscriptions), anything else the server's.
fn session_data_error(error: SessionDataError) -> McpError {
    match error {
        SessionDataError::TooLarge { .. } => McpError::invalid_request(
            format!("this session keeps too much state ({error}); unsubscribe first"),
            None,
        ),
        other => McpError::internal_error(format!("cannot keep session state: {other}"), None),
    }
}
