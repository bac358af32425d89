//! `/__edge/health`, the admin routes' authentication, and a config that does not validate.

use libtest_mimic::Trial;

use crate::support::{client, header, json, problem};
use crate::{Outcome, TOKEN, ensure, stacks};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("health::healthy_edge", healthy_edge),
        Trial::test("health::only_get_and_head", only_get_and_head),
        Trial::test(
            "health::admin_routes_need_the_token",
            admin_routes_need_the_token,
        ),
        Trial::test(
            "health::broken_config_degrades_but_serves",
            broken_config_degrades_but_serves,
        ),
        Trial::test(
            "health::probes_are_reused_under_a_flood",
            probes_are_reused_under_a_flood,
        ),
        Trial::test("health::dead_origin_is_unhealthy", dead_origin_is_unhealthy),
    ]
}

fn healthy_edge() -> Outcome {
    let resp = client()
        .get(format!("{}/__edge/health", stacks().main.url))
        .send()?;
    ensure!(resp.status() == 200, "status {}", resp.status());
    let cache = header(&resp, "cache-control");
    ensure!(cache == "no-store", "cache-control {cache:?}");
    let body: wyn_edge_shared::health::HealthReport = resp.json()?;
    ensure!(
        body.status == wyn_edge_shared::health::Status::Healthy,
        "{body:?}"
    );
    ensure!(!body.version.is_empty(), "no version");
    ensure!(body.checks.config.detail == "valid", "{body:?}");
    ensure!(body.checks.origin.detail.starts_with("200 in "), "{body:?}");
    Ok(())
}

fn only_get_and_head() -> Outcome {
    let head = client()
        .head(format!("{}/__edge/health", stacks().main.url))
        .send()?;
    ensure!(head.status() == 200, "HEAD: {}", head.status());
    let resp = client()
        .post(format!("{}/__edge/health", stacks().main.url))
        .send()?;
    ensure!(
        resp.headers()
            .get("allow")
            .is_some_and(|v| v == "GET, HEAD"),
        "{:?}",
        resp.headers()
    );
    problem(resp, 405, "method-not-allowed")?;
    Ok(())
}

fn admin_routes_need_the_token() -> Outcome {
    let url = format!("{}/__edge/no-such-route", stacks().main.url);
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic ZTJlOnRva2Vu"),
        Some(TOKEN),
    ] {
        let mut req = client().get(&url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send()?;
        ensure!(
            resp.headers().contains_key("www-authenticate"),
            "{auth:?}: no WWW-Authenticate"
        );
        let body = problem(resp, 401, "unauthorized")?;
        ensure!(
            !body.to_string().contains("no-such-route"),
            "a 401 tells nothing about the route: {body}"
        );
    }
    // With the token, an unknown route is a plain 404, and it never reached the origin.
    let resp = client().get(&url).bearer_auth(TOKEN).send()?;
    ensure!(
        !resp.headers().contains_key("x-origin-request-count"),
        "an admin route reached the origin"
    );
    problem(resp, 404, "not-found")?;
    Ok(())
}

fn broken_config_degrades_but_serves() -> Outcome {
    let edge = &stacks().broken.url;
    let resp = client().get(format!("{edge}/__edge/health")).send()?;
    ensure!(resp.status() == 503, "status {}", resp.status());
    let body: wyn_edge_shared::health::HealthReport = resp.json()?;
    ensure!(
        body.status == wyn_edge_shared::health::Status::Degraded,
        "{body:?}"
    );
    let detail = &body.checks.config.detail;
    ensure!(
        detail.contains(
            r#"EDGE.origin_timeout: expected a duration like "60s" or "5m", found "sixty""#
        ),
        "the error does not name the field: {detail}"
    );
    ensure!(
        body.checks.origin.status == wyn_edge_shared::health::Status::Healthy,
        "{body:?}"
    );
    // Still a working proxy.
    let (_, venues) = json(client().get(format!("{edge}/api/venues")))?;
    ensure!(venues.as_array().is_some_and(|v| !v.is_empty()), "{venues}");
    Ok(())
}

fn origin_requests(origin: &str) -> anyhow::Result<u64> {
    let resp = client().get(format!("{origin}/api/health")).send()?;
    let count = resp
        .headers()
        .get("x-origin-request-count")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    count.ok_or_else(|| anyhow::anyhow!("no x-origin-request-count"))
}

fn probes_are_reused_under_a_flood() -> Outcome {
    // The broken stack has its own origin, and health.cache_for = 5s (defaults, as its config is
    // rejected); nothing else runs health checks against it during this test.
    let edge = stacks().broken.url.clone();
    let origin = stacks().broken_origin.url.clone();
    let before = origin_requests(&origin)?;
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let edge = edge.clone();
            std::thread::spawn(move || -> anyhow::Result<()> {
                for _ in 0..10 {
                    let resp = client().get(format!("{edge}/__edge/health")).send()?;
                    anyhow::ensure!(resp.status() == 503, "status {}", resp.status());
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "a flood thread panicked")??;
    }
    let after = origin_requests(&origin)?;
    // 80 health checks; each isolate probes once per 5 s window (our own count request adds 1).
    let probes = after - before - 1;
    ensure!(probes <= 4, "80 health checks made {probes} origin probes");
    Ok(())
}

fn dead_origin_is_unhealthy() -> Outcome {
    let resp = client()
        .get(format!("{}/__edge/health", stacks().dead.url))
        .send()?;
    ensure!(resp.status() == 503, "status {}", resp.status());
    let body: wyn_edge_shared::health::HealthReport = resp.json()?;
    ensure!(
        body.status == wyn_edge_shared::health::Status::Unhealthy,
        "{body:?}"
    );
    ensure!(
        body.checks.origin.detail == "connection to the origin failed",
        "{body:?}"
    );
    // The committed wrangler.toml config is what the dead stack runs, and it validates.
    ensure!(body.checks.config.detail == "valid", "{body:?}");
    Ok(())
}
