//! Types both sides of wyn-edge use: the worker (wasm) and `wynctl` (native).
//!
//! Nothing here depends on `worker`, `tokio`, `reqwest` or `clap`, so the very function the worker
//! uses to validate its configuration is the one `wynctl config check` runs.
//!
//! ```
//! let config = wyn_edge_shared::config::EdgeConfig::from_json(r#"{"origin_timeout": "10s"}"#).unwrap();
//! assert_eq!(config.origin_timeout.as_secs(), 10);
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admin;
pub mod config;
pub mod health;
pub mod metrics;
pub mod problem;

/// Path prefix of the edge's own routes; nothing under it is ever sent to the origin.
pub const ADMIN_PREFIX: &str = "/__edge/";
/// The request id header, sent to the origin and back to the client.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
