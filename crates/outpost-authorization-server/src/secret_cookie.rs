//! Cookies that carry a random secret this server set: reading one back (only a value of the
//! form it gives them, base64url of 16 to 128 characters) and making a new one. Used by the
//! CSRF token ([`csrf`](super::csrf)) and the browser binding ([`browser`](super::browser));
//! the device cookie ([`device`](super::device)) is read with a check of its own.
//!
//! On an `https` issuer every cookie is named with the `__Host-` prefix ([`name`]): a browser
//! accepts such a cookie only from this host, over https, for the whole path and without a
//! `Domain`, so a page on a sibling subdomain or on plain http cannot plant one the server
//! would read (a planted CSRF cookie would defeat the double-submit check). On plain `http`
//! (loopback development) browsers refuse the prefix, so the bare name is used.

use std::borrow::Cow;

use axum::http::{HeaderMap, HeaderValue, header};

/// The name of the cookie `base` on a server whose issuer is `https` when `secure`.
pub(crate) fn name(base: &'static str, secure: bool) -> Cow<'static, str> {
    if secure {
        Cow::Owned(format!("__Host-{base}"))
    } else {
        Cow::Borrowed(base)
    }
}

use outpost_oauth::secret::{RandomnessError, Secret};

/// The value of the cookie `base` ([`name`]d for `secure`), when the request carries one of
/// the form this server sets.
pub(crate) fn read<'h>(
    headers: &'h HeaderMap,
    base: &'static str,
    secure: bool,
) -> Option<&'h str> {
    read_checked(headers, base, secure, is_secret_syntax)
}

/// The value of the first cookie `base` ([`name`]d for `secure`) the request carries that
/// `well_formed` accepts.
pub(crate) fn read_checked<'h>(
    headers: &'h HeaderMap,
    base: &'static str,
    secure: bool,
    well_formed: impl Fn(&str) -> bool,
) -> Option<&'h str> {
    let name = name(base, secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(cookie, value)| *cookie == name && well_formed(value))
        .map(|(_, value)| value)
}

/// A fresh secret (256 bits) and the `Set-Cookie` that gives it to the browser as `base`
/// ([`name`]d for `secure`): `Path=/`, `HttpOnly`, the given `SameSite`, and `Secure` when
/// `secure`.
pub(crate) fn issue(
    base: &'static str,
    same_site: &str,
    secure: bool,
) -> Result<(String, Option<HeaderValue>), RandomnessError> {
    let value = Secret::generate()?.expose().to_owned();
    let cookie = set_cookie(base, &value, same_site, None, secure);
    Ok((value, cookie))
}

/// The `Set-Cookie` of every cookie this server sets: `base` ([`name`]d for `secure`) holding
/// `value`, `Path=/`, `Max-Age` when given, `HttpOnly`, the given `SameSite`, and `Secure`
/// when `secure` (which the `__Host-` name requires).
pub(crate) fn set_cookie(
    base: &'static str,
    value: &str,
    same_site: &str,
    max_age: Option<std::time::Duration>,
    secure: bool,
) -> Option<HeaderValue> {
    let max_age = max_age.map_or(String::new(), |age| format!("; Max-Age={}", age.as_secs()));
    let cookie = format!(
        "{}={value}; Path=/{max_age}; HttpOnly; SameSite={same_site}{}",
        name(base, secure),
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).ok()
}

/// Secrets are base64url: anything else in the cookie was not set here.
fn is_secret_syntax(value: &str) -> bool {
    (16..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
