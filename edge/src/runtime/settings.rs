//! Per-isolate settings: the `EDGE` config, `ORIGIN_URL`, the admin token and the version, read
//! from the environment once per isolate.
//!
//! A config that does not validate never stops the edge: it serves as a plain proxy with the
//! defaults, reports the errors in `/__edge/health` and logs them once.

use std::cell::OnceCell;
use std::rc::Rc;

use wasm_bindgen::JsValue;

use super::env::Env;
use super::log;
use crate::cache::CacheRules;
use crate::cors::Cors;
use crate::forwarding::{CLIENT_MAY_NOT_SET, HOP_BY_HOP};
use crate::metrics::Recorder;
use crate::rate_limit::RuleSet;
use wyn_edge_shared::config::{
    ConfigError, ConfigErrors, EDGE_VAR, EdgeConfig, ORIGIN_VAR, TEST_HOOKS_VAR, parse_origin_url,
};

/// Name of the secret holding the admin API token.
pub const ADMIN_TOKEN_SECRET: &str = "EDGE_ADMIN_TOKEN";
/// Name of Cloudflare's version metadata binding.
pub const VERSION_METADATA_BINDING: &str = "CF_VERSION_METADATA";

/// What the isolate serves with.
pub struct Settings {
    /// The effective config: the validated one, or the defaults when it did not validate.
    pub config: EdgeConfig,
    /// Why the configured `EDGE` was rejected, if it was.
    pub config_errors: Option<ConfigErrors>,
    /// The origin URL without a trailing slash, or why there is none.
    pub origin: Result<String, ConfigError>,
    /// The admin token, when set and not empty.
    pub admin_token: Option<String>,
    /// The version this worker reports.
    pub version: String,
    /// The compiled rate-limit rules and their budgets.
    pub rules: RuleSet,
    /// The compiled CORS policy, if there is one.
    pub cors: Option<Cors>,
    /// The compiled cache rules.
    pub cache: CacheRules,
    /// This isolate's metrics.
    pub metrics: std::cell::RefCell<Recorder>,
    /// Whether `/__edge/test/panic` panics (the `EDGE_TEST_HOOKS` binding says `panic`: test
    /// runs only).
    pub test_panic: bool,
}

thread_local! {
    static SETTINGS: OnceCell<Rc<Settings>> = const { OnceCell::new() };
}

/// The isolate's settings, loaded from `env` on first use.
pub fn settings(env: &Env) -> Rc<Settings> {
    SETTINGS.with(|cell| cell.get_or_init(|| Rc::new(load(env))).clone())
}

fn load(env: &Env) -> Settings {
    super::glue::configure(
        &HOP_BY_HOP.join("\n"),
        &CLIENT_MAY_NOT_SET.join("\n"),
        &super::PREFETCH.join("\n"),
        super::PREFETCH_UNLESS_OPTIONS,
    );
    let edge = env.get(EDGE_VAR);
    // Printed one member per line by the runtime's `JSON`, so that a parse error's line names
    // the field (`EdgeConfig::from_pretty_json`); `EdgeConfig::from_json` would print it with
    // `serde_json::Value`, whose parser and printer the worker then links.
    let pretty = |value: &JsValue| {
        js_sys::JSON::stringify_with_replacer_and_space(value, &JsValue::NULL, &JsValue::from(2))
            .ok()
            .and_then(|s| s.as_string())
    };
    let parsed = if edge.is_undefined() {
        Ok(EdgeConfig::default())
    } else if let Some(text) = edge.as_string() {
        // `wrangler dev --var EDGE:'{...}'` passes the object as JSON text. Text that is not
        // JSON is parsed as it is, for serde_json to say what is wrong with it.
        let text = js_sys::JSON::parse(&text)
            .ok()
            .and_then(|value| pretty(&value))
            .unwrap_or(text);
        EdgeConfig::from_pretty_json(&text)
    } else {
        EdgeConfig::from_pretty_json(&pretty(&edge).unwrap_or_default())
    };
    let (config, config_errors) = match parsed {
        Ok(config) => (config, None),
        Err(errors) => {
            log::error(&format!(
                "wyn-edge: EDGE config rejected, serving with defaults: {errors}"
            ));
            (EdgeConfig::default(), Some(errors))
        }
    };
    let origin = env.get(ORIGIN_VAR).as_string().map_or_else(
        || {
            Err(ConfigError {
                field: ORIGIN_VAR.into(),
                message: "expected an absolute URL like \"https://app.example\", found nothing"
                    .into(),
            })
        },
        |text| parse_origin_url(&text),
    );
    if let Err(e) = &origin {
        log::error(&format!("wyn-edge: {e}"));
    }
    let admin_token = env
        .get(ADMIN_TOKEN_SECRET)
        .as_string()
        .filter(|t| !t.is_empty());
    let platform_version =
        js_sys::Reflect::get(&env.get(VERSION_METADATA_BINDING), &JsValue::from_str("id"))
            .ok()
            .and_then(|id| id.as_string())
            .filter(|id| !id.is_empty());
    let version = platform_version
        .or_else(|| config.version.clone())
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned());
    let rules = RuleSet::new(&config.rate_limits);
    let cors = config.cors.as_ref().map(Cors::new);
    let cache = CacheRules::new(&config.cache);
    let metrics = std::cell::RefCell::new(Recorder::new(&config.metrics));
    let test_panic = env
        .get(TEST_HOOKS_VAR)
        .as_string()
        .is_some_and(|hooks| hooks.split(',').any(|h| h.trim() == "panic"));
    if test_panic {
        log::warn("wyn-edge: test hook on: /__edge/test/panic panics");
    }
    Settings {
        config,
        config_errors,
        origin,
        admin_token,
        version,
        rules,
        cors,
        cache,
        metrics,
        test_panic,
    }
}
