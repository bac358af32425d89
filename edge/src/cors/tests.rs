//! Request -> expected-answer vectors for the CORS policy, the classic attacks among them.

use super::*;
use wyn_edge_shared::config::EdgeConfig;

fn policy(json: &str) -> Cors {
    Cors::new(EdgeConfig::from_json(json).unwrap().cors.as_ref().unwrap())
}

fn wyn() -> Cors {
    policy(
        r#"{"cors":{"paths":["/api/*"],"origins":["https://wyn.app","https://wyn-*.vercel.app","http://localhost:3000"],
        "methods":["GET","POST","PUT","DELETE"],"request_headers":["content-type","authorization","x-request-id"],
        "expose_headers":["x-request-id","retry-after"],"credentials":true,"max_age":"2h"}}"#,
    )
}

fn open() -> Cors {
    policy(
        r#"{"cors":{"origins":["*"],"request_headers":["*"],"max_age":"0s","private_network":true}}"#,
    )
}

/// What a request should get.
#[derive(Debug)]
enum Want {
    /// An allowed preflight echoing this `Access-Control-Allow-Origin` and these headers.
    Pass(&'static str, Option<&'static str>),
    /// A refused preflight.
    Refuse(Refusal),
    /// An actual request with this `Access-Control-Allow-Origin` (or none).
    Actual(Option<&'static str>),
}
use Want::*;

/// (origin, Access-Control-Request-Method or None for an actual request, request headers,
/// private network, expected)
type Row = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    Want,
);

const WYN_ROWS: &[Row] = &[
    // Allowed origins, exact and by pattern.
    (
        "https://wyn.app",
        Some("GET"),
        None,
        None,
        Pass("https://wyn.app", None),
    ),
    (
        "https://wyn.app",
        Some("POST"),
        Some("content-type"),
        None,
        Pass("https://wyn.app", Some("content-type")),
    ),
    (
        "https://wyn.app",
        Some("PUT"),
        Some("content-type,x-request-id"),
        None,
        Pass("https://wyn.app", Some("content-type, x-request-id")),
    ),
    (
        "https://wyn.app",
        Some("DELETE"),
        Some("Authorization"),
        None,
        Pass("https://wyn.app", Some("authorization")),
    ),
    (
        "https://wyn.app",
        Some("POST"),
        Some(" content-type ,\tx-request-id "),
        None,
        Pass("https://wyn.app", Some("content-type, x-request-id")),
    ),
    (
        "https://wyn.app",
        Some("POST"),
        Some("content-type,,"),
        None,
        Pass("https://wyn.app", Some("content-type")),
    ),
    (
        "https://wyn.app",
        Some("POST"),
        Some(""),
        None,
        Pass("https://wyn.app", None),
    ),
    (
        "https://wyn-git-main-team.vercel.app",
        Some("POST"),
        Some("content-type"),
        None,
        Pass("https://wyn-git-main-team.vercel.app", Some("content-type")),
    ),
    (
        "https://wyn-x.vercel.app",
        Some("GET"),
        None,
        None,
        Pass("https://wyn-x.vercel.app", None),
    ),
    (
        "http://localhost:3000",
        Some("GET"),
        None,
        None,
        Pass("http://localhost:3000", None),
    ),
    // Suffix and prefix look-alikes.
    (
        "https://wyn.app.evil.com",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    (
        "https://evilwyn.app",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    (
        "https://evil.wyn.app",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    (
        "https://wyn.apps",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    (
        "https://wyn-x.vercel.app.evil.com",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    (
        "https://xwyn-x.vercel.app",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    (
        "https://wyn-.vercel.app",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    (
        "https://evil.vercel.app",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    // A pattern's `*` is one label, never more.
    (
        "https://wyn-a.b.vercel.app",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    (
        "https://wyn-a.evil.com",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    // Scheme and port changes.
    (
        "http://wyn.app",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    (
        "https://wyn.app:8443",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    (
        "https://wyn.app:443",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    (
        "http://wyn-x.vercel.app",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    (
        "https://wyn-x.vercel.app:444",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    (
        "http://localhost:3001",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    (
        "https://localhost:3000",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    (
        "http://127.0.0.1:3000",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    // Not serialised origins at all.
    ("null", Some("GET"), None, None, Refuse(Refusal::Origin)),
    ("", Some("GET"), None, None, Refuse(Refusal::Origin)),
    (
        "https://WYN.app",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    (
        "https://wyn.app/",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    (
        "https://wyn.app ",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    (
        "https://wyn.app, https://evil.com",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    ("file://", Some("GET"), None, None, Refuse(Refusal::Origin)),
    (
        "https://user@wyn.app",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    (
        "https://WYN-X.vercel.app",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    (
        "https://wyn-*.vercel.app",
        Some("GET"),
        None,
        None,
        Refuse(Refusal::Origin),
    ),
    // Methods are case-sensitive, and only the listed ones pass.
    (
        "https://wyn.app",
        Some("post"),
        None,
        None,
        Refuse(Refusal::Method),
    ),
    (
        "https://wyn.app",
        Some("PATCH"),
        None,
        None,
        Refuse(Refusal::Method),
    ),
    (
        "https://wyn.app",
        Some("TRACE"),
        None,
        None,
        Refuse(Refusal::Method),
    ),
    (
        "https://wyn.app",
        Some("CONNECT"),
        None,
        None,
        Refuse(Refusal::Method),
    ),
    (
        "https://wyn.app",
        Some(""),
        None,
        None,
        Refuse(Refusal::Method),
    ),
    // Headers: every one must be allowed, the list well formed and bounded.
    (
        "https://wyn.app",
        Some("POST"),
        Some("x-secret"),
        None,
        Refuse(Refusal::Headers),
    ),
    (
        "https://wyn.app",
        Some("POST"),
        Some("content-type,x-secret"),
        None,
        Refuse(Refusal::Headers),
    ),
    (
        "https://wyn.app",
        Some("POST"),
        Some("content type"),
        None,
        Refuse(Refusal::Headers),
    ),
    (
        "https://wyn.app",
        Some("POST"),
        Some("cookie"),
        None,
        Refuse(Refusal::Headers),
    ),
    (
        "https://wyn.app",
        Some("POST"),
        Some("x-request-id;x"),
        None,
        Refuse(Refusal::Headers),
    ),
    // Private network access is off unless enabled.
    (
        "https://wyn.app",
        Some("GET"),
        None,
        Some("true"),
        Refuse(Refusal::PrivateNetwork),
    ),
    (
        "https://wyn.app",
        Some("GET"),
        None,
        Some("false"),
        Pass("https://wyn.app", None),
    ),
    // Actual requests: exactly the allowed origin echoed, or nothing.
    (
        "https://wyn.app",
        None,
        None,
        None,
        Actual(Some("https://wyn.app")),
    ),
    (
        "https://wyn-pr-42.vercel.app",
        None,
        None,
        None,
        Actual(Some("https://wyn-pr-42.vercel.app")),
    ),
    (
        "http://localhost:3000",
        None,
        None,
        None,
        Actual(Some("http://localhost:3000")),
    ),
    ("https://wyn.app.evil.com", None, None, None, Actual(None)),
    ("https://evilwyn.app", None, None, None, Actual(None)),
    ("null", None, None, None, Actual(None)),
    ("http://wyn.app", None, None, None, Actual(None)),
    ("https://wyn-a.b.vercel.app", None, None, None, Actual(None)),
    ("https://wyn.app:8443", None, None, None, Actual(None)),
];

const OPEN_ROWS: &[Row] = &[
    // Any origin, without credentials: `*`, never the echoed origin.
    (
        "https://anyone.example",
        Some("GET"),
        None,
        None,
        Pass("*", None),
    ),
    (
        "https://anyone.example",
        Some("POST"),
        Some("x-anything,content-type"),
        None,
        Pass("*", Some("x-anything, content-type")),
    ),
    // `*` never covers Authorization.
    (
        "https://anyone.example",
        Some("POST"),
        Some("authorization"),
        None,
        Refuse(Refusal::Headers),
    ),
    (
        "https://anyone.example",
        Some("POST"),
        Some("x-a,Authorization"),
        None,
        Refuse(Refusal::Headers),
    ),
    (
        "https://anyone.example",
        Some("PUT"),
        None,
        None,
        Refuse(Refusal::Method),
    ),
    (
        "https://anyone.example",
        Some("GET"),
        None,
        Some("true"),
        Pass("*", None),
    ),
    (
        "https://anyone.example",
        None,
        None,
        None,
        Actual(Some("*")),
    ),
    ("null", None, None, None, Actual(Some("*"))),
];

fn run(cors: &Cors, rows: &[Row]) -> usize {
    for (i, (origin, method, headers, pn, want)) in rows.iter().enumerate() {
        let ctx = format!("row {i}: {origin:?} {method:?} {headers:?} {pn:?}");
        match (method, want) {
            (Some(m), Pass(allow_origin, allow_headers)) => {
                match cors.preflight(origin, m, *headers, *pn) {
                    Preflight::Allowed(h) => {
                        assert_eq!(h.allow_origin, *allow_origin, "{ctx}");
                        assert_eq!(h.allow_headers.as_deref(), *allow_headers, "{ctx}");
                        assert_eq!(h.allow_methods, *m, "{ctx}");
                    }
                    other => panic!("{ctx}: {other:?}"),
                }
            }
            (Some(m), Refuse(why)) => assert_eq!(
                cors.preflight(origin, m, *headers, *pn),
                Preflight::Refused(*why),
                "{ctx}"
            ),
            (None, Actual(allow)) => {
                assert_eq!(cors.actual(Some(origin)).allow_origin, *allow, "{ctx}")
            }
            _ => panic!("{ctx}: malformed row"),
        }
    }
    rows.len()
}

#[test]
fn request_vectors() {
    let n = run(&wyn(), WYN_ROWS) + run(&open(), OPEN_ROWS);
    assert!(n >= 60, "only {n} vectors");
}

#[test]
fn allowed_preflight_headers() {
    let Preflight::Allowed(h) =
        wyn().preflight("https://wyn.app", "POST", Some("content-type"), None)
    else {
        panic!()
    };
    let pairs = h.pairs();
    assert!(pairs.contains(&("access-control-allow-credentials", "true")));
    assert!(pairs.contains(&("access-control-max-age", "7200")));
    assert!(pairs.contains(&("vary", PREFLIGHT_VARY)));
    assert!(
        !pairs
            .iter()
            .any(|(n, _)| *n == "access-control-allow-private-network")
    );
    let Preflight::Allowed(h) = open().preflight("https://x.example", "GET", None, Some("true"))
    else {
        panic!()
    };
    assert!(
        h.pairs()
            .contains(&("access-control-allow-private-network", "true"))
    );
    assert!(
        !h.pairs()
            .iter()
            .any(|(n, _)| *n == "access-control-allow-credentials")
    );
    assert!(h.pairs().contains(&("access-control-max-age", "0")));
}

#[test]
fn actual_headers_carry_credentials_and_exposures() {
    let cors = wyn();
    let h = cors.actual(Some("https://wyn.app"));
    assert_eq!(
        h,
        ActualHeaders {
            allow_origin: Some("https://wyn.app"),
            credentials: true,
            expose: Some("x-request-id, retry-after")
        }
    );
    assert_eq!(cors.actual(None), ActualHeaders::default());
    assert_eq!(
        cors.actual(Some("https://evil.example")),
        ActualHeaders::default()
    );
}

#[test]
fn hostile_header_lists_are_refused_with_bounded_work() {
    let cors = open();
    let commas = ",".repeat(1_000_000);
    assert_eq!(
        cors.preflight("https://x.example", "GET", Some(&commas), None),
        Preflight::Refused(Refusal::Headers)
    );
    let many = vec!["x-a"; MAX_REQUEST_HEADERS + 1].join(",");
    assert_eq!(
        cors.preflight("https://x.example", "GET", Some(&many), None),
        Preflight::Refused(Refusal::Headers)
    );
    let enough = vec!["x-a"; MAX_REQUEST_HEADERS].join(",");
    assert!(matches!(
        cors.preflight("https://x.example", "GET", Some(&enough), None),
        Preflight::Allowed(_)
    ));
    let long_origin = format!("https://{}.wyn.app", "a".repeat(1_000_000));
    assert_eq!(
        wyn().preflight(&long_origin, "GET", None, None),
        Preflight::Refused(Refusal::Origin)
    );
}

#[test]
fn coverage_follows_paths() {
    let cors = wyn();
    assert!(cors.covers("/api/venues"));
    assert!(cors.covers("/api"));
    assert!(!cors.covers("/venues/1"));
    assert!(open().covers("/anything"));
}

#[test]
fn vary_gains_origin_once() {
    assert_eq!(vary_with_origin(None).as_deref(), Some("Origin"));
    assert_eq!(vary_with_origin(Some("")).as_deref(), Some("Origin"));
    assert_eq!(
        vary_with_origin(Some("Accept-Encoding")).as_deref(),
        Some("Accept-Encoding, Origin")
    );
    assert_eq!(
        vary_with_origin(Some("RSC, Next-Router-State-Tree")).as_deref(),
        Some("RSC, Next-Router-State-Tree, Origin")
    );
    assert_eq!(vary_with_origin(Some("accept, origin")), None);
    assert_eq!(vary_with_origin(Some("*")), None);
    assert_eq!(
        vary_with_origin(Some("Origins")).as_deref(),
        Some("Origins, Origin")
    );
}
