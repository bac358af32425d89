//! The local stack the end-to-end suite and the bench run: the real worker build under
//! `wrangler dev` or raw `workerd`, in front of the demo origin served in-process on loopback.
//!
//! Every process started here is put in its own process group and killed by [`kill_all`], and
//! [`watchdog`] ends a run that overstays, so nothing is left behind.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The socket address of a loopback URL the stack started (`http://127.0.0.1:PORT`).
pub fn addr_of(url: &str) -> Result<SocketAddr> {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .with_context(|| format!("not a loopback URL: {url}"))
}

/// A loopback port where no server is: a socket holds it, bound but never listening, so a
/// connection to it is refused, and no process that binds port 0 (wrangler, workerd and the
/// tests all do) can be given it while this lives. A port found free and let go can be: an e2e
/// run once had its "dead" origin answered by one of wrangler dev's own servers.
pub struct DeadPort {
    _socket: socket2::Socket,
    /// The port.
    pub port: u16,
}

impl DeadPort {
    /// Holds a port of 127.0.0.1.
    pub fn hold() -> Result<Self> {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
        let port = socket
            .local_addr()?
            .as_socket()
            .context("a bound IPv4 socket has an address")?
            .port();
        Ok(Self {
            _socket: socket,
            port,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A port on 127.0.0.1 that was free a moment ago, for a server started next (wrangler dev,
/// workerd, nginx) to bind.
///
/// It comes from below the kernel's ephemeral range: the servers the stack starts bind port 0
/// for their own sockets, and a port handed out from that range can be given to one of them
/// before (or, on a restart, again after) ours binds it. Twice an e2e run failed so: wrangler
/// dev's "Address already in use", and a dead origin that answered. No port is handed out twice
/// in one process.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (low, _) = ephemeral_range().unwrap_or((32_768, 60_999));
    // 10,000 ports below the range, scanned from an offset of this process's own.
    let (from, span) = (
        low.saturating_sub(10_000).max(1_024),
        10_000.min(low - 1_024),
    );
    let start = std::process::id() % u32::from(span);
    for i in 0..u32::from(span) {
        let port = from + ((start + i) % u32::from(span)) as u16;
        if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
    }
    // No port free below the range: the kernel's choice, as before.
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The kernel's ephemeral port range (`ip_local_port_range`).
fn ephemeral_range() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut parts = text.split_whitespace().map(str::parse::<u16>);
    match (parts.next()?, parts.next()?) {
        (Ok(low), Ok(high)) if low > 2_048 => Some((low, high)),
        _ => None,
    }
}

/// The demo origin, served on its own tokio runtime in a background thread.
pub struct Origin {
    pub url: String,
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Origin {
    /// Starts the demo origin on a free loopback port ([`free_port`]'s, so that no other
    /// process is given it while a test has the origin stopped).
    pub fn start() -> Result<Self> {
        Self::start_at(&format!("127.0.0.1:{}", free_port()))
    }

    /// Starts the demo origin on `addr` (to bring one back on the port it had).
    pub fn start_at(addr: &str) -> Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
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
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                tokio::select! {
                    result = crate::origin::serve(listener) => {
                        if let Err(e) = result { eprintln!("demo origin stopped: {e}"); }
                    }
                    _ = rx => {}
                }
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        });
        Ok(Self {
            url: format!("http://{addr}"),
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
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
        signal_group(*pgid, libc::SIGTERM);
    }
    if !groups.is_empty() {
        std::thread::sleep(Duration::from_millis(300));
    }
    for pgid in &groups {
        signal_group(*pgid, libc::SIGKILL);
    }
}

/// Sends `signal` to one process (a child the caller spawned).
#[allow(unsafe_code)]
pub fn signal(pid: u32, signal: i32) -> std::io::Result<()> {
    let pid = i32::try_from(pid).map_err(std::io::Error::other)?;
    // SAFETY: kill(2) takes plain integers.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[allow(unsafe_code)]
fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: kill(2) takes plain integers; a negative pid addresses the process group.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// Spawns `cmd` as the leader of a new process group, which [`kill_all`] kills.
pub fn spawn_group(cmd: &mut Command) -> std::io::Result<Child> {
    std::os::unix::process::CommandExt::process_group(cmd, 0);
    let child = cmd.spawn()?;
    GROUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(child.id() as i32);
    Ok(child)
}

/// Runs `work` under a [`watchdog`] of `limit`, then stops every process it started, whatever
/// it returned: the frame of each bench and soak binary's `main`.
pub fn bounded<T>(limit: Duration, work: impl FnOnce() -> T) -> T {
    watchdog(limit);
    let result = work();
    kill_all();
    result
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

/// Where raw `workerd` keeps Durable Object storage: in memory. workerd runs a worker's objects
/// in the process and on the event-loop thread that serve its requests, so an object on local
/// disk stalls every request in flight while SQLite syncs its log: `strace` showed `fsync` of the
/// metrics object's WAL on that thread after each flush, 0.4 to 11 ms each, every 2 to 4 s at
/// 2,400 req/s. On Cloudflare an object's storage is written on the object's machine, never on
/// the isolate serving requests. The objects' own CPU stays on the serving thread here.
const OBJECT_STORAGE: &str = "(inMemory = void)";

/// The `v8Flags` field of a raw `workerd` config (empty: V8's defaults, as workerd ships them).
fn v8_flags_field(flags: &[String]) -> String {
    let quoted: Vec<String> = flags
        .iter()
        .map(|f| format!("\"{}\"", capnp_text(f)))
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// A Cache API for raw workerd: `bench/cache/cache.js` (an in-memory shared cache speaking
/// workerd's cache protocol) copied beside the config in `state`, and the config's parts that
/// serve it: a services entry, the worker that runs it, and the field a worker names it with.
/// All empty without `cache`: the worker then has no Cache API, as in raw workerd by default.
fn cache_service(cache: bool, state: &Path) -> Result<(String, String, String)> {
    if !cache {
        return Ok(Default::default());
    }
    let source = root().join("bench/cache/cache.js");
    std::fs::copy(&source, state.join("cache.js"))
        .with_context(|| format!("copying {}", source.display()))?;
    Ok((
        r#"(name = "cache", worker = .cache),"#.to_owned(),
        r#"const cache :Workerd.Worker = (
  modules = [(name = "cache.js", esModule = embed "cache.js")],
  compatibilityDate = "2026-04-01",
);"#
        .to_owned(),
        r#"cacheApiOutbound = "cache","#.to_owned(),
    ))
}

/// Raw `workerd`, its standard output written line by line (`stdbuf -oL`, where coreutils has
/// it). V8 prints its traces (`--v8-flag --trace-gc-nvp`) there with stdio, which writes a file
/// in 4 KB blocks: a run's last lines would reach the log late, and never if workerd is killed.
fn workerd_command(root: &Path) -> Command {
    let workerd = root.join("node_modules/.bin/workerd");
    let stdbuf = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("stdbuf"))
            .find(|p| p.is_file())
    });
    match stdbuf {
        Some(stdbuf) => {
            let mut cmd = Command::new(stdbuf);
            cmd.arg("-oL").arg(workerd);
            cmd
        }
        None => Command::new(workerd),
    }
}

/// Options of a raw workerd edge.
#[derive(Debug, Clone, Default)]
pub struct Workerd {
    /// Leave out the `RATE_LIMITER` binding, as if the Durable Objects were down.
    pub no_objects: bool,
    /// Also serve a second isolate of the worker (see [`Edge::twin_url`]).
    pub twin: bool,
    /// Text bindings of the twin that differ from the first isolate's (another `EDGE`, another
    /// `ORIGIN_URL`): the twin then plays another version of the worker.
    pub twin_vars: Vec<(String, String)>,
    /// Another build of the worker than `edge/build` (a directory holding `index.js` and
    /// `index_bg.wasm`), to compare two builds side by side.
    pub build: Option<PathBuf>,
    /// V8 flags (`--max-semi-space-size=1`); none by default.
    pub v8_flags: Vec<String>,
    /// Give the worker a Cache API ([`cache_service`]); raw workerd has none by default.
    pub cache: bool,
}

/// The built worker, served by `wrangler dev` or raw `workerd`.
pub struct Edge {
    pub url: String,
    /// A second isolate of the same worker sharing the first one's Durable Objects (raw workerd
    /// started with `twin`).
    pub twin_url: Option<String>,
    pub name: &'static str,
    pub log: PathBuf,
    child: Child,
    /// How to start the same process again (program, arguments, directory).
    command: (PathBuf, Vec<std::ffi::OsString>, PathBuf),
}

impl Edge {
    /// Starts `wrangler dev` with the given `--var NAME:VALUE` overrides and waits until it answers.
    pub fn start(name: &'static str, vars: &[(&str, &str)]) -> Result<Self> {
        Self::start_with_config(name, None, vars)
    }

    /// Like [`Edge::start`], for the worker a wrangler configuration other than the repository's
    /// `wrangler.toml` describes (`--config`; its paths are relative to it).
    pub fn start_with_config(
        name: &'static str,
        config: Option<&Path>,
        vars: &[(&str, &str)],
    ) -> Result<Self> {
        let root = root();
        let port = free_port();
        let inspector = free_port();
        let state = state_dir(name)?;
        let mut cmd = Command::new(root.join("node_modules/.bin/wrangler"));
        cmd.current_dir(&root).arg("dev");
        if let Some(config) = config {
            cmd.arg("--config").arg(config);
        }
        cmd.args([
            "--ip",
            "127.0.0.1",
            "--log-level",
            "warn",
            "--show-interactive-dev-session=false",
        ])
        .args([
            "--port",
            &port.to_string(),
            "--inspector-port",
            &inspector.to_string(),
        ])
        .arg("--persist-to")
        .arg(state.join("state"));
        for (k, v) in vars {
            cmd.arg("--var").arg(format!("{k}:{v}"));
        }
        Self::spawn(name, cmd, port, &state)
    }

    /// Starts the built worker in raw `workerd` (no wrangler proxy layers: the runtime's own
    /// speed), with the given text bindings and the rate limiter's Durable Objects, and waits
    /// until it answers.
    pub fn start_workerd(name: &'static str, vars: &[(&str, &str)]) -> Result<Self> {
        Self::start_workerd_with(name, vars, Workerd::default())
    }

    /// Like [`Edge::start_workerd`], with options.
    pub fn start_workerd_with(
        name: &'static str,
        vars: &[(&str, &str)],
        options: Workerd,
    ) -> Result<Self> {
        let root = root();
        let port = free_port();
        let twin_port = free_port();
        let state = state_dir(name)?;
        let text_bindings = |vars: &mut dyn Iterator<Item = (&str, &str)>| {
            vars.map(|(k, v)| {
                format!(
                    "(name = \"{}\", text = \"{}\")",
                    capnp_text(k),
                    capnp_text(v)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
        };
        let bindings = text_bindings(&mut vars.iter().copied());
        let twin_bindings = text_bindings(
            &mut vars
                .iter()
                .copied()
                .filter(|(k, _)| !options.twin_vars.iter().any(|(t, _)| t == k))
                .chain(
                    options
                        .twin_vars
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str())),
                ),
        );
        // `embed` paths are relative to the config file, which sits in target/e2e/NAME/.
        // (Cap'n Proto reads a path starting with `/` as one inside its import directories.)
        let build = match &options.build {
            None => PathBuf::from("../../../edge/build"),
            Some(dir) => {
                Path::new("../../..").join(dir.strip_prefix(&root).with_context(|| {
                    format!(
                        "the build {} is not inside {}",
                        dir.display(),
                        root.display()
                    )
                })?)
            }
        };
        let modules = format!(
            r#"modules = [
    (name = "index.js", esModule = embed "{}"),
    (name = "index_bg.wasm", wasm = embed "{}"),
  ],
  compatibilityDate = "2026-04-01",
  globalOutbound = "net","#,
            build.join("index.js").display(),
            build.join("index_bg.wasm").display(),
        );
        let object_binding = if options.no_objects {
            ""
        } else {
            r#", (name = "RATE_LIMITER", durableObjectNamespace = "RateLimiterObject"), (name = "CACHE_PURGES", durableObjectNamespace = "PurgeObject"), (name = "METRICS", durableObjectNamespace = "MetricsObject")"#
        };
        let (twin_service, twin_socket) = if options.twin {
            (
                r#"(name = "twin", worker = .twin),"#.to_owned(),
                format!(
                    r#", (name = "twin", address = "127.0.0.1:{twin_port}", http = (), service = "twin")"#
                ),
            )
        } else {
            (String::new(), String::new())
        };
        let v8_flags = v8_flags_field(&options.v8_flags);
        let (cache_entry, cache_worker, cache_outbound) = cache_service(options.cache, &state)?;
        let config = format!(
            r#"using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  v8Flags = {v8_flags},
  services = [
    (name = "edge", worker = .edge),
    {twin_service}
    {cache_entry}
    (name = "net", network = (allow = ["public", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:{port}", http = (), service = "edge"){twin_socket}],
);
const edge :Workerd.Worker = (
  {modules}
  {cache_outbound}
  bindings = [{bindings}{object_binding}],
  durableObjectNamespaces = [
    (className = "RateLimiterObject", uniqueKey = "wyn-edge-rate-limiter", enableSql = true),
    (className = "PurgeObject", uniqueKey = "wyn-edge-purges", enableSql = true),
    (className = "MetricsObject", uniqueKey = "wyn-edge-metrics", enableSql = true),
  ],
  durableObjectStorage = {OBJECT_STORAGE},
);
# A second isolate: the same worker, spending the first one's Durable Objects.
const twin :Workerd.Worker = (
  {modules}
  {cache_outbound}
  bindings = [{twin_bindings}, (name = "RATE_LIMITER", durableObjectNamespace = (serviceName = "edge", className = "RateLimiterObject")), (name = "CACHE_PURGES", durableObjectNamespace = (serviceName = "edge", className = "PurgeObject")), (name = "METRICS", durableObjectNamespace = (serviceName = "edge", className = "MetricsObject"))],
);
{cache_worker}
"#,
        );
        let config_path = state.join("config.capnp");
        std::fs::write(&config_path, config)?;
        let mut cmd = workerd_command(&root);
        cmd.current_dir(&state).arg("serve").arg(&config_path);
        let mut edge = Self::spawn(name, cmd, port, &state)?;
        if options.twin {
            edge.twin_url = Some(format!("http://127.0.0.1:{twin_port}"));
        }
        Ok(edge)
    }

    /// The `/proc` directories of the edge's `workerd` processes (the isolates).
    fn workerd_procs(&self) -> Vec<PathBuf> {
        let pgid = self.child.id();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|entry| {
                let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                    return false;
                };
                // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ')'.
                let Some((head, rest)) = stat.rsplit_once(')') else {
                    return false;
                };
                let pgrp = rest
                    .split_whitespace()
                    .nth(2)
                    .and_then(|v| v.parse::<u32>().ok());
                pgrp == Some(pgid) && head.ends_with("(workerd")
            })
            .map(|entry| entry.path())
            .collect()
    }

    /// The resident memory of the edge's `workerd` processes (the isolates), in bytes.
    pub fn workerd_rss(&self) -> Option<u64> {
        let mut total = None;
        for proc in self.workerd_procs() {
            let status = std::fs::read_to_string(proc.join("status")).ok()?;
            let kb = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
            if let Some(kb) = kb {
                *total.get_or_insert(0) += kb * 1024;
            }
        }
        total
    }

    /// The CPU time (user + system, all threads) the edge's `workerd` processes have used.
    pub fn workerd_cpu(&self) -> Option<Duration> {
        // /proc counts in USER_HZ, which Linux fixes at 100 on every architecture we run on.
        const TICKS_PER_SEC: u64 = 100;
        let mut ticks = None;
        for proc in self.workerd_procs() {
            let stat = std::fs::read_to_string(proc.join("stat")).ok()?;
            let (_, rest) = stat.rsplit_once(')')?;
            let mut fields = rest.split_whitespace().skip(11);
            let utime: u64 = fields.next()?.parse().ok()?;
            let stime: u64 = fields.next()?.parse().ok()?;
            *ticks.get_or_insert(0) += utime + stime;
        }
        ticks.map(|t: u64| Duration::from_micros(t * 1_000_000 / TICKS_PER_SEC))
    }

    /// Starts any JavaScript module worker (one bundled file) in raw `workerd`, with text
    /// bindings, Durable Object namespaces (`(binding, class)`, stored as [`OBJECT_STORAGE`]
    /// says) and V8 flags, and waits until it answers. The worker reaches loopback origins.
    pub fn start_workerd_module(
        name: &'static str,
        module: &Path,
        vars: &[(&str, &str)],
        objects: &[(&str, &str)],
        v8_flags: &[String],
        cache: bool,
    ) -> Result<Self> {
        let root = root();
        let port = free_port();
        let state = state_dir(name)?;
        // `embed` paths are relative to the config file: the module goes beside it.
        std::fs::copy(module, state.join("worker.js"))
            .with_context(|| format!("copying {}", module.display()))?;
        let mut bindings: Vec<String> = vars
            .iter()
            .map(|(k, v)| {
                format!(
                    "(name = \"{}\", text = \"{}\")",
                    capnp_text(k),
                    capnp_text(v)
                )
            })
            .collect();
        bindings.extend(objects.iter().map(|(binding, class)| {
            format!("(name = \"{binding}\", durableObjectNamespace = \"{class}\")")
        }));
        let namespaces: Vec<String> = objects
            .iter()
            .map(|(_, class)| format!("(className = \"{class}\", uniqueKey = \"{name}-{class}\")"))
            .collect();
        let (cache_entry, cache_worker, cache_outbound) = cache_service(cache, &state)?;
        let config = format!(
            r#"using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  v8Flags = {v8_flags},
  services = [
    (name = "main", worker = .main),
    {cache_entry}
    (name = "net", network = (allow = ["public", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:{port}", http = (), service = "main")],
);
const main :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "worker.js")],
  compatibilityDate = "2026-04-01",
  globalOutbound = "net",
  {cache_outbound}
  bindings = [{bindings}],
  durableObjectNamespaces = [{namespaces}],
  durableObjectStorage = {OBJECT_STORAGE},
);
{cache_worker}
"#,
            bindings = bindings.join(", "),
            namespaces = namespaces.join(", "),
            v8_flags = v8_flags_field(v8_flags),
        );
        let config_path = state.join("config.capnp");
        std::fs::write(&config_path, config)?;
        let mut cmd = workerd_command(&root);
        cmd.current_dir(&state).arg("serve").arg(&config_path);
        Self::spawn(name, cmd, port, &state)
    }

    /// Stops the edge and starts it again on the same port with the same state directory (its
    /// Durable Objects' storage survives), then waits until it answers.
    pub fn restart(&mut self) -> Result<()> {
        let pgid = self.child.id() as i32;
        signal_group(pgid, libc::SIGTERM);
        let started = Instant::now();
        while self.child.try_wait()?.is_none() && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(100));
        }
        signal_group(pgid, libc::SIGKILL);
        let _ = self.child.wait();
        // Give the group's children (workerd) a moment to release the port and the storage.
        std::thread::sleep(Duration::from_millis(500));
        let (program, args, dir) = self.command.clone();
        let mut cmd = Command::new(program);
        cmd.args(args).current_dir(dir);
        let log = std::fs::OpenOptions::new().append(true).open(&self.log)?;
        cmd.env("WRANGLER_SEND_METRICS", "false")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        self.child = spawn_group(&mut cmd).context("restarting the edge")?;
        self.wait_ready(Duration::from_secs(90))
    }

    /// Like [`Edge::restart`], with these V8 flags instead of the ones it started with (raw
    /// workerd only: its configuration's `v8Flags` is rewritten).
    pub fn restart_with_v8_flags(&mut self, flags: &[String]) -> Result<()> {
        let path = self.command.2.join("config.capnp");
        let config = std::fs::read_to_string(&path)
            .with_context(|| format!("{} runs no raw workerd configuration", self.name))?;
        let field = "  v8Flags = ";
        let line = config
            .lines()
            .find(|l| l.starts_with(field))
            .with_context(|| format!("{} has no `v8Flags` line", path.display()))?;
        let config = config.replacen(line, &format!("{field}{},", v8_flags_field(flags)), 1);
        std::fs::write(&path, config)?;
        self.restart()
    }

    fn spawn(name: &'static str, mut cmd: Command, port: u16, state: &Path) -> Result<Self> {
        let command = (
            PathBuf::from(cmd.get_program()),
            cmd.get_args().map(std::ffi::OsStr::to_os_string).collect(),
            cmd.get_current_dir().map_or_else(root, Path::to_path_buf),
        );
        let log = state.join("edge.log");
        let log_file = std::fs::File::create(&log)?;
        cmd.env("WRANGLER_SEND_METRICS", "false")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        let child = spawn_group(&mut cmd).context("starting the edge (run `make tools` first)")?;
        let mut edge = Self {
            url: format!("http://127.0.0.1:{port}"),
            twin_url: None,
            name,
            log,
            child,
            command,
        };
        edge.wait_ready(Duration::from_secs(90))?;
        Ok(edge)
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let started = Instant::now();
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the edge ({}) exited with {status}:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if client
                .get(format!("{}/__edge/health", self.url))
                .send()
                .is_ok()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        bail!(
            "the edge ({}) did not answer within {limit:?}:\n{}",
            self.name,
            self.log_tail()
        )
    }

    /// The last lines the edge printed.
    pub fn log_tail(&self) -> String {
        let Ok(file) = std::fs::File::open(&self.log) else {
            return String::new();
        };
        let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// `text` as the inside of a Cap'n Proto string literal.
fn capnp_text(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn state_dir(name: &str) -> Result<PathBuf> {
    let state = root().join("target/e2e").join(name);
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state)?;
    Ok(state)
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
