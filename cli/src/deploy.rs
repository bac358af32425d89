//! `wynctl deploy`: a progressive deploy with automatic rollback.
//!
//! Config check, build, `wrangler versions upload`, then for each step a traffic split
//! (`new@10% old@90%`) watched through the edge's own metrics per version; the gates
//! ([`crate::gate`]) promote, roll back, or wait. Ctrl-C asks whether to roll back. Every decision
//! is printed with its figures (JSON lines with `--json`).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::gate::{self, Action, Gates, RouteFigures, Verdict};
use crate::stats;
use crate::wrangler::{Traffic, VersionId, Wrangler};

/// How to deploy.
#[derive(Debug, Clone)]
pub struct Options {
    /// Shares of traffic the new version takes, in order, ending at 100.
    pub steps: Vec<f64>,
    /// How long each step is watched before a promotion.
    pub interval: Duration,
    /// How often the metrics are read during a step.
    pub poll: Duration,
    /// A step still inconclusive after this many intervals rolls back.
    pub patience: u32,
    /// Fewer requests on the new version is inconclusive.
    pub min_requests: u64,
    /// Shell command that builds the worker; `None` skips the build.
    pub build: Option<String>,
    /// Bundle only (`wrangler deploy --dry-run`) and print the sizes.
    pub dry_run: bool,
    /// Do not ask before deploying.
    pub yes: bool,
    /// Message recorded with the version and the deployments.
    pub message: Option<String>,
    /// JSON lines instead of text.
    pub json: bool,
}

/// Parses `--steps 10,50,100`: increasing shares above 0, the last one 100.
pub fn parse_steps(text: &str) -> Result<Vec<f64>, String> {
    let steps = text
        .split(',')
        .map(|s| {
            s.trim()
                .trim_end_matches('%')
                .parse::<f64>()
                .map_err(|_| format!("expected percentages like 10,50,100, found {s:?}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if steps.iter().any(|s| !(*s > 0.0 && *s <= 100.0)) {
        return Err(format!(
            "each step must be above 0 and at most 100, found {text:?}"
        ));
    }
    if steps.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!("steps must increase, found {text:?}"));
    }
    if steps.last() != Some(&100.0) {
        return Err(format!("the last step must be 100, found {text:?}"));
    }
    Ok(steps)
}

/// Consecutive polls that may fail to read the figures before a rollback.
const MAX_UNREAD: u32 = 3;

/// Where the deploy's decisions go: text lines or JSON lines on stdout, and a live line on a
/// terminal.
struct Log {
    json: bool,
    bar: ProgressBar,
}

/// The time of day (UTC) for the log lines.
fn clock() -> String {
    // 2026-11-27T10:00:00Z -> 10:00:00
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    stamp.get(11..19).unwrap_or(&stamp).to_owned()
}

impl Log {
    fn new(json: bool) -> Self {
        let bar = if std::io::stderr().is_terminal() && !json {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        } else {
            ProgressBar::hidden()
        };
        Self { json, bar }
    }

    /// A decision or a step: printed above the live line.
    fn event(&self, event: &str, text: &str, fields: serde_json::Value) {
        if self.json {
            let mut v = json!({"time": clock(), "event": event});
            if let (Some(map), serde_json::Value::Object(extra)) = (v.as_object_mut(), fields) {
                map.extend(extra);
            }
            println!("{v}");
        } else if self.bar.message().is_empty() {
            // The live line has not been drawn yet: nothing to move out of the way.
            println!("{} {event:<9} {text}", clock());
        } else {
            self.bar
                .suspend(|| println!("{} {event:<9} {text}", clock()));
        }
        let _ = std::io::stdout().flush();
    }

    /// The live line (a terminal), or a plain progress line each poll (otherwise).
    fn progress(&self, text: &str) {
        if self.bar.is_hidden() {
            if !self.json {
                println!("{}   watching  {text}", clock());
                let _ = std::io::stdout().flush();
            }
        } else {
            // Ticking from the first figures on, not over a confirmation prompt.
            self.bar.enable_steady_tick(Duration::from_millis(200));
            self.bar.set_message(text.to_owned());
        }
    }
}

fn describe(figures: &[RouteFigures]) -> String {
    let requests: u64 = figures.iter().map(|f| f.requests).sum();
    let errors: u64 = figures.iter().map(|f| f.errors).sum();
    if requests == 0 {
        return "no requests".into();
    }
    let worst_p95 = figures
        .iter()
        .filter_map(|f| f.p95_ms.map(|p| (p, &f.route)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    format!(
        "{requests} req, 5xx {:.1} %{}",
        errors as f64 * 100.0 / requests as f64,
        worst_p95.map_or(String::new(), |(p, r)| format!(", p95 {p:.0} ms ({r})"))
    )
}

fn split(new: &str, old: &str, share: f64) -> Vec<Traffic> {
    if share >= 100.0 {
        vec![Traffic {
            version_id: new.to_owned(),
            percentage: 100.0,
        }]
    } else {
        vec![
            Traffic {
                version_id: new.to_owned(),
                percentage: share,
            },
            Traffic {
                version_id: old.to_owned(),
                percentage: 100.0 - share,
            },
        ]
    }
}

/// Reads a yes/no answer; anything but "n"/"no" (end of input included) is a yes.
async fn ask_yes(question: &str) -> bool {
    eprint!("{question} [Y/n] ");
    let _ = std::io::stderr().flush();
    let answer = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await
    .ok()
    .and_then(Result::ok)
    .unwrap_or_default();
    !matches!(answer.trim().to_ascii_lowercase().as_str(), "n" | "no")
}

fn bundle_sizes(dir: &Path) -> anyhow::Result<Vec<(String, u64, u64)>> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        // What is uploaded: the modules, not wrangler's README or source maps.
        if !path.is_file() || path.extension().is_some_and(|e| e == "map" || e == "md") {
            continue;
        }
        let bytes = std::fs::read(&path)?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&bytes)?;
        let gzip = gz.finish()?.len() as u64;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        rows.push((name, bytes.len() as u64, gzip));
    }
    rows.sort();
    Ok(rows)
}

/// The edge, for the metrics the gates read.
pub struct Edge<'a> {
    /// HTTP client.
    pub client: &'a reqwest::Client,
    /// Base URL.
    pub url: &'a str,
    /// Admin token.
    pub token: Option<&'a str>,
}

/// Runs the deploy; exit 0 deployed (or dry run done), 1 rolled back or refused, 2 could not run,
/// 130 interrupted.
pub async fn run(
    edge: &Edge<'_>,
    config: &Path,
    env: Option<&str>,
    slo_from: impl FnOnce() -> anyhow::Result<Option<wyn_edge_shared::config::EdgeConfig>>,
    opts: &Options,
) -> anyhow::Result<u8> {
    let log = Log::new(opts.json);
    let place = env.unwrap_or("top level");
    // 1. The config, checked by the worker's own code.
    let Some(edge_config) = slo_from()? else {
        log.event(
            "refused",
            &format!(
                "{} [{place}] does not validate: see `wynctl config check`",
                config.display()
            ),
            json!({"reason": "invalid config"}),
        );
        return Ok(1);
    };
    log.event(
        "checked",
        &format!("{} [{place}] is valid", config.display()),
        json!({}),
    );
    // 2. The build.
    if let Some(cmd) = &opts.build {
        log.event("building", cmd, json!({"command": cmd}));
        let status = std::process::Command::new("sh")
            .args(["-c", cmd])
            .stdout(std::process::Stdio::inherit())
            .status()
            .with_context(|| format!("running the build: {cmd}"))?;
        anyhow::ensure!(status.success(), "the build failed ({status}): {cmd}");
    }
    let wrangler = Wrangler::new(config, env)?;
    let scratch = PathBuf::from("target/wynctl");
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    // 3. A dry run stops at the bundle.
    if opts.dry_run {
        let outdir = scratch.join("dry-run");
        let _ = std::fs::remove_dir_all(&outdir);
        wrangler.dry_run(&outdir)?;
        let rows = bundle_sizes(&outdir)?;
        let total: (u64, u64) = rows
            .iter()
            .fold((0, 0), |(r, g), (_, raw, gz)| (r + raw, g + gz));
        if opts.json {
            let files: Vec<_> = rows
                .iter()
                .map(|(n, r, g)| json!({"file": n, "bytes": r, "gzip_bytes": g}))
                .collect();
            println!(
                "{}",
                json!({"event": "dry-run", "outdir": outdir, "files": files, "bytes": total.0, "gzip_bytes": total.1})
            );
        } else {
            println!(
                "dry run: wrangler bundled the worker into {} (nothing deployed)",
                outdir.display()
            );
            for (name, raw, gz) in &rows {
                println!("  {name:<64} {raw:>10} bytes {gz:>10} gzip");
            }
            println!(
                "  {:<64} {:>10} bytes {:>10} gzip",
                "total", total.0, total.1
            );
        }
        return Ok(0);
    }
    // 4. Preconditions: the edge's metrics answer, and one version serves all traffic.
    let query = |window_min: u64| format!("window={window_min}m&group_by=version,route");
    stats::fetch(edge.client, edge.url, edge.token, &query(5))
        .await
        .context("the deploy gates read the edge's metrics, which must answer first")?;
    let current = wrangler.status()?;
    let Some(old) = current.sole_version().map(str::to_owned) else {
        bail!(
            "a split deployment is live ({}): finish it or `wynctl rollback` first",
            current.split()
        );
    };
    if !opts.yes {
        if !std::io::stdin().is_terminal() {
            bail!("no terminal to confirm on: pass --yes to deploy");
        }
        let steps: Vec<String> = opts.steps.iter().map(|s| format!("{s}%")).collect();
        if !ask_yes(&format!(
            "Deploy a new version ({place}) in steps {}, replacing {old}?",
            steps.join(", ")
        ))
        .await
        {
            return Ok(1);
        }
    }
    // 5. The new version.
    let message = opts
        .message
        .clone()
        .unwrap_or_else(|| "wynctl deploy".into());
    let new: VersionId = wrangler.upload(&message, &scratch)?;
    log.event(
        "uploaded",
        &format!("version {new} (serving no traffic yet; old: {old})"),
        json!({"new_version": new, "old_version": old}),
    );
    let gates = Gates::new(edge_config.slo.clone(), opts.min_requests);
    let started = Instant::now();
    // One listener for the whole deploy: a Ctrl-C pressed while wrangler runs is not lost.
    let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
    let total = opts.steps.len();
    let rollout = Rollout {
        wrangler: &wrangler,
        log: &log,
        old: &old,
        new: &new,
        total,
    };
    for (i, &share) in opts.steps.iter().enumerate() {
        let step = i + 1;
        if let Err(e) = wrangler.deploy(
            &split(&new, &old, share),
            &format!("{message} (step {step}/{total}: {share}%)"),
        ) {
            // Past the first step the new version serves traffic: put the old one back.
            if step > 1 {
                rollout.fail(step, &format!("could not be deployed: {e:#}"), None)?;
            }
            return Err(e);
        }
        log.event(
            "step",
            &if share >= 100.0 {
                format!("{step}/{total}: new {new}@100%")
            } else {
                format!("{step}/{total}: new {new}@{share}%, old {old}@{}%", 100.0 - share)
            },
            json!({"step": step, "of": total, "new_version": new, "new_share": share, "old_version": old}),
        );
        if share >= 100.0 {
            break;
        }
        // 6. Watch the step.
        let step_started = Instant::now();
        let mut unread = 0;
        loop {
            tokio::select! {
                () = tokio::time::sleep(opts.poll) => {}
                _ = &mut interrupted => {
                    log.bar.finish_and_clear();
                    if ask_yes(&format!("\nInterrupted at step {step}/{total} (new@{share}%). Roll back to {old}?")).await {
                        rollout.rollback("interrupted (Ctrl-C)")?;
                    } else {
                        log.event("left", &format!("new {new}@{share}%, old {old}@{}%: finish with `wrangler versions deploy {new}@100%` or `wynctl rollback {old}`", 100.0 - share), json!({"new_version": new, "new_share": share, "old_version": old}));
                    }
                    return Ok(130);
                }
            }
            let window = started.elapsed().as_secs() / 60 + 2;
            let read = async {
                let (answer, _) =
                    stats::fetch(edge.client, edge.url, edge.token, &query(window)).await?;
                anyhow::Ok((answer, wrangler.status()?.share_of(&new)))
            };
            let elapsed = step_started.elapsed();
            let (answer, now_share) = match read.await {
                Ok(read) => {
                    unread = 0;
                    read
                }
                // A blip is waited out; figures unreadable three times running roll back, as
                // a version nobody can watch is not promoted.
                Err(e) => {
                    unread += 1;
                    log.event(
                        "unread",
                        &format!("the figures could not be read ({unread}/{MAX_UNREAD}): {e:#}"),
                        json!({"reason": format!("{e:#}")}),
                    );
                    if unread < MAX_UNREAD {
                        continue;
                    }
                    let why =
                        format!("the figures could not be read {MAX_UNREAD} times running: {e:#}");
                    rollout.fail(step, &why, None)?;
                    return Ok(1);
                }
            };
            let new_figures = gate::figures_of(&answer, &new);
            let old_figures = gate::figures_of(&answer, &old);
            let verdict = gate::judge(&new_figures, &old_figures, now_share, &gates);
            let action = gate::decide(&verdict, elapsed, opts.interval, opts.patience);
            let left = opts.interval.saturating_sub(elapsed).as_secs();
            let state = match &verdict {
                Verdict::Pass(_) => "passing".to_owned(),
                Verdict::Fail(why) => format!("failing: {why}"),
                Verdict::Inconclusive(why) => format!("inconclusive: {why}"),
                Verdict::Vanished => "vanished".to_owned(),
            };
            log.progress(&format!(
                "step {step}/{total} {share}% | new: {} | old: {} | {state} | {left}s left",
                describe(&new_figures),
                describe(&old_figures)
            ));
            match action {
                Action::Wait => {}
                Action::Promote(figures) => {
                    log.event(
                        "promote",
                        &format!("step {step}/{total} passed after {}s: {figures}", elapsed.as_secs()),
                        json!({"step": step, "figures": figures, "new": describe(&new_figures), "old": describe(&old_figures)}),
                    );
                    break;
                }
                Action::Rollback(why) => {
                    let figures = (describe(&new_figures), describe(&old_figures));
                    rollout.fail(step, &why, Some(figures))?;
                    return Ok(1);
                }
                Action::Abandon(why) => {
                    log.bar.finish_and_clear();
                    log.event("abandoned", &why, json!({"reason": why}));
                    return Ok(2);
                }
            }
        }
    }
    log.bar.finish_and_clear();
    log.event(
        "deployed",
        &format!(
            "version {new} serves 100% (took {}s)",
            started.elapsed().as_secs()
        ),
        json!({"new_version": new, "old_version": old, "seconds": started.elapsed().as_secs()}),
    );
    Ok(0)
}

/// The versions of one deploy and how to put the old one back.
struct Rollout<'a> {
    wrangler: &'a Wrangler,
    log: &'a Log,
    old: &'a str,
    new: &'a str,
    total: usize,
}

impl Rollout<'_> {
    /// A failed step: logged with its figures (new, old) when there are any, then rolled back.
    fn fail(
        &self,
        step: usize,
        why: &str,
        figures: Option<(String, String)>,
    ) -> anyhow::Result<()> {
        self.log.bar.finish_and_clear();
        let total = self.total;
        let (text, fields) = match figures {
            Some((new, old)) => (
                format!("step {step}/{total}: {why} (new: {new}; old: {old})"),
                json!({"step": step, "reason": why, "new": new, "old": old}),
            ),
            None => (
                format!("step {step}/{total}: {why}"),
                json!({"step": step, "reason": why}),
            ),
        };
        self.log.event("failed", &text, fields);
        self.rollback(why)
    }

    /// Puts the old version back on all traffic.
    fn rollback(&self, why: &str) -> anyhow::Result<()> {
        let (old, new) = (self.old, self.new);
        self.wrangler
            .deploy(
                &split(old, new, 100.0),
                &format!("wynctl: automatic rollback: {why}"),
            )
            .with_context(|| {
                format!("ROLLING BACK FAILED: put {old} back with `wrangler rollback {old}`")
            })?;
        self.log.event(
            "rollback",
            &format!("old {old} serves 100% again; new {new} serves nothing"),
            json!({"old_version": old, "new_version": new, "reason": why}),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_increase_to_100() {
        assert_eq!(parse_steps("10,50,100"), Ok(vec![10.0, 50.0, 100.0]));
        assert_eq!(parse_steps("5%, 100%"), Ok(vec![5.0, 100.0]));
        assert_eq!(parse_steps("100"), Ok(vec![100.0]));
        for bad in [
            "",
            "10,50",
            "50,10,100",
            "0,100",
            "10,150",
            "ten,100",
            "NaN,100",
        ] {
            assert!(parse_steps(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn splits_add_up_to_100() {
        let s = split("new", "old", 10.0);
        assert_eq!(s.iter().map(|t| t.percentage).sum::<f64>(), 100.0);
        assert_eq!(s[1].version_id, "old");
        assert_eq!(split("new", "old", 100.0).len(), 1);
    }

    #[test]
    fn figures_read_in_one_line() {
        assert_eq!(describe(&[]), "no requests");
        let f = [
            RouteFigures {
                route: "api".into(),
                requests: 90,
                errors: 9,
                p95_ms: Some(12.0),
            },
            RouteFigures {
                route: "chat".into(),
                requests: 10,
                errors: 1,
                p95_ms: Some(900.0),
            },
        ];
        assert_eq!(describe(&f), "100 req, 5xx 10.0 %, p95 900 ms (chat)");
    }
}
