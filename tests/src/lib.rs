//! Test support for wyn-edge: the demo origin (a small WYN-like app) that `make dev`, the
//! end-to-end suite and the bench run the edge in front of, and the scoring of `make conformance`.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod conformance;
pub mod origin;
pub mod stack;
