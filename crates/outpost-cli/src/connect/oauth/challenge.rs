//! The `WWW-Authenticate: Bearer …` challenge of a 401 or 403 (RFC 6750 §3): where the
//! protected-resource metadata is (RFC 9728 §5.1) and which scope the server asks for.

/// What a Bearer challenge tells the client.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `resource_metadata`: the URL of the RFC 9728 document.
    pub resource_metadata: Option<String>,
    /// `scope`: the scopes the server asks for, space-separated.
    pub scope: Option<String>,
    /// `error`: why the request was refused (`invalid_token`, `insufficient_scope`).
    pub error: Option<String>,
}

impl Challenge {
    /// Reads the auth-params of the `Bearer` challenge in `header`; unknown params are ignored,
    /// and a header without a Bearer challenge gives an empty `Challenge`.
    pub fn parse(header: &str) -> Self {
        let Some(start) = header.to_ascii_lowercase().find("bearer") else {
            return Self::default();
        };
        let mut challenge = Self::default();
        for (name, value) in auth_params(&header[start + "bearer".len()..]) {
            match name.to_ascii_lowercase().as_str() {
                "resource_metadata" => challenge.resource_metadata = Some(value),
                "scope" => challenge.scope = Some(value),
                "error" => challenge.error = Some(value),
                _ => {}
            }
        }
        challenge
    }
}

/// `name=token` and `name="quoted \" string"` pairs separated by commas (RFC 9110 §11.2).
fn auth_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut rest = text.trim_start();
    while let Some(equals) = rest.find('=') {
        let name = rest[..equals]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_owned();
        rest = rest[equals + 1..].trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((index, c)) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next().map(|(_, c)| c)),
                    '"' => {
                        end = index + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            rest = &quoted[end..];
            value
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let value = rest[..end].trim().to_owned();
            rest = &rest[end..];
            value
        };
        params.push((name, value));
        rest = rest.trim_start().trim_start_matches(',').trim_start();
    }
    params
}

#[cfg(test)]
mod tests {
    use super::Challenge;

    #[test]
    fn reads_quoted_and_bare_params() {
        let challenge = Challenge::parse(
            r#"Bearer error="invalid_token", resource_metadata="http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp", scope=mcp"#,
        );
        assert_eq!(
            challenge.resource_metadata.as_deref(),
            Some("http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(challenge.scope.as_deref(), Some("mcp"));
    }

    #[test]
    fn unescapes_quoted_pairs_and_keeps_commas_inside_quotes() {
        let challenge = Challenge::parse(r#"Bearer error="x\"y, z", scope="a \"b\",c""#);
        assert_eq!(challenge.scope.as_deref(), Some("a \"b\",c"));
    }

    #[test]
    fn no_bearer_challenge_is_empty() {
        assert_eq!(Challenge::parse("Basic realm=x"), Challenge::default());
    }
}
