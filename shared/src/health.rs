//! The health report served at `GET /__edge/health` and read by `wynctl health`.
//!
//! ```
//! use wyn_edge_shared::health::{Check, HealthReport, Status};
//! let report = HealthReport::new("1.0.0", Check::pass("valid"), Check::pass("200 in 3 ms"));
//! assert_eq!(report.status, Status::Healthy);
//! assert_eq!(report.http_status(), 200);
//! ```

use serde::{Deserialize, Serialize};

/// Overall state of the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Config valid and origin answering.
    Healthy,
    /// Serving, but something is wrong (config rejected, origin slow or failing its health check).
    Degraded,
    /// Cannot serve: the origin is unreachable or not configured.
    Unhealthy,
}

impl Status {
    /// The exit code `wynctl health` uses: 0 healthy, 1 degraded, 2 unhealthy.
    pub const fn exit_code(self) -> i32 {
        match self {
            Self::Healthy => 0,
            Self::Degraded => 1,
            Self::Unhealthy => 2,
        }
    }
}

/// Outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The state this check alone implies.
    pub status: Status,
    /// What was found, for a person.
    pub detail: String,
}

impl Check {
    /// A passing check.
    pub fn pass(detail: impl Into<String>) -> Self {
        Self {
            status: Status::Healthy,
            detail: detail.into(),
        }
    }
    /// A check that leaves the edge serving but not well.
    pub fn warn(detail: impl Into<String>) -> Self {
        Self {
            status: Status::Degraded,
            detail: detail.into(),
        }
    }
    /// A check that means the edge cannot serve.
    pub fn fail(detail: impl Into<String>) -> Self {
        Self {
            status: Status::Unhealthy,
            detail: detail.into(),
        }
    }
}

/// The checks the edge runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checks {
    /// Whether the `EDGE` config validated.
    pub config: Check,
    /// Whether the origin's `/api/health` answered 2xx in time.
    pub origin: Check,
}

/// The whole health document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    /// The worst status among the checks.
    pub status: Status,
    /// The worker version serving this answer.
    pub version: String,
    /// Each check's outcome.
    pub checks: Checks,
}

impl HealthReport {
    /// A report whose overall status is the worst of its checks.
    pub fn new(version: impl Into<String>, config: Check, origin: Check) -> Self {
        let status = config.status.max(origin.status);
        Self {
            status,
            version: version.into(),
            checks: Checks { config, origin },
        }
    }

    /// 200 when healthy, 503 otherwise.
    pub const fn http_status(&self) -> u16 {
        match self.status {
            Status::Healthy => 200,
            Status::Degraded | Status::Unhealthy => 503,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overall_status_is_the_worst_check() {
        let r = HealthReport::new("v", Check::warn("bad field"), Check::pass("ok"));
        assert_eq!(r.status, Status::Degraded);
        assert_eq!(r.http_status(), 503);
        let r = HealthReport::new("v", Check::warn("bad field"), Check::fail("refused"));
        assert_eq!(r.status, Status::Unhealthy);
        assert_eq!(Status::Unhealthy.exit_code(), 2);
    }

    #[test]
    fn serialises_with_lowercase_status() {
        let r = HealthReport::new("1.2.3", Check::pass("valid"), Check::pass("ok"));
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(v["status"], "healthy");
        assert_eq!(v["checks"]["origin"]["status"], "healthy");
        let back: HealthReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }
}
