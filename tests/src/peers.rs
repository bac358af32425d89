//! Support for `make bench-peers` and `make bench-ab` (`src/bin/`): the rows they measure, the
//! shipped policy handed to the peers (Hono's `POLICY` binding, nginx's configuration) and the
//! report bench-peers writes to `docs/BENCHMARKS.md`.

pub mod policy;
pub mod report;
pub mod rows;

/// A command-line value that must be a whole number above 0: `flag` names it in the error.
pub fn whole_number(flag: &str, value: &str) -> anyhow::Result<u64> {
    use anyhow::Context;
    value
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .with_context(|| format!("{flag}: expected a whole number above 0, found {value:?}"))
}
