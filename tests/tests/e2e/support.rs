//! The stack the end-to-end suite runs against: the real worker build under `wrangler dev`
//! (workerd), in front of the demo origin served in-process on loopback.
//!
//! Every process started here is put in its own process group and killed when the suite ends, and
//! a watchdog ends the whole run if it overstays, so nothing is left behind.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// The demo origin, served on its own tokio runtime in a background thread.
pub struct Origin {
    pub url: String,
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Origin {
    /// Starts the demo origin on a free loopback port.
    pub fn start() -> Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                tokio::select! {
                    result = wyn_edge_tests::origin::serve(listener) => {
                        if let Err(e) = result { eprintln!("demo origin stopped: {e}"); }
                    }
                    _ = rx => {}
                }
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        });
        Ok(Self { url: format!("http://{addr}"), addr, shutdown: Some(tx), thread: Some(thread) })
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Process groups to kill when the suite ends, whichever way it ends.
static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Kills every process group this suite started.
pub fn kill_all() {
    let groups = std::mem::take(&mut *GROUPS.lock().unwrap_or_else(|e| e.into_inner()));
    for pgid in &groups {
        // SAFETY-free: libc::kill has no memory-safety preconditions, but it is an FFI call.
        signal_group(*pgid, libc::SIGTERM);
    }
    if !groups.is_empty() {
        std::thread::sleep(Duration::from_millis(300));
    }
    for pgid in &groups {
        signal_group(*pgid, libc::SIGKILL);
    }
}

#[allow(unsafe_code)]
fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: kill(2) takes plain integers; a negative pid addresses the process group.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// Ends the run if it takes longer than `limit`, killing what it started.
pub fn watchdog(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("e2e: watchdog: the suite ran past {limit:?}; stopping it");
        kill_all();
        std::process::exit(3);
    });
}

/// One `wrangler dev` serving the built worker.
pub struct Edge {
    pub url: String,
    pub name: &'static str,
    pub log: PathBuf,
    child: Child,
}

impl Edge {
    /// Starts `wrangler dev` with the given `--var NAME:VALUE` overrides and waits until it answers.
    pub fn start(name: &'static str, vars: &[(&str, &str)]) -> Result<Self> {
        let root = root();
        let port = free_port();
        let inspector = free_port();
        let state = root.join("target/e2e").join(name);
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state)?;
        let log = state.join("wrangler.log");
        let log_file = std::fs::File::create(&log)?;
        let mut cmd = Command::new(root.join("node_modules/.bin/wrangler"));
        cmd.current_dir(&root)
            .args(["dev", "--ip", "127.0.0.1", "--log-level", "warn", "--show-interactive-dev-session=false"])
            .args(["--port", &port.to_string(), "--inspector-port", &inspector.to_string()])
            .arg("--persist-to")
            .arg(state.join("state"));
        for (k, v) in vars {
            cmd.arg("--var").arg(format!("{k}:{v}"));
        }
        cmd.env("WRANGLER_SEND_METRICS", "false")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().context("starting node_modules/.bin/wrangler (run `make tools`)")?;
        GROUPS.lock().unwrap_or_else(|e| e.into_inner()).push(child.id() as i32);
        let mut edge = Self { url: format!("http://127.0.0.1:{port}"), name, log, child };
        edge.wait_ready(Duration::from_secs(90))?;
        Ok(edge)
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let started = Instant::now();
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build()?;
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait()? {
                bail!("wrangler dev ({}) exited with {status}:\n{}", self.name, self.log_tail());
            }
            if client.get(format!("{}/__edge/health", self.url)).send().is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        bail!("wrangler dev ({}) did not answer within {limit:?}:\n{}", self.name, self.log_tail())
    }

    /// The last lines wrangler printed.
    pub fn log_tail(&self) -> String {
        let Ok(file) = std::fs::File::open(&self.log) else { return String::new() };
        let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// Builds the worker unless a build is already there (`make test` builds it first).
pub fn ensure_worker_built() -> Result<()> {
    let root = root();
    if root.join("edge/build/index.js").exists() && root.join("edge/build/index_bg.wasm").exists() {
        return Ok(());
    }
    let status = Command::new(root.join("tests/scripts/build.sh")).status()?;
    if !status.success() {
        bail!("building the worker failed ({status})");
    }
    Ok(())
}

/// A client that follows no redirects and gives up after 30 s.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a reqwest client")
}

/// The values of header `name` in an `/api/echo` answer, in order.
pub fn echoed(echo: &serde_json::Value, name: &str) -> Vec<String> {
    echo["headers"]
        .as_array()
        .map(|hs| {
            hs.iter()
                .filter(|h| h[0].as_str() == Some(name))
                .filter_map(|h| h[1].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Sends `req` and parses the JSON answer, failing on a non-2xx status.
pub fn json(req: reqwest::blocking::RequestBuilder) -> Result<(reqwest::header::HeaderMap, serde_json::Value)> {
    let resp = req.send()?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text()?;
    if !status.is_success() {
        bail!("status {status}: {text}");
    }
    Ok((headers, serde_json::from_str(&text).with_context(|| format!("not JSON: {text}"))?))
}

/// Checks an edge-made problem response and returns its body.
pub fn problem(resp: reqwest::blocking::Response, status: u16, slug: &str) -> Result<serde_json::Value> {
    let got = resp.status().as_u16();
    let ctype = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let rid = resp.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let cache = resp.headers().get("cache-control").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = resp.text()?;
    if got != status {
        bail!("expected {status}, got {got}: {text}");
    }
    if ctype != "application/problem+json" {
        bail!("expected application/problem+json, got {ctype:?}");
    }
    if cache != "no-store" {
        bail!("a problem must not be cached, got cache-control {cache:?}");
    }
    let body: serde_json::Value = serde_json::from_str(&text)?;
    if body["type"] != format!("https://wyn.app/problems/{slug}") || body["status"] != status {
        bail!("unexpected problem: {body}");
    }
    if rid.is_empty() || body["request_id"] != rid.as_str() {
        bail!("request_id {} does not match X-Request-Id {rid:?}", body["request_id"]);
    }
    if text.contains("127.0.0.1") || text.contains("http://") && !text.contains("https://wyn.app/problems/") {
        bail!("the problem leaks internals: {text}");
    }
    Ok(body)
}
