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
}

impl EdgeError {
    fn new(kind: ProblemType, culprit: Culprit, retryable: bool, detail: Option<String>) -> Self {
        Self {
            kind,
            culprit,
            retryable,
            detail,
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

    /// A failure of the edge's own making; the detail stays in the edge's log.
    pub fn internal() -> Self {
        Self::new(ProblemType::Internal, Culprit::Edge, true, None)
    }

    /// The problem document for this error.
    pub fn to_problem(&self, request_id: &str) -> Problem {
        let problem = Problem::new(self.kind, request_id);
        match &self.detail {
            Some(d) => problem.with_detail(d.clone()),
            None => problem,
        }
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
