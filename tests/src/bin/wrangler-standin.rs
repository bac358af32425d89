//! A stand-in for `wrangler`, for tests of `wynctl deploy`, `rollback` and `deployments`, which
//! cannot reach Cloudflare's API here. Installed on `PATH` as `wrangler`, it answers the commands
//! wynctl runs the way wrangler 4 does (its `--json` listings, its `WRANGLER_OUTPUT_FILE_PATH`
//! entries, its exit codes), keeping the worker's versions and deployments in a JSON state file
//! (`WRANGLER_STANDIN_STATE`) that the test also reads to route its traffic.
//!
//! - `versions upload [--message M]`: a new version; its id is the next of the state's `upcoming`
//!   ids (or a made-up one);
//! - `versions deploy ID@P% [ID@P%] [--message M] [--yes]`: a new deployment (shares add to 100);
//! - `rollback [ID] [--message M] [--yes]`: ID (or the version the previous deployment served)
//!   at 100 %;
//! - `deployments status --json`, `deployments list --json`, `versions list --json`.
//!
//! `WRANGLER_STANDIN_FAIL=COMMAND` (e.g. `versions deploy`) makes that command fail as the API
//! would; `COMMAND#N` only its Nth call.

#![allow(clippy::print_stderr)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    versions: Vec<Value>,
    #[serde(default)]
    deployments: Vec<Value>,
    /// Ids the next uploads get, in order.
    #[serde(default)]
    upcoming: Vec<String>,
    /// Every command run, for the test to read.
    #[serde(default)]
    calls: Vec<Vec<String>>,
}

fn state_path() -> Result<PathBuf> {
    std::env::var_os("WRANGLER_STANDIN_STATE")
        .map(PathBuf::from)
        .context("WRANGLER_STANDIN_STATE is not set")
}

fn load() -> Result<State> {
    let path = state_path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Written whole and renamed into place, so a reader never sees half a file.
fn save(state: &State) -> Result<()> {
    let path = state_path()?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(state)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}

fn now() -> String {
    humantime::format_rfc3339_micros(SystemTime::now()).to_string()
}

/// Appends one entry to wrangler's machine-readable output file, if asked for one.
fn write_output(entry: Value) -> Result<()> {
    let Some(path) = std::env::var_os("WRANGLER_OUTPUT_FILE_PATH") else {
        return Ok(());
    };
    let mut entry = entry;
    entry["timestamp"] = json!(now());
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{entry}")?;
    Ok(())
}

struct Args {
    positional: Vec<String>,
    flags: BTreeMap<String, String>,
    switches: Vec<String>,
}

fn parse(args: &[String]) -> Args {
    let mut out = Args {
        positional: Vec::new(),
        flags: BTreeMap::new(),
        switches: Vec::new(),
    };
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--message" | "-m" | "--config" | "-c" | "--env" | "-e" | "--name" | "--outdir" => {
                out.flags.insert(
                    a.trim_start_matches('-').to_owned(),
                    it.next().cloned().unwrap_or_default(),
                );
            }
            s if s.starts_with('-') => out.switches.push(s.to_owned()),
            _ => out.positional.push(a.clone()),
        }
    }
    out
}

fn deployment(versions: Value, message: &str) -> Value {
    json!({
        "id": format!("dep-{}", SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos()),
        "source": "wrangler",
        "strategy": "percentage",
        "author_email": "ops@wyn.app",
        "created_on": now(),
        "annotations": {"workers/triggered_by": "deployment", "workers/message": message},
        "versions": versions,
    })
}

fn run(argv: &[String]) -> Result<()> {
    let args = parse(argv);
    let words: Vec<&str> = args.positional.iter().map(String::as_str).collect();
    let mut state = load()?;
    state.calls.push(argv.to_vec());
    save(&state)?;
    let command = match words.as_slice() {
        [a, b, ..] if matches!(*a, "versions" | "deployments") => format!("{a} {b}"),
        [a, ..] => (*a).to_owned(),
        [] => String::new(),
    };
    // `COMMAND` fails every call, `COMMAND#N` only the Nth.
    let nth = state
        .calls
        .iter()
        .filter(|c| {
            c.iter().take(2).cloned().collect::<Vec<_>>().join(" ") == command
                || c.first() == Some(&command)
        })
        .count();
    let fail = std::env::var("WRANGLER_STANDIN_FAIL").unwrap_or_default();
    let fails = match fail.split_once('#') {
        Some((c, n)) => c == command && n.parse() == Ok(nth),
        None => fail == command,
    };
    if fails {
        bail!("A request to the Cloudflare API failed. [code: 10013]");
    }
    let message = args.flags.get("message").cloned().unwrap_or_default();
    let worker = "wyn-edge";
    let json_out = args.switches.iter().any(|s| s == "--json");
    match command.as_str() {
        "versions upload" => {
            write_output(
                json!({"version": 1, "type": "wrangler-session", "wrangler_version": "4.86.0", "command_line_args": argv}),
            )?;
            let id = if state.upcoming.is_empty() {
                format!(
                    "{:08x}-0000-4000-8000-000000000000",
                    state.versions.len() + 1
                )
            } else {
                state.upcoming.remove(0)
            };
            let number = state.versions.len() + 1;
            state.versions.push(json!({
                "id": id,
                "number": number,
                "metadata": {"created_on": now(), "modified_on": now(), "source": "wrangler", "author_email": "ops@wyn.app"},
                "annotations": {"workers/triggered_by": "version_upload", "workers/message": message},
            }));
            save(&state)?;
            println!(
                "Total Upload: 421.33 KiB / gzip: 160.02 KiB\nUploaded {worker} (2.31 sec)\nWorker Version ID: {id}"
            );
            write_output(
                json!({"version": 1, "type": "version-upload", "worker_name": worker, "worker_tag": "standin-tag", "version_id": id, "preview_url": null, "wrangler_environment": args.flags.get("env")}),
            )?;
        }
        "versions deploy" => {
            let mut versions = Vec::new();
            let mut total = 0.0;
            for spec in &words[2..] {
                let (id, pct) = spec
                    .split_once('@')
                    .with_context(|| format!("expected VERSION@PERCENTAGE%, found {spec:?}"))?;
                let pct: f64 = pct
                    .trim_end_matches('%')
                    .parse()
                    .with_context(|| format!("bad percentage in {spec:?}"))?;
                if !state.versions.iter().any(|v| v["id"] == id) {
                    bail!("Could not find Worker Version {id}");
                }
                total += pct;
                versions.push(json!({"version_id": id, "percentage": pct}));
            }
            if (total - 100.0).abs() > 1e-9 {
                bail!("Sum of specified percentages ({total}%) must be 100%");
            }
            if !args.switches.iter().any(|s| s == "--yes" || s == "-y") {
                bail!("this stand-in only deploys with --yes");
            }
            let summary: Vec<String> = versions
                .iter()
                .map(|v| {
                    format!(
                        "version {} at {}%",
                        v["version_id"].as_str().unwrap_or(""),
                        v["percentage"]
                    )
                })
                .collect();
            state
                .deployments
                .push(deployment(Value::Array(versions), &message));
            save(&state)?;
            println!(
                "✨ Success! Deployed {worker} {} (0.52 sec)",
                summary.join(" and ")
            );
            write_output(
                json!({"version": 1, "type": "version-deploy", "worker_name": worker, "worker_tag": "standin-tag", "deployment_id": state.deployments.last().map(|d| d["id"].clone()), "version_traffic": {}}),
            )?;
        }
        "rollback" => {
            let target = match words.get(1) {
                Some(id) => (*id).to_owned(),
                None => state
                    .deployments
                    .iter()
                    .rev()
                    .nth(1)
                    .and_then(|d| d["versions"][0]["version_id"].as_str())
                    .map(str::to_owned)
                    .context("Could not find stable Worker Version to rollback to. Please try again with an explicit Version ID.")?,
            };
            if !state.versions.iter().any(|v| v["id"] == target.as_str()) {
                bail!("Could not find Worker Version {target}");
            }
            let message = if message.is_empty() {
                "Rollback".to_owned()
            } else {
                message
            };
            state.deployments.push(deployment(
                json!([{"version_id": target, "percentage": 100}]),
                &message,
            ));
            save(&state)?;
            println!(
                "Performing rollback...\n✨ Success! Worker Version {target} has been deployed to 100% of traffic.\n\nCurrent Version ID: {target}"
            );
        }
        "deployments status" if json_out => {
            let latest = state
                .deployments
                .last()
                .with_context(|| format!("The Worker {worker} has no deployments."))?;
            println!("{}", serde_json::to_string_pretty(latest)?);
        }
        "deployments list" if json_out => {
            println!("{}", serde_json::to_string_pretty(&state.deployments)?);
        }
        "versions list" if json_out => {
            println!("{}", serde_json::to_string_pretty(&state.versions)?);
        }
        _ => bail!("the stand-in wrangler does not do `{}`", argv.join(" ")),
    }
    Ok(())
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("--version") {
        println!("4.86.0 (stand-in)");
        return ExitCode::SUCCESS;
    }
    match run(&argv) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("✘ [ERROR] {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_words_are_told_apart() {
        let argv: Vec<String> = [
            "versions",
            "deploy",
            "a@10%",
            "b@90%",
            "--message",
            "step 1",
            "--yes",
            "--config",
            "w.toml",
        ]
        .map(String::from)
        .to_vec();
        let a = parse(&argv);
        assert_eq!(a.positional, ["versions", "deploy", "a@10%", "b@90%"]);
        assert_eq!(a.flags["message"], "step 1");
        assert_eq!(a.switches, ["--yes"]);
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let t = now();
        assert_eq!(t.len(), 27, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }
}
