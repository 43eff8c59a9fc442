//! `completion/complete`: suggestions for prompt arguments and resource-template variables.

use rmcp::{
    ErrorData as McpError,
    model::{CompleteRequestParams, CompleteResult, CompletionInfo, Reference},
};

use crate::{
    prompts::{
        conformance::ARGUMENT_EXAMPLES,
        demo::{STYLES, TEMPERATURES},
    },
    resources::{self, CONFORMANCE_TEMPLATE},
};

/// Completes `request.argument` for the referenced prompt or template; an unknown template is
/// `-32602` (as the server answers an unknown prompt), unknown arguments complete to nothing.
pub fn complete(request: &CompleteRequestParams) -> Result<CompleteResult, McpError> {
    let prefix = request.argument.value.as_str();
    let argument = request.argument.name.as_str();
    let candidates: Vec<String> = match &request.r#ref {
        Reference::Prompt(prompt) => match (prompt.name.as_str(), argument) {
            ("complex_prompt", "style") => starting_with(&STYLES, prefix),
            ("complex_prompt", "temperature") => starting_with(&TEMPERATURES, prefix),
            ("test_prompt_with_arguments", "arg1" | "arg2") => {
                starting_with(&ARGUMENT_EXAMPLES, prefix)
            }
            _ => Vec::new(),
        },
        Reference::Resource(template) => match (template.uri.as_str(), argument) {
            (resources::numbered::TEMPLATE, "id") => resources::numbered::complete_id(prefix),
            (CONFORMANCE_TEMPLATE, "id") => starting_with(&["1", "2", "3"], prefix),
            (resources::numbered::TEMPLATE | CONFORMANCE_TEMPLATE, _) => Vec::new(),
            (uri, _) => {
                return Err(McpError::invalid_params(
                    format!("no resource template {uri:?}"),
                    None,
                ));
            }
        },
        _ => Vec::new(),
    };
    let total = candidates.len();
    let values: Vec<String> = candidates
        .into_iter()
        .take(CompletionInfo::MAX_VALUES)
        .collect();
    let has_more = values.len() < total;
    let info = CompletionInfo::with_pagination(values, u32::try_from(total).ok(), has_more)
        .map_err(|error| McpError::internal_error(error, None))?;
    Ok(CompleteResult::new(info))
}

fn starting_with(options: &[&str], prefix: &str) -> Vec<String> {
    options
        .iter()
        .filter(|option| option.starts_with(prefix))
        .map(|option| (*option).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use rmcp::model::{ArgumentInfo, Reference};

    use super::*;

    fn complete_values(reference: Reference, name: &str, value: &str) -> Vec<String> {
        let request = CompleteRequestParams::new(reference, ArgumentInfo::new(name, value));
        complete(&request).unwrap().completion.values
    }

    #[test]
    fn prompt_argument_completes_by_prefix() {
        let values = complete_values(Reference::for_prompt("complex_prompt"), "style", "f");
        assert_eq!(values, vec!["formal", "friendly"]);
    }

    #[test]
    fn template_id_completes_numbered_resources() {
        let values = complete_values(
            Reference::for_resource(resources::numbered::TEMPLATE),
            "id",
            "9",
        );
        assert_eq!(
            values,
            vec![
                "9", "90", "91", "92", "93", "94", "95", "96", "97", "98", "99"
            ]
        );
    }
}
