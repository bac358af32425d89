use super::*;
use wyn_edge_shared::config::EdgeConfig;

const T0: u64 = 1_800_000_000 * 1_000_000_000;
const SEC: u64 = 1_000_000_000;

fn set(rules: &str) -> RuleSet {
    let config = EdgeConfig::from_json(&format!(r#"{{"rate_limits":[{rules}]}}"#)).unwrap();
    RuleSet::new(&config.rate_limits)
}

fn ip(s: &str) -> ClientKey {
    ClientKey::from_ip(Some(s))
}

const WYN: &str = r#"
    {"name":"chat","path":"/api/chat","methods":["POST"],"limit":30,"period":"60s","scope":"global","on_error":"deny"},
    {"name":"api","path":"/api/*","limit":600,"period":"60s"},
    {"name":"all","path":"/*","except":["/api/*"],"limit":1200,"period":"60s"}"#;

#[test]
fn every_matching_rule_is_consulted_and_globals_are_left_pending() {
    let rules = set(WYN);
    let e = rules.evaluate_local("POST", "/api/chat", &ip("192.0.2.1"), |_| None, T0);
    assert_eq!(e.verdicts.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1]);
    assert_eq!(
        e.pending,
        [PendingGlobal {
            rule: 0,
            key: ip("192.0.2.1")
        }]
    );
    let e = rules.evaluate_local("GET", "/api/chat", &ip("192.0.2.1"), |_| None, T0);
    assert!(e.pending.is_empty());
    let e = rules.evaluate_local("GET", "/venues/3", &ip("192.0.2.1"), |_| None, T0);
    assert_eq!(e.verdicts.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [2]);
    // `except` leaves the API to its own rule, whatever the spelling.
    let e = rules.evaluate_local("GET", "/API//venues", &ip("192.0.2.1"), |_| None, T0);
    assert_eq!(e.verdicts.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1]);
}

#[test]
fn the_tightest_rule_decides_the_headers() {
    let rules = set(WYN);
    let e = rules.evaluate_local("GET", "/api/venues", &ip("192.0.2.1"), |_| None, T0);
    match e.decide(&rules) {
        Decision::Allow { headers: Some(l) } => {
            assert_eq!(
                (l.name.as_str(), l.quota, l.window_secs, l.remaining),
                ("api", 600, 60, 599)
            );
            assert_eq!(
                l.fields().unwrap(),
                (r#""api";q=600;w=60"#.into(), r#""api";r=599;t=1"#.into())
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_refusal_names_the_rule_and_the_true_wait() {
    let rules = set(
        r#"{"name":"tight","path":"/x","limit":2,"period":"10s"},{"name":"loose","path":"/*","limit":100,"period":"10s"}"#,
    );
    let c = ip("198.51.100.4");
    for _ in 0..2 {
        assert!(
            rules
                .evaluate_local("GET", "/x", &c, |_| None, T0)
                .decide(&rules)
                .is_allowed()
        );
    }
    match rules
        .evaluate_local("GET", "/x", &c, |_| None, T0)
        .decide(&rules)
    {
        Decision::Refuse {
            retry_after,
            headers,
        } => {
            assert_eq!(retry_after, Duration::from_secs(5));
            assert_eq!(
                (headers.name.as_str(), headers.remaining, headers.reset_secs),
                ("tight", 0, 10)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(rules.rules()[0].counters.refused.get(), 1);
    assert_eq!(rules.rules()[0].counters.allowed.get(), 2);
    // Other clients are untouched.
    assert!(
        rules
            .evaluate_local("GET", "/x", &ip("198.51.100.5"), |_| None, T0)
            .decide(&rules)
            .is_allowed()
    );
    assert!(
        rules
            .evaluate_local("GET", "/x", &c, |_| None, T0 + 5 * SEC)
            .decide(&rules)
            .is_allowed()
    );
}

#[test]
fn shadow_rules_never_refuse_but_count() {
    let rules = set(r#"{"name":"watch","path":"/*","limit":1,"period":"60s","mode":"shadow"}"#);
    for _ in 0..5 {
        let d = rules
            .evaluate_local("GET", "/", &ip("192.0.2.9"), |_| None, T0)
            .decide(&rules);
        assert_eq!(d, Decision::Allow { headers: None });
    }
    let c = &rules.rules()[0].counters;
    assert_eq!(
        (c.allowed.get(), c.shadow_refused.get(), c.refused.get()),
        (1, 4, 0)
    );
}

#[test]
fn path_tricks_do_not_dodge_a_rule() {
    let rules =
        set(r#"{"name":"chat","path":"/api/chat","methods":["POST"],"limit":1,"period":"60s"}"#);
    let c = ip("192.0.2.1");
    assert!(
        rules
            .evaluate_local("POST", "/api/chat", &c, |_| None, T0)
            .decide(&rules)
            .is_allowed()
    );
    for path in [
        "/api//chat",
        "/api/chat/",
        "/API/Chat",
        "/api/%63hat",
        "//api/chat",
    ] {
        assert!(
            !rules
                .evaluate_local("POST", path, &c, |_| None, T0)
                .decide(&rules)
                .is_allowed(),
            "{path}"
        );
    }
}

#[test]
fn header_keys_fall_back_to_the_address() {
    let rules =
        set(r#"{"name":"keyed","path":"/*","key":"header:x-api-key","limit":1,"period":"60s"}"#);
    let c = ip("192.0.2.1");
    let key = |v: &'static str| move |name: &str| (name == "x-api-key").then(|| v.to_owned());
    assert!(
        rules
            .evaluate_local("GET", "/", &c, key("alpha"), T0)
            .decide(&rules)
            .is_allowed()
    );
    assert!(
        !rules
            .evaluate_local("GET", "/", &c, key("alpha"), T0)
            .decide(&rules)
            .is_allowed()
    );
    assert!(
        rules
            .evaluate_local("GET", "/", &c, key("beta"), T0)
            .decide(&rules)
            .is_allowed()
    );
    assert!(
        rules
            .evaluate_local("GET", "/", &c, |_| None, T0)
            .decide(&rules)
            .is_allowed()
    );
    assert!(
        !rules
            .evaluate_local("GET", "/", &c, key("  "), T0)
            .decide(&rules)
            .is_allowed()
    );
}

#[test]
fn global_errors_follow_on_error() {
    let rules = set(
        r#"{"name":"deny","path":"/a","limit":1,"period":"60s","scope":"global","on_error":"deny"},
                       {"name":"allow","path":"/b","limit":1,"period":"60s","scope":"global"}"#,
    );
    let c = ip("192.0.2.1");
    let mut e = rules.evaluate_local("GET", "/a", &c, |_| None, T0);
    e.record_global_error(&rules, e.pending[0].rule);
    assert_eq!(
        e.decide(&rules),
        Decision::Unavailable {
            rule: "deny".into()
        }
    );
    let mut e = rules.evaluate_local("GET", "/b", &c, |_| None, T0);
    e.record_global_error(&rules, e.pending[0].rule);
    assert_eq!(e.decide(&rules), Decision::Allow { headers: None });
    assert_eq!(rules.rules()[1].counters.errors.get(), 1);
}

#[test]
fn global_verdicts_join_the_decision() {
    let rules = set(WYN);
    let c = ip("192.0.2.1");
    let mut e = rules.evaluate_local("POST", "/api/chat", &c, |_| None, T0);
    let refused = Verdict {
        allowed: false,
        remaining: 0,
        reset: Duration::from_secs(60),
        retry_after: Duration::from_millis(1500),
    };
    e.record_global(&rules, 0, GlobalVerdict::from(refused).into());
    match e.decide(&rules) {
        Decision::Refuse {
            retry_after,
            headers,
        } => {
            assert_eq!(retry_after, Duration::from_millis(1500));
            assert_eq!(headers.name, "chat");
            assert_eq!(headers::retry_after_secs(retry_after), 2);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        GlobalCheck::for_rule(&rules.rules()[0].spec).object_name(&c),
        "chat/4:192.0.2.1"
    );
}

#[test]
fn the_admin_rule_is_separate() {
    let rules = set(WYN);
    let c = ip("192.0.2.77");
    for _ in 0..60 {
        assert!(rules.evaluate_admin(&c, T0).decide(&rules).is_allowed());
    }
    match rules.evaluate_admin(&c, T0).decide(&rules) {
        Decision::Refuse { headers, .. } => assert_eq!(headers.name, "admin"),
        other => panic!("{other:?}"),
    }
    // The configured rules' budgets are untouched.
    assert!(
        rules
            .evaluate_local("GET", "/api/x", &c, |_| None, T0)
            .decide(&rules)
            .is_allowed()
    );
}
