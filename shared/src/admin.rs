//! Answers of the admin API that `wynctl` reads.
//!
//! ```
//! use wyn_edge_shared::admin::RateLimitReport;
//! let report: RateLimitReport = serde_json::from_str(r#"{"api_version":1,"rules":[]}"#).unwrap();
//! assert!(report.rules.is_empty());
//! ```

use serde::{Deserialize, Serialize};

/// Version of the admin API's JSON; a client that sees another version knows it may misread.
pub const API_VERSION: u32 = 1;

/// `GET /__edge/rate-limits`: what each rule has seen in the isolate that answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitReport {
    /// [`API_VERSION`] of the edge that answered.
    pub api_version: u32,
    /// One entry per configured rule, then the admin rule.
    pub rules: Vec<RuleStats>,
}

/// Counters of one rule in one isolate since it started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleStats {
    /// Rule name.
    pub name: String,
    /// `local` or `global`.
    pub scope: String,
    /// `enforce` or `shadow`.
    pub mode: String,
    /// Requests per period.
    pub limit: u32,
    /// The period, in seconds.
    pub period_secs: u64,
    /// Requests let through.
    pub allowed: u64,
    /// Requests refused.
    pub refused: u64,
    /// Requests a shadow rule would have refused.
    pub shadow_refused: u64,
    /// Global decisions that failed (and followed `on_error`).
    pub errors: u64,
    /// Keys tracked in this isolate (local rules).
    pub tracked_keys: u64,
}
