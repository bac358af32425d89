//! The origin deadline: `origin_timeout` counted from the request's arrival at the edge, not from
//! the moment the origin fetch starts.
//!
//! Everything a request waits for before the fetch (a global rate limit's Durable Object, the
//! cache lookup, a coalesced wait for another request's fetch of the same key) comes out of the
//! same budget, so a client gets its 504 at the timeout whatever came first, and the edge holds a
//! request for at most the timeout (a pile-up under a slow origin stays bounded by rate x timeout).
//!
//! ```
//! use std::time::Duration;
//! use wyn_edge::deadline::Deadline;
//!
//! let deadline = Deadline::new(1_000.0, Duration::from_secs(2));
//! // 500 ms went on the cache lookup: the fetch gets the remaining 1.5 s.
//! assert_eq!(deadline.remaining(1_500.0), Some(Duration::from_millis(1_500)));
//! assert_eq!(deadline.remaining(3_000.0), None);
//! ```

use std::time::Duration;

/// When the origin's response head must have arrived, in ms since the epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deadline {
    at_ms: f64,
}

impl Deadline {
    /// The deadline of a request that arrived at `arrived_ms` (ms since the epoch).
    pub fn new(arrived_ms: f64, timeout: Duration) -> Self {
        Self {
            at_ms: arrived_ms + timeout.as_secs_f64() * 1_000.0,
        }
    }

    /// The deadline, in ms since the epoch.
    pub fn at_ms(self) -> f64 {
        self.at_ms
    }

    /// The time left at `now_ms`, in whole milliseconds; `None` once it has passed (nothing is
    /// left to give the origin).
    pub fn remaining(self, now_ms: f64) -> Option<Duration> {
        let left = (self.at_ms - now_ms).floor();
        (left >= 1.0).then(|| Duration::from_millis(left as u64))
    }

    /// Whether the deadline has passed at `now_ms`.
    pub fn passed(self, now_ms: f64) -> bool {
        self.remaining(now_ms).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(2);

    #[test]
    fn time_before_the_fetch_comes_out_of_the_budget() {
        let d = Deadline::new(10_000.0, T);
        assert_eq!(d.at_ms(), 12_000.0);
        assert_eq!(d.remaining(10_000.0), Some(T));
        // A clock that reads the arrival time again (production clocks only move across I/O).
        assert_eq!(d.remaining(9_999.0), Some(Duration::from_millis(2_001)));
        assert_eq!(
            d.remaining(11_900.4),
            Some(Duration::from_millis(99)),
            "rounded down: never more than is left"
        );
        assert!(!d.passed(11_998.9));
    }

    #[test]
    fn nothing_is_left_at_or_after_the_deadline() {
        let d = Deadline::new(10_000.0, T);
        assert_eq!(
            d.remaining(11_999.5),
            None,
            "under a millisecond is nothing"
        );
        assert_eq!(d.remaining(12_000.0), None);
        assert_eq!(d.remaining(20_000.0), None);
        assert!(d.passed(12_000.0));
    }

    #[test]
    fn sub_millisecond_timeouts_are_kept() {
        let d = Deadline::new(0.0, Duration::from_micros(2_500));
        assert_eq!(d.remaining(0.0), Some(Duration::from_millis(2)));
    }
}
