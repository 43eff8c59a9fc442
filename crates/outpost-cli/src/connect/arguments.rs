//! `key=value` arguments typed by the tool's input schema: a property declared `integer`,
//! `number` or `boolean` gets a JSON number or boolean, `object` and `array` parse the value as
//! JSON, `string` keeps it as it is; a key the schema does not type is JSON when it parses as
//! JSON, else a string. `--json` gives a whole object the pairs are laid over.

use rmcp::model::JsonObject;
use serde_json::{Number, Value};

/// The arguments object for a call of a tool whose input schema is `schema`.
pub fn tool_arguments(
    schema: &JsonObject,
    pairs: &[(String, String)],
    json: Option<&str>,
) -> Result<JsonObject, String> {
    let mut arguments = match json {
        None => JsonObject::new(),
        Some(text) => match serde_json::from_str(text) {
            Ok(Value::Object(object)) => object,
            Ok(_) => return Err("--json must be a JSON object".into()),
            Err(e) => return Err(format!("--json is not valid JSON: {e}")),
        },
    };
    for (key, text) in pairs {
        let property = schema
            .get("properties")
            .and_then(|properties| properties.get(key));
        let value = typed(property, text)
            .map_err(|expected| format!("{key}={text}: the tool's schema wants {expected}"))?;
        arguments.insert(key.clone(), value);
    }
    Ok(arguments)
}

/// Prompt arguments are strings in MCP: the pairs as they are.
pub fn prompt_arguments(pairs: &[(String, String)]) -> JsonObject {
    pairs
        .iter()
        .map(|(key, value)| (key.clone(), Value::String(value.clone())))
        .collect()
}

/// The declared types of a property: `"type": "x"` or `"type": ["x", "null"]`.
fn declared_types(property: Option<&Value>) -> Vec<&str> {
    match property.and_then(|p| p.get("type")) {
        Some(Value::String(kind)) => vec![kind.as_str()],
        Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// `text` as the first declared type it parses as; `Err` names what was expected.
fn typed(property: Option<&Value>, text: &str) -> Result<Value, String> {
    let types = declared_types(property);
    if types.is_empty() {
        return Ok(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())));
    }
    if text == "null" && types.contains(&"null") {
        return Ok(Value::Null);
    }
    for kind in &types {
        let parsed = match *kind {
            "string" => Some(Value::String(text.to_owned())),
            "integer" => text.parse::<i64>().ok().map(Value::from),
            "number" => text
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(|n| match text.parse::<i64>() {
                    Ok(integer) => Value::from(integer),
                    Err(_) => Value::Number(n),
                }),
            "boolean" => match text {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            "object" => serde_json::from_str(text).ok().filter(Value::is_object),
            "array" => serde_json::from_str(text).ok().filter(Value::is_array),
            _ => None,
        };
        if let Some(value) = parsed {
            return Ok(value);
        }
    }
    Err(match types.as_slice() {
        [one] => format!("{} {one}", article(one)),
        many => format!("one of {}", many.join(", ")),
    })
}

fn article(kind: &str) -> &'static str {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::tool_arguments;

    fn schema() -> rmcp::model::JsonObject {
        json!({"type": "object", "properties": {
            "a": {"type": "integer"}, "x": {"type": "number"}, "loud": {"type": "boolean"},
            "text": {"type": "string"}, "options": {"type": "object"}, "tags": {"type": ["array", "null"]},
        }})
        .as_object()
        .unwrap()
        .clone()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn values_take_the_schemas_types() {
        let arguments = tool_arguments(
            &schema(),
            &pairs(&[
                ("a", "2"),
                ("x", "2.5"),
                ("loud", "true"),
                ("text", "42"),
                ("options", r#"{"k":1}"#),
                ("tags", "null"),
                ("other", "[1]"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(
            serde_json::Value::Object(arguments),
            json!({"a": 2, "x": 2.5, "loud": true, "text": "42", "options": {"k": 1}, "tags": null, "other": [1]})
        );
    }

    #[test]
    fn pairs_lie_over_json_and_mismatches_are_named() {
        let arguments = tool_arguments(
            &schema(),
            &pairs(&[("a", "3")]),
            Some(r#"{"a": 1, "b": 2}"#),
        )
        .unwrap();
        assert_eq!(
            serde_json::Value::Object(arguments),
            json!({"a": 3, "b": 2})
        );
        let error = tool_arguments(&schema(), &pairs(&[("a", "two")]), None).unwrap_err();
        assert_eq!(error, "a=two: the tool's schema wants an integer");
        assert!(tool_arguments(&schema(), &[], Some("[1]")).is_err());
    }
}
