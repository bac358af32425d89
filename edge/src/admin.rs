//! The edge's own routes under `/__edge/`, and who may call them.
//!
//! `/__edge/health` is public (load balancers and uptime checks call it); every other admin route
//! needs `Authorization: Bearer <EDGE_ADMIN_TOKEN>`, compared in constant time. Without a valid
//! token, an unknown route answers 401 like a known one, so probing teaches nothing.
//!
//! ```
//! use wyn_edge::admin::{route, AdminRoute};
//! assert_eq!(route("/__edge/health"), Some(AdminRoute::Health));
//! assert_eq!(route("/api/venues"), None);
//! ```

use subtle::ConstantTimeEq;
use wyn_edge_shared::ADMIN_PREFIX;

/// A route of the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRoute {
    /// `GET /__edge/health`: public.
    Health,
    /// `GET /__edge/rate-limits`: each rule's counters in the answering isolate.
    RateLimits,
    /// `POST /__edge/purge`: purge cached URLs, a prefix, or everything.
    Purge,
    /// `GET /__edge/metrics?window=15m&group_by=route,version&route=chat`: figures as JSON.
    Metrics,
    /// `GET /__edge/metrics/prometheus`: the same as OpenMetrics text.
    MetricsPrometheus,
    /// `/__edge/test/panic`: the worker panics, to prove it recovers. Answers like
    /// [`AdminRoute::Unknown`] unless the `EDGE_TEST_HOOKS` binding says `panic`, which only test
    /// runs set.
    TestPanic,
    /// Any other path under `/__edge/`: needs the token, then answers 404.
    Unknown,
}

impl AdminRoute {
    /// Whether the route answers without a token.
    pub const fn is_public(self) -> bool {
        matches!(self, Self::Health)
    }
}

/// The admin route a path names, or `None` for a path that goes to the origin.
pub fn route(path: &str) -> Option<AdminRoute> {
    let rest = match path.strip_prefix(ADMIN_PREFIX) {
        Some(rest) => rest,
        None if path == ADMIN_PREFIX.trim_end_matches('/') => "",
        None => return None,
    };
    Some(match rest {
        "health" => AdminRoute::Health,
        "rate-limits" => AdminRoute::RateLimits,
        "purge" => AdminRoute::Purge,
        "metrics" => AdminRoute::Metrics,
        "metrics/prometheus" => AdminRoute::MetricsPrometheus,
        "test/panic" => AdminRoute::TestPanic,
        _ => AdminRoute::Unknown,
    })
}

/// Whether `authorization` carries the admin token. False when no token is configured.
pub fn is_admin_token(authorization: Option<&str>, token: Option<&str>) -> bool {
    let (Some(header), Some(token)) = (authorization, token) else {
        return false;
    };
    let Some((scheme, presented)) = header.trim().split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && !token.is_empty()
        && bool::from(presented.trim().as_bytes().ct_eq(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/__edge/health"), Some(AdminRoute::Health));
        assert_eq!(route("/__edge/metrics"), Some(AdminRoute::Metrics));
        assert_eq!(
            route("/__edge/metrics/prometheus"),
            Some(AdminRoute::MetricsPrometheus)
        );
        assert_eq!(route("/__edge/test/panic"), Some(AdminRoute::TestPanic));
        assert!(!AdminRoute::TestPanic.is_public());
        assert_eq!(route("/__edge/nope"), Some(AdminRoute::Unknown));
        assert_eq!(route("/__edge/"), Some(AdminRoute::Unknown));
        assert_eq!(route("/__edge"), Some(AdminRoute::Unknown));
        assert_eq!(route("/__edge/health/x"), Some(AdminRoute::Unknown));
        assert_eq!(route("/__edgex"), None);
        assert_eq!(route("/api/__edge/health"), None);
        assert!(AdminRoute::Health.is_public());
        assert!(!AdminRoute::Unknown.is_public());
    }

    #[test]
    fn token_check() {
        let token = Some("s3cret-token-0123456789");
        assert!(is_admin_token(
            Some("Bearer s3cret-token-0123456789"),
            token
        ));
        assert!(is_admin_token(
            Some("bearer  s3cret-token-0123456789 "),
            token
        ));
        assert!(!is_admin_token(
            Some("Bearer s3cret-token-012345678"),
            token
        ));
        assert!(!is_admin_token(
            Some("Bearer s3cret-token-01234567890"),
            token
        ));
        assert!(!is_admin_token(
            Some("Basic s3cret-token-0123456789"),
            token
        ));
        assert!(!is_admin_token(Some("s3cret-token-0123456789"), token));
        assert!(!is_admin_token(None, token));
        assert!(!is_admin_token(Some("Bearer "), Some("")));
        assert!(!is_admin_token(Some("Bearer x"), None));
    }
}
