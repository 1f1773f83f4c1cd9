//! The client's address: the socket peer, or what trusted proxies say it was.
//!
//! `X-Forwarded-For` and `Forwarded` are written by whoever sends the request, so they
//! are believed only when the peer is a proxy the host declared trusted, and then only
//! as far as the chain of trusted proxies reaches: the entries are read right to left
//! (nearest hop first) and the first address that is not a trusted proxy is the
//! client. An entry that is not an address (`unknown`, an obfuscated name, garbage)
//! ends the walk with no address, rather than a guess.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use crate::endpoint::Request;
use crate::error::ConfigError;

/// An IP network, e.g. `10.0.0.0/8`, `2001:db8::/32` or a single address.
///
/// ```
/// use hashbeacon::IpNet;
/// let net: IpNet = "10.0.0.0/8".parse()?;
/// assert!(net.contains("10.1.2.3".parse()?));
/// assert!(!net.contains("11.0.0.1".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix_len: u8,
}

impl IpNet {
    /// The network of `addr` with a prefix length (at most 32 for IPv4, 128 for IPv6).
    /// Host bits are cleared.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Self, ConfigError> {
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix_len > max {
            return Err(ConfigError::Network("prefix length longer than the address"));
        }
        Ok(Self {
            addr: mask(addr, prefix_len),
            prefix_len,
        })
    }

    /// Whether `ip` is in the network. IPv4-mapped IPv6 addresses count as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix_len) == self.addr
    }
}

fn mask(ip: IpAddr, prefix_len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let keep = u32::MAX.checked_shl(32 - u32::from(prefix_len)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & keep).into())
        }
        IpAddr::V6(v6) => {
            let keep = u128::MAX.checked_shl(128 - u32::from(prefix_len)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & keep).into())
        }
    }
}

impl From<IpAddr> for IpNet {
    fn from(addr: IpAddr) -> Self {
        let addr = addr.to_canonical();
        Self {
            addr,
            prefix_len: if addr.is_ipv4() { 32 } else { 128 },
        }
    }
}

impl FromStr for IpNet {
    type Err = ConfigError;
    fn from_str(text: &str) -> Result<Self, ConfigError> {
        let (addr, prefix_len) = match text.trim().split_once('/') {
            None => (text.trim(), None),
            Some((addr, len)) => (addr, Some(len)),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| ConfigError::Network("not an IP address"))?;
        match prefix_len {
            None => Ok(addr.into()),
            Some(len) if len.bytes().all(|b| b.is_ascii_digit()) && !len.is_empty() && len.len() <= 3 => {
                let len = len
                    .parse()
                    .map_err(|_| ConfigError::Network("prefix length is not a number"))?;
                Self::new(addr, len)
            }
            Some(_) => Err(ConfigError::Network("prefix length is not a number")),
        }
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// The client's address for a request, given the trusted proxy networks.
pub(crate) fn client_ip(request: &Request<'_>, trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = request.peer.to_canonical();
    if !is_trusted(peer) {
        return Some(peer);
    }
    // `Forwarded` is the standard; `X-Forwarded-For` the de-facto one. A proxy that
    // writes both writes the same chain, so the standard one wins.
    let (chain, forwarded) = match (&request.forwarded, &request.x_forwarded_for) {
        (Some(value), _) => (value.as_ref(), true),
        (None, Some(value)) => (value.as_ref(), false),
        (None, None) => return Some(peer),
    };
    let mut nearest = peer;
    for entry in chain.rsplit(',') {
        let hop = if forwarded {
            forwarded_for(entry)
        } else {
            parse_node(entry)
        }?;
        if !is_trusted(hop) {
            return Some(hop);
        }
        nearest = hop;
    }
    // Every hop was a trusted proxy: the farthest one is as near the client as we know.
    Some(nearest)
}

/// The `for=` address of one `Forwarded` element (`for=192.0.2.1;proto=https`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_node(value))?
    })
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:8080`, optionally in double quotes.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(socket.ip().to_canonical());
    }
    let bracketed = text.strip_prefix('[').and_then(|t| t.strip_suffix(']'))?;
    bracketed.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn networks_parse_and_match() {
        let net: IpNet = "192.168.7.9/16".parse().unwrap();
        assert_eq!(net.to_string(), "192.168.0.0/16");
        assert!(net.contains(ip("192.168.200.1")));
        assert!(
            net.contains(ip("::ffff:192.168.1.1")),
            "IPv4-mapped counts as IPv4"
        );
        assert!(!net.contains(ip("192.169.0.1")));
        let v6: IpNet = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.1")));
        let single: IpNet = "::1".parse().unwrap();
        assert!(single.contains(ip("::1")) && !single.contains(ip("::2")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "example.com",
            "10.0.0.0/8/8",
        ] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_are_ignored_from_untrusted_peers() {
        let request = Request::new("GET", "/", ip("203.0.113.9"))
            .with_x_forwarded_for("198.51.100.1")
            .with_forwarded("for=198.51.100.2");
        assert_eq!(client_ip(&request, &[]), Some(ip("203.0.113.9")));
        assert_eq!(
            client_ip(&request, &nets(&["10.0.0.0/8"])),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn x_forwarded_for_is_walked_right_to_left_through_trusted_hops() {
        let trusted = nets(&["10.0.0.0/8"]);
        let request = Request::new("GET", "/", ip("10.0.0.1"))
            // The leftmost entry is whatever the client claimed: never believed when an
            // untrusted hop stands to its right.
            .with_x_forwarded_for("6.6.6.6, 198.51.100.7, 10.0.0.2");
        assert_eq!(client_ip(&request, &trusted), Some(ip("198.51.100.7")));
        let no_header = Request::new("GET", "/", ip("10.0.0.1"));
        assert_eq!(client_ip(&no_header, &trusted), Some(ip("10.0.0.1")));
        let all_trusted = Request::new("GET", "/", ip("10.0.0.1")).with_x_forwarded_for("10.9.9.9,10.0.0.2");
        assert_eq!(client_ip(&all_trusted, &trusted), Some(ip("10.9.9.9")));
        let garbage = Request::new("GET", "/", ip("10.0.0.1")).with_x_forwarded_for("198.51.100.7, unknown");
        assert_eq!(client_ip(&garbage, &trusted), None);
        let with_port = Request::new("GET", "/", ip("10.0.0.1")).with_x_forwarded_for("198.51.100.7:5555");
        assert_eq!(client_ip(&with_port, &trusted), Some(ip("198.51.100.7")));
    }

    #[test]
    fn forwarded_is_preferred_and_parsed_per_rfc_7239() {
        let trusted = nets(&["10.0.0.0/8", "2001:db8::/32"]);
        let request = Request::new("GET", "/", ip("2001:db8::1"))
            .with_forwarded(
                r#"for=6.6.6.6, For="[2001:db8:cafe::17]:4711";proto=https, for=192.0.2.60;by=10.0.0.1"#,
            )
            .with_x_forwarded_for("7.7.7.7");
        assert_eq!(client_ip(&request, &trusted), Some(ip("192.0.2.60")));
        let v6 = Request::new("GET", "/", ip("10.0.0.1")).with_forwarded(r#"for="[2001:db9::17]:4711""#);
        assert_eq!(client_ip(&v6, &trusted), Some(ip("2001:db9::17")));
        let obfuscated = Request::new("GET", "/", ip("10.0.0.1")).with_forwarded("for=_hidden");
        assert_eq!(client_ip(&obfuscated, &trusted), None);
        let no_for = Request::new("GET", "/", ip("10.0.0.1")).with_forwarded("proto=https");
        assert_eq!(client_ip(&no_for, &trusted), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_untrusted_peers_are_themselves(
            peer: std::net::Ipv4Addr, xff in ".{0,200}", fwd in ".{0,200}", trust: bool,
        ) {
            let request = Request::new("GET", "/", IpAddr::V4(peer))
                .with_x_forwarded_for(xff.as_str())
                .with_forwarded(fwd.as_str());
            let trusted = if trust { nets(&["0.0.0.0/0"]) } else { Vec::new() };
            let client = client_ip(&request, &trusted);
            if !trust {
                proptest::prop_assert_eq!(client, Some(IpAddr::V4(peer)));
            }
        }
    }
}
