//! The reference server's prompts, one module per family. Each contributes a `PromptRouter`;
//! [`crate::ReferenceServer::new`] adds them together once.

pub mod conformance;
pub mod demo;

use rmcp::model::InputResponses;

/// The `inputResponses` of a `prompts/get` request (SEP-2322). rmcp's `PromptContext` does not
/// carry them, so [`crate::ReferenceServer`]'s `get_prompt` puts them in the request's
/// extensions, where a `#[prompt]` function takes them as `Extension<PromptInputs>`.
#[derive(Clone, Debug, Default)]
pub struct PromptInputs(pub Option<InputResponses>);
