use std::time::Duration;

use proptest::prelude::*;

use super::*;

const T0: u64 = 1_800_000_000 * 1_000_000_000;
const SEC: u64 = 1_000_000_000;

#[test]
fn from_cold_exactly_burst_pass() {
    let l = Limiter::<u8>::new(30, Duration::from_secs(60), 30, 10);
    for i in 0..30 {
        let v = l.check(&1, T0);
        assert!(v.allowed, "request {i}");
        assert_eq!(v.remaining, 29 - i);
    }
    let v = l.check(&1, T0);
    assert!(!v.allowed);
    assert_eq!(v.remaining, 0);
    // One cell every 2 s.
    assert_eq!(v.retry_after, Duration::from_secs(2));
    assert_eq!(v.reset, Duration::from_secs(60));
}

#[test]
fn passes_again_after_retry_after_and_not_before() {
    let l = Limiter::<u8>::new(30, Duration::from_secs(60), 30, 10);
    for _ in 0..30 {
        l.check(&1, T0);
    }
    let wait = l.check(&1, T0).retry_after.as_nanos() as u64;
    assert!(!l.check(&1, T0 + wait - 1).allowed);
    let v = l.check(&1, T0 + wait);
    assert!(v.allowed);
    assert_eq!(v.remaining, 0);
}

#[test]
fn keys_have_separate_budgets() {
    let l = Limiter::<u8>::new(1, Duration::from_secs(10), 1, 10);
    assert!(l.check(&1, T0).allowed);
    assert!(!l.check(&1, T0).allowed);
    assert!(l.check(&2, T0).allowed);
}

#[test]
fn burst_below_limit_smooths_the_start() {
    let l = Limiter::<u8>::new(60, Duration::from_secs(60), 5, 10);
    assert_eq!((0..20).filter(|_| l.check(&1, T0).allowed).count(), 5);
    assert!(l.check(&1, T0 + SEC).allowed);
    assert!(!l.check(&1, T0 + SEC).allowed);
}

#[test]
fn memory_is_bounded_by_max_keys_and_the_oldest_go_first() {
    let l = Limiter::<u32>::new(1, Duration::from_secs(60), 1, 1_000);
    for k in 0..100_000u32 {
        l.check(&k, T0);
    }
    assert_eq!(l.len(), 1_000);
    assert_eq!(l.tat(&0), None);
    assert!(l.tat(&99_999).is_some());
    // A key still tracked keeps its state.
    assert!(!l.check(&99_999, T0).allowed);
}

#[test]
fn restored_state_is_honoured() {
    let l = Limiter::<u8>::new(1, Duration::from_secs(60), 1, 10);
    l.restore(9, T0 + 60 * SEC);
    let v = l.check(&9, T0);
    assert!(!v.allowed);
    assert_eq!(v.retry_after, Duration::from_secs(60));
}

proptest! {
    /// Over any window T, at most burst + T / interval requests pass.
    #[test]
    fn never_more_than_burst_plus_rate_times_time(
        limit in 1u32..100,
        period_s in 1u64..120,
        burst in 1u32..50,
        gaps in proptest::collection::vec(0u64..3 * SEC, 1..300),
    ) {
        let period = Duration::from_secs(period_s);
        let l = Limiter::<u8>::new(limit, period, burst, 4);
        let interval = (period / limit).as_nanos() as u64;
        let mut now = T0;
        let mut passed = Vec::new();
        for gap in gaps {
            now += gap;
            if l.check(&1, now).allowed {
                passed.push(now);
            }
        }
        for (i, start) in passed.iter().enumerate() {
            for (j, end) in passed.iter().enumerate().skip(i) {
                let window = end - start;
                let allowed = u64::from(burst) + window / interval;
                prop_assert!((j - i + 1) as u64 <= allowed, "{} passed in {} ns", j - i + 1, window);
            }
        }
    }

    /// A steady stream at the rate is never refused.
    #[test]
    fn a_steady_stream_at_the_rate_always_passes(limit in 1u32..1000, period_s in 1u64..3600, burst in 1u32..10, n in 1usize..500) {
        let period = Duration::from_secs(period_s);
        let l = Limiter::<u8>::new(limit, period, burst, 4);
        let interval = (period / limit).as_nanos() as u64;
        for i in 0..n as u64 {
            prop_assert!(l.check(&1, T0 + i * interval).allowed, "request {} refused", i);
        }
    }

    /// Retry-After is the true wait: refused just before it, allowed at it.
    #[test]
    fn retry_after_is_the_true_wait(limit in 1u32..100, period_s in 1u64..120, burst in 1u32..20, extra in 1u32..5) {
        let l = Limiter::<u8>::new(limit, Duration::from_secs(period_s), burst, 4);
        for _ in 0..burst + extra {
            l.check(&1, T0);
        }
        let v = l.check(&1, T0);
        prop_assert!(!v.allowed);
        let wait = v.retry_after.as_nanos() as u64;
        prop_assert!(wait > 0);
        prop_assert!(!l.check(&1, T0 + wait - 1).allowed);
        prop_assert!(l.check(&1, T0 + wait).allowed);
    }
}
