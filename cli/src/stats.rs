//! `wynctl stats`: the edge's figures per group, against the service levels, with an exit code
//! that says whether an alert threshold is crossed.

use anyhow::Context;
use wyn_edge_shared::admin::API_VERSION;
use wyn_edge_shared::config::slo::SloConfig;
use wyn_edge_shared::metrics::{GroupSummary, MetricsAnswer};

/// How a figure stands against its service level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Within target.
    Ok,
    /// Past the target, under the alert.
    Warn,
    /// Past the alert threshold.
    Alert,
}

fn level(value: Option<f64>, (target, alert): (f64, f64)) -> Level {
    match value {
        Some(v) if v > alert => Level::Alert,
        Some(v) if v > target => Level::Warn,
        _ => Level::Ok,
    }
}

/// How a group's p95 latency and 5xx rate stand against the service levels (a route group with
/// its own latency levels is judged on those).
pub fn judge(g: &GroupSummary, slo: &SloConfig) -> (Level, Level) {
    let (target, alert) = slo.p95_for(g.group.get("route").map(String::as_str));
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    (
        level(g.p95, (ms(target), ms(alert))),
        level(Some(g.rate_5xx), (slo.error_target, slo.error_alert)),
    )
}

fn paint(text: String, l: Level, color: bool) -> String {
    if !color {
        return text;
    }
    let code = match l {
        Level::Ok => "32",
        Level::Warn => "33",
        Level::Alert => "31",
    };
    format!("\u{1b}[{code}m{text}\u{1b}[0m")
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

/// The table people read.
pub fn render(answer: &MetricsAnswer, slo: &SloConfig, color: bool) -> String {
    let name = |g: &GroupSummary| g.group.values().cloned().collect::<Vec<_>>().join("/");
    // Wide enough for the longest group (a version id is 36 characters).
    let width = answer
        .groups
        .iter()
        .map(|g| name(g).len())
        .max()
        .unwrap_or(0)
        .max(22);
    let mut out = format!(
        "{:<width$} {:>8} {:>8} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8} {:>8} {:>9} {:>10}\n",
        "group",
        "requests",
        "req/s",
        "4xx %",
        "5xx %",
        "429 %",
        "hit %",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "origin p95"
    );
    for g in &answer.groups {
        let (lat, err) = judge(g, slo);
        out.push_str(&format!(
            "{:<width$} {:>8} {:>8.2} {:>7.2} {} {:>7.2} {:>7} {:>8} {} {:>8} {:>9} {:>10}\n",
            name(g),
            g.requests,
            g.rps,
            g.rate_4xx * 100.0,
            paint(format!("{:>7.2}", g.rate_5xx * 100.0), err, color),
            g.rate_429 * 100.0,
            g.cache_hit_ratio
                .map_or("-".into(), |h| format!("{:.1}", h * 100.0)),
            ms(g.p50),
            paint(format!("{:>8}", ms(g.p95)), lat, color),
            ms(g.p99),
            ms(g.max),
            ms(g.origin_p95),
        ));
    }
    out
}

/// Asks the edge's admin API for its figures (`query` as in [`wyn_edge_shared::metrics::Query`]).
/// Returns the answer and its JSON text as the edge sent it.
pub async fn fetch(
    client: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    query: &str,
) -> anyhow::Result<(MetricsAnswer, String)> {
    let token = token.context("the metrics need the admin token: --token or WYN_ADMIN_TOKEN")?;
    let url = format!("{}/__edge/metrics?{query}", base.trim_end_matches('/'));
    let resp = client
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("cannot reach the edge at {url}"))?;
    let status = resp.status();
    let text = resp.text().await?;
    anyhow::ensure!(status.is_success(), "{url} answered {status}: {text}");
    let answer: MetricsAnswer = serde_json::from_str(&text)
        .with_context(|| format!("{url} answered something that is not metrics"))?;
    if answer.api_version != API_VERSION {
        eprintln!(
            "wynctl: warning: the edge speaks admin API {}, this wynctl {API_VERSION}",
            answer.api_version
        );
    }
    Ok((answer, text))
}

/// The worst level of any group.
pub fn worst(answer: &MetricsAnswer, slo: &SloConfig) -> Level {
    answer
        .groups
        .iter()
        .map(|g| {
            let (a, b) = judge(g, slo);
            a.max(b)
        })
        .max()
        .unwrap_or(Level::Ok)
}

/// What `wynctl stats` shows and how.
pub struct Options<'a> {
    /// The admin API query.
    pub query: String,
    /// The service levels.
    pub slo: &'a SloConfig,
    /// JSON (the edge's [`MetricsAnswer`], one document per line when watching).
    pub json: bool,
    /// Redraw every this often until interrupted (or `iterations` draws).
    pub watch: Option<std::time::Duration>,
    /// Stop watching after this many draws.
    pub iterations: Option<u64>,
}

/// Fetches and shows the figures (again and again when watching); exit code 0 within targets or
/// warnings, 1 when an alert threshold is crossed (in the last draw).
pub async fn run(
    client: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    opts: &Options<'_>,
) -> anyhow::Result<u8> {
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let color = std::env::var_os("NO_COLOR").is_none() && tty;
    let mut draws = 0u64;
    loop {
        let (answer, text) = fetch(client, base, token, &opts.query).await?;
        let level = worst(&answer, opts.slo);
        draws += 1;
        if opts.json {
            // One document per line, so a watcher's output is JSON lines.
            let compact: serde_json::Value = serde_json::from_str(&text)?;
            println!("{compact}");
        } else {
            let mut screen = String::new();
            if opts.watch.is_some() {
                if tty {
                    // Home and clear: redraw in place.
                    screen.push_str("\u{1b}[H\u{1b}[2J");
                }
                screen.push_str(&format!(
                    "{base}  {}  (every {}s; Ctrl-C stops)\n",
                    opts.query,
                    opts.watch.unwrap_or_default().as_secs()
                ));
            }
            screen.push_str(&render(&answer, opts.slo, color));
            if answer.dropped > 0 {
                screen.push_str(&format!(
                    "({} requests were not recorded: an isolate held too many cells)\n",
                    answer.dropped
                ));
            }
            print!("{screen}");
            if !tty && opts.watch.is_some() {
                println!();
            }
        }
        std::io::Write::flush(&mut std::io::stdout())?;
        let code = u8::from(level == Level::Alert);
        let Some(every) = opts.watch else {
            return Ok(code);
        };
        if opts.iterations.is_some_and(|n| draws >= n) {
            return Ok(code);
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = tokio::signal::ctrl_c() => return Ok(code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wyn_edge_shared::metrics::{Cell, Key, Query, Snapshot};

    fn answer() -> MetricsAnswer {
        let mut s = Snapshot::default();
        for (route, ms, status) in [
            ("api", 120.0, "2xx"),
            ("chat", 7_000.0, "2xx"),
            ("venues", 2_500.0, "5xx"),
        ] {
            let mut c = Cell::default();
            c.record(ms, None, 0, status == "5xx");
            let key = Key {
                minute: 10,
                route: route.into(),
                method: "read".into(),
                status: status.into(),
                cache: "miss".into(),
                rate_limit: "pass".into(),
                version: "v1".into(),
            };
            s.add(key, c);
        }
        s.summarize(&Query::parse("window=5m").unwrap(), 10)
    }

    #[test]
    fn levels_follow_the_service_levels() {
        let a = answer();
        let slo = SloConfig::default();
        let by = |r: &str| {
            judge(
                a.groups.iter().find(|g| g.group["route"] == r).unwrap(),
                &slo,
            )
        };
        assert_eq!(by("api"), (Level::Ok, Level::Ok));
        assert_eq!(
            by("chat"),
            (Level::Warn, Level::Ok),
            "chat has its own latency targets"
        );
        assert_eq!(by("venues"), (Level::Alert, Level::Alert));
    }

    #[test]
    fn long_groups_widen_the_first_column() {
        let mut s = Snapshot::default();
        let mut c = Cell::default();
        c.record(12.0, Some(3.0), 0, false);
        let key = Key {
            minute: 10,
            route: "api".into(),
            method: "read".into(),
            status: "2xx".into(),
            cache: "miss".into(),
            rate_limit: "pass".into(),
            version: "355a41a1-27a2-4144-9bb4-444e955cbe8d".into(),
        };
        s.add(key, c);
        let answer = s.summarize(
            &Query::parse("window=5m&group_by=route,version").unwrap(),
            10,
        );
        let text = render(&answer, &SloConfig::default(), false);
        let widths: Vec<usize> = text.lines().map(str::len).collect();
        assert_eq!(widths.len(), 2, "{text}");
        assert_eq!(widths[0], widths[1], "the columns line up:\n{text}");
    }

    #[test]
    fn the_table_has_a_row_per_group_and_no_color_when_asked() {
        let text = render(&answer(), &SloConfig::default(), false);
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.lines().nth(1).unwrap().starts_with("api "), "{text}");
        assert!(!text.contains('\u{1b}'));
        assert!(render(&answer(), &SloConfig::default(), true).contains("\u{1b}[31m"));
    }
}
