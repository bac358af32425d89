//! `wynctl deploy`, `rollback` and `deployments` end to end. Cloudflare's API is out of reach, so
//! a stand-in `wrangler` (tests/src/bin/wrangler-standin.rs) on `PATH` keeps the versions and
//! deployments; everything else is real: two isolates of the built worker in workerd, one per
//! version (each reporting its own version id, sharing the metrics Durable Objects), and traffic
//! split between them as the stand-in's latest deployment says, so the gates read the edge's real
//! metrics per version.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use libtest_mimic::Trial;
use serde_json::{Value, json};

use crate::support::{DeadPort, Edge, Workerd, root, signal};
use crate::{Outcome, TOKEN, ensure, stacks};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "deploy::a_healthy_version_is_promoted_step_by_step",
            a_healthy_version_is_promoted,
        ),
        Trial::test(
            "deploy::a_failing_version_is_rolled_back_automatically",
            a_failing_version_is_rolled_back,
        ),
        Trial::test(
            "deploy::a_step_wrangler_cannot_deploy_is_rolled_back",
            a_step_wrangler_cannot_deploy_is_rolled_back,
        ),
        Trial::test(
            "deploy::ctrl_c_asks_and_rolls_back",
            ctrl_c_asks_and_rolls_back,
        ),
        Trial::test("deploy::rollback_and_deployments", rollback_and_deployments),
        Trial::test(
            "deploy::dry_run_bundles_with_the_real_wrangler",
            dry_run_bundles_with_the_real_wrangler,
        ),
    ]
}

/// A worker with an old version serving all traffic and a new one about to be uploaded.
struct Rollout {
    edge: Edge,
    dir: PathBuf,
    old: String,
    new: String,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    traffic: Option<std::thread::JoinHandle<()>>,
}

fn metrics_config(version: &str) -> String {
    json!({
        "version": version,
        "metrics": {"flush_after": 10, "flush_every": "1s", "shards": 1},
    })
    .to_string()
}

impl Rollout {
    /// `new_origin`: where the new version sends requests (a dead port makes it fail).
    fn start(name: &'static str, new_origin: Option<String>) -> anyhow::Result<Self> {
        let old = format!("{name}-old-0000-4000-8000-000000000001");
        let new = format!("{name}-new-0000-4000-8000-000000000002");
        let origin = stacks().main_origin.url.clone();
        let mut twin_vars = vec![("EDGE".to_owned(), metrics_config(&new))];
        if let Some(o) = new_origin {
            twin_vars.push(("ORIGIN_URL".to_owned(), o));
        }
        let edge = Edge::start_workerd_with(
            name,
            &[
                ("ORIGIN_URL", &origin),
                ("EDGE", &metrics_config(&old)),
                ("EDGE_ADMIN_TOKEN", TOKEN),
            ],
            Workerd {
                twin: true,
                twin_vars,
                ..Workerd::default()
            },
        )?;
        let dir = root().join("target/e2e").join(format!("{name}-wrangler"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        std::os::unix::fs::symlink(
            root().join("target/debug/wrangler-standin"),
            dir.join("wrangler"),
        )?;
        let state = json!({
            "versions": [{"id": old, "number": 1, "metadata": {"created_on": "2026-11-20T10:00:00Z", "source": "wrangler", "author_email": "ops@wyn.app"}, "annotations": {"workers/message": "the old version"}}],
            "deployments": [{"id": "d0", "source": "wrangler", "author_email": "ops@wyn.app", "created_on": "2026-11-20T10:00:01Z", "annotations": {}, "versions": [{"version_id": old, "percentage": 100}]}],
            "upcoming": [new],
        });
        std::fs::write(dir.join("state.json"), state.to_string())?;
        Ok(Self {
            edge,
            dir,
            old,
            new,
            stop: Arc::new(AtomicBool::new(false)),
            sent: Arc::new(AtomicU64::new(0)),
            traffic: None,
        })
    }

    fn state(&self) -> Value {
        read_state(&self.dir)
    }

    /// The split of each deployment, oldest first: `[[(version, share)...]...]`.
    fn splits(&self) -> Vec<Vec<(String, f64)>> {
        self.state()["deployments"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                d["versions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        (
                            t["version_id"].as_str().unwrap_or("").to_owned(),
                            t["percentage"].as_f64().unwrap_or(-1.0),
                        )
                    })
                    .collect()
            })
            .collect()
    }

    /// Sends about 100 requests a second (for at most 90 s), each to the version the latest
    /// deployment's split gives it, as Cloudflare would.
    fn start_traffic(&mut self) {
        let (stop, sent, dir) = (self.stop.clone(), self.sent.clone(), self.dir.clone());
        let old_url = self.edge.url.clone();
        let new_url = self.edge.twin_url.clone().unwrap_or_default();
        let new = self.new.clone();
        self.traffic = Some(std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            let started = Instant::now();
            let mut share = 0.0;
            let mut n: u64 = 0;
            while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(90) {
                if n.is_multiple_of(20) {
                    share = latest_share(&read_state(&dir), &new);
                }
                let base = if ((n % 100) as f64) < share {
                    &new_url
                } else {
                    &old_url
                };
                let _ = client
                    .get(format!("{base}/api/echo?deploy={n}"))
                    .header(
                        "cf-connecting-ip",
                        format!("10.9.{}.{}", n / 250 % 250, n % 250),
                    )
                    .send();
                n += 1;
                sent.store(n, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(8));
            }
        }));
    }

    /// Runs wynctl with the stand-in wrangler first on PATH.
    fn wynctl(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(root().join("target/debug/wynctl"));
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![self.dir.clone()];
        paths.extend(std::env::split_paths(&path));
        cmd.current_dir(root())
            .args(["--url", &self.edge.url, "--token", TOKEN])
            .args(args)
            .env("PATH", std::env::join_paths(paths).unwrap())
            .env("WRANGLER_STANDIN_STATE", self.dir.join("state.json"))
            .env("NO_COLOR", "1")
            .env_remove("WYN_WRANGLER")
            .env_remove("WYN_ADMIN_TOKEN");
        cmd
    }
}

impl Drop for Rollout {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.traffic.take() {
            let _ = t.join();
        }
    }
}

fn read_state(dir: &Path) -> Value {
    std::fs::read_to_string(dir.join("state.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

fn latest_share(state: &Value, version: &str) -> f64 {
    state["deployments"]
        .as_array()
        .and_then(|d| d.last())
        .and_then(|d| d["versions"].as_array())
        .into_iter()
        .flatten()
        .filter(|t| t["version_id"] == version)
        .filter_map(|t| t["percentage"].as_f64())
        .sum()
}

const DEPLOY_ARGS: [&str; 13] = [
    "deploy",
    "--steps",
    "10,50,100",
    "--interval",
    "4s",
    "--poll",
    "1s",
    "--min-requests",
    "20",
    "--patience",
    "4",
    "--no-build",
    "--yes",
];

fn output(cmd: &mut Command) -> anyhow::Result<(i32, String, String)> {
    let out = cmd.stdin(Stdio::null()).output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn a_healthy_version_is_promoted() -> Outcome {
    let mut r = Rollout::start("deploy-ok", None)?;
    r.start_traffic();
    let (code, out, err) = output(r.wynctl(&DEPLOY_ARGS).arg("-m").arg("menu search"))?;
    ensure!(code == 0, "exit {code}\n{out}\n{err}");
    let splits = r.splits();
    let (old, new) = (r.old.clone(), r.new.clone());
    let want = vec![
        vec![(old.clone(), 100.0)],
        vec![(new.clone(), 10.0), (old.clone(), 90.0)],
        vec![(new.clone(), 50.0), (old.clone(), 50.0)],
        vec![(new.clone(), 100.0)],
    ];
    ensure!(splits == want, "deployments {splits:?}\n{out}");
    let promotions: Vec<&str> = out.lines().filter(|l| l.contains(" promote ")).collect();
    ensure!(promotions.len() == 2, "two promotions expected:\n{out}");
    // Each decision is logged with its figures.
    ensure!(
        promotions
            .iter()
            .all(|l| l.contains("requests, 5xx 0.00 %") && l.contains("(old 0.00 %)")),
        "{out}"
    );
    ensure!(out.contains(&format!("version {new} serves 100%")), "{out}");
    ensure!(!out.contains("rollback"), "{out}");
    // The upload carried the message; the version id came from wrangler's output file.
    let state = r.state();
    ensure!(
        state["versions"][1]["annotations"]["workers/message"] == "menu search",
        "{state}"
    );
    let calls = state["calls"].to_string();
    ensure!(calls.contains("\"upload\""), "{calls}");
    Ok(())
}

fn a_failing_version_is_rolled_back() -> Outcome {
    let dead = DeadPort::hold()?;
    let mut r = Rollout::start("deploy-bad", Some(dead.url()))?;
    r.start_traffic();
    let started = Instant::now();
    let (code, out, err) = output(r.wynctl(&DEPLOY_ARGS).arg("--json"))?;
    ensure!(code == 1, "exit {code}\n{out}\n{err}");
    let events: Vec<Value> = out
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--json prints JSON lines: {e}\n{out}"))?;
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    ensure!(
        names == ["checked", "uploaded", "step", "failed", "rollback"],
        "{names:?}\n{out}"
    );
    let failed = &events[3];
    ensure!(failed["step"] == 1, "{failed}");
    let reason = failed["reason"].as_str().unwrap_or("");
    ensure!(
        reason.contains("5xx") || reason.contains("failed"),
        "{failed}"
    );
    ensure!(
        r.splits().last() == Some(&vec![(r.old.clone(), 100.0)]),
        "{:?}",
        r.splits()
    );
    ensure!(
        !r.splits().iter().any(|s| s.iter().any(|(_, p)| *p == 50.0)),
        "never promoted: {:?}",
        r.splits()
    );
    // The failure is caught without waiting for the whole interval times the patience.
    ensure!(
        started.elapsed() < Duration::from_secs(16),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

fn a_step_wrangler_cannot_deploy_is_rolled_back() -> Outcome {
    let mut r = Rollout::start("deploy-api", None)?;
    r.start_traffic();
    // The second `versions deploy` (the 50 % step) fails as the API would.
    let (code, out, err) = output(
        r.wynctl(&DEPLOY_ARGS)
            .env("WRANGLER_STANDIN_FAIL", "versions deploy#2"),
    )?;
    ensure!(code == 2, "exit {code}\n{out}\n{err}");
    ensure!(
        err.contains("Cloudflare API failed"),
        "wrangler's own words: {err}"
    );
    ensure!(out.contains(" rollback "), "{out}");
    let (old, new) = (r.old.clone(), r.new.clone());
    let want = vec![
        vec![(old.clone(), 100.0)],
        vec![(new, 10.0), (old.clone(), 90.0)],
        vec![(old, 100.0)],
    ];
    ensure!(r.splits() == want, "{:?}\n{out}", r.splits());
    Ok(())
}

fn ctrl_c_asks_and_rolls_back() -> Outcome {
    let mut r = Rollout::start("deploy-int", None)?;
    r.start_traffic();
    let mut args = DEPLOY_ARGS.to_vec();
    args[4] = "60s"; // a long step: the test interrupts it
    let mut child = r
        .wynctl(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut out = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !out.contains(" step ") && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    ensure!(out.contains(" step "), "no step started:\n{out}");
    // Let the first poll start, then interrupt.
    std::thread::sleep(Duration::from_millis(1_500));
    signal(child.id(), libc::SIGINT)?;
    child.stdin.take().ok_or("no stdin")?.write_all(b"y\n")?;
    let status = child.wait()?;
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
        out.push_str(&line);
        out.push('\n');
    }
    ensure!(status.code() == Some(130), "{status}\n{out}");
    ensure!(out.contains(" rollback "), "{out}");
    ensure!(
        r.splits().last() == Some(&vec![(r.old.clone(), 100.0)]),
        "{:?}",
        r.splits()
    );
    Ok(())
}

fn rollback_and_deployments() -> Outcome {
    let r = Rollout::start("deploy-list", None)?;
    // Upload and deploy the new version by hand (as wrangler would), then roll it back.
    let run = |args: &[&str]| -> anyhow::Result<(i32, String, String)> {
        let mut cmd = Command::new(r.dir.join("wrangler"));
        cmd.args(args)
            .env("WRANGLER_STANDIN_STATE", r.dir.join("state.json"));
        output(&mut cmd)
    };
    let (code, _, err) = run(&["versions", "upload"])?;
    ensure!(code == 0, "{err}");
    let (code, _, err) = run(&["versions", "deploy", &format!("{}@100%", r.new), "--yes"])?;
    ensure!(code == 0, "{err}");
    let (code, out, err) = output(&mut r.wynctl(&["deployments"]))?;
    ensure!(code == 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    ensure!(lines.len() == 5, "{out}");
    ensure!(lines[2].contains(&format!("100% {} #2", r.new)), "{out}");
    ensure!(
        lines[4].contains(&format!("100% {} #1 \"the old version\"", r.old)),
        "{out}"
    );
    // Without a terminal and without --yes, nothing changes.
    let (code, _, err) = output(&mut r.wynctl(&["rollback", &r.old]))?;
    ensure!(code == 2 && err.contains("--yes"), "{code} {err}");
    let (code, out, err) = output(&mut r.wynctl(&["rollback", &r.old, "-m", "bad menu", "--yes"]))?;
    ensure!(code == 0, "{out}{err}");
    ensure!(out.contains(&format!("now {}@100%", r.old)), "{out}");
    let state = r.state();
    let last = state["deployments"]
        .as_array()
        .and_then(|d| d.last())
        .cloned();
    ensure!(
        last.as_ref()
            .is_some_and(|d| d["annotations"]["workers/message"] == "bad menu"),
        "{last:?}"
    );
    // An unknown version: wrangler's own error, exit 2.
    let (code, _, err) = output(&mut r.wynctl(&["rollback", "no-such-version", "--yes"]))?;
    ensure!(
        code == 2 && err.contains("Could not find Worker Version"),
        "{code} {err}"
    );
    // --json parses.
    let (code, out, _) = output(&mut r.wynctl(&["deployments", "--json"]))?;
    let v: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
    ensure!(
        code == 0 && v["deployments"].as_array().map(Vec::len) == Some(3),
        "{out}"
    );
    Ok(())
}

fn dry_run_bundles_with_the_real_wrangler() -> Outcome {
    let mut cmd = Command::new(root().join("target/debug/wynctl"));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![root().join("node_modules/.bin")];
    paths.extend(std::env::split_paths(&path));
    cmd.current_dir(root())
        .args(["--json", "deploy", "--dry-run", "--no-build"])
        .env("PATH", std::env::join_paths(paths)?)
        .env_remove("WYN_WRANGLER");
    let (code, out, err) = output(&mut cmd)?;
    ensure!(code == 0, "{out}\n{err}");
    let last: Value = out
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| format!("no JSON: {out}"))?;
    ensure!(last["event"] == "dry-run", "{last}");
    let wasm = std::fs::metadata(root().join("edge/build/index_bg.wasm"))?.len();
    let files = last["files"].as_array().cloned().unwrap_or_default();
    ensure!(
        files
            .iter()
            .any(|f| f["file"].as_str().is_some_and(|n| n.ends_with(".wasm"))
                && f["bytes"] == wasm
                && f["gzip_bytes"].as_u64().is_some_and(|g| g > 0 && g < wasm)),
        "the bundle holds the built wasm ({wasm} bytes): {last}"
    );
    // A broken config is refused before anything is bundled.
    let broken = root().join("target/e2e/broken-wrangler.toml");
    std::fs::write(
        &broken,
        "name = \"x\"\nmain = \"edge/build/index.js\"\n[vars]\nORIGIN_URL = \"ftp://nope\"\n[vars.EDGE]\norigin_timeout = \"sixty\"\n",
    )?;
    let (code, _, err) = output(
        Command::new(root().join("target/debug/wynctl"))
            .current_dir(root())
            .args(["deploy", "--dry-run", "--no-build", "-c"])
            .arg(&broken),
    )?;
    ensure!(code == 1, "{code} {err}");
    ensure!(
        err.contains("EDGE.origin_timeout") && err.contains("ORIGIN_URL"),
        "every problem is named: {err}"
    );
    Ok(())
}
