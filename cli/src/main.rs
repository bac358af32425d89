//! `wynctl`: the wyn-edge ops CLI.
//!
//! Exit codes: 0 all good; 1 a problem was found (degraded edge, invalid config); 2 the edge is
//! unhealthy or unreachable, or the command could not run.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod config_check;
mod health;
mod purge;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Operate the wyn-edge worker: health, configuration checks (and, soon, metrics and deploys).
#[derive(Debug, Parser)]
#[command(name = "wynctl", version, about, propagate_version = true)]
struct Cli {
    /// Base URL of the edge.
    #[arg(
        long,
        global = true,
        env = "WYN_EDGE_URL",
        default_value = "http://127.0.0.1:8787"
    )]
    url: String,
    /// Admin token for the edge's admin API (never needed for health).
    #[arg(long, global = true, env = "WYN_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print machine-readable JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// Give up on the edge after this many seconds.
    #[arg(long, global = true, default_value_t = 10)]
    timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the edge's and the origin's health. Exit 0 healthy, 1 degraded, 2 unhealthy or unreachable.
    Health,
    /// Requests, error rates, cache hits and latency percentiles per group, coloured against the
    /// service levels (p95 500 ms / alert 2 s; 5xx 1 % / alert 5 %; chat p95 5 s / alert 10 s).
    /// Exit 1 when an alert threshold is crossed.
    Stats {
        /// How far back: 5m to 7d.
        #[arg(long, default_value = "15m")]
        window: String,
        /// Only this route group (chat, api, venues, static, other...).
        #[arg(long)]
        route: Option<String>,
        /// Group by route, version, status, method or cache (comma-separated).
        #[arg(long, default_value = "route")]
        by: String,
        /// p95 alert threshold in ms (default 2000).
        #[arg(long)]
        p95_alert_ms: Option<f64>,
    },
    /// Purge cached answers: some URLs, everything under a path prefix, or everything.
    Purge {
        /// URLs or paths to purge (any query).
        urls: Vec<String>,
        /// Purge every path under this prefix, e.g. `/venues/`.
        #[arg(long, conflicts_with_all = ["urls", "all"])]
        prefix: Option<String>,
        /// Purge everything.
        #[arg(long, conflicts_with = "urls")]
        all: bool,
    },
    /// Work with the edge configuration in wrangler.toml.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the edge config with the worker's own code and print the effective settings.
    /// Exit 1 with every problem listed when it does not validate.
    Check {
        /// The wrangler config file.
        #[arg(long, short = 'c', default_value = "wrangler.toml")]
        config: PathBuf,
        /// A wrangler environment (`[env.NAME]`), e.g. `production`.
        #[arg(long, short = 'e')]
        env: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wynctl: error: {e:#}");
            2
        }
    };
    ExitCode::from(code)
}

/// A single-threaded runtime and an HTTP client that gives up after `timeout` seconds.
fn http(timeout: u64) -> anyhow::Result<(tokio::runtime::Runtime, reqwest::Client)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(timeout))
        .user_agent(concat!("wynctl/", env!("CARGO_PKG_VERSION")))
        .build()?;
    Ok((rt, client))
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Health => {
            let (rt, client) = http(cli.timeout)?;
            rt.block_on(health::run(&client, &cli.url, cli.json))
        }
        Command::Config(ConfigCommand::Check { config, env }) => {
            config_check::run(&config, env.as_deref(), cli.json)
        }
        Command::Purge { urls, prefix, all } => {
            let target = match (prefix, all) {
                (Some(p), _) => purge::Target::Prefix(p),
                (None, true) => purge::Target::All,
                (None, false) if !urls.is_empty() => purge::Target::Urls(urls),
                (None, false) => anyhow::bail!("say what to purge: URLs, --prefix PATH or --all"),
            };
            let (rt, client) = http(cli.timeout)?;
            rt.block_on(purge::run(
                &client,
                &cli.url,
                cli.token.as_deref(),
                &target,
                cli.json,
            ))
        }
        Command::Stats {
            window,
            route,
            by,
            p95_alert_ms,
        } => {
            let (rt, client) = http(cli.timeout)?;
            let mut query = format!("window={window}&group_by={by}");
            if let Some(r) = route {
                query.push_str(&format!("&route={r}"));
            }
            let mut slo = stats::Slo::default();
            if let Some(alert) = p95_alert_ms {
                slo.p95_ms.1 = alert;
            }
            rt.block_on(stats::run(
                &client,
                &cli.url,
                cli.token.as_deref(),
                &query,
                cli.json,
                &slo,
            ))
        }
    }
}
