use super::*;

/// Definitions of a few tests, as the harness dumps them from http-cache-tests 0.4.5.
const DEFS: &str = r#"[{"id": "freshness-none", "kind": "check", "browser_only": false}, {"id": "freshness-max-age", "kind": "optimal", "depends_on": ["freshness-none"], "browser_only": false}, {"id": "freshness-max-age-0", "depends_on": ["freshness-none"], "browser_only": false}, {"id": "freshness-max-age-leading-zero", "depends_on": ["freshness-none"], "browser_only": false}, {"id": "cc-resp-immutable-stale", "browser_only": true}, {"id": "ccreq-max-stale", "kind": "check", "browser_only": false}, {"id": "conditional-lm-stale", "kind": "optimal", "browser_only": false}, {"id": "304-lm-use-stored-Test-Header", "browser_only": false}, {"id": "304-etag-update-response-Cache-Control", "depends_on": ["304-lm-use-stored-Test-Header"], "browser_only": false}]"#;

/// The client's results for those tests in a run through an edge that cached nothing.
const RESULTS: &str = r#"{
  "304-etag-update-response-Cache-Control": [
    "Setup",
    "Response 2 status is 500, not 200"
  ],
  "304-lm-use-stored-Test-Header": [
    "Setup",
    "Response 2 status is 500, not 200"
  ],
  "ccreq-max-stale": [
    "Assertion",
    "Response 2 does not come from cache"
  ],
  "conditional-lm-stale": true,
  "freshness-max-age": [
    "Assertion",
    "Response 2 does not come from cache"
  ],
  "freshness-max-age-0": true,
  "freshness-max-age-leading-zero": [
    "Assertion",
    "Response 2 does not come from cache"
  ],
  "freshness-none": true
}"#;

fn sample() -> Score {
    score(
        &parse_definitions(DEFS).unwrap(),
        &parse_results(RESULTS).unwrap(),
    )
    .unwrap()
}

fn verdict_of(score: &Score, id: &str) -> Verdict {
    score.tests[id].verdict
}

#[test]
fn definitions_read_kinds_and_dependencies() {
    let defs = parse_definitions(DEFS).unwrap();
    assert_eq!(defs.len(), 9);
    assert_eq!(defs[0].kind, Kind::Check);
    assert_eq!(defs[1].kind, Kind::Optimal);
    assert_eq!(defs[1].depends_on, ["freshness-none"]);
    // No kind means required.
    assert_eq!(defs[2].kind, Kind::Required);
    assert!(defs[4].browser_only);
}

#[test]
fn the_sample_run_scores_and_reports() {
    let score = sample();
    assert_eq!(
        score.report(),
        "conformance: required passed 1 / 4\n\
         conformance: optional passed 1 / 2\n  \
         fail: 304-etag-update-response-Cache-Control\n  \
         fail: 304-lm-use-stored-Test-Header\n  \
         fail: freshness-max-age-leading-zero\n"
    );
    assert_eq!(
        score.checks_yes,
        Tally {
            passed: 1,
            total: 2
        }
    );
}

#[test]
fn verdicts_follow_the_suites_results_page() {
    let score = sample();
    assert_eq!(verdict_of(&score, "freshness-none"), Verdict::Yes);
    assert_eq!(verdict_of(&score, "ccreq-max-stale"), Verdict::No);
    assert_eq!(verdict_of(&score, "freshness-max-age-0"), Verdict::Pass);
    assert_eq!(
        verdict_of(&score, "freshness-max-age-leading-zero"),
        Verdict::Fail
    );
    assert_eq!(
        verdict_of(&score, "freshness-max-age"),
        Verdict::OptionalFail
    );
    assert_eq!(verdict_of(&score, "conditional-lm-stale"), Verdict::Pass);
    assert_eq!(
        verdict_of(&score, "304-lm-use-stored-Test-Header"),
        Verdict::SetupFail
    );
    // Its own result is a set-up failure too, but the dependency's comes first.
    assert_eq!(
        verdict_of(&score, "304-etag-update-response-Cache-Control"),
        Verdict::DependencyFail
    );
    assert_eq!(
        score.tests["freshness-max-age"].error,
        Some(Outcome::Failed {
            name: "Assertion".into(),
            message: "Response 2 does not come from cache".into()
        })
    );
    assert_eq!(score.tests["freshness-none"].error, None);
}

#[test]
fn browser_only_tests_are_not_scored() {
    let score = sample();
    assert!(!score.tests.contains_key("cc-resp-immutable-stale"));
    assert!(
        !score
            .failing_required
            .contains(&"cc-resp-immutable-stale".to_owned())
    );
}

#[test]
fn a_check_answering_no_voids_the_tests_that_depend_on_it() {
    // A cache that stores responses without freshness information makes the tests built on
    // `freshness-none` meaningless, whatever they reported.
    let results = RESULTS.replace(
        r#""freshness-none": true"#,
        r#""freshness-none": ["Assertion", "Response 2 comes from cache"]"#,
    );
    let score = score(
        &parse_definitions(DEFS).unwrap(),
        &parse_results(&results).unwrap(),
    )
    .unwrap();
    assert_eq!(verdict_of(&score, "freshness-none"), Verdict::No);
    assert_eq!(
        verdict_of(&score, "freshness-max-age-0"),
        Verdict::DependencyFail
    );
    assert_eq!(score.required.passed, 0);
    assert!(
        score
            .failing_required
            .contains(&"freshness-max-age-0".to_owned())
    );
}

#[test]
fn retries_transport_errors_and_missing_results() {
    let defs = parse_definitions(r#"[{"id": "a"}, {"id": "b"}, {"id": "c"}]"#).unwrap();
    let results = parse_results(
        r#"{"a": ["Setup", "retry"], "b": ["FetchError", "request to http://127.0.0.1:1/test/x failed"]}"#,
    )
    .unwrap();
    let score = score(&defs, &results).unwrap();
    assert_eq!(verdict_of(&score, "a"), Verdict::Retry);
    assert_eq!(verdict_of(&score, "b"), Verdict::Fail);
    assert_eq!(verdict_of(&score, "c"), Verdict::Untested);
    assert_eq!(
        score.required,
        Tally {
            passed: 0,
            total: 3
        }
    );
    assert_eq!(score.failing_required, ["a", "b", "c"]);
}

#[test]
fn malformed_input_is_refused_with_what_was_found() {
    let err = parse_definitions(r#"[{"id": "a", "kind": "nice-to-have"}]"#).unwrap_err();
    assert!(err.to_string().contains(r#"found "nice-to-have""#), "{err}");
    let err = parse_definitions(r#"[{"id": "a", "depends_on": ["z"]}]"#).unwrap_err();
    assert!(err.to_string().contains("depends on z"), "{err}");
    let err = parse_results(r#"{"a": false}"#).unwrap_err();
    assert!(err.to_string().contains("found false"), "{err}");
    let err = parse_results(r#"{"a": ["Setup"]}"#).unwrap_err();
    assert!(
        err.to_string().contains("expected [name, message]"),
        "{err}"
    );
    assert!(parse_results("Running undefined").is_err());
    let defs = parse_definitions(r#"[{"id": "a"}]"#).unwrap();
    let err = score(&defs, &parse_results(r#"{"b": true}"#).unwrap()).unwrap_err();
    assert!(err.to_string().contains("reported b"), "{err}");
}

#[test]
fn the_policy_drops_rate_limits_and_cors_and_keeps_the_rest() {
    let toml = r#"
        [vars]
        ORIGIN_URL = "http://127.0.0.1:3000"
        [vars.EDGE]
        origin_timeout = "30s"
        [vars.EDGE.cache]
        enabled = true
        [vars.EDGE.cors]
        paths = ["/api/*"]
        [[vars.EDGE.rate_limits]]
        name = "api"
        limit = 600
    "#;
    let policy: serde_json::Value = serde_json::from_str(&edge_policy(toml).unwrap()).unwrap();
    assert_eq!(
        policy,
        serde_json::json!({"origin_timeout": "30s", "cache": {"enabled": true}})
    );
    assert!(edge_policy("[vars]\nA = 1").is_err());
}

#[test]
fn the_committed_policy_loses_only_rate_limits_and_cors() {
    let text = std::fs::read_to_string(crate::stack::root().join("wrangler.toml")).unwrap();
    let policy: serde_json::Value = serde_json::from_str(&edge_policy(&text).unwrap()).unwrap();
    assert!(policy.get("rate_limits").is_none());
    assert!(policy.get("cors").is_none());
    assert!(policy.get("origin_timeout").is_some());
}
