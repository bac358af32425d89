//! wynctl against the real edges: exit codes scripts act on, and `--json` that parses into the
//! shared types.

use std::process::Command;

use libtest_mimic::Trial;
use wyn_edge_shared::health::HealthReport;
use wyn_edge_shared::metrics::MetricsAnswer;

use crate::support::root;
use crate::{Outcome, TOKEN, ensure, stacks};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("cli::health_exit_codes", health_exit_codes),
        Trial::test(
            "cli::stats_json_parses_into_the_shared_types",
            stats_json_parses_into_the_shared_types,
        ),
        Trial::test("cli::purge", purge),
    ]
}

fn wynctl(args: &[&str]) -> Result<(i32, String, String), libtest_mimic::Failed> {
    let bin = root().join("target/debug/wynctl");
    ensure!(
        bin.exists(),
        "{} is missing: `cargo build -p wynctl` (make e2e does)",
        bin.display()
    );
    let out = Command::new(bin)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("WYN_ADMIN_TOKEN")
        .output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn health_exit_codes() -> Outcome {
    let s = stacks();
    let (code, out, err) = wynctl(&["--url", &s.main.url, "health", "--json"])?;
    ensure!(code == 0, "healthy edge: exit {code}: {err}");
    let report: HealthReport = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
    ensure!(report.checks.config.detail == "valid", "{report:?}");
    let (code, out, _) = wynctl(&["--url", &s.broken.url, "health"])?;
    ensure!(
        code == 1 && out.contains("status   degraded"),
        "broken config: exit {code}: {out}"
    );
    let (code, _, _) = wynctl(&["--url", &s.dead.url, "health"])?;
    ensure!(code == 2, "dead origin: exit {code}");
    let (code, _, err) = wynctl(&["--url", "http://127.0.0.1:9", "--timeout", "2", "health"])?;
    ensure!(
        code == 2 && err.contains("cannot reach the edge"),
        "unreachable: exit {code}: {err}"
    );
    Ok(())
}

fn stats_json_parses_into_the_shared_types() -> Outcome {
    let s = stacks();
    // `wynctl --url MAIN --token TOKEN stats ARGS...`
    let stats = |args: &[&str]| {
        let mut all = vec!["--url", s.main.url.as_str(), "--token", TOKEN, "stats"];
        all.extend_from_slice(args);
        wynctl(&all)
    };
    let (code, out, err) = stats(&["--json", "--window", "15m", "--by", "route,status"])?;
    ensure!(code == 0 || code == 1, "exit {code}: {err}");
    let answer: MetricsAnswer = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
    ensure!(
        answer.window_secs == 900 && !answer.groups.is_empty(),
        "{answer:?}"
    );
    ensure!(
        answer
            .groups
            .iter()
            .all(|g| g.group.contains_key("route") && g.group.contains_key("status")),
        "{answer:?}"
    );
    let (code, out, _) = stats(&[])?;
    ensure!(
        (code == 0 || code == 1) && out.starts_with("group "),
        "table: exit {code}: {out}"
    );
    // The exit code follows the alert thresholds, which flags override.
    let (code, _, err) = stats(&["--p95-alert-ms", "0.001"])?;
    ensure!(code == 1, "every p95 is past 1 us: exit {code}: {err}");
    let (code, _, err) = stats(&["--p95-alert-ms", "600000", "--error-alert", "1"])?;
    ensure!(code == 0, "nothing is past these: exit {code}: {err}");
    // --watch redraws; with --json each draw is one JSON line.
    let (code, out, err) = stats(&["--json", "--watch", "1", "--iterations", "2"])?;
    ensure!(code == 0 || code == 1, "exit {code}: {err}");
    let draws: Vec<MetricsAnswer> = out
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{e}: {out}"))?;
    ensure!(draws.len() == 2, "{out}");
    let (code, _, err) = wynctl(&["--url", &s.main.url, "stats"])?;
    ensure!(
        code == 2 && err.contains("admin token"),
        "no token: exit {code}: {err}"
    );
    Ok(())
}

fn purge() -> Outcome {
    let s = stacks();
    let (code, out, err) = wynctl(&[
        "--url",
        &s.main.url,
        "--token",
        TOKEN,
        "purge",
        "--prefix",
        "/static/",
    ])?;
    ensure!(
        code == 0 && out.contains("\"prefix\":\"/static/\""),
        "exit {code}: {out} {err}"
    );
    let (code, _, err) = wynctl(&[
        "--url",
        &s.main.url,
        "--token",
        TOKEN,
        "purge",
        "--prefix",
        "static",
    ])?;
    ensure!(
        code == 2 && err.contains("refused the purge (400"),
        "bad prefix: exit {code}: {err}"
    );
    let (code, _, err) = wynctl(&["--url", &s.main.url, "purge", "--all"])?;
    ensure!(
        code == 2 && err.contains("admin token"),
        "no token: exit {code}: {err}"
    );
    let (code, _, err) = wynctl(&["--url", &s.main.url, "--token", TOKEN, "purge"])?;
    ensure!(
        code == 2 && err.contains("say what to purge"),
        "nothing to purge: exit {code}: {err}"
    );
    Ok(())
}
