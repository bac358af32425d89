//! Test support for wyn-edge: the demo origin (a small WYN-like app) that `make dev`, the
//! end-to-end suite and the benches run the edge in front of, the scoring of `make conformance`,
//! the load generator and the peer policy and report of `make bench-peers`.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod conformance;
pub mod load;
pub mod origin;
pub mod peers;
pub mod stack;
