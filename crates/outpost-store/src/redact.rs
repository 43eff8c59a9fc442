//! Store URLs as logs, errors and readiness answers may show them: the password a URL's
//! userinfo carries never printed. One policy for every backend and caller.

/// `url` with the password of its userinfo, if any, replaced by `<redacted>`. Text that does
/// not parse as a URL is shown as it is unless it has an `@` (where userinfo would be), then as
/// `<unparsable URL>`: a password may hide in it in a form this cannot find.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Only URLs that cannot carry a password refuse one.
            let _ = parsed.set_password(Some("<redacted>"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) if url.contains('@') => "<unparsable URL>".into(),
        Err(_) => url.to_owned(),
    }
}

/// `text` (an error message, say) with the userinfo of every `scheme://user:password@host` in
/// it replaced by `***`: for text that may quote a URL among other words.
pub fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("://") {
        let (before, after) = rest.split_at(start + 3);
        out.push_str(before);
        let authority_end = after
            .find(|c: char| c == '/' || c.is_whitespace())
            .unwrap_or(after.len());
        match after[..authority_end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                rest = &after[at..];
            }
            None => rest = after,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_never_print() {
        assert_eq!(
            redact_url("redis://app:hunter2@cache:6379/2"),
            "redis://app:%3Credacted%3E@cache:6379/2"
        );
        assert_eq!(redact_url("redis://cache:6379"), "redis://cache:6379");
        assert_eq!(redact_url("sqlite://./outpost.db"), "sqlite://./outpost.db");
        assert_eq!(redact_url("not a url :hunter2@cache"), "<unparsable URL>");
        assert_eq!(redact_url("outpost.db"), "outpost.db");
    }

    #[test]
    fn userinfo_in_messages_is_masked() {
        assert_eq!(
            redact_urls_in("cannot reach redis://:hunter2@cache:6379/0: refused"),
            "cannot reach redis://***@cache:6379/0: refused"
        );
        assert_eq!(
            redact_urls_in("sqlite:///var/lib/outpost.db is locked"),
            "sqlite:///var/lib/outpost.db is locked"
        );
        assert_eq!(
            redact_urls_in("user@example.com failed"),
            "user@example.com failed"
        );
    }
}
