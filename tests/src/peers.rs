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

/// The order `n` systems run in during `round`: odd rounds go round the circle starting
/// one further each time, even rounds the other way, so that no system always runs straight
/// after the same one; and each even round starts where neither the round before ended nor the
/// round after starts, so that no system ever runs twice in a row (a run straight after its own
/// finds its process under load, one after a pause finds it back from idle).
pub fn order(n: usize, round: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |k| {
        if round.is_multiple_of(2) {
            (round + n - 1 - k) % n
        } else {
            (k + round) % n
        }
    })
}

#[cfg(test)]
mod tests {
    use super::order;

    #[test]
    fn every_system_runs_once_a_round() {
        for n in 1..=5 {
            for round in 0..=7 {
                let mut seen: Vec<usize> = order(n, round).collect();
                seen.sort_unstable();
                assert_eq!(seen, (0..n).collect::<Vec<_>>());
            }
        }
        assert_eq!(order(0, 3).count(), 0);
        assert_eq!(order(4, 1).collect::<Vec<_>>(), [1, 2, 3, 0]);
        assert_eq!(order(4, 2).collect::<Vec<_>>(), [1, 0, 3, 2]);
        assert_eq!(order(2, 2).collect::<Vec<_>>(), [1, 0]);
    }

    /// The bench's sequence (each round runs every row, each row every system in the round's
    /// order): nothing runs twice in a row, and with bench-peers's four or five systems, over rounds 1
    /// to 4, ours (0) runs straight after Hono (1) as often as Hono after ours.
    #[test]
    fn no_system_runs_twice_in_a_row_or_always_after_the_same_one() {
        for n in 2..=5 {
            for rows in 1..=4 {
                let runs: Vec<usize> = (1..=10)
                    .flat_map(|round| (0..rows).flat_map(move |_| order(n, round)))
                    .collect();
                assert!(
                    runs.windows(2).all(|w| w[0] != w[1]),
                    "{n} systems, {rows} rows: {runs:?}"
                );
                if n < 4 {
                    // Off by one at most (A B A B: each follows the other, once less at the end).
                    continue;
                }
                let runs = &runs[..4 * rows * n];
                let follows = |a, b| runs.windows(2).filter(|w| w[0] == a && w[1] == b).count();
                assert_eq!(
                    follows(0, 1),
                    follows(1, 0),
                    "{n} systems, {rows} rows: {runs:?}"
                );
                assert!(follows(0, 1) > 0);
            }
        }
    }
}
