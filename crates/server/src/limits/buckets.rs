//! The buckets of one kind of limit: governor's keyed GCRA limiter over [`AddressStore`], a
//! state store that caps the addresses it holds, decides without writing (a peek), and
//! charges a failure past an empty bucket.
//!
//! It knows addresses and time, not what is limited or why.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock, Reference};
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::{NotKeyed, StateStore};
use governor::{Quota, RateLimiter};

use super::MAX_ADDRESSES;

/// New addresses past [`MAX_ADDRESSES`] share this bucket.
const OVERFLOW: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

/// One kind of limit: a bucket per address.
pub(super) struct AddressLimiter {
    limiter: RateLimiter<Probe, AddressStore, DefaultClock>,
    started: Instant,
    /// When the last sweep of refilled buckets ran, in ms since `started`.
    last_sweep_ms: AtomicU64,
}

/// How often a full limiter may sweep at most (a sweep visits every address).
const SWEEP_EVERY_MS: u64 = 1_000;

impl AddressLimiter {
    pub(super) fn new(burst: u32, refill: Duration) -> AddressLimiter {
        let burst = NonZeroU32::new(burst.max(1)).expect("at least 1");
        let quota =
            Quota::with_period(refill.max(Duration::from_millis(1))).expect("a period").allow_burst(burst);
        let store = AddressStore::new(MAX_ADDRESSES, refill, burst.get());
        let clock = store.clock.clone();
        AddressLimiter {
            limiter: RateLimiter::new(quota, store, clock),
            started: Instant::now(),
            last_sweep_ms: AtomicU64::new(0),
        }
    }

    /// Whether the address could spend now, spending nothing; else how long until it can.
    pub(super) fn peek(&self, addr: IpAddr) -> Result<(), Duration> {
        self.decide(Probe { addr, mode: Mode::Peek })
    }

    /// Spends one from the address's bucket; else how long until it can.
    pub(super) fn spend(&self, addr: IpAddr) -> Result<(), Duration> {
        self.sweep_if_full();
        self.decide(Probe { addr, mode: Mode::Spend })
    }

    /// Spends one from the address's bucket even when it is empty, pushing its refill further
    /// out: failures that passed [`AddressLimiter::peek`] together, before any was counted,
    /// are each paid for, so concurrency buys an address no more attempts over time.
    pub(super) fn charge(&self, addr: IpAddr) {
        self.sweep_if_full();
        let _ = self.decide(Probe { addr, mode: Mode::Charge });
    }

    fn sweep_if_full(&self) {
        if self.limiter.len() >= MAX_ADDRESSES {
            let now_ms = self.started.elapsed().as_millis() as u64;
            let last = self.last_sweep_ms.load(Ordering::Relaxed);
            let due = now_ms >= last + SWEEP_EVERY_MS;
            if due
                && self
                    .last_sweep_ms
                    .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                self.limiter.retain_recent();
            }
        }
    }

    fn decide(&self, probe: Probe) -> Result<(), Duration> {
        self.limiter
            .check_key(&probe)
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }
}

/// A key of [`AddressStore`]: the address, and what to do with its bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Probe {
    addr: IpAddr,
    mode: Mode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Mode {
    /// Decide, write nothing.
    Peek,
    /// governor's own check: spend one if the bucket has one.
    Spend,
    /// Spend one whatever the bucket holds.
    Charge,
}

type Instant0 = <DefaultClock as Clock>::Instant;

/// governor's concurrent keyed store, capped, and able to decide without writing (and to
/// charge past empty, which needs the limiter's period and time: `origin` is taken just
/// before the limiter's own start, so its clock differs from the limiter's by nanoseconds).
struct AddressStore {
    buckets: DashMapStateStore<IpAddr>,
    cap: usize,
    period: Nanos,
    /// How far ahead of now charging may push a bucket's refill: a full burst. An address
    /// that keeps failing stays refused, but one that stops waits at most about one refill,
    /// however many failures it sent at once (a family behind one router must not be locked
    /// out for an hour by a burst of stale tokens).
    ceiling: Nanos,
    clock: DefaultClock,
    origin: Instant0,
}

impl AddressStore {
    fn new(cap: usize, period: Duration, burst: u32) -> AddressStore {
        let clock = DefaultClock::default();
        let origin = clock.now();
        let period = Nanos::from(period);
        let ceiling = period * u64::from(burst);
        AddressStore { buckets: DashMapStateStore::default(), cap, period, ceiling, clock, origin }
    }
}

impl StateStore for AddressStore {
    type Key = Probe;

    fn measure_and_replace<T, F, E>(&self, probe: &Probe, decide: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let known = self.buckets.contains_key(&probe.addr);
        let addr = if known || self.buckets.len() < self.cap { probe.addr } else { OVERFLOW };
        match probe.mode {
            Mode::Spend => return self.buckets.measure_and_replace(&addr, decide),
            Mode::Charge => {
                let now = self.clock.now().duration_since(self.origin);
                let charged = self.buckets.measure_and_replace(&addr, |tat| match decide(tat) {
                    Ok((outcome, next)) => Ok::<_, std::convert::Infallible>((Ok(outcome), next)),
                    Err(refused) => {
                        let pushed = tat.unwrap_or(now).max(now) + self.period;
                        Ok((Err(refused), pushed.min(now + self.ceiling)))
                    }
                });
                return charged.unwrap_or_else(|never| match never {});
            }
            Mode::Peek => {}
        }
        let Some(bucket) = self.buckets.get(&addr) else {
            return decide(None).map(|(outcome, _)| outcome);
        };
        // A decision that always "fails" writes nothing; it carries the real one out.
        match bucket.measure_and_replace(&NotKeyed::NonKey, |tat| Err::<((), Nanos), _>(decide(tat))) {
            Err(decision) => decision.map(|(outcome, _)| outcome),
            Ok(()) => unreachable!("the probe never answers Ok"),
        }
    }
}

impl ShrinkableKeyedStateStore<Probe> for AddressStore {
    fn retain_recent(&self, drop_below: Nanos) {
        self.buckets.retain_recent(drop_below);
    }

    fn len(&self) -> usize {
        ShrinkableKeyedStateStore::len(&self.buckets)
    }

    fn is_empty(&self) -> bool {
        ShrinkableKeyedStateStore::is_empty(&self.buckets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn a_peek_spends_nothing_and_a_spent_bucket_is_refused_with_a_wait() {
        let limiter = AddressLimiter::new(2, Duration::from_secs(60));
        let addr = ip("192.0.2.1");
        for _ in 0..10 {
            assert_eq!(limiter.peek(addr), Ok(()));
        }
        assert_eq!(limiter.spend(addr), Ok(()));
        assert_eq!(limiter.spend(addr), Ok(()));
        let wait = limiter.peek(addr).unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60), "{wait:?}");
        assert_eq!(limiter.peek(ip("192.0.2.2")), Ok(()), "another address has its own bucket");
    }

    #[test]
    fn failures_charged_past_an_empty_bucket_refuse_until_about_one_refill_at_most() {
        let limiter = AddressLimiter::new(3, Duration::from_secs(60));
        let addr = ip("192.0.2.1");
        for _ in 0..3 {
            limiter.charge(addr);
        }
        let spent = limiter.peek(addr).unwrap_err();
        assert!(spent > Duration::from_secs(50) && spent <= Duration::from_secs(61), "{spent:?}");
        // Six hundred failures at once (passed the peek together) push no further.
        for _ in 0..600 {
            limiter.charge(addr);
        }
        let flooded = limiter.peek(addr).unwrap_err();
        assert!(flooded > Duration::from_secs(50) && flooded <= Duration::from_secs(61), "{flooded:?}");
    }

    #[test]
    fn past_the_cap_new_addresses_share_one_bucket() {
        let quota =
            Quota::with_period(Duration::from_secs(60)).unwrap().allow_burst(NonZeroU32::new(1).unwrap());
        let store = AddressStore::new(2, Duration::from_secs(60), 1);
        let limiter: RateLimiter<Probe, AddressStore, DefaultClock> =
            RateLimiter::new(quota, store, DefaultClock::default());
        let spend = |addr: &str| limiter.check_key(&Probe { addr: ip(addr), mode: Mode::Spend }).is_ok();
        assert!(spend("192.0.2.1") && spend("192.0.2.2"));
        assert!(spend("192.0.2.3"), "the first newcomer past the cap gets the overflow bucket");
        assert!(!spend("192.0.2.4"), "and shares it with the next");
        assert!(!spend("192.0.2.1"), "a known address keeps its own (spent) bucket");
        assert_eq!(limiter.len(), 3);
    }
}
