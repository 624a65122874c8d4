//! Who the client is behind reverse proxies: `X-Forwarded-For` and `Forwarded` are read
//! only when the peer is a trusted proxy.

use std::net::IpAddr;

use ipnet::IpNet;

/// Which forwarding header the trusted proxies write: the one header read for the
/// client's address ([`client_address`]). Whichever header the *client* sent is never
/// consulted instead: a proxy that appends to `X-Forwarded-For` passes a client's own
/// `Forwarded` header through untouched, so reading "the first header present" let a
/// client pick its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` (nginx's `$proxy_add_x_forwarded_for`, HAProxy, most load
    /// balancers). The default.
    #[default]
    XForwardedFor,
    /// `Forwarded`'s `for=` parameters (RFC 7239).
    Forwarded,
}

impl ForwardedHeader {
    /// The header's lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

/// The client's address: `peer` itself unless it is inside one of `trusted`; then the
/// right-most address of the `forwarded` header (`X-Forwarded-For`, or the `for=`
/// parameters of `Forwarded`, RFC 7239 — only that one) that is not itself a trusted
/// proxy. When every listed address is trusted, the left-most one; when the header is
/// absent or unreadable, the peer.
///
/// The right-most untrusted address is the first one no trusted proxy could have
/// written: anything to its left was sent by the client and may be forged.
/// `header(name)` returns a header's value (several fields of one name joined by `,`);
/// names are given in lower case.
pub fn client_address(
    trusted: &[IpNet],
    forwarded: ForwardedHeader,
    peer: Option<IpAddr>,
    header: &dyn Fn(&str) -> Option<String>,
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |a: &IpAddr| trusted.iter().any(|net| net.contains(a));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let value = header(forwarded.name());
    let chain: Vec<IpAddr> = match (forwarded, value) {
        (ForwardedHeader::XForwardedFor, Some(xff)) => {
            xff.split(',').filter_map(parse_node).collect()
        }
        (ForwardedHeader::Forwarded, Some(forwarded)) => forwarded
            .split([',', ';'])
            .filter_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| parse_node(value))?
            })
            .collect(),
        (_, None) => Vec::new(),
    };
    Some(
        chain
            .iter()
            .rev()
            .find(|a| !is_trusted(a))
            .or(chain.first())
            .copied()
            .unwrap_or(peer),
    )
}

/// One node of a forwarding header: `1.2.3.4`, `1.2.3.4:80`, `"[2001:db8::1]:443"`,
/// `2001:db8::1`. Obfuscated identifiers and `unknown` give `None`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(address) = node.parse::<IpAddr>() {
        return Some(address.to_canonical());
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (address, _) = rest.split_once(']')?;
        return address.parse::<IpAddr>().ok().map(|a| a.to_canonical());
    }
    let (address, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    address.parse::<IpAddr>().ok().map(|a| a.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address() {
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            client_address(&[], XFF, ip("198.51.100.1"), &h),
            ip("198.51.100.1")
        );
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_address(&trusted, XFF, ip("198.51.100.1"), &h),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn the_right_most_untrusted_forwarded_address_is_the_client() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        // The client forged the first entry; the proxies appended the real one.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.2")]);
        assert_eq!(
            client_address(&trusted, XFF, ip("10.0.0.1"), &h),
            ip("203.0.113.9")
        );
        let h = headers(&[(
            "forwarded",
            r#"for=1.2.3.4, for="[2001:db8::7]:443";proto=https"#,
        )]);
        assert_eq!(
            client_address(&trusted, ForwardedHeader::Forwarded, ip("127.0.0.1"), &h),
            ip("2001:db8::7")
        );
        let h = headers(&[("forwarded", "for=unknown;by=10.0.0.1, for=192.0.2.3:8080")]);
        assert_eq!(
            client_address(&trusted, ForwardedHeader::Forwarded, ip("10.0.0.1"), &h),
            ip("192.0.2.3")
        );
    }

    #[test]
    fn without_a_header_or_untrusted_entry_the_chain_decides() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_address(&trusted, XFF, ip("10.0.0.1"), &headers(&[])),
            ip("10.0.0.1")
        );
        let h = headers(&[("x-forwarded-for", "10.0.0.5, 10.0.0.6")]);
        assert_eq!(
            client_address(&trusted, XFF, ip("10.0.0.1"), &h),
            ip("10.0.0.5")
        );
        let h = headers(&[("x-forwarded-for", "garbage")]);
        assert_eq!(
            client_address(&trusted, XFF, ip("10.0.0.1"), &h),
            ip("10.0.0.1")
        );
        assert_eq!(client_address(&trusted, XFF, None, &h), None);
        // An IPv4-mapped peer matches an IPv4 network.
        assert_eq!(
            client_address(
                &trusted,
                XFF,
                ip("::ffff:10.0.0.1"),
                &headers(&[("x-forwarded-for", "192.0.2.1")])
            ),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let trusted = nets(&["10.0.0.0/8"]);
        // The proxy appends to X-Forwarded-For; the client added its own Forwarded.
        let h = headers(&[
            ("forwarded", "for=1.2.3.4"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(
            client_address(&trusted, XFF, ip("10.0.0.1"), &h),
            ip("203.0.113.9")
        );
        // A proxy that writes Forwarded: a client-sent X-Forwarded-For is ignored.
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("forwarded", "for=203.0.113.9"),
        ]);
        assert_eq!(
            client_address(&trusted, ForwardedHeader::Forwarded, ip("10.0.0.1"), &h),
            ip("203.0.113.9")
        );
        // Only Forwarded sent, X-Forwarded-For configured: the peer.
        let h = headers(&[("forwarded", "for=1.2.3.4")]);
        assert_eq!(
            client_address(&trusted, XFF, ip("10.0.0.1"), &h),
            ip("10.0.0.1")
        );
    }
}
