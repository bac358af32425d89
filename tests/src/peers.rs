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
/// whatever running first costs or gains (after a pause) falls on every system in turn, and every
/// other round goes the other way round the circle, so that no system always runs straight after
/// the same one (what a process does once its load stops, such as V8's memory reducer collecting,
/// falls on whichever system runs next).
pub fn order(n: usize, round: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |k| {
        if round.is_multiple_of(2) {
            (round + n - k) % n
        } else {
            (k + round) % n
        }
    })
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
        assert_eq!(order(1, 2).collect::<Vec<_>>(), [0]);
    }

    /// The bench's sequence (each round runs every row, each row every system in the round's
    /// order): over rounds 1 to 4, ours (0) runs straight after Hono (1) as often as Hono after
    /// ours.
    #[test]
    fn no_system_always_follows_the_same_one() {
        assert_eq!(order(4, 1).collect::<Vec<_>>(), [1, 2, 3, 0]);
        assert_eq!(order(4, 2).collect::<Vec<_>>(), [2, 1, 0, 3]);
        for rows in 1..=4 {
            let runs: Vec<usize> = (1..=4)
                .flat_map(|round| (0..rows).flat_map(move |_| order(4, round)))
                .collect();
            let follows = |a, b| runs.windows(2).filter(|w| w[0] == a && w[1] == b).count();
            assert_eq!(follows(0, 1), follows(1, 0), "{rows} rows: {runs:?}");
            assert!(follows(0, 1) > 0);
        }
    }
}
