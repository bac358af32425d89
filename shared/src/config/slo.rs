//! Service levels: `[vars.EDGE.slo]`. The edge does not act on them; `wynctl stats` colours its
//! figures against them and `wynctl deploy` gates a new version on them.
//!
//! ```toml
//! [vars.EDGE.slo]
//! p95_target = "500ms"   # latency of 95 % of requests: within target below this...
//! p95_alert = "2s"       # ...and an alert above this
//! error_target = 0.01    # share of 5xx answers
//! error_alert = 0.05
//! [[vars.EDGE.slo.routes]]   # a route group (see metrics.route_groups) with its own latency
//! route = "chat"
//! p95_target = "5s"
//! p95_alert = "10s"
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::units::{self, format_duration};

/// The service levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloConfig {
    /// p95 latency within target up to this.
    #[serde(default = "p95_target", with = "units::duration")]
    pub p95_target: Duration,
    /// p95 latency past this is an alert.
    #[serde(default = "p95_alert", with = "units::duration")]
    pub p95_alert: Duration,
    /// Share of 5xx answers within target up to this (0 to 1).
    #[serde(default = "error_target")]
    pub error_target: f64,
    /// Share of 5xx answers past this is an alert (0 to 1).
    #[serde(default = "error_alert")]
    pub error_alert: f64,
    /// Route groups with their own latency levels.
    #[serde(default = "wyn_routes")]
    pub routes: Vec<RouteSlo>,
}

/// A route group's own latency levels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSlo {
    /// The route group's name in metrics.
    pub route: String,
    /// p95 within target up to this.
    #[serde(with = "units::duration")]
    pub p95_target: Duration,
    /// p95 past this is an alert.
    #[serde(with = "units::duration")]
    pub p95_alert: Duration,
}

fn p95_target() -> Duration {
    Duration::from_millis(500)
}
fn p95_alert() -> Duration {
    Duration::from_secs(2)
}
fn error_target() -> f64 {
    0.01
}
fn error_alert() -> f64 {
    0.05
}
fn wyn_routes() -> Vec<RouteSlo> {
    vec![RouteSlo {
        route: "chat".into(),
        p95_target: Duration::from_secs(5),
        p95_alert: Duration::from_secs(10),
    }]
}

impl Default for SloConfig {
    fn default() -> Self {
        Self {
            p95_target: p95_target(),
            p95_alert: p95_alert(),
            error_target: error_target(),
            error_alert: error_alert(),
            routes: wyn_routes(),
        }
    }
}

impl SloConfig {
    /// The p95 target and alert of a route group (the general ones unless it has its own).
    pub fn p95_for(&self, route: Option<&str>) -> (Duration, Duration) {
        route
            .and_then(|r| self.routes.iter().find(|s| s.route == r))
            .map_or((self.p95_target, self.p95_alert), |s| {
                (s.p95_target, s.p95_alert)
            })
    }

    /// Checks the levels; `at` is `EDGE.slo`.
    pub fn validate(&self, at: &str, errors: &mut Vec<ConfigError>) {
        let mut latency = |field: String, target: Duration, alert: Duration| {
            if target.is_zero() || alert < target {
                errors.push(ConfigError::new(
                    field,
                    format!(
                        "expected a p95_target above 0 and a p95_alert at least as long, found {:?} and {:?}",
                        format_duration(target),
                        format_duration(alert)
                    ),
                ));
            }
        };
        latency(format!("{at}.p95_alert"), self.p95_target, self.p95_alert);
        for (i, r) in self.routes.iter().enumerate() {
            latency(
                format!("{at}.routes[{i}].p95_alert"),
                r.p95_target,
                r.p95_alert,
            );
        }
        for (name, v) in [
            ("error_target", self.error_target),
            ("error_alert", self.error_alert),
        ] {
            if !(0.0..=1.0).contains(&v) {
                errors.push(ConfigError::new(
                    format!("{at}.{name}"),
                    format!("expected a share from 0 to 1 (0.01 is 1 %), found {v}"),
                ));
            }
        }
        if self.error_alert < self.error_target {
            errors.push(ConfigError::new(
                format!("{at}.error_alert"),
                format!(
                    "expected at least error_target ({}), found {}",
                    self.error_target, self.error_alert
                ),
            ));
        }
        for (i, r) in self.routes.iter().enumerate() {
            if self.routes[..i].iter().any(|o| o.route == r.route) {
                errors.push(ConfigError::new(
                    format!("{at}.routes[{i}].route"),
                    format!("route {:?} is listed twice", r.route),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_have_their_own_latency_levels() {
        let slo = SloConfig::default();
        assert_eq!(
            slo.p95_for(Some("chat")),
            (Duration::from_secs(5), Duration::from_secs(10))
        );
        assert_eq!(
            slo.p95_for(Some("api")),
            (Duration::from_millis(500), Duration::from_secs(2))
        );
        assert_eq!(slo.p95_for(None), slo.p95_for(Some("venues")));
    }

    #[test]
    fn every_inconsistency_is_named() {
        let slo = SloConfig {
            p95_target: Duration::from_secs(3),
            p95_alert: Duration::from_secs(1),
            error_target: 0.2,
            error_alert: 1.5,
            routes: vec![wyn_routes()[0].clone(), wyn_routes()[0].clone()],
        };
        let mut errors = Vec::new();
        slo.validate("EDGE.slo", &mut errors);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "EDGE.slo.p95_alert",
                "EDGE.slo.error_alert",
                "EDGE.slo.routes[1].route"
            ],
            "{errors:?}"
        );
        let mut errors = Vec::new();
        SloConfig::default().validate("EDGE.slo", &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
    }
}
