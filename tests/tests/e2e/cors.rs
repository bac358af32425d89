//! CORS through the real worker: preflights answered at the edge, exact origins echoed, the
//! origin's own CORS headers removed, `Vary` kept, and the classic attacks refused.

use libtest_mimic::Trial;
use reqwest::Method;
use reqwest::blocking::{RequestBuilder, Response};

use crate::support::{client, header, problem};
use crate::{Outcome, ensure, stacks};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "cors::preflights_are_answered_at_the_edge",
            preflights_are_answered_at_the_edge,
        ),
        Trial::test(
            "cors::refused_preflights_carry_no_cors_headers",
            refused_preflights_carry_no_cors_headers,
        ),
        Trial::test(
            "cors::options_without_a_request_method_reaches_the_origin",
            options_without_a_request_method_reaches_the_origin,
        ),
        Trial::test(
            "cors::actual_requests_echo_exactly_the_allowed_origin",
            actual_requests_echo_exactly_the_allowed_origin,
        ),
        Trial::test(
            "cors::the_origins_cors_headers_are_replaced",
            the_origins_cors_headers_are_replaced,
        ),
        Trial::test(
            "cors::vary_is_added_to_not_replaced",
            vary_is_added_to_not_replaced,
        ),
        Trial::test(
            "cors::edge_errors_are_readable_by_allowed_pages",
            edge_errors_are_readable_by_allowed_pages,
        ),
        Trial::test(
            "cors::uncovered_routes_are_left_alone",
            uncovered_routes_are_left_alone,
        ),
    ]
}

fn edge() -> &'static str {
    &stacks().main.url
}

fn preflight(path: &str, origin: &str, method: &str) -> RequestBuilder {
    client()
        .request(Method::OPTIONS, format!("{}{path}", edge()))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("cf-connecting-ip", "192.0.2.200")
}

fn no_cors_headers(resp: &Response) -> bool {
    !resp
        .headers()
        .keys()
        .any(|k| k.as_str().starts_with("access-control-"))
}

fn preflights_are_answered_at_the_edge() -> Outcome {
    let resp = preflight("/api/chat", "https://wyn-git-feature-x.vercel.app", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-request-id",
        )
        .send()?;
    ensure!(resp.status() == 204, "status {}", resp.status());
    ensure!(
        !resp.headers().contains_key("x-origin-request-count"),
        "the preflight reached the origin"
    );
    for (name, want) in [
        (
            "access-control-allow-origin",
            "https://wyn-git-feature-x.vercel.app",
        ),
        ("access-control-allow-methods", "POST"),
        ("access-control-allow-headers", "content-type, x-request-id"),
        ("access-control-allow-credentials", "true"),
        ("access-control-max-age", "7200"),
    ] {
        ensure!(
            header(&resp, name) == want,
            "{name}: {:?}",
            header(&resp, name)
        );
    }
    ensure!(
        header(&resp, "vary").starts_with("Origin, Access-Control-Request-Method"),
        "{:?}",
        resp.headers()
    );
    // Never rate limited: far more preflights than any rule allows the chat.
    for _ in 0..40 {
        let resp = preflight("/api/chat", "https://wyn.app", "POST").send()?;
        ensure!(resp.status() == 204, "status {}", resp.status());
    }
    Ok(())
}

fn refused_preflights_carry_no_cors_headers() -> Outcome {
    let commas = ",".repeat(64 * 1024);
    let cases: Vec<(&str, &str, Option<&str>, Option<&str>)> = vec![
        ("https://wyn.app.evil.com", "POST", None, None),
        ("https://evilwyn.app", "POST", None, None),
        ("http://wyn.app", "POST", None, None),
        ("https://wyn.app:8443", "POST", None, None),
        ("null", "POST", None, None),
        ("https://wyn-a.b.vercel.app", "POST", None, None),
        ("https://wyn.app", "PATCH", None, None),
        ("https://wyn.app", "post", None, None),
        ("https://wyn.app", "POST", Some("x-not-allowed"), None),
        ("https://wyn.app", "POST", Some(commas.as_str()), None),
        ("https://wyn.app", "GET", None, Some("true")),
    ];
    for (origin, method, headers, private) in cases {
        let mut req = preflight("/api/venues", origin, method);
        if let Some(h) = headers {
            req = req.header("access-control-request-headers", h);
        }
        if let Some(p) = private {
            req = req.header("access-control-request-private-network", p);
        }
        let resp = req.send()?;
        ensure!(
            no_cors_headers(&resp),
            "{origin} {method}: {:?}",
            resp.headers()
        );
        ensure!(
            !resp.headers().contains_key("x-origin-request-count"),
            "{origin} {method}: reached the origin"
        );
        problem(resp, 403, "cors-refused")?;
    }
    Ok(())
}

fn options_without_a_request_method_reaches_the_origin() -> Outcome {
    let resp = client()
        .request(Method::OPTIONS, format!("{}/api/echo", edge()))
        .header("origin", "https://wyn.app")
        .send()?;
    ensure!(resp.status() == 200, "status {}", resp.status());
    ensure!(
        header(&resp, "access-control-allow-origin") == "https://wyn.app",
        "{:?}",
        resp.headers()
    );
    let echo: serde_json::Value = resp.json()?;
    ensure!(echo["method"] == "OPTIONS", "{echo}");
    Ok(())
}

fn actual_requests_echo_exactly_the_allowed_origin() -> Outcome {
    let get = |origin: &str| {
        client()
            .get(format!("{}/api/venues", edge()))
            .header("origin", origin)
            .send()
    };
    let resp = get("https://wyn.app")?;
    ensure!(resp.status() == 200, "status {}", resp.status());
    ensure!(
        header(&resp, "access-control-allow-origin") == "https://wyn.app",
        "{:?}",
        resp.headers()
    );
    ensure!(
        header(&resp, "access-control-allow-credentials") == "true",
        "{:?}",
        resp.headers()
    );
    ensure!(
        header(&resp, "access-control-expose-headers")
            == "x-request-id, retry-after, ratelimit, ratelimit-policy",
        "{:?}",
        resp.headers()
    );
    for evil in [
        "https://wyn.app.evil.com",
        "https://evilwyn.app",
        "http://wyn.app",
        "null",
        "https://wyn-a.b.vercel.app",
    ] {
        let resp = get(evil)?;
        ensure!(resp.status() == 200, "{evil}: {}", resp.status());
        ensure!(no_cors_headers(&resp), "{evil}: {:?}", resp.headers());
        ensure!(
            header(&resp, "vary").contains("Origin"),
            "{evil}: {:?}",
            resp.headers()
        );
    }
    Ok(())
}

fn the_origins_cors_headers_are_replaced() -> Outcome {
    let resp = client()
        .get(format!("{}/api/cors-leak", edge()))
        .header("origin", "https://evil.example")
        .send()?;
    ensure!(
        no_cors_headers(&resp),
        "the origin's CORS headers reached a disallowed page: {:?}",
        resp.headers()
    );
    let resp = client()
        .get(format!("{}/api/cors-leak", edge()))
        .header("origin", "https://wyn.app")
        .send()?;
    ensure!(
        header(&resp, "access-control-allow-origin") == "https://wyn.app",
        "{:?}",
        resp.headers()
    );
    ensure!(
        !header(&resp, "access-control-expose-headers").contains("x-internal"),
        "{:?}",
        resp.headers()
    );
    ensure!(
        !resp.headers().contains_key("access-control-allow-methods"),
        "{:?}",
        resp.headers()
    );
    Ok(())
}

fn vary_is_added_to_not_replaced() -> Outcome {
    let resp = client()
        .get(format!("{}/venues/12", edge()))
        .header("origin", "https://wyn.app")
        .send()?;
    ensure!(
        header(&resp, "vary") == "RSC, Next-Router-State-Tree, Next-Router-Prefetch, Origin",
        "{:?}",
        resp.headers()
    );
    let resp = client().get(format!("{}/api/cors-leak", edge())).send()?;
    ensure!(
        header(&resp, "vary") == "Accept-Encoding, Origin",
        "{:?}",
        resp.headers()
    );
    Ok(())
}

fn edge_errors_are_readable_by_allowed_pages() -> Outcome {
    let resp = client()
        .post(format!("{}/api/echo", edge()))
        .header("origin", "https://wyn.app")
        .body(vec![b'x'; 2_000_000])
        .send()?;
    ensure!(
        header(&resp, "access-control-allow-origin") == "https://wyn.app",
        "{:?}",
        resp.headers()
    );
    problem(resp, 413, "payload-too-large")?;
    Ok(())
}

fn uncovered_routes_are_left_alone() -> Outcome {
    let resp = client()
        .get(format!("{}/static/app.css", edge()))
        .header("origin", "https://wyn.app")
        .send()?;
    ensure!(resp.status() == 200, "status {}", resp.status());
    ensure!(no_cors_headers(&resp), "{:?}", resp.headers());
    ensure!(
        !header(&resp, "vary").contains("Origin"),
        "{:?}",
        resp.headers()
    );
    // A preflight there is refused: the route has no CORS.
    let resp = preflight("/static/app.css", "https://wyn.app", "GET").send()?;
    ensure!(no_cors_headers(&resp), "{:?}", resp.headers());
    problem(resp, 403, "cors-refused")?;
    Ok(())
}
