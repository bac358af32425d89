//! One rule's budgets: GCRA by `governor`, over a bounded store, with time passed in.
//!
//! The state of a key is its theoretical arrival time (TAT) in nanoseconds since the Unix epoch:
//! the limiter's clock is set to each decision's `now` and started at zero, so the stored values
//! are absolute and can be persisted (the global limiter's Durable Object does) or compared.
//! The store keeps at most `max_keys` keys and drops the least recently seen first, so a flood of
//! distinct clients costs bounded memory.
//!
//! ```
//! use std::time::Duration;
//! use wyn_edge::rate_limit::gcra::Limiter;
//! let limiter = Limiter::<u32>::new(2, Duration::from_secs(60), 2, 100);
//! let now = 1_700_000_000_000_000_000;
//! assert!(limiter.check(&7, now).allowed);
//! assert!(limiter.check(&7, now).allowed);
//! let refused = limiter.check(&7, now);
//! assert!(!refused.allowed);
//! assert_eq!(refused.retry_after, Duration::from_secs(30));
//! ```

use std::cell::{Cell, RefCell};
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::rc::Rc;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::{Quota, RateLimiter};
use lru::LruCache;

/// A clock that reads whatever time it was last given.
#[derive(Debug, Default)]
pub struct ManualClock(Cell<u64>);

impl ManualClock {
    /// Sets the time, in nanoseconds since the Unix epoch.
    pub fn set(&self, now_ns: u64) {
        self.0.set(now_ns);
    }
}

impl Clock for ManualClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        Nanos::new(self.0.get())
    }
}

/// Keys to TATs, least recently used first out.
#[derive(Debug)]
pub struct BoundedStore<K: Hash + Eq>(Rc<RefCell<LruCache<K, u64>>>);

impl<K: Hash + Eq> Clone for BoundedStore<K> {
    fn clone(&self) -> Self {
        Self(Rc::clone(&self.0))
    }
}

impl<K: Hash + Eq + Clone> StateStore for BoundedStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let mut map = self.0.borrow_mut();
        let previous = map.get(key).map(|&tat| Nanos::new(tat));
        let (value, tat) = f(previous)?;
        map.put(key.clone(), tat.as_u64());
        Ok(value)
    }
}

/// The answer for one request under one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the request fits the budget.
    pub allowed: bool,
    /// Requests that could still come at once after this one.
    pub remaining: u32,
    /// Time until the whole burst is available again.
    pub reset: Duration,
    /// When refused, the time until a request would pass; zero when allowed.
    pub retry_after: Duration,
}

/// The budgets of one rule, one per key.
pub struct Limiter<K: Hash + Eq + Clone> {
    inner: RateLimiter<K, BoundedStore<K>, ManualClock, NoOpMiddleware<Nanos>>,
    store: BoundedStore<K>,
    interval_ns: u64,
    burst: u32,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    /// `limit` requests per `period`, up to `burst` at once, for at most `max_keys` keys.
    /// Zeros are raised to one: validation refuses them before they get here.
    pub fn new(limit: u32, period: Duration, burst: u32, max_keys: u32) -> Self {
        let interval = (period / limit.max(1)).max(Duration::from_nanos(1));
        let burst = burst.max(1);
        let quota = Quota::with_period(interval)
            .unwrap_or_else(|| Quota::per_second(nonzero(1)))
            .allow_burst(nonzero(burst));
        let cap = NonZeroUsize::new(max_keys.max(1) as usize).unwrap_or(NonZeroUsize::MIN);
        let store = BoundedStore(Rc::new(RefCell::new(LruCache::new(cap))));
        // Started at zero, so every TAT the store holds is nanoseconds since the epoch.
        let inner = RateLimiter::new(quota, store.clone(), ManualClock::default());
        Self {
            inner,
            store,
            interval_ns: interval.as_nanos() as u64,
            burst,
        }
    }

    /// Decides one request for `key` at `now_ns` (nanoseconds since the Unix epoch).
    pub fn check(&self, key: &K, now_ns: u64) -> Verdict {
        self.inner.clock().set(now_ns);
        match self.inner.check_key(key) {
            Ok(()) => {
                let tat = self.tat(key).unwrap_or(now_ns);
                let backlog = tat.saturating_sub(now_ns);
                // A request fits while backlog + interval <= burst * interval.
                let capacity = u64::from(self.burst) * self.interval_ns;
                let remaining = capacity.saturating_sub(backlog) / self.interval_ns;
                Verdict {
                    allowed: true,
                    remaining: remaining.min(u64::from(self.burst)) as u32,
                    reset: Duration::from_nanos(backlog),
                    retry_after: Duration::ZERO,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(Nanos::new(now_ns));
                let backlog = self.tat(key).unwrap_or(now_ns).saturating_sub(now_ns);
                Verdict {
                    allowed: false,
                    remaining: 0,
                    reset: Duration::from_nanos(backlog),
                    retry_after: wait,
                }
            }
        }
    }

    /// The TAT stored for `key`, if the store holds it.
    pub fn tat(&self, key: &K) -> Option<u64> {
        self.store.0.borrow().peek(key).copied()
    }

    /// Puts a TAT back (from persistent storage) before deciding.
    pub fn restore(&self, key: K, tat_ns: u64) {
        self.store.0.borrow_mut().put(key, tat_ns);
    }

    /// How many keys the store holds.
    pub fn len(&self) -> usize {
        self.store.0.borrow().len()
    }

    /// Whether the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn nonzero(n: u32) -> std::num::NonZeroU32 {
    std::num::NonZeroU32::new(n).unwrap_or(std::num::NonZeroU32::MIN)
}

#[cfg(test)]
mod tests;
