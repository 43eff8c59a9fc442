//! The conformance suite's SEP-2322 (multi round-trip requests) fixtures,
//! `test_input_required_result_*`: each returns an `InputRequiredResult` until the client
//! retries with the `inputResponses` it asked for (and, where used, the `requestState` it
//! handed out).
//!
//! `requestState` comes back from the client, so it is untrusted: it is sealed with the codec
//! Outpost hands every request ([`StateCodec`]: the server's keys, shared by every instance on
//! the same store, so the retry may reach another instance) and a value that fails
//! verification is rejected with `-32602 Invalid params` before anything acts on it. These
//! tools only exist on 2026-07-28; rmcp refuses an `InputRequiredResult` to older clients.

use outpost::StateCodec;
use rmcp::{
    ErrorData as McpError, RoleServer,
    handler::server::tool::{InputResponses, RequestState},
    model::*,
    service::RequestContext,
    tool, tool_router,
};
use serde_json::{Value, json};

use crate::{
    ReferenceServer,
    tools::input::{self, response},
};

const USER_NAME: &str = "user_name";
const GREETING: &str = "greeting";
const CLIENT_ROOTS: &str = "client_roots";

fn ask_name(message: &str) -> InputRequest {
    input::elicitation(
        message,
        json!({ "name": { "type": "string" } }),
        json!(["name"]),
    )
}

fn ask_greeting() -> InputRequest {
    input::sampling("Generate a greeting", 100)
}

/// An `InputRequiredResult` asking for `requests`, with `state` to echo back if given.
fn required(requests: InputRequests, state: Option<String>) -> CallToolResponse {
    InputRequiredResult::new(Some(requests), state).into()
}

fn done(text: impl Into<String>) -> CallToolResponse {
    CallToolResult::success(vec![ContentBlock::text(text)]).into()
}

/// `content.<field>` of an elicitation response, if it is a string.
fn content_str<'a>(response: &'a serde_json::Map<String, Value>, field: &str) -> Option<&'a str> {
    response.get("content")?.get(field)?.as_str()
}

#[tool_router(router = mrtr_tools, vis = "pub(crate)")]
impl ReferenceServer {
    /// Asks for the user's name, then greets them.
    #[tool(description = "Requires an elicitation input via InputRequiredResult (SEP-2322)")]
    fn test_input_required_result_elicitation(
        &self,
        InputResponses(responses): InputResponses,
    ) -> CallToolResponse {
        match response(responses.as_ref(), USER_NAME) {
            Some(answer) => done(format!(
                "Hello, {}!",
                content_str(answer, "name").unwrap_or("friend")
            )),
            None => required(
                InputRequests::from([(USER_NAME.to_owned(), ask_name("What is your name?"))]),
                None,
            ),
        }
    }

    /// Asks the client's LLM a question, then reports its answer.
    #[tool(description = "Requires a sampling input via InputRequiredResult (SEP-2322)")]
    fn test_input_required_result_sampling(
        &self,
        InputResponses(responses): InputResponses,
    ) -> CallToolResponse {
        const KEY: &str = "capital_question";
        match response(responses.as_ref(), KEY) {
            Some(answer) => done(format!(
                "Sampling response: {}",
                input::sampled_text(answer).unwrap_or("(no sampling text)")
            )),
            None => required(
                InputRequests::from([(
                    KEY.to_owned(),
                    input::sampling("What is the capital of France?", 100),
                )]),
                None,
            ),
        }
    }

    /// Asks for the client's roots, then lists their URIs.
    #[tool(description = "Requires a roots/list input via InputRequiredResult (SEP-2322)")]
    fn test_input_required_result_list_roots(
        &self,
        InputResponses(responses): InputResponses,
    ) -> CallToolResponse {
        match response(responses.as_ref(), CLIENT_ROOTS) {
            Some(answer) => {
                let roots: Vec<&str> = answer
                    .get("roots")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|root| root.get("uri").and_then(Value::as_str))
                    .collect();
                done(format!("Client roots: [{}]", roots.join(", ")))
            }
            None => required(
                InputRequests::from([(CLIENT_ROOTS.to_owned(), input::list_roots())]),
                None,
            ),
        }
    }

    /// Hands out sealed state with its question; completes only when the state verifies.
    #[tool(description = "Round-trips integrity-protected requestState (SEP-2322)")]
    fn test_input_required_result_request_state(
        &self,
        RequestState(state): RequestState,
        StateCodec(codec): StateCodec,
    ) -> Result<CallToolResponse, McpError> {
        confirm_with_state(&codec, state.as_deref())
    }

    /// The same flow as `..._request_state`; the suite tampers with the state on retry.
    #[tool(description = "Rejects tampered requestState with a JSON-RPC error (SEP-2322)")]
    fn test_input_required_result_tampered_state(
        &self,
        RequestState(state): RequestState,
        StateCodec(codec): StateCodec,
    ) -> Result<CallToolResponse, McpError> {
        confirm_with_state(&codec, state.as_deref())
    }

    /// Asks for a name, a greeting and the roots in one round.
    #[tool(description = "Requires elicitation + sampling + roots inputs in one round (SEP-2322)")]
    fn test_input_required_result_multiple_inputs(
        &self,
        InputResponses(responses): InputResponses,
        RequestState(state): RequestState,
        StateCodec(codec): StateCodec,
    ) -> Result<CallToolResponse, McpError> {
        if let Some(sealed) = state.as_deref() {
            open_state(&codec, sealed)?;
        }
        let all_given = [USER_NAME, GREETING, CLIENT_ROOTS]
            .iter()
            .all(|key| response(responses.as_ref(), key).is_some());
        if all_given && state.is_some() {
            return Ok(done("All inputs received"));
        }
        let requests = InputRequests::from([
            (USER_NAME.to_owned(), ask_name("What is your name?")),
            (GREETING.to_owned(), ask_greeting()),
            (CLIENT_ROOTS.to_owned(), input::list_roots()),
        ]);
        Ok(required(
            requests,
            Some(seal_state(&codec, &json!({ "stage": "gather" }))?),
        ))
    }

    /// Two rounds of questions, the round number carried in sealed state.
    #[tool(
        description = "Drives multiple input_required rounds with evolving requestState (SEP-2322)"
    )]
    fn test_input_required_result_multi_round(
        &self,
        RequestState(state): RequestState,
        StateCodec(codec): StateCodec,
    ) -> Result<CallToolResponse, McpError> {
        let round = match state.as_deref() {
            None => 0,
            Some(sealed) => open_state(&codec, sealed)?
                .get("round")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        };
        let (key, question) = match round {
            0 => ("step1", ask_name("Step 1: What is your name?")),
            1 => (
                "step2",
                input::elicitation(
                    "Step 2: What is your favorite color?",
                    json!({ "color": { "type": "string" } }),
                    json!(["color"]),
                ),
            ),
            _ => return Ok(done("Multi-round flow complete")),
        };
        let sealed = seal_state(&codec, &json!({ "round": round + 1 }))?;
        Ok(required(
            InputRequests::from([(key.to_owned(), question)]),
            Some(sealed),
        ))
    }

    /// Asks only for the kinds of input the client declared it can give.
    #[tool(description = "Only requests inputs for declared client capabilities (SEP-2322)")]
    fn test_input_required_result_capabilities(
        &self,
        InputResponses(responses): InputResponses,
        context: RequestContext<RoleServer>,
    ) -> CallToolResponse {
        if responses.is_some() {
            return done("Capability-aware flow complete");
        }
        let capabilities = context.client_capabilities().unwrap_or_default();
        let mut requests = InputRequests::new();
        if capabilities.elicitation.is_some() {
            requests.insert(USER_NAME.to_owned(), ask_name("What is your name?"));
        }
        if capabilities.sampling.is_some() {
            requests.insert(GREETING.to_owned(), ask_greeting());
        }
        if capabilities.roots.is_some() {
            requests.insert(CLIENT_ROOTS.to_owned(), input::list_roots());
        }
        if requests.is_empty() {
            return done("Client declared no MRTR-capable capabilities");
        }
        required(requests, None)
    }
}

/// Round 1 (no state): ask for confirmation and hand out sealed state. Round 2: complete if
/// the state verifies, whatever the answer.
fn confirm_with_state(
    codec: &RequestStateCodec,
    state: Option<&str>,
) -> Result<CallToolResponse, McpError> {
    match state {
        Some(sealed) => {
            open_state(codec, sealed)?;
            Ok(done("Confirmed: state-ok"))
        }
        None => {
            let question = input::elicitation(
                "Please confirm",
                json!({ "ok": { "type": "boolean" } }),
                json!(["ok"]),
            );
            let sealed = seal_state(codec, &json!({ "stage": "confirm" }))?;
            Ok(required(
                InputRequests::from([("confirm".to_owned(), question)]),
                Some(sealed),
            ))
        }
    }
}

fn seal_state(codec: &RequestStateCodec, state: &Value) -> Result<String, McpError> {
    codec
        .seal_json(state)
        .map_err(|error| McpError::internal_error(error.to_string(), None))
}

/// Verifies and opens `sealed`; forged, tampered or unknown-key state is `-32602` (rmcp asks
/// that every opening failure map to one client-facing error).
fn open_state(codec: &RequestStateCodec, sealed: &str) -> Result<Value, McpError> {
    codec.open_json(sealed).map_err(|error| {
        tracing::debug!(%error, "rejected requestState");
        McpError::invalid_params("requestState failed integrity verification", None)
    })
}

#[cfg(test)]
mod tests {
    use outpost::RequestStateKeys;

    use super::*;

    #[test]
    fn sealed_state_opens_and_tampered_state_is_invalid_params() {
        let codec = RequestStateKeys::process_local().codec();
        let sealed = seal_state(&codec, &json!({ "round": 1 })).unwrap();
        assert_eq!(open_state(&codec, &sealed).unwrap(), json!({ "round": 1 }));
        let error = open_state(&codec, &format!("{sealed}-TAMPERED")).unwrap_err();
        assert_eq!(error.code, ErrorCode::INVALID_PARAMS);
    }
}
