//! The CORS phase in the runtime: preflights answered from the policy, and the actual response's
//! headers set last.

use super::glue::Lines;
use super::{Incoming, Settings, Written};
use crate::cors::{self, CORS_RESPONSE_HEADERS, Preflight};
use crate::error::EdgeError;
use crate::rate_limit::path_pattern::normalize;

/// Answers a preflight when the edge owns CORS: 204 with the allow headers, or 403 with none.
/// `None` when there is no policy (the origin answers, as before the edge).
pub fn preflight(req: &Incoming, settings: &Settings) -> Option<Result<Written, EdgeError>> {
    let policy = settings.cors.as_ref()?;
    let origin = req.origin().unwrap_or_default();
    let decision = if policy.covers(&normalize(req.path())) {
        let method = req
            .header("access-control-request-method")
            .unwrap_or_default();
        let headers = req.header("access-control-request-headers");
        let private = req.header("access-control-request-private-network");
        policy.preflight(origin, &method, headers.as_deref(), private.as_deref())
    } else {
        Preflight::Refused(cors::Refusal::Origin)
    };
    Some(match decision {
        Preflight::Allowed(allowed) => {
            let mut pairs = Lines::default();
            for (name, value) in allowed.pairs() {
                pairs.pair(name, value);
            }
            Ok(Written::empty(204, pairs))
        }
        Preflight::Refused(why) => Err(EdgeError::cors_refused(why)),
    })
}

/// The CORS headers of an actual response on a covered route, as edits: `vary` and
/// `has_allow_origin` (whether the response carries an `Access-Control-Allow-Origin`) are
/// what the response says before them.
pub fn apply(
    req: &Incoming,
    settings: &Settings,
    vary: Option<&str>,
    has_allow_origin: bool,
    drop: &mut Lines,
    set: &mut Lines,
) {
    let Some(policy) = &settings.cors else { return };
    if !policy.covers(&normalize(req.path())) {
        return;
    }
    let actual = policy.actual(req.origin());
    // The origin's own CORS headers would mix with ours (its `Allow-Credentials: true` beside our
    // `Allow-Origin`), so they go whenever ours are set, or whenever it sent an `Allow-Origin`.
    if policy.strips_origin_headers() && (actual.allow_origin.is_some() || has_allow_origin) {
        for name in CORS_RESPONSE_HEADERS {
            drop.push(name);
        }
    }
    if let Some(allow) = actual.allow_origin {
        set.pair("access-control-allow-origin", allow);
        // Resource timing (and so Server-Timing) readable by the allowed origins only.
        set.pair("timing-allow-origin", allow);
        if actual.credentials {
            set.pair("access-control-allow-credentials", "true");
        }
        if let Some(expose) = actual.expose {
            set.pair("access-control-expose-headers", expose);
        }
    }
    if let Some(vary) = cors::vary_with_origin(vary) {
        set.pair("vary", &vary);
    }
}
