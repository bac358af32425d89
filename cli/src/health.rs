//! `wynctl health`: the edge's `/__edge/health`, as a table or JSON, with an exit code scripts
//! can act on.

use anyhow::Context;
use wyn_edge_shared::health::{Check, HealthReport, Status};

/// Fetches the report; unreachable or unreadable is an error (exit 2).
pub async fn fetch(client: &reqwest::Client, base: &str) -> anyhow::Result<HealthReport> {
    let url = format!("{}/__edge/health", base.trim_end_matches('/'));
    let resp = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("cannot reach the edge at {url}"))?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .with_context(|| format!("reading the answer of {url}"))?;
    serde_json::from_str(&text).with_context(|| {
        format!("{url} answered {status} with something that is not a health report")
    })
}

/// Prints the report and returns the exit code: 0 healthy, 1 degraded, 2 unhealthy.
pub async fn run(client: &reqwest::Client, base: &str, json: bool) -> anyhow::Result<u8> {
    let report = fetch(client, base).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report, base));
    }
    Ok(report.status.exit_code() as u8)
}

fn word(status: Status) -> &'static str {
    match status {
        Status::Healthy => "healthy",
        Status::Degraded => "degraded",
        Status::Unhealthy => "unhealthy",
    }
}

/// The report as a small table.
pub fn render(report: &HealthReport, base: &str) -> String {
    let row = |name: &str, check: &Check| {
        format!("  {name:<8} {:<10} {}\n", word(check.status), check.detail)
    };
    format!(
        "edge     {base}\nstatus   {}\nversion  {}\nchecks\n{}{}",
        word(report.status),
        report.version,
        row("config", &report.checks.config),
        row("origin", &report.checks.origin)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_check() {
        let r = HealthReport::new(
            "1.2.3",
            Check::warn("invalid: EDGE.x: bad"),
            Check::pass("200 in 4 ms"),
        );
        let text = render(&r, "http://127.0.0.1:8787");
        assert!(text.contains("status   degraded\n"), "{text}");
        assert!(
            text.contains("  config   degraded   invalid: EDGE.x: bad\n"),
            "{text}"
        );
        assert!(
            text.contains("  origin   healthy    200 in 4 ms\n"),
            "{text}"
        );
        assert_eq!(r.status.exit_code(), 1);
    }
}
