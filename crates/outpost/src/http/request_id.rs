//! The `x-request-id` every response carries: the client's own when it sent a usable one,
//! else one made here.
//!
//! A client's id is kept when it is 1 to 128 visible ASCII characters (no spaces, no
//! control characters), so it cannot break a log line or smuggle anything into one; anything
//! else is replaced. A made id is a random per-process prefix and a counter — unique across
//! instances without a random draw per request: one atomic increment and one short string.

use std::sync::{
    OnceLock,
    atomic::{AtomicU64, Ordering},
};

use http::{HeaderMap, HeaderName, HeaderValue};

/// The header that carries the id, on requests and responses.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client-sent id kept.
const MAX_LEN: usize = 128;

/// A request's id: what `x-request-id` says on its response and in its log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The client's id from `headers` when it sent exactly one usable id, else a new one.
    pub fn of(headers: &HeaderMap) -> Self {
        let mut sent = headers.get_all(&REQUEST_ID).iter();
        match (sent.next(), sent.next()) {
            (Some(value), None) if is_usable(value) => Self(value.clone()),
            _ => Self::generate(),
        }
    }

    /// A new id: this process's random prefix and the next count.
    pub fn generate() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let count = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut id = [0u8; LONGEST_MADE_ID];
        let written = made_id(prefix(), count, &mut id);
        Self(
            HeaderValue::from_bytes(written)
                .expect("hex digits and a dash are a valid header value"),
        )
    }

    /// The id as text (always visible ASCII).
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }

    /// The id as a header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

/// The longest id [`made_id`] writes: a 16-digit prefix, a dash, 16 hex digits.
const LONGEST_MADE_ID: usize = 33;

/// `{prefix}-{count:x}` written into `out`, without `core::fmt` (most requests get a made id):
/// the bytes written.
fn made_id<'a>(prefix: &str, count: u64, out: &'a mut [u8; LONGEST_MADE_ID]) -> &'a [u8] {
    let prefix = prefix.as_bytes();
    out[..prefix.len()].copy_from_slice(prefix);
    out[prefix.len()] = b'-';
    let digits = (count.max(1).ilog2() / 4 + 1) as usize;
    let end = prefix.len() + 1 + digits;
    for (at, slot) in out[prefix.len() + 1..end].iter_mut().rev().enumerate() {
        *slot = b"0123456789abcdef"[((count >> (4 * at)) & 0xf) as usize];
    }
    &out[..end]
}

/// 1 to [`MAX_LEN`] visible ASCII characters.
fn is_usable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_LEN && bytes.iter().all(u8::is_ascii_graphic)
}

/// 64 random bits, drawn once per process, in hex.
fn prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 8];
        // Without the OS's randomness the ids are still unique in this process; the time
        // keeps instances apart.
        if getrandom::fill(&mut bytes).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_nanos() as u64)
                .unwrap_or_default();
            bytes = nanos.to_be_bytes();
        }
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(values: &[&[u8]]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(&REQUEST_ID, HeaderValue::from_bytes(value).unwrap());
        }
        headers
    }

    #[test]
    fn a_usable_client_id_is_kept() {
        let id = RequestId::of(&sent(&[b"req-42_abc.DEF"]));
        assert_eq!(id.as_str(), "req-42_abc.DEF");
    }

    #[test]
    fn unusable_or_repeated_ids_are_replaced() {
        let long = vec![b'a'; MAX_LEN + 1];
        for headers in [
            sent(&[]),
            sent(&[b""]),
            sent(&[b"has space"]),
            sent(&[b"tab\there"]),
            sent(&[b"caf\xc3\xa9"]),
            sent(&[&long]),
            sent(&[b"one", b"two"]),
        ] {
            let id = RequestId::of(&headers);
            assert!(id.as_str().starts_with(prefix()), "{id:?}");
        }
        assert_eq!(
            RequestId::of(&sent(&[&long[..MAX_LEN]])).as_str().len(),
            MAX_LEN
        );
    }

    #[test]
    fn made_ids_are_written_as_format_writes_them() {
        for count in [
            0,
            1,
            9,
            10,
            15,
            16,
            255,
            256,
            0xabc_def,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = [0; LONGEST_MADE_ID];
            let written = made_id(prefix(), count, &mut out);
            assert_eq!(written, format!("{}-{count:x}", prefix()).as_bytes());
        }
    }

    #[test]
    fn made_ids_are_the_prefix_a_dash_and_the_count_in_hex() {
        let (first, second) = (RequestId::generate(), RequestId::generate());
        let count = |id: &RequestId| {
            let (head, count) = id.as_str().split_once('-').unwrap();
            assert_eq!(head, prefix());
            u64::from_str_radix(count, 16).unwrap()
        };
        assert!(count(&second) > count(&first));
        assert!(!second.as_str().ends_with("-"));
    }

    #[test]
    fn made_ids_differ() {
        let (first, second) = (RequestId::generate(), RequestId::generate());
        assert_ne!(first, second);
        assert_eq!(prefix().len(), 16);
    }
}
