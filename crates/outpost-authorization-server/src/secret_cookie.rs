//! Cookies that carry a random secret this server set: reading one back (only a value of the
//! form it gives them, base64url of 16 to 128 characters) and making a new one. Used by the
//! CSRF token ([`csrf`](super::csrf)) and the browser binding ([`browser`](super::browser));
//! the device cookie ([`device`](super::device)) is read with a check of its own.

use axum::http::{HeaderMap, HeaderValue, header};

use outpost_oauth::secret::{RandomnessError, Secret};

/// The value of the cookie `name`, when the request carries one of the form this server sets.
pub(crate) fn read<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    read_checked(headers, name, is_secret_syntax)
}

/// The value of the first cookie `name` the request carries that `well_formed` accepts.
pub(crate) fn read_checked<'h>(
    headers: &'h HeaderMap,
    name: &str,
    well_formed: impl Fn(&str) -> bool,
) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(cookie, value)| *cookie == name && well_formed(value))
        .map(|(_, value)| value)
}

/// A fresh secret (256 bits) and the `Set-Cookie` that gives it to the browser as `name`:
/// `Path=/`, `HttpOnly`, the given `SameSite`, and `Secure` when `secure`.
pub(crate) fn issue(
    name: &str,
    same_site: &str,
    secure: bool,
) -> Result<(String, Option<HeaderValue>), RandomnessError> {
    let value = Secret::generate()?.expose().to_owned();
    let cookie = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite={same_site}{}",
        if secure { "; Secure" } else { "" }
    );
    Ok((value, HeaderValue::from_str(&cookie).ok()))
}

/// Secrets are base64url: anything else in the cookie was not set here.
fn is_secret_syntax(value: &str) -> bool {
    (16..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
