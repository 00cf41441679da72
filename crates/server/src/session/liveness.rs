//! A WebSocket's liveness: whether the client has answered the last ping.

use std::time::Duration;

/// Whether the client is still there: one interval timer per session, and a flag set by
/// every frame received (a bool, not a timer reset, on the per-frame path).
pub struct Liveness {
    pub ticker: tokio::time::Interval,
    /// A frame has arrived since the last tick.
    pub heard: bool,
    /// A ping went out at the last tick.
    pinged: bool,
}

impl Liveness {
    pub fn new(every: Duration) -> Liveness {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Liveness { ticker, heard: false, pinged: false }
    }

    /// At a tick: false if the last ping went unanswered, else a ping is now due.
    pub fn tick(&mut self) -> bool {
        let alive = !self.pinged || self.heard;
        self.heard = false;
        self.pinged = true;
        alive
    }
}
