//! The one error type of the request pipeline.
//!
//! Like Pingora's, it says *who* caused the failure (the client, the origin or the edge) and whether
//! a retry could help, not just what happened. It becomes an RFC 9457 problem document with a
//! stable `type` and nothing internal in it.
//!
//! ```
//! use wyn_edge::error::{Culprit, EdgeError};
//! use std::time::Duration;
//! let e = EdgeError::origin_timeout(Duration::from_secs(30));
//! assert_eq!(e.culprit, Culprit::Origin);
//! assert_eq!(e.to_problem("r1").status, 504);
//! ```

use std::time::Duration;

use wyn_edge_shared::config::units::format_duration;
use wyn_edge_shared::problem::{Problem, ProblemType};

use crate::rate_limit::Limits;
use crate::rate_limit::headers::retry_after_secs;

/// Who is to blame for a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Culprit {
    /// The request was malformed, too large or unauthorised.
    Client,
    /// The origin refused, failed or was too slow.
    Origin,
    /// The edge itself (its configuration or a bug).
    Edge,
}

/// A failure that ends the request with a problem response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} ({:?})", .kind.title(), .culprit)]
pub struct EdgeError {
    /// The kind of problem, which fixes the status and `type`.
    pub kind: ProblemType,
    /// Who caused it.
    pub culprit: Culprit,
    /// Whether the same request may succeed if retried.
    pub retryable: bool,
    /// A detail for the client, safe to show.
    pub detail: Option<String>,
    /// For a refusal by a rate-limit rule: its figures, for the `RateLimit` headers.
    pub limits: Option<Limits>,
    /// Whole seconds the client should wait (`Retry-After`).
    pub retry_after_secs: Option<u64>,
}

impl EdgeError {
    fn new(kind: ProblemType, culprit: Culprit, retryable: bool, detail: Option<String>) -> Self {
        Self {
            kind,
            culprit,
            retryable,
            detail,
            limits: None,
            retry_after_secs: None,
        }
    }

    /// The origin could not be connected to.
    pub fn origin_unreachable() -> Self {
        Self::new(
            ProblemType::OriginUnreachable,
            Culprit::Origin,
            true,
            Some("The edge could not connect to the origin.".into()),
        )
    }

    /// The origin answered with something that is not a valid HTTP response.
    pub fn origin_invalid_response() -> Self {
        Self::new(
            ProblemType::OriginUnreachable,
            Culprit::Origin,
            true,
            Some("The origin's answer was not a valid HTTP response.".into()),
        )
    }

    /// The origin sent no response head within `timeout`.
    pub fn origin_timeout(timeout: Duration) -> Self {
        Self::new(
            ProblemType::OriginTimeout,
            Culprit::Origin,
            true,
            Some(format!(
                "The origin sent no response within {}.",
                format_duration(timeout)
            )),
        )
    }

    /// No valid `ORIGIN_URL` is configured.
    pub fn origin_not_configured() -> Self {
        Self::new(ProblemType::OriginNotConfigured, Culprit::Edge, false, None)
    }

    /// The declared body is larger than `limit` bytes.
    pub fn payload_too_large(limit: u64) -> Self {
        Self::new(
            ProblemType::PayloadTooLarge,
            Culprit::Client,
            false,
            Some(format!("The request body may be at most {limit} bytes.")),
        )
    }

    /// The request is malformed; `why` is shown to the client.
    pub fn bad_request(why: impl Into<String>) -> Self {
        Self::new(
            ProblemType::BadRequest,
            Culprit::Client,
            false,
            Some(why.into()),
        )
    }

    /// An admin route without a valid token.
    pub fn unauthorized() -> Self {
        Self::new(ProblemType::Unauthorized, Culprit::Client, false, None)
    }

    /// An admin route that does not exist.
    pub fn not_found() -> Self {
        Self::new(ProblemType::NotFound, Culprit::Client, false, None)
    }

    /// A method the admin route does not allow.
    pub fn method_not_allowed() -> Self {
        Self::new(ProblemType::MethodNotAllowed, Culprit::Client, false, None)
    }

    /// A rate-limit rule refused the request; the client may retry after `retry_after`.
    pub fn rate_limited(limits: Limits, retry_after: Duration) -> Self {
        let secs = retry_after_secs(retry_after);
        let detail = format!("Rate limit {:?} exceeded; retry in {secs} s.", limits.name);
        Self {
            limits: Some(limits),
            retry_after_secs: Some(secs),
            ..Self::new(
                ProblemType::QuotaExceeded,
                Culprit::Client,
                true,
                Some(detail),
            )
        }
    }

    /// A global rule that refuses when it cannot decide could not reach its Durable Object.
    pub fn rate_limiter_unavailable(rule: &str) -> Self {
        Self {
            retry_after_secs: Some(1),
            ..Self::new(
                ProblemType::RateLimiterUnavailable,
                Culprit::Edge,
                true,
                Some(format!(
                    "Rate limit {rule:?} could not be checked; retry shortly."
                )),
            )
        }
    }

    /// A preflight the CORS policy refuses. The browser learns nothing but the status.
    pub fn cors_refused(why: crate::cors::Refusal) -> Self {
        let detail = match why {
            crate::cors::Refusal::Origin => "The origin is not allowed here.",
            crate::cors::Refusal::Method => "The method is not allowed.",
            crate::cors::Refusal::Headers => "A requested header is not allowed.",
            crate::cors::Refusal::PrivateNetwork => "Private network access is not allowed.",
        };
        Self::new(
            ProblemType::CorsRefused,
            Culprit::Client,
            false,
            Some(detail.into()),
        )
    }

    /// A failure of the edge's own making; the detail stays in the edge's log.
    pub fn internal() -> Self {
        Self::new(ProblemType::Internal, Culprit::Edge, true, None)
    }

    /// The problem document for this error.
    pub fn to_problem(&self, request_id: &str) -> Problem {
        let mut problem = Problem::new(self.kind, request_id);
        problem.detail = self.detail.clone();
        problem.rule = self.limits.as_ref().map(|l| l.name.clone());
        problem.retry_after = self.retry_after_secs;
        problem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_failures_blame_the_origin_and_may_be_retried() {
        for e in [
            EdgeError::origin_unreachable(),
            EdgeError::origin_timeout(Duration::from_secs(5)),
        ] {
            assert_eq!(e.culprit, Culprit::Origin);
            assert!(e.retryable);
        }
        assert_eq!(EdgeError::origin_unreachable().to_problem("r").status, 502);
    }

    #[test]
    fn timeout_detail_names_the_limit_and_nothing_internal() {
        let p = EdgeError::origin_timeout(Duration::from_millis(1500)).to_problem("id-9");
        assert_eq!(
            p.detail.as_deref(),
            Some("The origin sent no response within 1s 500ms.")
        );
        assert_eq!(p.request_id, "id-9");
        assert_eq!(p.type_uri, "https://wyn.app/problems/origin-timeout");
    }

    #[test]
    fn a_rate_limit_problem_names_the_rule_and_the_wait() {
        let limits = Limits {
            name: "chat".into(),
            quota: 30,
            window_secs: 60,
            remaining: 0,
            reset_secs: 60,
        };
        let e = EdgeError::rate_limited(limits, Duration::from_millis(1_200));
        let p = e.to_problem("r");
        assert_eq!(
            (p.status, p.rule.as_deref(), p.retry_after),
            (429, Some("chat"), Some(2))
        );
        assert_eq!(
            p.detail.as_deref(),
            Some("Rate limit \"chat\" exceeded; retry in 2 s.")
        );
        assert_eq!(
            EdgeError::rate_limiter_unavailable("chat")
                .to_problem("r")
                .status,
            503
        );
    }

    #[test]
    fn client_errors_are_not_retryable() {
        for e in [
            EdgeError::payload_too_large(10),
            EdgeError::bad_request("x"),
            EdgeError::unauthorized(),
        ] {
            assert_eq!(e.culprit, Culprit::Client);
            assert!(!e.retryable);
        }
    }
}
