//! The fast path's body parses (`mcp/fast_path/envelope.rs`: stateless requests and session
//! requests) on arbitrary bytes.
//!
//! Beyond "no panic": whatever the fast path parses, rmcp's own parser must read as the same
//! request — same id, same method, same params and `_meta` — because the fast path promises to
//! answer only what rmcp would have handed to the handler.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, GetMeta, RequestId};

fuzz_target!(|body: &[u8]| {
    for parse in [
        outpost::fuzzing::parse_envelope,
        outpost::fuzzing::parse_session_envelope,
    ] {
        check(body, parse);
    }
});

/// Whatever `parse` makes of `body`, rmcp reads the same.
fn check(body: &[u8], parse: fn(&[u8]) -> Option<(RequestId, ClientRequest)>) {
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
