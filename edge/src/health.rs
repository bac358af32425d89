//! The health report's logic: what a config result and an origin probe mean, and how long a probe
//! result is reused.
//!
//! The probe result is cached per isolate for `health.cache_for`, so a flood of health checks
//! cannot become a flood on the origin. Time is passed in (milliseconds since the epoch), never
//! read here.
//!
//! ```
//! use std::time::Duration;
//! use wyn_edge::health::{origin_check, ProbeOutcome};
//! use wyn_edge_shared::health::Status;
//! let check = origin_check(&ProbeOutcome::Answered { status: 200, elapsed: Duration::from_millis(12) });
//! assert_eq!(check.status, Status::Healthy);
//! ```

use std::time::Duration;

use wyn_edge_shared::config::units::format_duration;
use wyn_edge_shared::config::{ConfigError, ConfigErrors};
use wyn_edge_shared::health::Check;

/// What the probe of the origin's health path found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The origin answered with this status after `elapsed`.
    Answered {
        /// HTTP status of the probe.
        status: u16,
        /// Time to the response head.
        elapsed: Duration,
    },
    /// No answer within the probe timeout.
    TimedOut(Duration),
    /// The connection failed.
    Unreachable,
    /// There is no valid origin URL to probe.
    NotConfigured(ConfigError),
}

/// The `origin` check for a probe outcome.
pub fn origin_check(outcome: &ProbeOutcome) -> Check {
    // Whole ms as a u64: `Duration::as_millis` is a u128, whose `Display` (1.4 KB of wasm) the
    // edge would link for this line alone.
    let ms = |elapsed: &Duration| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    match outcome {
        ProbeOutcome::Answered { status, elapsed } if (200..300).contains(status) => {
            Check::pass(format!("{status} in {} ms", ms(elapsed)))
        }
        ProbeOutcome::Answered { status, elapsed } => Check::warn(format!(
            "health path answered {status} in {} ms",
            ms(elapsed)
        )),
        ProbeOutcome::TimedOut(limit) => {
            Check::fail(format!("no answer within {}", format_duration(*limit)))
        }
        ProbeOutcome::Unreachable => Check::fail("connection to the origin failed"),
        ProbeOutcome::NotConfigured(e) => Check::fail(e.to_string()),
    }
}

/// The `config` check: valid, or the validation errors (the edge then serves as a plain proxy).
pub fn config_check(result: Result<(), &ConfigErrors>) -> Check {
    match result {
        Ok(()) => Check::pass("valid"),
        Err(errors) => Check::warn(format!("invalid, serving with defaults: {errors}")),
    }
}

/// A value reused until it is older than a time-to-live.
#[derive(Debug, Clone)]
pub struct Reuse<T> {
    slot: Option<(T, f64)>,
}

impl<T> Default for Reuse<T> {
    fn default() -> Self {
        Self { slot: None }
    }
}

impl<T: Clone> Reuse<T> {
    /// An empty slot.
    pub const fn new() -> Self {
        Self { slot: None }
    }

    /// The stored value if it was stored less than `ttl` before `now_ms`.
    pub fn get(&self, now_ms: f64, ttl: Duration) -> Option<T> {
        let (value, at) = self.slot.as_ref()?;
        let age = now_ms - at;
        (age >= 0.0 && age < ttl.as_secs_f64() * 1000.0).then(|| value.clone())
    }

    /// Stores `value` as of `now_ms`.
    pub fn put(&mut self, value: T, now_ms: f64) {
        self.slot = Some((value, now_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wyn_edge_shared::health::Status;

    #[test]
    fn probe_outcomes_map_to_statuses() {
        let ms = Duration::from_millis;
        let cases = [
            (
                ProbeOutcome::Answered {
                    status: 204,
                    elapsed: ms(3),
                },
                Status::Healthy,
                "204 in 3 ms",
            ),
            (
                ProbeOutcome::Answered {
                    status: 500,
                    elapsed: ms(7),
                },
                Status::Degraded,
                "health path answered 500 in 7 ms",
            ),
            (
                ProbeOutcome::Answered {
                    status: 301,
                    elapsed: ms(1),
                },
                Status::Degraded,
                "health path answered 301 in 1 ms",
            ),
            (
                ProbeOutcome::TimedOut(ms(2000)),
                Status::Unhealthy,
                "no answer within 2s",
            ),
            (
                ProbeOutcome::Unreachable,
                Status::Unhealthy,
                "connection to the origin failed",
            ),
        ];
        for (outcome, status, detail) in cases {
            let check = origin_check(&outcome);
            assert_eq!(
                (check.status, check.detail.as_str()),
                (status, detail),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn config_check_reports_the_errors() {
        let errors = ConfigErrors(vec![ConfigError {
            field: "EDGE.x".into(),
            message: "bad".into(),
        }]);
        let check = config_check(Err(&errors));
        assert_eq!(check.status, Status::Degraded);
        assert_eq!(check.detail, "invalid, serving with defaults: EDGE.x: bad");
        assert_eq!(config_check(Ok(())).status, Status::Healthy);
    }

    #[test]
    fn reuse_expires_after_its_ttl() {
        let ttl = Duration::from_secs(5);
        let mut r = Reuse::new();
        assert_eq!(r.get(0.0, ttl), None::<u8>);
        r.put(7u8, 1_000.0);
        assert_eq!(r.get(1_000.0, ttl), Some(7));
        assert_eq!(r.get(5_999.0, ttl), Some(7));
        assert_eq!(r.get(6_000.0, ttl), None);
        // A clock that went backwards does not keep a value alive.
        assert_eq!(r.get(999.0, ttl), None);
        assert_eq!(r.get(2_000.0, Duration::ZERO), None);
    }
}
