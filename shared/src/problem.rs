//! Problem documents (RFC 9457, `application/problem+json`) for the errors the edge makes itself.
//!
//! Every problem has a stable `type` URI that clients and tests can match on, a short title, the
//! HTTP status, a human detail with nothing internal in it, and the request id.
//!
//! ```
//! use wyn_edge_shared::problem::{Problem, ProblemType};
//! let p = Problem::new(ProblemType::OriginUnreachable, "req-1");
//! assert_eq!(p.status, 502);
//! assert!(p.type_uri.ends_with("/origin-unreachable"));
//! ```

use serde::{Deserialize, Serialize};

/// The media type of a problem document.
pub const CONTENT_TYPE: &str = "application/problem+json";

const TYPE_BASE: &str = "https://wyn.app/problems/";

/// The kinds of problem the edge reports. Each maps to one stable `type` URI and one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    /// The origin could not be reached (connection refused, DNS failure, reset).
    OriginUnreachable,
    /// The origin did not answer with a response head within the configured timeout.
    OriginTimeout,
    /// The edge has no usable origin URL configured.
    OriginNotConfigured,
    /// The request body is larger than the configured limit.
    PayloadTooLarge,
    /// The request is malformed in a way the edge refuses to forward.
    BadRequest,
    /// An admin route was called without a valid admin token.
    Unauthorized,
    /// An admin route that does not exist.
    NotFound,
    /// A method an admin route does not allow.
    MethodNotAllowed,
    /// A CORS preflight the policy does not allow.
    CorsRefused,
    /// A rate-limit rule refused the request.
    QuotaExceeded,
    /// A global rate limit could not be decided and its rule says to refuse.
    RateLimiterUnavailable,
    /// A failure inside the edge itself.
    Internal,
}

impl ProblemType {
    /// The last segment of the `type` URI, stable across releases.
    pub const fn slug(self) -> &'static str {
        match self {
            Self::OriginUnreachable => "origin-unreachable",
            Self::OriginTimeout => "origin-timeout",
            Self::OriginNotConfigured => "origin-not-configured",
            Self::PayloadTooLarge => "payload-too-large",
            Self::BadRequest => "bad-request",
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::CorsRefused => "cors-refused",
            Self::QuotaExceeded => "quota-exceeded",
            Self::RateLimiterUnavailable => "rate-limiter-unavailable",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status code this problem is served with.
    pub const fn status(self) -> u16 {
        match self {
            Self::OriginUnreachable | Self::OriginNotConfigured => 502,
            Self::OriginTimeout => 504,
            Self::PayloadTooLarge => 413,
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::CorsRefused => 403,
            Self::QuotaExceeded => 429,
            Self::RateLimiterUnavailable => 503,
            Self::Internal => 500,
        }
    }

    /// A short, fixed, human summary.
    pub const fn title(self) -> &'static str {
        match self {
            Self::OriginUnreachable => "The origin could not be reached",
            Self::OriginTimeout => "The origin did not answer in time",
            Self::OriginNotConfigured => "The edge has no origin configured",
            Self::PayloadTooLarge => "The request body is too large",
            Self::BadRequest => "The request is malformed",
            Self::Unauthorized => "A valid admin token is required",
            Self::NotFound => "No such edge route",
            Self::MethodNotAllowed => "Method not allowed on this edge route",
            Self::CorsRefused => "Cross-origin request not allowed",
            Self::QuotaExceeded => "Too many requests",
            Self::RateLimiterUnavailable => "The rate limiter is unavailable",
            Self::Internal => "The edge failed to handle the request",
        }
    }

    /// The full `type` URI.
    pub fn uri(self) -> String {
        format!("{TYPE_BASE}{}", self.slug())
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What happened to this request, for a person; never internals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request id, as sent back in `X-Request-Id`.
    pub request_id: String,
    /// For rate-limit problems: the rule that decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// For rate-limit problems: whole seconds to wait before retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of the given kind for the given request.
    pub fn new(kind: ProblemType, request_id: &str) -> Self {
        Self {
            type_uri: kind.uri(),
            title: kind.title().to_owned(),
            status: kind.status(),
            detail: None,
            request_id: request_id.to_owned(),
            rule: None,
            retry_after: None,
        }
    }

    /// Adds a human detail.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        // A struct of strings and a number always serialises.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [ProblemType; 12] = [
        ProblemType::CorsRefused,
        ProblemType::QuotaExceeded,
        ProblemType::RateLimiterUnavailable,
        ProblemType::OriginUnreachable,
        ProblemType::OriginTimeout,
        ProblemType::OriginNotConfigured,
        ProblemType::PayloadTooLarge,
        ProblemType::BadRequest,
        ProblemType::Unauthorized,
        ProblemType::NotFound,
        ProblemType::MethodNotAllowed,
        ProblemType::Internal,
    ];

    #[test]
    fn type_uris_are_distinct_and_stable() {
        let uris: std::collections::BTreeSet<_> = ALL.iter().map(|k| k.uri()).collect();
        assert_eq!(uris.len(), ALL.len());
        assert_eq!(
            ProblemType::OriginTimeout.uri(),
            "https://wyn.app/problems/origin-timeout"
        );
    }

    #[test]
    fn statuses_match_the_kind() {
        assert_eq!(ProblemType::OriginUnreachable.status(), 502);
        assert_eq!(ProblemType::OriginTimeout.status(), 504);
        assert_eq!(ProblemType::Unauthorized.status(), 401);
        assert!(ALL.iter().all(|k| (400..600).contains(&k.status())));
    }

    #[test]
    fn body_round_trips_and_names_the_request() {
        let p = Problem::new(ProblemType::OriginTimeout, "abc-123").with_detail("after 30s");
        let json = p.to_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["type"], "https://wyn.app/problems/origin-timeout");
        assert_eq!(v["status"], 504);
        assert_eq!(v["request_id"], "abc-123");
        assert_eq!(v["detail"], "after 30s");
        let back: Problem = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn detail_is_omitted_when_absent() {
        let json = Problem::new(ProblemType::NotFound, "r").to_json();
        assert!(!json.contains("detail"));
    }
}
