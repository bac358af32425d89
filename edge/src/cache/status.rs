//! `Cache-Status` (RFC 9211): what the edge's cache did with each response, serialised as a
//! structured field by `sfv` (parameters without spaces: `wyn-edge;hit;ttl=42`).
//!
//! ```
//! use wyn_edge::cache::status::{CacheStatus, Forward};
//! assert_eq!(CacheStatus::hit(42).header(), "wyn-edge;hit;ttl=42");
//! assert_eq!(CacheStatus::forward(Forward::UriMiss).stored().header(), "wyn-edge;fwd=uri-miss;stored");
//! ```

use sfv::{Integer, KeyRef, ListSerializer, TokenRef};

/// Why the request went to the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// The cache was configured (or the request was) not to use it.
    Bypass,
    /// Nothing stored under the key.
    UriMiss,
    /// Something stored, but another variant.
    VaryMiss,
    /// Something stored, but stale.
    Stale,
    /// The request asked for a fresh answer.
    Request,
}

impl Forward {
    const fn token(self) -> &'static str {
        match self {
            Self::Bypass => "bypass",
            Self::UriMiss => "uri-miss",
            Self::VaryMiss => "vary-miss",
            Self::Stale => "stale",
            Self::Request => "request",
        }
    }
}

/// One response's `Cache-Status` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CacheStatus {
    hit: bool,
    fwd: Option<Forward>,
    fwd_status: Option<u16>,
    ttl: Option<i64>,
    stored: bool,
    collapsed: bool,
    detail: Option<&'static str>,
}

impl CacheStatus {
    /// Served from the cache with `ttl` seconds of freshness left (negative: stale).
    pub fn hit(ttl: i64) -> Self {
        Self {
            hit: true,
            ttl: Some(ttl),
            ..Self::default()
        }
    }

    /// Forwarded to the origin.
    pub fn forward(why: Forward) -> Self {
        Self {
            fwd: Some(why),
            ..Self::default()
        }
    }

    /// The origin's status, when forwarded.
    #[must_use]
    pub fn fwd_status(mut self, status: u16) -> Self {
        self.fwd_status = Some(status);
        self
    }

    /// Freshness left, in seconds.
    #[must_use]
    pub fn ttl(mut self, ttl: i64) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The response was stored.
    #[must_use]
    pub fn stored(mut self) -> Self {
        self.stored = true;
        self
    }

    /// The request waited for another's fetch (request coalescing).
    #[must_use]
    pub fn collapsed(mut self) -> Self {
        self.collapsed = true;
        self
    }

    /// Extra detail, a token.
    #[must_use]
    pub fn detail(mut self, detail: &'static str) -> Self {
        self.detail = Some(detail);
        self
    }

    /// The header value.
    pub fn header(&self) -> String {
        let mut list = ListSerializer::new();
        let Ok(name) = TokenRef::from_str("wyn-edge") else {
            return String::new();
        };
        let mut item = list.bare_item(name);
        let key = |k: &'static str| KeyRef::from_str(k).ok();
        if self.hit
            && let Some(k) = key("hit")
        {
            item = item.parameter(k, true);
        }
        if let (Some(fwd), Some(k)) = (self.fwd, key("fwd"))
            && let Ok(t) = TokenRef::from_str(fwd.token())
        {
            item = item.parameter(k, t);
        }
        if let (Some(s), Some(k)) = (self.fwd_status, key("fwd-status")) {
            item = item.parameter(k, Integer::constant(i64::from(s)));
        }
        if let (Some(ttl), Some(k)) = (self.ttl, key("ttl"))
            && let Ok(ttl) = Integer::try_from(ttl)
        {
            item = item.parameter(k, ttl);
        }
        if self.stored
            && let Some(k) = key("stored")
        {
            item = item.parameter(k, true);
        }
        if self.collapsed
            && let Some(k) = key("collapsed")
        {
            item = item.parameter(k, true);
        }
        if let (Some(d), Some(k)) = (self.detail, key("detail"))
            && let Ok(t) = TokenRef::from_str(d)
        {
            let _ = item.parameter(k, t);
        }
        list.finish().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(
            CacheStatus::hit(-5)
                .detail("stale-while-revalidate")
                .header(),
            "wyn-edge;hit;ttl=-5;detail=stale-while-revalidate"
        );
        assert_eq!(
            CacheStatus::forward(Forward::Bypass).header(),
            "wyn-edge;fwd=bypass"
        );
        assert_eq!(
            CacheStatus::forward(Forward::Stale)
                .fwd_status(304)
                .ttl(60)
                .stored()
                .header(),
            "wyn-edge;fwd=stale;fwd-status=304;ttl=60;stored"
        );
        assert_eq!(
            CacheStatus::forward(Forward::Stale)
                .fwd_status(502)
                .ttl(-30)
                .detail("stale-if-error")
                .header(),
            "wyn-edge;fwd=stale;fwd-status=502;ttl=-30;detail=stale-if-error"
        );
        assert_eq!(
            CacheStatus::forward(Forward::UriMiss).collapsed().header(),
            "wyn-edge;fwd=uri-miss;collapsed"
        );
        assert_eq!(
            CacheStatus::forward(Forward::UriMiss)
                .detail("private")
                .header(),
            "wyn-edge;fwd=uri-miss;detail=private"
        );
    }
}
