//! Asking the client for input, on every revision.
//!
//! Up to 2025-11-25 a tool sends `sampling/createMessage` or `elicitation/create` to the
//! client on the request's stream and waits. 2026-07-28 forbids server-to-client requests: the
//! tool returns an `InputRequiredResult` (MRTR) naming what it needs, and the client retries
//! the call with `inputResponses`. These helpers build the requests and read the responses.
//!
//! Either way a server asks only for what the client declared it can give (its
//! `clientCapabilities`, per request on 2026-07-28, at `initialize` before): a client that
//! cannot sample would never answer, and the call would wait for ever. [`require`] says so
//! first, with `-32021 Missing required client capability`.

use rmcp::{
    ErrorData as McpError, RoleServer,
    model::{
        ClientCapabilities, CreateMessageRequest, CreateMessageRequestParams, ElicitRequest,
        ElicitRequestParams, InputRequest, InputRequests, InputRequiredResult, InputResponses,
        ListRootsRequest, ProtocolVersion, SamplingMessage,
    },
    service::RequestContext,
};
use serde_json::{Map, Value, json};

/// What a tool may ask of the client, each allowed by a client capability of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFeature {
    /// `sampling/createMessage`.
    Sampling,
    /// `elicitation/create`.
    Elicitation,
}

impl std::fmt::Display for ClientFeature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientFeature::Sampling => "sampling",
            ClientFeature::Elicitation => "elicitation",
        })
    }
}

/// `Ok` when the client declared the capability `feature` needs; else the `-32021 Missing
/// required client capability` error naming it, for the tool to return.
pub fn require(
    context: &RequestContext<RoleServer>,
    feature: ClientFeature,
) -> Result<(), McpError> {
    let declared = context.client_capabilities();
    let (has_it, needed) = match feature {
        ClientFeature::Sampling => (
            declared
                .as_ref()
                .is_some_and(|caps| caps.sampling.is_some()),
            ClientCapabilities::builder().enable_sampling().build(),
        ),
        ClientFeature::Elicitation => (
            declared
                .as_ref()
                .is_some_and(|caps| caps.elicitation.is_some()),
            ClientCapabilities::builder().enable_elicitation().build(),
        ),
    };
    if has_it {
        Ok(())
    } else {
        Err(McpError::missing_required_client_capability(needed))
    }
}

/// True when the request negotiated 2026-07-28 or later, so input is asked for with MRTR.
pub fn uses_input_required(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28)
}

/// An `elicitation/create` form request for an object with `properties`, all `required`.
pub fn elicitation(message: &str, properties: Value, required: Value) -> InputRequest {
    InputRequest::Elicitation(ElicitRequest::new(elicitation_params(
        message, properties, required,
    )))
}

/// The params of a form elicitation (revisions before 2026-07-28 send these directly).
pub fn elicitation_params(
    message: &str,
    properties: Value,
    required: Value,
) -> ElicitRequestParams {
    let schema = json!({ "type": "object", "properties": properties, "required": required });
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: message.into(),
        requested_schema: serde_json::from_value(schema)
            .unwrap_or_else(|error| unreachable!("static elicitation schema is valid: {error}")),
    }
}

/// A `sampling/createMessage` request for one user message.
pub fn sampling(prompt: &str, max_tokens: u32) -> InputRequest {
    InputRequest::CreateMessage(CreateMessageRequest::new(sampling_params(
        prompt, max_tokens,
    )))
}

/// The params of a one-message sampling request.
pub fn sampling_params(prompt: &str, max_tokens: u32) -> CreateMessageRequestParams {
    CreateMessageRequestParams::new(vec![SamplingMessage::user_text(prompt)], max_tokens)
}

/// A `roots/list` request.
pub fn list_roots() -> InputRequest {
    InputRequest::ListRoots(ListRootsRequest::default())
}

/// The client's response under `key`, if it is a JSON object. Anything else counts as
/// missing, so the tool asks again.
pub fn response<'a>(
    responses: Option<&'a InputResponses>,
    key: &str,
) -> Option<&'a Map<String, Value>> {
    responses?.get(key)?.as_object()
}

/// The text of a sampling response (`CreateMessageResult.content.text`).
pub fn sampled_text(response: &Map<String, Value>) -> Option<&str> {
    let content = response.get("content")?;
    let first = content
        .as_array()
        .and_then(|items| items.first())
        .unwrap_or(content);
    first.get("text")?.as_str()
}

/// A form elicitation for an arbitrary `requestedSchema` (defaults, enums, ...). A schema
/// that is not a valid elicitation schema is the server's bug: `-32603 Internal error`.
pub fn form(message: &str, schema: Value) -> Result<ElicitRequestParams, McpError> {
    Ok(ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: message.into(),
        requested_schema: serde_json::from_value(schema)
            .map_err(|error| McpError::internal_error(error.to_string(), None))?,
    })
}

/// What asking the client for input produced, on whichever revision the request uses.
pub enum Answer {
    /// The client's response as JSON (an `ElicitResult` or a `CreateMessageResult`).
    Given(Value),
    /// 2026-07-28 without a usable response yet: return this to the client, which retries.
    Required(InputRequiredResult),
    /// The server-to-client request of an older revision failed, or could not be sent (the
    /// client did not declare the capability it needs); the reason.
    Failed(String),
}

/// `Answer::Failed` for a client that did not declare `feature`: a server sends a request
/// only for a capability the client declared (2025-11-25 lifecycle: "only use capabilities
/// that were successfully negotiated").
fn undeclared(context: &RequestContext<RoleServer>, feature: ClientFeature) -> Option<Answer> {
    require(context, feature).err().map(|_| {
        Answer::Failed(format!(
            "the client did not declare the {feature} capability"
        ))
    })
}

/// Elicits `params`: an `elicitation/create` request up to 2025-11-25, an MRTR round trip
/// under `key` on 2026-07-28.
pub async fn elicit(
    context: &RequestContext<RoleServer>,
    responses: Option<&InputResponses>,
    key: &str,
    params: ElicitRequestParams,
) -> Answer {
    if uses_input_required(context) {
        return answer_or_require(
            responses,
            key,
            InputRequest::Elicitation(ElicitRequest::new(params)),
        );
    }
    if let Some(refused) = undeclared(context, ClientFeature::Elicitation) {
        return refused;
    }
    match context.peer.create_elicitation(params).await {
        Ok(result) => to_answer(&result),
        Err(error) => Answer::Failed(error.to_string()),
    }
}

/// Samples `params`: a `sampling/createMessage` request up to 2025-11-25, an MRTR round trip
/// under `key` on 2026-07-28.
pub async fn sample(
    context: &RequestContext<RoleServer>,
    responses: Option<&InputResponses>,
    key: &str,
    params: CreateMessageRequestParams,
) -> Answer {
    if uses_input_required(context) {
        return answer_or_require(
            responses,
            key,
            InputRequest::CreateMessage(CreateMessageRequest::new(params)),
        );
    }
    if let Some(refused) = undeclared(context, ClientFeature::Sampling) {
        return refused;
    }
    match context.peer.create_message(params).await {
        Ok(result) => to_answer(&result),
        Err(error) => Answer::Failed(error.to_string()),
    }
}

fn answer_or_require(
    responses: Option<&InputResponses>,
    key: &str,
    request: InputRequest,
) -> Answer {
    match response(responses, key) {
        Some(answer) => Answer::Given(Value::Object(answer.clone())),
        None => Answer::Required(InputRequiredResult::from_input_requests(
            InputRequests::from([(key.to_owned(), request)]),
        )),
    }
}

fn to_answer(result: &impl serde::Serialize) -> Answer {
    serde_json::to_value(result)
        .map_or_else(|error| Answer::Failed(error.to_string()), Answer::Given)
}
