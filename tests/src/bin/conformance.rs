//! `make conformance`: the cache-tests.fyi suite (npm `http-cache-tests`, pinned in package.json)
//! run through the edge.
//!
//! Starts the suite's origin server on a free loopback port, the edge in `wrangler dev` in front of
//! it (the committed `EDGE` policy without rate limits or CORS), and the suite's command-line
//! client against the edge; then prints the score (see [`wyn_edge_tests::conformance`]) and writes
//! the client's results to `target/conformance/results.json` and each test's verdict to
//! `target/conformance/verdicts.json`.
//!
//! Exits 0 whenever the run completed, whatever the score; 1 when the harness broke (the server or
//! the edge did not start, the client gave no results).

#![allow(clippy::print_stderr)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use wyn_edge_tests::conformance::{self, SUITE_VERSION};
use wyn_edge_tests::stack::{self, Edge};

/// The whole run, edge start-up included, normally takes about a minute.
const WATCHDOG: Duration = Duration::from_secs(20 * 60);
/// The client runs its tests 100 at a time and never times a request out itself.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const SERVER_START: Duration = Duration::from_secs(15);

/// Prints the definitions of the tests the client runs, as `cli.mjs` assembles them (the
/// Surrogate-Control suite is added there, not in `tests/index.mjs`).
const DUMP_DEFINITIONS: &str = "
import tests from './tests/index.mjs'
import surrogate from './tests/surrogate-control.mjs'
tests.push(surrogate)
const defs = tests.flatMap(suite => suite.tests.map(t => ({
  id: t.id, kind: t.kind, depends_on: t.depends_on, browser_only: t.browser_only === true
})))
console.log(JSON.stringify(defs))
";

fn suite_dir() -> Result<PathBuf> {
    let dir = stack::root().join("node_modules/http-cache-tests");
    let manifest = std::fs::read_to_string(dir.join("package.json"))
        .with_context(|| format!("{}: not installed (run `make tools`)", dir.display()))?;
    let manifest: serde_json::Value = serde_json::from_str(&manifest)?;
    let found = manifest.get("version").and_then(|v| v.as_str());
    if found != Some(SUITE_VERSION) {
        bail!(
            "{}: expected http-cache-tests {SUITE_VERSION}, found {found:?} (run `make tools`)",
            dir.display()
        );
    }
    Ok(dir)
}

fn definitions(suite: &Path) -> Result<Vec<conformance::TestDef>> {
    let out = Command::new("node")
        .current_dir(suite)
        .args([
            "--no-warnings",
            "--input-type=module",
            "-e",
            DUMP_DEFINITIONS,
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("running node (Node.js 20 or later must be on PATH)")?;
    if !out.status.success() {
        bail!(
            "reading the suite's test definitions: node exited with {}",
            out.status
        );
    }
    conformance::parse_definitions(&String::from_utf8_lossy(&out.stdout))
}

/// `node <script>` in the suite's directory, in a process group of its own. The suite reads its
/// settings the way `npm run` passes them: `npm_config_*`, else `npm_package_config_*`.
fn node(
    suite: &Path,
    script: &str,
    env: &[(&str, &str)],
    stdout: std::fs::File,
    stderr: std::fs::File,
) -> Result<Child> {
    let mut cmd = Command::new("node");
    cmd.current_dir(suite)
        .args(["--no-warnings", script])
        .env_remove("npm_config_id")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    for (k, v) in env {
        cmd.env(k, v);
    }
    stack::spawn_group(&mut cmd).with_context(|| format!("starting node {script}"))
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Starts the suite's origin server on a free port and waits until it accepts connections.
fn start_server(suite: &Path, out: &Path) -> Result<(Child, u16)> {
    let port = stack::free_port();
    let log = out.join("server.log");
    let pidfile = out.join("server.pid");
    let log_file = std::fs::File::create(&log)?;
    let mut server = node(
        suite,
        "server/server.mjs",
        &[
            ("npm_config_protocol", "http"),
            ("npm_config_port", &port.to_string()),
            ("npm_config_pidfile", &pidfile.to_string_lossy()),
        ],
        log_file.try_clone()?,
        log_file,
    )?;
    let started = Instant::now();
    while started.elapsed() < SERVER_START {
        if let Some(status) = server.try_wait()? {
            bail!("the suite's server exited with {status}:\n{}", tail(&log));
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok((server, port));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "the suite's server did not listen on 127.0.0.1:{port} within {SERVER_START:?}:\n{}",
        tail(&log)
    )
}

/// Runs the client against `base` and returns what it printed: the results as JSON.
fn run_client(suite: &Path, base: &str, out: &Path) -> Result<String> {
    let stdout = out.join("client.out");
    let log = out.join("client.log");
    // An empty id runs every test; unset, `cli.mjs` would look for a test named "undefined".
    // The base has no trailing slash: the client appends "/test/<uuid>" and "/config/<uuid>".
    let mut client = node(
        suite,
        "cli.mjs",
        &[("npm_config_base", base), ("npm_package_config_id", "")],
        std::fs::File::create(&stdout)?,
        std::fs::File::create(&log)?,
    )?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = client.try_wait()? {
            break status;
        }
        if started.elapsed() > CLIENT_TIMEOUT {
            bail!(
                "the suite's client did not finish within {CLIENT_TIMEOUT:?}:\n{}",
                tail(&log)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = std::fs::read_to_string(&stdout)?;
    if !status.success() || text.trim().is_empty() {
        bail!(
            "the suite's client exited with {status} and printed no results:\n{}",
            tail(&log)
        );
    }
    Ok(text)
}

/// A run whose edge died part-way is a broken harness, not a score.
fn edge_answers(edge: &Edge) -> Result<()> {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?
        .get(format!("{}/__edge/health", edge.url))
        .send()
        .context("the edge stopped answering during the run")?;
    Ok(())
}

fn run() -> Result<()> {
    let started = Instant::now();
    let suite = suite_dir()?;
    let out = stack::root().join("target/conformance");
    std::fs::create_dir_all(&out)?;
    // A broken run must not leave the last good run's files looking like its own.
    for stale in ["results.json", "verdicts.json"] {
        let _ = std::fs::remove_file(out.join(stale));
    }
    let defs = definitions(&suite)?;
    stack::ensure_worker_built()?;

    let (_server, port) = start_server(&suite, &out)?;
    let origin = format!("http://127.0.0.1:{port}");
    eprintln!("conformance: the suite's server listens on {origin}");

    let policy = conformance::edge_policy(&std::fs::read_to_string(
        stack::root().join("wrangler.toml"),
    )?)?;
    let edge = Edge::start(
        "conformance",
        &[("ORIGIN_URL", origin.as_str()), ("EDGE", policy.as_str())],
    )?;
    eprintln!(
        "conformance: the edge (wrangler dev) serves {}; running {} tests through it (about a minute)",
        edge.url,
        defs.iter().filter(|d| !d.browser_only).count()
    );

    let text = run_client(&suite, &edge.url, &out)
        .and_then(|text| edge_answers(&edge).map(|()| text))
        .inspect_err(|_| {
            eprintln!(
                "conformance: the edge's log ({}):\n{}",
                edge.log.display(),
                edge.log_tail()
            );
        })?;
    let results = conformance::parse_results(&text).with_context(|| {
        format!(
            "the client's output is in {}",
            out.join("client.out").display()
        )
    })?;
    if results.is_empty() {
        bail!("the suite's client reported no tests");
    }
    std::fs::rename(out.join("client.out"), out.join("results.json"))?;
    let score = conformance::score(&defs, &results)?;
    std::fs::write(
        out.join("verdicts.json"),
        serde_json::to_string_pretty(&score)?,
    )?;
    eprintln!(
        "conformance: {} results; the run took {:.0?}; results in {}",
        results.len(),
        started.elapsed(),
        out.join("results.json").display()
    );
    print!("{}", score.report());
    Ok(())
}

fn main() -> Result<()> {
    stack::bounded(WATCHDOG, run)
}
