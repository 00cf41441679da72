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
        sampled(match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        sampled(match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        })
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// One command in this many has its round trip timed: the location path makes two per
/// update (a trail append and a publish per map, sent together), and timing each would cost
/// a clock read, a box and a histogram sample.
const SAMPLE_EVERY: u32 = 16;

/// Times `request` if it is this thread's turn (a thread-local count: no shared atomic).
fn sampled<'a, T: Send + 'a>(request: RedisFuture<'a, T>) -> RedisFuture<'a, T> {
    thread_local!(static COUNT: std::cell::Cell<u32> = const { std::cell::Cell::new(0) });
    let turn = COUNT.with(|count| {
        count.set(count.get().wrapping_add(1));
        count.get().is_multiple_of(SAMPLE_EVERY)
    });
    if !turn {
        return request;
    }
    Box::pin(async move {
        let started = std::time::Instant::now();
        let answer = request.await;
        // Named in marauder_server::metrics, which describes it.
        metrics::histogram!("marauder_redis_command_duration_seconds").record(started.elapsed());
        answer
    })
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
                        // Still redirected to a dead master after the client's retries: the
                        // other nodes point there until a replica has taken over its slots.
                        | ServerErrorKind::Moved
                        | ServerErrorKind::Ask
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

/// How long a readiness PING may take before Redis counts as unreachable: far above a
/// healthy round trip, well below a load balancer's probe timeout.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether `conn` answers a PING in time; `Unavailable` naming the connection if not (the
/// error itself goes to the log, not to whoever asks `/readyz`).
pub async fn ping(conn: &Conn, which: &str) -> Result<(), StoreError> {
    let (cmd, mut conn) = (redis::cmd("PING"), conn.clone());
    let problem = match tokio::time::timeout(PING_TIMEOUT, cmd.query_async::<()>(&mut conn)).await {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(err)) => err.to_string(),
        Err(_) => format!("no answer within {PING_TIMEOUT:?}"),
    };
    tracing::debug!(connection = which, %problem, "readiness ping failed");
    Err(StoreError::Unavailable(format!("redis unreachable ({which} connection)")))
}

pub fn decode_err(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("decoding {what} from redis: {err}"))
}
