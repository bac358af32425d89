//! End-to-end suite: the real worker build in `wrangler dev`, driven over HTTP on loopback.
//!
//! Three edges run side by side, each with its own `wrangler dev`:
//! - `main`: a valid config (as a JSON `--var`, with a short origin timeout) in front of an origin;
//! - `broken`: a config that does not validate, in front of its own origin;
//! - `dead`: the committed `wrangler.toml` config, in front of a port where nothing listens;
//! - `raw`: `main`'s limits in raw `workerd`, for what wrangler's own proxy layer hides from the
//!   worker (it consumes the `Connection` header before the worker sees it), and without the
//!   Durable Object binding, so global rate limits cannot be decided;
//! - `twins`: two isolates of the worker in raw `workerd` sharing one Durable Object namespace;
//! - `cache`: `wrangler dev` in front of an origin the cache tests stop and start again;
//! - `recovery` (started by its test): raw `workerd` with the panic test hook on.

#![allow(clippy::unwrap_used, clippy::print_stderr)]
// `ensure!` negates whatever condition it is given, float comparisons included.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

mod cache;
mod cli;
mod cors;
mod deploy;
mod health;
mod metrics;
mod proxy;
mod rate_limit;
mod recovery;
mod support;

use std::sync::OnceLock;
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
pub use support::Origin;
use support::{Edge, Workerd};

/// The admin token the suite's edges use.
pub const TOKEN: &str = "e2e-admin-token-0123456789abcdef";
/// `main`'s origin timeout (its `/api/slow` tests wait past it).
pub const MAIN_TIMEOUT_MS: u64 = 2_000;
/// `main`'s body limit.
pub const MAIN_MAX_BODY: u64 = 1_000_000;
/// `main`'s route groups: the WYN ones, plus three that only the metrics test uses.
pub const MAIN_METRICS: &str = r#"{"flush_after":5,"flush_every":"1s","shards":2,"route_groups":[
    {"name":"m-fast","path":"/api/echo/metrics-fast"},{"name":"m-slow","path":"/api/echo/metrics-slow"},
    {"name":"m-err","path":"/api/echo/metrics-err"},
    {"name":"chat","path":"/api/chat"},{"name":"api","path":"/api/*"},{"name":"venues","path":"/venues/*"}]}"#;
/// `main`'s (and `cache`'s) cache settings.
pub const MAIN_CACHE: &str = r#"{"routes":[{"path":"/api/me","bypass":true},{"path":"/static/*","ttl":"365d"},
    {"path":"/api/chat","post":true,"ttl":"1h"}]}"#;
/// `main`'s CORS policy.
pub const MAIN_CORS: &str = r#"{"paths":["/api/*","/venues/*"],"origins":["https://wyn.app","https://wyn-*.vercel.app"],
    "methods":["GET","HEAD","POST","PUT","DELETE"],"request_headers":["content-type","authorization","x-request-id"],
    "expose_headers":["x-request-id","retry-after","ratelimit","ratelimit-policy"],"credentials":true,"max_age":"2h"}"#;
/// `main`'s rate limits: the shipped WYN policy plus rules for the tests to exhaust.
pub const MAIN_RULES: &str = r#"
    {"name":"chat","path":"/api/chat","methods":["POST"],"limit":30,"period":"60s","scope":"global","on_error":"deny"},
    {"name":"api","path":"/api/*","limit":600,"period":"60s"},
    {"name":"site","path":"/*","except":["/api/*"],"limit":1200,"period":"60s"},
    {"name":"shadowed","path":"/api/echo/shadow/*","limit":2,"period":"60s","mode":"shadow"},
    {"name":"keyed","path":"/api/echo/keyed","key":"header:x-api-key","limit":2,"period":"60s"},
    {"name":"pair","path":"/api/echo/pair","limit":3,"period":"60s","scope":"global"},
    {"name":"tight","path":"/api/echo/tight","limit":2,"period":"10m"}"#;
/// `raw`'s rules: it runs without the Durable Object binding, so global rules cannot decide.
pub const RAW_RULES: &str = r#"
    {"name":"chat","path":"/api/chat","methods":["POST"],"limit":30,"period":"60s","scope":"global","on_error":"deny"},
    {"name":"lenient","path":"/api/echo/lenient","limit":30,"period":"60s","scope":"global","on_error":"allow"}"#;

pub struct Stacks {
    pub main: Edge,
    pub main_origin: Origin,
    pub broken: Edge,
    pub broken_origin: Origin,
    pub dead: Edge,
    /// The port `dead`'s origin is on, held so that nothing answers there.
    pub dead_port: support::DeadPort,
    pub raw: Edge,
    pub twins: Edge,
    /// Raw workerd with the peer benchmarks' cache service as its Cache API.
    pub bench_cache: Edge,
    /// An edge whose origin the cache tests stop and start again.
    pub cache: Edge,
    pub cache_origin: std::sync::Mutex<Option<Origin>>,
    pub cache_origin_addr: String,
    /// An edge the metrics test restarts (its Durable Object storage survives).
    pub restart: std::sync::Mutex<Edge>,
}

static STACKS: OnceLock<Stacks> = OnceLock::new();

pub fn stacks() -> &'static Stacks {
    STACKS
        .get()
        .expect("stacks are started before the tests run")
}

pub type Outcome = Result<(), Failed>;

/// Fails the test with a message when `cond` is false.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+).into());
        }
    };
}

fn start() -> anyhow::Result<Stacks> {
    support::ensure_worker_built()?;
    let main_origin = Origin::start()?;
    let broken_origin = Origin::start()?;
    let dead_port = support::DeadPort::hold()?;
    let main_config = format!(
        r#"{{"origin_timeout":"{MAIN_TIMEOUT_MS}ms","max_request_body":"{MAIN_MAX_BODY}B","version":"e2e-main",
            "health":{{"probe_timeout":"1s","cache_for":"2s"}},
            "cors":{MAIN_CORS},
            "cache":{MAIN_CACHE},
            "metrics":{MAIN_METRICS},
            "rate_limits":[{MAIN_RULES}]}}"#
    );
    let raw_config = format!(
        r#"{{"origin_timeout":"{MAIN_TIMEOUT_MS}ms","max_request_body":"{MAIN_MAX_BODY}B","rate_limits":[{RAW_RULES}]}}"#
    );
    let (main_url, broken_url, dead_url) = (
        main_origin.url.clone(),
        broken_origin.url.clone(),
        dead_port.url(),
    );
    // Started in parallel: each wrangler dev takes seconds to come up.
    let main = std::thread::spawn(move || {
        Edge::start(
            "main",
            &[
                ("ORIGIN_URL", &main_url),
                ("EDGE", &main_config),
                ("EDGE_ADMIN_TOKEN", TOKEN),
            ],
        )
    });
    let broken = std::thread::spawn(move || {
        Edge::start(
            "broken",
            &[
                ("ORIGIN_URL", &broken_url),
                (
                    "EDGE",
                    r#"{"origin_timeout":"sixty","health":{"cache_for":"5s"}}"#,
                ),
                ("EDGE_ADMIN_TOKEN", TOKEN),
            ],
        )
    });
    let restart_url = main_origin.url.clone();
    let restart = std::thread::spawn(move || {
        Edge::start(
            "restart",
            &[
                ("ORIGIN_URL", &restart_url),
                (
                    "EDGE",
                    r#"{"metrics":{"flush_after":1,"flush_every":"1s","shards":1,"route_groups":[{"name":"restart","path":"/api/echo/restart-probe"}]}}"#,
                ),
                ("EDGE_ADMIN_TOKEN", TOKEN),
            ],
        )
    });
    let cache_origin = Origin::start()?;
    let cache_origin_addr = cache_origin.addr.to_string();
    let cache_url = cache_origin.url.clone();
    let cache = std::thread::spawn(move || {
        Edge::start(
            "cache",
            &[
                ("ORIGIN_URL", &cache_url),
                (
                    "EDGE",
                    &format!(
                        r#"{{"origin_timeout":"2s","cors":{MAIN_CORS},"cache":{MAIN_CACHE}}}"#
                    ),
                ),
                ("EDGE_ADMIN_TOKEN", TOKEN),
            ],
        )
    });
    let dead = std::thread::spawn(move || {
        Edge::start(
            "dead",
            &[("ORIGIN_URL", &dead_url), ("EDGE_ADMIN_TOKEN", TOKEN)],
        )
    });
    let twins = Edge::start_workerd_with(
        "twins",
        &[
            ("ORIGIN_URL", &main_origin.url),
            ("EDGE", &format!(r#"{{"rate_limits":[{MAIN_RULES}]}}"#)),
            ("EDGE_ADMIN_TOKEN", TOKEN),
        ],
        Workerd {
            twin: true,
            ..Workerd::default()
        },
    )?;
    let raw = Edge::start_workerd_with(
        "raw",
        &[
            ("ORIGIN_URL", &main_origin.url),
            ("EDGE", &raw_config),
            ("EDGE_ADMIN_TOKEN", TOKEN),
        ],
        Workerd {
            no_objects: true,
            ..Workerd::default()
        },
    )?;
    let bench_cache = Edge::start_workerd_with(
        "bench-cache",
        &[
            ("ORIGIN_URL", &main_origin.url),
            ("EDGE_ADMIN_TOKEN", TOKEN),
        ],
        Workerd {
            cache: true,
            ..Workerd::default()
        },
    )?;
    let join = |h: std::thread::JoinHandle<anyhow::Result<Edge>>| {
        h.join().map_err(|_| anyhow::anyhow!("start panicked"))?
    };
    Ok(Stacks {
        main: join(main)?,
        main_origin,
        broken: join(broken)?,
        raw,
        twins,
        bench_cache,
        cache: join(cache)?,
        cache_origin: std::sync::Mutex::new(Some(cache_origin)),
        cache_origin_addr,
        restart: std::sync::Mutex::new(join(restart)?),
        broken_origin,
        dead: join(dead)?,
        dead_port,
    })
}

fn main() {
    let args = Arguments::from_args();
    support::watchdog(Duration::from_secs(15 * 60));
    let trials: Vec<Trial> = proxy::trials()
        .into_iter()
        .chain(health::trials())
        .chain(rate_limit::trials())
        .chain(cors::trials())
        .chain(cache::trials())
        .chain(metrics::trials())
        .chain(cli::trials())
        .chain(deploy::trials())
        .chain(recovery::trials())
        .collect();
    let wanted = trials
        .iter()
        .any(|t| args.filter.as_deref().is_none_or(|f| t.name().contains(f)));
    if wanted && !args.list {
        match start() {
            Ok(s) => {
                let _ = STACKS.set(s);
            }
            Err(e) => {
                eprintln!("e2e: could not start the stack: {e:#}");
                support::kill_all();
                std::process::exit(2);
            }
        }
    }
    let conclusion = libtest_mimic::run(&args, trials);
    support::kill_all();
    conclusion.exit();
}
