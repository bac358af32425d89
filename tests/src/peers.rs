//! Support for `make bench-peers` (`src/bin/bench-peers.rs`): the shipped policy handed to the
//! peers (Hono's `POLICY` binding, nginx's configuration).

pub mod policy;
