//! Rate limiting a client cannot dodge: GCRA rules from the config, each with its own budgets.
//!
//! A request must pass every enforced rule that matches its method and (normalised) path. `local`
//! rules decide here, in isolate memory ([`gcra::Limiter`]); `global` rules are decided by a
//! Durable Object per key (the runtime adapter asks it, after the local rules passed, so a request
//! refused locally spends no global budget). `shadow` rules never refuse; they count what they
//! would have refused. Of the verdicts, the tightest decides the `RateLimit` headers.
//!
//! ```
//! use wyn_edge::rate_limit::{client_key::ClientKey, RuleSet};
//! use wyn_edge_shared::config::EdgeConfig;
//! let config = EdgeConfig::from_json(
//!     r#"{"rate_limits":[{"name":"chat","path":"/api/chat","methods":["POST"],"limit":1,"period":"60s"}]}"#,
//! ).unwrap();
//! let rules = RuleSet::new(&config.rate_limits);
//! let client = ClientKey::from_ip(Some("203.0.113.7"));
//! let now = 1_800_000_000_000_000_000;
//! assert!(rules.evaluate_local("POST", "/api/chat", &client, |_| None, now).decide(&rules).is_allowed());
//! assert!(!rules.evaluate_local("POST", "/api/chat", &client, |_| None, now).decide(&rules).is_allowed());
//! assert!(rules.evaluate_local("GET", "/api/chat", &client, |_| None, now).decide(&rules).is_allowed());
//! ```

pub mod client_key;
pub mod gcra;
pub mod headers;
pub mod path_pattern;

use std::cell::Cell;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wyn_edge_shared::config::rate_limit::{KeySpec, Mode, OnError, RateLimitRule, Scope};

use client_key::ClientKey;
use gcra::{Limiter, Verdict};
use path_pattern::{PathPattern, normalize};

/// What each rule has seen in this isolate.
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests the rule let through.
    pub allowed: Cell<u64>,
    /// Requests the rule refused.
    pub refused: Cell<u64>,
    /// Requests a shadow rule would have refused.
    pub shadow_refused: Cell<u64>,
    /// Global decisions that could not be made (the Durable Object failed).
    pub errors: Cell<u64>,
}

fn bump(c: &Cell<u64>) {
    c.set(c.get() + 1);
}

/// A configured rule, compiled.
pub struct Rule {
    /// The rule as configured.
    pub spec: RateLimitRule,
    pattern: PathPattern,
    except: Vec<PathPattern>,
    local: Option<Limiter<ClientKey>>,
    /// What the rule has seen in this isolate.
    pub counters: Counters,
}

impl Rule {
    fn new(spec: RateLimitRule) -> Self {
        let local = (spec.scope == Scope::Local).then(|| {
            Limiter::new(
                spec.limit,
                spec.period,
                spec.effective_burst(),
                spec.max_keys,
            )
        });
        Self {
            pattern: PathPattern::new(&spec.path),
            except: spec.except.iter().map(|p| PathPattern::new(p)).collect(),
            local,
            spec,
            counters: Counters::default(),
        }
    }

    /// Keys this isolate tracks for the rule (0 for global rules).
    pub fn tracked_keys(&self) -> usize {
        self.local.as_ref().map_or(0, Limiter::len)
    }

    fn covers(&self, method: &str, normalized_path: &str) -> bool {
        (self.spec.methods.is_empty() || self.spec.methods.iter().any(|m| m == method))
            && self.pattern.matches(normalized_path)
            && !self.except.iter().any(|e| e.matches(normalized_path))
    }

    /// The budget a request spends under this rule.
    pub fn key(&self, client: &ClientKey, header: impl Fn(&str) -> Option<String>) -> ClientKey {
        match &self.spec.key {
            KeySpec::Ip => client.clone(),
            KeySpec::Global => ClientKey::Global,
            // Without the header, the client still has a budget: its address's.
            KeySpec::Header(name) => header(name)
                .and_then(|v| ClientKey::from_header(&v))
                .unwrap_or_else(|| client.clone()),
        }
    }
}

/// Whether a request is a CORS preflight, which is never rate limited: it costs the origin nothing
/// and a browser sends one before many real requests.
pub fn is_preflight(method: &str, has_origin: bool, has_request_method: bool) -> bool {
    method == "OPTIONS" && has_origin && has_request_method
}

/// The admin API's own rule: 60 requests a minute per client address, in each isolate.
pub fn admin_rule() -> RateLimitRule {
    RateLimitRule {
        name: "admin".into(),
        path: "/__edge/*".into(),
        except: Vec::new(),
        methods: Vec::new(),
        key: KeySpec::Ip,
        limit: 60,
        period: Duration::from_secs(60),
        burst: None,
        scope: Scope::Local,
        mode: Mode::Enforce,
        on_error: None,
        max_keys: 10_000,
    }
}

/// All rules of the config, plus the admin rule.
pub struct RuleSet {
    rules: Vec<Rule>,
    admin: Rule,
}

/// A global rule still to be decided by its Durable Object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingGlobal {
    /// Index of the rule in the set.
    pub rule: usize,
    /// The key whose budget is spent.
    pub key: ClientKey,
}

/// What the Durable Object is asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalCheck {
    /// Rule name.
    pub rule: String,
    /// Requests per period.
    pub limit: u32,
    /// The period, in milliseconds.
    pub period_ms: u64,
    /// Requests at once.
    pub burst: u32,
}

impl GlobalCheck {
    /// The question for `rule`.
    pub fn for_rule(rule: &RateLimitRule) -> Self {
        Self {
            rule: rule.name.clone(),
            limit: rule.limit,
            period_ms: rule.period.as_millis() as u64,
            burst: rule.effective_burst(),
        }
    }

    /// The Durable Object that holds `key`'s budget under this rule: one per key, so one hot key
    /// never queues the others.
    pub fn object_name(&self, key: &ClientKey) -> String {
        format!("{}/{key}", self.rule)
    }
}

/// The Durable Object's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalVerdict {
    /// Whether the request fits.
    pub allowed: bool,
    /// Requests still possible at once.
    pub remaining: u32,
    /// Milliseconds until the whole burst is back.
    pub reset_ms: u64,
    /// When refused, milliseconds until a request would pass.
    pub retry_after_ms: u64,
}

impl From<Verdict> for GlobalVerdict {
    fn from(v: Verdict) -> Self {
        Self {
            allowed: v.allowed,
            remaining: v.remaining,
            reset_ms: v.reset.as_nanos().div_ceil(1_000_000) as u64,
            retry_after_ms: v.retry_after.as_nanos().div_ceil(1_000_000) as u64,
        }
    }
}

impl From<GlobalVerdict> for Verdict {
    fn from(v: GlobalVerdict) -> Self {
        Self {
            allowed: v.allowed,
            remaining: v.remaining,
            reset: Duration::from_millis(v.reset_ms),
            retry_after: Duration::from_millis(v.retry_after_ms),
        }
    }
}

/// The verdicts gathered for one request.
#[derive(Debug, Default)]
pub struct Evaluation {
    verdicts: Vec<(usize, Verdict)>,
    unavailable: Option<usize>,
    /// Global rules the adapter must still ask their Durable Object about.
    pub pending: Vec<PendingGlobal>,
    admin: bool,
}

impl Evaluation {
    /// Whether an enforced rule already refused.
    pub fn refused(&self, set: &RuleSet) -> bool {
        self.unavailable.is_some()
            || self
                .verdicts
                .iter()
                .any(|(i, v)| !v.allowed && set.rule(*i, self.admin).spec.mode == Mode::Enforce)
    }

    /// Records a global rule's verdict from its Durable Object.
    pub fn record_global(&mut self, set: &RuleSet, rule: usize, verdict: Verdict) {
        set.count(rule, false, &verdict);
        self.verdicts.push((rule, verdict));
    }

    /// Records that a global rule's Durable Object could not answer; `on_error` decides.
    pub fn record_global_error(&mut self, set: &RuleSet, rule: usize) {
        let spec = &set.rules[rule].spec;
        bump(&set.rules[rule].counters.errors);
        if spec.on_error == Some(OnError::Deny) && spec.mode == Mode::Enforce {
            self.unavailable = Some(rule);
        }
    }

    /// The decision: refuse (the longest wait among refusing rules), unavailable, or allow with
    /// the headers of the tightest rule.
    pub fn decide(&self, set: &RuleSet) -> Decision {
        if let Some(rule) = self.unavailable {
            return Decision::Unavailable {
                rule: set.rules[rule].spec.name.clone(),
            };
        }
        let enforced = self
            .verdicts
            .iter()
            .filter(|(i, _)| set.rule(*i, self.admin).spec.mode == Mode::Enforce);
        let refusal = enforced
            .clone()
            .filter(|(_, v)| !v.allowed)
            .max_by_key(|(_, v)| v.retry_after);
        if let Some((i, v)) = refusal {
            return Decision::Refuse {
                retry_after: v.retry_after,
                headers: Limits::of(&set.rule(*i, self.admin).spec, v),
            };
        }
        let tightest = enforced.min_by_key(|(_, v)| (v.remaining, std::cmp::Reverse(v.reset)));
        Decision::Allow {
            headers: tightest.map(|(i, v)| Limits::of(&set.rule(*i, self.admin).spec, v)),
        }
    }
}

/// What the `RateLimit` headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Rule name.
    pub name: String,
    /// Requests per window.
    pub quota: u32,
    /// Window, in seconds.
    pub window_secs: u64,
    /// Requests still possible at once.
    pub remaining: u32,
    /// Seconds until the whole burst is back.
    pub reset_secs: u64,
}

impl Limits {
    fn of(spec: &RateLimitRule, v: &Verdict) -> Self {
        Self {
            name: spec.name.clone(),
            quota: spec.limit,
            window_secs: spec.period.as_secs(),
            remaining: v.remaining,
            reset_secs: headers::ceil_secs(v.reset),
        }
    }

    /// `(RateLimit-Policy, RateLimit)` field values.
    pub fn fields(&self) -> Option<(String, String)> {
        Some((
            headers::policy(&self.name, self.quota, self.window_secs)?,
            headers::remaining(&self.name, self.remaining, self.reset_secs)?,
        ))
    }
}

/// The outcome for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let it through; `headers` when an enforced rule covers it.
    Allow {
        /// The tightest rule's figures.
        headers: Option<Limits>,
    },
    /// 429.
    Refuse {
        /// How long until a request would pass.
        retry_after: Duration,
        /// The refusing rule's figures.
        headers: Limits,
    },
    /// A global rule with `on_error = "deny"` could not be decided: 503.
    Unavailable {
        /// The rule's name.
        rule: String,
    },
}

impl Decision {
    /// Whether the request goes on.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow { .. })
    }
}

impl RuleSet {
    /// Compiles validated rules.
    pub fn new(rules: &[RateLimitRule]) -> Self {
        Self {
            rules: rules.iter().cloned().map(Rule::new).collect(),
            admin: Rule::new(admin_rule()),
        }
    }

    /// The configured rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The admin API's rule.
    pub fn admin(&self) -> &Rule {
        &self.admin
    }

    fn rule(&self, i: usize, admin: bool) -> &Rule {
        if admin { &self.admin } else { &self.rules[i] }
    }

    fn count(&self, i: usize, admin: bool, v: &Verdict) {
        let rule = self.rule(i, admin);
        let c = &rule.counters;
        match (v.allowed, rule.spec.mode) {
            (true, _) => bump(&c.allowed),
            (false, Mode::Enforce) => bump(&c.refused),
            (false, Mode::Shadow) => bump(&c.shadow_refused),
        }
    }

    /// Decides the local rules covering a request and lists the global ones still to ask.
    /// `header` reads a request header, for header-keyed rules only.
    pub fn evaluate_local(
        &self,
        method: &str,
        path: &str,
        client: &ClientKey,
        header: impl Fn(&str) -> Option<String>,
        now_ns: u64,
    ) -> Evaluation {
        let path = normalize(path);
        let mut eval = Evaluation::default();
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.covers(method, &path) {
                continue;
            }
            let key = rule.key(client, &header);
            match &rule.local {
                Some(limiter) => {
                    let v = limiter.check(&key, now_ns);
                    self.count(i, false, &v);
                    eval.verdicts.push((i, v));
                }
                None => eval.pending.push(PendingGlobal { rule: i, key }),
            }
        }
        eval
    }

    /// Decides the admin rule for a request to an admin route.
    pub fn evaluate_admin(&self, client: &ClientKey, now_ns: u64) -> Evaluation {
        let mut eval = Evaluation {
            admin: true,
            ..Evaluation::default()
        };
        if let Some(limiter) = &self.admin.local {
            let v = limiter.check(client, now_ns);
            self.count(0, true, &v);
            eval.verdicts.push((0, v));
        }
        eval
    }

    /// The question for the global rule at `index`.
    pub fn global_check(&self, index: usize) -> GlobalCheck {
        GlobalCheck::for_rule(&self.rules[index].spec)
    }
}

#[cfg(test)]
mod tests;
