//! Rate limits through the real worker: budgets, headers, refusals, shadow rules, the global
//! limiter's Durable Objects, and what a client cannot do to dodge them.

use std::time::{Duration, Instant};

use libtest_mimic::Trial;
use reqwest::blocking::{RequestBuilder, Response};
use wyn_edge_shared::admin::RateLimitReport;

use crate::support::{client, header, problem};
use crate::{Outcome, TOKEN, ensure, stacks};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "rate_limit::chat_refuses_the_31st_and_recovers",
            chat_refuses_the_31st_and_recovers,
        ),
        Trial::test(
            "rate_limit::clients_have_separate_budgets",
            clients_have_separate_budgets,
        ),
        Trial::test(
            "rate_limit::spoofed_headers_change_nothing",
            spoofed_headers_change_nothing,
        ),
        Trial::test(
            "rate_limit::ipv6_clients_are_keyed_by_their_64",
            ipv6_clients_are_keyed_by_their_64,
        ),
        Trial::test(
            "rate_limit::shadow_rules_pass_and_count",
            shadow_rules_pass_and_count,
        ),
        Trial::test("rate_limit::header_keys", header_keys),
        Trial::test(
            "rate_limit::health_and_preflights_are_never_limited",
            health_and_preflights_are_never_limited,
        ),
        Trial::test(
            "rate_limit::admin_routes_have_their_own_rule",
            admin_routes_have_their_own_rule,
        ),
        Trial::test(
            "rate_limit::global_limits_hold_across_isolates",
            global_limits_hold_across_isolates,
        ),
        Trial::test(
            "rate_limit::an_undecidable_global_rule_follows_on_error",
            an_undecidable_global_rule_follows_on_error,
        ),
        Trial::test(
            "rate_limit::path_spellings_share_a_budget",
            path_spellings_share_a_budget,
        ),
    ]
}

fn chat(edge: &str, ip: &str) -> RequestBuilder {
    client()
        .post(format!("{edge}/api/chat?events=1&pause_ms=0"))
        .header("cf-connecting-ip", ip)
}

/// Spends a client's whole chat budget, returning the first refusal. From cold exactly 30 pass;
/// one more may, for each 2 s the 30 took (the budget refills while a slow machine sends them).
fn exhaust_chat(edge: &str, ip: &str) -> Result<Response, libtest_mimic::Failed> {
    let started = Instant::now();
    for i in 0..60u32 {
        let resp = chat(edge, ip).send()?;
        if resp.status() != 200 {
            let refills = started.elapsed().as_secs() / 2 + 1;
            ensure!(
                i >= 30 && u64::from(i) <= 30 + refills,
                "{ip}: {i} passed in {:?}",
                started.elapsed()
            );
            return Ok(resp);
        }
        ensure!(
            header(&resp, "ratelimit-policy") == r#""chat";q=30;w=60"#,
            "{:?}",
            resp.headers()
        );
        let remaining = header(&resp, "ratelimit");
        let r: u32 = remaining
            .strip_prefix(r#""chat";r="#)
            .and_then(|rest| rest.split(';').next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("RateLimit {remaining:?}"))?;
        let refills = started.elapsed().as_secs() as u32 / 2 + 1;
        ensure!(
            r <= 29u32.saturating_sub(i) + refills,
            "request {}: {remaining}",
            i + 1
        );
        resp.text()?;
    }
    Err(format!("{ip}: 60 chat requests passed").into())
}

fn tight(ip: &str) -> RequestBuilder {
    client()
        .get(format!("{}/api/echo/tight", stacks().main.url))
        .header("cf-connecting-ip", ip)
}

/// Spends a client's `tight` budget (2 per 10 minutes: nothing refills during a test).
fn exhaust_tight(ip: &str) -> Outcome {
    for i in 0..2 {
        let resp = tight(ip).send()?;
        ensure!(
            resp.status() == 200,
            "{ip}: request {} got {}",
            i + 1,
            resp.status()
        );
    }
    Ok(())
}

fn refused(resp: Response, rule: &str) -> Result<u64, libtest_mimic::Failed> {
    ensure!(
        !resp.headers().contains_key("x-origin-request-count"),
        "a refused request reached the origin"
    );
    let retry: u64 = header(&resp, "retry-after")
        .parse()
        .map_err(|_| format!("no Retry-After: {:?}", resp.headers()))?;
    let limit = header(&resp, "ratelimit");
    ensure!(
        limit.starts_with(&format!(r#""{rule}";r=0;t="#)),
        "RateLimit {limit:?}"
    );
    let body = problem(resp, 429, "quota-exceeded")?;
    ensure!(
        body["rule"] == rule && body["retry_after"] == retry,
        "{body}"
    );
    ensure!(retry >= 1, "Retry-After {retry}");
    Ok(retry)
}

fn chat_refuses_the_31st_and_recovers() -> Outcome {
    let edge = &stacks().main.url;
    let ip = "198.51.100.31";
    let retry = refused(exhaust_chat(edge, ip)?, "chat")?;
    // 30 a minute is one every 2 s: the true wait is at most that, rounded up.
    ensure!(retry <= 2, "Retry-After {retry}");
    std::thread::sleep(Duration::from_secs(retry));
    let resp = chat(edge, ip).send()?;
    ensure!(resp.status() == 200, "after Retry-After: {}", resp.status());
    Ok(())
}

fn clients_have_separate_budgets() -> Outcome {
    exhaust_tight("198.51.100.40")?;
    refused(tight("198.51.100.40").send()?, "tight")?;
    let resp = tight("198.51.100.41").send()?;
    ensure!(
        resp.status() == 200,
        "another client was refused: {}",
        resp.status()
    );
    Ok(())
}

fn spoofed_headers_change_nothing() -> Outcome {
    let ip = "198.51.100.50";
    exhaust_tight(ip)?;
    for (name, value) in [
        ("x-forwarded-for", "203.0.113.1"),
        ("x-real-ip", "203.0.113.2"),
        ("true-client-ip", "203.0.113.3"),
        ("forwarded", "for=203.0.113.4"),
    ] {
        refused(tight(ip).header(name, value).send()?, "tight")?;
    }
    Ok(())
}

fn ipv6_clients_are_keyed_by_their_64() -> Outcome {
    for i in 0..2u32 {
        let resp = tight(&format!("2001:db8:77:1::{:x}", i + 1)).send()?;
        ensure!(resp.status() == 200, "request {}: {}", i + 1, resp.status());
    }
    refused(tight("2001:db8:77:1:ffff::9").send()?, "tight")?;
    let resp = tight("2001:db8:77:2::1").send()?;
    ensure!(
        resp.status() == 200,
        "another /64 was refused: {}",
        resp.status()
    );
    // IPv4-mapped IPv6 is the IPv4 client.
    exhaust_tight("198.51.100.60")?;
    refused(tight("::ffff:198.51.100.60").send()?, "tight")?;
    Ok(())
}

fn report(edge: &str) -> Result<RateLimitReport, libtest_mimic::Failed> {
    let resp = client()
        .get(format!("{edge}/__edge/rate-limits"))
        .bearer_auth(TOKEN)
        .header("cf-connecting-ip", "192.0.2.250")
        .send()?;
    ensure!(resp.status() == 200, "report: {}", resp.status());
    Ok(resp.json()?)
}

fn shadow_rules_pass_and_count() -> Outcome {
    let edge = &stacks().main.url;
    for _ in 0..5 {
        let resp = client()
            .get(format!("{edge}/api/echo/shadow/x"))
            .header("cf-connecting-ip", "198.51.100.70")
            .send()?;
        ensure!(
            resp.status() == 200,
            "a shadow rule refused: {}",
            resp.status()
        );
        // The headers speak for the enforced rule, never the shadow one.
        ensure!(
            header(&resp, "ratelimit-policy") == r#""api";q=600;w=60"#,
            "{:?}",
            resp.headers()
        );
    }
    let rule = report(edge)?
        .rules
        .into_iter()
        .find(|r| r.name == "shadowed")
        .ok_or("no shadowed rule")?;
    ensure!(rule.mode == "shadow", "{rule:?}");
    ensure!(
        rule.allowed == 2 && rule.shadow_refused == 3 && rule.refused == 0,
        "{rule:?}"
    );
    Ok(())
}

fn header_keys() -> Outcome {
    let edge = &stacks().main.url;
    let get = |key: Option<&str>| {
        let req = client()
            .get(format!("{edge}/api/echo/keyed"))
            .header("cf-connecting-ip", "198.51.100.80");
        match key {
            Some(k) => req.header("x-api-key", k),
            None => req,
        }
        .send()
    };
    for _ in 0..2 {
        ensure!(
            get(Some("key-one"))?.status() == 200,
            "key-one refused early"
        );
    }
    refused(get(Some("key-one"))?, "keyed")?;
    ensure!(
        get(Some("key-two"))?.status() == 200,
        "key-two shares key-one's budget"
    );
    // No key: the client's address has its own budget.
    ensure!(get(None)?.status() == 200, "a keyless request was refused");
    Ok(())
}

fn health_and_preflights_are_never_limited() -> Outcome {
    let edge = &stacks().main.url;
    let ip = "198.51.100.90";
    exhaust_tight(ip)?;
    refused(tight(ip).send()?, "tight")?;
    for _ in 0..5 {
        let resp = client()
            .request(reqwest::Method::OPTIONS, format!("{edge}/api/echo/tight"))
            .header("cf-connecting-ip", ip)
            .header("origin", "https://wyn.app")
            .header("access-control-request-method", "GET")
            .send()?;
        ensure!(
            resp.status() == 204,
            "a preflight was limited: {}",
            resp.status()
        );
    }
    for _ in 0..100 {
        let resp = client()
            .get(format!("{edge}/__edge/health"))
            .header("cf-connecting-ip", ip)
            .send()?;
        ensure!(resp.status() == 200, "health: {}", resp.status());
    }
    Ok(())
}

fn admin_routes_have_their_own_rule() -> Outcome {
    let edge = &stacks().main.url;
    let ip = "198.51.100.100";
    let get = || {
        client()
            .get(format!("{edge}/__edge/rate-limits"))
            .bearer_auth(TOKEN)
            .header("cf-connecting-ip", ip)
            .send()
    };
    // 60 a minute: 60 pass from cold, plus one for each second the 60 took.
    let started = Instant::now();
    let mut passed = 0u64;
    let refusal = loop {
        let resp = get()?;
        if resp.status() != 200 {
            break resp;
        }
        passed += 1;
        ensure!(passed <= 120, "120 admin requests passed");
    };
    let refills = started.elapsed().as_secs() + 1;
    ensure!(
        (60..=60 + refills).contains(&passed),
        "{passed} admin requests passed in {:?}",
        started.elapsed()
    );
    refused(refusal, "admin")?;
    let refused_at = Instant::now();
    // Guessing tokens is limited too (unless a second went by), and proxied routes are not affected.
    let resp = client()
        .get(format!("{edge}/__edge/x"))
        .bearer_auth("guess")
        .header("cf-connecting-ip", ip)
        .send()?;
    ensure!(
        resp.status() == 429 || refused_at.elapsed() >= Duration::from_secs(1),
        "token guessing is not limited: {}",
        resp.status()
    );
    let resp = client()
        .get(format!("{edge}/api/echo"))
        .header("cf-connecting-ip", ip)
        .send()?;
    ensure!(resp.status() == 200, "{}", resp.status());
    Ok(())
}

fn global_limits_hold_across_isolates() -> Outcome {
    let twins = &stacks().twins;
    let urls = [twins.url.clone(), twins.twin_url.clone().ok_or("no twin")?];
    // `pair`: 3 a minute, global. Both isolates, in parallel, 12 requests.
    let handles: Vec<_> = (0..12)
        .map(|i| {
            let url = format!("{}/api/echo/pair", urls[i % 2]);
            std::thread::spawn(move || {
                client()
                    .get(url)
                    .header("cf-connecting-ip", "198.51.100.110")
                    .send()
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for h in handles {
        statuses.push(h.join().map_err(|_| "a request thread panicked")??);
    }
    let passed = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    ensure!(
        (passed, refused) == (3, 9),
        "two isolates let {passed} through and refused {refused}: {statuses:?}"
    );
    Ok(())
}

fn an_undecidable_global_rule_follows_on_error() -> Outcome {
    let edge = &stacks().raw.url;
    // on_error = "deny": the chat quota is money; without its limiter, no chat.
    let resp = client()
        .post(format!("{edge}/api/chat"))
        .header("cf-connecting-ip", "198.51.100.120")
        .send()?;
    ensure!(header(&resp, "retry-after") == "1", "{:?}", resp.headers());
    let body = problem(resp, 503, "rate-limiter-unavailable")?;
    ensure!(
        body["detail"].as_str().is_some_and(|d| d.contains("chat")),
        "{body}"
    );
    // on_error = "allow": the request goes through, and the failure is counted.
    let resp = client()
        .get(format!("{edge}/api/echo/lenient"))
        .header("cf-connecting-ip", "198.51.100.120")
        .send()?;
    ensure!(resp.status() == 200, "{}", resp.status());
    let rule = report(edge)?
        .rules
        .into_iter()
        .find(|r| r.name == "lenient")
        .ok_or("no lenient rule")?;
    ensure!(rule.errors >= 1 && rule.refused == 0, "{rule:?}");
    Ok(())
}

fn path_spellings_share_a_budget() -> Outcome {
    let edge = &stacks().main.url;
    let ip = "198.51.100.130";
    exhaust_tight(ip)?;
    for path in [
        "/api//echo/tight",
        "/api/echo/tight/",
        "/API/echo/tight",
        "/api/%65cho/tight",
    ] {
        let resp = client()
            .get(format!("{edge}{path}"))
            .header("cf-connecting-ip", ip)
            .send()?;
        ensure!(
            resp.status() == 429,
            "{path} dodged the limit: {}",
            resp.status()
        );
    }
    Ok(())
}
