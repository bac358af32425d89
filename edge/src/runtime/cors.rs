//! The CORS phase in the runtime: preflights answered from the policy, and the actual response's
//! headers set last.

use web_sys::{Headers, Response, ResponseInit};

use super::{Incoming, Settings, header};
use crate::cors::{self, CORS_RESPONSE_HEADERS, Preflight};
use crate::error::EdgeError;
use crate::rate_limit::path_pattern::normalize;

/// Answers a preflight when the edge owns CORS: 204 with the allow headers, or 403 with none.
/// `None` when there is no policy (the origin answers, as before the edge).
pub fn preflight(req: &Incoming, settings: &Settings) -> Option<Result<Response, EdgeError>> {
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
            let headers = Headers::new().map_err(|_| EdgeError::internal());
            headers.and_then(|headers| {
                for (name, value) in allowed.pairs() {
                    let _ = headers.set(name, value);
                }
                let init = ResponseInit::new();
                init.set_status(204);
                init.set_headers(&headers);
                Response::new_with_opt_str_and_init(None, &init).map_err(|_| EdgeError::internal())
            })
        }
        Preflight::Refused(why) => Err(EdgeError::cors_refused(why)),
    })
}

/// Sets the CORS headers of an actual response on a covered route.
pub fn apply(response: &Response, req: &Incoming, settings: &Settings) {
    let Some(policy) = &settings.cors else { return };
    if !policy.covers(&normalize(req.path())) {
        return;
    }
    let headers = response.headers();
    let actual = policy.actual(req.origin());
    // The origin's own CORS headers would mix with ours (its `Allow-Credentials: true` beside our
    // `Allow-Origin`), so they go whenever ours are set, or whenever it sent an `Allow-Origin`.
    if policy.strips_origin_headers()
        && (actual.allow_origin.is_some()
            || headers.has("access-control-allow-origin").unwrap_or(false))
    {
        for name in CORS_RESPONSE_HEADERS {
            let _ = headers.delete(name);
        }
    }
    if let Some(allow) = actual.allow_origin {
        let _ = headers.set("access-control-allow-origin", allow);
        // Resource timing (and so Server-Timing) readable by the allowed origins only.
        let _ = headers.set("timing-allow-origin", allow);
        if actual.credentials {
            let _ = headers.set("access-control-allow-credentials", "true");
        }
        if let Some(expose) = actual.expose {
            let _ = headers.set("access-control-expose-headers", expose);
        }
    }
    if let Some(vary) = cors::vary_with_origin(header(&headers, "vary").as_deref()) {
        let _ = headers.set("vary", &vary);
    }
}
