//! Whose budget a request spends: the client address as the platform reports it, normalised.
//!
//! Only `CF-Connecting-IP` counts: `X-Forwarded-For`, `X-Real-IP`, `True-Client-IP` and `Forwarded`
//! are the client's own claims and never change the key. IPv6 clients are keyed by their /64 (one
//! subscriber usually holds a whole /64, so spoofing within it buys nothing), IPv4-mapped IPv6 by
//! the IPv4 address. A request without a usable address shares one `unknown` budget rather than
//! escaping the limit.
//!
//! ```
//! use wyn_edge::rate_limit::client_key::ClientKey;
//! assert_eq!(ClientKey::from_ip(Some("2001:db8:1:2:aaaa::1")), ClientKey::from_ip(Some("2001:db8:1:2::9")));
//! assert_eq!(ClientKey::from_ip(Some("::ffff:192.0.2.1")), ClientKey::from_ip(Some("192.0.2.1")));
//! assert_eq!(ClientKey::from_ip(Some("nonsense")), ClientKey::Unknown);
//! ```

use std::fmt;
use std::net::IpAddr;

/// Longest header value kept as a key; longer values share the budget of their prefix.
pub const MAX_HEADER_KEY: usize = 256;

/// A budget's owner.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// An IPv4 client.
    V4(u32),
    /// An IPv6 client, by its /64.
    V6(u64),
    /// A header value (an API key).
    Header(Box<str>),
    /// Everyone together.
    Global,
    /// Clients without a usable address, together.
    Unknown,
}

impl ClientKey {
    /// The key of the connecting address.
    pub fn from_ip(connecting_ip: Option<&str>) -> Self {
        match connecting_ip.and_then(|ip| ip.trim().parse::<IpAddr>().ok()) {
            Some(IpAddr::V4(v4)) => Self::V4(v4.into()),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4.into()),
                None => Self::V6((u128::from(v6) >> 64) as u64),
            },
            None => Self::Unknown,
        }
    }

    /// The key of a header value; an empty value is no key.
    pub fn from_header(value: &str) -> Option<Self> {
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        let mut end = value.len().min(MAX_HEADER_KEY);
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        Some(Self::Header(value[..end].into()))
    }
}

/// A stable text form, used to name Durable Object shards and stored state.
impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V4(ip) => write!(f, "4:{}", std::net::Ipv4Addr::from(*ip)),
            Self::V6(net) => write!(
                f,
                "6:{}/64",
                std::net::Ipv6Addr::from(u128::from(*net) << 64)
            ),
            Self::Header(v) => write!(f, "h:{v}"),
            Self::Global => f.write_str("global"),
            Self::Unknown => f.write_str("unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4() {
        assert_eq!(
            ClientKey::from_ip(Some("203.0.113.7")),
            ClientKey::V4(0xCB00_7107)
        );
        assert_eq!(
            ClientKey::from_ip(Some(" 203.0.113.7 ")).to_string(),
            "4:203.0.113.7"
        );
        assert_ne!(
            ClientKey::from_ip(Some("203.0.113.7")),
            ClientKey::from_ip(Some("203.0.113.8"))
        );
    }

    #[test]
    fn ipv6_by_slash_64() {
        let a = ClientKey::from_ip(Some("2001:db8:aa:bb::1"));
        assert_eq!(
            a,
            ClientKey::from_ip(Some("2001:0DB8:00aa:00bb:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(a, ClientKey::from_ip(Some("2001:db8:aa:bc::1")));
        assert_eq!(a.to_string(), "6:2001:db8:aa:bb::/64");
    }

    #[test]
    fn mapped_ipv4_is_the_ipv4() {
        assert_eq!(
            ClientKey::from_ip(Some("::ffff:10.1.2.3")),
            ClientKey::from_ip(Some("10.1.2.3"))
        );
        assert_eq!(
            ClientKey::from_ip(Some("::ffff:a01:203")),
            ClientKey::from_ip(Some("10.1.2.3"))
        );
    }

    #[test]
    fn unusable_addresses_share_one_bucket() {
        for bad in [
            None,
            Some(""),
            Some("localhost"),
            Some("1.2.3.4, 5.6.7.8"),
            Some("1.2.3.4:80"),
            Some("[::1]"),
        ] {
            assert_eq!(ClientKey::from_ip(bad), ClientKey::Unknown, "{bad:?}");
        }
        assert_eq!(ClientKey::Unknown.to_string(), "unknown");
    }

    #[test]
    fn header_keys_are_bounded() {
        assert_eq!(ClientKey::from_header("  "), None);
        assert_eq!(
            ClientKey::from_header(" k1 "),
            Some(ClientKey::Header("k1".into()))
        );
        let long = "é".repeat(300);
        match ClientKey::from_header(&long) {
            Some(ClientKey::Header(v)) => {
                assert!(v.len() <= MAX_HEADER_KEY && v.len() >= MAX_HEADER_KEY - 1)
            }
            other => panic!("{other:?}"),
        }
    }
}
