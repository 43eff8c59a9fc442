//! Whether a request to `/authorize` is a browser opening it as a page.
//!
//! A sign-in starts with a top-level navigation: the MCP client sends the system browser, a
//! popup or the tab itself to `/authorize`. Another site's page can also make its visitor's
//! browser request `/authorize` — a hundred `<img>` tags, hidden frames, `fetch(…, { mode:
//! "no-cors" })` — and each such request would store a pending request and spend the
//! visitor's network's sign-in budget ([`PENDING_PER_SOURCE`](crate::pending::PENDING_PER_SOURCE)),
//! locking the people behind that address out of signing in, or make this server fetch a
//! client metadata document. Browsers say what a request is for in the Fetch Metadata headers
//! (W3C *Fetch Metadata Request Headers*): a navigation to a page is `Sec-Fetch-Mode:
//! navigate` with `Sec-Fetch-Dest: document`. [`is_embedded`] is true when a browser says
//! otherwise; `/authorize` then refuses before reading the request. A request without these
//! headers (a client that is no browser, an older browser) is not refused.

use axum::http::{HeaderMap, HeaderName};

const SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");
const SEC_FETCH_DEST: HeaderName = HeaderName::from_static("sec-fetch-dest");

/// Whether the browser says this request is not a navigation to a page of its own: an image,
/// a frame, a script's fetch, a prefetch.
pub(crate) fn is_embedded(headers: &HeaderMap) -> bool {
    let says_other = |name: &HeaderName, expected: &str| {
        headers
            .get(name)
            .is_some_and(|value| !value.as_bytes().eq_ignore_ascii_case(expected.as_bytes()))
    };
    says_other(&SEC_FETCH_MODE, "navigate") || says_other(&SEC_FETCH_DEST, "document")
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    #[test]
    fn a_page_navigation_or_no_fetch_metadata_is_not_embedded() {
        for pairs in [
            &[][..],
            &[
                ("sec-fetch-mode", "navigate"),
                ("sec-fetch-dest", "document"),
            ][..],
            &[("sec-fetch-mode", "navigate")][..],
        ] {
            assert!(!is_embedded(&headers(pairs)), "{pairs:?}");
        }
    }

    #[test]
    fn images_frames_and_scripts_fetches_are_embedded() {
        for pairs in [
            &[("sec-fetch-mode", "no-cors"), ("sec-fetch-dest", "image")][..],
            &[("sec-fetch-mode", "navigate"), ("sec-fetch-dest", "iframe")][..],
            &[("sec-fetch-mode", "cors"), ("sec-fetch-dest", "empty")][..],
            &[("sec-fetch-mode", "no-cors")][..],
        ] {
            assert!(is_embedded(&headers(pairs)), "{pairs:?}");
        }
    }
}
