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
fn errors_name_the_path_at_any_depth_and_no_text_position() {
    let rules = r#""rate_limits":[{"name":"a","path":"/a","limit":1,"period":"1s"},
        {"name":"b","path":"/b","limit":1,"period":"1s","methods":["GET",7]}]"#;
    assert_eq!(
        errors(&format!("{{{rules}}}")),
        ["EDGE.rate_limits[1].methods[1]: invalid type: integer `7`, expected a string"]
    );
    assert_eq!(
        errors(r#"{"rate_limits":[{"name":"a","path":"/a","period":"1s"}]}"#),
        ["EDGE.rate_limits[0]: missing field `limit`"]
    );
    assert_eq!(
        errors(r#"{"cache":{"routes":[{"path":"/a","ttl":"1s"},{"path":"/b","ttl":[]}]}}"#),
        [
            r#"EDGE.cache.routes[1].ttl: invalid type: sequence, expected a duration like "60s" or "5m""#
        ]
    );
    assert_eq!(
        errors(r#"{"health":{}, "version": 3}"#),
        ["EDGE.version: invalid type: integer `3`, expected a string"]
    );
}

#[test]
fn an_enum_given_something_else_than_a_string_is_the_wrong_type() {
    let rule = |scope: &str| {
        format!(
            r#"{{"rate_limits":[{{"name":"a","path":"/a","limit":1,"period":"1s","scope":{scope}}}]}}"#
        )
    };
    assert_eq!(
        errors(&rule("1")),
        ["EDGE.rate_limits[0].scope: invalid type: integer `1`, expected `local` or `global`"]
    );
    assert_eq!(
        errors(&rule(r#"["global"]"#)),
        ["EDGE.rate_limits[0].scope: invalid type: sequence, expected `local` or `global`"]
    );
    assert_eq!(
        errors(&rule(r#"{"planet":null}"#)),
        ["EDGE.rate_limits[0].scope: invalid type: map, expected `local` or `global`"]
    );
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

mod rate_limits {
    use super::*;
    use crate::config::rate_limit::{KeySpec, Mode, OnError, Scope};

    fn rule(extra: &str) -> String {
        format!(
            r#"{{"rate_limits":[{{"name":"chat","path":"/api/chat","limit":30,"period":"60s"{extra}}}]}}"#
        )
    }

    #[test]
    fn a_full_rule_parses() {
        let c = EdgeConfig::from_json(&rule(
            r#","methods":["POST"],"key":"header:X-Api-Key","burst":5,"scope":"global","mode":"shadow","on_error":"deny""#,
        ))
        .unwrap();
        let r = &c.rate_limits[0];
        assert_eq!(r.key, KeySpec::Header("x-api-key".into()));
        assert_eq!(
            (r.scope, r.mode, r.on_error),
            (Scope::Global, Mode::Shadow, Some(OnError::Deny))
        );
        assert_eq!(r.effective_burst(), 5);
        assert_eq!(r.period, Duration::from_secs(60));
    }

    #[test]
    fn defaults_are_local_enforced_per_ip() {
        let c = EdgeConfig::from_json(&rule("")).unwrap();
        let r = &c.rate_limits[0];
        assert_eq!(
            (r.key.clone(), r.scope, r.mode, r.on_error),
            (KeySpec::Ip, Scope::Local, Mode::Enforce, None)
        );
        assert_eq!(r.effective_burst(), 30);
        assert_eq!(r.max_keys, 50_000);
    }

    #[test]
    fn unknown_key_kinds_scopes_and_modes_name_the_field() {
        let e = errors(&rule(r#","key":"cookie""#));
        assert_eq!(
            e,
            [
                r#"EDGE.rate_limits[0].key: expected "ip", "global" or "header:<name>", found "cookie""#
            ]
        );
        assert!(errors(&rule(r#","key":"header:""#))[0].starts_with("EDGE.rate_limits[0].key:"));
        let e = errors(&rule(r#","scope":"planet""#));
        assert!(
            e[0].starts_with("EDGE.rate_limits[0].scope: unknown variant `planet`"),
            "{e:?}"
        );
        let e = errors(&rule(r#","mode":"warn""#));
        assert!(
            e[0].starts_with("EDGE.rate_limits[0].mode: unknown variant `warn`"),
            "{e:?}"
        );
    }

    #[test]
    fn nonsense_values_are_refused() {
        let e = errors(&rule(r#","limit":0"#).replace(r#""limit":30,"#, ""));
        assert_eq!(
            e,
            ["EDGE.rate_limits[0].limit: expected a whole number from 1 to 1000000, found 0"]
        );
        let e = errors(&rule("").replace(r#""60s""#, r#""500ms""#));
        assert_eq!(
            e,
            [
                r#"EDGE.rate_limits[0].period: expected a duration from "1s" to "1day", found "500ms""#
            ]
        );
        let e = errors(&rule(r#","burst":0"#));
        assert_eq!(
            e,
            ["EDGE.rate_limits[0].burst: expected a whole number from 1 to 1000000, found 0"]
        );
        let e = errors(&rule(r#","on_error":"deny""#));
        assert!(
            e[0].starts_with("EDGE.rate_limits[0].on_error: only applies to scope = \"global\""),
            "{e:?}"
        );
        let e = errors(&rule(r#","methods":["post","TRACE"]"#));
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].starts_with("EDGE.rate_limits[0].methods[0]: expected one of GET, HEAD"));
        let e = errors(&rule(r#","limit":-1"#).replace(r#""limit":30,"#, ""));
        assert!(
            e[0].starts_with("EDGE.rate_limits[0].limit: invalid value: integer `-1`"),
            "{e:?}"
        );
    }

    #[test]
    fn names_and_paths_are_checked() {
        for bad in ["", "Chat", "a b", "x".repeat(33).as_str()] {
            let e = errors(&rule("").replace(r#""name":"chat""#, &format!(r#""name":{bad:?}"#)));
            assert!(
                e[0].starts_with("EDGE.rate_limits[0].name: expected 1 to 32"),
                "{bad:?}: {e:?}"
            );
        }
        for bad in ["api/chat", "/api/ch*t", "/api//chat", "/api/chat?x=1", ""] {
            let e =
                errors(&rule("").replace(r#""path":"/api/chat""#, &format!(r#""path":{bad:?}"#)));
            assert!(
                e[0].starts_with("EDGE.rate_limits[0].path: expected a path like"),
                "{bad:?}: {e:?}"
            );
        }
        let e = errors(&rule(r#","except":["/api/*","nope"]"#));
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("EDGE.rate_limits[0].except[1]: expected a path like"),
            "{e:?}"
        );
        for good in ["/", "/*", "/venues/*", "/api/*/items", "/api/chat"] {
            let text = rule("").replace(r#""path":"/api/chat""#, &format!(r#""path":{good:?}"#));
            assert!(EdgeConfig::from_json(&text).is_ok(), "{good}");
        }
    }

    #[test]
    fn duplicate_names_are_refused() {
        let text = r#"{"rate_limits":[
            {"name":"api","path":"/api/*","limit":600,"period":"1m"},
            {"name":"all","path":"/*","limit":1200,"period":"1m"},
            {"name":"api","path":"/api/chat","limit":30,"period":"1m"}]}"#;
        assert_eq!(
            errors(text),
            [r#"EDGE.rate_limits[2].name: "api" is already the name of rate_limits[0]"#]
        );
    }
}

mod cors {
    use super::*;

    fn policy(extra: &str) -> String {
        format!(r#"{{"cors":{{"origins":["https://wyn.app"]{extra}}}}}"#)
    }

    fn origins(list: &str, credentials: bool) -> Vec<String> {
        let json = format!(r#"{{"cors":{{"origins":{list},"credentials":{credentials}}}}}"#);
        EdgeConfig::from_json(&json)
            .err()
            .map(|e| e.0.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    #[test]
    fn defaults() {
        let c = EdgeConfig::from_json(&policy("")).unwrap().cors.unwrap();
        assert_eq!(c.paths, ["/*"]);
        assert_eq!(c.methods, ["GET", "HEAD", "POST"]);
        assert_eq!(c.max_age, Duration::from_secs(600));
        assert!(c.strip_origin_headers && !c.credentials && !c.private_network);
    }

    #[test]
    fn the_wyn_policy_is_valid() {
        let json = r#"{"cors":{"paths":["/api/*"],"origins":["https://wyn.app","https://wyn-*.vercel.app","http://localhost:3000"],
            "methods":["GET","POST","PUT","PATCH","DELETE"],"request_headers":["content-type","authorization","x-request-id"],
            "expose_headers":["x-request-id","retry-after","ratelimit","ratelimit-policy"],"credentials":true,"max_age":"2h"}}"#;
        assert!(EdgeConfig::from_json(json).is_ok());
    }

    #[test]
    fn wildcard_origin_with_credentials() {
        assert_eq!(
            origins(r#"["*"]"#, true),
            [
                r#"EDGE.cors.origins[0]: "*" cannot be used with credentials = true: name the origins"#
            ]
        );
        assert!(origins(r#"["*"]"#, false).is_empty());
        assert!(origins(r#"["*","https://wyn.app"]"#, false)[0].contains("pointless"));
    }

    #[test]
    fn null_and_file_origins() {
        assert!(
            origins(r#"["null"]"#, false)[0]
                .starts_with(r#"EDGE.cors.origins[0]: the "null" origin"#)
        );
        assert!(origins(r#"["file://"]"#, false)[0].contains("file:// pages have no origin"));
        assert!(
            origins(r#"["ftp://wyn.app"]"#, false)[0].contains("expected an http or https origin")
        );
    }

    #[test]
    fn non_canonical_origins_name_what_is_wrong() {
        let cases = [
            ("https://wyn.app/", "no path"),
            ("https://wyn.app/api", "no path"),
            ("https://wyn.app:443", "default port"),
            ("http://wyn.app:80", "default port"),
            ("https://WYN.app", "lower case"),
            ("https://user@wyn.app", "user info"),
            ("https://wyn.app:0", "port from 1"),
            ("https://wyn.app:99999", "port from 1"),
            ("https://wyn.app:08443", "port from 1"),
            ("wyn.app", "scheme://host"),
            ("https://", "expected a host"),
            ("https://wyn..app", "expected a host"),
            ("https://-wyn.app", "expected a host"),
            ("https://[::1", "expected a host"),
        ];
        for (origin, why) in cases {
            let e = origins(&format!("[{origin:?}]"), false);
            assert_eq!(e.len(), 1, "{origin}: {e:?}");
            assert!(
                e[0].contains(why) && e[0].contains(&format!("found {origin:?}")),
                "{origin}: {e:?}"
            );
        }
        for ok in [
            "https://wyn.app:8443",
            "http://127.0.0.1:3000",
            "https://[2001:db8::1]",
            "https://a-b.c.wyn.app",
        ] {
            assert!(origins(&format!("[{ok:?}]"), false).is_empty(), "{ok}");
        }
    }

    #[test]
    fn http_with_credentials_only_on_loopback() {
        assert!(
            origins(r#"["http://wyn.app"]"#, true)[0]
                .contains("http origins may not send credentials")
        );
        for ok in [
            "http://localhost:3000",
            "http://127.0.0.1:8787",
            "http://[::1]:3000",
        ] {
            assert!(origins(&format!("[{ok:?}]"), true).is_empty(), "{ok}");
        }
        assert!(origins(r#"["http://wyn.app"]"#, false).is_empty());
    }

    #[test]
    fn patterns_must_leave_a_registrable_domain() {
        for bad in [
            "https://*.vercel.app",
            "https://*.com",
            "https://*.co.uk",
            "https://*.github.io",
        ] {
            let e = origins(&format!("[{bad:?}]"), false);
            assert!(e[0].contains("is a public suffix"), "{bad}: {e:?}");
        }
        for bad in [
            "https://wyn.*.app",
            "https://*-*.wyn.app",
            "https://*",
            "https://wyn-*",
        ] {
            let e = origins(&format!("[{bad:?}]"), false);
            assert_eq!(e.len(), 1, "{bad}: {e:?}");
        }
        for ok in [
            "https://wyn-*.vercel.app",
            "https://*.wyn.app",
            "https://*-preview.wyn.app",
        ] {
            assert!(origins(&format!("[{ok:?}]"), true).is_empty(), "{ok}");
        }
    }

    #[test]
    fn forbidden_methods_and_headers() {
        let e = errors(&policy(
            r#","methods":["GET","TRACE","connect","track","GE T"]"#,
        ));
        assert_eq!(e.len(), 4, "{e:?}");
        assert_eq!(e[0], "EDGE.cors.methods[1]: TRACE is a forbidden method");
        assert!(e[3].starts_with("EDGE.cors.methods[4]: expected a method name"));
        let e = errors(&policy(
            r#","request_headers":["content-type","Cookie","sec-fetch-mode","proxy-x","host","x ok"]"#,
        ));
        assert_eq!(e.len(), 5, "{e:?}");
        assert!(e[0].starts_with(
            r#"EDGE.cors.request_headers[1]: "Cookie" is a forbidden request header"#
        ));
        let e = errors(&policy(
            r#","expose_headers":["x-request-id","Set-Cookie"]"#,
        ));
        assert_eq!(
            e,
            [r#"EDGE.cors.expose_headers[1]: "Set-Cookie" is never exposed to scripts"#]
        );
    }

    #[test]
    fn header_wildcards_and_credentials() {
        let e = errors(&policy(
            r#","credentials":true,"request_headers":["*"],"expose_headers":["*"]"#,
        ));
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].starts_with("EDGE.cors.request_headers[0]: \"*\" cannot be used with credentials")
        );
        assert!(
            e[1].starts_with("EDGE.cors.expose_headers[0]: \"*\" cannot be used with credentials")
        );
        assert!(
            EdgeConfig::from_json(&policy(
                r#","request_headers":["*"],"expose_headers":["*"]"#
            ))
            .is_ok()
        );
    }

    #[test]
    fn max_age_paths_and_empty_origins() {
        assert_eq!(
            errors(&policy(r#","max_age":"2days""#)),
            [r#"EDGE.cors.max_age: expected at most "1day" (86400 s), found "2d""#]
        );
        assert!(EdgeConfig::from_json(&policy(r#","max_age":"0s""#)).is_ok());
        assert!(
            errors(&policy(r#","paths":["api/*"]"#))[0]
                .starts_with("EDGE.cors.paths[0]: expected a path")
        );
        assert_eq!(
            errors(r#"{"cors":{"origins":[]}}"#),
            ["EDGE.cors.origins: expected at least one origin"]
        );
        assert!(
            errors(r#"{"cors":{"methods":["GET"]}}"#)[0]
                .starts_with("EDGE.cors: missing field `origins`")
        );
    }
}

mod cache {
    use super::*;

    #[test]
    fn defaults_and_routes() {
        let c = EdgeConfig::from_json("{}").unwrap().cache;
        assert!(c.enabled && c.nextjs && c.sort_query);
        assert_eq!(c.drop_query_params, ["utm_*", "fbclid", "gclid"]);
        let c = EdgeConfig::from_json(
            r#"{"cache":{"routes":[{"path":"/static/*","ttl":"365d"},{"path":"/api/chat","post":true,"ttl":"1h","post_max_body":"8KB"}]}}"#,
        )
        .unwrap()
        .cache;
        assert_eq!(c.routes[0].ttl, Some(Duration::from_secs(365 * 86_400)));
        assert_eq!(c.routes[1].post_max_body, 8_000);
    }

    #[test]
    fn nonsense_is_refused_with_the_field() {
        let cases = [
            (
                r#"{"cache":{"routes":[{"path":"static"}]}}"#,
                "EDGE.cache.routes[0].path: expected a path",
            ),
            (
                r#"{"cache":{"routes":[{"path":"/x","ttl":"0s"}]}}"#,
                "EDGE.cache.routes[0].ttl: expected a duration above 0",
            ),
            (
                r#"{"cache":{"routes":[{"path":"/x","ttl":"400d"}]}}"#,
                "EDGE.cache.routes[0].ttl: expected a duration above 0",
            ),
            (
                r#"{"cache":{"routes":[{"path":"/x","post":true}]}}"#,
                "EDGE.cache.routes[0].ttl: POST caching needs an explicit ttl",
            ),
            (
                r#"{"cache":{"routes":[{"path":"/x","bypass":true,"ttl":"1h"}]}}"#,
                "EDGE.cache.routes[0].bypass:",
            ),
            (
                r#"{"cache":{"routes":[{"path":"/x","post":true,"ttl":"1h","post_max_body":"2MB"}]}}"#,
                "EDGE.cache.routes[0].post_max_body:",
            ),
            (
                r#"{"cache":{"drop_query_params":["utm_*","a=b"]}}"#,
                "EDGE.cache.drop_query_params[1]:",
            ),
            (
                r#"{"cache":{"max_object_size":"1GB"}}"#,
                "EDGE.cache.max_object_size:",
            ),
            (
                r#"{"cache":{"purge_refresh":"5m"}}"#,
                "EDGE.cache.purge_refresh:",
            ),
            (r#"{"cache":{"ttl":"5m"}}"#, "EDGE.cache.ttl: unknown field"),
        ];
        for (json, want) in cases {
            let e = errors(json);
            assert!(e.iter().any(|m| m.starts_with(want)), "{json}: {e:?}");
        }
    }
}

mod metrics {
    use super::*;

    #[test]
    fn wyn_groups_by_default_and_checked() {
        let c = EdgeConfig::from_json("{}").unwrap().metrics;
        assert_eq!(
            c.route_groups
                .iter()
                .map(|g| g.name.as_str())
                .collect::<Vec<_>>(),
            ["chat", "api", "venues", "static"]
        );
        let e = errors(
            r#"{"metrics":{"route_groups":[{"name":"other","path":"/x"},{"name":"ok","path":"x"}],"max_cells":1}}"#,
        );
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with("EDGE.metrics.route_groups[0].name:"));
        assert!(e[1].starts_with("EDGE.metrics.route_groups[1].path:"));
        assert!(e[2].starts_with("EDGE.metrics.max_cells:"));
    }
}

#[test]
fn pretty_text_from_javascript_names_the_field_in_its_own_key_order() {
    // What the worker gets from `JSON.stringify(env.EDGE, null, 2)`: keys in TOML order, not
    // sorted as a `serde_json::Value` writes them.
    let text = r#"{
  "version": "v1",
  "rate_limits": [
    {
      "name": "a",
      "path": "/a",
      "methods": [],
      "limit": 1,
      "period": "1s"
    },
    {
      "path": "/b",
      "name": "b",
      "methods": [
        "GET",
        7
      ],
      "limit": 1,
      "period": "1s"
    }
  ],
  "health": {}
}"#;
    let errors = |text: &str| EdgeConfig::from_pretty_json(text).unwrap_err().to_string();
    assert_eq!(
        errors(text),
        "EDGE.rate_limits[1].methods[1]: invalid type: integer `7`, expected a string"
    );
    let valid = text.replace("7", r#""POST""#);
    assert!(EdgeConfig::from_pretty_json(&valid).is_ok());
    assert_eq!(
        errors(&valid.replacen(r#""limit": 1,"#, "", 1)),
        "EDGE.rate_limits[0]: missing field `limit`"
    );
    // Not one member per line: the error names the member that holds it.
    assert_eq!(
        errors(&valid.replace(r#""health": {}"#, r#""health": {"probe_path": 1}"#)),
        "EDGE.health: invalid type: integer `1`, expected a string"
    );
}

#[test]
fn text_that_is_not_an_object_says_what_it_is() {
    let errors = |text: &str| EdgeConfig::from_pretty_json(text).unwrap_err().to_string();
    assert_eq!(
        errors("[\n  1\n]"),
        "EDGE: expected an object (a TOML table), found an array"
    );
    assert_eq!(
        errors(r#""{}""#),
        "EDGE: expected an object (a TOML table), found a string"
    );
    assert_eq!(
        errors("null"),
        "EDGE: expected an object (a TOML table), found null"
    );
    assert!(
        errors(r#"{"cache": }"#).starts_with(
            "EDGE: expected a JSON object, found invalid JSON (expected value at line 1"
        )
    );
}
