//! Whether a URL's host is this machine's loopback interface: `localhost` (any case),
//! `127.0.0.0/8` or `::1`. Plain `http` is allowed there and nowhere else — for a native app's
//! redirect (RFC 8252 §7.3), an identity provider run on this machine (tests), and Outpost's
//! own public URL without a warning.

use url::Host;

/// Whether `host` (a parsed URL's, `None` when it has none) is a loopback host.
pub fn is_loopback_host(host: Option<Host<&str>>) -> bool {
    match host {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::*;

    #[test]
    fn only_this_machine_is_loopback() {
        let host_of = |url: &str| is_loopback_host(Url::parse(url).unwrap().host());
        for loopback in [
            "http://localhost:1/",
            "http://LOCALHOST/",
            "http://127.0.0.2/",
            "http://[::1]/",
        ] {
            assert!(host_of(loopback), "{loopback}");
        }
        for elsewhere in [
            "http://localhost.example/",
            "http://10.0.0.1/",
            "http://[::2]/",
            "data:x",
        ] {
            assert!(!host_of(elsewhere), "{elsewhere}");
        }
    }
}
