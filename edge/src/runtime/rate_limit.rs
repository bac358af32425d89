//! The rate-limit phase in the runtime: local rules in memory, global rules through their Durable
//! Objects, the answer's headers, and the admin report.

use wyn_edge_shared::admin::{API_VERSION, RateLimitReport, RuleStats};
use wyn_edge_shared::config::rate_limit::{Mode, Scope};

use super::env::Env;
use super::failure::{self, Failure};
use super::{Incoming, Settings, log};
use crate::error::EdgeError;
use crate::rate_limit::{Decision, Evaluation, GlobalCheck, GlobalVerdict, Limits};

/// Name of the Durable Object namespace binding of global rules.
pub const BINDING: &str = "RATE_LIMITER";

/// Rules are decided before the request's first I/O: its arrival time is the time now.
fn now_ns(req: &Incoming) -> u64 {
    (req.started_ms * 1_000_000.0) as u64
}

/// The local rules' verdict on a proxied request, decided without I/O.
pub enum Local {
    /// Every rule is decided: refused, or allowed with these headers.
    Decided(Result<Option<Limits>, EdgeError>),
    /// Allowed so far; global rules wait for their Durable Objects (see [`check_global`]).
    Pending(Evaluation),
}

/// Decides the configured rules that need no I/O: the local ones, or all of them when no global
/// rule applies or a local one already refuses.
pub fn check_local(req: &Incoming, settings: &Settings) -> Local {
    let rules = &settings.rules;
    if rules.rules().is_empty() || req.is_preflight() {
        return Local::Decided(Ok(None));
    }
    let eval = rules.evaluate_local(
        &req.method,
        req.path(),
        &req.client_key(),
        |name| req.header(name),
        now_ns(req),
    );
    if eval.pending.is_empty() || eval.refused(rules) {
        Local::Decided(into_result(&eval, settings))
    } else {
        Local::Pending(eval)
    }
}

/// Asks the global rules' Durable Objects, then decides every rule. `Ok` carries the headers to
/// add.
pub async fn check_global(
    mut eval: Evaluation,
    settings: &Settings,
    env: &Env,
) -> Result<Option<Limits>, EdgeError> {
    let rules = &settings.rules;
    for pending in std::mem::take(&mut eval.pending) {
        let question = rules.global_check(pending.rule);
        match ask(env, &question, &question.object_name(&pending.key)).await {
            Ok(verdict) => eval.record_global(rules, pending.rule, verdict.into()),
            Err(e) => {
                log::error(&format!(
                    "wyn-edge: rate limit {:?} undecided: {e}",
                    question.rule
                ));
                eval.record_global_error(rules, pending.rule);
            }
        }
    }
    into_result(&eval, settings)
}

/// Decides the admin rule for a request to a protected admin route.
pub fn check_admin(req: &Incoming, settings: &Settings) -> Result<(), EdgeError> {
    let eval = settings
        .rules
        .evaluate_admin(&req.client_key(), now_ns(req));
    into_result(&eval, settings).map(|_| ())
}

fn into_result(eval: &Evaluation, settings: &Settings) -> Result<Option<Limits>, EdgeError> {
    match eval.decide(&settings.rules) {
        Decision::Allow { headers } => Ok(headers),
        Decision::Refuse {
            retry_after,
            headers,
        } => Err(EdgeError::rate_limited(headers, retry_after)),
        Decision::Unavailable { rule } => Err(EdgeError::rate_limiter_unavailable(&rule)),
    }
}

async fn ask(env: &Env, question: &GlobalCheck, object: &str) -> failure::Result<GlobalVerdict> {
    let stub = env.object(BINDING, object)?;
    let body = serde_json::to_string(question)?;
    let answer = super::ask_object(stub, "https://rate-limiter/check", Some(&body)).await?;
    if answer.status != 200 {
        return Err(Failure::Said(format!(
            "rate limiter answered {}",
            answer.status
        )));
    }
    Ok(serde_json::from_str(&answer.body)?)
}

/// Adds `RateLimit-Policy` and `RateLimit` to the response the request is answered with.
pub fn add_headers(req: &Incoming, limits: &Limits) {
    if let Some((policy, remaining)) = limits.fields() {
        req.defer_header("ratelimit-policy", &policy);
        req.defer_header("ratelimit", &remaining);
    }
}

/// `GET /__edge/rate-limits`: each rule's counters in this isolate.
pub fn report(settings: &Settings) -> RateLimitReport {
    let rules = settings
        .rules
        .rules()
        .iter()
        .chain(std::iter::once(settings.rules.admin()))
        .map(|r| RuleStats {
            name: r.spec.name.clone(),
            scope: match r.spec.scope {
                Scope::Local => "local".into(),
                Scope::Global => "global".into(),
            },
            mode: match r.spec.mode {
                Mode::Enforce => "enforce".into(),
                Mode::Shadow => "shadow".into(),
            },
            limit: r.spec.limit,
            period_secs: r.spec.period.as_secs(),
            allowed: r.counters.allowed.get(),
            refused: r.counters.refused.get(),
            shadow_refused: r.counters.shadow_refused.get(),
            errors: r.counters.errors.get(),
            tracked_keys: r.tracked_keys() as u64,
        })
        .collect();
    RateLimitReport {
        api_version: API_VERSION,
        rules,
    }
}
