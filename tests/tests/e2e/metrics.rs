//! Metrics through the real worker: a known mix of fast, slow and failing requests, counted
//! exactly, with percentiles no higher than what the client saw, readable only with the token.

use std::time::{Duration, Instant};

use libtest_mimic::Trial;
use wyn_edge_shared::metrics::{GroupSummary, MetricsAnswer};

use crate::support::{client, header, problem};
use crate::{Outcome, TOKEN, ensure, stacks};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "metrics::a_known_mix_is_counted_exactly",
            a_known_mix_is_counted_exactly,
        ),
        Trial::test(
            "metrics::server_timing_and_timing_allow_origin",
            server_timing_and_timing_allow_origin,
        ),
        Trial::test("metrics::survive_a_restart", survive_a_restart),
    ]
}

fn edge() -> &'static str {
    &stacks().main.url
}

fn timed(path: &str) -> Result<(u16, Duration), libtest_mimic::Failed> {
    let started = Instant::now();
    let resp = client()
        .get(format!("{}{path}", edge()))
        .header("cf-connecting-ip", "192.0.2.180")
        .send()?;
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    resp.bytes()?;
    Ok((status, elapsed))
}

fn group<'a>(
    answer: &'a MetricsAnswer,
    route: &str,
) -> Result<&'a GroupSummary, libtest_mimic::Failed> {
    answer
        .groups
        .iter()
        .find(|g| g.group.get("route").map(String::as_str) == Some(route))
        .ok_or_else(|| format!("no {route} group: {answer:?}").into())
}

fn a_known_mix_is_counted_exactly() -> Outcome {
    let mut slowest_fast = Duration::ZERO;
    let mut slowest_slow = Duration::ZERO;
    for _ in 0..20 {
        let (status, t) = timed("/api/echo/metrics-fast")?;
        ensure!(status == 200, "{status}");
        slowest_fast = slowest_fast.max(t);
    }
    for _ in 0..5 {
        let (status, t) = timed("/api/echo/metrics-slow?sleep_ms=300")?;
        ensure!(status == 200, "{status}");
        slowest_slow = slowest_slow.max(t);
    }
    for _ in 0..4 {
        let (status, _) = timed("/api/echo/metrics-err?status=503")?;
        ensure!(status == 503, "{status}");
    }
    let url = format!("{}/__edge/metrics?window=15m&group_by=route", edge());
    // Nobody learns anything without the token.
    let resp = client()
        .get(&url)
        .header("cf-connecting-ip", "192.0.2.181")
        .send()?;
    problem(resp, 401, "unauthorized")?;
    let answer: MetricsAnswer = client()
        .get(&url)
        .bearer_auth(TOKEN)
        .header("cf-connecting-ip", "192.0.2.181")
        .send()?
        .json()?;
    let (fast, slow, err) = (
        group(&answer, "m-fast")?,
        group(&answer, "m-slow")?,
        group(&answer, "m-err")?,
    );
    ensure!(
        (fast.requests, slow.requests, err.requests) == (20, 5, 4),
        "counts {} {} {}",
        fast.requests,
        slow.requests,
        err.requests
    );
    ensure!(
        err.rate_5xx == 1.0 && fast.rate_5xx == 0.0,
        "error rates {} {}",
        err.rate_5xx,
        fast.rate_5xx
    );
    // The edge's figures cannot exceed what the client saw (1 % sketch error allowed), and the
    // routes order the same way by latency.
    let (fast_max, slow_p50) = (
        fast.max.ok_or("no fast max")?,
        slow.p50.ok_or("no slow p50")?,
    );
    ensure!(
        fast_max <= slowest_fast.as_secs_f64() * 1000.0 * 1.01,
        "edge fast max {fast_max} ms, client saw at most {slowest_fast:?}"
    );
    ensure!(
        slow.max.unwrap_or(f64::MAX) <= slowest_slow.as_secs_f64() * 1000.0 * 1.01,
        "edge slow max {:?}, client {slowest_slow:?}",
        slow.max
    );
    ensure!(
        slow_p50 >= 290.0 && slow_p50 > fast.p50.unwrap_or(f64::MAX),
        "slow p50 {slow_p50}, fast p50 {:?}",
        fast.p50
    );
    ensure!(
        slow.origin_p95.is_some_and(|o| o >= 290.0),
        "origin p95 {:?}",
        slow.origin_p95
    );
    // Prometheus text says the same.
    let text = client()
        .get(format!(
            "{}/__edge/metrics/prometheus?window=15m&group_by=route",
            edge()
        ))
        .bearer_auth(TOKEN)
        .header("cf-connecting-ip", "192.0.2.181")
        .send()?
        .text()?;
    ensure!(
        text.contains("wyn_edge_requests_total{route=\"m-fast\"} 20\n"),
        "{text}"
    );
    ensure!(text.ends_with("# EOF\n"), "{text}");
    let resp = client()
        .get(format!("{}/__edge/metrics?window=forever", edge()))
        .bearer_auth(TOKEN)
        .send()?;
    problem(resp, 400, "bad-request")?;
    Ok(())
}

fn server_timing_and_timing_allow_origin() -> Outcome {
    let resp = client()
        .get(format!("{}/api/echo/metrics-timing", edge()))
        .header("origin", "https://wyn.app")
        .send()?;
    let timing = header(&resp, "server-timing");
    ensure!(
        timing.starts_with("edge;dur=")
            && timing.contains("origin;dur=")
            && timing.contains("cache;desc="),
        "{timing}"
    );
    ensure!(
        header(&resp, "timing-allow-origin") == "https://wyn.app",
        "{:?}",
        resp.headers()
    );
    let resp = client()
        .get(format!("{}/api/echo/metrics-timing", edge()))
        .header("origin", "https://evil.example")
        .send()?;
    ensure!(
        !resp.headers().contains_key("timing-allow-origin"),
        "{:?}",
        resp.headers()
    );
    Ok(())
}

fn survive_a_restart() -> Outcome {
    let mut edge = stacks().restart.lock().map_err(|_| "lock")?;
    for _ in 0..6 {
        let resp = client()
            .get(format!("{}/api/echo/restart-probe", edge.url))
            .send()?;
        ensure!(resp.status() == 200, "{}", resp.status());
        resp.bytes()?;
    }
    // flush_after = 1: every request flushes in waitUntil; give the last one time to land.
    std::thread::sleep(Duration::from_millis(1_500));
    edge.restart()?;
    let url = format!("{}/__edge/metrics?window=15m&route=restart", edge.url);
    let answer: MetricsAnswer = client().get(&url).bearer_auth(TOKEN).send()?.json()?;
    let restart = group(&answer, "restart")?;
    ensure!(
        restart.requests == 6,
        "after a restart the aggregator holds {} requests, not 6",
        restart.requests
    );
    Ok(())
}
