//! `wynctl config check`: reads wrangler.toml as wrangler does (top level, or one `[env.NAME]`,
//! whose `vars` are not inherited), validates `EDGE` and `ORIGIN_URL` with the worker's own code,
//! and prints the effective settings or every problem found.

use std::path::Path;

use anyhow::Context;
use wyn_edge_shared::config::slo::SloConfig;
use wyn_edge_shared::config::{
    ConfigError, EDGE_VAR, EdgeConfig, ORIGIN_VAR, TEST_HOOKS_VAR, parse_origin_url, units,
};

/// The outcome of checking one environment.
#[derive(Debug)]
pub struct Checked {
    /// The effective config, when it validates.
    pub config: Option<EdgeConfig>,
    /// The origin URL, when it validates.
    pub origin: Option<String>,
    /// Every problem, with the field it concerns.
    pub problems: Vec<ConfigError>,
}

/// Checks the `[vars]` of `env` (or the top level) in a wrangler.toml text.
pub fn check(text: &str, env: Option<&str>) -> anyhow::Result<Checked> {
    let doc: toml::Table = toml::from_str(text).context("not valid TOML")?;
    let scope = match env {
        None => &doc,
        Some(name) => doc
            .get("env")
            .and_then(|e| e.get(name))
            .and_then(toml::Value::as_table)
            .with_context(|| format!("no [env.{name}] in this file"))?,
    };
    let prefix = env
        .map(|n| format!("env.{n}.vars."))
        .unwrap_or_else(|| "vars.".into());
    let vars = scope.get("vars").and_then(toml::Value::as_table);
    let mut problems = Vec::new();
    let config = match vars.and_then(|v| v.get(EDGE_VAR)) {
        None => Some(EdgeConfig::default()),
        Some(edge) => match EdgeConfig::from_value(serde_json::to_value(edge)?) {
            Ok(c) => Some(c),
            Err(errors) => {
                problems.extend(errors.0);
                None
            }
        },
    };
    let origin = match vars.and_then(|v| v.get(ORIGIN_VAR)) {
        Some(toml::Value::String(s)) => parse_origin_url(s).map_err(|e| problems.push(e)).ok(),
        Some(other) => {
            problems.push(ConfigError {
                field: ORIGIN_VAR.into(),
                message: format!("expected a string URL, found a {}", other.type_str()),
            });
            None
        }
        None => {
            problems.push(ConfigError {
                field: ORIGIN_VAR.into(),
                message: "expected a URL, found nothing".into(),
            });
            None
        }
    };
    if vars.is_some_and(|v| v.contains_key(TEST_HOOKS_VAR)) {
        // A test hook (a panic on demand, behind the admin token) has no business in a deploy.
        problems.push(ConfigError {
            field: TEST_HOOKS_VAR.into(),
            message: "expected nothing: test hooks are for local test runs only, found a value"
                .into(),
        });
    }
    for p in &mut problems {
        p.field = format!("{prefix}{}", p.field);
    }
    Ok(Checked {
        config,
        origin,
        problems,
    })
}

/// The service levels of `path` (for `env`): the defaults when the file is missing, and a warning
/// with the defaults when it does not validate, so the figures can still be read.
pub fn slo(path: &Path, env: Option<&str>) -> SloConfig {
    let Ok(text) = std::fs::read_to_string(path) else {
        return SloConfig::default();
    };
    match check(&text, env) {
        Ok(Checked {
            config: Some(c), ..
        }) => c.slo,
        _ => {
            eprintln!(
                "wynctl: warning: {} does not validate (see `wynctl config check`): default service levels",
                path.display()
            );
            SloConfig::default()
        }
    }
}

/// The config of `path` (for `env`) when it validates; every problem printed when it does not.
pub fn valid_config(path: &Path, env: Option<&str>) -> anyhow::Result<Option<EdgeConfig>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let checked = check(&text, env).with_context(|| format!("reading {}", path.display()))?;
    for p in &checked.problems {
        eprintln!("{}: {p}", path.display());
    }
    Ok(checked.config.filter(|_| checked.problems.is_empty()))
}

/// Runs the command; exit 0 when valid, 1 with every problem listed otherwise.
pub fn run(path: &Path, env: Option<&str>, json: bool) -> anyhow::Result<u8> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let checked = check(&text, env).with_context(|| format!("reading {}", path.display()))?;
    if json {
        let problems: Vec<_> = checked
            .problems
            .iter()
            .map(|p| serde_json::json!({"field": p.field, "message": p.message}))
            .collect();
        let out = serde_json::json!({
            "file": path.display().to_string(),
            "env": env,
            "valid": checked.problems.is_empty(),
            "origin_url": checked.origin,
            "edge": checked.config,
            "problems": problems,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if checked.problems.is_empty() {
        print!("{}", render(path, env, &checked));
    } else {
        for p in &checked.problems {
            eprintln!("{}: {p}", path.display());
        }
        eprintln!(
            "{} problem(s); the worker would serve as a plain proxy with defaults",
            checked.problems.len()
        );
    }
    Ok(if checked.problems.is_empty() { 0 } else { 1 })
}

fn render(path: &Path, env: Option<&str>, checked: &Checked) -> String {
    let mut out = format!(
        "{} [{}]: valid\n",
        path.display(),
        env.unwrap_or("top level")
    );
    if let Some(origin) = &checked.origin {
        out.push_str(&format!("  origin                 {origin}\n"));
    }
    if let Some(c) = &checked.config {
        let d = |d| units::format_duration(d);
        out.push_str(&format!(
            "  origin_timeout         {}\n",
            d(c.origin_timeout)
        ));
        out.push_str(&format!(
            "  max_request_body       {} bytes\n",
            c.max_request_body
        ));
        out.push_str(&format!(
            "  version                {}\n",
            c.version.as_deref().unwrap_or("(from the platform)")
        ));
        out.push_str(&format!(
            "  health                 probe {} within {}, reused {}\n",
            c.health.probe_path,
            d(c.health.probe_timeout),
            d(c.health.cache_for)
        ));
        let s = &c.slo;
        out.push_str(&format!(
            "  service levels         p95 {} (alert {}), 5xx {:.1} % (alert {:.1} %)",
            d(s.p95_target),
            d(s.p95_alert),
            s.error_target * 100.0,
            s.error_alert * 100.0
        ));
        for r in &s.routes {
            out.push_str(&format!(
                "; {} p95 {} (alert {})",
                r.route,
                d(r.p95_target),
                d(r.p95_alert)
            ));
        }
        out.push('\n');
        let routes: Vec<&str> = c
            .metrics
            .route_groups
            .iter()
            .map(|g| g.name.as_str())
            .collect();
        out.push_str(&format!(
            "  metrics                {} (route groups: {}, other)\n",
            if c.metrics.enabled { "on" } else { "off" },
            routes.join(", ")
        ));
        match &c.cors {
            None => out.push_str("  cors                   left to the origin\n"),
            Some(cors) => {
                out.push_str(&format!(
                    "  cors                   paths {}; credentials {}; preflight cached {}\n",
                    cors.paths.join(" "),
                    if cors.credentials { "yes" } else { "no" },
                    d(cors.max_age)
                ));
                for (name, list) in [
                    ("origins", &cors.origins),
                    ("methods", &cors.methods),
                    ("request headers", &cors.request_headers),
                    ("exposed headers", &cors.expose_headers),
                ] {
                    out.push_str(&format!("    {name:<20} {}\n", list.join(" ")));
                }
            }
        }
        let cache = &c.cache;
        out.push_str(&format!(
            "  cache                  {}{}; query drops {}\n",
            if cache.enabled { "on" } else { "off" },
            if cache.nextjs { " (Next.js keys)" } else { "" },
            if cache.drop_query_params.is_empty() {
                "nothing".to_owned()
            } else {
                cache.drop_query_params.join(" ")
            }
        ));
        if !cache.routes.is_empty() {
            out.push_str(&format!("    {:<20} {}\n", "path", "rule"));
            for r in &cache.routes {
                let rule = if r.bypass {
                    "bypass".to_owned()
                } else {
                    let mut parts = vec![
                        r.ttl
                            .map_or("origin's headers".into(), |t| format!("ttl {}", d(t))),
                    ];
                    if r.post {
                        parts.push("POST cached by body".into());
                    }
                    if r.ignore_query {
                        parts.push("query ignored".into());
                    }
                    parts.join(", ")
                };
                out.push_str(&format!("    {:<20} {rule}\n", r.path));
            }
        }
        if !c.rate_limits.is_empty() {
            out.push_str(
                "  rate limits
",
            );
            out.push_str(&format!(
                "    {:<10} {:<14} {:<8} {:>8} {:<8} {:>6} {:<8} {:<8} {}
",
                "name", "path", "methods", "limit", "period", "burst", "key", "scope", "mode"
            ));
            for r in &c.rate_limits {
                let methods = if r.methods.is_empty() {
                    "*".to_owned()
                } else {
                    r.methods.join(",")
                };
                let path = if r.except.is_empty() {
                    r.path.clone()
                } else {
                    format!("{} -{}", r.path, r.except.join(" -"))
                };
                out.push_str(&format!(
                    "    {:<10} {:<14} {:<8} {:>8} {:<8} {:>6} {:<8} {:<8} {}{}\n",
                    r.name,
                    path,
                    methods,
                    r.limit,
                    d(r.period),
                    r.effective_burst(),
                    r.key.to_string(),
                    format!("{:?}", r.scope).to_lowercase(),
                    format!("{:?}", r.mode).to_lowercase(),
                    r.on_error
                        .map(|e| format!(" (on error: {})", format!("{e:?}").to_lowercase()))
                        .unwrap_or_default(),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_wrangler_toml_validates_in_every_environment() {
        let text = include_str!("../../wrangler.toml");
        for env in [None, Some("preview"), Some("production")] {
            let c = check(text, env).unwrap();
            assert!(c.problems.is_empty(), "{env:?}: {:?}", c.problems);
            assert!(c.origin.is_some());
        }
        assert_eq!(
            check(text, Some("production")).unwrap().origin.as_deref(),
            Some("https://wyn.vercel.app")
        );
    }

    #[test]
    fn the_rules_are_printed_as_a_table() {
        let c = check(include_str!("../../wrangler.toml"), None).unwrap();
        let table = render(Path::new("wrangler.toml"), None, &c);
        let row = "chat       /api/chat      POST           30 1m           30 ip       global   enforce (on error: deny)";
        assert!(table.contains(row), "{table}");
        assert!(
            table.contains("site       /* -/api/*     *            1200 1m"),
            "{table}"
        );
    }

    #[test]
    fn every_problem_is_listed_with_its_place() {
        let text = r#"
            [env.production.vars]
            ORIGIN_URL = "ftp://x"
            [env.production.vars.EDGE]
            origin_timeout = "0s"
            max_request_body = "0B"
        "#;
        let c = check(text, Some("production")).unwrap();
        let got: Vec<String> = c.problems.iter().map(ToString::to_string).collect();
        assert_eq!(got.len(), 4, "{got:#?}");
        assert!(
            got[0].starts_with(
                "env.production.vars.EDGE.origin_timeout: expected a duration above 0"
            )
        );
        assert!(got[1].starts_with("env.production.vars.EDGE.max_request_body:"));
        assert!(got[2].starts_with("env.production.vars.EDGE.health.probe_timeout:"));
        assert!(
            got[3].starts_with("env.production.vars.ORIGIN_URL: expected an http or https URL")
        );
    }

    #[test]
    fn test_hooks_are_refused() {
        let text = "[vars]\nORIGIN_URL = \"https://a.example\"\nEDGE_TEST_HOOKS = \"panic\"\n";
        let c = check(text, None).unwrap();
        let got: Vec<String> = c.problems.iter().map(ToString::to_string).collect();
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(
            got[0].starts_with("vars.EDGE_TEST_HOOKS: expected nothing"),
            "{got:#?}"
        );
    }

    #[test]
    fn environments_do_not_inherit_vars() {
        let text = "[vars]\nORIGIN_URL = \"https://a.example\"\n[env.preview]\nname = \"p\"\n";
        let c = check(text, Some("preview")).unwrap();
        assert_eq!(c.problems.len(), 1);
        assert_eq!(c.problems[0].field, "env.preview.vars.ORIGIN_URL");
        assert!(
            check(text, Some("nope"))
                .unwrap_err()
                .to_string()
                .contains("no [env.nope]")
        );
        assert!(check("not = [toml", None).is_err());
    }
}
