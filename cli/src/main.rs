//! `wynctl`: the wyn-edge ops CLI.
//!
//! Exit codes: 0 all good; 1 a problem was found (degraded edge, invalid config); 2 the edge is
//! unhealthy or unreachable, or the command could not run.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod config_check;
mod deploy;
mod deployments;
mod gate;
mod health;
mod purge;
mod stats;
mod wrangler;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use wyn_edge_shared::config::units;

/// Operate the wyn-edge worker: health, metrics, configuration checks, progressive deploys with
/// automatic rollback, rollbacks and cache purges.
#[derive(Debug, Parser)]
#[command(name = "wynctl", version, about, propagate_version = true)]
struct Cli {
    /// Base URL of the edge.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "WYN_EDGE_URL",
        default_value = "http://127.0.0.1:8787"
    )]
    url: String,
    /// Admin token for the edge's admin API (never needed for health).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "WYN_ADMIN_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// Print machine-readable JSON instead of a table.
    #[arg(long, global = true, help_heading = "Global options")]
    json: bool,
    /// Give up on the edge after this many seconds.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        default_value_t = 10
    )]
    timeout: u64,
    /// The wrangler config file (service levels, the config to check and deploy).
    #[arg(
        long,
        short = 'c',
        global = true,
        help_heading = "Global options",
        default_value = "wrangler.toml"
    )]
    config: PathBuf,
    /// A wrangler environment (`[env.NAME]`), e.g. `production`.
    #[arg(
        long,
        short = 'e',
        global = true,
        help_heading = "Global options",
        env = "WYN_ENV"
    )]
    env: Option<String>,
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
        /// p95 alert threshold in ms (default: `slo.p95_alert` of the config, 2 s).
        #[arg(long)]
        p95_alert_ms: Option<f64>,
        /// 5xx share alert threshold, 0 to 1 (default: `slo.error_alert`, 0.05).
        #[arg(long)]
        error_alert: Option<f64>,
        /// Redraw every few seconds (default 5) until Ctrl-C.
        #[arg(long, num_args = 0..=1, default_missing_value = "5", value_name = "SECS")]
        watch: Option<u64>,
        /// With --watch, stop after this many draws.
        #[arg(long, requires = "watch")]
        iterations: Option<u64>,
    },
    /// Deploy a new version progressively: config check, build, `wrangler versions upload`, then
    /// each traffic step watched through the edge's metrics per version; promote when the gates
    /// pass, roll back automatically when they fail (or stay inconclusive). Ctrl-C asks whether to
    /// roll back. Exit 0 deployed, 1 rolled back or refused, 2 could not run, 130 interrupted.
    Deploy {
        /// The new version's traffic shares, in order, ending at 100.
        #[arg(long, default_value = "10,50,100")]
        steps: String,
        /// How long each step is watched before a promotion (e.g. 5m, 30s).
        #[arg(long, default_value = "5m")]
        interval: String,
        /// How often the metrics are read during a step.
        #[arg(long, default_value = "10s")]
        poll: String,
        /// Fewer requests than this on the new version is inconclusive, never a pass.
        #[arg(long, default_value_t = 100)]
        min_requests: u64,
        /// A step still inconclusive after this many intervals rolls back.
        #[arg(long, default_value_t = 3)]
        patience: u32,
        /// The build command.
        #[arg(long, default_value = "make build")]
        build_command: String,
        /// Skip the build (deploy what edge/build holds).
        #[arg(long)]
        no_build: bool,
        /// Only bundle (`wrangler deploy --dry-run --outdir`) and print the bundle size.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Message recorded with the version and each deployment.
        #[arg(long, short = 'm')]
        message: Option<String>,
    },
    /// Put a version back on all traffic (without VERSION: the previous stable one).
    Rollback {
        /// The version id to serve.
        #[arg(value_name = "VERSION")]
        version_id: Option<String>,
        /// Why, recorded with the deployment.
        #[arg(long, short = 'm')]
        message: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Recent deployments and versions, with their traffic split.
    Deployments,
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
    Check,
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
        Command::Config(ConfigCommand::Check) => {
            config_check::run(&cli.config, cli.env.as_deref(), cli.json)
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
            error_alert,
            watch,
            iterations,
        } => {
            let (rt, client) = http(cli.timeout)?;
            let mut query = format!("window={window}&group_by={by}");
            if let Some(r) = route {
                query.push_str(&format!("&route={r}"));
            }
            let mut slo = config_check::slo(&cli.config, cli.env.as_deref());
            if let Some(alert) = p95_alert_ms {
                slo.p95_alert = Duration::from_secs_f64(alert.max(0.0) / 1000.0);
            }
            if let Some(alert) = error_alert {
                slo.error_alert = alert;
            }
            let opts = stats::Options {
                query,
                slo: &slo,
                json: cli.json,
                watch: watch.map(|s| Duration::from_secs(s.max(1))),
                iterations,
            };
            rt.block_on(stats::run(&client, &cli.url, cli.token.as_deref(), &opts))
        }
        Command::Deploy {
            steps,
            interval,
            poll,
            min_requests,
            patience,
            build_command,
            no_build,
            dry_run,
            yes,
            message,
        } => {
            let duration = |name: &str, text: &str| {
                units::parse_duration(text).map_err(|e| anyhow::anyhow!("--{name}: {e}"))
            };
            let opts = deploy::Options {
                steps: deploy::parse_steps(&steps).map_err(|e| anyhow::anyhow!("--steps: {e}"))?,
                interval: duration("interval", &interval)?,
                poll: duration("poll", &poll)?.max(Duration::from_millis(200)),
                patience,
                min_requests: min_requests.max(1),
                build: (!no_build).then_some(build_command),
                dry_run,
                yes,
                message,
                json: cli.json,
            };
            let (rt, client) = http(cli.timeout)?;
            let edge = deploy::Edge {
                client: &client,
                url: &cli.url,
                token: cli.token.as_deref(),
            };
            let (config, env) = (cli.config.clone(), cli.env.clone());
            let checked = move || config_check::valid_config(&config, env.as_deref());
            rt.block_on(deploy::run(
                &edge,
                &cli.config,
                cli.env.as_deref(),
                checked,
                &opts,
            ))
        }
        Command::Rollback {
            version_id: version,
            message,
            yes,
        } => {
            let wrangler = wrangler::Wrangler::new(&cli.config, cli.env.as_deref())?;
            deployments::rollback(
                &wrangler,
                version.as_deref(),
                message.as_deref(),
                yes,
                cli.json,
            )
        }
        Command::Deployments => {
            let wrangler = wrangler::Wrangler::new(&cli.config, cli.env.as_deref())?;
            deployments::list(&wrangler, cli.json)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
