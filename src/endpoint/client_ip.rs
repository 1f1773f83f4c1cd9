//! The client's address: the socket peer, or what trusted proxies say it was.
//!
//! `X-Forwarded-For` and `Forwarded` are written by whoever sends the request, so they
//! are believed only when the peer is a proxy the host declared trusted, and only the
//! header those proxies write ([`ForwardedHeader`]): a proxy that appends to one of them
//! passes the other through as the client sent it. The declared header's entries are
//! read right to left (nearest hop first), and the first address that is not a trusted
//! proxy is the client. An entry that is not an address (`unknown`, an obfuscated
//! name, garbage) ends the walk with no address, rather than a guess.

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

/// Which forwarding header the trusted proxies write the client's address into.
///
/// A proxy appends the address it received a request from to one header and passes
/// everything else through as the client sent it, so reading the other header would let
/// a client choose the recorded address. Declare the header your proxy writes with
/// [`crate::Endpoint::with_forwarded_header`]; the default is safe for both conventions.
///
/// ```
/// use hashbeacon::ForwardedHeader;
/// let header: ForwardedHeader = "x-forwarded-for".parse()?;
/// assert_eq!(header, ForwardedHeader::XForwardedFor);
/// assert_eq!(ForwardedHeader::default().as_str(), "both-must-agree");
/// # Ok::<(), hashbeacon::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// `X-Forwarded-For`, as nginx (`$proxy_add_x_forwarded_for`), HAProxy
    /// (`option forwardfor`) and most cloud load balancers write it. `Forwarded` is
    /// ignored.
    XForwardedFor,
    /// `Forwarded` (RFC 7239). `X-Forwarded-For` is ignored.
    Forwarded,
    /// Not declared (the default): both headers are read, and an address is recorded
    /// only when every one present names the same client. Whichever header the proxy
    /// writes, a client can then at most make the address go unrecorded, never choose
    /// it; declare the header to keep the address of clients that send the other one.
    #[default]
    BothMustAgree,
}

impl ForwardedHeader {
    /// The setting's name: `x-forwarded-for`, `forwarded` or `both-must-agree`.
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
            ForwardedHeader::BothMustAgree => "both-must-agree",
        }
    }
}

impl FromStr for ForwardedHeader {
    type Err = ConfigError;
    /// Parses a setting's name (see [`ForwardedHeader::as_str`]), in any case.
    fn from_str(text: &str) -> Result<Self, ConfigError> {
        [
            ForwardedHeader::XForwardedFor,
            ForwardedHeader::Forwarded,
            ForwardedHeader::BothMustAgree,
        ]
        .into_iter()
        .find(|header| header.as_str().eq_ignore_ascii_case(text.trim()))
        .ok_or(ConfigError::ForwardedHeader)
    }
}

impl std::fmt::Display for ForwardedHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The client's address for a request, given the trusted proxy networks and the header
/// they write.
pub(crate) fn client_ip(request: &Request<'_>, trusted: &[IpNet], header: ForwardedHeader) -> Option<IpAddr> {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = request.peer.to_canonical();
    if !is_trusted(peer) {
        return Some(peer);
    }
    let forwarded = || {
        request
            .forwarded
            .as_deref()
            .map(|chain| walk(chain, peer, is_trusted, forwarded_for))
    };
    let x_forwarded_for = || {
        request
            .x_forwarded_for
            .as_deref()
            .map(|chain| walk(chain, peer, is_trusted, parse_node))
    };
    let client = match header {
        ForwardedHeader::XForwardedFor => x_forwarded_for(),
        ForwardedHeader::Forwarded => forwarded(),
        ForwardedHeader::BothMustAgree => match (forwarded(), x_forwarded_for()) {
            (Some(one), Some(other)) => Some(if one == other { one } else { None }),
            (one, other) => one.or(other),
        },
    };
    // Without the header, the trusted peer is as near the client as we know.
    client.unwrap_or(Some(peer))
}

/// Walks a forwarding chain from the right (the hop nearest the peer) past trusted
/// proxies: the first untrusted address is the client. When every hop is trusted, the
/// farthest one is as near the client as we know.
fn walk(
    chain: &str,
    peer: IpAddr,
    is_trusted: impl Fn(IpAddr) -> bool,
    parse_hop: fn(&str) -> Option<IpAddr>,
) -> Option<IpAddr> {
    let mut nearest = peer;
    for entry in chain.rsplit(',') {
        let hop = parse_hop(entry)?;
        if !is_trusted(hop) {
            return Some(hop);
        }
        nearest = hop;
    }
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

    use ForwardedHeader::{BothMustAgree, Forwarded, XForwardedFor};

    const ALL: [ForwardedHeader; 3] = [XForwardedFor, Forwarded, BothMustAgree];

    fn from(peer: &str) -> Request<'static> {
        Request::new("GET", "/", ip(peer))
    }

    #[test]
    fn headers_are_ignored_from_untrusted_peers() {
        let request = from("203.0.113.9")
            .with_x_forwarded_for("198.51.100.1")
            .with_forwarded("for=198.51.100.2");
        for header in ALL {
            assert_eq!(client_ip(&request, &[], header), Some(ip("203.0.113.9")));
            assert_eq!(
                client_ip(&request, &nets(&["10.0.0.0/8"]), header),
                Some(ip("203.0.113.9"))
            );
        }
    }

    #[test]
    fn a_client_sent_forwarded_cannot_override_the_proxys_x_forwarded_for() {
        // The review's case: nginx appends to X-Forwarded-For only; the client adds
        // its own `Forwarded`.
        let trusted = nets(&["10.0.0.0/8"]);
        let request = from("10.0.0.1")
            .with_x_forwarded_for("198.51.100.7")
            .with_forwarded("for=6.6.6.6");
        assert_eq!(
            client_ip(&request, &trusted, XForwardedFor),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(client_ip(&request, &trusted, BothMustAgree), None);
        // And the other way round: a proxy writing `Forwarded` only.
        let request = from("10.0.0.1")
            .with_forwarded("for=198.51.100.7")
            .with_x_forwarded_for("6.6.6.6");
        assert_eq!(client_ip(&request, &trusted, Forwarded), Some(ip("198.51.100.7")));
        assert_eq!(client_ip(&request, &trusted, BothMustAgree), None);
    }

    #[test]
    fn x_forwarded_for_is_walked_right_to_left_through_trusted_hops() {
        let trusted = nets(&["10.0.0.0/8"]);
        for header in [XForwardedFor, BothMustAgree] {
            // The leftmost entry is whatever the client claimed: never believed when an
            // untrusted hop stands to its right, even when it names a trusted proxy.
            let request = from("10.0.0.1").with_x_forwarded_for("6.6.6.6, 10.0.0.9, 198.51.100.7, 10.0.0.2");
            assert_eq!(client_ip(&request, &trusted, header), Some(ip("198.51.100.7")));
            assert_eq!(
                client_ip(&from("10.0.0.1"), &trusted, header),
                Some(ip("10.0.0.1"))
            );
            let all_trusted = from("10.0.0.1").with_x_forwarded_for("10.9.9.9,10.0.0.2");
            assert_eq!(client_ip(&all_trusted, &trusted, header), Some(ip("10.9.9.9")));
            let garbage = from("10.0.0.1").with_x_forwarded_for("198.51.100.7, unknown");
            assert_eq!(client_ip(&garbage, &trusted, header), None);
            let with_port = from("10.0.0.1").with_x_forwarded_for("198.51.100.7:5555");
            assert_eq!(client_ip(&with_port, &trusted, header), Some(ip("198.51.100.7")));
            // Two header lines (the client's, then the proxy's), joined as received.
            let duplicated = from("10.0.0.1").with_x_forwarded_for("6.6.6.6, 198.51.100.7");
            assert_eq!(client_ip(&duplicated, &trusted, header), Some(ip("198.51.100.7")));
        }
        // Declared `Forwarded`: X-Forwarded-For is the client's, never read.
        let request = from("10.0.0.1").with_x_forwarded_for("198.51.100.7");
        assert_eq!(client_ip(&request, &trusted, Forwarded), Some(ip("10.0.0.1")));
    }

    #[test]
    fn forwarded_is_parsed_per_rfc_7239() {
        let trusted = nets(&["10.0.0.0/8", "2001:db8::/32"]);
        for header in [Forwarded, BothMustAgree] {
            let request = from("2001:db8::1").with_forwarded(
                r#"for=6.6.6.6, For="[2001:db8:cafe::17]:4711";proto=https, for=192.0.2.60;by=10.0.0.1"#,
            );
            assert_eq!(client_ip(&request, &trusted, header), Some(ip("192.0.2.60")));
            let v6 = from("10.0.0.1").with_forwarded(r#"for="[2001:db9::17]:4711""#);
            assert_eq!(client_ip(&v6, &trusted, header), Some(ip("2001:db9::17")));
            let obfuscated = from("10.0.0.1").with_forwarded("for=_hidden");
            assert_eq!(client_ip(&obfuscated, &trusted, header), None);
            let no_for = from("10.0.0.1").with_forwarded("proto=https");
            assert_eq!(client_ip(&no_for, &trusted, header), None);
            let spoofed_hop = from("10.0.0.1").with_forwarded("for=10.0.0.7, for=203.0.113.4, for=10.0.0.3");
            assert_eq!(client_ip(&spoofed_hop, &trusted, header), Some(ip("203.0.113.4")));
        }
        // Declared `X-Forwarded-For`: `Forwarded` is the client's, never read.
        let request = from("10.0.0.1").with_forwarded("for=198.51.100.7");
        assert_eq!(client_ip(&request, &trusted, XForwardedFor), Some(ip("10.0.0.1")));
    }

    #[test]
    fn both_headers_count_only_when_they_agree() {
        let trusted = nets(&["10.0.0.0/8"]);
        // A proxy that writes both writes the same chain.
        let same = from("10.0.0.1")
            .with_forwarded("for=6.6.6.6, for=198.51.100.7")
            .with_x_forwarded_for("7.7.7.7, 198.51.100.7");
        for header in ALL {
            assert_eq!(client_ip(&same, &trusted, header), Some(ip("198.51.100.7")));
        }
        let differ = from("10.0.0.1")
            .with_forwarded("for=198.51.100.8")
            .with_x_forwarded_for("198.51.100.7");
        assert_eq!(client_ip(&differ, &trusted, BothMustAgree), None);
        assert_eq!(
            client_ip(&differ, &trusted, XForwardedFor),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(client_ip(&differ, &trusted, Forwarded), Some(ip("198.51.100.8")));
        // An unreadable header next to a readable one is no agreement either.
        let garbled = from("10.0.0.1")
            .with_forwarded("for=_hidden")
            .with_x_forwarded_for("198.51.100.7");
        assert_eq!(client_ip(&garbled, &trusted, BothMustAgree), None);
    }

    #[test]
    fn settings_parse_by_name() {
        for header in ALL {
            assert_eq!(header.as_str().parse::<ForwardedHeader>(), Ok(header));
            assert_eq!(
                header.to_string().to_uppercase().parse::<ForwardedHeader>(),
                Ok(header)
            );
        }
        assert_eq!(ForwardedHeader::default(), BothMustAgree);
        for bad in ["", "xff", "x-forwarded", "both"] {
            assert_eq!(
                bad.parse::<ForwardedHeader>(),
                Err(ConfigError::ForwardedHeader),
                "{bad}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_untrusted_peers_are_themselves(
            peer: std::net::Ipv4Addr, xff in ".{0,200}", fwd in ".{0,200}", trust: bool, which in 0..3usize,
        ) {
            let request = Request::new("GET", "/", IpAddr::V4(peer))
                .with_x_forwarded_for(xff.as_str())
                .with_forwarded(fwd.as_str());
            let trusted = if trust { nets(&["0.0.0.0/0"]) } else { Vec::new() };
            let header = ALL[which];
            let client = client_ip(&request, &trusted, header);
            if !trust {
                proptest::prop_assert_eq!(client, Some(IpAddr::V4(peer)));
            }
        }

        /// Whatever a client writes into the header the proxy does not write, and
        /// whatever it puts left of the proxy's entry, the proxy's entry is recorded
        /// (or, undeclared, nothing is).
        #[test]
        fn the_client_never_chooses_the_address(
            real: std::net::Ipv4Addr, spoof: std::net::Ipv4Addr,
            client_xff in "[0-9., a-z]{0,40}", client_fwd in "[0-9.,; a-z=]{0,40}", proxy_writes_xff: bool,
        ) {
            let trusted = nets(&["10.0.0.0/8"]);
            proptest::prop_assume!(!trusted[0].contains(IpAddr::V4(real)));
            let spoofed = format!("for={spoof}, {client_fwd}");
            let (xff, fwd, declared) = if proxy_writes_xff {
                (format!("{client_xff}, {real}"), spoofed, XForwardedFor)
            } else {
                (format!("{spoof}, {client_xff}"), format!("{client_fwd}, for={real}"), Forwarded)
            };
            let request = from("10.0.0.1").with_x_forwarded_for(xff).with_forwarded(fwd);
            proptest::prop_assert_eq!(client_ip(&request, &trusted, declared), Some(IpAddr::V4(real)));
            let undeclared = client_ip(&request, &trusted, BothMustAgree);
            proptest::prop_assert!(undeclared.is_none() || undeclared == Some(IpAddr::V4(real)));
        }
    }
}
