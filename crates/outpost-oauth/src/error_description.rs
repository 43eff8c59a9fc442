//! `error_description` text as RFC 6749 (§4.1.2.1, §5.2) and RFC 6750 (§3) allow it: printable
//! ASCII without `"` and `\` (`%x20-21 / %x23-5B / %x5D-7E`). Descriptions are written for
//! people and often quote what the client sent; a client's parser of the `WWW-Authenticate`
//! challenge or of the redirect may not expect quoted-pairs or escapes, so the text is made to
//! fit instead: `"` becomes `'`, `\` becomes `/`, and any other character outside the set `?`.

use std::borrow::Cow;

/// `text` within the `error_description` character set (see the module docs).
pub fn sanitized(text: &str) -> Cow<'_, str> {
    let allowed = |c: char| matches!(c, ' '..='~') && c != '"' && c != '\\';
    if text.chars().all(allowed) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '"' => '\'',
                '\\' => '/',
                c if allowed(c) => c,
                _ => '?',
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_backslashes_and_other_characters_are_replaced() {
        assert!(matches!(sanitized("plain text, ok!"), Cow::Borrowed(_)));
        assert_eq!(
            sanitized(r#"requires the scope "mcp mcp:admin""#),
            "requires the scope 'mcp mcp:admin'"
        );
        assert_eq!(sanitized(r"a\b"), "a/b");
        assert_eq!(
            sanitized("tab\there, line\nfeed, é"),
            "tab?here, line?feed, ?"
        );
    }
}
