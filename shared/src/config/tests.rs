use super::*;

fn errors(json: &str) -> Vec<String> {
    EdgeConfig::from_json(json)
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn empty_object_gives_the_defaults() {
    let c = EdgeConfig::from_json("{}").unwrap();
    assert_eq!(c, EdgeConfig::default());
    assert_eq!(c.origin_timeout, Duration::from_secs(30));
    assert_eq!(c.health.probe_path, "/api/health");
}

#[test]
fn full_config_parses() {
    let c = EdgeConfig::from_json(
        r#"{"origin_timeout":"5s","max_request_body":"1MB","version":"2026.11.27",
            "health":{"probe_path":"/healthz","probe_timeout":"500ms","cache_for":"3s"}}"#,
    )
    .unwrap();
    assert_eq!(c.origin_timeout, Duration::from_secs(5));
    assert_eq!(c.max_request_body, 1_000_000);
    assert_eq!(c.version.as_deref(), Some("2026.11.27"));
    assert_eq!(c.health.probe_timeout, Duration::from_millis(500));
}

#[test]
fn a_bad_duration_names_the_nested_field() {
    assert_eq!(
        errors(r#"{"health":{"probe_timeout":"soon"}}"#),
        [r#"EDGE.health.probe_timeout: expected a duration like "60s" or "5m", found "soon""#]
    );
}

#[test]
fn a_number_where_a_duration_belongs_says_what_was_expected() {
    let e = errors(r#"{"origin_timeout": 30}"#);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("EDGE.origin_timeout: invalid type: integer `30`"),
        "{e:?}"
    );
    assert!(e[0].contains("a duration like \"60s\""), "{e:?}");
}

#[test]
fn unknown_fields_are_refused_so_typos_are_caught() {
    let e = errors(r#"{"origin_timout":"5s"}"#);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("EDGE.origin_timout: unknown field `origin_timout`, expected one of"),
        "{e:?}"
    );
}

#[test]
fn not_an_object() {
    let e = errors("[1,2]");
    assert_eq!(
        e,
        ["EDGE: expected an object (a TOML table), found an array"]
    );
    let e = errors("{\"origin_timeout\":");
    assert!(
        e[0].starts_with("EDGE: expected a JSON object, found invalid JSON"),
        "{e:?}"
    );
}

#[test]
fn validation_reports_every_broken_rule() {
    let e = errors(
        r#"{"origin_timeout":"0s","max_request_body":"0B",
            "health":{"probe_path":"api/health","probe_timeout":"1m","cache_for":"10m"}}"#,
    );
    assert_eq!(e.len(), 5, "{e:#?}");
    assert!(e[0].starts_with("EDGE.origin_timeout: expected a duration above 0"));
    assert!(e[1].starts_with("EDGE.max_request_body: expected a size above 0"));
    assert!(e[2].starts_with("EDGE.health.probe_path: expected a path starting with \"/\""));
    assert!(e[3].starts_with("EDGE.health.probe_timeout:"));
    assert!(e[4].contains("EDGE.health.cache_for: expected at most \"1m\", found \"10m\""));
}

#[test]
fn probe_timeout_may_not_exceed_origin_timeout() {
    let e = errors(r#"{"origin_timeout":"1s","health":{"probe_timeout":"2s"}}"#);
    assert_eq!(
        e,
        [
            r#"EDGE.health.probe_timeout: expected a duration above 0 and at most origin_timeout ("1s"), found "2s""#
        ]
    );
}

#[test]
fn version_must_be_printable() {
    assert!(errors(r#"{"version":"a b"}"#)[0].starts_with("EDGE.version:"));
    assert!(EdgeConfig::from_json(r#"{"version":"v1.2.3-rc.1"}"#).is_ok());
}

#[test]
fn validated_config_round_trips_through_json() {
    let c = EdgeConfig::from_json(r#"{"origin_timeout":"90s","max_request_body":"2MiB"}"#).unwrap();
    let text = serde_json::to_string(&c).unwrap();
    assert_eq!(EdgeConfig::from_json(&text).unwrap(), c);
}

#[test]
fn origin_urls() {
    assert_eq!(
        parse_origin_url("http://127.0.0.1:3000").unwrap(),
        "http://127.0.0.1:3000"
    );
    assert_eq!(
        parse_origin_url("https://wyn.vercel.app/").unwrap(),
        "https://wyn.vercel.app"
    );
    assert_eq!(
        parse_origin_url("https://x.example/base/").unwrap(),
        "https://x.example/base"
    );
    for bad in [
        "",
        "wyn.app",
        "ftp://x.example",
        "https://x.example/?a=1",
        "https://u:p@x.example",
        "http://",
    ] {
        let e = parse_origin_url(bad).unwrap_err();
        assert_eq!(e.field, "ORIGIN_URL", "{bad}");
        assert!(e.message.contains(&format!("found {bad:?}")), "{e}");
    }
}
