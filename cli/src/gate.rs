//! The deploy gates: whether a new version may take more traffic, judged from its figures and the
//! old version's, and what a deploy step does next. Pure: figures and elapsed time in, a decision
//! out.
//!
//! Too little traffic is *inconclusive*, never a pass: a version is promoted only on evidence.

use std::time::Duration;

use wyn_edge_shared::config::slo::SloConfig;
use wyn_edge_shared::metrics::MetricsAnswer;

/// One version's figures on one route group.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteFigures {
    /// The route group.
    pub route: String,
    /// Requests served.
    pub requests: u64,
    /// Of which 5xx.
    pub errors: u64,
    /// p95 latency to the response head, ms.
    pub p95_ms: Option<f64>,
}

/// The figures of each version in a metrics answer grouped by `version,route`.
pub fn figures_of(answer: &MetricsAnswer, version: &str) -> Vec<RouteFigures> {
    answer
        .groups
        .iter()
        .filter(|g| g.group.get("version").map(String::as_str) == Some(version))
        .map(|g| RouteFigures {
            route: g.group.get("route").cloned().unwrap_or_default(),
            requests: g.requests,
            // The answer carries shares; counts are what the gates add up.
            errors: (g.rate_5xx * g.requests as f64).round() as u64,
            p95_ms: g.p95,
        })
        .collect()
}

/// The thresholds.
#[derive(Debug, Clone)]
pub struct Gates {
    /// Fewer requests on the new version than this is inconclusive.
    pub min_requests: u64,
    /// A route's p95 is judged once it has this many requests.
    pub min_route_requests: u64,
    /// The service levels: the new version's 5xx share may not pass `error_alert`, nor a route's
    /// p95 its alert.
    pub slo: SloConfig,
    /// The new version's 5xx share may exceed the old one's by at most this.
    pub max_error_increase: f64,
    /// A route's p95 may grow to at most this many times the old version's...
    pub max_p95_ratio: f64,
}

impl Gates {
    /// The usual gates over the given service levels.
    pub fn new(slo: SloConfig, min_requests: u64) -> Self {
        Self {
            min_requests,
            min_route_requests: (min_requests / 5).max(1),
            slo,
            max_error_increase: 0.01,
            max_p95_ratio: 1.5,
        }
    }
}

/// What the gates say.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every gate passed; the figures, for the log.
    Pass(String),
    /// A gate failed; why, with the figures.
    Fail(String),
    /// Not enough evidence either way; why.
    Inconclusive(String),
    /// The new version no longer serves any traffic: someone else changed the deployment.
    Vanished,
}

fn total(figures: &[RouteFigures]) -> (u64, u64) {
    figures
        .iter()
        .fold((0, 0), |(r, e), f| (r + f.requests, e + f.errors))
}

fn ratio(errors: u64, requests: u64) -> f64 {
    errors as f64 / requests.max(1) as f64
}

fn pct(share: f64) -> String {
    format!("{:.2} %", share * 100.0)
}

/// Judges the new version against absolute thresholds and against the old version.
/// `new_share` is the new version's share of traffic in the deployment now (0 when gone).
pub fn judge(new: &[RouteFigures], old: &[RouteFigures], new_share: f64, g: &Gates) -> Verdict {
    if new_share <= 0.0 {
        return Verdict::Vanished;
    }
    if new
        .iter()
        .any(|f| f.p95_ms.is_some_and(|p| !p.is_finite() || p < 0.0))
    {
        return Verdict::Inconclusive("the new version's latency figures are not numbers".into());
    }
    let (requests, errors) = total(new);
    if requests == 0 {
        return Verdict::Inconclusive("no requests on the new version yet".into());
    }
    // More errors than a passing sample of the minimum size could hold: failed already.
    let allowed = (g.slo.error_alert * g.min_requests as f64).floor() as u64;
    if requests < g.min_requests && errors > allowed {
        return Verdict::Fail(format!(
            "{errors} of {requests} requests failed (5xx): more than the {allowed} a passing sample of {} may hold",
            g.min_requests
        ));
    }
    if requests < g.min_requests {
        return Verdict::Inconclusive(format!(
            "{requests} of the {} requests needed on the new version",
            g.min_requests
        ));
    }
    let rate = ratio(errors, requests);
    if rate > g.slo.error_alert {
        return Verdict::Fail(format!(
            "5xx {} of {requests} requests, above the alert level {}",
            pct(rate),
            pct(g.slo.error_alert)
        ));
    }
    let (old_requests, old_errors) = total(old);
    let old_rate = ratio(old_errors, old_requests);
    let compare_errors = old_requests >= g.min_requests;
    if compare_errors && rate > old_rate + g.max_error_increase {
        return Verdict::Fail(format!(
            "5xx {} against {} on the old version (at most +{} allowed)",
            pct(rate),
            pct(old_rate),
            pct(g.max_error_increase)
        ));
    }
    let mut latency = Vec::new();
    for f in new.iter().filter(|f| f.requests >= g.min_route_requests) {
        let Some(p95) = f.p95_ms else { continue };
        let (target, alert) = g.slo.p95_for(Some(&f.route));
        let (target, alert) = (target.as_secs_f64() * 1e3, alert.as_secs_f64() * 1e3);
        if p95 > alert {
            return Verdict::Fail(format!(
                "{} p95 {p95:.0} ms, above the alert level {alert:.0} ms",
                f.route
            ));
        }
        let before = old
            .iter()
            .find(|o| o.route == f.route && o.requests >= g.min_route_requests)
            .and_then(|o| o.p95_ms)
            .filter(|p| p.is_finite());
        // Slower than before only counts past the target: 3 ms against 2 ms is noise.
        if let Some(before) = before
            && p95 > before * g.max_p95_ratio
            && p95 > target
        {
            return Verdict::Fail(format!(
                "{} p95 {p95:.0} ms against {before:.0} ms on the old version (at most x{} allowed)",
                f.route, g.max_p95_ratio
            ));
        }
        latency.push(format!("{} p95 {p95:.0} ms", f.route));
    }
    Verdict::Pass(format!(
        "{requests} requests, 5xx {}{}{}",
        pct(rate),
        if compare_errors {
            format!(" (old {})", pct(old_rate))
        } else {
            " (too little old traffic to compare)".into()
        },
        if latency.is_empty() {
            String::new()
        } else {
            format!(", {}", latency.join(", "))
        }
    ))
}

/// What a deploy step does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Keep watching.
    Wait,
    /// Give the new version its next share.
    Promote(String),
    /// Put the old version back on all traffic.
    Rollback(String),
    /// Stop without touching the deployment: it is not ours any more.
    Abandon(String),
}

/// The step's decision: a failure rolls back at once; a pass promotes once the step has lasted
/// its interval; a step still inconclusive after `patience` intervals rolls back too.
pub fn decide(verdict: &Verdict, elapsed: Duration, interval: Duration, patience: u32) -> Action {
    match verdict {
        Verdict::Fail(why) => Action::Rollback(why.clone()),
        Verdict::Vanished => Action::Abandon(
            "the new version no longer serves traffic: someone else changed the deployment".into(),
        ),
        Verdict::Pass(figures) if elapsed >= interval => Action::Promote(figures.clone()),
        Verdict::Inconclusive(why) if elapsed >= interval * patience.max(1) => Action::Rollback(
            format!("still inconclusive after {}s: {why}", elapsed.as_secs()),
        ),
        Verdict::Pass(_) | Verdict::Inconclusive(_) => Action::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(route: &str, requests: u64, errors: u64, p95: Option<f64>) -> RouteFigures {
        RouteFigures {
            route: route.into(),
            requests,
            errors,
            p95_ms: p95,
        }
    }

    fn gates() -> Gates {
        Gates::new(SloConfig::default(), 100)
    }

    fn kind(v: &Verdict) -> &'static str {
        match v {
            Verdict::Pass(_) => "pass",
            Verdict::Fail(_) => "fail",
            Verdict::Inconclusive(_) => "inconclusive",
            Verdict::Vanished => "vanished",
        }
    }

    #[test]
    fn the_gate_table() {
        let healthy_old = vec![
            route("api", 900, 2, Some(40.0)),
            route("chat", 90, 0, Some(3_000.0)),
        ];
        // (case, new version's figures, old version's, new version's share, verdict)
        type Case = (
            &'static str,
            Vec<RouteFigures>,
            Vec<RouteFigures>,
            f64,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            ("no data", vec![], healthy_old.clone(), 10.0, "inconclusive"),
            (
                "zero requests",
                vec![route("api", 0, 0, None)],
                healthy_old.clone(),
                10.0,
                "inconclusive",
            ),
            (
                "little data, all fine",
                vec![route("api", 40, 0, Some(30.0))],
                healthy_old.clone(),
                10.0,
                "inconclusive",
            ),
            (
                "little data, too many errors already",
                vec![route("api", 40, 6, Some(30.0))],
                healthy_old.clone(),
                10.0,
                "fail",
            ),
            (
                "little data, errors still within reach",
                vec![route("api", 40, 5, Some(30.0))],
                healthy_old.clone(),
                10.0,
                "inconclusive",
            ),
            (
                "NaN latency",
                vec![route("api", 500, 0, Some(f64::NAN))],
                healthy_old.clone(),
                10.0,
                "inconclusive",
            ),
            (
                "infinite latency",
                vec![route("api", 500, 0, Some(f64::INFINITY))],
                healthy_old.clone(),
                10.0,
                "inconclusive",
            ),
            (
                "vanished from the deployment",
                vec![route("api", 500, 0, Some(30.0))],
                healthy_old.clone(),
                0.0,
                "vanished",
            ),
            (
                "healthy",
                vec![route("api", 120, 0, Some(45.0))],
                healthy_old.clone(),
                10.0,
                "pass",
            ),
            (
                "errors above the alert",
                vec![route("api", 200, 11, Some(45.0))],
                healthy_old.clone(),
                10.0,
                "fail",
            ),
            (
                "errors worse than the old version",
                vec![route("api", 200, 5, Some(45.0))],
                healthy_old.clone(),
                10.0,
                "fail",
            ),
            (
                "errors as bad as an equally bad old version",
                vec![route("api", 200, 5, Some(45.0))],
                vec![route("api", 1000, 30, Some(40.0))],
                10.0,
                "pass",
            ),
            (
                "p95 above the alert",
                vec![route("api", 200, 0, Some(2_500.0))],
                healthy_old.clone(),
                10.0,
                "fail",
            ),
            (
                "p95 doubled past the target",
                vec![route("api", 200, 0, Some(900.0))],
                vec![route("api", 900, 0, Some(400.0))],
                10.0,
                "fail",
            ),
            (
                "p95 doubled but within the target",
                vec![route("api", 200, 0, Some(90.0))],
                healthy_old.clone(),
                10.0,
                "pass",
            ),
            (
                "chat is judged on its own levels",
                vec![
                    route("api", 150, 0, Some(40.0)),
                    route("chat", 50, 0, Some(4_000.0)),
                ],
                healthy_old.clone(),
                10.0,
                "pass",
            ),
            (
                "chat past its alert",
                vec![
                    route("api", 150, 0, Some(40.0)),
                    route("chat", 50, 0, Some(11_000.0)),
                ],
                healthy_old.clone(),
                10.0,
                "fail",
            ),
            (
                "no old version to compare",
                vec![route("api", 150, 1, Some(40.0))],
                vec![],
                100.0,
                "pass",
            ),
            (
                "old version with little traffic: absolute gates only",
                vec![route("api", 150, 3, Some(40.0))],
                vec![route("api", 5, 0, Some(10.0))],
                90.0,
                "pass",
            ),
        ];
        for (name, new, old, share, want) in cases {
            let v = judge(&new, &old, share, &gates());
            assert_eq!(kind(&v), want, "{name}: {v:?}");
        }
    }

    #[test]
    fn verdicts_carry_their_figures() {
        let v = judge(&[route("api", 200, 11, Some(45.0))], &[], 10.0, &gates());
        assert_eq!(
            v,
            Verdict::Fail("5xx 5.50 % of 200 requests, above the alert level 5.00 %".into())
        );
        let Verdict::Pass(figures) = judge(
            &[route("api", 120, 0, Some(45.0))],
            &[route("api", 900, 9, Some(40.0))],
            10.0,
            &gates(),
        ) else {
            panic!("expected a pass")
        };
        assert_eq!(
            figures,
            "120 requests, 5xx 0.00 % (old 1.00 %), api p95 45 ms"
        );
    }

    #[test]
    fn the_step_table() {
        let s = Duration::from_secs;
        let pass = Verdict::Pass("ok".into());
        let unsure = Verdict::Inconclusive("12 of 100".into());
        let fail = Verdict::Fail("5xx".into());
        assert_eq!(decide(&pass, s(10), s(60), 3), Action::Wait);
        assert_eq!(decide(&pass, s(60), s(60), 3), Action::Promote("ok".into()));
        assert_eq!(
            decide(&fail, s(1), s(60), 3),
            Action::Rollback("5xx".into())
        );
        assert_eq!(decide(&unsure, s(60), s(60), 3), Action::Wait);
        assert_eq!(
            decide(&unsure, s(180), s(60), 3),
            Action::Rollback("still inconclusive after 180s: 12 of 100".into())
        );
        assert!(matches!(
            decide(&Verdict::Vanished, s(1), s(60), 3),
            Action::Abandon(_)
        ));
    }

    #[test]
    fn figures_are_read_per_version_and_route() {
        use wyn_edge_shared::metrics::{Cell, Key, Query, Snapshot};
        let mut s = Snapshot::default();
        for (version, route, ms, error) in [
            ("v2", "api", 20.0, false),
            ("v2", "api", 30.0, true),
            ("v1", "api", 25.0, false),
            ("v2", "chat", 900.0, false),
        ] {
            let mut c = Cell::default();
            c.record(ms, None, 0, error);
            let key = Key {
                minute: 10,
                route: route.into(),
                method: "read".into(),
                status: if error { "5xx" } else { "2xx" }.into(),
                cache: "miss".into(),
                rate_limit: "pass".into(),
                version: version.into(),
            };
            s.add(key, c);
        }
        let answer = s.summarize(
            &Query::parse("window=5m&group_by=version,route").unwrap(),
            10,
        );
        let v2 = figures_of(&answer, "v2");
        assert_eq!(v2.len(), 2);
        assert_eq!(
            (v2[0].route.as_str(), v2[0].requests, v2[0].errors),
            ("api", 2, 1)
        );
        assert_eq!(figures_of(&answer, "v1")[0].requests, 1);
        assert!(figures_of(&answer, "v3").is_empty());
    }
}
