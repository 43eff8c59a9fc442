//! The fast path's body parses (`mcp/fast_path/envelope.rs`: stateless requests and session
//! requests) on arbitrary bytes.
//!
//! Beyond "no panic": whatever the fast path parses, rmcp's own parser must read as the same
//! request — same id, same method, same params and `_meta` — because the fast path promises to
//! answer only what rmcp would have handed to the handler.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, GetMeta, RequestId};
use serde_json::Value;

fuzz_target!(|body: &[u8]| {
    // A stateless request is parsed for the method its `Mcp-Method` names: the one the body
    // names (when it names one), and one it may not name.
    let named = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| value.get("method")?.as_str().map(str::to_owned));
    for method in named.as_deref().into_iter().chain(["tools/call"]) {
        check(body, |body| outpost::fuzzing::parse_envelope(method, body));
    }
    check(body, outpost::fuzzing::parse_session_envelope);
});

/// Whatever `parse` makes of `body`, rmcp reads the same.
fn check(body: &[u8], parse: impl Fn(&[u8]) -> Option<(RequestId, ClientRequest)>) {
    let Some((id, ours)) = parse(body) else {
        return;
    };
    let theirs = match serde_json::from_slice::<ClientJsonRpcMessage>(body) {
        Ok(ClientJsonRpcMessage::Request(request)) => request,
        other => panic!("the fast path parsed a body rmcp reads as {other:?}"),
    };
    assert_eq!(id, theirs.id, "request id");
    assert_eq!(ours.method(), theirs.request.method(), "method");
    assert_eq!(
        serde_json::to_value(&ours).ok(),
        serde_json::to_value(&theirs.request).ok(),
        "params"
    );
    assert_eq!(ours.get_meta(), theirs.request.get_meta(), "_meta");
}
