//! Which IP addresses a metadata-document fetch may connect to.
//!
//! A client id URL is chosen by whoever starts an authorization request, so fetching it lets
//! anyone make this server send requests (SSRF, MCP security best practices; draft-ietf-oauth-
//! client-id-metadata-document §6). Only globally routable unicast addresses are reachable by
//! default: loopback, private (RFC 1918, RFC 4193 unique-local), link-local, shared/CGNAT
//! (RFC 6598), multicast, unspecified, broadcast, documentation, benchmarking, reserved and the
//! IPv6 transition prefixes that embed an IPv4 address (v4-mapped, v4-compatible, NAT64,
//! 6to4, Teredo) are refused. An IPv4-mapped IPv6 address is judged as its IPv4 address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is a globally routable unicast address that a fetch may connect to without
/// `allow_private_addresses`.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = ip.is_unspecified()            // 0.0.0.0
        || a == 0                                // 0.0.0.0/8 "this network"
        || ip.is_loopback()                      // 127.0.0.0/8
        || ip.is_private()                       // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local()                    // 169.254/16 (cloud metadata endpoints)
        || (a == 100 && (64..128).contains(&b))  // 100.64/10 shared address space (RFC 6598)
        || (a == 192 && b == 0 && c == 0)        // 192.0.0.0/24 IETF protocol assignments
        || ip.is_documentation()                 // 192.0.2/24, 198.51.100/24, 203.0.113/24
        || (a == 198 && (b & 0xfe) == 18)        // 198.18/15 benchmarking (RFC 2544)
        || (a == 192 && b == 88 && c == 99)      // 192.88.99/24 6to4 relay anycast
        || ip.is_multicast()                     // 224/4
        || a >= 240; // 240/4 reserved, 255.255.255.255 broadcast
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let refused = ip.is_unspecified()                       // ::
        || ip.is_loopback()                                 // ::1
        || ip.is_multicast()                                // ff00::/8
        || (segments[0] & 0xfe00) == 0xfc00                 // fc00::/7 unique local
        || (segments[0] & 0xffc0) == 0xfe80                 // fe80::/10 link-local
        || (segments[0] & 0xffc0) == 0xfec0                 // fec0::/10 site-local (deprecated)
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // 2001:db8::/32 documentation
        || segments[0] == 0x3fff                            // 3fff::/20 documentation (RFC 9637)
        || (segments[0] == 0x2001 && segments[1] < 0x0200)  // 2001::/23 IETF (Teredo, ORCHID…)
        || segments[0] == 0x2002                            // 2002::/16 6to4
        || (segments[0] == 0x0064 && segments[1] == 0xff9b) // 64:ff9b::/96, 64:ff9b:1::/48 NAT64
        || (segments[0] == 0x0100 && segments[1..4] == [0, 0, 0]) // 100::/64 discard
        || segments[..6] == [0, 0, 0, 0, 0, 0]; // ::/96 v4-compatible (deprecated)
    !refused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(text: &str) -> bool {
        is_public(text.parse().expect(text))
    }

    #[test]
    fn global_unicast_is_public() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001:82b::200e",
            "::ffff:8.8.8.8",
        ] {
            assert!(public(ip), "{ip} should be public");
        }
    }

    #[test]
    fn internal_and_special_addresses_are_refused() {
        for ip in [
            // IPv4
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "192.168.255.255",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "198.19.255.255",
            "192.88.99.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            // IPv6
            "::",
            "::1",
            "fc00::1",
            "fd12:3456:789a::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff05::1:3",
            "2001:db8::1",
            "3fff::1",
            "2001::1",
            "2001:10::1",
            "2002:c0a8:0101::1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "100::1",
            "::127.0.0.1",
            // IPv4-mapped IPv6: judged as the IPv4 address.
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:192.168.1.1",
            "::ffff:0.0.0.0",
        ] {
            assert!(!public(ip), "{ip} should be refused");
        }
    }
}
