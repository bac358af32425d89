//! Support for `make bench-peers` (`src/bin/bench-peers.rs`): the shipped policy handed to the
//! peers (Hono's `POLICY` binding, nginx's configuration) and the report it writes to
//! `docs/BENCHMARKS.md`.

pub mod policy;
pub mod report;
pub mod rows;
