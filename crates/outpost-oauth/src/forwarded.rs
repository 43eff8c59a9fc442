//! The client's address behind trusted reverse proxies: [`TrustedProxies`].
//!
//! Behind a load balancer every connection comes from the balancer, so limits per source
//! address would lump every user together. A proxy says whom it forwards for in `Forwarded`
//! (RFC 7239 §4, its `for=` parameter) or the de-facto `X-Forwarded-For`, appending the address
//! of its own peer to what it received. Those headers are read **only** when the TCP peer is
//! in a trusted range, and then from the right: the first address that is not itself a trusted
//! proxy is the client's. A client can put anything in the headers it sends, but only to the
//! left of what its first trusted proxy appends, so it cannot choose the address it is counted
//! under.
//!
//! - No trusted range (the default): the headers are ignored; the peer is the client.
//! - An entry that has to be read and is not an address (`for=unknown`, an obfuscated
//!   identifier, garbage): the peer is taken. Entries left of the client's are never read.
//! - Every entry trusted: the leftmost one (a client inside the trusted ranges).
//! - Both headers present: which one the proxy wrote is unknown (the client may have sent the
//!   other to steer the choice), so the peer is taken. A deployment's proxies write one of
//!   them.
//!
//! Limits per source count a client's address as a [`Source`]: an IPv4 address, or an IPv6
//! address's /64.

use std::{
    fmt,
    net::{IpAddr, Ipv6Addr},
    str::FromStr,
    sync::Arc,
};

use http::{HeaderMap, HeaderName, header::FORWARDED};
use ipnet::IpNet;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// A range of proxy addresses: a CIDR (`10.0.0.0/8`, `2001:db8::/32`) or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyRange(IpNet);

/// A [`ProxyRange`] that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not an IP range: give an address with a prefix length (10.0.0.0/8, \
     2001:db8::/32) or a single address"
)]
pub struct ProxyRangeError(String);

impl FromStr for ProxyRange {
    type Err = ProxyRangeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        text.parse::<IpNet>()
            .map(|net| net.trunc())
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            .map(Self)
            .map_err(|_| ProxyRangeError(text.to_owned()))
    }
}

impl fmt::Display for ProxyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ProxyRange {
    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address is judged as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

/// The proxies whose forwarding headers are believed; cloning is cheap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Arc<[ProxyRange]>);

impl TrustedProxies {
    /// Trusts the proxies in `ranges`.
    pub fn new(ranges: impl IntoIterator<Item = ProxyRange>) -> Self {
        Self(ranges.into_iter().collect())
    }

    /// The trusted ranges.
    pub fn ranges(&self) -> &[ProxyRange] {
        &self.0
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(ip))
    }

    /// The client's address for a request from `peer` with `headers`, by the rules of the
    /// module docs; an IPv4-mapped IPv6 address comes back as IPv4.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let chain = match (
            headers.contains_key(FORWARDED),
            headers.contains_key(X_FORWARDED_FOR),
        ) {
            (true, false) => forwarded_for(headers),
            (false, true) => x_forwarded_for(headers),
            _ => return peer,
        };
        let mut leftmost = peer;
        for entry in chain.iter().rev() {
            let Some(ip) = entry else { return peer };
            if !self.contains(*ip) {
                return *ip;
            }
            leftmost = *ip;
        }
        leftmost
    }
}

/// How many leading bits of an IPv6 address are its [`Source`].
pub const IPV6_SOURCE_PREFIX: u8 = 64;

/// What limits per source count a client address under: an IPv4 address, or an IPv6
/// address's /64. One subscriber, or one attacker, commonly holds a whole /64 (RFC 6177's
/// end-site assignment is at least that), so counting single IPv6 addresses would give them
/// 2^64 budgets. An IPv4-mapped IPv6 address counts as IPv4. Displayed as `192.0.2.1` or
/// `2001:db8:1:2::/64`, the text a store key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    /// The source `ip` is counted under.
    pub fn of(ip: IpAddr) -> Self {
        Self(match ip.to_canonical() {
            IpAddr::V6(ip) => {
                let mask = u128::MAX << (128 - u32::from(IPV6_SOURCE_PREFIX));
                IpAddr::V6(Ipv6Addr::from_bits(ip.to_bits() & mask))
            }
            v4 => v4,
        })
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(ip) => ip.fmt(f),
            IpAddr::V6(prefix) => write!(f, "{prefix}/{IPV6_SOURCE_PREFIX}"),
        }
    }
}

/// The `X-Forwarded-For` entries, left to right, over every such header (`None`: not an
/// address).
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    entries(headers, &X_FORWARDED_FOR, node)
}

/// The `for=` nodes of the `Forwarded` elements, left to right (RFC 7239 §4): `None` for an
/// element without one, or whose node is not an address.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    entries(headers, &FORWARDED, |element| {
        element.split(';').find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("for")
                .then(|| node(value.trim().trim_matches('"')))
        })?
    })
}

/// The comma-separated entries of every `name` header, in order, each read by `read`; a value
/// that is not text is one unreadable entry.
fn entries(
    headers: &HeaderMap,
    name: &HeaderName,
    read: impl Fn(&str) -> Option<IpAddr>,
) -> Vec<Option<IpAddr>> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| match value.to_str() {
            Ok(text) => text.split(',').map(|entry| read(entry.trim())).collect(),
            Err(_) => vec![None],
        })
        .collect()
}

/// A node (RFC 7239 §6): `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711`,
/// or a bare IPv6 address as `X-Forwarded-For` writes it.
fn node(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    let host = match text.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']')?.0,
        None => text.split_once(':')?.0,
    };
    host.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    const PEER: &str = "127.0.0.1";

    #[test]
    fn sources_are_ipv4_addresses_and_ipv6_slash_64s() {
        let source = |ip: &str| Source::of(ip.parse().unwrap());
        assert_eq!(source("192.0.2.1").to_string(), "192.0.2.1");
        assert_eq!(source("::ffff:192.0.2.1"), source("192.0.2.1"));
        assert_eq!(
            source("2001:db8:1:2:aaaa::1").to_string(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(source("2001:db8:1:2:ffff::9"), source("2001:db8:1:2::1"));
        assert_ne!(source("2001:db8:1:3::1"), source("2001:db8:1:2::1"));
    }

    fn trusted(ranges: &[&str]) -> TrustedProxies {
        TrustedProxies::new(ranges.iter().map(|r| r.parse().unwrap()))
    }

    fn client(proxies: &TrustedProxies, headers: &[(&str, &str)]) -> String {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        proxies
            .client_address(PEER.parse().unwrap(), &map)
            .to_string()
    }

    #[test]
    fn ranges_parse_as_cidrs_or_addresses() {
        let range: ProxyRange = "10.1.2.3/8".parse().unwrap();
        assert_eq!(range.to_string(), "10.0.0.0/8");
        assert!(range.contains("10.200.0.1".parse().unwrap()));
        assert!(range.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!range.contains("11.0.0.1".parse().unwrap()));
        assert_eq!(
            "2001:db8::1".parse::<ProxyRange>().unwrap().to_string(),
            "2001:db8::1/128"
        );
        for bad in ["", "10.0.0.0/33", "example.com", "10.0.0/8", "::/129"] {
            assert!(bad.parse::<ProxyRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn without_trusted_proxies_the_headers_are_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(client(&none, &[("x-forwarded-for", "192.0.2.1")]), PEER);
        let others = trusted(&["10.0.0.0/8"]);
        assert_eq!(client(&others, &[("x-forwarded-for", "192.0.2.1")]), PEER);
    }

    #[test]
    fn the_chain_is_walked_from_the_right_past_trusted_proxies() {
        let proxies = trusted(&["127.0.0.1/32", "10.0.0.0/8"]);
        // A client prepended a fake entry; its proxy appended the real address.
        let headers = [("x-forwarded-for", "203.0.113.9, 192.0.2.1, 10.0.0.2")];
        assert_eq!(client(&proxies, &headers), "192.0.2.1");
        // Several headers are one list.
        let headers = [
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-for", "192.0.2.1"),
        ];
        assert_eq!(client(&proxies, &headers), "192.0.2.1");
        // Garbage left of the client is never read; garbage where the client should be is.
        let headers = [("x-forwarded-for", "nonsense, 192.0.2.1")];
        assert_eq!(client(&proxies, &headers), "192.0.2.1");
        let headers = [("x-forwarded-for", "192.0.2.1, nonsense")];
        assert_eq!(client(&proxies, &headers), PEER);
        // Every entry trusted: the leftmost.
        let headers = [("x-forwarded-for", "10.0.0.3, 10.0.0.2")];
        assert_eq!(client(&proxies, &headers), "10.0.0.3");
        // Both headers: which one the proxy wrote is unknown.
        let headers = [
            ("x-forwarded-for", "192.0.2.1"),
            ("forwarded", "for=192.0.2.2"),
        ];
        assert_eq!(client(&proxies, &headers), PEER);
    }

    #[test]
    fn forwarded_for_nodes_parse() {
        let proxies = trusted(&["127.0.0.1/32"]);
        let cases = [
            ("for=\"[2001:db8::1]:1234\"", "2001:db8::1"),
            ("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
            ("For=\"192.0.2.43:47011\"", "192.0.2.43"),
            ("for=\"[2001:db8:cafe::17]\"", "2001:db8:cafe::17"),
            ("for=192.0.2.43, for=198.51.100.17", "198.51.100.17"),
            ("proto=https;for=198.51.100.17", "198.51.100.17"),
            ("for=unknown", PEER),
            ("for=_hidden", PEER),
            ("proto=https", PEER),
        ];
        for (header, expected) in cases {
            assert_eq!(
                client(&proxies, &[("forwarded", header)]),
                expected,
                "{header}"
            );
        }
        let headers = [("x-forwarded-for", "2001:db8::5, [2001:db8::6]:80")];
        assert_eq!(client(&proxies, &headers), "2001:db8::6");
    }
}
