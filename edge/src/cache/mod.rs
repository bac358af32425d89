//! An RFC 9111 shared cache at the edge, over the Cache API.
//!
//! Pure parts: [`key`] (what shares an entry), [`freshness`] (storable? fresh? stale within
//! `stale-while-revalidate` / `stale-if-error`? what a 304 changes), [`status`] (`Cache-Status`),
//! [`purge`] (generations). The runtime adapter looks entries up, stores answers while they stream
//! to the client, revalidates in the background and coalesces concurrent misses.
//!
//! ```
//! use wyn_edge::cache::CacheRules;
//! use wyn_edge_shared::config::EdgeConfig;
//! let config = EdgeConfig::from_json(r#"{"cache":{"routes":[{"path":"/api/me","bypass":true}]}}"#).unwrap();
//! let rules = CacheRules::new(&config.cache);
//! assert!(rules.plan("GET", "/api/me").is_err());
//! assert!(rules.plan("GET", "/venues/1").is_ok());
//! assert!(rules.plan("POST", "/venues/1").is_err());
//! ```

pub mod freshness;
pub mod key;
pub mod purge;
pub mod status;

use std::time::Duration;

use wyn_edge_shared::config::cache::{CacheConfig, CacheRoute};

use crate::rate_limit::path_pattern::PathPattern;

/// The compiled cache settings.
#[derive(Debug, Clone)]
pub struct CacheRules {
    /// The settings as configured.
    pub config: CacheConfig,
    routes: Vec<PathPattern>,
}

/// How one request uses the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Whether Next.js routing headers are part of the key.
    pub nextjs: bool,
    /// Whether the query is left out of the key.
    pub ignore_query: bool,
    /// A route's freshness override.
    pub ttl: Option<Duration>,
    /// For an opted-in POST: the largest body hashed into the key.
    pub post_max_body: Option<u64>,
    /// Whether an answer may be stored (GET and opted-in POST; HEAD only reads).
    pub store: bool,
}

impl CacheRules {
    /// Compiles validated settings.
    pub fn new(config: &CacheConfig) -> Self {
        Self {
            routes: config
                .routes
                .iter()
                .map(|r| PathPattern::new(&r.path))
                .collect(),
            config: config.clone(),
        }
    }

    fn route(&self, normalized_path: &str) -> Option<&CacheRoute> {
        self.routes
            .iter()
            .position(|p| p.matches(normalized_path))
            .map(|i| &self.config.routes[i])
    }

    /// The plan for a request, or the `detail` of why it bypasses the cache.
    pub fn plan(&self, method: &str, normalized_path: &str) -> Result<Plan, &'static str> {
        if !self.config.enabled {
            return Err("disabled");
        }
        let route = self.route(normalized_path);
        if route.is_some_and(|r| r.bypass) {
            return Err("route");
        }
        let post = route.is_some_and(|r| r.post);
        let store = match method {
            "GET" => true,
            "HEAD" => false,
            "POST" if post => true,
            _ => return Err("method"),
        };
        Ok(Plan {
            nextjs: route.and_then(|r| r.nextjs).unwrap_or(self.config.nextjs),
            ignore_query: route.is_some_and(|r| r.ignore_query),
            ttl: route.and_then(|r| r.ttl),
            post_max_body: (method == "POST").then(|| route.map_or(0, |r| r.post_max_body)),
            store,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wyn_edge_shared::config::EdgeConfig;

    fn rules(json: &str) -> CacheRules {
        CacheRules::new(&EdgeConfig::from_json(json).unwrap().cache)
    }

    #[test]
    fn routes_decide_in_order() {
        let r = rules(
            r#"{"cache":{"routes":[{"path":"/api/me","bypass":true},{"path":"/static/*","ttl":"365d","ignore_query":true},
                {"path":"/api/chat","post":true,"ttl":"1h","nextjs":false}]}}"#,
        );
        assert_eq!(r.plan("GET", "/api/me"), Err("route"));
        let s = r.plan("GET", "/static/app.js").unwrap();
        assert_eq!(
            (s.ttl, s.ignore_query, s.nextjs, s.store),
            (Some(Duration::from_secs(365 * 86_400)), true, true, true)
        );
        let chat = r.plan("POST", "/api/chat").unwrap();
        assert_eq!(
            (chat.post_max_body, chat.nextjs, chat.store),
            (Some(16 * 1024), false, true)
        );
        assert_eq!(r.plan("POST", "/api/venues"), Err("method"));
        assert_eq!(r.plan("DELETE", "/static/x"), Err("method"));
        assert!(!r.plan("HEAD", "/venues/1").unwrap().store);
    }

    #[test]
    fn first_matching_route_applies() {
        let r = rules(
            r#"{"cache":{"routes":[{"path":"/api/me","bypass":true},{"path":"/static/*","ttl":"365d"},
            {"path":"/api/chat","post":true,"ttl":"1h"}]}}"#,
        );
        assert!(
            r.plan("POST", "/api/chat").is_ok(),
            "{:?}",
            r.plan("POST", "/api/chat")
        );
    }

    #[test]
    fn disabled_bypasses_everything() {
        assert_eq!(
            rules(r#"{"cache":{"enabled":false}}"#).plan("GET", "/"),
            Err("disabled")
        );
    }
}
