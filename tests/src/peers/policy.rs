//! The shipped WYN policy (wrangler.toml, `[vars.EDGE]`) handed to the peers: as JSON for the Hono
//! worker (its `POLICY` binding) and as nginx configuration filled into
//! `bench/nginx/nginx.conf.template`. Both come from the config the worker itself parses
//! ([`EdgeConfig`]), so the peers cannot drift from what ours enforces.
//!
//! Only what the peers can express is accepted: client-address keys, enforced rules, a burst equal
//! to the limit (hono-rate-limiter counts fixed windows). Anything else stops the bench with a
//! message naming the rule.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use serde_json::json;
use wyn_edge_shared::config::EdgeConfig;
use wyn_edge_shared::config::rate_limit::{KeySpec, Mode, Scope};

/// The `EDGE` object of wrangler.toml's `[vars]`, as JSON text.
pub fn shipped_policy_json(wrangler_toml: &str) -> Result<String> {
    let doc: toml::Table = toml::from_str(wrangler_toml).context("reading wrangler.toml")?;
    let edge = doc
        .get("vars")
        .and_then(|v| v.get("EDGE"))
        .context("no [vars.EDGE] in wrangler.toml")?;
    Ok(serde_json::to_string(edge)?)
}

/// The repository's shipped policy: [`shipped_policy_json`] of its `wrangler.toml`.
pub fn shipped() -> Result<String> {
    let path = crate::stack::root().join("wrangler.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    shipped_policy_json(&text)
}

/// Parses and validates the policy the way the worker does.
pub fn parse(policy_json: &str) -> Result<EdgeConfig> {
    EdgeConfig::from_json(policy_json).map_err(|e| anyhow::anyhow!("the shipped policy: {e}"))
}

/// Refuses what the peers cannot do the same way.
pub fn check_expressible(config: &EdgeConfig) -> Result<()> {
    for rule in &config.rate_limits {
        let at = format!("EDGE.rate_limits ({})", rule.name);
        if rule.key != KeySpec::Ip {
            bail!(
                "{at}: key {}: the peers key by client address only",
                rule.key
            );
        }
        if rule.mode != Mode::Enforce {
            bail!("{at}: shadow mode has no peer equivalent");
        }
        if rule.effective_burst() != rule.limit {
            bail!("{at}: a burst other than the limit has no hono-rate-limiter equivalent");
        }
        nginx_rate(rule.limit, rule.period.as_secs()).with_context(|| at.clone())?;
    }
    Ok(())
}

/// The policy as the Hono worker reads it (`POLICY`).
pub fn hono_policy(config: &EdgeConfig) -> serde_json::Value {
    let cors = config.cors.as_ref().map(|c| {
        json!({
            "paths": c.paths,
            "origins": c.origins,
            "methods": c.methods,
            "request_headers": c.request_headers,
            "expose_headers": c.expose_headers,
            "credentials": c.credentials,
            "max_age": c.max_age.as_secs(),
            "strip_origin_headers": c.strip_origin_headers,
        })
    });
    let rate_limits: Vec<_> = config
        .rate_limits
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "path": r.path,
                "except": r.except,
                "methods": r.methods,
                "limit": r.limit,
                "period_ms": r.period.as_millis() as u64,
                "scope": if r.scope == Scope::Global { "global" } else { "local" },
            })
        })
        .collect();
    let routes: Vec<_> = config
        .cache
        .routes
        .iter()
        .map(|r| {
            let mut route = json!({ "path": r.path, "bypass": r.bypass });
            if let Some(ttl) = r.ttl {
                route["ttl"] = json!(ttl.as_secs());
            }
            route
        })
        .collect();
    json!({
        "cors": cors,
        "rate_limits": rate_limits,
        "cache": {
            "nextjs": config.cache.nextjs,
            "drop_query_params": config.cache.drop_query_params,
            "routes": routes,
        },
    })
}

/// A policy path (`/api/chat`, `/api/*`, `/*`, `/venues/*/menu`) as an anchored regular expression
/// over nginx's `$uri`: a trailing `/*` is the path before it and everything below, `*` elsewhere
/// one segment.
pub fn path_regex(pattern: &str) -> String {
    let (base, below) = match pattern.strip_suffix("/*") {
        Some(base) => (base, true),
        None => (pattern, false),
    };
    let body: Vec<String> = base
        .split('/')
        .map(|segment| {
            if segment == "*" {
                "[^/]+".to_owned()
            } else {
                regex_escape(segment)
            }
        })
        .collect();
    let body = body.join("/");
    if below {
        format!("^{body}(/.*)?$")
    } else if body.is_empty() {
        "^/$".to_owned()
    } else {
        format!("^{body}$")
    }
}

/// An allowed origin as an nginx map entry's regex (`*` is one DNS label), or `None` when exact.
pub fn origin_regex(origin: &str) -> Option<String> {
    origin.contains('*').then(|| {
        let parts: Vec<String> = origin.split('*').map(regex_escape).collect();
        format!("^{}$", parts.join("[a-z0-9-]+"))
    })
}

/// A query parameter name or glob (`utm_*`) as a regex fragment.
fn param_regex(glob: &str) -> String {
    let parts: Vec<String> = glob.split('*').map(regex_escape).collect();
    parts.join("[^=&]*")
}

fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `limit` per `period_secs` as an nginx rate, which is whole requests per second or per minute.
pub fn nginx_rate(limit: u32, period_secs: u64) -> Result<String> {
    let limit = u64::from(limit);
    if period_secs == 0 {
        bail!("a period of 0 s");
    }
    if limit % period_secs == 0 {
        return Ok(format!("{}r/s", limit / period_secs));
    }
    if (limit * 60) % period_secs == 0 {
        return Ok(format!("{}r/m", limit * 60 / period_secs));
    }
    bail!("{limit} per {period_secs} s is no whole number of requests a second or a minute")
}

/// How many query parameters the nginx cache key can drop from one URL (one map each).
const ARG_PASSES: usize = 3;

/// Fills the nginx template for a prefix, a port and an origin (`host:port`).
pub fn nginx_conf(
    template: &str,
    config: &EdgeConfig,
    prefix: &Path,
    port: u16,
    origin: &str,
    user: &str,
) -> Result<String> {
    let mut maps = String::new();
    let mut limits = String::new();
    for rule in &config.rate_limits {
        let name = rule.name.replace('-', "_");
        maps.push_str(&format!(
            "    map $uri $wyn_rl_{name}_path {{\n        default 0;\n"
        ));
        for except in &rule.except {
            maps.push_str(&format!("        \"~*{}\" 0;\n", path_regex(except)));
        }
        maps.push_str(&format!(
            "        \"~*{}\" 1;\n    }}\n",
            path_regex(&rule.path)
        ));
        let methods = if rule.methods.is_empty() {
            String::new()
        } else {
            format!("({})$", rule.methods.join("|"))
        };
        maps.push_str(&format!(
            "    map \"$wyn_rl_{name}_path:$request_method\" $wyn_rl_{name} {{\n        default \"\";\n        \"~^1:{methods}\" $wyn_client;\n    }}\n"
        ));
        maps.push_str(&format!(
            "    limit_req_zone $wyn_rl_{name} zone=wyn_{name}:16m rate={};\n",
            nginx_rate(rule.limit, rule.period.as_secs())?
        ));
        // nginx lets `burst` requests through beyond the first, at once.
        limits.push_str(&format!(
            "        limit_req zone=wyn_{name} burst={} nodelay;\n",
            rule.effective_burst().saturating_sub(1)
        ));
    }

    let (origins, paths, credentials, methods, request_headers, max_age, expose) =
        match &config.cors {
            Some(c) => {
                let origins: Vec<String> = c
                    .origins
                    .iter()
                    .map(|o| match origin_regex(o) {
                        Some(re) => format!("        \"~{re}\" $http_origin;"),
                        None => format!("        \"{o}\" $http_origin;"),
                    })
                    .collect();
                let paths: Vec<String> = c
                    .paths
                    .iter()
                    .map(|p| format!("        \"~*{}\" 1;", path_regex(p)))
                    .collect();
                (
                    origins.join("\n"),
                    paths.join("\n"),
                    if c.credentials { "true" } else { "" },
                    c.methods.join(", "),
                    c.request_headers.join(", "),
                    c.max_age.as_secs().to_string(),
                    c.expose_headers.join(", "),
                )
            }
            None => Default::default(),
        };

    let dropped: Vec<String> = config
        .cache
        .drop_query_params
        .iter()
        .map(|p| param_regex(p))
        .collect();
    let mut args_maps = String::new();
    let mut from = "$args".to_owned();
    for pass in 1..=ARG_PASSES {
        let to = format!("$wyn_args_{pass}");
        if dropped.is_empty() {
            args_maps.push_str(&format!("    map {from} {to} {{ default {from}; }}\n"));
        } else {
            args_maps.push_str(&format!(
                "    map {from} {to} {{\n        default {from};\n        \"~^(?<wyn_before>(.*&)?)({})(=[^&]*)?(&(?<wyn_after>.*))?$\" $wyn_before$wyn_after;\n    }}\n",
                dropped.join("|")
            ));
        }
        from = to;
    }
    // A parameter dropped at the end leaves an `&` behind: `a=1&gclid=2` keys like `a=1`.
    args_maps.push_str(&format!(
        "    map {from} $wyn_cache_args {{\n        default {from};\n        \"~^(?<wyn_kept>.*?)&+$\" $wyn_kept;\n    }}\n"
    ));

    let mut bypass = String::new();
    let mut ttl_locations = String::new();
    for route in &config.cache.routes {
        if route.bypass {
            bypass.push_str(&format!("        \"~*{}\" 1;\n", path_regex(&route.path)));
        } else if let Some(ttl) = route.ttl {
            ttl_locations.push_str(&format!(
                "        location ~* \"{}\" {{\n            proxy_ignore_headers Cache-Control Expires;\n            proxy_cache_valid 200 {}s;\n            proxy_pass http://wyn_origin;\n        }}\n",
                path_regex(&route.path),
                ttl.as_secs()
            ));
        }
    }

    let filled = [
        ("USER", user.to_owned()),
        ("PREFIX", prefix.display().to_string()),
        ("PORT", port.to_string()),
        ("ORIGIN", origin.to_owned()),
        ("MAX_BODY", config.max_request_body.to_string()),
        (
            "ORIGIN_TIMEOUT",
            format!("{}s", config.origin_timeout.as_secs().max(1)),
        ),
        ("RATE_LIMIT_MAPS", maps.trim_end().to_owned()),
        ("RATE_LIMITS", limits.trim_end().to_owned()),
        ("CORS_ORIGINS", origins),
        ("CORS_PATHS", paths),
        ("CORS_CREDENTIALS", credentials.to_owned()),
        ("CORS_METHODS", methods),
        ("CORS_REQUEST_HEADERS", request_headers),
        ("CORS_MAX_AGE", max_age),
        ("CORS_EXPOSE_HEADERS", expose),
        ("CACHE_ARGS_MAPS", args_maps.trim_end().to_owned()),
        ("CACHE_BYPASS", bypass.trim_end().to_owned()),
        ("CACHE_TTL_LOCATIONS", ttl_locations.trim_end().to_owned()),
    ];
    let mut conf = template.to_owned();
    for (name, value) in filled {
        let slot = format!("{{{{{name}}}}}");
        if !conf.contains(&slot) {
            bail!("bench/nginx/nginx.conf.template has no {slot}");
        }
        conf = conf.replace(&slot, &value);
    }
    if let Some(at) = conf.find("{{") {
        let rest: String = conf[at..].chars().take(40).collect();
        bail!("bench/nginx/nginx.conf.template: nothing fills {rest}");
    }
    Ok(conf)
}

/// Bundles bench/hono with the pinned esbuild, minified, as `wrangler deploy --minify` would.
pub fn bundle_hono(root: &Path, work: &Path) -> Result<PathBuf> {
    let out = work.join("hono/worker.js");
    let status = Command::new(root.join("node_modules/.bin/esbuild"))
        .current_dir(root)
        .args([
            "bench/hono/src/index.js",
            "--bundle",
            "--format=esm",
            "--platform=browser",
            "--conditions=workerd,worker",
            "--target=es2022",
            "--minify",
            "--external:cloudflare:*",
            "--log-level=warning",
        ])
        .arg(format!("--outfile={}", out.display()))
        .status()
        .context("running esbuild (make tools installs it)")?;
    ensure!(
        status.success(),
        "esbuild failed to bundle bench/hono ({status})"
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../wrangler.toml");

    fn shipped() -> EdgeConfig {
        parse(&shipped_policy_json(SHIPPED).unwrap()).unwrap()
    }

    #[test]
    fn paths_become_anchored_regexes() {
        assert_eq!(path_regex("/api/chat"), "^/api/chat$");
        assert_eq!(path_regex("/api/*"), "^/api(/.*)?$");
        assert_eq!(path_regex("/*"), "^(/.*)?$");
        assert_eq!(path_regex("/"), "^/$");
        assert_eq!(path_regex("/venues/*/menu"), "^/venues/[^/]+/menu$");
        assert_eq!(path_regex("/a.b/*"), "^/a\\.b(/.*)?$");
    }

    #[test]
    fn origin_patterns_match_one_label() {
        assert_eq!(origin_regex("https://wyn.app"), None);
        assert_eq!(
            origin_regex("https://wyn-*.vercel.app").as_deref(),
            Some("^https://wyn-[a-z0-9-]+\\.vercel\\.app$")
        );
    }

    #[test]
    fn rates_are_whole_per_second_or_minute() {
        assert_eq!(nginx_rate(600, 60).unwrap(), "10r/s");
        assert_eq!(nginx_rate(30, 60).unwrap(), "30r/m");
        assert_eq!(
            nginx_rate(100, 3600).unwrap_err().to_string(),
            "100 per 3600 s is no whole number of requests a second or a minute"
        );
        assert_eq!(nginx_rate(5, 1).unwrap(), "5r/s");
    }

    #[test]
    fn the_shipped_policy_is_expressible() {
        let config = shipped();
        check_expressible(&config).unwrap();
        let hono = hono_policy(&config);
        assert_eq!(hono["rate_limits"][0]["name"], "chat");
        assert_eq!(hono["rate_limits"][0]["scope"], "global");
        assert_eq!(hono["rate_limits"][1]["period_ms"], 60_000);
        assert_eq!(hono["cors"]["max_age"], 7200);
        assert_eq!(hono["cache"]["routes"][1]["ttl"], 365 * 86_400);
        assert_eq!(hono["cache"]["routes"][0]["bypass"], true);
    }

    #[test]
    fn refuses_what_peers_cannot_express() {
        let json = r#"{"rate_limits":[{"name":"k","path":"/*","key":"header:x-api-key","limit":5,"period":"1s"}]}"#;
        let err = check_expressible(&parse(json).unwrap()).unwrap_err();
        assert!(err.to_string().contains("client address only"), "{err}");
        let json =
            r#"{"rate_limits":[{"name":"b","path":"/*","limit":5,"period":"1s","burst":20}]}"#;
        assert!(check_expressible(&parse(json).unwrap()).is_err());
    }

    #[test]
    fn fills_the_nginx_template() {
        let template = include_str!("../../../bench/nginx/nginx.conf.template");
        let conf = nginx_conf(
            template,
            &shipped(),
            Path::new("/tmp/p"),
            8080,
            "127.0.0.1:3000",
            "root",
        )
        .unwrap();
        assert!(conf.contains("listen 127.0.0.1:8080"));
        assert!(conf.contains("server 127.0.0.1:3000;"));
        assert!(conf.contains("limit_req_zone $wyn_rl_api zone=wyn_api:16m rate=10r/s;"));
        assert!(conf.contains("limit_req_zone $wyn_rl_chat zone=wyn_chat:16m rate=30r/m;"));
        assert!(conf.contains("limit_req zone=wyn_site burst=1199 nodelay;"));
        assert!(conf.contains("\"~^1:(POST)$\" $wyn_client;"));
        assert!(
            conf.contains("\"~*^/api(/.*)?$\" 0;"),
            "site excepts /api/*"
        );
        assert!(conf.contains("\"~^https://wyn-[a-z0-9-]+\\.vercel\\.app$\" $http_origin;"));
        assert!(conf.contains("\"https://wyn.app\" $http_origin;"));
        assert!(conf.contains("proxy_cache_valid 200 31536000s;"));
        assert!(conf.contains("(utm_[^=&]*|fbclid|gclid)"));
        assert!(conf.contains("204     \"7200\";"));
        assert!(!conf.contains("{{"));
    }

    #[test]
    fn a_template_slot_nothing_fills_is_an_error() {
        let err = nginx_conf(
            "{{USER}} {{PREFIX}} {{PORT}} {{ORIGIN}} {{MAX_BODY}} {{ORIGIN_TIMEOUT}} {{RATE_LIMIT_MAPS}} {{RATE_LIMITS}} {{CORS_ORIGINS}} {{CORS_PATHS}} {{CORS_CREDENTIALS}} {{CORS_METHODS}} {{CORS_REQUEST_HEADERS}} {{CORS_MAX_AGE}} {{CORS_EXPOSE_HEADERS}} {{CACHE_ARGS_MAPS}} {{CACHE_BYPASS}} {{CACHE_TTL_LOCATIONS}} {{TYPO}}",
            &shipped(),
            Path::new("/p"),
            1,
            "o",
            "u",
        )
        .unwrap_err();
        assert!(err.to_string().contains("{{TYPO}}"), "{err}");
    }
}
