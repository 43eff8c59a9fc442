//! `error_description` text as RFC 6749 (§4.1.2.1, §5.2) and RFC 6750 (§3) allow it: printable
//! ASCII without `"` and `\` (`%x20-21 / %x23-5B / %x5D-7E`). Descriptions are written for
//! people and often quote what the client sent; a client's parser of the `WWW-Authenticate`
//! challenge or of the redirect may not expect quoted-pairs or escapes, so the text is made to
//! fit instead: `"` becomes `'`, `\` becomes `/`, and any other character outside the set `?`.
//! A description longer than [`MAX_DESCRIPTION_CHARS`] is cut there and ends with `...`: what
//! it quotes from a request (a token's `iss`, say) cannot make an answer, or its header,
//! arbitrarily long.

use std::borrow::Cow;

/// The longest description, in characters (the `...` of a cut one included).
pub const MAX_DESCRIPTION_CHARS: usize = 300;

/// `text` within the `error_description` character set and length (see the module docs).
pub fn sanitized(text: &str) -> Cow<'_, str> {
    let allowed = |c: char| matches!(c, ' '..='~') && c != '"' && c != '\\';
    if text.len() <= MAX_DESCRIPTION_CHARS && text.chars().all(allowed) {
        return Cow::Borrowed(text);
    }
    let cut = text.chars().count() > MAX_DESCRIPTION_CHARS;
    let kept = if cut {
        MAX_DESCRIPTION_CHARS - 3
    } else {
        MAX_DESCRIPTION_CHARS
    };
    let mut fitted: String = text
        .chars()
        .take(kept)
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            c if allowed(c) => c,
            _ => '?',
        })
        .collect();
    if cut {
        fitted.push_str("...");
    }
    Cow::Owned(fitted)
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

    #[test]
    fn long_descriptions_are_cut() {
        let exact = "a".repeat(MAX_DESCRIPTION_CHARS);
        assert!(matches!(sanitized(&exact), Cow::Borrowed(_)));
        let quoted = format!("iss {:?} is not the issuer", "x".repeat(5_000));
        let cut = sanitized(&quoted);
        assert_eq!(cut.chars().count(), MAX_DESCRIPTION_CHARS);
        assert!(
            cut.starts_with("iss 'xxx") && cut.ends_with("x..."),
            "{cut}"
        );
        let wide = "é".repeat(MAX_DESCRIPTION_CHARS);
        assert_eq!(
            sanitized(&wide),
            "?".repeat(MAX_DESCRIPTION_CHARS),
            "cut by characters"
        );
    }
}
