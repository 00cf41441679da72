//! Retention of trails by age (`--trail-max-age`): the one place that decides which points
//! are too old, for the reads (which never answer one) and for the sweeper that erases them.
//! A backend only executes bounded steps of the erasure ([`Store::erase_trails_before`]); it
//! decides nothing about time.
//!
//! It knows no backend: the sweeper holds a weak reference to whichever store was chosen and
//! ends with it.

use std::str::FromStr;
use std::sync::Weak;
use std::time::Duration;

use marauder_protocol::Millis;

use crate::store::Store;

/// How long trail points are kept: a point with `ts < now - max_age` is expired. `None`
/// keeps every point (the per-player count retention still applies).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrailMaxAge(pub Option<Duration>);

/// Points one sweeper step erases at most (per player on a backend that visits several
/// players in one step): a step is one short write, never a long one.
pub const SWEEP_BUDGET: usize = 1000;
/// The pause between two steps of a round: other writes go between them.
const STEP_PAUSE: Duration = Duration::from_millis(20);
/// A round starts at most this often, and at least this often...
const MIN_REST: Duration = Duration::from_secs(1);
/// ...and at most this long after the previous one ended.
const MAX_REST: Duration = Duration::from_secs(15 * 60);
/// The longest age accepted: a hundred years.
const MAX_AGE: Duration = Duration::from_secs(100 * 365 * 86_400);

impl TrailMaxAge {
    /// The oldest `ts` kept at `now`: points strictly older are expired. `None`: all are kept.
    pub fn cutoff(&self, now: Millis) -> Option<Millis> {
        let age = self.0?;
        Some(now.saturating_sub(age.as_millis().min(i64::MAX as u128) as i64))
    }

    /// A read's `since` (points with `ts > since`) raised so that no expired point is
    /// answered, whether or not the sweeper has erased it yet.
    pub fn since(&self, since: Option<Millis>, now: Millis) -> Option<Millis> {
        match self.cutoff(now) {
            None => since,
            Some(cutoff) => Some(since.map_or(cutoff - 1, |since| since.max(cutoff - 1))),
        }
    }

    /// Whether a point with this `ts` is expired at `now`.
    pub fn expired(&self, ts: Millis, now: Millis) -> bool {
        self.cutoff(now).is_some_and(|cutoff| ts < cutoff)
    }

    /// How long the sweeper rests between rounds: a hundredth of the age, within [1 s,
    /// 15 min]. A point is erased at most about that long (plus a round) after it expired;
    /// reads never answer it meanwhile.
    pub fn rest(&self) -> Duration {
        self.0.map_or(MAX_REST, |age| (age / 100).clamp(MIN_REST, MAX_REST))
    }
}

impl FromStr for TrailMaxAge {
    type Err = String;

    /// `30d`, `12h`, `90m`, `45s`, `2w`, or a sum such as `1d12h`; `keep` (or `0`) for no limit.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        if raw == "keep" || raw == "0" {
            return Ok(TrailMaxAge(None));
        }
        let bad = || format!("`{raw}` is not a duration like 30d, 12h, 90m, 45s or 1d12h (or `keep`)");
        let mut total = Duration::ZERO;
        let mut rest = raw;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let (number, tail) = rest.split_at(digits);
            let number: u64 = number.parse().map_err(|_| bad())?;
            let unit = tail.chars().next().ok_or_else(bad)?;
            let seconds = match unit {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 7 * 86_400,
                _ => return Err(bad()),
            };
            let part = number.checked_mul(seconds).ok_or_else(bad)?;
            total = total.checked_add(Duration::from_secs(part)).ok_or_else(bad)?;
            rest = &tail[1..];
        }
        if total.is_zero() || total > MAX_AGE {
            return Err(bad());
        }
        Ok(TrailMaxAge(Some(total)))
    }
}

/// What one step of the erasure did ([`Store::erase_trails_before`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Erased {
    /// Points erased.
    pub points: u64,
    /// The step reached the end of the backend's walk over the players: the next starts over.
    pub round_done: bool,
}

/// Erases expired points for as long as the store lives: a round of bounded steps
/// ([`SWEEP_BUDGET`], [`STEP_PAUSE`] apart, so the writes of the hot path go between them),
/// then a rest ([`TrailMaxAge::rest`]). Holds the store only during a step, so it never keeps
/// a closing store open; its owner also drops it at shutdown. Does nothing without an age.
pub async fn sweep(store: Weak<dyn Store>, max_age: TrailMaxAge) {
    if max_age.0.is_none() {
        return;
    }
    loop {
        let mut erased = 0;
        loop {
            let Some(cutoff) = max_age.cutoff(crate::now_millis()) else { return };
            let Some(strong) = store.upgrade() else { return };
            let step = strong.erase_trails_before(cutoff, SWEEP_BUDGET).await;
            drop(strong);
            match step {
                Ok(step) => {
                    erased += step.points;
                    if step.round_done {
                        break;
                    }
                }
                Err(err) => {
                    // The store says why (a 503 meanwhile); the next round tries again.
                    tracing::warn!(error = %err, "erasing expired trail points failed");
                    break;
                }
            }
            tokio::time::sleep(STEP_PAUSE).await;
        }
        if erased > 0 {
            tracing::info!(points = erased, "erased expired trail points");
        }
        tokio::time::sleep(max_age.rest()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(raw: &str) -> Option<Duration> {
        raw.parse::<TrailMaxAge>().unwrap().0
    }

    #[test]
    fn durations_parse_with_their_unit_and_sum() {
        assert_eq!(age("30d"), Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(age("12h"), Some(Duration::from_secs(12 * 3600)));
        assert_eq!(age("90m"), Some(Duration::from_secs(90 * 60)));
        assert_eq!(age("45s"), Some(Duration::from_secs(45)));
        assert_eq!(age("2w"), Some(Duration::from_secs(14 * 86_400)));
        assert_eq!(age("1d12h"), Some(Duration::from_secs(36 * 3600)));
        assert_eq!(age("keep"), None);
        assert_eq!(age("0"), None);
        for bad in ["", "30", "d", "30x", "-1d", "1.5h", "0d", "1 h", "99999999999999999999d", "40000w"] {
            assert!(bad.parse::<TrailMaxAge>().is_err(), "{bad:?} is refused");
        }
    }

    #[test]
    fn a_point_older_than_the_cutoff_is_expired_and_one_at_it_is_kept() {
        let max_age = TrailMaxAge(Some(Duration::from_secs(60)));
        assert_eq!(max_age.cutoff(100_000), Some(40_000));
        assert!(max_age.expired(39_999, 100_000));
        assert!(!max_age.expired(40_000, 100_000));
        assert_eq!(max_age.since(None, 100_000), Some(39_999), "reads start at the cutoff");
        assert_eq!(max_age.since(Some(10), 100_000), Some(39_999));
        assert_eq!(max_age.since(Some(50_000), 100_000), Some(50_000), "a later since stays");
        assert_eq!(TrailMaxAge(None).since(Some(10), 100_000), Some(10));
        assert_eq!(TrailMaxAge(None).since(None, 100_000), None);
        assert!(!TrailMaxAge(None).expired(0, 100_000));
    }

    #[test]
    fn the_rest_between_rounds_is_a_hundredth_of_the_age_within_bounds() {
        assert_eq!(TrailMaxAge(Some(Duration::from_secs(30 * 86_400))).rest(), MAX_REST);
        assert_eq!(TrailMaxAge(Some(Duration::from_secs(1000))).rest(), Duration::from_secs(10));
        assert_eq!(TrailMaxAge(Some(Duration::from_secs(5))).rest(), MIN_REST);
    }
}
