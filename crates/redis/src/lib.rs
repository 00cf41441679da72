//! Marauder's Redis backend: a [`Store`] and a [`Feed`] on one Redis server or a Redis
//! Cluster, so that any number of stateless handlers share one state.
//!
//! - Every key of a player is tagged `{<player id>}` and every key of a map `{<map id>}`
//!   ([`keys`]): each step of an operation runs on one shard, atomically.
//! - A publish is one script on the map's shard that executes what the core's `Change` says
//!   (the member it requires, its effect on the latest locations): `INCR` of the seq, `XADD`
//!   to the capped stream of recent events, the latest locations, and `PUBLISH` (`SPUBLISH`
//!   in a cluster) on the map's channel; a deleted map takes its last event and no other. Two handlers never hand out the same seq, and any
//!   handler can resume any client from the stream.
//! - A location's arrivals and departures are decided by the handler with the core's rule of
//!   places, from its copy of the map's places and the player's states, and published with
//!   the location by a script that compares that copy with what Redis holds (a compare and
//!   set): two handlers never announce one crossing twice, and no rule is written in Lua.
//! - Two connections, each reconnecting by itself: one multiplexed for commands, one (RESP3)
//!   for subscriptions, which resubscribes after a reconnect and catches up from the streams,
//!   and is replaced by a new one when it stops answering (a dead path).
//!
//! It knows nothing of HTTP or WebSocket; it hands events to an [`EventSink`].
//!
//! [`Store`]: marauder_core::Store
//! [`Feed`]: marauder_core::Feed

mod conn;
mod feed;
mod keys;
mod public;
mod store;

use std::sync::Arc;
use std::time::Duration;

use marauder_core::{EventSink, StoreError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::{IntoConnectionInfo, ProtocolVersion};

pub use feed::RedisFeed;
pub use store::RedisStore;

use crate::conn::{Conn, store_err};
use crate::feed::{Connector, Subscriber};
use crate::keys::Keys;

/// A command that does not answer within this is a 503; Redis answers in microseconds.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct Options {
    /// `redis://host:port` of the server, or of any number of cluster nodes.
    pub urls: Vec<String>,
    pub cluster: bool,
    /// Prefix of every key and channel, so that several deployments can share a Redis.
    pub prefix: String,
    pub trail_retention: u64,
    /// Events kept per map for `since` resume (at least; the stream is trimmed lazily).
    pub recent_events: usize,
}

pub struct Redis {
    pub store: Arc<RedisStore>,
    pub feed: Arc<RedisFeed>,
}

/// Connects to Redis; fails if it cannot be reached now (later outages are survived).
pub async fn connect(options: &Options, sink: Arc<dyn EventSink>) -> Result<Redis, StoreError> {
    connect_queueing(options, sink, feed::PUSH_CAPACITY).await
}

/// [`connect`], with at most `capacity` pushes queued for the listener.
async fn connect_queueing(
    options: &Options,
    sink: Arc<dyn EventSink>,
    capacity: usize,
) -> Result<Redis, StoreError> {
    let (pushes, received) = feed::push_channel(capacity);
    let (commands, connector): (Conn, Connector) = if options.cluster {
        let builder = || {
            ClusterClientBuilder::new(options.urls.clone())
                .connection_timeout(CONNECTION_TIMEOUT)
                .response_timeout(RESPONSE_TIMEOUT)
                .retries(3)
                .max_retry_wait(500)
        };
        let commands = builder().build().map_err(store_err)?;
        let subscriptions =
            builder().use_protocol(ProtocolVersion::RESP3).push_sender(pushes).build().map_err(store_err)?;
        let connector: Connector = Box::new(move || {
            let client = subscriptions.clone();
            Box::pin(async move { Ok(Conn::Cluster(client.get_async_connection().await?)) })
        });
        (Conn::Cluster(commands.get_async_connection().await.map_err(store_err)?), connector)
    } else {
        let [url] = options.urls.as_slice() else {
            return Err(StoreError::Internal("one redis URL, or --redis-cluster with several".into()));
        };
        let info = url.as_str().into_connection_info().map_err(store_err)?;
        let settings = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings)).map_err(store_err)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_millis(500));
        let commands = ConnectionManager::new_with_config(client.clone(), config.clone());
        let subscribing = config.set_push_sender(pushes).set_automatic_resubscription();
        let connector: Connector = Box::new(move || {
            let (client, config) = (client.clone(), subscribing.clone());
            Box::pin(
                async move { Ok(Conn::Single(ConnectionManager::new_with_config(client, config).await?)) },
            )
        });
        (Conn::Single(commands.await.map_err(store_err)?), connector)
    };
    // The keep-alive makes another with the same connector when this one stops answering.
    let subscriber = Subscriber { conn: connector().await.map_err(store_err)?, connector, pushes: received };
    let keys = Keys::new(&options.prefix);
    let store = Arc::new(RedisStore::new(commands.clone(), keys.clone(), options.trail_retention));
    store.migrate_public_index().await?;
    store.backfill_trail_index().await?;
    let feed = Arc::new(RedisFeed::new(commands, subscriber, keys, options.recent_events, sink));
    feed.follow_notices().await?;
    Ok(Redis { store, feed })
}
