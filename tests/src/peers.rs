//! Support for `make bench-peers` and `make bench-ab` (`src/bin/`): the rows they measure, the
//! shipped policy handed to the peers (Hono's `POLICY` binding, nginx's configuration), the
//! workers' garbage collections read from V8's trace, and the report bench-peers writes to
//! `docs/BENCHMARKS.md`.

pub mod gc;
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

/// The order `n` systems run in during `round`: each round starts with the next one, so
/// whatever running first costs or gains (after another system's load, after a pause) falls on
/// every system in turn instead of always on the same one.
pub fn order(n: usize, round: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |k| (k + round) % n)
}

#[cfg(test)]
mod tests {
    use super::order;

    #[test]
    fn every_system_runs_once_a_round_and_each_leads_in_turn() {
        for round in 1..=7 {
            let mut seen: Vec<usize> = order(4, round).collect();
            assert_eq!(seen[0], round % 4);
            seen.sort_unstable();
            assert_eq!(seen, [0, 1, 2, 3]);
        }
        assert_eq!(order(0, 3).count(), 0);
    }
}
