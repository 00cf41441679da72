//! One connection type over a single Redis or a Redis Cluster, and what its errors mean.

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, ServerErrorKind, Value};

use marauder_core::StoreError;

/// A multiplexed connection that reconnects by itself: to one server or to a cluster.
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Conn {
    /// Subscribes to a map's channel (sharded in a cluster). The connection resubscribes by
    /// itself after a reconnect, confirming each channel again on the push channel.
    pub async fn subscribe(&self, channel: &str) -> redis::RedisResult<()> {
        match self.clone() {
            Conn::Single(mut c) => c.subscribe(channel).await,
            Conn::Cluster(mut c) => c.ssubscribe(channel).await,
        }
    }

    pub async fn unsubscribe(&self, channel: &str) -> redis::RedisResult<()> {
        match self.clone() {
            Conn::Single(mut c) => c.unsubscribe(channel).await,
            Conn::Cluster(mut c) => c.sunsubscribe(channel).await,
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Redis not answering (down, restarting, loading its AOF, a shard failing over) is
/// `Unavailable`, a 503; anything else is a bug or a misconfiguration, a 500.
pub fn store_err(err: RedisError) -> StoreError {
    let transient = err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_unrecoverable_error()
        || matches!(
            err.kind(),
            ErrorKind::ClusterConnectionNotFound
                | ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::ClusterDown
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::ReadOnly
                )
        )
        // Too few replicas in sync (`min-replicas-to-write`), out of memory under
        // `noeviction`, persistence failing, a script running too long: refused whole.
        || matches!(err.code(), Some("NOREPLICAS" | "OOM" | "MISCONF" | "BUSY"));
    if transient {
        StoreError::Unavailable(format!("redis: {err}"))
    } else {
        StoreError::Internal(format!("redis: {err}"))
    }
}

pub fn decode_err(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("decoding {what} from redis: {err}"))
}
