//! The subscription connection's keep-alive: a PING every [`KEEPALIVE`], which also makes
//! redis-rs reconnect (and resubscribe) once Redis is back when nothing else is sent on it.
//! A path that dies silently (no RST: a cable, a firewall dropping state, a frozen VM)
//! leaves TCP waiting for minutes, and redis-rs counts a reply that never comes as a
//! timeout, not as a lost connection. So after [`DEAD_AFTER`] PINGs in a row unanswered
//! within [`PING_PATIENCE`], the keep-alive makes a new connection and subscribes every
//! followed channel on it again; each confirmation catches its map up from the stream.
//!
//! Each tick also restarts catch-ups whose read failed, and subscribes what a failure left
//! unsubscribed (a map's channel, the notices channel); every [`AUDIT_EVERY`] ticks it looks
//! for a subscription lost without a word ([`Listener::audit`]). In a cluster, resubscriptions that
//! keep failing for [`STALE_AFTER`] ticks also get the connection replaced: redis-rs routes by
//! the slot map it last read, which after a failover may still name the lost master.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::Listener;
use crate::conn::Conn;

/// Makes a new subscription connection, pushing to the listener's push channel.
pub type Connector = Box<dyn Fn() -> BoxFuture<'static, redis::RedisResult<Conn>> + Send + Sync>;

/// How often the subscription connection is checked.
const KEEPALIVE: Duration = Duration::from_millis(500);

/// A PING unanswered for this long counts as failed: far above a healthy round trip.
const PING_PATIENCE: Duration = Duration::from_secs(1);

/// PINGs failed in a row after which the connection is replaced: one lost to a hiccup is
/// forgiven, and a dead path is left within about 3 s.
const DEAD_AFTER: u32 = 2;

/// Ticks with failed resubscriptions after which a cluster connection is replaced.
const STALE_AFTER: u32 = 3;

/// Every this many ticks the followed maps' seqs are read, to find a subscription lost
/// without a word ([`Listener::audit`]): such a map is found within two audits, about 4 s.
const AUDIT_EVERY: u32 = 4;

/// How long making a new connection may take (redis-rs retries within it).
const CONNECT_PATIENCE: Duration = Duration::from_secs(5);

pub async fn keep_alive(listener: Weak<Listener>) {
    let (mut failed, mut stale, mut ticks) = (0, 0, 0u32);
    loop {
        tokio::time::sleep(KEEPALIVE).await;
        let Some(current) = listener.upgrade() else { return };
        current.retry_failed_catch_ups();
        ticks = ticks.wrapping_add(1);
        if ticks.is_multiple_of(AUDIT_EVERY) && failed == 0 {
            current.audit().await;
        }
        let unsubscribed = current.unsubscribed();
        stale = match current.resubscribe_failures.swap(0, Ordering::Relaxed) {
            0 if unsubscribed.is_empty() => 0,
            0 => stale,
            _ => stale + 1,
        };
        for map in unsubscribed {
            current.resubscribe(map);
        }
        // A cluster connection routes by the slot map it last read, which after a failover
        // may name the lost master for good: a new connection reads the current one.
        let stale_slots = current.conn().is_cluster() && stale >= STALE_AFTER;
        if !current.notices.load(Ordering::Acquire) {
            tokio::spawn(current.clone().follow_notices());
        }
        let (mut conn, ping) = (current.conn(), redis::cmd("PING"));
        drop(current);
        match tokio::time::timeout(PING_PATIENCE, ping.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) if failed > 0 => {
                tracing::info!("redis subscription connection is back");
                failed = 0;
            }
            Ok(Ok(())) => {}
            Ok(Err(err)) if failed == 0 => {
                tracing::warn!(error = %err, "redis subscription connection is down");
                failed = 1;
            }
            Err(_) if failed == 0 => {
                tracing::warn!("redis subscription connection does not answer");
                failed = 1;
            }
            _ => failed += 1,
        }
        if failed >= DEAD_AFTER || stale_slots {
            let Some(current) = listener.upgrade() else { return };
            if current.replace_connection().await {
                (failed, stale) = (0, 0);
            }
        }
    }
}

impl Listener {
    /// Replaces the subscription connection with a new one and subscribes every followed
    /// channel on it; `false` if no new connection could be made (Redis still unreachable).
    async fn replace_connection(self: &Arc<Self>) -> bool {
        let fresh = match tokio::time::timeout(CONNECT_PATIENCE, (self.connector)()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "a new redis subscription connection failed");
                return false;
            }
            Err(_) => {
                tracing::debug!("a new redis subscription connection timed out");
                return false;
            }
        };
        // The old connection closes once the last command still waiting on it gives up.
        drop(std::mem::replace(&mut *self.subscriptions.lock().unwrap(), fresh));
        tracing::warn!("replaced the unanswering redis subscription connection; resubscribing");
        self.resubscribe_all();
        true
    }
}
